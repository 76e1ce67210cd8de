/**
 * FragmentSender: the TCP driver. It owns the sockets, the clock, the timers, the aggregate rate
 * limiter and the retry policy; the strategy object (sender/strategies) owns every scheduling
 * decision. The same strategy objects run inside the lab's flow simulator.
 *
 * The pump: whenever something happens (a connect, an ACCEPT, a drain, a PROGRESS, a timer) the
 * driver runs `pump()`, which (1) closes connections the strategy wants parked, (2) opens
 * connections while fewer than `width` are open and the strategy picks a candidate, (3) writes
 * chunks while the limiter has tokens and the strategy picks a connection, and (4) arms one timer
 * for the earliest of: tokens available, the strategy's wake-up, a retry's backoff ending.
 */
import { DEFAULT_PROGRESS_BYTES } from '../wire/frames.js';
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, openSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { planFragments, type FragmentPlan } from '../core/fragments.js';
import { TokenBucket, burstFor } from '../core/token-bucket.js';
import { HEADER_BYTES } from '../wire/frames.js';
import { BlockPool } from './block-pool.js';
import { OpenQueue } from './open-queue.js';
import { Pump } from './pump.js';
import { FragmentConnection, READ_AHEAD_CHUNKS } from './connection.js';
import type { NodeAddress } from './nodes.js';
import { WindowMeter } from './rate-limiter.js';
import type { NodeReport, SenderEvent, SenderSummary } from './report.js';
import { createStrategy } from './strategies/index.js';
import type { StrategyName } from './strategies/names.js';
import type { Strategy } from './strategies/types.js';

export interface FragmentSenderOptions {
  file: string;
  nodes: NodeAddress[];
  /** Aggregate limit in Kbps (1 Kbps = 1000 bit/s); Infinity = unlimited. */
  rateKbps: number;
  strategy: StrategyName;
  /** Connections open at once; default: all nodes. */
  width?: number;
  /** Largest DATA payload, bytes (default 64 KiB). */
  chunkBytes?: number;
  /** Unacknowledged bytes per connection before it counts as full (default 512 KiB). */
  windowBytes?: number;
  /** Attempts after the first before a node is given up (default 5). */
  retries?: number;
  /** First retry delay, doubled each time up to backoffMaxMs (default 250 / 4000). */
  backoffMs?: number;
  backoffMaxMs?: number;
  connectTimeoutMs?: number;
  /** No frame from a receiver for this long while it owes one: the attempt is abandoned (default 10 s). */
  stallTimeoutMs?: number;
  /** 16 bytes; default random. Receivers name stored fragments after it. */
  transferId?: Buffer;
  /** The receivers' PROGRESS granularity, passed to the strategy (default 64 KiB, the receiver's default). */
  progressEveryBytes?: number;
  /** Pre-shared key (`--auth-key`): authenticate to every receiver and require it to prove the key too. */
  authKey?: Buffer;
  onEvent?: (ev: SenderEvent) => void;
}

export class SenderInputError extends Error {
  override readonly name = 'SenderInputError';
}

interface Slot {
  plan: FragmentPlan;
  node: NodeAddress;
  conn: FragmentConnection | null;
  attempts: number;
  /** The current attempt's ACCEPT arrived (the strategy has been told onOpen). */
  accepted: boolean;
  /** What the strategy was last told about room. */
  toldRoom: boolean;
  knownOffsetBytes: number;
  report: NodeReport;
  state: 'waiting' | 'open' | 'done' | 'failed';
}

export class FragmentSender {
  readonly width: number;
  readonly chunkBytes: number;
  readonly windowBytes: number;
  readonly transferId: Buffer;
  private readonly opts: Required<Omit<FragmentSenderOptions, 'onEvent' | 'transferId' | 'width' | 'authKey'>>;
  private readonly authKey: Buffer | null;
  private readonly onEvent: (ev: SenderEvent) => void;
  private slots: Slot[] = [];
  private strategy!: Strategy;
  private limiter!: TokenBucket;
  private readonly meter = new WindowMeter();
  private fd = -1;
  private pool!: BlockPool;
  private queue!: OpenQueue;
  private pumper!: Pump;
  private t0 = 0;
  private finished = 0;
  private wireBytes = 0;
  private payloadBytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  private stallTimer: NodeJS.Timeout | null = null;
  private resolveRun: (() => void) | null = null;
  private running = false;

