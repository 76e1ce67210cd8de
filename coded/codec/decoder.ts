/**
 * Decoder: Gaussian elimination on the fly, as packets arrive.
 *
 * Each held row is [coefficients (k bytes, padded to 16) | payload (symbolBytes)] in one run of the
 * kernel's workspace, so one kernel call updates a row's coefficients and payload together. The rows
 * are kept in reduced row echelon form and filed by pivot column: slot[q] is the row whose first
 * nonzero coefficient is column q (and that coefficient is 1), and every other held row has a zero in
 * column q. Hence when a packet arrives:
 *   1. forward: its coefficients at the held pivot columns are exactly the multipliers of the held
 *      rows to subtract (a held row is zero at every other pivot column, so subtracting one does not
 *      change the others' multipliers): one `combine` call;
 *   2. if nothing is left, the packet was linearly dependent: counted and dropped;
 *   3. else its first nonzero column q becomes a new pivot: the row is scaled so that entry is 1, and
 *      subtracted from every held row with a nonzero in column q (back substitution);
 * so that at full rank row q is e_q and its payload is source symbol q: data() is a copy.
 *
 * Recoding (GF(2^8)) combines the held rows. The first recode after an innovative packet combines
 * them as they are; a second one at the same rank first writes their split form (see Kernel.split)
 * and from then on, until the next innovative packet changes the rows, every recode combines the
 * split form, which costs about 0.6x as much. A relay that recodes once per packet it takes pays
 * nothing extra; one that sends more than it takes, or holds a whole generation, recodes faster.
 *
 * Memory: k + 2 rows of align16(k) + align16(symbolBytes) bytes, fixed at construction, whatever
 * the peer sends; over GF(2^8) a decoder that recodes twice at a rank also gets k split rows of
 * twice that (a second workspace, made once). A packet that is not a valid coefficient vector and
 * payload for this code is rejected with a CodecError before anything changes.
 */
import type { CodecOptions, CodedPacket } from './encoder.js';
import { CodecError } from './errors.js';
import { INV } from './gf256.js';
import type { Kernel, KernelFactory } from './kernel.js';
import { align16, checkCoeffs, checkParams, fillDense, type CodeParams } from './params.js';
import { defaultKernelFactory } from './select.js';
import { copyOut } from './slab.js';

export type AddResult = 'innovative' | 'dependent';

export class Decoder {
  readonly params: CodeParams;
  private readonly kern: Kernel;
  /** Bytes of the coefficient part of a row (k padded to 16); the payload follows. */
  private readonly ck: number;
  /** Bytes of a whole row's live part: ck + symbolBytes. */
  private readonly rowLen: number;
  /** slot[q] = absolute offset of the row with pivot q, or -1. */
  private readonly slot: Int32Array;
  /** Offsets of free rows (scratch for the next packet, output of recode). */
  private readonly free: number[] = [];
  private readonly list: number;
  private readonly coefs: number;
  /** Term list of the held rows in arrival order (`rank` words), for recode. */
  private readonly held: number;
  private readonly factory: KernelFactory;
  /**
   * Over GF(2^8), made by the first recode that uses it: a second workspace with the held rows'
   * split form (held order), its term list, scratch for a row, and recode's output and multipliers.
   */
  private splitWs: { kern: Kernel; list: number; coefs: number; out: number; tmp: number } | null = null;
  private splitCurrent = false;
  private recodesAtRank = 0;
  private _rank = 0;
  private _dependent = 0;
  private _received = 0;

  constructor(p: CodeParams, opts: CodecOptions = {}) {
    checkParams(p);
    this.params = { ...p };
    const { k, symbolBytes: s } = p;
    this.ck = align16(k);
    this.rowLen = this.ck + s;
    const stride = this.ck + align16(s);
    const rows = k + 2;
    const list = rows * stride;
    const held = list + align16(4 * k);
    const coefs = held + align16(4 * k);
    this.factory = opts.kernel ?? defaultKernelFactory();
    this.kern = this.factory(coefs + align16(k));
    const base = this.kern.base;
    this.list = base + list;
    this.held = base + held;
    this.coefs = base + coefs;
    this.slot = new Int32Array(k).fill(-1);
    for (let r = rows - 1; r >= 0; r--) this.free.push(base + r * stride);
  }

  get kernelName(): string {
    return this.kern.name;
  }
  get rank(): number {
    return this._rank;
  }
  get complete(): boolean {
    return this._rank === this.params.k;
  }
  /** Packets that added nothing (linearly dependent on those held, including any after completion). */
  get dependent(): number {
    return this._dependent;
  }
  /** Valid packets given to add() (innovative + dependent). */
  get received(): number {
    return this._received;
  }

