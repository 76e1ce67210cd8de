/**
 * Abuse: a full disk. The receiver stores into a small tmpfs (8 MiB, root only: mount -t tmpfs);
 * transfers that would not fit are refused with ERROR Quota before a byte is written, the disk
 * filled by someone else refuses new transfers, and stored fragments survive. Not root: skipped.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../wire/errors.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { checkMemory, checkUnchanged, fragments, legitSend, startTarget, type Target } from './helpers.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) process.stdout.write('abuse: full-disk test skipped: it mounts a tmpfs, which needs root\n');

describe.skipIf(!isRoot)('abuse: a full disk (8 MiB tmpfs)', () => {
  let mnt = '';
  let mounted = false;
  let t: Target | null = null;
  beforeAll(async () => {
    mnt = mkdtempSync(join(tmpdir(), 'fanout-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]);
    mounted = true;
    t = await startTarget(['--min-free-bytes', String(512 * 1024)], mnt);
  });
  afterAll(async () => {
    try {
      await t?.stop();
    } finally {
      if (mounted) execFileSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });

  it('refuses what does not fit (Quota), keeps what is stored, serves a sender that fits', async () => {
    const target = t!;
    await legitSend(target, [], 3 << 20); // 3 MiB stored of 8
    const before = fragments(target.out);
    // 16 MiB cannot fit: refused before a byte is written.
    const big = await RawPeer.connect(target.port);
    expect(await big.hello({ transferId: randomBytes(16), index: 0, count: 1, lengthBytes: 16 << 20, offsetBytes: 0 })).toMatchObject({ error: { code: ErrorCode.Quota } });
    // Someone else fills the disk: even a small transfer is refused (the reserve), nothing breaks.
    const filler = join(target.out, 'filler');
    try {
      writeFileSync(filler, Buffer.alloc(4.5 * 2 ** 20));
    } catch {
      // ENOSPC part-way: the disk is full, which is the point
    }
    const small = await RawPeer.connect(target.port);
    expect(await small.hello({ transferId: randomBytes(16), index: 0, count: 1, lengthBytes: 1 << 20, offsetBytes: 0 })).toMatchObject({ error: { code: ErrorCode.Quota } });
    checkUnchanged(target.out, before);
    unlinkSync(filler);
    await legitSend(target, [], 2 << 20);
    checkUnchanged(target.out, before);
    checkMemory(target, 'full disk');
  }, 60_000);
});
