/**
 * Whole-file protocols on the docker backend: the bittorrent image (aria2c, opentracker and the
 * node agent, built offline from this machine's binaries), service hosts, programs started inside
 * a node's container, loss with nftables in a container's namespace, and the swarm-small scenario
 * end to end through the CLI. The pure parts always run; the rest needs root and a Docker engine
 * on this machine (skipped with the reason otherwise), like docker-e2e.test.ts.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import Dockerode from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import { RealCommander } from '../../lab/commander.js';
import { DockerNetwork, checkImpairments } from '../../lab/docker/backend.js';
import { nsenterInside } from '../../lab/docker/commands.js';
import { MAX_DOCKER_RECEIVERS, planDockerNetwork } from '../../lab/docker/plan.js';
import { GROUP, PASSWD, protocolContext, protocolRootfs, type RootEntry } from '../../lab/docker/protocol-image.js';
import { probeDockerEngine } from '../../lab/doctor.js';
import { PlanError } from '../../lab/netns/plan.js';
import { bittorrent } from '../../lab/protocols/bittorrent/plugin.js';
import { fragments } from '../../lab/protocols/fragments.js';
import { cleanRuns, leftovers } from '../helpers/docker-runs.js';
import { FANOUT } from '../helpers/procs.js';

const isRoot = process.getuid?.() === 0;
const engine = await probeDockerEngine(process.env.DOCKER_HOST, 2000);
const skipWhy = !isRoot ? 'needs root (tc on host-side veths, nsenter)' : !engine.ok ? `no Docker engine (${engine.detail}; CI starts one)` : '';
const why = skipWhy ? ` (SKIPPED: ${skipWhy})` : '';
const docker = new Dockerode();
const DIST = dirname(dirname(FANOUT));
const cmd = new RealCommander();
const sh = (...argv: string[]): string => execFileSync(argv[0]!, argv.slice(1)).toString();

const topo = (n: number): { receivers: { index: number; downBps: number; upBps: number }[]; sender: { upBps: number } } => ({
  receivers: Array.from({ length: n }, (_, i) => ({ index: i, downBps: 10e6, upBps: 10e6 })),
  sender: { upBps: 10e6 },
});

describe('docker protocol hosts: plan and image (pure)', () => {
  it('places service hosts below the gateway, unshaped, and leaves room for them', () => {
    const p = planDockerNetwork(topo(2), 'fl0dc1', 1, ['tracker', 'dns']);
    expect(p.gateway).toBe('198.19.31.254');
    expect(p.services.map((s) => [s.name, s.address, s.service, s.downBps, s.upBps])).toEqual([
      ['fl0dc1-xtracker', '198.19.31.253', 'tracker', Infinity, Infinity],
      ['fl0dc1-xdns', '198.19.31.252', 'dns', Infinity, Infinity],
    ]);
    expect(p.receivers.map((r) => r.address)).toEqual(['198.19.16.2', '198.19.16.3']);
    expect(planDockerNetwork(topo(1), 'fl0dc1', 0).services).toEqual([]);
    expect(() => planDockerNetwork(topo(MAX_DOCKER_RECEIVERS), 'fl0dc1', 0, ['tracker'])).toThrow(`at most ${MAX_DOCKER_RECEIVERS - 1}`);
    expect(() => planDockerNetwork(topo(1), 'fl0dc1', 0, ['Tracker!'])).toThrow(PlanError);
    expect(() => planDockerNetwork(topo(1), 'fl0dc1', 0, ['t', 't'])).toThrow('named twice');
  });

  it('keeps loss, refuses delay and jitter', () => {
    const receivers = [
      { index: 0, downBps: 1e6, upBps: 1e6, lossDownPct: 5, lossUpPct: 0 },
      { index: 1, downBps: 1e6, upBps: 1e6 },
    ];
    expect(checkImpairments({ receivers })).toEqual([{ index: 0, downPct: 5, upPct: 0 }]);
    expect(() => checkImpairments({ receivers: [{ index: 0, downBps: 1e6, upBps: 1e6, delayMs: 10 }] })).toThrow(/delay and jitter .* docker/);
  });

  it('enters every namespace of the container, forking into its pid namespace', () => {
    expect(nsenterInside(4242, ['/usr/bin/aria2c', '-v'])).toEqual(['nsenter', '-t', '4242', '-m', '-n', '-p', '-i', '-u', '--', '/usr/bin/aria2c', '-v']);
    expect(() => nsenterInside(1, ['x'])).toThrow(RangeError);
  });

  it('lays out the build context: Dockerfile, folders first, files at their own paths, users', () => {
    const entries: RootEntry[] = [
      { kind: 'file', path: '/usr/bin/aria2c', source: '/usr/bin/true', mode: 0o755, size: 1 },
      { kind: 'text', path: '/etc/passwd', content: Buffer.from(PASSWD), mode: 0o644 },
      { kind: 'symlink', path: '/usr/bin/node', target: '/usr/local/bin/node' },
    ];
    const ctx = protocolContext(entries);
    expect(ctx.map((e) => `${e.type} ${e.name}`)).toEqual([
      'file Dockerfile',
      'dir rootfs',
      'dir rootfs/etc',
      'dir rootfs/usr',
      'dir rootfs/usr/bin',
      'file rootfs/usr/bin/aria2c',
      'file rootfs/etc/passwd',
      'symlink rootfs/usr/bin/node',
    ]);
    expect(PASSWD).toMatch(/^nobody:x:65534:65534:/m);
    expect(GROUP).toMatch(/^nogroup:x:65534:/m);
  });

  it.skipIf(!['aria2c', 'opentracker', 'mktorrent'].every((b) => { try { execFileSync('which', [b]); return true; } catch { return false; } }))(
    "holds the protocol's tools, their libraries, the agent and an ESM package.json",
    async () => {
      const entries = await protocolRootfs(cmd, bittorrent, { nodePath: '/usr/bin/node', distRoot: DIST });
      const paths = entries.map((e) => e.path);
      for (const p of ['/usr/bin/aria2c', '/usr/bin/opentracker', '/usr/bin/mktorrent', '/bin/sh', '/usr/bin/date', '/lib64/ld-linux-x86-64.so.2', '/etc/passwd', '/etc/group', '/etc/nsswitch.conf']) {
        expect(paths, p).toContain(p);
      }
      expect(paths).toContain(join(DIST, 'lab/protocols/bittorrent/agent.js'));
      const pkg = entries.find((e) => e.path === join(DIST, 'package.json'));
      expect(pkg?.kind === 'text' && JSON.parse(pkg.content.toString()).type).toBe('module');
      expect(entries.find((e) => e.path === '/usr/bin/node')).toEqual({ kind: 'symlink', path: '/usr/bin/node', target: '/usr/local/bin/node' });
    },
  );
});

/**
 * aria2c and opentracker processes of a lab run of `scenario` (their argv names the run's work
 * folder), once none is left or after 3 s (a container's processes die with it, then are reaped).
 */
