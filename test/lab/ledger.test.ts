import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandError, RecordingCommander } from '../../lab/commander.js';
import { Ledger, LedgerError, listLedgerFiles, parseLedger, readLedgerFile, undoActions, type LedgerEntry } from '../../lab/ledger.js';
import { executeUndo, isFanoutCmdline, type ProcessOps } from '../../lab/netns/teardown.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'fanout-ledger-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('Ledger file', () => {
  it('writes a run header then one JSON line per entry, and reads them back', async () => {
    const l = await Ledger.create(join(dir, 'sub'), 'fl12ab', { pid: 4242, cmdline: ['node', 'fanout.js', 'lab'] }, 1000);
    expect(l.path).toBe(join(dir, 'sub', 'fl12ab.jsonl'));
    await l.record({ kind: 'netns', name: 'fl12ab-br' }, { kind: 'netns', name: 'fl12ab-r0' });
    await l.record({ kind: 'link', ns: 'fl12ab-br', name: 'fl12ab-r0' });
    await l.record({ kind: 'process', pid: 77, ns: 'fl12ab-r0', cmdline: ['node', 'r.js'] });
    expect(readFileSync(l.path, 'utf8')).toBe(
      '{"kind":"run","prefix":"fl12ab","pid":4242,"startedAtMs":1000,"cmdline":["node","fanout.js","lab"]}\n' +
        '{"kind":"netns","name":"fl12ab-br"}\n' +
        '{"kind":"netns","name":"fl12ab-r0"}\n' +
        '{"kind":"link","ns":"fl12ab-br","name":"fl12ab-r0"}\n' +
        '{"kind":"process","pid":77,"ns":"fl12ab-r0","cmdline":["node","r.js"]}\n',
    );
    expect((await l.entries()).map((e) => e.kind)).toEqual(['run', 'netns', 'netns', 'link', 'process']);
    await l.remove();
    expect(existsSync(l.path)).toBe(false);
    await l.remove(); // missing is fine
  });

  it('refuses to reuse a prefix whose ledger exists', async () => {
    await Ledger.create(dir, 'fl12ab');
    await expect(Ledger.create(dir, 'fl12ab')).rejects.toThrow(LedgerError);
  });

  it('skips a line cut by a crash and lines that are not entries', async () => {
    const l = await Ledger.create(dir, 'fl12ab', { pid: 1 });
    await l.record({ kind: 'netns', name: 'fl12ab-br' });
    appendFileSync(l.path, '{"kind":"netns","na');
    const r = await readLedgerFile(l.path);
    expect(r.entries.map((e) => e.kind)).toEqual(['run', 'netns']);
    expect(r.badLines).toBe(1);
    expect(parseLedger('{"kind":"bogus"}\n{"kind":"process","pid":-1}\n\n{"kind":"netns","name":"x"}\n')).toEqual({
      entries: [{ kind: 'netns', name: 'x' }],
      badLines: 2,
    });
  });

  it('lists only lab-named ledger files; a missing dir is empty', async () => {
    writeFileSync(join(dir, 'fl00ff.jsonl'), '');
    writeFileSync(join(dir, 'flx.jsonl'), '');
    writeFileSync(join(dir, 'fl00ff.txt'), '');
    writeFileSync(join(dir, 'fl0a0b.jsonl'), '');
    expect(await listLedgerFiles(dir)).toEqual([
      { prefix: 'fl00ff', path: join(dir, 'fl00ff.jsonl') },
      { prefix: 'fl0a0b', path: join(dir, 'fl0a0b.jsonl') },
    ]);
    expect(await listLedgerFiles(join(dir, 'nope'))).toEqual([]);
  });
});

