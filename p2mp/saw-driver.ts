/**
 * P2MP-FTP stop-and-wait over real UDP sockets: the server (`p2mpserver port# file-name p`) and the
 * client (`p2mpclient server-1 ... server-port# file-name MSS`). The state machines are in saw.ts;
 * this file owns the socket, the file and the timer.
 */
import type { Socket } from 'node:dgram';
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { SawClient, SawServer } from './saw.js';
import { MAX_MSS, MIN_MSS, decodeSaw, encodeAck, encodeData } from './saw-wire.js';
import { P2mpUsageError, TempFile, bindUdp, nowMs, resolveHost, type Output } from './io.js';

/**
 * The client's default timeout, ms. The specification's setting is client and servers several
 * router hops apart (RTTs of tens of ms); 200 ms covers that. The lab's namespaces have no delay:
 * there the RTT is the time to queue and serialize a segment's copies (sub-ms unshaped, a few ms
 * through a shaped source link), so the lab passes a shorter timeout (transfer.p2mp-ftp.timeout).
 */
export const DEFAULT_TIMEOUT_MS = 200;
/** The client gives up when one segment goes unacknowledged this long. */
export const DEFAULT_GIVE_UP_MS = 60_000;
/** After the end segment the server keeps answering retransmissions of it for this long after the last one. */
export const DEFAULT_LINGER_MS = 3000;

export interface SawServerOptions {
  port: number;
  file: string;
  p: number;
  bind?: string;
  out: Output;
  /** A draw in (0, 1] per data packet (tests pass a seeded one). */
  random?: () => number;
  lingerMs?: number;
  /** Aborts the transfer (SIGTERM): the temporary file is removed. */
  signal?: AbortSignal;
}

export interface SawServerResult {
  complete: boolean;
  bytes: number;
  losses: number;
  dropped: number;
}

export async function runSawServer(o: SawServerOptions): Promise<SawServerResult> {
  if (!(Number.isFinite(o.p) && o.p >= 0 && o.p <= 1)) throw new P2mpUsageError(`p: expected a probability from 0 to 1 (got ${o.p})`);
  const machine = new SawServer(o.p);
  const file = new TempFile(o.file);
  let sock: Socket;
  try {
    sock = await bindUdp(o.bind ?? '0.0.0.0', o.port);
  } catch (err) {
    file.abandon();
    throw err;
  }
  const random = o.random ?? (() => 1 - Math.random());
  let client: string | null = null;
  let losses = 0;
  let dropped = 0;
  let firstByte = false;
  o.out.event({ event: 'listening', port: o.port });
  return new Promise<SawServerResult>((resolve) => {
    let linger: NodeJS.Timeout | undefined;
    let ended = false;
    const finish = (complete: boolean): void => {
      if (ended) return;
      ended = true;
      clearTimeout(linger);
      if (!complete) file.abandon();
      sock.close();
      resolve({ complete, bytes: machine.bytes, losses, dropped });
    };
    o.signal?.addEventListener('abort', () => finish(machine.finished), { once: true });
    sock.on('message', (msg, rinfo) => {
      const from = `${rinfo.address}:${rinfo.port}`;
      const d = decodeSaw(msg);
      if (d === null || d.type !== 'data' || (client !== null && from !== client)) {
        dropped++;
        return;
      }
      // One client per transfer: the first one that sends segment 0.
      if (client === null) {
        if (d.seq !== 0) {
          dropped++;
          return;
        }
        client = from;
      }
      const a = machine.onData(d.seq, d.data, d.checksumOk, random());
      switch (a.kind) {
        case 'loss':
          losses++;
          o.out.text(`Packet loss, sequence number = ${a.seq}`);
          return;
        case 'bad-checksum':
          dropped++;
          return;
        case 'deliver':
          writeSync(file.fd, a.data);
          if (!firstByte) {
            firstByte = true;
            o.out.event({ event: 'first-byte' });
          }
          break;
        case 'end':
          file.commit();
          o.out.event({ event: 'done', bytes: machine.bytes, losses, dropped });
          break;
        case 'out-of-sequence':
          break;
      }
      if (a.ack !== null) sock.send(encodeAck(a.ack), rinfo.port, rinfo.address);
      if (machine.finished) {
        clearTimeout(linger);
        linger = setTimeout(() => finish(true), o.lingerMs ?? DEFAULT_LINGER_MS);
      }
    });
  });
}

export interface SawClientOptions {
  servers: string[];
  port: number;
  file: string;
  mss: number;
  timeoutMs?: number;
  giveUpMs?: number;
  out: Output;
  /** Called once everything is set up; resolves when the transfer may start (the lab's go signal). */
  go?: () => Promise<void>;
  signal?: AbortSignal;
}

