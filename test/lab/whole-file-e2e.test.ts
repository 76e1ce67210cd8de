/**
 * The whole-file job end to end, for real: a BitTorrent swarm (aria2c leechers, an aria2c seeder,
 * opentracker on a service host) on network namespaces, every node's file compared byte for byte;
 * and loss on links measured with UDP datagrams against what the scenario configured.
 * Needs root and the tools (.ci/run installs them); skipped with the reason otherwise.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RealCommander } from '../../lab/commander.js';
import { hasTool } from '../../lab/doctor.js';
import { NetnsNetwork } from '../../lab/netns/backend.js';
import { NetnsHosts } from '../../lab/netns/hosts.js';
import { measureLoss } from '../../lab/probe/loss.js';
import { loadScenario } from '../../lab/scenario/index.js';
import { FANOUT } from '../helpers/procs.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const tools = ['aria2c', 'opentracker', 'mktorrent', 'nft'].filter((t) => !hasTool(t));
const why = !isRoot ? ' (SKIPPED: needs root)' : tools.length ? ` (SKIPPED: missing ${tools.join(', ')})` : '';

/** Programs named `names` whose command line mentions `marker` (this run's work folder). */
function running(names: string[], marker: string): string[] {
  const out = execFileSync('ps', ['-eo', 'comm=,args=', '-ww']).toString().split('\n').map((l) => l.trim());
  return out.filter((l) => names.includes(l.split(/\s+/)[0]!) && l.includes(marker));
}

describe.skipIf(why !== '')(`whole-file job on network namespaces${why}`, () => {
  it('bittorrent/aria2: every node holds the file byte for byte, Kumar-Ross efficiency and uploads in the summary, nothing left running', async () => {
    const out = mkdtempSync(join(tmpdir(), 'fanout-swarm-e2e-'));
    try {
      // Its own scenario name, so the lab's work folder (in every aria2c's and opentracker's argv)
      // tells this run's programs from any other lab's.
      const name = `ci-swarm-e2e-${process.pid}`;
      const scenario = join(out, 'swarm.yaml');
      writeFileSync(scenario, readFileSync('scenarios/ci/swarm-small.yaml', 'utf8').replace('name: ci-swarm-small', `name: ${name}`));
      const r = spawn(process.execPath, [FANOUT, 'lab', scenario, '--out', join(out, 'results')], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      r.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      r.stdout.resume();
      const code = await new Promise<number | null>((res) => r.once('close', res));
      expect(code, stderr).toBe(0);
      const summary = JSON.parse(readFileSync(join(out, 'results', 'summary.json'), 'utf8'));
      expect(summary.runs).toHaveLength(1);
      const run = summary.runs[0];
      expect(run.protocol).toBe('bittorrent');
      expect(run.variant).toBe('aria2');
      expect(run.receivers.every((x: { verified: boolean; bytes: number }) => x.verified && x.bytes === 4 * 1024 * 1024)).toBe(true);
      expect(run.efficiency).toBeGreaterThanOrEqual(1);
      expect(['source-up', 'slowest-down', 'aggregate-up']).toContain(run.boundTerm);
      // A swarm: the receivers uploaded to each other, and their processes were measured.
      expect(run.peerUpBytes).toBeGreaterThan(0);
      expect(run.nodesCpuS).toBeGreaterThan(0);
      expect(run.nodesMaxRssBytes).toBeGreaterThan(0);
      expect(summary.medians['bittorrent/aria2'].efficiency).toBe(run.efficiency);
      expect(running(['aria2c', 'opentracker'], `fanout-lab-${name}-`)).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 120_000);

  it('loss on links: what the scenario configures per direction is what datagrams meet (20,000 per direction)', async () => {
    const t = loadScenario('scenarios/ci/loss-small.yaml', { netem: false, nftables: true });
    const net = new NetnsHosts(await NetnsNetwork.up(t, { commander: new RealCommander(), impairments: 'nftables' }));
    try {
      const src = { role: 'source' } as const;
      const r0 = { role: 'receiver', index: 0 } as const;
      const r1 = { role: 'receiver', index: 1 } as const;
      const [d0, d1] = await Promise.all([measureLoss(net, src, r0, 20_000, 10_000), measureLoss(net, src, r1, 20_000, 10_000, 47001)]);
      const [u0, u1] = await Promise.all([measureLoss(net, r0, src, 20_000, 10_000), measureLoss(net, r1, src, 20_000, 10_000, 47001)]);
      // Binomial: sd of the measured rate is sqrt(p(1-p)/n), 0.15 % at 5 %, 0.07 % at 1 %; allow 5 sd.
      expect(Math.abs(d0.lossPct - 5), JSON.stringify(d0)).toBeLessThan(0.8);
      expect(u0.lossPct, JSON.stringify(u0)).toBe(0);
      expect(Math.abs(d1.lossPct - 1), JSON.stringify(d1)).toBeLessThan(0.4);
      expect(Math.abs(u1.lossPct - 1), JSON.stringify(u1)).toBeLessThan(0.4);
    } finally {
      await net.down();
    }
  }, 60_000);
});
