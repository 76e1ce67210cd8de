/**
 * Pure builders: a NetnsPlan in, `ip` / `tc` invocations out (argv arrays, with batch text as
 * `input` for `ip -batch -` / `tc -batch -`). Nothing here runs anything; a Commander does.
 *
 * Every invocation that touches an interface names its namespace with `-n <ns>` (a lab
 * namespace); no builder ever produces an `ip link` / `tc` command for the root namespace.
 * The only root-namespace commands are `ip netns add/del <prefix>-...`.
 *
 * Shaping follows LAB-NOTES: HTB with one default class whose rate equals its ceil,
 *
 *   qdisc replace dev D root handle 1: htb default 1
 *   class replace dev D parent 1: classid 1:1 htb rate Rbit ceil Rbit burst Bb cburst Bb
 *
 * on the bridge-side veth for a receiver's download and on `eth0` inside the host for its upload.
 * A timed change is `class change` in place (no qdisc delete/re-add: that glitches).
 *
 * Burst: tc's default HTB burst is rate/HZ + MTU, where HZ comes from /proc/net/psched. On a
 * high-resolution-timer kernel (this one: HZ reads as 1e9) that is just ~1600 bytes at any rate.
 * HTB caps its saved-up tokens at `burst`, so whenever its wake-up timer fires late by more
 * than burst/rate, the link loses the time it overslept: at 1 Gbit/s, 1600 bytes is 13 us, far
 * below real timer/softirq latency on a busy 2-vCPU VM, and TSO/GSO skbs of up to 64 KiB make
 * every send a wait. So we write the burst explicitly as one millisecond at the rate plus one
 * MTU-sized frame (tc's own default on an HZ=1000 kernel): 1725 B at 1 Mbit/s, 7850 B at
 * 50 Mbit/s, 126600 B at 1 Gbit/s (tc prints it rounded to its clock ticks, e.g. 126375b). The cost is at most 1 ms of line-rate burst, which
 * is nothing against transfers of a second or more; and the commands no longer depend on the
 * machine's timer resolution.
 */
import { HOST_IFNAME, LAB_PREFIX_LEN, planHosts, planNamespaces, type HostPlan, type NetnsPlan } from './plan.js';

/** One command for a Commander: argv, plus stdin text for batch mode. */
export interface Invocation {
  argv: string[];
  input?: string;
}

/** The bytes tc assumes per frame when it pads a burst (its own default MTU term). */
export const HTB_MTU_BYTES = 1600;
/** How much line-rate time the burst covers (see the banner). */
export const HTB_BURST_MS = 1;

/** `['ip','netns','exec',ns,...argv]`. */
export function execInNamespace(ns: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', ns, ...argv];
}

function batch(argv: string[], lines: readonly string[]): Invocation {
  return { argv, input: lines.map((l) => `${l}\n`).join('') };
}

/** A rate as tc reads it: integer bit/s with the `bit` unit, e.g. `20000000bit`. */
export function htbRate(rateBps: number): string {
  if (!Number.isFinite(rateBps) || rateBps <= 0) throw new RangeError(`not a finite positive rate: ${rateBps}`);
  return `${Math.max(1, Math.round(rateBps))}bit`;
}

/** The burst (and cburst) in bytes for `rateBps`: 1 ms at the rate plus one frame. */
export function htbBurstBytes(rateBps: number): number {
  return Math.ceil((rateBps / 8) * (HTB_BURST_MS / 1000)) + HTB_MTU_BYTES;
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
 * Lines for the bridge namespace: lo, the bridge, and one veth per host (peer made as eth0 in the
 * host). `addrgenmode none` keeps IPv6 link-local addresses (and with them router solicitations,
 * DAD and MLD chatter) off the lab's links, so only the transfer crosses the shaped queues.
 */
export function bridgeSetupLines(plan: NetnsPlan): string[] {
  const lines = ['link set lo up', `link add ${plan.bridge} type bridge`, `link set ${plan.bridge} addrgenmode none`];
  for (const h of planHosts(plan)) {
    lines.push(
      `link add ${h.bridgePort} type veth peer name ${HOST_IFNAME} netns ${h.ns}`,
      `link set ${h.bridgePort} addrgenmode none master ${plan.bridge} up`,
    );
  }
  lines.push(`link set ${plan.bridge} up`);
  return lines;
}

/** `ip -n <bridge ns> -batch -` building the bridge and every veth pair. */
export function bridgeSetup(plan: NetnsPlan): Invocation {
  return batch(['ip', '-n', plan.bridgeNs, '-batch', '-'], bridgeSetupLines(plan));
}

/** Lines for one host namespace: lo up, no IPv6 link-local on eth0, the address, eth0 up. */
export function hostSetupLines(host: HostPlan): string[] {
  return [
    'link set lo up',
    `link set ${host.ifname} addrgenmode none`,
    // Small GSO packets only. HTB charges a whole GSO skb (up to 64 KiB) when its bucket holds
    // any tokens, so with full-size GSO the last super-packet of a transfer slips through unpaid:
    // a 1 MiB fragment beat its 8 Mbit/s link by up to 5 %, and the lower bound stopped being
    // one. With at most 8 segments per skb the slip is at most ~12 KB (1.1 % of 1 MiB; measured:
    // 92.5-94.4 % goodput, never above the rate), and the CPU cost stays low: 64 receivers at a
    // 200 Mbit/s aggregate ran with a fifth of the CPU idle, where 1 segment per skb saturated
    // both cores at about 150 Mbit/s.
    `link set ${host.ifname} gso_max_segs 8`,
    `addr add ${host.address}/${LAB_PREFIX_LEN} dev ${host.ifname}`,
    `link set ${host.ifname} up`,
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

// ---- shaping --------------------------------------------------------------------------------

/** The two HTB lines (qdisc + class 1:1, rate = ceil) shaping `dev` to `rateBps`. */
export function shapeLines(dev: string, rateBps: number): string[] {
  return [`qdisc replace dev ${dev} root handle 1: htb default 1`, `class replace dev ${dev} ${htbClassArgs(rateBps)}`];
}

/** `parent 1: classid 1:1 htb rate R ceil R burst B cburst B` */
export function htbClassArgs(rateBps: number): string {
  const r = htbRate(rateBps);
  const b = `${htbBurstBytes(rateBps)}b`;
  return `parent 1: classid 1:1 htb rate ${r} ceil ${r} burst ${b} cburst ${b}`;
}

/** Lines for `tc -n <bridge ns> -batch -`: every shaped download. */
export function bridgeShapingLines(plan: NetnsPlan): string[] {
  return planHosts(plan)
    .filter((h) => h.downBps !== Infinity)
    .flatMap((h) => shapeLines(h.bridgePort, h.downBps));
}

/** Lines for `tc -n <host ns> -batch -`: the host's upload (empty when unshaped). */
export function hostShapingLines(host: HostPlan): string[] {
  return host.upBps === Infinity ? [] : shapeLines(host.ifname, host.upBps);
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
