import { expect, test, type APIRequestContext, type Page } from "@playwright/test";
import { ADMIN, ensureAdmin, expectNoHorizontalOverflow, hydrated, screenshots, signIn, watchForErrors } from "./helpers";

// The tests of this file build on each other; the admin comes from ensureAdmin, so the
// file also runs on its own (npx playwright test usage.spec.ts). Usage reaches the store
// within KEYWARD_LAST_USED_FLUSH_MS (1 s by default), so pages are reloaded until it shows.
test.describe.configure({ mode: "serial" });
test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

const CLIENT_IP = "198.51.100.23";
const SHOTS = "test-results/usage";
let keyPath = "";

async function createServiceToken(page: Page): Promise<string> {
  await page.getByRole("link", { name: "Service tokens" }).click();
  await hydrated(page);
  await page.getByLabel("Name").fill("usage-spec api server");
  await page.getByRole("button", { name: "Create token" }).click();
  const token = (await page.getByTestId("new-service-token").textContent())!.trim();
  await page.getByTestId("service-token-panel").getByRole("button", { name: "Done" }).click();
  return token;
}

async function createKey(page: Page, name: string): Promise<string> {
  await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "API keys" }).click();
  await hydrated(page);
  await page.getByRole("button", { name: "Create key" }).click();
  const dialog = page.getByRole("dialog", { name: "Create an API key" });
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByRole("button", { name: "Create key" }).click();
  const secret = (await page.getByTestId("new-secret").textContent())!.trim();
  await page.getByRole("button", { name: "Done" }).click();
  await expect(page.getByTestId("key-row").filter({ hasText: name })).toBeVisible();
  return secret;
}

function verifier(request: APIRequestContext, token: string) {
  return (body: Record<string, unknown>) =>
    request.post("/v1/keys/verify", { headers: { "X-Keyward-Service-Token": token }, data: body });
}


test("after verifications, the key page charts them by outcome and lists the client IP", async ({ page, request }) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  const token = await createServiceToken(page);
  const verify = verifier(request, token);

  const secret = await createKey(page, "Usage demo");
  const oldSecret = await createKey(page, "Old billing key");

  // 5 good verifications from one client, 2 refused for the wrong environment.
  for (let i = 0; i < 5; i++) {
    expect((await verify({ key: secret, client_ip: CLIENT_IP })).status()).toBe(200);
  }
  for (let i = 0; i < 2; i++) {
    const refused = await verify({ key: secret, environment: "test", client_ip: CLIENT_IP });
    expect(refused.status()).toBe(401);
    expect((await refused.json()).error.code).toBe("WRONG_ENVIRONMENT");
  }

  // The old key is used once, revoked, and still presented three times.
  expect((await verify({ key: oldSecret, client_ip: "203.0.113.9" })).status()).toBe(200);
  await hydrated(page);
  const oldRow = page.getByTestId("key-row").filter({ hasText: "Old billing key" });
  await oldRow.getByRole("button", { name: "Revoke" }).click();
  await page
    .getByRole("dialog", { name: "Revoke Old billing key?" })
    .getByRole("button", { name: "Revoke key" })
    .click();
  await expect(oldRow).toContainText("Revoked");
  for (let i = 0; i < 3; i++) {
    expect((await verify({ key: oldSecret, client_ip: "203.0.113.9" })).status()).toBe(401);
  }
  // And someone tries a key that does not exist.
  expect((await verify({ key: secret.slice(0, -6) + "AAAAAA" })).status()).toBe(401);

  // The key page: a chart whose total is the 7 verifications, with the refusals in the legend.
  await page.getByTestId("key-row").filter({ hasText: "Usage demo" }).getByRole("link", { name: "Usage demo" }).click();
  await expect(page.getByRole("heading", { name: /Usage demo/, level: 1 })).toBeVisible();
  keyPath = new URL(page.url()).pathname;
  const usage = page.getByTestId("key-usage");
  await expect(async () => {
    await page.reload();
    await expect(usage.getByTestId("usage-chart")).toHaveAttribute("data-total", "7", { timeout: 1000 });
  }).toPass({ timeout: 15_000 });
  await expect(usage.getByTestId("usage-total")).toHaveText("7");
  await expect(usage.locator('li[data-outcome="valid"]')).toContainText("5");
  await expect(usage.locator('li[data-outcome="wrong_environment"]')).toContainText("2");
  // Bars carry their numbers as tooltips, and the hidden table repeats them.
  await expect(usage.getByTestId("chart-bar").last().locator("title")).toHaveText(/UTC: 5 valid, 2 wrong environment$/);
  await expect(usage.getByTestId("usage-table")).toContainText("Wrong environment");
  await expect(usage.getByRole("link", { name: "24 hours" })).toHaveAttribute("aria-current", "page");

  // The client IP, new today.
  const ipRow = usage.getByTestId("ip-row").filter({ hasText: CLIENT_IP });
  await expect(ipRow).toContainText("New");
  // Every verification of the key counts for its client IP, refused ones too.
  await expect(ipRow.locator("td.num")).toHaveText("7");
  await screenshots(page, `${SHOTS}/key-usage`);
  await page.screenshot({ path: "../docs/screenshots/key-usage.png", fullPage: true });

  // The range is in the URL; a longer range still holds the same verifications.
  await usage.getByRole("link", { name: "7 days" }).click();
  await expect(page).toHaveURL(/\?range=7d$/);
  await expect(usage.getByRole("link", { name: "7 days" })).toHaveAttribute("aria-current", "page");
  await expect(usage.getByTestId("usage-chart")).toHaveAttribute("data-total", "7");

  // The list: a week's sparkline beside "Last used", and the new IP flagged.
  await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "API keys" }).click();
  const row = page.getByTestId("key-row").filter({ hasText: "Usage demo" });
  await expect(row.getByTestId("sparkline")).toHaveAttribute(
    "aria-label",
    /^[1-9][\d,]* verifications? in the last 7 days$/,
  );
  await expect(row.getByTestId("new-ip")).toHaveText("New IP");
  await screenshots(page, `${SHOTS}/api-keys-sparkline`);

  // The workspace's Usage page: the key among the top keys, the revoked key still presented.
  await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "Usage" }).click();
  await expect(page.getByRole("heading", { name: "Usage", level: 1 })).toBeVisible();
  const top = page.getByTestId("top-key-row").filter({ hasText: "Usage demo" });
  await expect(top.locator("td.num").first()).toHaveText("7");
  await expect(top.locator("td.num").nth(1)).toHaveText("2");
  await expect(top.getByRole("link", { name: "Usage demo" })).toHaveAttribute("href", keyPath);
  const refusedRow = page.getByTestId("refused-key-row").filter({ hasText: "Old billing key" });
  await expect(refusedRow).toContainText("Revoked");
  await expect(refusedRow).toContainText("3 revoked");
  await expect(page.getByTestId("unknown-keys")).toContainText("unknown or malformed");
  await expect(page.getByTestId("only-own-keys")).toHaveCount(0);
  await screenshots(page, `${SHOTS}/workspace-usage`);
  await page.screenshot({ path: "../docs/screenshots/usage.png", fullPage: true });
  expect(errors).toEqual([]);
});

