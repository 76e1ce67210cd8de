/**
 * Pure builders: a NetnsPlan in, `ip` / `tc` invocations out (argv arrays, with batch text as
 * `input` for `ip -batch -` / `tc -batch -`). Nothing here runs anything; a Commander does.
 *
 * Every invocation that touches an interface names its namespace with `-n <ns>` (a lab
 * namespace); no builder ever produces an `ip link` / `tc` command for the root namespace.
 * The only root-namespace commands are `ip netns add/del <prefix>-...`.
 *
 * Shaping (the HTB recipe, its burst, `gso_max_segs`) is shared with the docker backend and lives
 * in lab/shaping.ts; here it is only placed: downloads on the bridge-side veth of each host,
 * uploads on `eth0` inside the host. Its builders are re-exported for existing callers.
 */
import { pinnedNeighbourLines } from '../neighbours.js';
import { GSO_MAX_SEGS, htbClassArgs, initialShapeLines, shapeLines, trunkShapeLines } from '../shaping.js';
import { HOST_IFNAME, LAB_PREFIX_LEN, planHosts, planNamespaces, portMaster, type HostPlan, type NetnsPlan } from './plan.js';

export { HTB_BURST_MS, HTB_MTU_BYTES, htbBurstBytes, htbClassArgs, htbRate, shapeLines } from '../shaping.js';

/** One command for a Commander: argv, plus stdin text for batch mode. */
export interface Invocation {
  argv: string[];
  input?: string;
}

