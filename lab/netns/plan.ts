/**
 * Describe, then build: the names and addresses of a netns lab network, as plain data. Pure.
 *
 * Layout (one run, prefix `fl` + 4 hex, e.g. `fl3a9c`):
 *
 *   namespace fl3a9c-br   bridge `fl3a9c-br`, one veth port per host:
 *                         `fl3a9c-s` (to the sender), `fl3a9c-r0` .. `fl3a9c-r<n-1>` (to receivers)
 *   namespace fl3a9c-s    the sender; its end of the veth is `eth0`, 198.18.0.1/15
 *   namespace fl3a9c-r<i> receiver i; `eth0`, receiverAddress(i)/15
 *   namespace fl3a9c-v<k> service host k (a protocol's helper, e.g. a BitTorrent tracker): not a
 *                         receiver and not shaped; `eth0`, serviceAddress(k)/15
 *
 * Sites (Topology.sites), all inside the bridge namespace, for site k:
 *                         bridge `fl3a9c-b<k>`, and a veth trunk `fl3a9c-t<k>` (core end, a port of
 *                         `fl3a9c-br`) <-> `fl3a9c-u<k>` (site end, a port of `fl3a9c-b<k>`);
 *                         the site's receivers' ports `fl3a9c-r<i>` are ports of `fl3a9c-b<k>`
 *                         instead of the core bridge. Trunk down (into the site) is shaped on the
 *                         core end's egress, trunk up (out of it) on the site end's egress. So two
 *                         receivers of one site talk through their site bridge only, and anything
 *                         between the site and the rest crosses the trunk once each way.
 *
 * Every namespace also brings its `lo` up. Nothing is ever created in the root namespace: the
 * veth is made inside the bridge namespace with its peer created directly as `eth0` inside the
 * host namespace (`link add P type veth peer name eth0 netns H`), so no interface ever carries a
 * host-ish name in the machine's own namespace, and nothing is renamed.
 *
 * What "an interface the lab made" means (the safety rule every tc/ip change checks):
 *   - it is listed by `ip -n <ns> -j link show` in a namespace whose name is `<prefix>-...`
 *     for this run's prefix, and the namespace is the one the plan expects for it; and
 *   - in the bridge namespace its name carries the prefix (`<prefix>-...`); in a host namespace
 *     its name is exactly `eth0` (the only non-lo interface the lab puts there).
 *
 * Addresses are in 198.18.0.0/15 (RFC 2544, benchmarking): the sender is 198.18.0.1, receiver i
 * is 198.18.0.0 + 2 + i (198.18.0.2, ..., 198.18.0.255, 198.18.1.0, ...). The bridge has none.
 *
 * Rates: bit/s of link rate, as HTB counts whole Ethernet frames. `Infinity` means "unshaped"
 * (no qdisc is installed on that direction); any other rate must be a positive finite number.
 */
import { randomBytes } from 'node:crypto';
import type { Topology } from '../types.js';

/** A run prefix: `fl` + 4 lowercase hex digits. */
export const PREFIX_PATTERN = /^fl[0-9a-f]{4}$/;
/** Any object name the lab makes: `<prefix>-...`. */
export const LAB_NAME_PATTERN = /^fl[0-9a-f]{4}-/;
/** The lab's address block. */
export const LAB_SUBNET = '198.18.0.0/15';
/** Prefix length of every lab address. */
export const LAB_PREFIX_LEN = 15;
/** The interface name inside every host namespace. */
export const HOST_IFNAME = 'eth0';
/** Linux IFNAMSIZ - 1. */
export const MAX_IFNAME_LEN = 15;

const SUBNET_BASE = (198 << 24) + (18 << 16); // 198.18.0.0 as an unsigned number
const SUBNET_SIZE = 1 << 17; // a /15
/** Receiver indexes 0 .. MAX_RECEIVERS - 1 get an address (network, sender and broadcast excluded). */
export const MAX_RECEIVERS = SUBNET_SIZE - 3;

/** Bad input to the planner (a bad rate, too many receivers, a malformed prefix). */
export class PlanError extends Error {
  override readonly name = 'PlanError';
}

/** Make a fresh random run prefix, e.g. `fl3a9c`. */
export function makeRunPrefix(random: (n: number) => Uint8Array = randomBytes): string {
  const b = random(2);
  return `fl${Array.from(b.subarray(0, 2), (x) => x.toString(16).padStart(2, '0')).join('')}`;
}

/** True when `name` is an object name the lab could have made (any run). */
export function isLabName(name: string): boolean {
  return LAB_NAME_PATTERN.test(name);
}

