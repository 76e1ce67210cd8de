/**
 * ReceiverServer: listens on one port or a range of ports (one process can stand in for many
 * nodes), and runs a Session per incoming connection. Each port is one emulated node: it has its
 * own `--read-rate-kbps` throttle. Many senders may connect at once, within the limits below.
 *
 * Limits, shared by every port of the process: connections open at once (`maxConnections`) and
 * per peer address (`maxConnectionsPerPeer`); a connection over either is sent ERROR (Quota) and
 * destroyed at once, before any other work. The disk budget (quota, free-space reserve, transfers
 * at once, `.part` expiry) is the FragmentStore's (receiver/store.ts).
 */
import { DEFAULT_PROGRESS_BYTES, encodeError } from '../wire/frames.js';
import { ErrorCode } from '../wire/errors.js';
import { mkdir, access, constants } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { Session, type ReceiverEvent } from './session.js';
import { DEFAULT_STORE_LIMITS, FragmentStore, type StoreLimits } from './store.js';
import { ReadThrottle } from './throttle.js';

export interface ListenSpec {
  host: string;
  firstPort: number;
  lastPort: number;
}

export class ListenSpecError extends Error {
  override readonly name = 'ListenSpecError';
}

/** Parses `HOST:PORT` or `HOST:PORT-PORT` (IPv6 as `[::1]:9000-9063`). */
export function parseListen(text: string): ListenSpec {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})(?:-(\d{1,5}))?$/.exec(text.trim());
  if (!m) throw new ListenSpecError(`--listen: expected HOST:PORT or HOST:PORT-PORT (e.g. 0.0.0.0:9000-9063), got "${text}"`);
  const host = m[1] ?? m[2]!;
  const firstPort = Number(m[3]);
  const lastPort = m[4] === undefined ? firstPort : Number(m[4]);
  if (firstPort < 0 || lastPort > 65535 || lastPort < firstPort) {
    throw new ListenSpecError(`--listen: port range ${firstPort}-${lastPort} is not within 0..65535 in increasing order`);
  }
  if (lastPort - firstPort >= 10_000) throw new ListenSpecError('--listen: at most 10000 ports in one range');
  return { host, firstPort, lastPort };
}

export interface ReceiverOptions {
  listen: ListenSpec;
  outDir: string;
  /** Per port (per emulated node); undefined = as fast as possible. */
  readRateKbps?: number;
  /** PROGRESS every this many stored bytes (default 16 KiB). */
  progressEveryBytes?: number;
  /** Largest fragment accepted (default 64 GiB). */
  maxFragmentBytes?: number;
  /** A connection silent this long is dropped (default 120 s). */
  idleTimeoutMs?: number;
  /** A connection must have sent an admitted (and, with a key, authenticated) HELLO this soon (default 10 s). */
  helloTimeoutMs?: number;
  /** Pre-shared key: serve only senders that prove it (wire/auth.ts). */
  authKey?: Buffer;
  /** Connections open at once, all ports together (default 1024). */
  maxConnections?: number;
  /** Connections open at once from one peer address (default 256). */
  maxConnectionsPerPeer?: number;
  /** Disk budget (receiver/store.ts); each field defaults to DEFAULT_STORE_LIMITS. */
  store?: Partial<StoreLimits>;
  onEvent?: (ev: ReceiverEvent) => void;
}

export const DEFAULT_MAX_CONNECTIONS = 1024;
export const DEFAULT_MAX_CONNECTIONS_PER_PEER = 256;
export const DEFAULT_HELLO_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_FRAGMENT_BYTES = 64 * 2 ** 30;

export class ReceiverServer {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly registry = new Map<string, Session>();
  private readonly perPeer = new Map<string, number>();
  private expiryTimer: NodeJS.Timeout | null = null;
  readonly addresses: string[] = [];
  readonly store: FragmentStore;
  /** Connections refused by the connection limits since start. */
  refusedConnections = 0;
  /** Most connections open at once since start. */
  peakConnections = 0;

