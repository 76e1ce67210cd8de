import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RecordingCommander } from '../../lab/commander.js';
import { BackendUnavailableError, type Capabilities } from '../../lab/doctor.js';
import { runLab } from '../../lab/run.js';

const ok = { ok: true, detail: '' };
const caps = {
  kernel: 'test',
  root: true,
  netns: ok,
  veth: ok,
  bridge: ok,
  htb: ok,
  netem: { ok: false, detail: '' },
  nftables: ok,
  docker: { ok: true, detail: '' },
  backends: { netns: { usable: true, reason: '' }, docker: { usable: true, reason: '' }, sim: { usable: true, reason: '' } },
} as unknown as Capabilities;

describe('sites on docker', () => {
  it('are refused before anything is built, naming what works', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fanout-sites-docker-'));
    try {
      const p = join(dir, 's.yaml');
      writeFileSync(
        p,
        `name: s
file: { size: 64KiB }
transfer: { rateKbps: 10000 }
strategies: [backpressure]
receivers: { count: 2, down: 10mbit }
sites: [{ name: a, select: { first: 1 }, up: 5mbit, down: 5mbit }]
`,
      );
      const rec = new RecordingCommander();
      const run = runLab({ scenarioPath: p, commander: rec, caps, backend: 'docker', out: join(dir, 'out') });
      await expect(run).rejects.toBeInstanceOf(BackendUnavailableError);
      await expect(run).rejects.toThrow('sites are not supported on docker yet; use netns or sim');
      expect(rec.calls).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('DockerNetwork.up refuses them too, with no command run', async () => {
    const { DockerNetwork } = await import('../../lab/docker/backend.js');
    const rec = new RecordingCommander();
    const topology = { receivers: [{ index: 0, downBps: 1e6, upBps: 1e6 }], sender: { upBps: 1e6 }, sites: [{ name: 'a', receivers: [0], upBps: 1e6, downBps: 1e6 }] };
    await expect(DockerNetwork.up(topology, { commander: rec })).rejects.toThrow('sites are not supported on docker yet; use netns or sim');
    expect(rec.calls).toEqual([]);
  });
});
