/**
 * RunWriter (the NAK receiver's write path): segments written in any order, consecutive ones
 * gathered into one write, the file read back after flush() equals the source; a short last
 * segment and runs longer than RUN_SEGS included.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RunWriter } from '../../p2mp/nak-driver.js';

describe('RunWriter', () => {
  it('writes every segment at its offset whatever the order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runwriter-'));
    try {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(), { maxLength: 400 }), (segBytes, fileSegs, swaps) => {
          const fileBytes = (fileSegs - 1) * segBytes + 1 + ((fileSegs * 7) % segBytes);
          const src = Buffer.alloc(fileBytes);
          for (let i = 0; i < fileBytes; i++) src[i] = (i * 131 + 7) & 0xff;
          const segs = Math.ceil(fileBytes / segBytes);
          const order = Array.from({ length: segs }, (_, i) => i);
          // Mostly in order, with some segments moved (as losses repaired later arrive).
          for (const x of swaps) {
            const a = x % segs;
            const b = (x >> 3) % segs;
            [order[a], order[b]] = [order[b]!, order[a]!];
          }
          const path = join(dir, 'f');
          const fd = openSync(path, 'w+');
          const w = new RunWriter(fd, segBytes);
          for (const s of order) w.write(s, src.subarray(s * segBytes, Math.min(fileBytes, (s + 1) * segBytes)));
          w.flush();
          closeSync(fd);
          expect(readFileSync(path).equals(src)).toBe(true);
        }),
        { numRuns: 60 },
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds back nothing after flush and nothing is written before a run is flushed or broken', () => {
    const dir = mkdtempSync(join(tmpdir(), 'runwriter-'));
    try {
      const path = join(dir, 'f');
      const fd = openSync(path, 'w+');
      const w = new RunWriter(fd, 4);
      w.write(0, Buffer.from('abcd'));
      w.write(1, Buffer.from('efgh'));
      expect(readFileSync(path).length).toBe(0);
      w.write(3, Buffer.from('mnop')); // breaks the run: 0-1 written
      expect(readFileSync(path).toString()).toBe('abcdefgh');
      w.flush();
      expect(readFileSync(path).subarray(12).toString()).toBe('mnop');
      closeSync(fd);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
