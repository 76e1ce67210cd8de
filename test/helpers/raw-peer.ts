/** A hand-driven fragment-protocol peer for tests that play a sender badly on purpose. */
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { ackMac, endMac, helloMac, newNonce } from '../../wire/auth.js';
import { FrameDecoder } from '../../wire/decoder.js';
import { encodeAuth, encodeData, encodeEnd, encodeHello, type Frame, type HelloFrame } from '../../wire/frames.js';

export class RawPeer {
  readonly frames: Frame[] = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private waiters: (() => void)[] = [];
  nonceR: Buffer | null = null;

  private constructor(readonly socket: Socket) {
    socket.on('data', (b: Buffer) => {
      try {
        this.frames.push(...this.decoder.push(b));
      } catch {
        socket.destroy();
      }
      this.wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  static connect(port: number, opts: { host?: string; localAddress?: string; allowHalfOpen?: boolean } = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: opts.host ?? '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}), allowHalfOpen: opts.allowHalfOpen ?? false });
      s.once('connect', () => resolve(new RawPeer(s)));
      s.once('error', reject);
    });
  }

  /** Resolves with the first frame of `type` (or null when the connection closes first / after `ms`). */
  async waitFor(type: Frame['type'] | 'any', ms = 5000): Promise<Frame | null> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.frames.find((x) => type === 'any' || x.type === type);
      if (f) return f;
      if (this.closed || Date.now() >= deadline) return null;
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    return this.closed;
  }

  send(b: Buffer): boolean {
    return this.socket.write(b);
  }

  /** HELLO (and, with a key, the AUTH after the CHALLENGE); resolves with ACCEPT's offset or the ERROR frame. */
  async hello(h: Omit<HelloFrame, 'type' | 'nonce'>, key?: Buffer, wrongKey?: Buffer): Promise<{ offset: number } | { error: Frame | null }> {
    const hello: HelloFrame = { type: 'hello', ...h };
    if (key || wrongKey) hello.nonce = newNonce();
    this.hello_ = hello;
    this.send(encodeHello(hello));
    if (key || wrongKey) {
      const c = await this.waitFor('challenge');
      if (c?.type !== 'challenge') return { error: this.frames.find((f) => f.type === 'error') ?? null };
      this.nonceR = c.nonce;
      this.send(encodeAuth(helloMac((wrongKey ?? key)!, hello, c.nonce)));
    }
    const a = await this.waitFor('accept');
    if (a?.type === 'accept') return { offset: a.offsetBytes };
    return { error: this.frames.find((f) => f.type === 'error') ?? null };
  }

  hello_: HelloFrame | null = null;

  data(bytes: Buffer, pieceBytes = 65536): void {
    for (let i = 0; i < bytes.length; i += pieceBytes) this.send(encodeData(bytes.subarray(i, i + pieceBytes)));
  }

  end(sha256: Buffer, key?: Buffer): void {
    this.send(encodeEnd(sha256, key ? endMac(key, this.hello_!, this.nonceR!, sha256) : undefined));
  }

  ackMacFor(key: Buffer, sha256: Buffer): Buffer {
    return ackMac(key, this.hello_!, this.nonceR!, sha256);
  }

  error(): Frame | undefined {
    return this.frames.find((f) => f.type === 'error');
  }

  close(): void {
    this.socket.destroy();
  }
}

export const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
