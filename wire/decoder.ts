/**
 * Streaming frame decoder: bytes in (in any split), frames out. No sockets, no timers.
 *
 * A header is checked before its body is buffered, so a hostile length is refused without
 * allocating for it. Control frames are buffered whole (they are small: at most 1 KiB + header).
 * DATA bodies are not: they come out as one or more `data` frames as their bytes arrive, each a
 * view of the input (no copy), so the decoder holds at most one control frame or one partial
 * header. Consumers treat DATA as a byte stream, which it is. After the first error the decoder is
 * poisoned: every later `push` throws the same error.
 */
import { RemoteProtocolError } from './errors.js';
import { checkHeader, decodeBody, FrameType, HEADER_BYTES, type Frame } from './frames.js';

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed: RemoteProtocolError | null = null;
  /** Bytes of the current DATA body still to come (0 = at a frame boundary). */
  private dataLeft = 0;

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Adds bytes and returns every frame they complete, and the DATA bytes they carry. Throws
   * `RemoteProtocolError` on malformed input. DATA pieces are views of the pushed buffers.
   */
  push(bytes: Buffer): Frame[] {
    if (this.failed) throw this.failed;
    if (bytes.length > 0) {
      this.chunks.push(bytes);
      this.buffered += bytes.length;
    }
    const out: Frame[] = [];
    try {
      for (;;) {
        if (this.dataLeft > 0) {
          if (this.buffered === 0) break;
          const piece = this.takeUpTo(this.dataLeft);
          this.dataLeft -= piece.length;
          out.push({ type: 'data', bytes: piece });
          continue;
        }
        if (this.buffered < HEADER_BYTES) break;
        const head = this.peek(HEADER_BYTES);
        const type = head.readUInt8(0);
        const bodyLength = checkHeader(type, head.readUInt32BE(1));
        if (type === FrameType.Data) {
          this.take(HEADER_BYTES);
          this.dataLeft = bodyLength;
          continue;
        }
        if (this.buffered < HEADER_BYTES + bodyLength) break;
        const frame = this.take(HEADER_BYTES + bodyLength).subarray(HEADER_BYTES);
        out.push(decodeBody(type, frame));
      }
    } catch (err) {
      if (err instanceof RemoteProtocolError) {
        this.failed = err;
        this.chunks = [];
        this.buffered = 0;
      }
      throw err;
    }
    return out;
  }

  /** The first `n` bytes without consuming them (n <= buffered). */
  private peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) return first.subarray(0, n);
    this.coalesce(n);
    return this.chunks[0]!.subarray(0, n);
  }

  /** Consumes and returns the first `n` bytes (n <= buffered). */
  private take(n: number): Buffer {
    let first = this.chunks[0]!;
    if (first.length < n) {
      this.coalesce(n);
      first = this.chunks[0]!;
    }
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }

  /** Consumes and returns up to `n` bytes from the first chunk only (never copies). */
  private takeUpTo(n: number): Buffer {
    const first = this.chunks[0]!;
    const out = first.length <= n ? first : first.subarray(0, n);
    if (first.length <= n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= out.length;
    return out;
  }

  /** Merges leading chunks until the first holds at least `n` bytes. */
  private coalesce(n: number): void {
    const parts: Buffer[] = [];
    let have = 0;
    while (have < n) {
      const c = this.chunks.shift()!;
      parts.push(c);
      have += c.length;
    }
    this.chunks.unshift(Buffer.concat(parts, have));
  }
}