/** The run prefix a lab name carries (`fl3a9c-r2` -> `fl3a9c`), or null. */
export function prefixOf(name: string): string | null {
  return isLabName(name) ? name.slice(0, 6) : null;
}

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** The sender's address. */
export function senderAddress(): string {
  return ipv4(SUBNET_BASE + 1);
}

/** Receiver i's address (unique per index, inside 198.18.0.0/15). */
export function receiverAddress(i: number): string {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_RECEIVERS) {
    throw new PlanError(`receiver index ${i} out of range 0..${MAX_RECEIVERS - 1}`);
  }
  return ipv4(SUBNET_BASE + 2 + i);
}

/** True when `addr` is a dotted IPv4 address inside 198.18.0.0/15. */
export function isLabAddress(addr: string): boolean {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(addr);
  if (!m) return false;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return false;
  return parts[0] === 198 && (parts[1] === 18 || parts[1] === 19);
}

/** Service hosts are numbered down from the top of the block (198.19.255.254, ...253, ...). */
export const MAX_SERVICES = 16;

/** Service host k's address. */
export function serviceAddress(k: number): string {
  if (!Number.isInteger(k) || k < 0 || k >= MAX_SERVICES) throw new PlanError(`service index ${k} out of range 0..${MAX_SERVICES - 1}`);
  return ipv4(SUBNET_BASE + SUBNET_SIZE - 2 - k);
}

/** One host (sender, receiver or service) of the lab network. */
export interface HostPlan {
  role: 'sender' | 'receiver' | 'service';
  /** Receiver index (service: its number); null for the sender. */
  index: number | null;
  /** A service host's name (e.g. `tracker`). */
  service?: string;
  /** Its namespace. */
  ns: string;
  /** Its interface inside `ns` (always `eth0`). */
  ifname: string;
  /** Its address (no prefix length). */
  address: string;
  /** The veth end in the bridge namespace that leads to this host. */
  bridgePort: string;
  /** Shaped on `bridgePort` (egress towards the host), bit/s; Infinity = unshaped. */
  downBps: number;
  /** Shaped on `eth0` inside `ns` (egress from the host), bit/s; Infinity = unshaped. */
  upBps: number;
  /** The bridge `bridgePort` is a port of, when it is a site's (default: the core bridge). */
  siteBridge?: string;
}

/** One site: its bridge and the trunk joining it to the core bridge, all in the bridge namespace. */
export interface SiteNetPlan {
  /** Index in Topology.sites. */
  index: number;
  name: string;
  /** `<prefix>-b<k>` */
  bridge: string;
  /** `<prefix>-t<k>`: the trunk's end on the core bridge; its egress is the trunk down. */
  coreEnd: string;
  /** `<prefix>-u<k>`: the trunk's end on the site bridge; its egress is the trunk up. */
  siteEnd: string;
  /** Into the site, bit/s (Infinity = unshaped). */
  downBps: number;
  /** Out of the site, bit/s (Infinity = unshaped). */
  upBps: number;
  receivers: number[];
}

/** The whole lab network, described. */
export interface NetnsPlan {
  prefix: string;
  /** The bridge namespace. */
  bridgeNs: string;
  /** The bridge device inside `bridgeNs`. */
  bridge: string;
  sender: HostPlan;
  /** In receiver-index order: receivers[i].index === i. */
  receivers: HostPlan[];
  /** Extra unshaped hosts a protocol asked for, in the order asked. */
  services: HostPlan[];
  /** Sites (empty when the topology has none). */
  sites: SiteNetPlan[];
}

/** The bridge a host's port belongs to: its site's, or the core bridge. */
export function portMaster(plan: NetnsPlan, h: HostPlan): string {
  return h.siteBridge ?? plan.bridge;
}

/** Every interface the plan puts in the bridge namespace with the bridge it is a port of (null: a bridge itself). */
export function bridgeNsInterfaces(plan: NetnsPlan): { name: string; master: string | null }[] {
  return [
    { name: plan.bridge, master: null },
    ...plan.sites.flatMap((s) => [
      { name: s.bridge, master: null },
      { name: s.coreEnd, master: plan.bridge },
      { name: s.siteEnd, master: s.bridge },
    ]),
    ...planHosts(plan).map((h) => ({ name: h.bridgePort, master: portMaster(plan, h) })),
  ];
}

/** At most this many sites (each is a bridge and a veth pair). */
export const MAX_SITES = 256;

/** Every namespace of the plan, bridge first, then sender, then receivers. */
export function planNamespaces(plan: NetnsPlan): string[] {
  return [plan.bridgeNs, plan.sender.ns, ...plan.receivers.map((r) => r.ns), ...plan.services.map((v) => v.ns)];
}

