import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatCleanReport, planClean, runClean, type CleanInputs, type LedgerSnapshot } from '../../lab/clean.js';
import { RecordingCommander } from '../../lab/commander.js';
import type { LedgerEntry } from '../../lab/ledger.js';
import { makeWorkDir, OWNER_MARKER, planWorkDirs, releaseWorkDir } from '../../lab/workdir.js';

const deadRun: LedgerEntry[] = [
  { kind: 'run', prefix: 'fl00aa', pid: 900, cmdline: ['node', 'fanout.js', 'lab'], startedAtMs: 0 },
  { kind: 'netns', name: 'fl00aa-br' },
  { kind: 'netns', name: 'fl00aa-s' },
  { kind: 'netns', name: 'fl00aa-r0' },
  { kind: 'link', ns: 'fl00aa-br', name: 'fl00aa-r0' },
  { kind: 'process', pid: 910, cmdline: ['node', 'receiver.js'] },
  { kind: 'process', pid: 911, cmdline: ['node', 'receiver.js'] },
  { kind: 'process', pid: 912 },
  { kind: 'process', pid: 913 },
];
const ledger = (prefix: string, entries: LedgerEntry[]): LedgerSnapshot => ({ prefix, path: `/run/fanout-lab/${prefix}.jsonl`, entries });

function inputs(over: Partial<CleanInputs> = {}): CleanInputs {
  return {
    ledgers: [ledger('fl00aa', deadRun)],
    netnsList: ['fl00aa-r0', 'fl00aa-br', 'myns', 'flx', 'fl12ab', 'fl12abc-r0', 'FL12AB-r0', 'fl77ee-r3', 'fl77ee-br'],
    cmdlines: new Map<number, string[] | null>([
      [900, null], // the owner died
      [910, ['node', 'receiver.js']], // still our receiver
      [911, ['bash']], // pid reused by something else
      [912, ['/usr/bin/node', '/opt/fanout/dist/cli/fanout.js', 'receive']],
      [913, ['sleep', '100']],
    ]),
    ...over,
  };
}

