import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { ADMIN, ensureAdmin, hydrated, signIn } from "./helpers";

// Issue 20: every page of the dashboard with full lists (at least 10 rows in
// each), as a person on a 390 px phone and on a desktop sees it, in the light
// and the dark theme. Nothing may scroll sideways, and axe-core (a checker
// nobody here wrote) must find no WCAG 2.1 A/AA violation on any page or dialog.
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };
const SHOTS = "../docs/screenshots/pages";
const WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const ROWS = 10;

test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

/** What axe-core finds on the page (or inside `include`), as readable lines. */
async function violations(page: Page, include?: string): Promise<string[]> {
  let builder = new AxeBuilder({ page }).withTags(WCAG_21_AA);
  if (include) builder = builder.include(include);
  const results = await builder.analyze();
  return results.violations.flatMap((violation) =>
    violation.nodes.map((node) => `${violation.id}: ${node.target.join(" ")} — ${node.failureSummary}`),
  );
}

/** Checks the page at both widths and in both themes; writes its screenshot set. */
async function checkEverywhere(page: Page, name: string, include?: string) {
  for (const [label, size] of [
    ["desktop", DESKTOP],
    ["phone", PHONE],
  ] as const) {
    await page.setViewportSize(size);
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      // What the screen shows (not the whole scrolled page), as JPEG: the
      // set is committed, and full-page PNGs of every list came to 18 MB.
      await page.screenshot({ path: `${SHOTS}/${name}-${label}-${colorScheme}.jpeg`, quality: 60 });
      const sideways = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (sideways > 0) {
        // Name the widest elements, so that a failure says what to fix.
        const wide = await page.evaluate(() =>
          [...document.querySelectorAll("body *")]
            .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
            .slice(0, 8)
            .map((el) => `${el.tagName.toLowerCase()}.${el.className} (${Math.round(el.getBoundingClientRect().right)} px)`),
        );
        console.log(`${name} at ${label} width: ${wide.join(", ")}`);
      }
      expect(sideways, `${name} scrolls sideways at ${label} width (${colorScheme})`).toBeLessThanOrEqual(0);
      expect(await violations(page, include), `${name}, ${label}, ${colorScheme}`).toEqual([]);
    }
  }
  await page.setViewportSize(DESKTOP);
  await page.emulateMedia({ colorScheme: "light" });
}

/** At least ROWS of everything a list shows, made the way the dashboard makes them. */
async function fillEveryList(page: Page, baseURL: string, request: typeof page.request) {
  const headers = { origin: baseURL };
  const stamp = Date.now();
  for (let n = 0; n < ROWS; n++) {
    const key = await request.post("/rpc/create_key", {
      headers,
      data: { form: { name: `Listed key ${n}`, environment: "live", scopes: ["read-only"], expiry: "never" } },
    });
    expect(key.status()).toBe(200);
    const token = await request.post("/rpc/create_service_token", { headers, form: { name: `Listed token ${n}` } });
    expect(token.status()).toBe(200);
    const webhook = await request.post("/rpc/create_webhook", {
      headers,
      data: { url: `http://127.0.0.1:9/listed-${n}`, description: `Listed endpoint ${n}`, events: ["key.created"] },
    });
    expect(webhook.status()).toBe(200);
    const pending = await request.post("/rpc/invite_member", {
      headers,
      form: { email: `pending-${stamp}-${n}@example.com`, role: "viewer" },
    });
    expect(pending.status()).toBe(200);
  }
}

