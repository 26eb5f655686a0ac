import { expect, test } from "@playwright/test";
import { readFileSync } from "node:fs";
import { ADMIN, ensureAdmin, hydrated, signIn, watchForErrors } from "./helpers";

// The tests of this file build on each other; the admin comes from ensureAdmin, so the
// file also runs on its own (npx playwright test log.spec.ts).
test.describe.configure({ mode: "serial" });
test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

test("an admin filters the audit log by action and date, pages back, expands a row and exports CSV", async ({
  page,
  baseURL,
}) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  // Enough key events for more than one page (50 a page), made the way the dashboard makes them.
  for (let n = 0; n < 55; n++) {
    const response = await page.request.post("/rpc/create_key", {
      headers: { Origin: baseURL! },
      data: { form: { name: `Batch key ${n}`, environment: "test", scopes: ["read-only"], expiry: "never" } },
    });
    expect(response.status()).toBe(200);
  }

  await page.getByRole("link", { name: "Audit log" }).click();
  await hydrated(page);
  const filters = page.getByRole("form", { name: "Filter the audit log" });
  await filters.getByLabel("Action", { exact: true }).selectOption("keys");
  const today = new Date().toISOString().slice(0, 10);
  await filters.getByLabel("From", { exact: true }).fill(today);
  await filters.getByLabel("To", { exact: true }).fill(today);
  await filters.getByRole("button", { name: "Apply filters" }).click();
  await expect(page).toHaveURL(new RegExp(`group=keys.*from=${today}.*to=${today}`));
  await hydrated(page);

  const rows = page.getByTestId("audit-row");
  await expect(rows).toHaveCount(50);
  for (const action of await rows.evaluateAll((list) => list.map((row) => row.getAttribute("data-action")))) {
    expect(action).toMatch(/^key\./);
  }
  await expect(filters.getByLabel("Action", { exact: true })).toHaveValue("keys");

  // Older keeps the filter; the page after it holds the rest.
  await page.getByRole("link", { name: "Older →" }).click();
  await expect(page).toHaveURL(/group=keys.*before=\d+/);
  await hydrated(page);
  await expect(rows.first()).toBeVisible();
  await expect(page.getByRole("link", { name: "← Newer" })).toBeVisible();
  for (const action of await rows.evaluateAll((list) => list.map((row) => row.getAttribute("data-action")))) {
    expect(action).toMatch(/^key\./);
  }

  // A row opens to show what changed.
  const created = rows.filter({ hasText: "created key" }).first();
  await created.locator("summary").click();
  await expect(created.locator("pre")).toContainText('"environment"');

  const download = page.waitForEvent("download");
  await page.getByTestId("export-csv").click();
  const file = await (await download).path();
  const csv = readFileSync(file, "utf8");
  expect(csv.split("\r\n")[0]).toBe("time,actor,actor_email,action,target,event,ip,user_agent,changes,id");
  expect(csv).toContain("Batch key 54");
  expect(csv).not.toContain("member.invited");
  expect(csv).not.toMatch(/kw_(live|test)_[0-9A-Za-z]{36}/);

  // The export itself is on record.
  await page.goto("/settings/audit-log?group=settings");
  await hydrated(page);
  await expect(rows.filter({ hasText: "exported the audit log" }).first()).toBeVisible();
  expect(errors).toEqual([]);
});