describe('undo', () => {
  const entries: LedgerEntry[] = [
    { kind: 'run', prefix: 'fl12ab', pid: 1, startedAtMs: 0 },
    { kind: 'netns', name: 'fl12ab-br' },
    { kind: 'netns', name: 'fl12ab-r0' },
    { kind: 'link', ns: 'fl12ab-br', name: 'fl12ab-r0' },
    { kind: 'link', ns: 'fl12ab-other', name: 'fl12ab-x' },
    { kind: 'process', pid: 50, cmdline: ['node', 'r.js'] },
    { kind: 'netns', name: 'fl12ab-r1' },
    { kind: 'process', pid: 51 },
    { kind: 'netns', name: 'fl12ab-r0' },
  ];

  it('plans the reverse order; links inside recorded namespaces are covered; duplicates once', () => {
    expect(undoActions(entries)).toEqual([
      { kind: 'delete-netns', name: 'fl12ab-r0' },
      { kind: 'kill', pid: 51 },
      { kind: 'delete-netns', name: 'fl12ab-r1' },
      { kind: 'kill', pid: 50, cmdline: ['node', 'r.js'] },
      { kind: 'delete-link', ns: 'fl12ab-other', name: 'fl12ab-x' },
      { kind: 'delete-netns', name: 'fl12ab-br' },
    ]);
  });

  it('executes in that order with a recording commander, tolerating objects already gone', async () => {
    const order: string[] = [];
    const ops: ProcessOps = {
      readCmdline: async (pid) => (pid === 50 ? ['node', 'r.js'] : pid === 51 ? ['/usr/bin/node', 'dist/cli/fanout.js', 'receive'] : null),
      kill: (pid, sig) => void order.push(`kill ${pid} ${sig}`),
    };
    const rec = new RecordingCommander([
      // r1 is already gone; 'fl12ab-other' exists
      { match: (a) => a.join(' ') === 'ip -j netns list', stdout: '[{"name":"fl12ab-br"},{"name":"fl12ab-r0"},{"name":"fl12ab-other"},{"name":"myns"}]' },
      { match: (a) => a[1] === '-n' && a[3] === 'link', error: new CommandError(['ip'], 1, 'Cannot find device "fl12ab-x"') },
    ]);
    const orig = rec.run.bind(rec);
    rec.run = async (argv, opts) => {
      order.push(argv.join(' ') + (opts?.input ? ` <<${opts.input.trim().replace(/\n/g, '; ')}` : ''));
      return orig(argv, opts);
    };
    const report = await executeUndo(undoActions(entries), rec, ops);
    expect(order).toEqual([
      'ip -j netns list',
      'ip -force -batch - <<netns del fl12ab-r0',
      'kill 51 SIGKILL',
      'kill 50 SIGKILL',
      'ip -n fl12ab-other link del fl12ab-x',
      'ip -force -batch - <<netns del fl12ab-br',
    ]);
    expect(report.killed).toEqual([51, 50]);
    expect(report.deletedNamespaces).toEqual(['fl12ab-r0', 'fl12ab-br']);
    expect(report.deletedLinks).toEqual([]); // was already gone: tolerated, not an error
    expect(report.errors).toEqual([]);
    expect(report.remaining).toEqual([]);
  });

  it('refuses names that are not the lab\'s, even when a ledger says so', async () => {
    const rec = new RecordingCommander([{ match: (a) => a.join(' ') === 'ip -j netns list', stdout: '[{"name":"myns"},{"name":"flx"}]' }]);
    const report = await executeUndo(
      undoActions([
        { kind: 'netns', name: 'myns' },
        { kind: 'netns', name: 'flx' },
        { kind: 'link', ns: 'myns', name: 'eth0' },
      ]),
      rec,
      { readCmdline: async () => null, kill: () => {} },
    );
    expect(report.refused).toEqual(['flx', 'myns']);
    expect(rec.lines().filter((l) => l !== 'ip -j netns list')).toEqual([]);
  });

  it('reports namespaces that survive a failed delete', async () => {
    const rec = new RecordingCommander([
      { match: (a) => a.join(' ') === 'ip -j netns list', stdout: '[{"name":"fl12ab-r0"},{"name":"fl12ab-br"}]' },
      { match: (a) => a[1] === '-force', error: new CommandError(['ip'], 1, 'Cannot remove namespace file "/run/netns/fl12ab-r0": Device or resource busy') },
    ]);
    const report = await executeUndo([{ kind: 'delete-netns', name: 'fl12ab-r0' }], rec, { readCmdline: async () => null, kill: () => {} });
    expect(report.remaining).toEqual(['fl12ab-r0']);
    expect(report.errors[0]).toContain('Device or resource busy');
  });

  it('matches a live process to the ledger by recorded argv, else by "fanout"', () => {
    expect(isFanoutCmdline(['node', 'r.js'], ['node', 'r.js'])).toBe(true);
    expect(isFanoutCmdline(['node', 'r.js', 'x'], ['node', 'r.js'])).toBe(false);
    // A receiver started as `ip netns exec NS node ...` shows `node ...` once ip has exec'd it.
    expect(isFanoutCmdline(['/usr/bin/node', 'f.js', 'receive'], ['ip', 'netns', 'exec', 'fl1234-r0', '/usr/bin/node', 'f.js', 'receive'])).toBe(true);
    expect(isFanoutCmdline(['/usr/bin/node', 'f.js', 'send'], ['ip', 'netns', 'exec', 'fl1234-r0', '/usr/bin/node', 'f.js', 'receive'])).toBe(false);
    // a program run through the lab's stderr-to-stdout wrapper shows its own argv once sh has exec'd it
    const wrapped = ['ip', 'netns', 'exec', 'fl1234-r0', '/bin/sh', '-c', 'exec "$0" "$@" 2>&1', '/usr/bin/uftpd', '-d'];
    expect(isFanoutCmdline(['/usr/bin/uftpd', '-d'], wrapped)).toBe(true);
    expect(isFanoutCmdline(['/usr/bin/uftpd', '-d', '-x'], wrapped)).toBe(false);
    expect(isFanoutCmdline(['/usr/bin/uftpd', '-d'], ['ip', 'netns', 'exec', 'fl1234-r0', '/bin/sh', '-c', 'exec "$0" "$@"', '/usr/bin/uftpd', '-d'])).toBe(false);
    expect(isFanoutCmdline(['ip', 'netns', 'exec'], ['ip', 'netns', 'exec', 'fl1234-r0'])).toBe(false);
    expect(isFanoutCmdline(['node', '/opt/fanout-lab/dist/cli/fanout.js', 'receive'])).toBe(true);
    expect(isFanoutCmdline(['sleep', '100'])).toBe(false);
  });
});
