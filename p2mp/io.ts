/**
 * What the P2MP-FTP drivers share: the clock, host resolution, binding a UDP socket with clear
 * errors, files written under a temporary name, and output lines (the specification's text lines,
 * and with --json one JSON object per line for the lab).
 */
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { basename, dirname, join } from 'node:path';

/** A problem with what the user asked for (bad argument, unknown host, port in use): exit 2. */
export class P2mpUsageError extends Error {
  override readonly name = 'P2mpUsageError';
}

/** The monotonic clock the drivers hand to the state machines, ms. */
export const nowMs = (): number => performance.now();

export interface Output {
  /** A line of text (the specification's lines). */
  text(line: string): void;
  /** A JSON event (only with --json), stamped with the machine's wall clock. */
  event(ev: Record<string, unknown>): void;
}

export function stdoutOutput(json: boolean): Output {
  return {
    text: (line) => void process.stdout.write(line + '\n'),
    event: (ev) => {
      if (json) process.stdout.write(JSON.stringify({ ...ev, wallMs: Date.now() }) + '\n');
    },
  };
}

/** An IPv4 address for `host` (a literal or a name), or a usage error naming it. */
export async function resolveHost(host: string): Promise<string> {
  if (isIPv4(host)) return host;
  try {
    return (await lookup(host, { family: 4 })).address;
  } catch {
    throw new P2mpUsageError(`unknown host ${JSON.stringify(host)} (no IPv4 address found)`);
  }
}

/** A UDP socket bound to address:port, or a usage error (port in use, address not here). */
export async function bindUdp(address: string, port: number, opts: { reuseAddr?: boolean; rcvBufBytes?: number } = {}): Promise<Socket> {
  const sock = createSocket({ type: 'udp4', reuseAddr: opts.reuseAddr ?? false });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      sock.close();
      if (err.code === 'EADDRINUSE') reject(new P2mpUsageError(`UDP port ${port} on ${address} is already in use`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new P2mpUsageError(`cannot bind ${address}: not an address of this host`));
      else if (err.code === 'EACCES') reject(new P2mpUsageError(`not allowed to bind UDP port ${port}`));
      else reject(err);
    };
    sock.once('error', onError);
    sock.bind({ address, port, exclusive: true }, () => {
      sock.off('error', onError);
      resolve();
    });
  });
  if (opts.rcvBufBytes) {
    try {
      sock.setRecvBufferSize(opts.rcvBufBytes);
    } catch {
      // The kernel caps it (net.core.rmem_max); the default still works.
    }
  }
  return sock;
}

/** A port number argument. */
export function parsePort(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isInteger(n) || n < 1 || n > 65535) throw new P2mpUsageError(`${what}: expected a UDP port from 1 to 65535 (got ${JSON.stringify(text)})`);
  return n;
}

/**
 * A file written under a temporary name beside its final one and renamed only when complete, so
 * no cut transfer is ever presented as the file.
 */
export class TempFile {
  readonly tempPath: string;
  readonly fd: number;
  private closed = false;

  constructor(readonly finalPath: string) {
    const dir = dirname(finalPath);
    if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new P2mpUsageError(`${dir}: no such folder to write ${basename(finalPath)} into`);
    if (existsSync(finalPath) && statSync(finalPath).isDirectory()) throw new P2mpUsageError(`${finalPath} is a folder`);
    this.tempPath = join(dir, `.${basename(finalPath)}.p2mp-part-${process.pid}`);
    try {
      this.fd = openSync(this.tempPath, 'w+');
    } catch (err) {
      throw new P2mpUsageError(`cannot write ${this.tempPath}: ${(err as Error).message}`);
    }
  }

  /** Flushes, closes and renames to the final name. */
  commit(): void {
    fsyncSync(this.fd);
    closeSync(this.fd);
    this.closed = true;
    renameSync(this.tempPath, this.finalPath);
  }

  /** Closes and removes the temporary file (an unfinished transfer). */
  abandon(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    rmSync(this.tempPath, { force: true });
  }
}