  constructor(options: FragmentSenderOptions) {
    const o = options;
    if (!(o.rateKbps > 0)) throw new SenderInputError(`rate must be above 0 Kbps (got ${o.rateKbps})`);
    if (o.nodes.length === 0) throw new SenderInputError('no nodes to send to');
    if (o.width !== undefined && (!Number.isInteger(o.width) || o.width < 1)) {
      throw new SenderInputError(`width must be a whole number of at least 1 (got ${o.width})`);
    }
    this.width = Math.min(o.width ?? o.nodes.length, o.nodes.length);
    this.chunkBytes = o.chunkBytes ?? 64 * 1024;
    this.windowBytes = o.windowBytes ?? 512 * 1024;
    if (this.chunkBytes < 1 || this.chunkBytes > 1 << 20) throw new SenderInputError('chunk must be 1 B..1 MiB');
    if (this.windowBytes < this.chunkBytes) throw new SenderInputError('window must be at least one chunk');
    this.transferId = o.transferId ?? randomBytes(16);
    if (this.transferId.length !== 16) throw new SenderInputError('transfer id must be 16 bytes (32 hex digits)');
    this.opts = {
      file: o.file,
      nodes: o.nodes,
      rateKbps: o.rateKbps,
      strategy: o.strategy,
      chunkBytes: this.chunkBytes,
      windowBytes: this.windowBytes,
      retries: o.retries ?? 5,
      backoffMs: o.backoffMs ?? 250,
      backoffMaxMs: o.backoffMaxMs ?? 4000,
      connectTimeoutMs: o.connectTimeoutMs ?? 5000,
      stallTimeoutMs: o.stallTimeoutMs ?? 10_000,
      progressEveryBytes: o.progressEveryBytes ?? DEFAULT_PROGRESS_BYTES,
    };
    this.onEvent = o.onEvent ?? (() => {});
    this.authKey = o.authKey ?? null;
  }

  private now(): number {
    return performance.now() - this.t0;
  }

  private t(): number {
    return Math.round(this.now()) / 1000;
  }

  /** Live figures for a progress display. */
  stats(): { doneNodes: number; failedNodes: number; nodes: number; deliveredBytes: number; totalBytes: number; elapsedS: number } {
    let delivered = 0;
    let total = 0;
    let failed = 0;
    for (const s of this.slots) {
      total += s.plan.sizeBytes;
      delivered += s.state === 'done' ? s.plan.sizeBytes : (s.conn?.deliveredBytes ?? s.knownOffsetBytes);
      if (s.state === 'failed') failed++;
    }
    return { doneNodes: this.finished - failed, failedNodes: failed, nodes: this.slots.length, deliveredBytes: delivered, totalBytes: total, elapsedS: this.now() / 1000 };
  }

