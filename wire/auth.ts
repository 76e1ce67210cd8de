/**
 * Pre-shared-key authentication of one fragment transfer (`--auth-key FILE` on both ends).
 *
 * The sender puts a fresh 16-byte nonce in HELLO; the receiver answers CHALLENGE with a fresh
 * nonce of its own and does nothing else (no file is opened, no live transfer is disturbed) until
 * the sender's AUTH proves the key:
 *
 *   auth = HMAC-SHA-256(key, "fanout-auth-v1 hello" || HELLO frame || nonceR)
 *   end  = HMAC-SHA-256(key, "fanout-auth-v1 end"   || HELLO frame || nonceR || sha256)
 *   ack  = HMAC-SHA-256(key, "fanout-auth-v1 ack"   || HELLO frame || nonceR || sha256)
 *
 * The HELLO frame (its exact bytes) carries the transfer id, index, count, length, offset and the
 * sender's nonce, so every MAC is bound to this fragment and this connection: a recorded exchange
 * cannot be replayed (the receiver's nonce is new each time), an END digest cannot be forged or
 * moved to another fragment, and the sender knows from the ACK's MAC that the receiver that
 * stored its bytes holds the key too. Labels keep the three MACs apart. Comparisons are
 * constant-time. What it does not give: confidentiality, or protection of the bytes in flight
 * from an on-path attacker other than detection (a changed DATA byte fails the digest, so the
 * fragment is discarded, never stored).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { encodeHello, MAC_BYTES, NONCE_BYTES, type HelloFrame } from './frames.js';

/** Fewer bytes than this is not a key worth the name. */
export const MIN_KEY_BYTES = 16;
/** More is certainly a wrong file. */
export const MAX_KEY_BYTES = 4096;

export class AuthKeyError extends Error {
  override readonly name = 'AuthKeyError';
}

/**
 * Reads a key file: its bytes are the key (a trailing newline is dropped, so `head -c 32
 * /dev/urandom | base64 > key` and an editor's save give the same key on both ends).
 */
export function readAuthKey(path: string): Buffer {
  let raw: Buffer;
  try {
    if (!statSync(path).isFile()) throw new AuthKeyError(`--auth-key ${path}: not a regular file`);
    raw = readFileSync(path);
  } catch (e) {
    if (e instanceof AuthKeyError) throw e;
    throw new AuthKeyError(`--auth-key ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === 0x0a || raw[end - 1] === 0x0d)) end--;
  const key = raw.subarray(0, end);
  if (key.length < MIN_KEY_BYTES) throw new AuthKeyError(`--auth-key ${path}: ${key.length} bytes; a key needs at least ${MIN_KEY_BYTES}`);
  if (key.length > MAX_KEY_BYTES) throw new AuthKeyError(`--auth-key ${path}: ${key.length} bytes; at most ${MAX_KEY_BYTES} (wrong file?)`);
  return Buffer.from(key);
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

function mac(key: Buffer, label: string, hello: HelloFrame, nonceR: Buffer, extra?: Buffer): Buffer {
  const h = createHmac('sha256', key);
  h.update(`fanout-auth-v1 ${label}\0`);
  h.update(encodeHello(hello));
  h.update(nonceR);
  if (extra) h.update(extra);
  return h.digest();
}

export const helloMac = (key: Buffer, hello: HelloFrame, nonceR: Buffer): Buffer => mac(key, 'hello', hello, nonceR);
export const endMac = (key: Buffer, hello: HelloFrame, nonceR: Buffer, sha256: Buffer): Buffer => mac(key, 'end', hello, nonceR, sha256);
export const ackMac = (key: Buffer, hello: HelloFrame, nonceR: Buffer, sha256: Buffer): Buffer => mac(key, 'ack', hello, nonceR, sha256);

/** Constant-time comparison of a received MAC (undefined = missing) with the expected one. */
export function macEquals(got: Buffer | undefined, want: Buffer): boolean {
  return got !== undefined && got.length === MAC_BYTES && want.length === MAC_BYTES && timingSafeEqual(got, want);
}
