/**
 * Streaming frame decoder: bytes in (in any split), frames out. No sockets, no timers.
 *
 * Memory is bounded by the largest legal frame (HEADER_BYTES + MAX_DATA_BYTES): a header is checked
 * before its body is buffered, so a hostile length is refused without allocating for it. After the
 * first error the decoder is poisoned: every later `push` throws the same error.
 */
import { RemoteProtocolError } from './errors.js';
import { checkHeader, decodeBody, HEADER_BYTES, type Frame } from './frames.js';

export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failed: RemoteProtocolError | null = null;

  /** Bytes held waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /**
   * Adds bytes and returns every frame they complete. Throws `RemoteProtocolError` on malformed
   * input. DATA frame bodies may share memory with `bytes`: copy them if you keep them.
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
        if (this.buffered < HEADER_BYTES) break;
        const head = this.peek(HEADER_BYTES);
        const type = head.readUInt8(0);
        const bodyLength = checkHeader(type, head.readUInt32BE(1));
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
