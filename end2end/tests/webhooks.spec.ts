import { expect, test } from "@playwright/test";
import { createHmac } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ADMIN, ensureAdmin, hydrated, screenshots, signIn, watchForErrors } from "./helpers";

// Settings → Webhooks, as an admin uses it: register an endpoint pointing at a
// small receiver started here, copy its signing secret (shown once), send a test
// event, and see the delivery in the list. scripts/e2e-server sets
// KEYWARD_WEBHOOK_ALLOW_PRIVATE=true, so that 127.0.0.1 over HTTP is allowed.
test.describe.configure({ mode: "serial" });
test.beforeAll(async ({ request, baseURL }) => ensureAdmin(request, baseURL!));

type Received = { headers: IncomingHttpHeaders; body: string };
const received: Received[] = [];
let receiver: Server;
let receiverUrl = "";

test.beforeAll(async () => {
  receiver = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      received.push({ headers: request.headers, body });
      response.writeHead(200, { "content-type": "text/plain" });
      response.end("ok");
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/keyward`;
});

test.afterAll(async () => {
  await new Promise((resolve) => receiver.close(resolve));
});

/** Standard Webhooks: v1,base64(HMAC-SHA256(secret bytes, "id.timestamp.body")). */
function signature(secret: string, message: Received): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = `${message.headers["webhook-id"]}.${message.headers["webhook-timestamp"]}.${message.body}`;
  return "v1," + createHmac("sha256", key).update(signed).digest("base64");
}

test("an admin registers an endpoint, reads its secret once, sends a test event and sees it delivered", async ({
  page,
}) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "Webhooks" }).click();
  await expect(page).toHaveURL(/\/settings\/webhooks$/);
  await hydrated(page);
  await expect(page.getByRole("heading", { name: "Webhooks", level: 1 })).toBeVisible();

  // A URL that is not one is refused on its field.
  await page.getByLabel("Endpoint URL").fill("not a url");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  await expect(page.locator("#url-error")).toContainText("full URL");

  await page.getByLabel("Endpoint URL").fill(receiverUrl);
  await page.getByLabel("Description").fill("Browser test receiver");
  await page.getByRole("button", { name: "Add endpoint" }).click();
  const panel = page.getByTestId("webhook-secret-panel");
  await expect(panel).toContainText("will not be shown again");
  const secret = (await page.getByTestId("new-webhook-secret").textContent())!.trim();
  expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);

  // "Done" forgets it; the endpoint is listed, without its secret.
  await panel.getByRole("button", { name: "Done" }).click();
  await expect(page.getByTestId("webhook-secret-panel")).toHaveCount(0);
  const endpoint = page.getByTestId("webhook-endpoint").filter({ hasText: receiverUrl });
  await expect(endpoint.getByTestId("webhook-url")).toHaveText(receiverUrl);
  await expect(endpoint).toContainText("Enabled");
  await expect(endpoint.getByTestId("no-webhook-deliveries")).toBeVisible();
  expect(await page.content()).not.toContain(secret);

  // "Send test event" is a plain form post: the page loads again with the delivery.
  await endpoint.getByRole("button", { name: "Send test event" }).click();
  await expect(page).toHaveURL(/\/settings\/webhooks\?sent=msg_/);
  // The endpoint asked for every event, so an hourly audit.checkpoint may arrive too: find the test event.
  const ofType = (type: string) => received.filter((m) => JSON.parse(m.body).type === type);
  await expect.poll(() => ofType("test").length, { timeout: 15_000 }).toBeGreaterThan(0);
  const message = ofType("test")[0];
  expect(String(message.headers["webhook-signature"]).split(" ")).toContain(signature(secret, message));

  // The list shows it delivered once the page is loaded again.
  await expect
    .poll(
      async () => {
        await page.goto("/settings/webhooks");
        const row = page.getByTestId("webhook-endpoint").filter({ hasText: receiverUrl }).getByTestId("webhook-delivery").first();
        return (await row.count()) > 0 ? await row.getAttribute("data-status") : null;
      },
      { timeout: 15_000 },
    )
    .toBe("delivered");
  const row = page.getByTestId("webhook-endpoint").filter({ hasText: receiverUrl }).getByTestId("webhook-delivery").first();
  await expect(row.getByTestId("webhook-delivery-type")).toHaveText("test");
  await expect(row).toContainText("Delivered");
  await expect(row).toContainText("200");
  await expect(page.getByTestId("webhook-endpoint").filter({ hasText: receiverUrl }).getByTestId("webhook-success-rate")).toContainText(
    "100% delivered",
  );
  await screenshots(page, "test-results/webhooks/webhooks");
  await page.screenshot({ path: "../docs/screenshots/webhooks.png", fullPage: true });

  // The audit page shows the chain's head to keep as a checkpoint, and publishes one on demand.
  await page.goto("/settings/audit-log");
  const checkpoint = page.getByTestId("audit-checkpoint");
  await expect(checkpoint.getByTestId("audit-checkpoint-value")).toHaveText(/^\d+:[0-9a-f]{64}$/);
  const head = (await checkpoint.getByTestId("audit-checkpoint-value").textContent())!.trim();
  await checkpoint.getByRole("button", { name: "Publish checkpoint now" }).click();
  await expect(page).toHaveURL(/\/settings\/audit-log\?published=1$/);
  await expect(page.getByTestId("audit-checkpoint")).toContainText("Checkpoint sent to 1 webhook endpoint.");
  await expect
    .poll(() => ofType("audit.checkpoint").some((m) => JSON.parse(m.body).data.checkpoint === head), { timeout: 15_000 })
    .toBe(true);
  // Pictures only: the audit log as a whole, with the other specs' entries, is 49 px too wide at
  // phone width (an element of its table, not this panel; noticed, not fixed in this change).
  await page.screenshot({ path: "test-results/webhooks/audit-checkpoint-desktop.png", fullPage: true });
  await page.setViewportSize({ width: 360, height: 780 });
  await page.getByTestId("audit-checkpoint").screenshot({ path: "test-results/webhooks/audit-checkpoint-phone.png" });
  await page.setViewportSize({ width: 1280, height: 900 });
  expect(errors).toEqual([]);
});

test("deleting an endpoint asks first", async ({ page }) => {
  const errors = watchForErrors(page);
  await signIn(page, ADMIN.email, ADMIN.password);
  await page.goto("/settings/webhooks");
  await hydrated(page);
  const endpoint = page.getByTestId("webhook-endpoint").filter({ hasText: receiverUrl });
  await endpoint.getByRole("button", { name: `Delete the endpoint ${receiverUrl}` }).click();
  const dialog = page.getByRole("alertdialog", { name: "Delete this webhook endpoint?" });
  await expect(dialog).toBeVisible();
  await dialog.getByRole("button", { name: "Yes, delete it" }).click();
  await expect(page.getByTestId("webhook-endpoint").filter({ hasText: receiverUrl })).toHaveCount(0);
  expect(errors).toEqual([]);
});
