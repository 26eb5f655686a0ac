import { expect, test } from "@playwright/test";
import { ADMIN, ensureAdmin, hydrated, screenshots, signIn, watchForErrors } from "./helpers";

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
  await edit.getByText("Edit name, note, limits, allowlist, credits or expiry").click();
  await expect(edit.getByTestId("not-editable")).toContainText("rotate into a new key instead");
  await edit.getByLabel("Name").fill(`${name} (renamed)`);
  await edit.getByLabel("Note").fill("used by the nightly export");
  await edit.getByLabel("IP allowlist").fill("203.0.113.0/24\n2001:db8::/32");
  await edit.getByRole("button", { name: "Save changes" }).click();

  await expect(page).toHaveURL(new RegExp(`/settings/api-keys/${id}\\?saved`));
  await expect(page.getByRole("heading", { level: 1 })).toContainText(`${name} (renamed)`);
  await expect(page.getByRole("status")).toContainText("Saved");
  const latest = page.getByTestId("history-entry").first();
  await expect(latest).toContainText(`changed key ${name} (renamed)`);
  const allowlist = page.getByTestId("key-ip-allowlist");
  await expect(allowlist).toContainText("IP-restricted");
  await expect(allowlist).toContainText("203.0.113.0/24, 2001:db8::/32");
  await page.getByTestId("edit-key").getByText("Edit name, note, limits, allowlist, credits or expiry").click();
  await screenshots(page, ".cache/screenshots/key-restrictions");

  // A bad entry is refused on the field, by name, and nothing changes (the form is open from above).
  await page.getByTestId("edit-key").getByLabel("IP allowlist").fill("203.0.113.0/24\n10.0.0.1/8");
  await page.getByTestId("edit-key").getByRole("button", { name: "Save changes" }).click();
  await expect(page.locator("#ip_allowlist-error")).toContainText("did you mean 10.0.0.0/8?");
  await page.goto(`/settings/api-keys/${id}`);
  await expect(page.getByTestId("key-ip-allowlist")).toContainText("203.0.113.0/24, 2001:db8::/32");

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

test("a key made with a burst, an allowlist and credits shows them in the list and on its page", async ({ page }) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.goto("/settings/api-keys");
  await hydrated(page);
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  const name = `Restricted ${Date.now()}`;
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Rate limit").fill("600");
  await dialog.getByText("Restrictions").click();
  await dialog.getByLabel("Burst").fill("50");
  await dialog.getByLabel("IP allowlist").fill("203.0.113.0/24\n2001:db8::/32");
  await dialog.getByLabel("Credits", { exact: true }).fill("1000");
  await dialog.getByLabel("Refill", { exact: true }).selectOption("month");
  await dialog.getByLabel("Refill to").fill("1000");
  await dialog.getByLabel("On day").fill("15");
  await page.screenshot({ path: ".cache/screenshots/create-key-restrictions.png", fullPage: true });
  await dialog.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByTestId("secret-panel")).toContainText("will not be shown again");
  await page.getByTestId("secret-panel").getByRole("button", { name: "Done" }).click();

  const row = page.getByTestId("key-row").filter({ hasText: name });
  await expect(row.getByTestId("ip-restricted")).toBeVisible();
  await expect(row.getByTestId("credits")).toHaveText("1000 credits");
  await row.getByRole("link", { name }).click();
  await expect(page.getByRole("heading", { level: 1 })).toContainText(name);
  await expect(page.getByText("600 requests per minute, burst 50")).toBeVisible();
  await expect(page.getByTestId("key-ip-allowlist")).toContainText("203.0.113.0/24, 2001:db8::/32");
  await expect(page.getByTestId("key-credits")).toContainText("1000 left · refills to 1000 every month on day 15");
  expect(errors).toEqual([]);
});