test("every page fits a phone and passes axe-core with full lists, light and dark", async ({
  page,
  baseURL,
  browser,
  playwright,
}) => {
  test.setTimeout(240_000);
  await signIn(page, ADMIN.email, ADMIN.password);
  await fillEveryList(page, baseURL!, page.request);
  // Members: people who accepted their invites, each in a browser of their own.
  for (let n = 0; n < ROWS; n++) {
    const invited = await page.request.post("/rpc/invite_member", {
      headers: { origin: baseURL! },
      form: { email: `member-${Date.now()}-${n}@example.com`, role: n % 2 ? "developer" : "viewer" },
    });
    const token = ((await invited.json()).link as string).split("/invite/")[1];
    const browser = await playwright.request.newContext({ baseURL });
    const joined = await browser.post("/rpc/accept_invite", {
      form: { token, name: `Member number ${n}`, password: "a member's long passphrase" },
      headers: { origin: baseURL! },
      maxRedirects: 0,
    });
    expect([200, 302, 303]).toContain(joined.status());
    await browser.dispose();
  }

  for (const [path, name] of [
    ["/settings/api-keys", "api-keys"],
    ["/settings/usage", "usage"],
    ["/settings/members", "members"],
    ["/settings/service-tokens", "service-tokens"],
    ["/settings/webhooks", "webhooks"],
    ["/settings/audit-log", "audit-log"],
    ["/settings/workspace", "workspace"],
    ["/settings/account", "account"],
    ["/settings/workspaces/new", "new-workspace"],
    ["/docs/api", "api-reference"],
  ] as const) {
    await page.goto(path);
    await hydrated(page);
    await expect(page.locator("h1").first()).toBeVisible();
    await checkEverywhere(page, name);
  }
  // The rows are there: each list has at least ROWS.
  for (const [path, rows] of [
    ["/settings/api-keys", "tbody tr"],
    ["/settings/members", "tbody tr"],
    ["/settings/service-tokens", "tbody tr"],
    ["/settings/webhooks", "tbody tr"],
    ["/settings/audit-log", "[data-testid=audit-row]"],
  ] as const) {
    await page.goto(path);
    expect(await page.locator(rows).count(), path).toBeGreaterThanOrEqual(ROWS);
  }

  // A key's own page, and the dialogs.
  await page.goto("/settings/api-keys");
  await hydrated(page);
  await page.locator('a[href^="/settings/api-keys/"]').first().click();
  await expect(page).toHaveURL(/\/settings\/api-keys\/[^/]+$/);
  await hydrated(page);
  await checkEverywhere(page, "api-key");
  await page.goto("/settings/api-keys");
  await hydrated(page);
  await page.getByRole("button", { name: "Create key" }).click();
  await expect(page.getByRole("dialog", { name: "Create an API key" })).toBeVisible();
  await checkEverywhere(page, "create-key-dialog", "[role=dialog]");

  // Members, "Reset password": asked first, then the link shown once in a
  // dialog; the link opens the member's reset page in another browser.
  await page.goto("/settings/members");
  await hydrated(page);
  await page.getByRole("button", { name: "Reset password of Member number 0" }).first().click();
  await page.getByRole("alertdialog").getByRole("button", { name: "Create reset link" }).click();
  const shown = page.getByRole("dialog", { name: "Password reset link" });
  await expect(shown).toBeVisible();
  const link = (await shown.getByTestId("reset-link").textContent())!;
  expect(link).toMatch(/\/reset\/[0-9a-f]{64}$/);
  await checkEverywhere(page, "reset-link-dialog", "[role=dialog]");
  const stranger = await browser.newContext();
  const resetPage = await stranger.newPage();
  await resetPage.goto(link);
  await expect(resetPage.getByText(/member-\d+-0@example\.com/)).toBeVisible();
  await stranger.close();
  await shown.getByRole("button", { name: "Done" }).click();
  await expect(shown).toHaveCount(0);
});

test("the signed-out pages pass axe-core, light and dark", async ({ page }) => {
  for (const [path, name] of [
    ["/signin", "sign-in"],
    ["/forgot", "forgot-password"],
    ["/reset/0000000000000000000000000000000000000000000000000000000000000000", "reset-dead-link"],
    ["/invite/0000000000000000000000000000000000000000000000000000000000000000", "invite-dead-link"],
  ] as const) {
    await page.goto(path);
    await hydrated(page);
    await checkEverywhere(page, name);
  }
});
