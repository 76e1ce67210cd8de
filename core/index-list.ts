/**
 * An insertion-ordered set of small integers 0..capacity-1 as a doubly linked list in typed
 * arrays: add (at the back), delete, has, first and in-order iteration, all O(1) per step.
 *
 * It replaces a JavaScript Set used as a queue: a Set keeps deleted entries as holes until it
 * rehashes, so "the first element" of a Set that churns (delete + re-add on every write) costs a
 * walk over the holes; with 10,000 connections that made the simulator superlinear.
 */
export class IndexList implements Iterable<number> {
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly member: Uint8Array;
  private head = -1;
  private tail = -1;
  private count = 0;

  constructor(capacity: number) {
    this.next = new Int32Array(capacity).fill(-1);
    this.prev = new Int32Array(capacity).fill(-1);
    this.member = new Uint8Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  has(i: number): boolean {
    return this.member[i] === 1;
  }

  first(): number | null {
    return this.head < 0 ? null : this.head;
  }

  /** Appends `i` at the back; no-op if present (use delete first to move it). */
  add(i: number): this {
    if (this.member[i] === 1) return this;
    if (i < 0 || i >= this.member.length) throw new RangeError(`index ${i} outside 0..${this.member.length - 1}`);
    this.member[i] = 1;
    this.prev[i] = this.tail;
    this.next[i] = -1;
    if (this.tail >= 0) this.next[this.tail] = i;
    else this.head = i;
    this.tail = i;
    this.count++;
    return this;
  }

  delete(i: number): boolean {
    if (this.member[i] !== 1) return false;
    this.member[i] = 0;
    const p = this.prev[i]!;
    const n = this.next[i]!;
    if (p >= 0) this.next[p] = n;
    else this.head = n;
    if (n >= 0) this.prev[n] = p;
    else this.tail = p;
    this.count--;
    return true;
  }

  /** In order; deleting the element just yielded is safe. */
  *[Symbol.iterator](): Iterator<number> {
    let i = this.head;
    while (i >= 0) {
      const n = this.next[i]!;
      yield i;
      i = this.member[i] === 1 ? this.next[i]! : n;
    }
  }
}
