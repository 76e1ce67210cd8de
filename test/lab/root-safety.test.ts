/** Root safety (issue 14): the ledger folder is trusted only when it is ours; pids by start time. */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordingCommander } from '../../lab/commander.js';
import { Ledger, LedgerError, checkLedgerDir, listLedgerFiles, parseStatStartTime, readLedgerFile, readStartTime } from '../../lab/ledger.js';
import { executeUndo } from '../../lab/netns/teardown.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-rootsafe-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the ledger folder', () => {
  it('is refused when it is a symlink, writable by others, or not a directory', async () => {
    const real = join(dir, 'real');
    mkdirSync(real, { mode: 0o755 });
    const link = join(dir, 'link');
    symlinkSync(real, link);
    await expect(checkLedgerDir(link)).rejects.toThrow(/symbolic link/);
    await expect(Ledger.create(link, 'fl1234')).rejects.toBeInstanceOf(LedgerError);
    await expect(listLedgerFiles(link)).rejects.toBeInstanceOf(LedgerError);
    const open = join(dir, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    await expect(checkLedgerDir(open)).rejects.toThrow(/writable by others/);
    const file = join(dir, 'file');
    writeFileSync(file, '');
    await expect(checkLedgerDir(file)).rejects.toThrow(/not a directory/);
    await expect(checkLedgerDir(real)).resolves.toBeUndefined();
    await expect(checkLedgerDir(join(dir, 'missing'))).resolves.toBeUndefined();
  });

  it('a ledger file that is a symlink is not read', async () => {
    const target = join(dir, 'elsewhere.jsonl');
    writeFileSync(target, '{"kind":"netns","name":"fl1234-r0"}\n');
    symlinkSync(target, join(dir, 'fl1234.jsonl'));
    await expect(readLedgerFile(join(dir, 'fl1234.jsonl'))).rejects.toThrow();
  });

  it('records the owner and every process with its start time', async () => {
    const l = await Ledger.create(join(dir, 'ledgers'), 'fl1234');
    await l.record({ kind: 'process', pid: process.pid, cmdline: ['node'] });
    const entries = await l.entries();
    const mine = await readStartTime(process.pid);
    expect(mine).toBeGreaterThan(0);
    expect(entries[0]).toMatchObject({ kind: 'run', pid: process.pid, startTime: mine });
    expect(entries[1]).toMatchObject({ kind: 'process', pid: process.pid, startTime: mine });
  });
});

describe('start times', () => {
  it('parses field 22 of /proc/PID/stat, even with spaces and parentheses in the command', () => {
    const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
    fields[22 - 3] = '123456';
    expect(parseStatStartTime(`42 (a b) c)) ${fields.join(' ')}`)).toBe(123456);
    expect(parseStatStartTime('garbage')).toBeNull();
  });

  it('undo never kills a pid whose start time is not the recorded one', async () => {
    const killed: number[] = [];
    const ops = {
      readCmdline: async () => ['node', 'receiver.js'],
      readStartTime: async (pid: number) => (pid === 10 ? 111 : 999),
      kill: (pid: number) => void killed.push(pid),
    };
    const report = await executeUndo(
      [
        { kind: 'kill', pid: 10, cmdline: ['node', 'receiver.js'], startTime: 111 },
        { kind: 'kill', pid: 11, cmdline: ['node', 'receiver.js'], startTime: 111 },
      ],
      new RecordingCommander(),
      ops,
    );
    expect(killed).toEqual([10]);
    expect(report.skippedPids).toEqual([{ pid: 11, reason: 'gone, or its pid now names another process (start time differs)' }]);
  });
});