  /** Sends every fragment; resolves with the summary (also when nodes failed: see `ok`). */
  async run(): Promise<SenderSummary> {
    if (this.running) throw new Error('FragmentSender.run() called twice');
    this.running = true;
    try {
      this.fd = openSync(this.opts.file, 'r');
    } catch (err) {
      throw new SenderInputError(`cannot open ${this.opts.file}: ${(err as NodeJS.ErrnoException).code ?? err}`);
    }
    const fileBytes = fstatSync(this.fd).size;
    let plans: FragmentPlan[];
    try {
      plans = planFragments(fileBytes, this.opts.nodes.length);
    } catch (err) {
      closeSync(this.fd);
      throw new SenderInputError((err as Error).message);
    }
    this.pool = new BlockPool(READ_AHEAD_CHUNKS * this.chunkBytes);
    const cpu0 = process.cpuUsage();
    this.t0 = performance.now();
    const rateBytesPerS = Number.isFinite(this.opts.rateKbps) ? (this.opts.rateKbps * 1000) / 8 : Infinity;
    this.limiter = new TokenBucket(rateBytesPerS, burstFor(rateBytesPerS, this.chunkBytes), 0);
    this.slots = plans.map((plan, i) => {
      const node = this.opts.nodes[i]!;
      return {
        plan,
        node,
        conn: null,
        attempts: 0,
        accepted: false,
        toldRoom: false,
        knownOffsetBytes: 0,
        state: 'waiting' as const,
        report: { node: node.label, index: i, fragmentBytes: plan.sizeBytes, bytes: 0, startS: null, firstByteS: null, doneS: null, attempts: 0, error: null },
      };
    });
    this.strategy = createStrategy(this.opts.strategy, {
      fragments: plans.map((p) => ({ index: p.index, sizeBytes: p.sizeBytes })),
      width: this.width,
      rateBytesPerS,
      chunkBytes: this.chunkBytes,
      windowBytes: this.windowBytes,
      progressEveryBytes: this.opts.progressEveryBytes,
    });
    this.queue = OpenQueue.allReady(this.slots.length);
    this.pumper = new Pump(this.strategy, this.limiter, this.queue, this.width, this.chunkBytes, {
      park: (nowMs, i) => this.park(nowMs, i),
      open: (_nowMs, i) => this.open(this.slots[i]!),
      writable: (i, maxBytes) => this.slots[i]!.conn?.nextWriteBytes(maxBytes) ?? 0,
      write: (nowMs, i, n) => this.write(nowMs, this.slots[i]!, n),
      toldNoRoom: (i) => (this.slots[i]!.toldRoom = false),
      syncRoom: (i) => this.syncRoom(this.slots[i]!),
    });
    this.onEvent({
      event: 'start',
      t: 0,
      strategy: this.opts.strategy,
      nodes: plans.length,
      fileBytes,
      rateKbps: Number.isFinite(this.opts.rateKbps) ? this.opts.rateKbps : null,
      width: this.width,
      transferId: this.transferId.toString('hex'),
    });
    const done = new Promise<void>((resolve) => (this.resolveRun = resolve));
    this.stallTimer = setInterval(() => this.checkStalls(), Math.min(1000, this.opts.stallTimeoutMs / 4));
    this.pump();
    await done;
    const makespanMs = this.lastEventMs;
    this.stop();
    const cpu = process.cpuUsage(cpu0);
    const maxWindowBytes = this.meter.maxWindowBytes(1000);
    const failed = this.slots.filter((s) => s.state === 'failed').map((s) => ({ node: s.node.label, index: s.plan.index, reason: s.report.error ?? 'failed' }));
    return {
      event: 'summary',
      ok: failed.length === 0,
      strategy: this.opts.strategy,
      transferId: this.transferId.toString('hex'),
      rateKbps: Number.isFinite(this.opts.rateKbps) ? this.opts.rateKbps : null,
      width: this.width,
      chunkBytes: this.chunkBytes,
      windowBytes: this.windowBytes,
      makespanS: makespanMs / 1000,
      payloadBytes: this.payloadBytes,
      wireBytes: this.wireBytes,
      maxWindowBytes,
      rateOvershoot: Number.isFinite(rateBytesPerS) ? maxWindowBytes / rateBytesPerS - 1 : null,
      achievedKbps: makespanMs > 0 ? (this.wireBytes * 8) / makespanMs : 0,
      cpuUserS: cpu.user / 1e6,
      cpuSysS: cpu.system / 1e6,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      failed,
      ...(this.strategy.costs ? { probe: this.strategy.costs() } : {}),
      nodes: this.slots.map((s) => {
        const est = this.strategy.estimatedRateBytesPerS?.(s.plan.index) ?? null;
        return est === null ? s.report : { ...s.report, estimatedKbps: Math.round((est * 8) / 1000) };
      }),
    };
  }

  /** Stops everything now (Ctrl-C): sockets destroyed, no summary. */
  abort(): void {
    for (const s of this.slots) s.conn?.close();
    this.stop();
    this.resolveRun?.();
  }

  private lastEventMs = 0;

  private stop(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.stallTimer) clearInterval(this.stallTimer);
    this.timer = this.stallTimer = null;
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private checkStalls(): void {
    const now = performance.now();
    for (const s of this.slots) {
      const c = s.conn;
      if (c && now - c.lastRxMs > this.opts.stallTimeoutMs && (c.sentBytes > c.deliveredBytes || !c.isStreaming)) {
        this.onFailed(s, `stalled: nothing from the receiver for ${this.opts.stallTimeoutMs / 1000} s`, true);
        c.close();
      }
    }
  }

  private open(s: Slot): void {
    s.attempts++;
    s.report.attempts = s.attempts;
    s.state = 'open';
    const conn: FragmentConnection = new FragmentConnection(
      {
        node: s.node,
        fd: this.fd,
        transferId: this.transferId,
        index: s.plan.index,
        count: this.slots.length,
        fileOffsetBytes: s.plan.offsetBytes,
        sizeBytes: s.plan.sizeBytes,
        knownOffsetBytes: s.knownOffsetBytes,
        chunkBytes: this.chunkBytes,
        windowBytes: this.windowBytes,
        connectTimeoutMs: this.opts.connectTimeoutMs,
        pool: this.pool,
        authKey: this.authKey,
      },
      {
        accepted: (offsetBytes) => {
          if (s.report.startS === null) s.report.startS = this.t();
          this.onEvent({ event: 'connected', t: this.t(), node: s.node.label, index: s.plan.index, attempt: s.attempts, offsetBytes });
          this.strategy.onOpen(this.now(), s.plan.index, offsetBytes);
          s.accepted = true;
          s.toldRoom = true;
          this.syncRoom(s);
          this.pump();
        },
        roomChanged: () => {
          this.syncRoom(s);
          this.pump();
        },
        progress: (delivered) => {
          s.knownOffsetBytes = delivered;
          this.strategy.onDelivered(this.now(), s.plan.index, delivered);
        },
        acked: () => this.onAcked(s),
        controlBytes: (n) => {
          this.limiter.charge(this.now(), n);
          this.meter.add(this.now(), n);
          this.wireBytes += n;
        },
        failed: (message, retryable) => this.onFailed(s, message, retryable),
      },
      () => performance.now(),
    );
    s.conn = conn;
  }