  /**
   * Gives the workspace back (the WebAssembly kernel's memory is shared by all codecs). Optional
   * (a finalizer does it once the decoder is garbage) but prompt; any later call throws DISPOSED.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.kern.dispose();
    this.splitWs?.kern.dispose();
  }

  private disposed = false;
  private live(): void {
    if (this.disposed) throw new CodecError('DISPOSED', 'decoder used after dispose()');
  }

  add(pkt: CodedPacket): AddResult {
    const { k, symbolBytes: s, field } = this.params;
    if (pkt === null || typeof pkt !== 'object') throw new CodecError('BAD_PACKET', 'packet must be an object');
    checkCoeffs(field, k, pkt.coeffs);
    if (!(pkt.payload instanceof Uint8Array)) throw new CodecError('BAD_PACKET', 'payload must be a Uint8Array');
    if (pkt.payload.length !== s) throw new CodecError('BAD_PAYLOAD_LENGTH', `payload is ${pkt.payload.length} bytes, expected symbolBytes=${s}`);
    this.live();
    this._received++;
    if (this.complete) {
      this._dependent++;
      return 'dependent';
    }
    const kern = this.kern;
    const { mem, words } = kern;
    const row = this.free[this.free.length - 1]!;
    mem.set(pkt.coeffs, row);
    mem.fill(0, row + k, row + this.ck);
    mem.set(pkt.payload, row + this.ck);

    // 1. Forward: subtract the held rows at once.
    let n = 0;
    const l = this.list >> 2;
    for (let q = 0; q < k; q++) {
      const c = pkt.coeffs[q]!;
      const r = this.slot[q]!;
      if (c !== 0 && r >= 0) {
        words[l + n] = r;
        mem[this.coefs + n] = c;
        n++;
      }
    }
    if (n > 0) kern.combine(row, this.rowLen, n, this.list, this.coefs);

    // 2. Dependent?
    let q = 0;
    while (q < k && mem[row + q] === 0) q++;
    if (q === k) {
      this._dependent++;
      return 'dependent';
    }

    // 3. New pivot q: normalise, then clear column q from the held rows.
    const lead = mem[row + q]!;
    if (lead !== 1) kern.scale(row, this.rowLen, INV[lead]!);
    for (let p = 0; p < q; p++) {
      const r = this.slot[p]!;
      if (r >= 0) {
        const c = mem[r + q]!;
        if (c !== 0) kern.mulAdd(r, row, this.rowLen, c);
      }
    }
    // Rows with pivot p > q are zero in column q (their first nonzero is p).
    this.free.pop();
    this.slot[q] = row;
    words[(this.held >> 2) + this._rank] = row;
    this._rank++;
    this.splitCurrent = false;
    this.recodesAtRank = 0;
    return 'innovative';
  }

  /** The k * symbolBytes decoded bytes; throws NOT_COMPLETE before full rank. */
  data(): Uint8Array {
    const { k, symbolBytes: s } = this.params;
    this.live();
    if (!this.complete) throw new CodecError('NOT_COMPLETE', `rank ${this._rank} of ${k}: cannot decode yet`);
    const out = new Uint8Array(k * s);
    for (let q = 0; q < k; q++) {
      const r = this.slot[q]! + this.ck;
      out.set(this.kern.mem.subarray(r, r + s), q * s);
    }
    return out;
  }

  /**
   * A new random combination of the rows held so far (before or after decoding): its coefficient
   * vector is the same combination of theirs, so it is a valid coded packet of the source. Dense over
   * the field; never the zero vector (the held rows are independent). null at rank 0.
   */
  recode(rng: () => number): CodedPacket | null {
    this.live();
    if (this._rank === 0) return null;
    const { k, symbolBytes: s, field } = this.params;
    const n = this._rank;
    // Made (and the memory perhaps grown, which replaces the views) before any view is read.
    const w = field === 'gf256' && (this.splitCurrent || ++this.recodesAtRank >= 2) ? this.splitWorkspace() : null;
    if (w && !this.splitCurrent) {
      const { mem, words } = this.kern;
      const stride = 2 * align16(this.rowLen);
      for (let i = 0; i < n; i++) {
        const row = words[(this.held >> 2) + i]!;
        w.kern.mem.set(mem.subarray(row, row + this.rowLen), w.tmp);
        w.kern.split(w.kern.base + i * stride, w.tmp, this.rowLen);
      }
      this.splitCurrent = true;
    }
    const kern = w ? w.kern : this.kern;
    const mem = kern.mem;
    const out = w ? w.out : this.free[0]!; // free[length-1] is the next packet's scratch; both are free now.
    const coefAt = w ? w.coefs : this.coefs;
    // `rank` random multipliers of the held rows in arrival order (their offsets never change),
    // written straight into the kernel's coefficient area; redrawn in the rare all-zero case.
    const coefs = mem.subarray(coefAt, coefAt + n);
    for (;;) {
      fillDense(field, coefs, 0, n, rng);
      let i = 0;
      while (i < n && coefs[i] === 0) i++;
      if (i < n) break;
    }
    mem.fill(0, out, out + this.rowLen);
    if (w) kern.combineSplit(out, this.rowLen, n, w.list, coefAt);
    else kern.combine(out, this.rowLen, n, this.held, coefAt);
    return { coeffs: copyOut(mem, out, out + k), payload: copyOut(mem, out + this.ck, out + this.ck + s) };
  }

  private splitWorkspace(): NonNullable<Decoder['splitWs']> {
    if (this.splitWs) return this.splitWs;
    const k = this.params.k;
    const stride = 2 * align16(this.rowLen);
    const tmp = k * stride;
    const out = tmp + align16(this.rowLen);
    const list = out + align16(this.rowLen);
    const coefs = list + align16(4 * k);
    const kern = this.factory(coefs + align16(k));
    const b = kern.base;
    for (let i = 0; i < k; i++) kern.words[((b + list) >> 2) + i] = b + i * stride;
    return (this.splitWs = { kern, list: b + list, coefs: b + coefs, out: b + out, tmp: b + tmp });
  }
}
