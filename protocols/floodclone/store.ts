/**
 * Manifests and a node's storage.
 *
 * The manifest: the file's size, the chunk size, the SHA-256 of the whole file and of every chunk
 * (the source computes it once, reading the file once). A chunk counts only once its bytes hash
 * to the manifest's entry.
 *
 * A node writes chunks into `.<name>.flood-part` beside the output, and keeps a small state file
 * `.<name>.flood-state` (JSON: the file hash, the chunk size, which chunks were verified) beside
 * it, rewritten at most every `saveEveryMs`. A node that restarts reads the state, hashes each chunk
 * it claims again from the part file, and keeps only those that still verify. Only when every
 * chunk verified, and the whole file's hash matches too, is the part fsynced and renamed to its
 * final name: a partial file is never presented as complete.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { MAX_CHUNKS, MAX_CHUNK_BYTES } from './wire.js';

export interface Manifest {
  fileBytes: number;
  chunkBytes: number;
  fileHash: Buffer;
  hashes: Buffer[];
}

export const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

export function chunkCount(fileBytes: number, chunkBytes: number): number {
  return Math.ceil(fileBytes / chunkBytes);
}

export function chunkLength(m: Pick<Manifest, 'fileBytes' | 'chunkBytes'>, chunk: number): number {
  return Math.min(m.chunkBytes, m.fileBytes - chunk * m.chunkBytes);
}

/** Reads `path` once: the manifest for chunks of `chunkBytes`. */
export function buildManifest(path: string, chunkBytes: number): Manifest {
  if (!(Number.isInteger(chunkBytes) && chunkBytes >= 1 && chunkBytes <= MAX_CHUNK_BYTES)) throw new RangeError(`chunk size must be 1 byte to ${MAX_CHUNK_BYTES} bytes (got ${chunkBytes})`);
  const fileBytes = statSync(path).size;
  const n = chunkCount(fileBytes, chunkBytes);
  if (n > MAX_CHUNKS) throw new RangeError(`${n} chunks: at most ${MAX_CHUNKS} (use larger chunks)`);
  const whole = createHash('sha256');
  const hashes: Buffer[] = [];
  const fd = openSync(path, 'r');
  const buf = Buffer.allocUnsafe(chunkBytes);
  try {
    for (let k = 0; k < n; k++) {
      const len = chunkLength({ fileBytes, chunkBytes }, k);
      let got = 0;
      while (got < len) {
        const r = readSync(fd, buf, got, len - got, k * chunkBytes + got);
        if (r === 0) throw new Error(`${path} shrank while it was read`);
        got += r;
      }
      hashes.push(sha256(buf.subarray(0, len)));
      whole.update(buf.subarray(0, len));
    }
  } finally {
    closeSync(fd);
  }
  return { fileBytes, chunkBytes, fileHash: whole.digest(), hashes };
}

/** Reads chunk `k` of an open file into a fresh buffer. */
export function readChunk(fd: number, m: Pick<Manifest, 'fileBytes' | 'chunkBytes'>, k: number): Buffer {
  const len = chunkLength(m, k);
  const buf = Buffer.allocUnsafe(len);
  let got = 0;
  while (got < len) {
    const r = readSync(fd, buf, got, len - got, k * m.chunkBytes + got);
    if (r === 0) throw new Error(`chunk ${k}: file too short`);
    got += r;
  }
  return buf;
}

interface StateFile {
  fileHash: string;
  chunkBytes: number;
  have: string;
}

/** A node's part file, state file and final name. */
export class PartStore {
  readonly partPath: string;
  readonly statePath: string;
  private fd: number;
  readonly have: Uint8Array;
  haveCount = 0;
  private dirty = false;
  private lastSaveMs = 0;
  completed = false;

  constructor(
    readonly outPath: string,
    readonly m: Manifest,
    /** The final file is there already and holds the manifest's bytes: serve from it. */
    alreadyComplete = false,
    private readonly saveEveryMs = 500,
  ) {
    const dir = dirname(outPath);
    this.partPath = join(dir, `.${basename(outPath)}.flood-part`);
    this.statePath = join(dir, `.${basename(outPath)}.flood-state`);
    this.have = new Uint8Array(m.hashes.length);
    if (alreadyComplete) {
      this.fd = openSync(outPath, 'r');
      this.have.fill(1);
      this.haveCount = m.hashes.length;
      this.completed = true;
    } else this.fd = openSync(this.partPath, existsSync(this.partPath) ? 'r+' : 'w+');
  }

