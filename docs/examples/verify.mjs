// Verify a customer's API key with Keyward, with Node's built-in fetch (Node 18+).
// The example of docs/integrate.md; scripts/contract-test runs it against a live
// server with KEYWARD_URL, KEYWARD_SERVICE_TOKEN and CUSTOMER_KEY set.

async function verify(key, scopes = []) {
  const response = await fetch(`${process.env.KEYWARD_URL}/v1/keys/verify`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-Keyward-Service-Token": process.env.KEYWARD_SERVICE_TOKEN,
    },
    body: JSON.stringify({ key, scopes }),
    signal: AbortSignal.timeout(5000),
  });
  if ([200, 401, 403, 429].includes(response.status)) return response.json();
  // 400/413/415: a bug in this caller; 503: not checked, so refuse the request.
  throw new Error(`Keyward answered ${response.status}`);
}

const key = process.env.CUSTOMER_KEY;
const answer = await verify(key);
if (answer.valid !== true) throw new Error(JSON.stringify(answer));
console.log(`valid: key ${answer.key_id} of workspace ${answer.workspace_id}`);
const refused = await verify(key.slice(0, -1));
if (refused.error?.code !== "MALFORMED") throw new Error(JSON.stringify(refused));
console.log(`refused: ${refused.error.code}`);
