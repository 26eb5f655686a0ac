import { expect, type APIRequestContext, type Page } from "@playwright/test";
import { readFileSync } from "node:fs";
import { join } from "node:path";

export const ADMIN = { name: "Ana Diaz", email: "ana@example.com", password: "correct horse battery staple" };

/** The one-time setup link the server printed on start-up. */
export function setupLink(): string {
  const log = readFileSync(join(__dirname, "..", ".cache", "server.log"), "utf8");
  const match = log.match(/https?:\/\/\S+\/setup\?token=[0-9a-f]+/);
  if (!match) throw new Error("the server did not print a setup link:\n" + log);
  return match[0];
}

/**
 * Makes sure the first admin exists, so that a spec runs on its own as well as after
 * foundation.spec.ts (which creates the admin through the setup page itself). Completes
 * setup over HTTP if the link is still unused; does nothing once it has been used.
 */
export async function ensureAdmin(request: APIRequestContext, baseURL: string) {
  const token = new URL(setupLink()).searchParams.get("token")!;
  const response = await request.post("/rpc/complete_setup", {
    form: { token, name: ADMIN.name, email: ADMIN.email, workspace: "Acme", password: ADMIN.password },
    headers: { origin: baseURL },
    maxRedirects: 0,
  });
  // 2xx/3xx: set up now. 404: the link was used already (setup was done before).
  expect([200, 302, 303, 404]).toContain(response.status());
}

/** Fails the test on any uncaught error in the page, such as a failed hydration. */
export function watchForErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    // A 4xx answer to deliberately bad input is expected; the page shows it. Panics and 5xx are not.
    const expectedRefusal = /Failed to load resource: .* status of 4\d\d/.test(message.text());
    if (message.type() === "error" && !expectedRefusal) errors.push(message.text());
  });
  return errors;
}

/** Waits until the wasm bundle has hydrated the page (its script sets no flag, so wait for the network to settle). */
export async function hydrated(page: Page) {
  await page.waitForLoadState("networkidle");
}

export async function signIn(page: Page, email: string, password: string) {
  await page.goto("/signin");
  await hydrated(page);
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).toHaveURL(/\/settings\/api-keys$/);
}

/** The page must not scroll sideways: wide tables scroll inside their card. */
export async function expectNoHorizontalOverflow(page: Page) {
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
}

/** Desktop light, desktop dark, phone light, phone dark: `${path}-desktop-light.png` and so on. */
export async function screenshots(page: Page, path: string) {
  for (const [width, height, label] of [
    [1280, 900, "desktop"],
    [360, 780, "phone"],
  ] as const) {
    await page.setViewportSize({ width, height });
    for (const colorScheme of ["light", "dark"] as const) {
      await page.emulateMedia({ colorScheme });
      // The picture first, so that a page that overflows can be looked at.
      await page.screenshot({ path: `${path}-${label}-${colorScheme}.png`, fullPage: true });
      await expectNoHorizontalOverflow(page);
    }
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.emulateMedia({ colorScheme: "light" });
}
