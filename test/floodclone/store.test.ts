import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartStore, buildManifest, chunkLength, holdsFile, sha256 } from '../../protocols/floodclone/store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'flood-store-'));
  dirs.push(d);
  return d;
}

describe('floodclone manifest and part store', () => {
  it('the manifest has a SHA-256 per chunk and of the whole file; the last chunk is shorter', () => {
    const d = tmp();
    const data = randomBytes(10_000);
    writeFileSync(join(d, 'f'), data);
    const m = buildManifest(join(d, 'f'), 4096);
    expect(m.hashes).toHaveLength(3);
    expect(chunkLength(m, 2)).toBe(10_000 - 8192);
    expect(m.hashes[1]!.equals(sha256(data.subarray(4096, 8192)))).toBe(true);
    expect(m.fileHash.equals(sha256(data))).toBe(true);
    expect(() => buildManifest(join(d, 'f'), 0)).toThrow(/chunk size/);
  });

  it('verifies chunks, renames only when every chunk is stored, and never shows a partial file', () => {
    const d = tmp();
    const data = randomBytes(9000);
    writeFileSync(join(d, 'src'), data);
    const m = buildManifest(join(d, 'src'), 4000);
    const out = join(d, 'out.bin');
    const s = new PartStore(out, m);
    const chunk = (k: number): Buffer => data.subarray(k * 4000, k * 4000 + chunkLength(m, k));
    expect(s.verify(0, chunk(1))).toBe(false);
    expect(s.verify(0, Buffer.from(chunk(0)).fill(1, 0, 1))).toBe(false);
    expect(s.verify(2, chunk(2))).toBe(true);
    s.write(2, chunk(2));
    s.write(0, chunk(0));
    expect(() => s.finish()).toThrow(/2 of 3/);
    expect(existsSync(out)).toBe(false);
    s.write(1, chunk(1));
    s.finish();
    expect(readFileSync(out).equals(data)).toBe(true);
    expect(existsSync(s.partPath) || existsSync(s.statePath)).toBe(false);
    expect(holdsFile(out, m)).toBe(true);
    s.close();
  });

  it('a restarted node resumes from the chunks its state names that still verify', () => {
    const d = tmp();
    const data = randomBytes(12_000);
    writeFileSync(join(d, 'src'), data);
    const m = buildManifest(join(d, 'src'), 4000);
    const out = join(d, 'out.bin');
    const a = new PartStore(out, m);
    a.write(0, data.subarray(0, 4000));
    a.write(2, data.subarray(8000, 12_000));
    a.save(0, true);
    a.close();
    // Damage chunk 2 on disk, as a crash mid-write could.
    const fd = openSync(a.partPath, 'r+');
    writeSync(fd, Buffer.from([0, 0, 0]), 0, 3, 8000);
    closeSync(fd);
    const b = new PartStore(out, m);
    expect(b.resume()).toBe(1);
    expect([...b.have]).toEqual([1, 0, 0]);
    b.close();
    // A state file for another file is ignored.
    writeFileSync(a.statePath, JSON.stringify({ fileHash: '00', chunkBytes: 4000, have: 'wA==' }));
    const c = new PartStore(out, m);
    expect(c.resume()).toBe(0);
    c.close();
  });
});
