/**
 * Output arrays of the codec (payloads and coefficient vectors of the packets it makes) are carved
 * out of 128 KiB buffers instead of allocated one by one: a typed array over 64 bytes gets its own
 * off-heap backing store in V8, which cost ~0.7 us per packet (a third of a GF(2) encode). Each
 * region is handed out once and never reused or written again, so the views are as independent as
 * fresh arrays; a buffer is freed when the last view into it is garbage. (`.buffer` of a returned
 * array is therefore larger than the array: use byteOffset/length, as Buffer.from(view) does.)
 */
const SLAB_BYTES = 1 << 17;
let buf = new Uint8Array(0);
let at = 0;

/** A fresh zeroed array of n bytes. */
export function take(n: number): Uint8Array {
  if (n > SLAB_BYTES >> 3) return new Uint8Array(n);
  if (at + n > buf.length) {
    buf = new Uint8Array(SLAB_BYTES);
    at = 0;
  }
  const v = buf.subarray(at, at + n);
  at = (at + n + 7) & ~7;
  return v;
}

/** A fresh copy of src[from, to). */
export function copyOut(src: Uint8Array, from: number, to: number): Uint8Array {
  const v = take(to - from);
  v.set(src.subarray(from, to));
  return v;
}
