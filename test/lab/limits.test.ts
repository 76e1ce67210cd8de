/** Scenario limits (issue 14): per-backend receiver caps, event times, free space, parse before probe. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordingCommander } from '../../lab/commander.js';
import { checkFreeSpace, FREE_SPACE_RESERVE_BYTES, labDiskNeed } from '../../lab/diskspace.js';
import { runLab } from '../../lab/run.js';
import { ScenarioError } from '../../lab/scenario/errors.js';
import { checkScenarioLimits, receiverCap, scenarioLimitIssues } from '../../lab/scenario/limits.js';
import type { Topology } from '../../lab/types.js';

const GiB = 2 ** 30;
const machine = { availableBytes: 4 * GiB, cpus: 2 };
const topo = (receivers: number, events: number[] = []): Topology =>
  ({
    name: 't',
    receivers: Array.from({ length: receivers }, () => ({})),
    events: events.map((atMs) => ({ atMs, receivers: [0], downBps: 1e6 })),
  }) as unknown as Topology;

describe('receiver caps per backend', () => {
  it('says how many receivers this machine holds, and why', () => {
    expect(receiverCap('netns', machine)).toEqual({ cap: 32, why: '4096 MiB of memory available, half of it for receivers at 64 MiB each' });
    expect(receiverCap('netns', { availableBytes: 64 * GiB, cpus: 2 })).toEqual({ cap: 256, why: '2 processor(s) at 128 receivers each' });
    expect(receiverCap('sim', machine).cap).toBe(65536);
  });

  it('100,000 netns receivers are refused with the cap; 10,000 simulated ones fit', () => {
    const issues = scenarioLimitIssues(topo(100_000), 'netns', machine);
    expect(issues).toEqual([
      { path: 'receivers', message: '100000 receivers on the netns backend: this machine holds at most 32 (4096 MiB of memory available, half of it for receivers at 64 MiB each); try backend: sim' },
    ]);
    expect(() => checkScenarioLimits(topo(100_000), 'netns', 'x.yaml', machine)).toThrow(ScenarioError);
    expect(scenarioLimitIssues(topo(10_000), 'sim', machine)).toEqual([]);
    expect(scenarioLimitIssues(topo(64), 'netns', { availableBytes: 16 * GiB, cpus: 2 })).toEqual([]);
  });

  it('event times are bounded', () => {
    expect(scenarioLimitIssues(topo(2, [0, 3000, 24 * 3600 * 1000]), 'sim', machine)).toEqual([]);
    expect(scenarioLimitIssues(topo(2, [25 * 3600 * 1000]), 'sim', machine)[0]!.message).toMatch(/out of range/);
  });
});

describe('free space before writing the source file', () => {
  it('refuses a file the disk cannot hold, with the figures', () => {
    expect(labDiskNeed({ kind: 'size', sizeBytes: 100 })).toBe(200);
    expect(() => checkFreeSpace('/tmp', 2 ** 53 - 1, 'file.size', 's.yaml', () => 10 * GiB)).toThrow(/file.size: needs .* GiB in \/tmp .* 10.00 GiB is available/);
    expect(() => checkFreeSpace('/tmp', GiB, 'file.size', 's.yaml', () => GiB + FREE_SPACE_RESERVE_BYTES)).not.toThrow();
    expect(() => checkFreeSpace('/tmp', GiB, 'file.size', 's.yaml', () => null)).not.toThrow();
  });
});

describe('runLab validates before any kernel probe', () => {
  it('an invalid scenario fails with no command run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-limits-'));
    try {
      const p = join(dir, 'bad.yaml');
      writeFileSync(p, 'name: bad\nreceivers: nonsense\n');
      const rec = new RecordingCommander();
      await expect(runLab({ scenarioPath: p, commander: rec } as Parameters<typeof runLab>[0])).rejects.toBeInstanceOf(ScenarioError);
      expect(rec.calls).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
