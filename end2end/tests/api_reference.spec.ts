import { expect, test } from "@playwright/test";
import { watchForErrors } from "./helpers";

// /docs/api is public: the engineers who build the company's API servers may have no dashboard account.
test("the API reference reads without signing in, with placeholder-only curl examples, at desktop and phone width", async ({
  page,
}) => {
  const errors = watchForErrors(page);
  await page.goto("/docs/api");
  await expect(page).toHaveURL(/\/docs\/api$/);
  await expect(page.getByRole("heading", { name: "API reference", level: 1 })).toBeVisible();

  const verify = page.locator("section.docs-section").filter({ has: page.getByRole("heading", { name: /POST\s+\/v1\/keys\/verify/ }) });
  await expect(verify).toHaveCount(1);
  await expect(verify.getByRole("heading", { name: "Responses" })).toBeVisible();
  const curl = (await verify.locator("pre.code-block").textContent()) ?? "";
  expect(curl).toContain("$KEYWARD_SERVICE_TOKEN");
  expect(curl).toContain("curl");
  // Placeholders only: nothing shaped like a real secret.
  expect(curl).not.toMatch(/kw_(live|test)_[A-Za-z0-9]{20,}/);
  expect(curl).not.toMatch(/kwsvc_[A-Za-z0-9]{20,}/);
  await page.screenshot({ path: ".cache/screenshots/api-reference.png" });

  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: ".cache/screenshots/api-reference-dark.png" });

  await page.setViewportSize({ width: 375, height: 740 });
  // Wide tables and code scroll inside their own boxes; the page itself does not scroll sideways.
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.screenshot({ path: ".cache/screenshots/api-reference-phone.png" });
  expect(errors).toEqual([]);
});