  /** Chunks a previous run verified and that still hash right; returns how many were kept. */
  resume(): number {
    if (!existsSync(this.statePath)) return 0;
    let st: StateFile;
    try {
      st = JSON.parse(readFileSync(this.statePath, 'utf8')) as StateFile;
    } catch {
      return 0;
    }
    if (st.fileHash !== this.m.fileHash.toString('hex') || st.chunkBytes !== this.m.chunkBytes || typeof st.have !== 'string') return 0;
    const bits = Buffer.from(st.have, 'base64');
    const size = statSync(this.partPath).size;
    for (let k = 0; k < this.m.hashes.length; k++) {
      if (!(bits[k >> 3]! & (0x80 >> (k & 7)))) continue;
      if (k * this.m.chunkBytes + chunkLength(this.m, k) > size) continue;
      const data = readChunk(this.fd, this.m, k);
      if (sha256(data).equals(this.m.hashes[k]!)) {
        this.have[k] = 1;
        this.haveCount++;
      }
    }
    this.dirty = true;
    return this.haveCount;
  }

  verify(k: number, data: Buffer): boolean {
    return k >= 0 && k < this.m.hashes.length && data.length === chunkLength(this.m, k) && sha256(data).equals(this.m.hashes[k]!);
  }

  /** Stores a verified chunk. */
  write(k: number, data: Buffer): void {
    if (this.have[k]) return;
    let at = 0;
    while (at < data.length) at += writeSync(this.fd, data, at, data.length - at, k * this.m.chunkBytes + at);
    this.have[k] = 1;
    this.haveCount++;
    this.dirty = true;
  }

  read(k: number): Buffer {
    return readChunk(this.fd, this.m, k);
  }

  /** Writes the state file if it changed and `saveEveryMs` passed (or `force`). */
  save(nowMs: number, force = false): void {
    if (this.completed || !this.dirty || (!force && nowMs - this.lastSaveMs < this.saveEveryMs)) return;
    fsyncSync(this.fd);
    const bits = Buffer.alloc(Math.ceil(this.have.length / 8));
    for (let k = 0; k < this.have.length; k++) if (this.have[k]) bits[k >> 3]! |= 0x80 >> (k & 7);
    const st: StateFile = { fileHash: this.m.fileHash.toString('hex'), chunkBytes: this.m.chunkBytes, have: bits.toString('base64') };
    const tmp = `${this.statePath}.tmp`;
    writeFileSync(tmp, JSON.stringify(st));
    renameSync(tmp, this.statePath);
    this.dirty = false;
    this.lastSaveMs = nowMs;
  }

  /**
   * Every chunk verified: check the whole file's hash, fsync, rename to the final name, remove the
   * state file. Throws (and renames nothing) if the whole does not match.
   */
  finish(): void {
    if (this.haveCount !== this.have.length) throw new Error(`finish with ${this.haveCount} of ${this.have.length} chunks`);
    const whole = createHash('sha256');
    for (let k = 0; k < this.have.length; k++) whole.update(readChunk(this.fd, this.m, k));
    if (!whole.digest().equals(this.m.fileHash)) throw new Error('every chunk verified but the whole file does not hash to the manifest');
    fsyncSync(this.fd);
    renameSync(this.partPath, this.outPath);
    rmSync(this.statePath, { force: true });
    this.completed = true;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* closed already */
    }
  }
}

/** Does `path` already hold exactly the manifest's file? */
export function holdsFile(path: string, m: Manifest): boolean {
  if (!existsSync(path) || statSync(path).size !== m.fileBytes) return false;
  const fd = openSync(path, 'r');
  try {
    const whole = createHash('sha256');
    for (let k = 0; k < m.hashes.length; k++) whole.update(readChunk(fd, m, k));
    return whole.digest().equals(m.fileHash);
  } finally {
    closeSync(fd);
  }
}
