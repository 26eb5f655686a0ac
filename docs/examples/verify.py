"""Verify a customer's API key with Keyward, from Python's standard library only.

The example of docs/integrate.md; scripts/contract-test runs it against a live
server with KEYWARD_URL, KEYWARD_SERVICE_TOKEN and CUSTOMER_KEY set.
"""

import json
import os
import urllib.error
import urllib.request


def verify(key, scopes=()):
    """Keyward's answer: the key's identity, or the error envelope of a refused key."""
    request = urllib.request.Request(
        os.environ["KEYWARD_URL"] + "/v1/keys/verify",
        data=json.dumps({"key": key, "scopes": list(scopes)}).encode(),
        headers={
            "Content-Type": "application/json",
            "X-Keyward-Service-Token": os.environ["KEYWARD_SERVICE_TOKEN"],
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as refused:
        if refused.code in (401, 403, 429):
            return json.load(refused)  # {"error": {"type", "code", "message"}}
        raise  # 400/413/415: a bug in this caller; 503: not checked, so refuse the request


if __name__ == "__main__":
    key = os.environ["CUSTOMER_KEY"]
    answer = verify(key)
    assert answer.get("valid") is True, answer
    print(f"valid: key {answer['key_id']} of workspace {answer['workspace_id']}")
    # One character more breaks the checksum: refused before any lookup.
    refused = verify(key + "x")
    assert refused["error"]["code"] == "MALFORMED", refused
    print(f"refused: {refused['error']['code']}")
