/** Comparing decoded frames in tests. */
import type { Frame } from '../../wire/frames.js';

/**
 * Frames with every Buffer as hex, so large bodies compare fast and failures print readably.
 * Adjacent DATA frames are joined: the decoder hands DATA out as pieces of a byte stream, in
 * whatever pieces the input arrived in, so only the bytes and their place among the control frames
 * are promised.
 */
export function norm(frames: Frame[]): unknown[] {
  const out: Record<string, unknown>[] = [];
  let data: Buffer[] | null = null;
  for (const f of frames) {
    if (f.type === 'data') {
      if (data === null) {
        data = [];
        out.push({ type: 'data' });
      }
      data.push(f.bytes);
      out[out.length - 1]!.bytes = `hex:${Buffer.concat(data).toString('hex')}`;
      continue;
    }
    data = null;
    out.push(Object.fromEntries(Object.entries(f).map(([k, v]) => [k, Buffer.isBuffer(v) ? `hex:${v.toString('hex')}` : v])));
  }
  return out;
}
