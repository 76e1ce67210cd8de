/**
 * `fanout doctor`: what can this machine emulate, and so which backend will a lab use?
 *
 * Probes by trying, not by reading lists (modules can be built in or loaded on demand, so
 * /proc/modules proves nothing): it makes a throwaway namespace `<fl+4 hex>-probe` (a lab name,
 * so `fanout clean` removes it if the doctor dies mid-probe), a veth pair and a bridge inside it,
 * then `tc qdisc add ... htb` and `... netem` on those veths, and reads tc's error ("Specified
 * qdisc kind is unknown." = the kernel has no such qdisc), and loads lab/loss.ts's nftables
 * random-loss ruleset inside it with `ip netns exec <ns> nft -f -` (loss without netem). The
 * namespace is always deleted.
 * Docker: GET /version on the engine (DOCKER_HOST unix:// or tcp://, else /var/run/docker.sock).
 *
 * Backends: netns needs root + namespaces + veth + bridge + htb; docker needs an engine that
 * answers, on this machine, and root; sim always works. chooseBackend() turns a BackendChoice
 * into one, with the reason.
 */
import { accessSync, constants } from 'node:fs';
import { request } from 'node:http';
import { release } from 'node:os';
import { CommandError, type Commander } from './commander.js';
import { DOCKER_INSTALL_HINT, remoteEngineMessage, remoteEngineReason } from './docker/engine.js';
import { lossInvocation } from './loss.js';
import { makeRunPrefix } from './netns/plan.js';
import { PROTOCOLS } from './protocols/index.js';
import type { BackendChoice, BackendName } from './types.js';

/** The outcome of one probe. */
export interface Probe {
  ok: boolean;
  detail: string;
}

/** The Docker probe. */
export interface DockerProbe extends Probe {
  /** What was asked, e.g. `unix:///var/run/docker.sock`. */
  endpoint: string;
  apiVersion?: string;
  version?: string;
}

/** Whether a backend can run here, and why. */
export interface BackendStatus {
  usable: boolean;
  reason: string;
}

/** What this machine offers the lab. */
export interface Capabilities {
  kernel: string;
  root: boolean;
  netns: Probe;
  veth: Probe;
  bridge: Probe;
  htb: Probe;
  netem: Probe;
  /** nftables random drop in a namespace (lab/loss.ts): loss without netem. */
  nftables: Probe;
  docker: DockerProbe;
  backends: Record<BackendName, BackendStatus>;
  /** The programs protocol plug-ins run (aria2c, ...), and whether each is on PATH. */
  tools?: { protocol: string; bin: string; pkg: string; ok: boolean }[];
}

/** Knobs for detectCapabilities (tests inject all of them). */
export interface DetectOptions {
  /** Backends this version can build (default IMPLEMENTED_BACKENDS; tests pass all three). */
  implemented?: ReadonlySet<BackendName>;
  /** Default: process.getuid() === 0. */
  root?: boolean;
  /** Prefix for the probe namespace (default: a fresh random one). */
  prefix?: string;
  /** Default: process.env.DOCKER_HOST. */
  dockerHost?: string | undefined;
  dockerTimeoutMs?: number;
  /** Replaces the real Docker probe. */
  probeDocker?: () => Promise<DockerProbe>;
  kernel?: string;
  /** Replaces the PATH lookup of the protocols' tools. */
  hasTool?: (bin: string) => boolean;
}