  private syncRoom(s: Slot): void {
    if (!s.accepted) return;
    const room = s.conn?.hasRoom() ?? false;
    if (room !== s.toldRoom) {
      s.toldRoom = room;
      this.strategy.onRoom(this.now(), s.plan.index, room);
    }
  }

  /** The slot's connection is gone (the caller closed it or it closed itself). */
  private detach(s: Slot): void {
    s.conn = null;
    s.accepted = false;
    s.toldRoom = false;
  }

  /** Detach, and give the connection slot back to the pump. */
  private release(s: Slot): void {
    this.detach(s);
    this.pumper.openCount--;
  }

  private finish(s: Slot, state: 'done' | 'failed'): void {
    s.state = state;
    this.finished++;
    this.lastEventMs = this.now();
    if (this.finished === this.slots.length) this.resolveRun?.();
  }

  private onAcked(s: Slot): void {
    if (s.state !== 'open') return;
    this.release(s);
    s.report.bytes = s.plan.sizeBytes;
    s.report.doneS = this.t();
    this.onEvent({ event: 'acked', t: this.t(), node: s.node.label, index: s.plan.index, bytes: s.plan.sizeBytes });
    this.strategy.onClosed(this.now(), s.plan.index, 'done');
    this.finish(s, 'done');
    this.pump();
  }

  private onFailed(s: Slot, message: string, retryable: boolean): void {
    if (s.state !== 'open') return;
    const delivered = s.conn?.deliveredBytes ?? 0;
    s.knownOffsetBytes = Math.max(s.knownOffsetBytes, delivered);
    s.report.bytes = s.knownOffsetBytes;
    this.release(s);
    const giveUp = !retryable || s.attempts > this.opts.retries;
    const retryInMs = giveUp ? null : Math.min(this.opts.backoffMaxMs, this.opts.backoffMs * 2 ** (s.attempts - 1));
    this.onEvent({ event: 'error', t: this.t(), node: s.node.label, index: s.plan.index, attempt: s.attempts, message, retryInMs });
    if (giveUp) {
      s.report.error = retryable ? `${message} (gave up after ${s.attempts} attempts)` : message;
      this.strategy.onClosed(this.now(), s.plan.index, 'failed');
      this.finish(s, 'failed');
    } else {
      s.state = 'waiting';
      this.queue.add(s.plan.index, this.now() + retryInMs!, this.now());
      this.strategy.onClosed(this.now(), s.plan.index, 'retry');
    }
    this.pump();
  }

  private pump(): void {
    if (!this.running || this.fd < 0) return;
    this.pumper.drive(
      () => this.now(),
      (r) => {
        // Let sockets and timers run, then carry on.
        if (r.more) setImmediate(() => this.pump());
        this.arm(r.wakeAtMs);
      },
    );
  }

  /** The strategy parks `i`: close its connection; it waits for a slot again, to resume where the receiver is. */
  private park(nowMs: number, i: number): boolean {
    const s = this.slots[i];
    if (!s || s.state !== 'open' || !s.conn) return false;
    s.knownOffsetBytes = s.conn.deliveredBytes;
    this.onEvent({ event: 'parked', t: this.t(), node: s.node.label, index: i, deliveredBytes: s.knownOffsetBytes });
    s.conn.close();
    this.detach(s); // the pump takes the slot back itself
    s.state = 'waiting';
    this.queue.add(i, nowMs, nowMs);
    return true;
  }

  private write(nowMs: number, s: Slot, n: number): void {
    if (s.report.firstByteS === null) {
      s.report.firstByteS = this.t();
      this.onEvent({ event: 'first-byte', t: this.t(), node: s.node.label, index: s.plan.index });
    }
    s.conn!.write(n);
    const wire = n + HEADER_BYTES;
    this.meter.add(nowMs, wire);
    this.wireBytes += wire;
    this.payloadBytes += n;
  }

  private arm(atMs: number): void {
    if (!Number.isFinite(atMs)) return;
    if (this.timer && this.timerAt <= atMs) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = atMs;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerAt = Infinity;
      this.pump();
    }, Math.max(0, atMs - this.now()));
  }
}