describe('planClean', () => {
  it('undoes ledgers, reports (never deletes) lab-named namespaces no ledger names, ignores non-lab names', () => {
    const plan = planClean(inputs());
    expect(plan.kill).toEqual([
      { pid: 912, reason: 'recorded in /run/fanout-lab/fl00aa.jsonl' },
      { pid: 910, reason: 'recorded in /run/fanout-lab/fl00aa.jsonl' },
    ]);
    expect(plan.deleteNamespaces).toEqual([
      { name: 'fl00aa-r0', reason: 'recorded in /run/fanout-lab/fl00aa.jsonl' },
      { name: 'fl00aa-br', reason: 'recorded in /run/fanout-lab/fl00aa.jsonl' },
    ]);
    expect(plan.deleteLinks).toEqual([]); // covered by its namespace
    expect(plan.removeLedgers).toEqual(['/run/fanout-lab/fl00aa.jsonl']);
    expect(plan.skipped).toEqual([
      { what: 'pid 913', reason: 'now another program: sleep 100' },
      { what: 'pid 911', reason: 'now another program: bash' },
      { what: 'namespace fl77ee-r3', reason: 'lab name without a ledger: nothing proves this lab made it (ip netns delete it by hand if it is yours)' },
      { what: 'namespace fl77ee-br', reason: 'lab name without a ledger: nothing proves this lab made it (ip netns delete it by hand if it is yours)' },
    ]);
    const touched = [...plan.deleteNamespaces.map((d) => d.name)];
    for (const foreign of ['myns', 'flx', 'fl12ab', 'fl12abc-r0', 'FL12AB-r0']) expect(touched).not.toContain(foreign);
  });

  it('skips a run whose owner is alive (same argv), and its orphans; --force cleans it', () => {
    const live = inputs({
      cmdlines: new Map([[900, ['node', 'fanout.js', 'lab']]]),
      netnsList: ['fl00aa-r0', 'fl00aa-r9'],
    });
    const plan = planClean(live);
    expect(plan.deleteNamespaces).toEqual([]);
    expect(plan.kill).toEqual([]);
    expect(plan.removeLedgers).toEqual([]);
    expect(plan.skipped).toEqual([
      { what: '/run/fanout-lab/fl00aa.jsonl', reason: 'run fl00aa is in use by live pid 900 (use --force)' },
      { what: 'namespace fl00aa-r0', reason: 'run fl00aa is in use' },
      { what: 'namespace fl00aa-r9', reason: 'run fl00aa is in use' },
    ]);
    const forced = planClean({ ...live, force: true });
    expect(forced.deleteNamespaces.map((d) => d.name)).toEqual(['fl00aa-r0']); // r9: not in the ledger
    // owner pid reused by another program: not alive as far as the lab is concerned
    const reused = planClean(inputs({ cmdlines: new Map([[900, ['vim']]]), netnsList: ['fl00aa-r0'] }));
    expect(reused.deleteNamespaces.map((d) => d.name)).toEqual(['fl00aa-r0']);
  });

  it('kills processes running inside namespaces it deletes, never itself; none inside a namespace no ledger names', () => {
    const plan = planClean(
      inputs({
        ledgers: [ledger('fl77ee', [{ kind: 'run', prefix: 'fl77ee', pid: 950, startedAtMs: 0 }, { kind: 'netns', name: 'fl77ee-r3' }])],
        netnsList: ['fl77ee-r3', 'myns'],
        namespacePids: new Map([
          ['fl77ee-r3', [3001, 3002]],
          ['myns', [4000]],
        ]),
        selfPid: 3002,
      }),
    );
    expect(plan.kill).toEqual([{ pid: 3001, reason: 'running in lab namespace fl77ee-r3' }]);
    const orphan = planClean(inputs({ ledgers: [], netnsList: ['fl77ee-r3'], namespacePids: new Map([['fl77ee-r3', [3001]]]) }));
    expect(orphan.kill).toEqual([]);
    expect(orphan.deleteNamespaces).toEqual([]);
  });

  it('never kills a recorded pid whose start time differs (pid reused), even with the same argv', () => {
    const plan = planClean(
      inputs({
        ledgers: [ledger('fl00aa', [{ kind: 'run', prefix: 'fl00aa', pid: 900, startedAtMs: 0 }, { kind: 'process', pid: 910, cmdline: ['node', 'receiver.js'], startTime: 5000 }])],
        startTimes: new Map([[910, 7777]]),
      }),
    );
    expect(plan.kill).toEqual([]);
    expect(plan.skipped[0]).toEqual({ what: 'pid 910', reason: 'now another process (start time differs from the ledger)' });
    const same = planClean(
      inputs({
        ledgers: [ledger('fl00aa', [{ kind: 'run', prefix: 'fl00aa', pid: 900, startedAtMs: 0 }, { kind: 'process', pid: 910, cmdline: ['node', 'receiver.js'], startTime: 5000 }])],
        startTimes: new Map([[910, 5000]]),
      }),
    );
    expect(same.kill).toEqual([{ pid: 910, reason: 'recorded in /run/fanout-lab/fl00aa.jsonl', startTime: 5000 }]);
  });

  it('keeps to the given prefixes', () => {
    const plan = planClean(inputs({ prefixes: ['fl77ee'] }));
    expect(plan.deleteNamespaces.map((d) => d.name)).toEqual([]);
    expect(plan.skipped.map((x) => x.what)).toEqual(['namespace fl77ee-r3', 'namespace fl77ee-br']);
    expect(plan.removeLedgers).toEqual([]);
    expect(plan.kill).toEqual([]);
  });

  it('deletes a recorded link whose namespace is not recorded, if that namespace exists', () => {
    const plan = planClean(
      inputs({
        ledgers: [ledger('fl00aa', [{ kind: 'link', ns: 'fl00aa-x', name: 'fl00aa-v' }, { kind: 'link', ns: 'myns', name: 'eth0' }])],
        netnsList: ['fl00aa-x', 'myns'],
      }),
    );
    expect(plan.deleteLinks).toEqual([{ ns: 'fl00aa-x', name: 'fl00aa-v', reason: 'recorded in /run/fanout-lab/fl00aa.jsonl' }]);
    expect(plan.skipped).toEqual([
      { what: 'link myns/eth0', reason: 'not a lab name' },
      { what: 'namespace fl00aa-x', reason: 'lab name without a ledger: nothing proves this lab made it (ip netns delete it by hand if it is yours)' },
    ]);
  });
});