export interface SawClientResult {
  complete: boolean;
  seconds: number;
  segments: number;
  timeouts: number;
  retransmissions: number;
  /** Servers that never acknowledged the segment the client gave up on. */
  failed: string[];
}

export function checkMss(mss: number): void {
  if (!(Number.isInteger(mss) && mss >= MIN_MSS && mss <= MAX_MSS)) {
    throw new P2mpUsageError(`MSS: expected a whole number of bytes from ${MIN_MSS} to ${MAX_MSS} (the data of one UDP datagram) (got ${mss})`);
  }
}

export async function runSawClient(o: SawClientOptions): Promise<SawClientResult> {
  checkMss(o.mss);
  if (o.servers.length === 0) throw new P2mpUsageError('at least one server is needed');
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) throw new P2mpUsageError(`timeout: expected > 0 ms (got ${timeoutMs})`);
  let fd: number;
  try {
    fd = openSync(o.file, 'r');
  } catch (err) {
    throw new P2mpUsageError(`cannot read ${o.file}: ${(err as Error).message}`);
  }
  const fileBytes = fstatSync(fd).size;
  const segments = Math.ceil(fileBytes / o.mss);
  if (segments >= 0xffffffff) throw new P2mpUsageError(`${o.file}: too many segments for 32-bit sequence numbers at MSS ${o.mss}`);
  const addrs = await Promise.all(o.servers.map(resolveHost));
  const index = new Map<string, number>();
  addrs.forEach((a, i) => {
    const key = `${a}:${o.port}`;
    if (index.has(key)) throw new P2mpUsageError(`server ${o.servers[i]} is listed twice (${key})`);
    index.set(key, i);
  });
  const sock = await bindUdp('0.0.0.0', 0);
  const machine = new SawClient({ servers: addrs.length, segments, timeoutMs });
  const segBuf = Buffer.allocUnsafe(o.mss);
  let cached: { seq: number; datagram: Buffer } | null = null;
  const datagram = (seq: number): Buffer => {
    if (cached?.seq === seq) return cached.datagram;
    const n = seq >= segments ? 0 : readSync(fd, segBuf, 0, Math.min(o.mss, fileBytes - seq * o.mss), seq * o.mss);
    cached = { seq, datagram: encodeData(seq, segBuf.subarray(0, n)) };
    return cached.datagram;
  };
  await o.go?.();
  const t0 = nowMs();
  o.out.event({ event: 'start', servers: addrs.length, segments, fileBytes, mss: o.mss, timeoutMs });
  return new Promise<SawClientResult>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let progressAt = t0;
    let lastSeq = -1;
    let ended = false;
    const end = (complete: boolean, failed: string[]): void => {
      if (ended) return;
      ended = true;
      clearTimeout(timer);
      sock.close();
      closeSync(fd);
      const r: SawClientResult = { complete, seconds: (nowMs() - t0) / 1000, segments, timeouts: machine.timeouts.length, retransmissions: machine.retransmissions, failed };
      resolve(r);
    };
    const send = (ts: { server: number; seq: number }[]): void => {
      for (const t of ts) sock.send(datagram(t.seq), o.port, addrs[t.server]!);
    };
    const arm = (): void => {
      clearTimeout(timer);
      if (machine.done) return end(true, []);
      if (machine.current !== lastSeq) {
        lastSeq = machine.current;
        progressAt = nowMs();
      }
      timer = setTimeout(onTimer, Math.max(0, machine.nextTimerMs - nowMs()));
    };
    const onTimer = (): void => {
      const now = nowMs();
      if (now - progressAt >= (o.giveUpMs ?? DEFAULT_GIVE_UP_MS)) {
        return end(false, machine.pending().map((i) => o.servers[i]!));
      }
      const r = machine.onTimer(now);
      if (r.timeout !== null) o.out.text(`Timeout, sequence number = ${r.timeout}`);
      send(r.transmits);
      arm();
    };
    o.signal?.addEventListener('abort', () => end(false, machine.pending().map((i) => o.servers[i]!)), { once: true });
    sock.on('message', (msg, rinfo) => {
      const server = index.get(`${rinfo.address}:${rinfo.port}`);
      const d = decodeSaw(msg);
      if (server === undefined || d === null || d.type !== 'ack') return;
      const before = machine.current;
      send(machine.onAck(nowMs(), server, d.seq));
      if (machine.current !== before) arm();
    });
    send(machine.start(nowMs()));
    arm();
  });
}
