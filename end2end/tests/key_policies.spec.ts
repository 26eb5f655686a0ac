import { expect, test } from "@playwright/test";
import { ADMIN, ensureAdmin, hydrated, signIn, watchForErrors } from "./helpers";

// Issue 17 as an admin meets it: edit a key on its page (the change and its
// audit entry show at once), and a workspace lifetime policy that refuses a
// key that breaks it, with the message on the field. The policy is put back at
// the end, so the other specs see the default.
test.describe.configure({ mode: "serial" });
test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

test("an admin renames a key on its page and sees the change and the audit entry", async ({ page, baseURL }) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  const name = `Edit me ${Date.now()}`;
  const created = await page.request.post("/rpc/create_key", {
    data: { form: { name, environment: "test", scopes: ["read-only"], expiry: "never" } },
    headers: { origin: baseURL! },
  });
  expect(created.ok()).toBeTruthy();
  const { id } = await created.json();

  await page.goto(`/settings/api-keys/${id}`);
  await hydrated(page);
  const edit = page.getByTestId("edit-key");
  await edit.getByText("Edit name, note, rate limit or expiry").click();
  await expect(edit.getByTestId("not-editable")).toContainText("rotate into a new key instead");
  await edit.getByLabel("Name").fill(`${name} (renamed)`);
  await edit.getByLabel("Note").fill("used by the nightly export");
  await edit.getByRole("button", { name: "Save changes" }).click();

  await expect(page).toHaveURL(new RegExp(`/settings/api-keys/${id}\\?saved`));
  await expect(page.getByRole("heading", { level: 1 })).toContainText(`${name} (renamed)`);
  await expect(page.getByRole("status")).toContainText("Saved");
  const latest = page.getByTestId("history-entry").first();
  await expect(latest).toContainText(`changed key ${name} (renamed)`);

  // The audit log has it too, with what changed.
  await page.goto("/settings/audit-log");
  await hydrated(page);
  await expect(page.getByText(`changed key ${name} (renamed)`).first()).toBeVisible();
  expect(errors).toEqual([]);
});

test("a 30-day lifetime policy refuses a key that never expires, on the expiry field", async ({ page }) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.goto("/settings/workspace");
  await hydrated(page);
  const policy = page.getByTestId("key-policy");
  await policy.getByLabel("Maximum key lifetime").selectOption("30");
  await policy.getByRole("button", { name: "Save key policy" }).click();
  await expect(page).toHaveURL(/\/settings\/workspace\?key_policy_saved/);
  await expect(page.getByTestId("key-policy").getByLabel("Maximum key lifetime")).toHaveValue("30");

  await page.goto("/settings/api-keys");
  await hydrated(page);
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill(`Forever ${Date.now()}`);
  await dialog.getByLabel("Expires").selectOption("never");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(dialog.locator("#expiry-error")).toContainText("This workspace requires every key to expire");
  await expect(page.getByTestId("secret-panel")).toHaveCount(0);

  // Within the policy it is created.
  await dialog.getByLabel("Expires").selectOption("30d");
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByTestId("secret-panel")).toContainText("will not be shown again");
  await page.getByTestId("secret-panel").getByRole("button", { name: "Done" }).click();

  // Put the default back for the other specs.
  await page.goto("/settings/workspace");
  await hydrated(page);
  await page.getByTestId("key-policy").getByLabel("Maximum key lifetime").selectOption("none");
  await page.getByTestId("key-policy").getByRole("button", { name: "Save key policy" }).click();
  await expect(page).toHaveURL(/key_policy_saved/);
  expect(errors).toEqual([]);
});
