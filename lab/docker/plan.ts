/**
 * Describe, then build: the names, addresses and labels of a Docker lab network, as plain data.
 * Pure.
 *
 * Layout (one lab, prefix `fl` + 4 hex, e.g. `fl3a9c`), mirroring the netns backend:
 *
 *   network   fl3a9c-net     a bridge network of the lab's own (never docker0), internal (no route
 *                            out, no masquerading), bridge device `fl3a9c-br` in the root namespace
 *   container fl3a9c-s       the sender's network namespace (an idle container); the sender itself
 *                            is the host's `node dist/cli/fanout.js send`, started inside that
 *                            namespace with nsenter, as the netns backend starts it with ip netns exec
 *   container fl3a9c-r<i>    receiver i: `fanout receive` from the Dockerfile.receiver image,
 *                            for the whole lab (see backend.ts); for a protocol with tools of its
 *                            own (bittorrent), an idle container of that protocol's image instead
 *   container fl3a9c-x<name> service host `name` (a tracker): an idle container of the protocol's
 *                            image, not a receiver, not shaped
 *
 * Addresses: the lab's Docker networks live in 198.19.0.0/16 (inside the lab's 198.18.0.0/15,
 * RFC 2544; the netns backend keeps its addresses inside its own namespaces, so the two never
 * meet in a routing table). The /16 is cut into 16 blocks of /20 so that concurrent runs can each
 * have one (Docker refuses overlapping subnets): block k is 198.19.(16k).0/20. In a block, the
 * sender is .0.1, receiver i is base + 2 + i (as in netns), the gateway Docker puts on the
 * bridge is the block's last usable address (the lab never sends to it), and service host k (in
 * the order given) is just below the gateway: base + size - 3 - k.
 *
 * Labels: every container and network carries `org.fanout-lab.run=<prefix>` and the owner
 * (pid and argv of the lab process), so `fanout clean` can tell a killed run's leftovers from a
 * run in progress; they are the Docker backend's ledger.
 */
import type { Topology } from '../types.js';
import { PREFIX_PATTERN, PlanError } from '../netns/plan.js';

/** Where every lab Docker network lives. */
export const DOCKER_SUPERNET = '198.19.0.0/16';
/** Prefix length of one run's block. */
export const BLOCK_PREFIX_LEN = 20;
/** Blocks in the supernet. */
export const BLOCK_COUNT = 1 << (BLOCK_PREFIX_LEN - 16);
const BLOCK_SIZE = 1 << (32 - BLOCK_PREFIX_LEN);
const SUPERNET_BASE = 198 * 2 ** 24 + 19 * 2 ** 16; // 198.19.0.0, unsigned
/** Receivers one block holds: its size minus network, sender, gateway and broadcast. */
export const MAX_DOCKER_RECEIVERS = BLOCK_SIZE - 4;

/** Where a receiver stores inside its container: the run's out dir on this machine, bind-mounted. */
export const CONTAINER_OUT_DIR = '/out';

/** Label keys. */
export const LABEL_RUN = 'org.fanout-lab.run';
export const LABEL_ROLE = 'org.fanout-lab.role';
export const LABEL_INDEX = 'org.fanout-lab.index';
export const LABEL_OWNER_PID = 'org.fanout-lab.owner-pid';
/** The owner's argv as JSON (compared with /proc/<pid>/cmdline to tell a live owner from a reused pid). */
export const LABEL_OWNER_CMDLINE = 'org.fanout-lab.owner-cmdline';
/** On images the lab builds: `base` or `receiver`. */
export const LABEL_IMAGE = 'org.fanout-lab.image';

export type DockerRole = 'sender' | 'receiver' | 'service' | 'network';

/** A service host's name (`tracker`): it goes into a container name. */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

/** The process that owns a run (the lab). */
export interface Owner {
  pid: number;
  cmdline?: string[];
}

/** One host (a container). */
export interface DockerHostPlan {
  role: 'sender' | 'receiver' | 'service';
  /** Receiver index; null for the sender and services. */
  index: number | null;
  /** A service host's name (`tracker`); absent otherwise. */
  service?: string;
  /** Container name. */
  name: string;
  address: string;
  /** Shaped on the host side of the container's veth (egress towards it), bit/s; Infinity = unshaped. */
  downBps: number;
  /** Shaped on `eth0` inside the container, bit/s; Infinity = unshaped. */
  upBps: number;
}

/** The whole Docker lab network, described. */
export interface DockerPlan {
  prefix: string;
  /** Docker network name. */
  network: string;
  /** The bridge device Docker makes for it (root namespace). */
  bridge: string;
  block: number;
  subnet: string;
  gateway: string;
  sender: DockerHostPlan;
  /** In index order. */
  receivers: DockerHostPlan[];
  /** Service hosts (unshaped), in the order asked for. */
  services: DockerHostPlan[];
}

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function parseIpv4(s: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return null;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return null;
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

/** `a.b.c.d/len` as [first, last] address numbers, or null when it is not an IPv4 CIDR. */
export function cidrRange(cidr: string): [number, number] | null {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr.trim());
  if (!m) return null;
  const base = parseIpv4(m[1]!);
  const len = Number(m[2]);
  if (base === null || len > 32) return null;
  const size = 2 ** (32 - len);
  const first = Math.floor(base / size) * size;
  return [first, first + size - 1];
}

