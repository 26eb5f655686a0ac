import { createHmac } from "node:crypto";

// RFC 6238 codes as an authenticator app computes them (SHA-1, 6 digits,
// 30-second steps), from the key the Account page shows in text: the test
// plays the user's phone. Node's own HMAC; nothing of Keyward's.

function base32Decode(text: string): Buffer {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const char of text.replace(/[\s=]/g, "").toUpperCase()) {
    const value = alphabet.indexOf(char);
    if (value < 0) throw new Error(`not base32: ${char}`);
    bits += value.toString(2).padStart(5, "0");
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The code of the step `offset` steps from now. */
export function totpCode(secretText: string, offset = 0): string {
  const step = Math.floor(Date.now() / 1000 / 30) + offset;
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac("sha1", base32Decode(secretText)).update(counter).digest();
  const at = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(at) & 0x7fffffff) % 1_000_000;
  return value.toString().padStart(6, "0");
}

/** RFC 6238 appendix B: the secret "12345678901234567890" at T = 59 s gives …287082. */
export function selfCheck(): void {
  const realNow = Date.now;
  Date.now = () => 59_000;
  try {
    if (totpCode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") !== "287082") throw new Error("the test's TOTP is wrong");
  } finally {
    Date.now = realNow;
  }
}