async function swarmProcesses(scenario: string): Promise<string[]> {
  const list = (): string[] => {
    const out: string[] = [];
    for (const e of readdirSync('/proc')) {
      if (!/^\d+$/.test(e)) continue;
      try {
        const comm = readFileSync(`/proc/${e}/comm`, 'utf8').trim();
        const args = readFileSync(`/proc/${e}/cmdline`, 'utf8');
        if ((comm === 'aria2c' || comm === 'opentracker') && args.includes(`fanout-lab-${scenario}-`)) out.push(`${e} ${comm}`);
      } catch {
        // gone
      }
    }
    return out;
  };
  for (let i = 0; i < 30 && list().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  return list();
}

const prefixes: string[] = [];
afterAll(async () => {
  if (!skipWhy) await cleanRuns(prefixes);
});

/** The first line of `p`'s stdout matching `re`. */
function lineMatching(p: ChildProcess, re: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    p.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    createInterface({ input: p.stdout! }).on('line', (l) => re.test(l) && resolve(l));
    p.once('close', (code) => reject(new Error(`exited ${code} before ${re}: ${err}`)));
  });
}

describe.skipIf(skipWhy !== '')(`bittorrent on the docker backend${why}`, () => {
  it('runs programs inside each node\'s container: services at their address, loss in the namespace, signals to the program', { timeout: 120_000 }, async () => {
    const work = mkdtempSync(join(tmpdir(), 'fanout-docker-proto-'));
    const receivers = [
      { index: 0, downBps: 20e6, upBps: 20e6, lossDownPct: 5, lossUpPct: 0 },
      { index: 1, downBps: 10e6, upBps: 10e6 },
    ];
    const net = await DockerNetwork.up({ receivers, sender: { upBps: 20e6 } }, { commander: cmd, services: ['tracker'], protocols: [bittorrent], mounts: [work], distRoot: DIST }).catch((e: unknown) => {
      rmSync(work, { recursive: true, force: true });
      throw e;
    });
    prefixes.push(net.prefix);
    try {
      expect(net.address({ role: 'service', name: 'tracker' })).toBe(net.plan.services[0]!.address);
      expect(() => net.address({ role: 'service', name: 'dns' })).toThrow(/no service host dns/);
      await expect(net.startReceivers(['/x', '/y'])).rejects.toThrow(/bittorrent containers/);
      // Inside the tracker's container: its image's user database (no `cat` there: the shell's
      // own read), its own pid namespace, the work folder at its own path.
      writeFileSync(join(work, 'probe'), 'shared');
      const p = net.spawn({ role: 'service', name: 'tracker' }, ['/bin/sh', '-c', `echo pid=$$; for f in /etc/passwd ${join(work, 'probe')}; do while IFS= read -r l || [ -n "$l" ]; do echo "$l"; done < $f; done`]);
      let text = '';
      p.stdout!.on('data', (b: Buffer) => (text += b.toString()));
      const code = await new Promise((r) => p.once('close', r));
      expect(code).toBe(0);
      expect(text).toContain(PASSWD);
      expect(text).toContain('shared');
      expect(Number(/pid=(\d+)/.exec(text)?.[1])).toBeLessThan(100); // the container's pid namespace
      // The host's node path works inside (a symlink to the base's node), and kill() reaches the program.
      const n = net.spawn({ role: 'receiver', index: 1 }, [process.execPath, '-e', "process.on('SIGUSR1',()=>{console.log('got usr1');process.exit(0)});console.log('ready');setInterval(()=>{},1e6)"]);
      await lineMatching(n, /^ready$/);
      const got = lineMatching(n, /^got usr1$/);
      n.kill('SIGUSR1');
      await got;
      // Receiver 0 loses 5 % of what it downloads: the lab's nftables table in its namespace.
      const r0 = (await docker.getContainer(net.plan.receivers[0]!.name).inspect()).State.Pid;
      expect(sh('nsenter', '-t', String(r0), '-n', 'nft', 'list', 'table', 'inet', 'fanout_loss')).toMatch(/hook input[\s\S]*numgen random mod 100000 < 5000 drop/);
      const r1 = (await docker.getContainer(net.plan.receivers[1]!.name).inspect()).State.Pid;
      expect(() => execFileSync('nsenter', ['-t', String(r1), '-n', 'nft', 'list', 'table', 'inet', 'fanout_loss'], { stdio: 'ignore' })).toThrow();
      // Receivers are shaped as for fragments; the tracker's link is not.
      expect(sh('nsenter', '-t', String(r1), '-n', 'tc', 'class', 'show', 'dev', 'eth0')).toContain('rate 10Mbit ceil 10Mbit');
      const t = (await docker.getContainer(net.plan.services[0]!.name).inspect()).State.Pid;
      expect(sh('nsenter', '-t', String(t), '-n', 'tc', 'class', 'show', 'dev', 'eth0')).toBe('');
      // A program left running dies with its container.
      const idle = net.spawn({ role: 'source' }, [process.execPath, '-e', "console.log('up');setInterval(()=>{},1e6)"]);
      await lineMatching(idle, /^up$/);
      const closed = new Promise((r) => idle.once('close', r));
      await net.down();
      await closed;
    } finally {
      await net.down();
      rmSync(work, { recursive: true, force: true });
    }
    expect(await leftovers(net.prefix)).toEqual([]);
  });

  it('refuses to mix a protocol image with fragment receivers in one lab', async () => {
    await expect(DockerNetwork.up(topo(1), { commander: cmd, protocols: [bittorrent, fragments] })).rejects.toThrow(/cannot run bittorrent and fragment contenders/);
  });

  it('runs ci/swarm-small through the CLI: every node verified, protocol bittorrent, nothing left', { timeout: 180_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'fanout-docker-swarm-'));
    try {
      const proc = spawn(process.execPath, [FANOUT, 'lab', 'scenarios/ci/swarm-small.yaml', '--backend', 'docker', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      proc.stdout!.resume();
      const code = await new Promise((r) => proc.once('close', r));
      const prefix = /network (fl[0-9a-f]{4}) up/.exec(stderr)?.[1];
      if (prefix) prefixes.push(prefix);
      expect(code, stderr).toBe(0);
      expect(stderr).toMatch(/docker: bittorrent image fanout-lab-bittorrent:[0-9a-f]{16}/);
      expect(prefix, stderr).toBeDefined();
      const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
      expect(summary.backend).toBe('docker');
      const run = summary.runs[0];
      expect(run.protocol).toBe('bittorrent');
      expect(run.variant).toBe('aria2');
      expect(run.receivers).toHaveLength(4);
      expect(run.receivers.every((x: { verified: boolean }) => x.verified)).toBe(true);
      expect(run.failedReceivers).toBe(0);
      expect(run.efficiency).toBeGreaterThanOrEqual(1);
      expect(await leftovers(prefix!)).toEqual([]);
      expect(await swarmProcesses('ci-swarm-small')).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