describe('runClean with a recording commander', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-clean-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('kills, deletes namespaces in one batch, removes the ledger, reports', async () => {
    writeFileSync(join(dir, 'fl00aa.jsonl'), deadRun.map((e) => JSON.stringify(e)).join('\n') + '\n');
    let present = ['fl00aa-r0', 'fl00aa-br', 'myns', 'fl77ee-r3'];
    const rec = new RecordingCommander([
      { match: (a) => a.join(' ') === 'ip -j netns list', stdout: () => JSON.stringify(present.map((name) => ({ name }))) },
      {
        match: (a) => a[1] === '-force',
        stdout: (_a, input) => {
          const gone = input!.trim().split('\n').map((l) => l.replace('netns del ', ''));
          present = present.filter((n) => !gone.includes(n));
          return '';
        },
      },
    ]);
    const killed: number[] = [];
    const cmd = new Map<number, string[]>([[910, ['node', 'receiver.js']]]);
    const report = await runClean(rec, {
      ledgerDir: dir,
      netnsDir: join(dir, 'netns'),
      workParent: join(dir, 'tmp'),
      processOps: { readCmdline: async (pid) => cmd.get(pid) ?? null, kill: (pid) => void killed.push(pid) },
    });
    expect(killed).toEqual([910]);
    expect(rec.calls).toEqual([
      { argv: ['ip', '-j', 'netns', 'list'] },
      { argv: ['ip', '-force', '-batch', '-'], input: 'netns del fl00aa-r0\nnetns del fl00aa-br\n' },
      { argv: ['ip', '-j', 'netns', 'list'] },
    ]);
    expect(present).toEqual(['myns', 'fl77ee-r3']);
    expect(report.deletedNamespaces).toEqual(['fl00aa-r0', 'fl00aa-br']);
    expect(report.remaining).toEqual([]);
    expect(existsSync(join(dir, 'fl00aa.jsonl'))).toBe(false);
    expect(formatCleanReport(report)).toBe(
      [
        'killed 1 process(es): 910',
        'deleted 2 namespace(s): fl00aa-r0 fl00aa-br',
        `removed 1 ledger(s): ${join(dir, 'fl00aa.jsonl')}`,
        'skipped namespace fl77ee-r3: lab name without a ledger: nothing proves this lab made it (ip netns delete it by hand if it is yours)',
      ].join('\n'),
    );
  });

  it('a dry run changes nothing and says what it would do', async () => {
    const rec = new RecordingCommander([{ match: (a) => a.join(' ') === 'ip -j netns list', stdout: '[{"name":"fl77ee-r3"}]' }]);
    const report = await runClean(rec, { ledgerDir: dir, netnsDir: join(dir, 'netns'), workParent: join(dir, 'tmp'), dryRun: true });
    expect(rec.lines()).toEqual(['ip -j netns list']);
    expect(formatCleanReport(report)).toBe('skipped namespace fl77ee-r3: lab name without a ledger: nothing proves this lab made it (ip netns delete it by hand if it is yours)');
  });

  it('says so when there is nothing to clean', async () => {
    const rec = new RecordingCommander([{ match: (a) => a.join(' ') === 'ip -j netns list', stdout: '[]' }]);
    expect(formatCleanReport(await runClean(rec, { ledgerDir: dir, workParent: join(dir, 'tmp') }))).toBe('nothing to clean');
  });

  it("removes work folders whose lab is gone, and only those", async () => {
    const tmp = join(dir, 'tmp');
    mkdirSync(tmp);
    const gone = makeWorkDir('one-slow', tmp); // owner rewritten below to a pid that is not running
    writeFileSync(join(gone, OWNER_MARKER), JSON.stringify({ pid: 4194304 + 7, startTime: 123 }));
    writeFileSync(join(gone, 'src.bin'), 'x');
    mkdirSync(join(gone, 'rx0'));
    const live = makeWorkDir('one-slow', tmp); // this test's own process: in use
    const kept = makeWorkDir('chain', tmp);
    releaseWorkDir(kept, true); // --keep: the marker goes, the folder stays
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, OWNER_MARKER), JSON.stringify({ pid: 4194304 + 7, startTime: 123 }));
    symlinkSync(outside, join(tmp, 'fanout-lab-link-abcdef')); // a lab-like name that is a link: never followed
    mkdirSync(join(tmp, 'other-abcdef'));
    const rec = new RecordingCommander([{ match: (a) => a.join(' ') === 'ip -j netns list', stdout: '[]' }]);

    const dry = await runClean(rec, { ledgerDir: dir, workParent: tmp, dryRun: true });
    expect(formatCleanReport(dry)).toBe(
      [
        `would remove work folder ${gone} (its lab (pid ${4194304 + 7}) is gone)`,
        `left 1 work folder(s) without an owner marker (kept with --keep, or from an older version; remove by hand): ${kept}`,
      ].join('\n'),
    );
    expect(existsSync(gone)).toBe(true);

    const report = await runClean(rec, { ledgerDir: dir, workParent: tmp });
    expect(report.workDirs!.removed).toEqual([gone]);
    expect(existsSync(gone)).toBe(false);
    for (const p of [live, kept, outside, join(outside, OWNER_MARKER), join(tmp, 'other-abcdef')]) expect(existsSync(p)).toBe(true);
    expect(formatCleanReport(report).split('\n')[0]).toBe(`removed 1 work folder(s) of labs that are gone: ${gone}`);
    // With run prefixes (network runs only), work folders are not looked at.
    const scoped = await runClean(rec, { ledgerDir: dir, workParent: tmp, prefixes: ['fl00aa'] });
    expect(scoped.workDirs).toBeUndefined();
    releaseWorkDir(live, false);
    expect(existsSync(live)).toBe(false);
  });
});

describe('planWorkDirs', () => {
  it('removes a folder only when its owner pid is gone or now another process', () => {
    const plan = planWorkDirs(
      [
        { path: '/t/a', owner: { pid: 10, startTime: 5 } }, // alive, same start
        { path: '/t/b', owner: { pid: 11, startTime: 5 } }, // pid reused: another start time
        { path: '/t/c', owner: { pid: 12, startTime: 5 } }, // gone
        { path: '/t/d', owner: null },
        { path: '/t/e', owner: { pid: 13, startTime: null } }, // start time unknown: alive while the pid exists
        { path: '/t/f', owner: { pid: 99, startTime: 1 } }, // the cleaner itself
      ],
      new Map([
        [10, 5],
        [11, 6],
        [12, null],
        [13, 8],
      ]),
      99,
    );
    expect(plan.remove.map((r) => r.path)).toEqual(['/t/b', '/t/c']);
    expect(plan.skipped.map((r) => r.what)).toEqual(['work folder /t/a', 'work folder /t/e', 'work folder /t/f']);
    expect(plan.unowned).toEqual(['/t/d']);
  });
});
