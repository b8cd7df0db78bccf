// Credential formats, as the worker checks them (src/auth/credential.rs): `pb_live_` (API key)
// or `pb_sess_` (session) + 26 random base62 characters + a 6-character checksum, the CRC32 of
// those 26, base62, most significant digit first, zero-padded. Shared by the demo seed, the
// tests and the benchmark, which all make keys without the API.
import crypto from "node:crypto";

export const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** `n` characters drawn uniformly from ALPHABET (rejection sampling, like the worker). */
export function randomBase62(n, random = crypto.randomBytes) {
  let out = "";
  while (out.length < n) {
    for (const b of random(64)) {
      if (b < 248 && out.length < n) out += ALPHABET[b % 62];
    }
  }
  return out;
}

export function crc32(str) {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(str)) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

export function checksum(body) {
  let n = crc32(body);
  let out = "";
  for (let i = 0; i < 6; i++) {
    out = ALPHABET[n % 62] + out;
    n = Math.floor(n / 62);
  }
  return out;
}

/** A token the worker accepts as well-formed (whether or not it was ever issued). */
export function newToken(prefix = "pb_live_", random = crypto.randomBytes) {
  const body = randomBase62(26, random);
  return prefix + body + checksum(body);
}

export const sha256 = (s) => crypto.createHash("sha256").update(s).digest("hex");
