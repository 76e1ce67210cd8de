import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CommandError, RecordingCommander } from '../../lab/commander.js';
import { DOCKER_INSTALL_HINT } from '../../lab/docker/engine.js';
import {
  BackendUnavailableError,
  chooseBackend,
  detectCapabilities,
  formatDoctor,
  parseDockerHost,
  probeDockerEngine,
  type Capabilities,
  type DockerProbe,
} from '../../lab/doctor.js';

/** The fallback logic as it will be once every backend exists. */
const ALL = new Set(['netns', 'docker', 'sim'] as const);
const noDocker = async (): Promise<DockerProbe> => ({ ok: false, endpoint: 'unix:///var/run/docker.sock', detail: 'no engine: ENOENT' });
const unknownQdisc = (argv: readonly string[]) => new CommandError(argv, 2, 'Error: Specified qdisc kind is unknown.\n');

describe('detectCapabilities', () => {
  it('probes with a throwaway lab namespace and reads tc errors (this kernel: no netem)', async () => {
    const rec = new RecordingCommander([{ match: (a) => a.includes('netem'), error: unknownQdisc }]);
    const caps = await detectCapabilities(rec, { root: true, prefix: 'fl0d0c', probeDocker: noDocker, kernel: '6.1.0-test' });
    expect(rec.lines()).toEqual([
      'ip netns add fl0d0c-probe',
      'ip -n fl0d0c-probe link add fl0d0c-pa type veth peer name fl0d0c-pb',
      'ip -n fl0d0c-probe link add fl0d0c-pbr type bridge',
      'tc -n fl0d0c-probe qdisc add dev fl0d0c-pa root handle 1: htb default 1',
      'tc -n fl0d0c-probe class add dev fl0d0c-pa parent 1: classid 1:1 htb rate 10mbit ceil 10mbit',
      'tc -n fl0d0c-probe qdisc add dev fl0d0c-pb root netem delay 1ms',
      'ip netns exec fl0d0c-probe nft -f -',
      'ip netns del fl0d0c-probe',
    ]);
    expect(caps.htb).toEqual({ ok: true, detail: 'htb works' });
    expect(caps.netem).toEqual({ ok: false, detail: 'kernel has no sch_netem (tc: Error: Specified qdisc kind is unknown.)' });
    expect(caps.backends.netns).toEqual({ usable: true, reason: 'root, namespaces, veth, bridge and htb available; no netem: loss by nftables, no delay or jitter' });
    expect(caps.backends.docker.usable).toBe(false);
    expect(chooseBackend('auto', caps)).toEqual({ backend: 'netns', reason: 'auto: root, namespaces, veth, bridge and htb available; no netem: loss by nftables, no delay or jitter' });
  });

  it('without htb the netns backend is unusable, naming the module; the probe namespace is still deleted', async () => {
    const rec = new RecordingCommander([{ match: (a) => a.includes('htb') || a.includes('netem'), error: unknownQdisc }]);
    const caps = await detectCapabilities(rec, { root: true, prefix: 'fl0d0c', probeDocker: noDocker, implemented: ALL });
    expect(caps.htb.detail).toBe('kernel has no sch_htb (tc: Error: Specified qdisc kind is unknown.)');
    expect(caps.backends.netns.usable).toBe(false);
    expect(caps.backends.netns.reason).toBe('needs htb (kernel has no sch_htb (tc: Error: Specified qdisc kind is unknown.))');
    expect(rec.lines().at(-1)).toBe('ip netns del fl0d0c-probe');
    expect(chooseBackend('auto', caps).backend).toBe('sim');
  });

  it('when namespaces fail nothing else is tried and nothing is deleted', async () => {
    const rec = new RecordingCommander([{ match: (a) => a[1] === 'netns', error: new CommandError(['ip'], 1, 'mount --make-shared /run/netns failed: Operation not permitted') }]);
    const caps = await detectCapabilities(rec, { root: true, prefix: 'fl0d0c', probeDocker: noDocker });
    expect(rec.lines()).toEqual(['ip netns add fl0d0c-probe']);
    expect(caps.netns.detail).toBe('ip netns add failed: mount --make-shared /run/netns failed: Operation not permitted');
    expect(caps.veth.detail).toBe('not tried: no namespace');
  });

  it('as non-root runs no command; docker needs root too (tc on host-side veths), so auto takes the simulator', async () => {
    const rec = new RecordingCommander();
    const caps = await detectCapabilities(rec, {
      root: false,
      implemented: ALL,
      probeDocker: async () => ({ ok: true, endpoint: 'unix:///var/run/docker.sock', detail: 'engine 24.0.7 answers (API 1.43)', apiVersion: '1.43' }),
    });
    expect(rec.calls).toEqual([]);
    expect(caps.backends.netns).toEqual({ usable: false, reason: 'needs root' });
    expect(caps.backends.docker.usable).toBe(false);
    expect(caps.backends.docker.reason).toMatch(/^Docker engine 24.0.7 answers \(API 1.43\) at unix:\/\/\/var\/run\/docker.sock, but the docker backend needs root/);
    expect(chooseBackend('auto', caps).backend).toBe('sim');
    expect(() => chooseBackend('netns', caps)).toThrow(BackendUnavailableError);
    expect(() => chooseBackend('netns', caps)).toThrow('backend netns cannot run here: needs root');
    expect(() => chooseBackend('docker', caps)).toThrow(/backend docker cannot run here: .*needs root/);
    expect(chooseBackend('sim', caps).backend).toBe('sim');
  });

  it('as root where namespaces are refused, falls back to docker when an engine answers', async () => {
    const rec = new RecordingCommander([{ match: (a) => a[1] === 'netns', error: new CommandError(['ip'], 1, 'mount --make-shared /run/netns failed: Operation not permitted') }]);
    const caps = await detectCapabilities(rec, {
      root: true,
      prefix: 'fl0d0c',
      implemented: ALL,
      probeDocker: async () => ({ ok: true, endpoint: 'unix:///var/run/docker.sock', detail: 'engine 24.0.7 answers (API 1.43)', apiVersion: '1.43' }),
    });
    const chosen = chooseBackend('auto', caps);
    expect(chosen.backend).toBe('docker');
    expect(chosen.reason).toMatch(/^auto: netns unusable \(needs netns \(ip netns add failed: mount --make-shared .*\); Docker engine 24.0.7 answers \(API 1.43\) at unix:\/\/\/var\/run\/docker.sock$/);
  });

  it('formats the human text', async () => {
    const caps = await detectCapabilities(new RecordingCommander([{ match: (a) => a.includes('netem'), error: unknownQdisc }]), {
      root: true,
      prefix: 'fl0d0c',
      probeDocker: noDocker,
      kernel: '6.1.0-test',
      hasTool: (bin) => bin !== 'opentracker',
    });
    expect(formatDoctor(caps)).toBe(
      [
        'kernel   6.1.0-test',
        'root     yes',
        'ok  namespaces  network namespaces work',
        'ok  veth        veth pairs work',
        'ok  bridge      bridges work',
        'ok  htb         htb works',
        'no  netem       kernel has no sch_netem (tc: Error: Specified qdisc kind is unknown.)',
        'ok  nftables    nftables works (random loss without netem)',
        'no  docker      no engine: ENOENT (unix:///var/run/docker.sock)',
        '',
        'backends:',
        '  ok  netns   root, namespaces, veth, bridge and htb available; no netem: loss by nftables, no delay or jitter',
        `  no  docker  no Docker engine at unix:///var/run/docker.sock (no engine: ENOENT)${process.platform === 'linux' ? `; ${DOCKER_INSTALL_HINT}` : ''}`,
        '  ok  sim     always available (simulated flows, no real network)',
        '',
        'tools the protocols run:',
        '  ok  aria2c       bittorrent',
        '  no  opentracker  bittorrent: missing (Debian package opentracker: apt-get install opentracker)',
        '  ok  mktorrent    bittorrent',
        '  ok  uftp         uftp',
        '  ok  uftpd        uftp',
        '',
        'auto picks: netns',
      ].join('\n'),
    );
  });

  it('never offers a backend this version cannot build, and says so when nothing can run', async () => {
    const caps = await detectCapabilities(new RecordingCommander(), {
      root: false,
      implemented: new Set(['netns']),
      probeDocker: async () => ({ ok: true, endpoint: 'unix:///var/run/docker.sock', detail: 'engine 24.0.7 answers (API 1.43)', apiVersion: '1.43' }),
    });
    expect(caps.backends.docker.usable).toBe(false);
    expect(caps.backends.sim.usable).toBe(false);
    expect(caps.backends.sim.reason).toMatch(/does not have that backend yet/);
    expect(() => chooseBackend('auto', caps)).toThrow(/no lab backend can run here: netns needs root;.*run as root for netns/);
  });

  it('without root and without Docker, auto falls back to the simulator and says why', async () => {
    const caps = await detectCapabilities(new RecordingCommander(), { root: false, probeDocker: noDocker });
    const chosen = chooseBackend('auto', caps);
    expect(chosen.backend).toBe('sim');
    expect(chosen.reason).toMatch(/^auto: falling back to the simulator: netns unusable \(needs root\); docker unusable \(no Docker engine/);
  });
});

describe('Docker probe', () => {
  const servers: Server[] = [];
  let dir: string | null = null;
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = null;
  });

  function fakeEngine(handler: Parameters<typeof createServer>[1]): Server {
    const s = createServer(handler);
    servers.push(s);
    return s;
  }

  it('parses DOCKER_HOST', () => {
    expect(parseDockerHost(undefined)).toEqual({ socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost('unix:///tmp/d.sock')).toEqual({ socketPath: '/tmp/d.sock' });
    expect(parseDockerHost('tcp://127.0.0.1:2376')).toEqual({ host: '127.0.0.1', port: 2376 });
    expect(parseDockerHost('tcp://[::1]')).toEqual({ host: '::1', port: 2375 });
    expect(parseDockerHost('ssh://me@box')).toEqual({ unsupported: 'ssh://me@box' });
  });

  it('reads ApiVersion over a unix socket', async () => {
    dir = mkdtempSync(join(tmpdir(), 'fanout-docker-'));
    const sock = join(dir, 'docker.sock');
    let path = '';
    const s = fakeEngine((req, res) => {
      path = req.url ?? '';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ Version: '24.0.7', ApiVersion: '1.43' }));
    });
    await new Promise<void>((r) => s.listen(sock, r));
    const p = await probeDockerEngine(`unix://${sock}`);
    expect(path).toBe('/version');
    expect(p).toEqual({ ok: true, endpoint: `unix://${sock}`, detail: 'engine 24.0.7 answers (API 1.43)', apiVersion: '1.43', version: '24.0.7' });
  });

  it('reads over tcp:// (loopback) and reports HTTP errors', async () => {
    const s = fakeEngine((_req, res) => {
      res.statusCode = 500;
      res.end('{}');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    expect(await probeDockerEngine(`tcp://127.0.0.1:${port}`)).toEqual({ ok: false, endpoint: `tcp://127.0.0.1:${port}`, detail: 'engine answered HTTP 500' });
  });

  it('gives up after the timeout when nothing answers', async () => {
    const s = fakeEngine(() => {
      /* never answers */
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as { port: number }).port;
    const t0 = Date.now();
    const p = await probeDockerEngine(`tcp://127.0.0.1:${port}`, 150);
    expect(p.ok).toBe(false);
    expect(p.detail).toBe('no answer within 150 ms');
    expect(Date.now() - t0).toBeLessThan(2000);
    s.closeAllConnections();
  });

  it('reports a missing socket and an unsupported DOCKER_HOST', async () => {
    expect(await probeDockerEngine('unix:///nonexistent/docker.sock')).toEqual({ ok: false, endpoint: 'unix:///nonexistent/docker.sock', detail: 'no engine: ENOENT' });
    expect((await probeDockerEngine('ssh://me@box')).detail).toBe('DOCKER_HOST ssh://me@box: only unix:// and tcp:// are supported');
  });

  it('detectCapabilities respects DOCKER_HOST', async () => {
    const caps: Capabilities = await detectCapabilities(new RecordingCommander(), { root: false, dockerHost: 'unix:///nonexistent/d.sock', dockerTimeoutMs: 100 });
    expect(caps.docker.endpoint).toBe('unix:///nonexistent/d.sock');
    expect(caps.backends.docker.reason).toBe(`no Docker engine at unix:///nonexistent/d.sock (no engine: ENOENT)${process.platform === 'linux' ? `; ${DOCKER_INSTALL_HINT}` : ''}`);
  });
});
