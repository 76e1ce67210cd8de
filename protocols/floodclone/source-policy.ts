/**
 * The source's scheduler: what the source writes next on a connection that has room. Pure: no
 * sockets, no clock.
 *
 *   - FRESH first: a node asking for a fresh chunk gets one no node has been sent yet (in file
 *     order), so the source's uplink carries each chunk once while the peers forward it. A node
 *     asks only while its own uplink keeps up (picker.ts), which is Mutualcast's back-pressure.
 *   - Direct second: a node's named request (a chunk some peer was sent) is served only when no
 *     writable connection waits for a fresh chunk, i.e. when every forwarder's queue is full.
 *   - Never the same chunk twice to one node (it remembers what it sent each connection); a named
 *     request for a chunk already sent there is answered CANCELLED.
 *   - When every chunk has been sent once, FRESH is answered NOFRESH.
 *   - What nodes say they hold counts as sent (a restarted source, a resumed node).
 */
export type ConnId = number;

export type SourceAction =
  | { kind: 'chunk'; chunk: number; fresh: boolean }
  | { kind: 'nofresh' }
  | { kind: 'cancelled'; chunk: number };

/** Named requests one connection may have queued (more is a protocol error). */
export const MAX_QUEUED_REQUESTS = 64;
/** FRESH requests one connection may have pending. */
export const MAX_PENDING_FRESH = 8;

interface Conn {
  fresh: number;
  queue: number[];
  sent: Uint8Array;
  writable: boolean;
  /** Answers owed (NOFRESH, CANCELLED) go out before any chunk. */
  owed: SourceAction[];
}

export class SourceScheduler {
  private readonly sentEver: Uint8Array;
  private nextFresh = 0;
  private readonly conns = new Map<ConnId, Conn>();
  freshSent = 0;
  directSent = 0;

  constructor(readonly chunks: number) {
    this.sentEver = new Uint8Array(chunks);
  }

  open(id: ConnId): void {
    this.conns.set(id, { fresh: 0, queue: [], sent: new Uint8Array(this.chunks), writable: true, owed: [] });
  }

  close(id: ConnId): void {
    this.conns.delete(id);
  }

  setWritable(id: ConnId, writable: boolean): void {
    const c = this.conns.get(id);
    if (c) c.writable = writable;
  }

  /** A REQUEST arrived (chunk = -1: FRESH). Returns an error message for a protocol violation. */
  onRequest(id: ConnId, chunk: number): string | null {
    const c = this.conns.get(id);
    if (!c) return null;
    if (chunk < 0) {
      if (c.fresh >= MAX_PENDING_FRESH) return `more than ${MAX_PENDING_FRESH} FRESH requests pending`;
      c.fresh++;
      return null;
    }
    if (chunk >= this.chunks) return `REQUEST for chunk ${chunk} of ${this.chunks}`;
    if (c.queue.length >= MAX_QUEUED_REQUESTS) return `more than ${MAX_QUEUED_REQUESTS} requests queued`;
    if (c.sent[chunk] || c.queue.includes(chunk)) c.owed.push({ kind: 'cancelled', chunk });
    else c.queue.push(chunk);
    return null;
  }

  /**
   * Node `id` holds `chunk` (its BITFIELD or HAVE): the chunk is not fresh any more, and never sent
   * there. After a source restart this is how it learns what went out before.
   */
  onHeld(id: ConnId, chunk: number): void {
    if (!(chunk >= 0 && chunk < this.chunks)) return;
    this.sentEver[chunk] = 1;
    const c = this.conns.get(id);
    if (c) c.sent[chunk] = 1;
  }

  onCancel(id: ConnId, chunk: number): void {
    const c = this.conns.get(id);
    if (!c) return;
    const k = c.queue.indexOf(chunk);
    if (k >= 0) {
      c.queue.splice(k, 1);
      c.owed.push({ kind: 'cancelled', chunk });
    }
  }

  private freshLeft(): boolean {
    while (this.nextFresh < this.chunks && this.sentEver[this.nextFresh]) this.nextFresh++;
    return this.nextFresh < this.chunks;
  }

  /** Does any writable connection wait for a fresh chunk that exists? */
  private freshWaiting(): boolean {
    if (!this.freshLeft()) return false;
    for (const c of this.conns.values()) if (c.writable && c.fresh > 0) return true;
    return false;
  }

  /** The next thing to write on connection `id` (which has room), or null: nothing for it now. */
  next(id: ConnId): SourceAction | null {
    const c = this.conns.get(id);
    if (!c) return null;
    const owed = c.owed.shift();
    if (owed) return owed;
    if (c.fresh > 0) {
      if (!this.freshLeft()) {
        c.fresh = 0;
        return { kind: 'nofresh' };
      }
      c.fresh--;
      return this.send(c, this.nextFresh, true);
    }
    if (c.queue.length > 0 && !this.freshWaiting()) {
      const chunk = c.queue.shift()!;
      return this.send(c, chunk, false);
    }
    return null;
  }

  private send(c: Conn, chunk: number, fresh: boolean): SourceAction {
    this.sentEver[chunk] = 1;
    c.sent[chunk] = 1;
    const k = c.queue.indexOf(chunk);
    if (k >= 0) c.queue.splice(k, 1);
    if (fresh) this.freshSent++;
    else this.directSent++;
    return { kind: 'chunk', chunk, fresh };
  }

  /** Does connection `id` have anything to send (so the driver knows whom to wake)? */
  hasWork(id: ConnId): boolean {
    const c = this.conns.get(id);
    return !!c && (c.owed.length > 0 || c.fresh > 0 || c.queue.length > 0);
  }
}
