import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { watchForErrors } from "../tests/helpers";

// scripts/package-test unpacked the tarball into an empty directory and started
// ./keyward there with no variable but its address; its output is in PACKAGE_LOG.
test("the unpacked package serves a dashboard that hydrates", async ({ page }) => {
  const log = readFileSync(process.env.PACKAGE_LOG!, "utf8");
  const link = log.match(/https?:\/\/\S+\/setup\?token=[0-9a-f]+/)?.[0];
  expect(link, "the server printed a setup link:\n" + log).toBeTruthy();

  const errors = watchForErrors(page);
  const bundle: { url: string; status: number }[] = [];
  page.on("response", (response) => {
    if (new URL(response.url()).pathname.startsWith("/pkg/")) bundle.push({ url: response.url(), status: response.status() });
  });
  await page.goto(link!);
  await page.waitForLoadState("networkidle");
  await expect(page.getByRole("heading", { name: "Create the first admin" })).toBeVisible();

  // The hashed names hash.txt gives were found: script, wasm and stylesheet all loaded.
  for (const kind of [/\.js$/, /\.wasm$/, /\.css$/]) {
    expect(bundle.filter((r) => kind.test(new URL(r.url).pathname) && r.status === 200), `${kind} in ${JSON.stringify(bundle)}`).not.toHaveLength(0);
  }
  expect(bundle.filter((r) => r.status >= 400)).toEqual([]);
  // The stylesheet applies (the design system's custom properties are defined).
  const accent = await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue("--font-sans"));
  expect(accent.trim()).not.toBe("");

  // The island hydrated: a refusal appears beside its field without a page load
  // (without wasm the form would post and come back with ?__err= in the URL).
  await page.getByLabel("Your name").fill("Pat Ops");
  await page.getByLabel("Email").fill("pat@example.com");
  await page.getByLabel("Workspace name").fill("Ops");
  await page.getByLabel("Password").fill("short");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.locator("#password-error")).toContainText("at least 12 characters");
  expect(page.url()).not.toContain("__err");

  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page).toHaveURL(/\/settings\/api-keys$/);
  await expect(page.getByRole("heading", { name: "API keys", level: 1 })).toBeVisible();
  expect(errors).toEqual([]);
});