test("a viewer has no Usage page, and sees no key's usage", async ({ page, browser }) => {
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.goto("/settings/members");
  await hydrated(page);
  await page.getByLabel("Email").fill("viewer-usage@example.com");
  await page.getByLabel("Role", { exact: true }).selectOption("viewer");
  await page.getByRole("button", { name: "Create invite link" }).click();
  const link = (await page.getByTestId("invite-link").textContent())!.trim();

  const viewer = await browser.newContext();
  const viewerPage = await viewer.newPage();
  await viewerPage.goto(link);
  await hydrated(viewerPage);
  await viewerPage.getByLabel("Your name").fill("Vera Viewer");
  await viewerPage.getByLabel("Choose a password").fill("a viewer's long passphrase");
  await viewerPage.getByRole("button", { name: "Join workspace" }).click();
  await expect(viewerPage).toHaveURL(/\/settings\/api-keys$/);

  const nav = viewerPage.getByRole("navigation", { name: "Settings" });
  await expect(nav.getByRole("link", { name: "API keys" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Usage" })).toHaveCount(0);
  // No sparkline for a member who may not see usage.
  await expect(viewerPage.getByTestId("key-row").filter({ hasText: "Usage demo" })).toBeVisible();
  await expect(viewerPage.getByTestId("sparkline")).toHaveCount(0);

  const refused = await viewerPage.goto("/settings/usage");
  expect(refused?.status()).toBe(403);
  await expect(viewerPage.getByText("You don't have access to this page")).toBeVisible();
  await viewerPage.screenshot({ path: `${SHOTS}/usage-viewer-refused.png`, fullPage: true });

  if (keyPath) {
    await viewerPage.goto(keyPath);
    await expect(viewerPage.getByTestId("usage-hidden")).toBeVisible();
    await expect(viewerPage.getByTestId("usage-chart")).toHaveCount(0);
  }
  await viewer.close();
});
