import { expect, test } from "@playwright/test";
import { ADMIN, ensureAdmin, hydrated, signIn, watchForErrors } from "./helpers";

// The tests of this file build on each other; the admin comes from ensureAdmin, so the
// file also runs on its own (npx playwright test verify.spec.ts).
test.describe.configure({ mode: "serial" });
test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

test("an admin creates a service token and a key, the API server verifies the key, and a revoke refuses it at once", async ({
  page,
  request,
}) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.getByRole("link", { name: "Service tokens" }).click();
  await expect(page.getByRole("heading", { name: "Service tokens", level: 1 })).toBeVisible();
  await hydrated(page);

  // An empty name is refused on its field.
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.locator("#name-error")).toContainText("Name is required");
  await page.getByLabel("Name").fill("billing-api production");
  await page.getByRole("button", { name: "Create token" }).click();
  const panel = page.getByTestId("service-token-panel");
  await expect(panel).toContainText("will not be shown again");
  const token = (await page.getByTestId("new-service-token").textContent())!.trim();
  expect(token).toMatch(/^kwsvc_[0-9a-f]{64}$/);
  await page.screenshot({ path: ".cache/screenshots/service-tokens.png", fullPage: true });
  await panel.getByRole("button", { name: "Done" }).click();
  await expect(page.getByTestId("service-token-panel")).toHaveCount(0);
  const row = page.getByTestId("service-token-row").filter({ hasText: "billing-api production" });
  await expect(row).toContainText(`kwsvc_…${token.slice(-4)}`);
  await expect(row).toContainText("Active");

  // A key to verify.
  await page.getByRole("link", { name: "API keys" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill("Verified from outside");
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.getByTestId("new-secret").textContent())!.trim();
  await page.getByRole("button", { name: "Done" }).click();

  // What the company's API server does on every request.
  const verify = () =>
    request.post("/v1/keys/verify", {
      headers: { "X-Keyward-Service-Token": token },
      data: { key: secret, scopes: ["invoices:read"], client_ip: "203.0.113.50" },
    });
  const good = await verify();
  expect(good.status()).toBe(200);
  const body = await good.json();
  expect(body).toMatchObject({ valid: true, environment: "live", name: "Verified from outside" });

  // Last used reaches the list within the flush interval.
  await expect(async () => {
    await page.reload();
    await expect(
      page.getByTestId("key-row").filter({ hasText: "Verified from outside" }),
    ).toContainText("203.0.113.50", { timeout: 1000 });
  }).toPass({ timeout: 10_000 });

  await hydrated(page);
  const keyRow = page.getByTestId("key-row").filter({ hasText: "Verified from outside" });
  await keyRow.getByRole("button", { name: "Revoke" }).click();
  await page
    .getByRole("dialog", { name: "Revoke Verified from outside?" })
    .getByRole("button", { name: "Revoke key" })
    .click();
  await expect(keyRow).toContainText("Revoked");
  const refused = await verify();
  expect(refused.status()).toBe(401);
  expect((await refused.json()).error.code).toBe("REVOKED");

  // Revoking the token asks first, then refuses the server.
  await page.getByRole("link", { name: "Service tokens" }).click();
  await hydrated(page);
  await row.getByRole("button", { name: "Revoke billing-api production" }).click();
  const confirm = page.getByRole("alertdialog", { name: "Revoke the service token “billing-api production”?" });
  await expect(confirm).toContainText("cannot be undone");
  await confirm.getByRole("button", { name: "Yes, revoke it" }).click();
  await expect(row).toContainText("Revoked");
  const unauthorised = await verify();
  expect(unauthorised.status()).toBe(401);
  expect((await unauthorised.json()).error.code).toBe("SERVICE_UNAUTHORIZED");
  expect(errors).toEqual([]);
});