  constructor(private readonly opts: ReceiverOptions) {
    this.store = new FragmentStore(opts.outDir, { ...DEFAULT_STORE_LIMITS, ...opts.store });
  }

  get openConnections(): number {
    return this.sockets.size;
  }

  /** Admits a new connection under the limits, or refuses it at once. */
  private admit(socket: Socket): boolean {
    const o = this.opts;
    const addr = socket.remoteAddress ?? '?';
    const n = this.perPeer.get(addr) ?? 0;
    const maxAll = o.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
    const maxPeer = o.maxConnectionsPerPeer ?? DEFAULT_MAX_CONNECTIONS_PER_PEER;
    if (this.sockets.size >= maxAll || n >= maxPeer) {
      this.refusedConnections++;
      socket.on('error', () => {});
      // One small frame then gone: the peer learns why, and we keep nothing.
      const why = this.sockets.size >= maxAll ? `${maxAll} connections open` : `${maxPeer} connections open from ${addr}`;
      socket.end(encodeError(ErrorCode.Quota, `too many connections: ${why}`));
      socket.destroySoon();
      setTimeout(() => socket.destroy(), 200).unref();
      return false;
    }
    this.perPeer.set(addr, n + 1);
    this.sockets.add(socket);
    this.peakConnections = Math.max(this.peakConnections, this.sockets.size);
    socket.once('close', () => {
      this.sockets.delete(socket);
      const left = (this.perPeer.get(addr) ?? 1) - 1;
      if (left <= 0) this.perPeer.delete(addr);
      else this.perPeer.set(addr, left);
    });
    return true;
  }

  /** Deletes stale `.part` files (not those in use). */
  async expireParts(): Promise<string[]> {
    const inUse = new Set<string>();
    for (const s of this.registry.values()) {
      const name = s.partName;
      if (name !== null) inUse.add(name);
    }
    return this.store.expireParts(inUse);
  }

  async start(): Promise<string[]> {
    const o = this.opts;
    await mkdir(o.outDir, { recursive: true });
    await access(o.outDir, constants.W_OK).catch(() => {
      throw new ListenSpecError(`--out ${o.outDir}: not writable`);
    });
    await this.store.scan();
    await this.expireParts();
    const every = Math.max(1000, Math.min(this.store.limits.partExpiryMs / 4, 10 * 60_000));
    this.expiryTimer = setInterval(() => void this.expireParts().catch(() => {}), every);
    this.expiryTimer.unref();
    const log = o.onEvent ?? (() => {});
    for (let port = o.listen.firstPort; port <= o.listen.lastPort; port++) {
      const throttle = o.readRateKbps ? new ReadThrottle(o.readRateKbps) : null;
      const env = {
        outDir: o.outDir,
        progressEveryBytes: o.progressEveryBytes ?? DEFAULT_PROGRESS_BYTES,
        maxFragmentBytes: o.maxFragmentBytes ?? DEFAULT_MAX_FRAGMENT_BYTES,
        idleTimeoutMs: o.idleTimeoutMs ?? 120_000,
        helloTimeoutMs: o.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS,
        throttle,
        registry: this.registry,
        authKey: o.authKey ?? null,
        store: this.store,
        log,
      };
      const server = createServer((socket) => {
        if (!this.admit(socket)) return;
        new Session(socket, env);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(new ListenSpecError(`cannot listen on ${o.listen.host}:${port}: ${err.code ?? err.message}`)),
        );
        server.listen({ host: o.listen.host, port, backlog: 511 }, () => resolve());
      }).catch(async (err) => {
        await this.close();
        throw err;
      });
      // After listen, errors (EMFILE on accept, ...) are reported, never fatal.
      server.removeAllListeners('error');
      server.on('error', (err: NodeJS.ErrnoException) =>
        log({ event: 'error', t: Date.now() / 1000, peer: `${o.listen.host}:${port}`, code: 'Internal', message: `listener: ${err.code ?? err.message}` }),
      );
      this.servers.push(server);
      const a = server.address();
      if (a && typeof a === 'object') this.addresses.push(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    }
    return this.addresses;
  }

  async close(): Promise<void> {
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.expiryTimer = null;
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }
}