/** Block k's subnet and gateway. */
export function blockSubnet(block: number): { subnet: string; gateway: string; base: number } {
  if (!Number.isInteger(block) || block < 0 || block >= BLOCK_COUNT) throw new PlanError(`block ${block} out of range 0..${BLOCK_COUNT - 1}`);
  const base = SUPERNET_BASE + block * BLOCK_SIZE;
  return { subnet: `${ipv4(base)}/${BLOCK_PREFIX_LEN}`, gateway: ipv4(base + BLOCK_SIZE - 2), base };
}

/**
 * The blocks no present network overlaps, in order (`usedSubnets`: the IPAM subnets of every
 * Docker network; anything that is not an IPv4 CIDR is ignored).
 */
export function freeBlocks(usedSubnets: readonly string[]): number[] {
  const used = usedSubnets.map(cidrRange).filter((r): r is [number, number] => r !== null);
  const out: number[] = [];
  for (let k = 0; k < BLOCK_COUNT; k++) {
    const lo = SUPERNET_BASE + k * BLOCK_SIZE;
    const hi = lo + BLOCK_SIZE - 1;
    if (!used.some(([a, b]) => a <= hi && b >= lo)) out.push(k);
  }
  return out;
}

function checkRate(path: string, bps: number): number {
  if (bps === Infinity) return bps;
  if (typeof bps !== 'number' || !Number.isFinite(bps) || bps <= 0) {
    throw new PlanError(`${path}: expected a positive rate in bit/s or Infinity (got ${String(bps)})`);
  }
  return bps;
}

/**
 * Describe the Docker lab network for `topology` under run `prefix` in block `block`, with the
 * service hosts `services` (names such as `tracker`).
 */
export function planDockerNetwork(topology: Pick<Topology, 'receivers' | 'sender'>, prefix: string, block: number, services: readonly string[] = []): DockerPlan {
  if (!PREFIX_PATTERN.test(prefix)) throw new PlanError(`run prefix ${JSON.stringify(prefix)} does not match ${PREFIX_PATTERN}`);
  for (const s of services) if (!SERVICE_NAME_PATTERN.test(s)) throw new PlanError(`service host name ${JSON.stringify(s)} does not match ${SERVICE_NAME_PATTERN}`);
  if (new Set(services).size !== services.length) throw new PlanError(`service hosts named twice: ${services.join(', ')}`);
  const room = MAX_DOCKER_RECEIVERS - services.length;
  if (topology.receivers.length > room) {
    throw new PlanError(
      `${topology.receivers.length} receivers: at most ${room} fit in one /${BLOCK_PREFIX_LEN} of ${DOCKER_SUPERNET}${services.length > 0 ? ` beside ${services.length} service host(s)` : ''}`,
    );
  }
  const { subnet, gateway, base } = blockSubnet(block);
  const receivers = topology.receivers.map((r, i): DockerHostPlan => {
    if (r.index !== i) throw new PlanError(`receivers[${i}].index: expected ${i} (got ${r.index})`);
    return {
      role: 'receiver',
      index: i,
      name: `${prefix}-r${i}`,
      address: ipv4(base + 2 + i),
      downBps: checkRate(`receivers[${i}].downBps`, r.downBps),
      upBps: checkRate(`receivers[${i}].upBps`, r.upBps),
    };
  });
  return {
    prefix,
    network: `${prefix}-net`,
    bridge: `${prefix}-br`,
    block,
    subnet,
    gateway,
    sender: { role: 'sender', index: null, name: `${prefix}-s`, address: ipv4(base + 1), downBps: Infinity, upBps: checkRate('sender.upBps', topology.sender.upBps) },
    receivers,
    services: services.map((name, k): DockerHostPlan => ({
      role: 'service',
      index: null,
      service: name,
      name: `${prefix}-x${name}`,
      address: ipv4(base + BLOCK_SIZE - 3 - k),
      downBps: Infinity,
      upBps: Infinity,
    })),
  };
}

/** The labels of one object of run `prefix`. */
export function labLabels(prefix: string, role: DockerRole, owner: Owner, index?: number): Record<string, string> {
  const labels: Record<string, string> = { [LABEL_RUN]: prefix, [LABEL_ROLE]: role, [LABEL_OWNER_PID]: String(owner.pid) };
  if (owner.cmdline !== undefined) labels[LABEL_OWNER_CMDLINE] = JSON.stringify(owner.cmdline);
  if (index !== undefined) labels[LABEL_INDEX] = String(index);
  return labels;
}

/** The Docker list filter for one run's objects, or every lab object. */
export function runFilter(prefix?: string): { label: string[] } {
  return { label: [prefix === undefined ? LABEL_RUN : `${LABEL_RUN}=${prefix}`] };
}

/** The owner recorded in an object's labels (null when they are missing or malformed). */
export function ownerOf(labels: Readonly<Record<string, string>> | undefined): Owner | null {
  const pid = Number(labels?.[LABEL_OWNER_PID]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const raw = labels?.[LABEL_OWNER_CMDLINE];
  if (raw === undefined) return { pid };
  try {
    const argv: unknown = JSON.parse(raw);
    if (Array.isArray(argv) && argv.every((w) => typeof w === 'string')) return { pid, cmdline: argv as string[] };
  } catch {
    // malformed: owner without argv
  }
  return { pid };
}
