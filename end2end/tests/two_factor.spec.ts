import { expect, test } from "@playwright/test";
import { ADMIN, ensureAdmin, hydrated, screenshots, signIn, watchForErrors } from "./helpers";
import { selfCheck, totpCode } from "./totp";

// Issue 20: a member turns on two-factor sign-in the way a person would (the
// key read off the page into an "app"), signs out, and signs in with a code.
const SHOTS = "test-results/two-factor";
const PASSWORD = "a member's long passphrase";

test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

test("a member enrols, signs out and signs in with a code", async ({ page, baseURL }) => {
  selfCheck();
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  const email = `two-factor-${Date.now()}@example.com`;
  const invited = await page.request.post("/rpc/invite_member", {
    form: { email, role: "developer" },
    headers: { origin: baseURL! },
  });
  expect(invited.ok()).toBeTruthy();
  const token = ((await invited.json()).link as string).split("/invite/")[1];
  await page.context().clearCookies();
  const joined = await page.request.post("/rpc/accept_invite", {
    form: { token, name: "Tess Totp", password: PASSWORD },
    headers: { origin: baseURL! },
    maxRedirects: 0,
  });
  expect([200, 302, 303]).toContain(joined.status());

  await page.goto("/settings/account");
  await hydrated(page);
  const section = page.getByTestId("two-factor");
  await expect(section).toContainText("Sign in with a code");
  await section.getByRole("button", { name: "Set up two-factor sign-in" }).click();
  await expect(page).toHaveURL(/\/settings\/account#two-factor$/);
  await expect(section.getByRole("img", { name: /QR code/ })).toBeVisible();
  const secret = (await page.getByTestId("two-factor-secret").textContent())!.trim();
  const codes = await page.getByTestId("recovery-codes").locator("code").allTextContents();
  expect(codes).toHaveLength(10);
  await screenshots(page, `${SHOTS}/enrol`);

  // A wrong code is refused on its field; the right one (with the password,
  // since turning it on signs out every other session) turns it on.
  await section.getByLabel("Your password").fill(PASSWORD);
  await page.getByLabel("6-digit code").fill("12345");
  await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  await expect(page.getByText("Enter the 6-digit code your authenticator app shows.")).toBeVisible();
  await page.getByLabel("6-digit code").fill(totpCode(secret));
  await section.getByLabel("Your password").fill(PASSWORD);
  await page.getByRole("button", { name: "Turn on two-factor sign-in" }).click();
  await expect(page).toHaveURL(/two_factor_on/);
  await expect(page.getByTestId("two-factor-status")).toHaveText("On");
  await expect(page.getByTestId("recovery-codes-left")).toHaveText("10 of 10 left");
  await expect(page.getByTestId("two-factor-secret")).toHaveCount(0);
  await screenshots(page, `${SHOTS}/on`);

  // Signed out, the password alone leads to the code step.
  await page.context().clearCookies();
  await page.goto("/signin");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/signin\/code$/);
  await expect(page.getByRole("heading", { name: "Two-factor sign-in" })).toBeVisible();
  await screenshots(page, `${SHOTS}/code-step`);
  await page.goto("/settings/api-keys");
  await expect(page).toHaveURL(/\/signin$/);

  // Back to the code step (the password once more); the next step's code
  // is accepted (one step of drift), the one that turned it on is spent.
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/signin\/code$/);
  await page.getByLabel("Code").fill(totpCode(secret, 1));
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/settings\/api-keys$/);
  expect(errors).toEqual([]);
});

test("a dead reset link says what to do, and forgot-password says who resets passwords", async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto("/reset/0000000000000000000000000000000000000000000000000000000000000000");
  await expect(page.getByRole("heading", { name: "This reset link does not work" })).toBeVisible();
  await screenshots(page, `${SHOTS}/reset-dead-link`);
  await page.getByRole("link", { name: "Go to sign in" }).click();
  await expect(page).toHaveURL(/\/signin$/);
  // This server sends no email, so the page says who makes reset links.
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await expect(page).toHaveURL(/\/forgot$/);
  await expect(page.getByRole("heading", { name: "Reset your password" })).toBeVisible();
  await expect(page.getByText("keyward user reset-password")).toBeVisible();
  await screenshots(page, `${SHOTS}/forgot-without-email`);
  await page.getByRole("link", { name: "Back to sign in" }).click();
  await expect(page).toHaveURL(/\/signin$/);
  expect(errors).toEqual([]);
});
