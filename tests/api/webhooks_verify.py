"""Verifies one webhook delivery with the `standardwebhooks` package, the way
a receiver would (docs/webhooks.md). Run by tests/api/webhooks.rs
(`webhooks_standardwebhooks_verifies_a_delivery`); the delivery comes in
environment variables. Prints the verified payload as JSON, or "refused"
and exits 1."""

import json
import os
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

webhook = Webhook(os.environ["WEBHOOK_SECRET"])
headers = {
    "webhook-id": os.environ["WEBHOOK_ID"],
    "webhook-timestamp": os.environ["WEBHOOK_TIMESTAMP"],
    "webhook-signature": os.environ["WEBHOOK_SIGNATURE"],
}
try:
    payload = webhook.verify(os.environ["WEBHOOK_BODY"], headers)
except WebhookVerificationError as error:
    print(f"refused: {error}")
    sys.exit(1)
print(json.dumps(payload))