/** Whether a program is on PATH. */
export function hasTool(bin: string): boolean {
  if (!/^[A-Za-z0-9._+-]+$/.test(bin)) return false;
  const dirs = (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  return dirs.some((d) => {
    try {
      accessSync(`${d}/${bin}`, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** The requested backend cannot run on this machine. */
export class BackendUnavailableError extends Error {
  override readonly name = 'BackendUnavailableError';
}

function why(e: unknown): string {
  if (e instanceof CommandError) {
    const msg = e.stderr.trim().split('\n').find((l) => l.trim() !== '') ?? '';
    if (e.exitCode === null) return `cannot run ${e.argv[0]}: ${msg}`;
    return msg || `exit ${e.exitCode}`;
  }
  return e instanceof Error ? e.message : String(e);
}

function qdiscDetail(kind: string, module: string, e: unknown): string {
  const msg = why(e);
  if (/qdisc kind is unknown/i.test(msg)) return `kernel has no ${module} (tc: ${msg})`;
  return `tc qdisc add ... ${kind} failed: ${msg}`;
}

async function attempt(fn: () => Promise<unknown>, okDetail: string, failDetail: (e: unknown) => string): Promise<Probe> {
  try {
    await fn();
    return { ok: true, detail: okDetail };
  } catch (e) {
    return { ok: false, detail: failDetail(e) };
  }
}

function nftDetail(e: unknown): string {
  const msg = why(e);
  if (/exec of "nft" failed|ENOENT|No such file/i.test(msg)) return `no nft binary (install Debian's \`nftables\` package): ${msg}`;
  return `nft -f - (random loss ruleset) failed: ${msg}`;
}

/** Load lab/loss.ts's random-loss ruleset (1 % down) in namespace `ns`. */
function probeNftables(commander: Commander, ns: string): Promise<Probe> {
  const inv = lossInvocation(ns, 1, 0);
  return attempt(() => commander.run(inv.argv, { input: inv.input }), 'nftables works (random loss without netem)', nftDetail);
}

type KernelProbes = Pick<Capabilities, 'netns' | 'veth' | 'bridge' | 'htb' | 'netem' | 'nftables'>;

/** Probe namespaces, veth, bridge, htb, netem and nftables with a throwaway `<prefix>-probe` namespace. */
async function probeKernel(commander: Commander, prefix: string): Promise<KernelProbes> {
  const ns = `${prefix}-probe`;
  const a = `${prefix}-pa`;
  const b = `${prefix}-pb`;
  const notTried = (what: string): Probe => ({ ok: false, detail: `not tried: ${what}` });
  const netns = await attempt(() => commander.run(['ip', 'netns', 'add', ns]), 'network namespaces work', (e) => `ip netns add failed: ${why(e)}`);
  if (!netns.ok) {
    const no = notTried('no namespace');
    return { netns, veth: no, bridge: no, htb: no, netem: no, nftables: no };
  }
  try {
    const veth = await attempt(
      () => commander.run(['ip', '-n', ns, 'link', 'add', a, 'type', 'veth', 'peer', 'name', b]),
      'veth pairs work',
      (e) => `ip link add type veth failed: ${why(e)}`,
    );
    const bridge = await attempt(
      () => commander.run(['ip', '-n', ns, 'link', 'add', `${prefix}-pbr`, 'type', 'bridge']),
      'bridges work',
      (e) => `ip link add type bridge failed: ${why(e)}`,
    );
    if (!veth.ok) return { netns, veth, bridge, htb: notTried('no veth'), netem: notTried('no veth'), nftables: await probeNftables(commander, ns) };
    const htb = await attempt(
      async () => {
        await commander.run(['tc', '-n', ns, 'qdisc', 'add', 'dev', a, 'root', 'handle', '1:', 'htb', 'default', '1']);
        await commander.run(['tc', '-n', ns, 'class', 'add', 'dev', a, 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10mbit', 'ceil', '10mbit']);
      },
      'htb works',
      (e) => qdiscDetail('htb', 'sch_htb', e),
    );
    const netem = await attempt(
      () => commander.run(['tc', '-n', ns, 'qdisc', 'add', 'dev', b, 'root', 'netem', 'delay', '1ms']),
      'netem works (delay, jitter, loss possible)',
      (e) => qdiscDetail('netem', 'sch_netem', e),
    );
    const nftables = await probeNftables(commander, ns);
    return { netns, veth, bridge, htb, netem, nftables };
  } finally {
    await commander.run(['ip', 'netns', 'del', ns]).catch(() => undefined);
  }
}

/** Where to reach the Docker engine, from DOCKER_HOST (unset = the default unix socket). */
export type DockerEndpoint = { socketPath: string } | { host: string; port: number } | { unsupported: string };

/** Parse DOCKER_HOST. */
export function parseDockerHost(value: string | undefined): DockerEndpoint {
  if (value === undefined || value === '') return { socketPath: '/var/run/docker.sock' };
  if (value.startsWith('unix://')) return { socketPath: value.slice('unix://'.length) };
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(value);
  if (m) return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] !== undefined ? Number(m[2]) : 2375 };
  return { unsupported: value };
}

/** GET /version from the Docker engine with a short timeout. Never throws. */
export function probeDockerEngine(dockerHost: string | undefined, timeoutMs = 1000): Promise<DockerProbe> {
  const ep = parseDockerHost(dockerHost);
  const endpoint = dockerHost && dockerHost !== '' ? dockerHost : 'unix:///var/run/docker.sock';
  if ('unsupported' in ep) {
    return Promise.resolve({ ok: false, endpoint, detail: `DOCKER_HOST ${ep.unsupported}: only unix:// and tcp:// are supported` });
  }
  return new Promise((resolve) => {
    let done = false;
    const finish = (p: DockerProbe): void => {
      if (!done) {
        done = true;
        resolve(p);
      }
    };
    const req = request({ ...ep, path: '/version', method: 'GET', timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        if (res.statusCode !== 200) return finish({ ok: false, endpoint, detail: `engine answered HTTP ${res.statusCode}` });
        try {
          const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ApiVersion?: unknown; Version?: unknown };
          const p: DockerProbe = { ok: true, endpoint, detail: 'engine answers' };
          if (typeof v.ApiVersion === 'string') p.apiVersion = v.ApiVersion;
          if (typeof v.Version === 'string') p.version = v.Version;
          p.detail = `engine ${p.version ?? '?'} answers (API ${p.apiVersion ?? '?'})`;
          finish(p);
        } catch {
          finish({ ok: false, endpoint, detail: 'engine answered with something that is not JSON' });
        }
      });
      res.on('error', (e) => finish({ ok: false, endpoint, detail: e.message }));
    });
    req.on('timeout', () => {
      finish({ ok: false, endpoint, detail: `no answer within ${timeoutMs} ms` });
      req.destroy();
    });
    req.on('error', (e: NodeJS.ErrnoException) => finish({ ok: false, endpoint, detail: `no engine: ${e.code ?? e.message}` }));
    req.end();
  });
}

/** What the netns backend can do about delay and loss, in words. */
function impairmentWords(c: Pick<Capabilities, 'netem' | 'nftables'>): string {
  if (c.netem.ok) return ', netem too (delay, jitter, loss)';
  return c.nftables?.ok ? '; no netem: loss by nftables, no delay or jitter' : '; no netem and no nftables: no delay, jitter or loss';
}

/** Which backends can run, from the probes. Pure. */
export function backendStatuses(
  c: Omit<Capabilities, 'backends' | 'kernel'>,
  implemented: ReadonlySet<BackendName> = IMPLEMENTED_BACKENDS,
): Record<BackendName, BackendStatus> {
  const missing: string[] = [];
  if (!c.root) missing.push('root');
  for (const k of ['netns', 'veth', 'bridge', 'htb'] as const) if (c.root && !c[k].ok) missing.push(`${k} (${c[k].detail})`);
  const netns: BackendStatus =
    missing.length === 0
      ? { usable: true, reason: `root, namespaces, veth, bridge and htb available${impairmentWords(c)}` }
      : { usable: false, reason: `needs ${missing.join(', ')}` };
  const docker = dockerStatus(c);
  const notBuilt = (what: string): BackendStatus => ({ usable: false, reason: `${what}, but this version of the lab does not have that backend yet` });
  return {
    netns,
    docker: implemented.has('docker') || !docker.usable ? docker : notBuilt(docker.reason),
    sim: implemented.has('sim')
      ? { usable: true, reason: 'always available (simulated flows, no real network)' }
      : notBuilt('needs nothing from the machine'),
  };
}

/**
 * The docker backend: an engine that answers, on this machine, and root (it shapes the host side
 * of each container's veth with tc and enters containers' namespaces with nsenter). Without an
 * engine on Linux, says how to get one.
 */
function dockerStatus(c: Pick<Capabilities, 'docker' | 'root'>, platform: string = process.platform): BackendStatus {
  if (!c.docker.ok) {
    const noEngine = /^no engine:/.test(c.docker.detail) && platform === 'linux';
    return { usable: false, reason: `no Docker engine at ${c.docker.endpoint} (${c.docker.detail})${noEngine ? `; ${DOCKER_INSTALL_HINT}` : ''}` };
  }
  const found = `Docker ${c.docker.detail} at ${c.docker.endpoint}`;
  const remote = remoteEngineReason(c.docker.endpoint);
  if (remote !== null) return { usable: false, reason: `${found}, but ${remoteEngineMessage(remote)}` };
  if (!c.root) return { usable: false, reason: `${found}, but the docker backend needs root (tc on the host side of each container's veth, nsenter)` };
  return { usable: true, reason: found };
}

/** The backends this version can build (doctor must not promise one that does not exist). */
export const IMPLEMENTED_BACKENDS: ReadonlySet<BackendName> = new Set<BackendName>(['netns', 'docker', 'sim']);

/** Probe this machine. Needs root for the kernel probes (skipped otherwise). */
export async function detectCapabilities(commander: Commander, opts: DetectOptions = {}): Promise<Capabilities> {
  const root = opts.root ?? (typeof process.getuid === 'function' && process.getuid() === 0);
  const dockerHost = 'dockerHost' in opts ? opts.dockerHost : process.env.DOCKER_HOST;
  const dockerP = opts.probeDocker ? opts.probeDocker() : probeDockerEngine(dockerHost, opts.dockerTimeoutMs ?? 1000);
  const skipped: Probe = { ok: false, detail: 'not tried: not root' };
  const kernel = root
    ? await probeKernel(commander, opts.prefix ?? makeRunPrefix())
    : { netns: skipped, veth: skipped, bridge: skipped, htb: skipped, netem: skipped, nftables: skipped };
  const docker = await dockerP;
  const partial = { root, ...kernel, docker };
  const tools = PROTOCOLS.flatMap((p) => p.tools.map((t) => ({ protocol: p.name, bin: t.bin, pkg: t.pkg, ok: (opts.hasTool ?? hasTool)(t.bin) })));
  return { kernel: opts.kernel ?? release(), ...partial, backends: backendStatuses(partial, opts.implemented), tools };
}

/** The human text of `fanout doctor`. */
export function formatDoctor(c: Capabilities): string {
  const mark = (p: { ok: boolean } | { usable: boolean }): string => (('ok' in p ? p.ok : p.usable) ? 'ok  ' : 'no  ');
  const lines = [
    `kernel   ${c.kernel}`,
    `root     ${c.root ? 'yes' : 'no'}`,
    `${mark(c.netns)}namespaces  ${c.netns.detail}`,
    `${mark(c.veth)}veth        ${c.veth.detail}`,
    `${mark(c.bridge)}bridge      ${c.bridge.detail}`,
    `${mark(c.htb)}htb         ${c.htb.detail}`,
    `${mark(c.netem)}netem       ${c.netem.detail}`,
    `${mark(c.nftables)}nftables    ${c.nftables.detail}`,
    `${mark(c.docker)}docker      ${c.docker.detail} (${c.docker.endpoint})`,
    '',
    'backends:',
  ];
  for (const b of ['netns', 'docker', 'sim'] as const) lines.push(`  ${mark(c.backends[b])}${b.padEnd(7)} ${c.backends[b].reason}`);
  if (c.tools && c.tools.length > 0) {
    lines.push('', 'tools the protocols run:');
    for (const t of c.tools) lines.push(`  ${mark(t)}${t.bin.padEnd(12)} ${t.protocol}${t.ok ? '' : `: missing (Debian package ${t.pkg}: apt-get install ${t.pkg})`}`);
  }
  try {
    lines.push('', `auto picks: ${chooseBackend('auto', c).backend}`);
  } catch (err) {
    lines.push('', `auto picks: nothing (${(err as Error).message})`);
  }
  return lines.join('\n');
}

/**
 * Turn a choice into a backend. auto: netns when it can, else docker when an engine answers,
 * else sim. An explicit choice that cannot run throws BackendUnavailableError with the reason.
 */
export function chooseBackend(choice: BackendChoice, caps: Pick<Capabilities, 'backends'>): { backend: BackendName; reason: string } {
  const b = caps.backends;
  if (choice !== 'auto') {
    if (!b[choice].usable) throw new BackendUnavailableError(`backend ${choice} cannot run here: ${b[choice].reason}`);
    return { backend: choice, reason: `chosen: ${b[choice].reason}` };
  }
  if (b.netns.usable) return { backend: 'netns', reason: `auto: ${b.netns.reason}` };
  if (b.docker.usable) return { backend: 'docker', reason: `auto: netns unusable (${b.netns.reason}); ${b.docker.reason}` };
  if (b.sim.usable) {
    return { backend: 'sim', reason: `auto: falling back to the simulator: netns unusable (${b.netns.reason}); docker unusable (${b.docker.reason})` };
  }
  throw new BackendUnavailableError(
    `no lab backend can run here: netns ${b.netns.reason}; docker: ${b.docker.reason}; sim: ${b.sim.reason} (run as root for netns)`,
  );
}
