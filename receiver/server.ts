/**
 * ReceiverServer: listens on one port or a range of ports (one process can stand in for many
 * nodes), and runs a Session per incoming connection. Each port is one emulated node: it has its
 * own `--read-rate-kbps` throttle. Any number of senders may connect at once.
 */
import { DEFAULT_PROGRESS_BYTES } from '../wire/frames.js';
import { mkdir, access, constants } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { Session, type ReceiverEvent } from './session.js';
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
  onEvent?: (ev: ReceiverEvent) => void;
}

export class ReceiverServer {
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly registry = new Map<string, Session>();
  readonly addresses: string[] = [];

  constructor(private readonly opts: ReceiverOptions) {}

  async start(): Promise<string[]> {
    const o = this.opts;
    await mkdir(o.outDir, { recursive: true });
    await access(o.outDir, constants.W_OK).catch(() => {
      throw new ListenSpecError(`--out ${o.outDir}: not writable`);
    });
    for (let port = o.listen.firstPort; port <= o.listen.lastPort; port++) {
      const throttle = o.readRateKbps ? new ReadThrottle(o.readRateKbps) : null;
      const env = {
        outDir: o.outDir,
        progressEveryBytes: o.progressEveryBytes ?? DEFAULT_PROGRESS_BYTES,
        maxFragmentBytes: o.maxFragmentBytes ?? 64 * 2 ** 30,
        idleTimeoutMs: o.idleTimeoutMs ?? 120_000,
        throttle,
        registry: this.registry,
        log: o.onEvent ?? (() => {}),
      };
      const server = createServer((socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
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
      this.servers.push(server);
      const a = server.address();
      if (a && typeof a === 'object') this.addresses.push(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
    }
    return this.addresses;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    this.servers.length = 0;
  }
}
