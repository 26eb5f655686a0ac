import { expect, test } from "@playwright/test";
import { ADMIN, ensureAdmin, hydrated, screenshots, signIn, watchForErrors } from "./helpers";

// (Named to run after foundation.spec.ts, which sets the admin up through
// the setup page itself.)
// Issue 20, Settings → Account as a member meets it: their sessions in two
// browsers, one signed out from the other (after a confirmation), and a
// password change. A member of their own, so the admin's password stays.
const SHOTS = "test-results/account";
const PASSWORD = "a member's long passphrase";

test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

test("a member signs out another browser and changes their password", async ({ page, browser, baseURL }) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  const email = `account-${Date.now()}@example.com`;
  const invited = await page.request.post("/rpc/invite_member", {
    form: { email, role: "viewer" },
    headers: { origin: baseURL! },
  });
  expect(invited.ok()).toBeTruthy();
  const token = ((await invited.json()).link as string).split("/invite/")[1];

  // A second browser joins with the invite and stays signed in.
  const laptop = await browser.newContext({ baseURL });
  const laptopPage = await laptop.newPage();
  const joined = await laptopPage.request.post("/rpc/accept_invite", {
    form: { token, name: "Sam Sessions", password: PASSWORD },
    headers: { origin: baseURL! },
    maxRedirects: 0,
  });
  expect([200, 302, 303]).toContain(joined.status());

  // This browser signs in as the member and opens the page from the account menu.
  await page.context().clearCookies();
  await signIn(page, email, PASSWORD);
  await page.locator("summary", { hasText: "(account menu)" }).click();
  await page.getByRole("link", { name: "Your account" }).click();
  await expect(page).toHaveURL(/\/settings\/account$/);
  await hydrated(page);
  await expect(page.getByTestId("account-email")).toHaveText(email);
  const rows = page.getByTestId("session-row");
  await expect(rows).toHaveCount(2);
  await expect(rows.filter({ hasText: "This browser" })).toHaveCount(1);
  await screenshots(page, `${SHOTS}/account`);

  const other = rows.filter({ hasNotText: "This browser" });
  await other.getByRole("button", { name: /^Sign out/ }).click();
  const confirm = page.getByRole("alertdialog");
  await expect(confirm).toContainText("will have to sign in again");
  await confirm.getByRole("button", { name: "Yes, sign it out" }).click();
  await expect(rows).toHaveCount(1);
  await laptopPage.goto("/settings/api-keys");
  await expect(laptopPage).toHaveURL(/\/signin$/);

  await page.getByLabel("Current password").fill("not the password");
  await page.getByLabel("New password").fill("a newer long passphrase");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page.getByText("That is not your current password.")).toBeVisible();
  await page.getByLabel("Current password").fill(PASSWORD);
  await page.getByLabel("New password").fill("a newer long passphrase");
  await page.getByRole("button", { name: "Change password" }).click();
  await expect(page).toHaveURL(/\/settings\/account\?password_changed/);
  await expect(page.getByRole("status")).toContainText("Password changed");
  await laptop.close();
  expect(errors).toEqual([]);
});