/** Every host of the plan, sender first. */
export function planHosts(plan: NetnsPlan): HostPlan[] {
  return [plan.sender, ...plan.receivers, ...plan.services];
}

function checkRate(path: string, bps: number): number {
  if (bps === Infinity) return bps;
  if (typeof bps !== 'number' || !Number.isFinite(bps) || bps <= 0) {
    throw new PlanError(`${path}: expected a positive rate in bit/s or Infinity (got ${String(bps)})`);
  }
  return bps;
}

function checkIfname(name: string): string {
  if (name.length > MAX_IFNAME_LEN) {
    throw new PlanError(`interface name ${name} is longer than ${MAX_IFNAME_LEN} characters`);
  }
  return name;
}

/**
 * Describe the lab network for `topology` under run `prefix`. Throws PlanError on a malformed
 * prefix, a bad rate (path named), receivers out of index order, or too many receivers.
 */
export function planNetwork(topology: Pick<Topology, 'receivers' | 'sender' | 'sites'>, prefix: string, services: readonly string[] = []): NetnsPlan {
  if (!PREFIX_PATTERN.test(prefix)) {
    throw new PlanError(`run prefix ${JSON.stringify(prefix)} does not match ${PREFIX_PATTERN}`);
  }
  if (services.length > MAX_SERVICES) throw new PlanError(`${services.length} service hosts: at most ${MAX_SERVICES}`);
  if (topology.receivers.length > MAX_RECEIVERS - MAX_SERVICES) {
    throw new PlanError(`${topology.receivers.length} receivers: at most ${MAX_RECEIVERS} fit in ${LAB_SUBNET}`);
  }
  const receivers = topology.receivers.map((r, i): HostPlan => {
    if (r.index !== i) throw new PlanError(`receivers[${i}].index: expected ${i} (got ${r.index})`);
    return {
      role: 'receiver',
      index: i,
      ns: `${prefix}-r${i}`,
      ifname: HOST_IFNAME,
      address: receiverAddress(i),
      bridgePort: checkIfname(`${prefix}-r${i}`),
      downBps: checkRate(`receivers[${i}].downBps`, r.downBps),
      upBps: checkRate(`receivers[${i}].upBps`, r.upBps),
    };
  });
  const sites = planSites(topology, prefix);
  for (const s of sites) for (const i of s.receivers) receivers[i]!.siteBridge = s.bridge;
  return {
    prefix,
    sites,
    bridgeNs: `${prefix}-br`,
    bridge: `${prefix}-br`,
    sender: {
      role: 'sender',
      index: null,
      ns: `${prefix}-s`,
      ifname: HOST_IFNAME,
      address: senderAddress(),
      bridgePort: `${prefix}-s`,
      downBps: checkRate('sender.downBps', topology.sender.downBps ?? Infinity),
      upBps: checkRate('sender.upBps', topology.sender.upBps),
    },
    receivers,
    services: services.map((name, k): HostPlan => {
      if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new PlanError(`service name ${JSON.stringify(name)}: expected lowercase letters, digits and dashes`);
      return {
        role: 'service',
        index: k,
        service: name,
        ns: `${prefix}-v${k}`,
        ifname: HOST_IFNAME,
        address: serviceAddress(k),
        bridgePort: checkIfname(`${prefix}-v${k}`),
        downBps: Infinity,
        upBps: Infinity,
      };
    }),
  };
}

function planSites(topology: Pick<Topology, 'receivers' | 'sites'>, prefix: string): SiteNetPlan[] {
  const sites = topology.sites ?? [];
  if (sites.length > MAX_SITES) throw new PlanError(`${sites.length} sites: at most ${MAX_SITES}`);
  const owner = new Map<number, number>();
  return sites.map((s, k): SiteNetPlan => {
    if (s.receivers.length === 0) throw new PlanError(`sites[${k}] (${s.name}): no receivers`);
    for (const i of s.receivers) {
      if (!(Number.isInteger(i) && i >= 0 && i < topology.receivers.length)) throw new PlanError(`sites[${k}] (${s.name}): no receiver ${i}`);
      const other = owner.get(i);
      if (other !== undefined) throw new PlanError(`sites[${k}] (${s.name}): receiver ${i} is already in sites[${other}]`);
      owner.set(i, k);
    }
    return {
      index: k,
      name: s.name,
      bridge: checkIfname(`${prefix}-b${k}`),
      coreEnd: checkIfname(`${prefix}-t${k}`),
      siteEnd: checkIfname(`${prefix}-u${k}`),
      downBps: checkRate(`sites[${k}].downBps`, s.downBps),
      upBps: checkRate(`sites[${k}].upBps`, s.upBps),
      receivers: [...s.receivers],
    };
  });
}
