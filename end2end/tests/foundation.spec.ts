import { expect, test } from "@playwright/test";
import { ADMIN, hydrated, setupLink, signIn, watchForErrors } from "./helpers";

test.describe.configure({ mode: "serial" });

test("the setup link creates the first admin and opens the dashboard", async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto(setupLink());
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Create the first admin" })).toBeVisible();

  // A bad password is refused on its field, without losing what was typed.
  await page.getByLabel("Your name").fill(ADMIN.name);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Workspace name").fill("Acme");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#password-error")).toContainText("at least 12 characters");
  await expect(page.getByLabel("Your name")).toHaveValue(ADMIN.name);

  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/settings\/api-keys$/);
  await expect(page.getByRole("heading", { name: "API keys", level: 1 })).toBeVisible();
  await expect(page.getByTestId("current-workspace")).toContainText("Acme");
  await expect(page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "Members" })).toBeVisible();
  expect(errors).toEqual([]);

  // The link is spent.
  await page.goto(setupLink());
  await expect(page.getByRole("heading", { name: "Keyward is already set up" })).toBeVisible();
});

test("sign-in refuses a wrong password clearly and signs in with the right one", async ({ page }) => {
  const errors = watchForErrors(page);
  await page.goto("/settings/members");
  await expect(page).toHaveURL(/\/signin$/);
  await hydrated(page);
  await page.getByLabel("Email").fill(ADMIN.email);
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("don't match an account");
  await page.getByLabel("Password").fill(ADMIN.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/settings\/api-keys$/);
  expect(errors.filter((e) => !e.includes("401"))).toEqual([]);
});

test("an admin invites a developer, who joins through the link and sees only what developers may", async ({
  page,
  browser,
}) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.getByRole("link", { name: "Members" }).click();
  await expect(page.getByRole("heading", { name: "Members", level: 1 })).toBeVisible();
  await hydrated(page);

  await page.getByLabel("Email").fill("dev@example.com");
  await page.getByLabel("Role", { exact: true }).selectOption("developer");
  await page.getByRole("button", { name: "Create invite link" }).click();
  const link = (await page.getByTestId("invite-link").textContent())!.trim();
  expect(link).toMatch(/\/invite\/[0-9a-f]{64}$/);
  await page.getByTestId("invite-panel").getByRole("button", { name: "Done" }).click();
  await expect(page.getByTestId("invite-panel")).toHaveCount(0);
  await expect(page.getByTestId("invite-row")).toContainText("dev@example.com");
  expect(errors).toEqual([]);

  const invitee = await browser.newContext();
  const devPage = await invitee.newPage();
  const devErrors = watchForErrors(devPage);
  await devPage.goto(link);
  await hydrated(devPage);
  await expect(devPage.getByRole("heading", { name: "Join Acme" })).toBeVisible();
  await devPage.getByLabel("Your name").fill("Dev Eloper");
  await devPage.getByLabel("Choose a password").fill("another long passphrase");
  await devPage.getByRole("button", { name: "Join workspace" }).click();
  await expect(devPage).toHaveURL(/\/settings\/api-keys$/);

  const nav = devPage.getByRole("navigation", { name: "Settings" });
  await expect(nav.getByRole("link", { name: "API keys" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Members" })).toHaveCount(0);
  // Developers read the entries about their own keys (docs/design.md §1).
  await expect(nav.getByRole("link", { name: "Audit log" })).toBeVisible();
  const refused = await devPage.goto("/settings/members");
  expect(refused?.status()).toBe(403);
  await expect(devPage.getByText("You don't have access to this page")).toBeVisible();
  expect(devErrors.filter((e) => !e.includes("403"))).toEqual([]);

  // The used link is refused with a clear message.
  const other = await (await browser.newContext()).newPage();
  await other.goto(link);
  await expect(other.getByRole("heading", { name: "This invite was already used" })).toBeVisible();
  await invitee.close();
});

test("the admin changes a role with the keyboard and removes a member after confirming", async ({ page }) => {
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.goto("/settings/members");
  await hydrated(page);
  const row = page.getByTestId("member-row").filter({ hasText: "dev@example.com" });
  // The change is saved at once and the page loads again by itself. Wait for that load to
  // finish (a second navigation started while it commits is refused), then visit afresh.
  const reloaded = page.waitForEvent("load");
  await row.getByLabel("Role of Dev Eloper").selectOption("viewer");
  await reloaded;
  await hydrated(page);
  await page.goto("/settings/members");
  await expect(page.getByTestId("member-row").filter({ hasText: "dev@example.com" }).getByLabel("Role of Dev Eloper")).toHaveValue("viewer");
  await hydrated(page);

  await page.getByTestId("member-row").filter({ hasText: "dev@example.com" }).getByRole("button", { name: "Remove" }).click();
  const dialog = page.getByRole("alertdialog");
  await expect(dialog).toContainText("Remove Dev Eloper?");
  await expect(dialog.getByRole("button", { name: "Cancel" })).toBeFocused();
  await page.keyboard.press("Escape");
  await expect(dialog).toHaveCount(0);
  await expect(page.getByTestId("member-row")).toHaveCount(2);

  await page.getByTestId("member-row").filter({ hasText: "dev@example.com" }).getByRole("button", { name: "Remove" }).click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Yes, remove access" }).click();
  await expect(page.getByTestId("member-row")).toHaveCount(1);
});

test("the audit log reads like sentences and the user menu signs out", async ({ page }) => {
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.goto("/settings/audit-log");
  await hydrated(page);
  await expect(page.getByTestId("audit-row").first()).toBeVisible();
  await expect(page.getByText("Ana Diaz invited dev@example.com")).toBeVisible();
  await expect(page.getByText("Ana Diaz removed Dev Eloper (dev@example.com)")).toBeVisible();
  const roleChange = page.getByTestId("audit-row").filter({ hasText: "changed the role of" });
  await roleChange.locator("summary").click();
  await expect(roleChange.locator("pre")).toContainText("viewer");

  await page.locator("summary", { hasText: "(account menu)" }).click();
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/signin$/);
  await page.goto("/settings/api-keys");
  await expect(page).toHaveURL(/\/signin$/);
});

test("pages fit a phone screen", async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 740 });
  await signIn(page, ADMIN.email, ADMIN.password);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
