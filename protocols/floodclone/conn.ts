/**
 * One framed TCP connection (node to source or node to node): decodes frames with bounded memory,
 * counts payload and control bytes both ways, and turns a malformed frame into ERROR + close
 * (never a crash). The owner handles frames and closing; it writes only while `hasRoom`.
 */
import type { Socket } from 'node:net';
import { FloodDecoder, FloodProtocolError, chunkHeader, encode, type Frame } from './wire.js';

export const ERR_PROTOCOL = 1;
export const ERR_REFUSED = 2;

export class FloodConn {
  readonly decoder = new FloodDecoder();
  payloadUp = 0;
  controlUp = 0;
  closed = false;
  private onCloseFns: ((why: string) => void)[] = [];

  constructor(
    readonly socket: Socket,
    private readonly onFrame: (f: Frame) => void,
    private readonly onDrain: () => void,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (b: Buffer) => {
      if (this.closed) return;
      let frames: Frame[];
      try {
        frames = this.decoder.push(b);
      } catch (e) {
        if (e instanceof FloodProtocolError) return this.fail(ERR_PROTOCOL, e.message);
        throw e;
      }
      for (const f of frames) {
        if (this.closed) return;
        try {
          this.onFrame(f);
        } catch (e) {
          if (e instanceof FloodProtocolError) return this.fail(ERR_PROTOCOL, e.message);
          throw e;
        }
      }
    });
    socket.on('drain', () => !this.closed && this.onDrain());
    socket.on('error', (e) => this.close(e.message));
    socket.on('close', () => this.close('closed by peer'));
  }

  /** The socket takes more without buffering beyond its high-water mark. */
  get hasRoom(): boolean {
    return !this.closed && !this.socket.writableNeedDrain;
  }

  /** Bytes written but not yet taken by the kernel. */
  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  send(f: Frame): void {
    if (this.closed) return;
    const b = encode(f);
    this.controlUp += b.length;
    this.socket.write(b);
  }

  sendChunk(chunk: number, data: Buffer): void {
    if (this.closed) return;
    const h = chunkHeader(chunk, data.length);
    this.controlUp += h.length;
    this.payloadUp += data.length;
    this.socket.cork();
    this.socket.write(h);
    this.socket.write(data);
    this.socket.uncork();
  }

  /** ERROR frame, then close (the peer is at fault). */
  fail(code: number, message: string): void {
    if (this.closed) return;
    this.send({ type: 'error', code, message });
    this.socket.end();
    this.socket.destroySoon?.();
    setTimeout(() => this.socket.destroy(), 1000).unref();
    this.close(message);
  }

  onClose(fn: (why: string) => void): void {
    this.onCloseFns.push(fn);
  }

  close(why: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const fn of this.onCloseFns) fn(why);
  }
}

export function splitHostPort(text: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`expected HOST:PORT, got "${text}"`);
  return { host: m[1]!, port };
}
