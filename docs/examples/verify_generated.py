"""Verify a key through a client generated from docs/openapi.json.

scripts/contract-test generates the package `keyward_client` with
openapi-python-client into a temporary directory on PYTHONPATH, then runs this
with KEYWARD_URL, KEYWARD_SERVICE_TOKEN and CUSTOMER_KEY set: proof that the
document yields a client that imports, sends what the server reads, and
decodes what it answers.
"""

import os

from keyward_client import Client
from keyward_client.api.verification import verify_key
from keyward_client.models import VerifiedBody, VerifyError, VerifyErrorCode, VerifyRequestBody

client = Client(
    base_url=os.environ["KEYWARD_URL"],
    headers={"X-Keyward-Service-Token": os.environ["KEYWARD_SERVICE_TOKEN"]},
    raise_on_unexpected_status=True,
)
key = os.environ["CUSTOMER_KEY"]

answer = verify_key.sync(client=client, body=VerifyRequestBody(key=key))
assert isinstance(answer, VerifiedBody) and answer.valid, answer
print(f"generated client: valid key {answer.key_id}, environment {answer.environment.value}")

refused = verify_key.sync(client=client, body=VerifyRequestBody(key=key + "x"))
assert isinstance(refused, VerifyError), refused
assert refused.error.code == VerifyErrorCode.MALFORMED, refused
print(f"generated client: refused with {refused.error.code.value}")