/** `['ip','netns','exec',ns,...argv]`. */
export function execInNamespace(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

function batch(argv: string[], lines: readonly string[]): Invocation {
  return { argv, input: lines.map((l) => `${l}\n`).join('') };
}

// ---- bring-up -------------------------------------------------------------------------------

/** Lines for `ip -batch -` that create every namespace of the plan. */
export function createNamespacesLines(plan: NetnsPlan): string[] {
  return planNamespaces(plan).map((ns) => `netns add ${ns}`);
}

/** `ip -batch -` creating every namespace (fails on the first one that already exists). */
export function createNamespaces(plan: NetnsPlan): Invocation {
  return batch(['ip', '-batch', '-'], createNamespacesLines(plan));
}

/**
 * Multicast on the lab's bridge, set explicitly (not left to the kernel's defaults): IGMP snooping
 * off, so the bridge floods every multicast frame to every port but the one it came in on, and no
 * querier. Why not snooping with a querier: snooping forwards a group only to ports whose hosts
 * answered a query, which makes delivery depend on IGMP timing (a receiver that joined just before
 * the first query, a report lost, the 260 s membership timeout) and adds IGMP traffic to the shaped
 * links; every host on a lab bridge is a node of the run, so flooding costs nothing a receiver would
 * not pay anyway. The result is what the bounds assume: one multicast packet costs the source's up
 * link once and each other host's down link once (the bridge replicates it; the shaping on each
 * port's egress counts each copy). A service host (a tracker) also receives the copies, on its
 * unshaped port. Site bridges get the same settings: a multicast packet crosses a site's trunk
 * once, and the site's bridge replicates it to its receivers.
 */
export const BRIDGE_MULTICAST_OPTS = 'mcast_snooping 0 mcast_querier 0';

/** IPv4 multicast: the whole 224.0.0.0/4 goes out of the host's one lab interface (lab/netns only has eth0). */
export const MULTICAST_ROUTE = '224.0.0.0/4';

/**
 * Lines for the bridge namespace: lo, the bridge (multicast settings above), and one veth per host
 * (peer made as eth0 in the host). `addrgenmode none` keeps IPv6 link-local addresses (and with
 * them router solicitations, DAD and MLD chatter) off the lab's links, so only the transfer crosses
 * the shaped queues.
 */
export function bridgeSetupLines(plan: NetnsPlan): string[] {
  const lines = ['link set lo up', `link add ${plan.bridge} type bridge ${BRIDGE_MULTICAST_OPTS}`, `link set ${plan.bridge} addrgenmode none`];
  // Sites: a bridge each (the same multicast settings), joined to the core bridge by a veth trunk with both ends in this namespace.
  for (const s of plan.sites) {
    lines.push(
      `link add ${s.bridge} type bridge ${BRIDGE_MULTICAST_OPTS}`,
      `link set ${s.bridge} addrgenmode none`,
      `link add ${s.coreEnd} type veth peer name ${s.siteEnd}`,
      `link set ${s.coreEnd} addrgenmode none master ${plan.bridge} up`,
      `link set ${s.siteEnd} addrgenmode none master ${s.bridge} up`,
    );
  }
  for (const h of planHosts(plan)) {
    lines.push(
      `link add ${h.bridgePort} type veth peer name ${HOST_IFNAME} netns ${h.ns}`,
      `link set ${h.bridgePort} addrgenmode none master ${portMaster(plan, h)} up`,
    );
  }
  for (const s of plan.sites) lines.push(`link set ${s.bridge} up`);
  lines.push(`link set ${plan.bridge} up`);
  return lines;
}

/** `ip -n <bridge ns> -batch -` building the bridge and every veth pair. */
export function bridgeSetup(plan: NetnsPlan): Invocation {
  return batch(['ip', '-n', plan.bridgeNs, '-batch', '-'], bridgeSetupLines(plan));
}

/**
 * Lines for one host namespace: lo up, no IPv6 link-local on eth0, the address, eth0 up, and the
 * multicast route (without it a host, which has no default route, cannot send to a group:
 * ENETUNREACH; with it, multicast leaves only through eth0, onto the lab's bridge).
 */
export function hostSetupLines(host: HostPlan): string[] {
  return [
    'link set lo up',
    `link set ${host.ifname} addrgenmode none`,
    // Small GSO packets only (why: lab/shaping.ts).
    `link set ${host.ifname} gso_max_segs ${GSO_MAX_SEGS}`,
    `addr add ${host.address}/${LAB_PREFIX_LEN} dev ${host.ifname}`,
    `link set ${host.ifname} up`,
    `route add ${MULTICAST_ROUTE} dev ${host.ifname}`,
  ];
}

/**
 * `ip -j -n <host ns> -batch -` configuring one host and then listing its links (the last line,
 * `link show`, prints the JSON the safety check reads, so one process does both).
 */
export function hostSetup(host: HostPlan): Invocation {
  return batch(['ip', '-j', '-n', host.ns, '-batch', '-'], [...hostSetupLines(host), 'link show']);
}

/** `ip -n <ns> -j link show`: the listing the safety check reads. */
export function listLinks(ns: string): Invocation {
  return { argv: ['ip', '-n', ns, '-j', 'link', 'show'] };
}

/**
 * Lines for `ip -n <host ns> -batch -`: a permanent neighbour entry for every other host of the
 * plan (its address and eth0's MAC). Why: lab/neighbours.ts.
 */
export function neighbourLines(plan: NetnsPlan, host: HostPlan, macOf: (h: HostPlan) => string): string[] {
  return pinnedNeighbourLines(planHosts(plan).filter((h) => h !== host).map((h) => ({ address: h.address, mac: macOf(h) })), host.ifname);
}

/** `ip -n <host ns> -batch -` pinning the host's neighbours. */
export function pinNeighbours(plan: NetnsPlan, host: HostPlan, macOf: (h: HostPlan) => string): Invocation {
  return batch(['ip', '-n', host.ns, '-batch', '-'], neighbourLines(plan, host, macOf));
}

// ---- shaping --------------------------------------------------------------------------------

/** Lines for `tc -n <bridge ns> -batch -`: every shaped download, then every site's trunk (down on its core end, up on its site end). */
export function bridgeShapingLines(plan: NetnsPlan): string[] {
  return [
    ...planHosts(plan)
      .filter((h) => h.downBps !== Infinity)
      .flatMap((h) => shapeLines(h.bridgePort, h.downBps)),
    ...plan.sites.flatMap((s) => trunkShapeLines(s.coreEnd, s.downBps, s.siteEnd, s.upBps)),
  ];
}

/** Lines for `tc -n <host ns> -batch -`: the host's upload (empty when unshaped). */
export function hostShapingLines(host: HostPlan): string[] {
  return initialShapeLines(host.ifname, host.upBps);
}

/** `tc -n <ns> -batch -` with `lines`. */
export function tcBatch(ns: string, lines: readonly string[]): Invocation {
  return batch(['tc', '-n', ns, '-batch', '-'], lines);
}

/**
 * Every shaping invocation of the plan: one tc batch for the bridge namespace (downloads), one
 * per host with a shaped upload. Empty batches are left out.
 */
export function shapingInvocations(plan: NetnsPlan): Invocation[] {
  const out: Invocation[] = [];
  const br = bridgeShapingLines(plan);
  if (br.length > 0) out.push(tcBatch(plan.bridgeNs, br));
  for (const h of planHosts(plan)) {
    const lines = hostShapingLines(h);
    if (lines.length > 0) out.push(tcBatch(h.ns, lines));
  }
  return out;
}

/** Every bring-up invocation in order (bridge listing and host setups may run in parallel). */
export function bringUpInvocations(plan: NetnsPlan): Invocation[] {
  return [createNamespaces(plan), bridgeSetup(plan), listLinks(plan.bridgeNs), ...planHosts(plan).map(hostSetup), ...shapingInvocations(plan)];
}

/** Change the rate of an already shaped `dev` in place: `tc -n ns class change ...`. */
export function changeRate(ns: string, dev: string, rateBps: number): Invocation {
  return { argv: ['tc', '-n', ns, 'class', 'change', 'dev', dev, ...htbClassArgs(rateBps).split(' ')] };
}

/** Shape a `dev` that had no qdisc (it was unshaped): `tc -n ns -batch -` with shapeLines. */
export function installRate(ns: string, dev: string, rateBps: number): Invocation {
  return tcBatch(ns, shapeLines(dev, rateBps));
}

/** Remove shaping from `dev` (a change to Infinity): `tc -n ns qdisc del dev D root`. */
export function removeRate(ns: string, dev: string): Invocation {
  return { argv: ['tc', '-n', ns, 'qdisc', 'del', 'dev', dev, 'root'] };
}

// ---- teardown -------------------------------------------------------------------------------

/**
 * `ip -force -batch -` deleting `namespaces` (-force: keep going past one already gone; the
 * exit code is then non-zero and the caller re-lists to see what is left). Deleting a namespace
 * deletes every interface in it, and a veth dies with either end.
 */
export function deleteNamespaces(namespaces: readonly string[]): Invocation {
  return batch(['ip', '-force', '-batch', '-'], namespaces.map((ns) => `netns del ${ns}`));
}

/** `ip -n <ns> link del <name>`. */
export function deleteLink(ns: string, name: string): Invocation {
  return { argv: ['ip', '-n', ns, 'link', 'del', name] };
}

/** `ip -j netns list`. */
export function listNamespaces(): Invocation {
  return { argv: ['ip', '-j', 'netns', 'list'] };
}

/** Parse `ip -j netns list` output (`[{"name":"fl12ab-r0","id":3}]`; empty output = none). */
export function parseNetnsList(stdout: string): string[] {
  const text = stdout.trim();
  if (text === '') return [];
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) throw new SyntaxError('ip -j netns list: expected a JSON array');
  return parsed
    .map((e: unknown) => (typeof e === 'object' && e !== null ? (e as { name?: unknown }).name : undefined))
    .filter((n): n is string => typeof n === 'string');
}
