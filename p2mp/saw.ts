/**
 * P2MP-FTP stop-and-wait: the client (sender) and server (receiver) state machines of the seed's
 * specification, sans I/O. Time comes in as `nowMs`, the server's random draw comes in as `r`; the
 * drivers (saw-driver.ts) own the sockets, the file and the clock, and tests run these objects in
 * virtual time.
 *
 * Client. Segments 0..S-1 carry the file (each MSS bytes but the last); segment S is the end (no
 * data). For the current segment it sends a copy to every server and sets one timer; every ACK of
 * that segment from a server marks that server; when the timer expires before every server has
 * acknowledged, it reports a timeout and re-sends to the servers that have not, with a fresh
 * timer. Once all have, the next segment. ACKs of other segments (a server re-acknowledging the
 * last in-sequence one, late duplicates) change nothing.
 *
 * Server. For each data segment: draw r; r <= p discards it (`Packet loss`). Otherwise a bad
 * checksum: nothing. In sequence: acknowledge it and deliver its data (or, for the empty end
 * segment, finish). Out of sequence: acknowledge the last in-sequence segment again (before the
 * first one there is none: nothing is sent).
 */

export interface SawTransmit {
  /** Server index. */
  server: number;
  seq: number;
}

export interface SawClientOptions {
  servers: number;
  /** Data segments S (the end segment is number S). */
  segments: number;
  timeoutMs: number;
}

export class SawClient {
  /** The segment in flight (S: the end segment; S + 1: finished). */
  private seq = 0;
  private acked: boolean[];
  private deadlineMs = Infinity;
  private started = false;
  readonly timeouts: number[] = [];
  retransmissions = 0;
  /** Per server: copies sent. */
  readonly sent: number[];

  constructor(readonly o: SawClientOptions) {
    if (!(Number.isInteger(o.servers) && o.servers >= 1)) throw new RangeError(`servers: expected >= 1 (got ${o.servers})`);
    if (!(Number.isInteger(o.segments) && o.segments >= 0 && o.segments < 0xffffffff)) throw new RangeError(`segments: expected 0 .. 2^32-2 (got ${o.segments})`);
    if (!(o.timeoutMs > 0)) throw new RangeError(`timeoutMs: expected > 0 (got ${o.timeoutMs})`);
    this.acked = new Array<boolean>(o.servers).fill(false);
    this.sent = new Array<number>(o.servers).fill(0);
  }

  /** The segment being sent (== segments: the end). */
  get current(): number {
    return this.seq;
  }

  get done(): boolean {
    return this.seq > this.o.segments;
  }

  /** When the driver must call onTimer next (Infinity: nothing pending). */
  get nextTimerMs(): number {
    return this.done ? Infinity : this.deadlineMs;
  }

  /** The first transmissions. */
  start(nowMs: number): SawTransmit[] {
    if (this.started) return [];
    this.started = true;
    return this.sendCurrent(nowMs, false);
  }

  private sendCurrent(nowMs: number, retransmit: boolean): SawTransmit[] {
    const out: SawTransmit[] = [];
    for (let s = 0; s < this.o.servers; s++) {
      if (this.acked[s]) continue;
      out.push({ server: s, seq: this.seq });
      this.sent[s]!++;
      if (retransmit) this.retransmissions++;
    }
    this.deadlineMs = nowMs + this.o.timeoutMs;
    return out;
  }

  onAck(nowMs: number, server: number, seq: number): SawTransmit[] {
    if (!this.started || this.done || seq !== this.seq || server < 0 || server >= this.o.servers) return [];
    this.acked[server] = true;
    if (!this.acked.every(Boolean)) return [];
    this.seq++;
    this.acked.fill(false);
    if (this.done) {
      this.deadlineMs = Infinity;
      return [];
    }
    return this.sendCurrent(nowMs, false);
  }

  /** The timer: when it has expired, a timeout of the current segment and its re-sends. */
  onTimer(nowMs: number): { timeout: number | null; transmits: SawTransmit[] } {
    if (!this.started || this.done || nowMs < this.deadlineMs) return { timeout: null, transmits: [] };
    const seq = this.seq;
    this.timeouts.push(seq);
    return { timeout: seq, transmits: this.sendCurrent(nowMs, true) };
  }

  /** Servers that have not acknowledged the current segment. */
  pending(): number[] {
    return this.done ? [] : this.acked.flatMap((a, i) => (a ? [] : [i]));
  }
}

export type SawServerAction =
  | { kind: 'loss'; seq: number }
  | { kind: 'bad-checksum'; seq: number }
  | { kind: 'deliver'; seq: number; data: Buffer; ack: number }
  | { kind: 'end'; seq: number; ack: number }
  | { kind: 'out-of-sequence'; seq: number; ack: number | null };

export class SawServer {
  /** The next segment in sequence. */
  private expected = 0;
  private ended = false;
  bytes = 0;

  constructor(readonly p: number) {
    if (!(Number.isFinite(p) && p >= 0 && p <= 1)) throw new RangeError(`p: expected a probability from 0 to 1 (got ${p})`);
  }

  get finished(): boolean {
    return this.ended;
  }

  /**
   * One data segment (decoded: seq, data, whether its checksum holds) and the random draw r in
   * (0, 1) made for it.
   */
  onData(seq: number, data: Buffer, checksumOk: boolean, r: number): SawServerAction {
    if (r <= this.p) return { kind: 'loss', seq };
    if (!checksumOk) return { kind: 'bad-checksum', seq };
    if (seq === this.expected && !this.ended) {
      this.expected = (this.expected + 1) >>> 0;
      if (data.length === 0) {
        this.ended = true;
        return { kind: 'end', seq, ack: seq };
      }
      this.bytes += data.length;
      return { kind: 'deliver', seq, data, ack: seq };
    }
    return { kind: 'out-of-sequence', seq, ack: this.expected === 0 ? null : (this.expected - 1) >>> 0 };
  }
}
