/**
 * Pure builders for the Docker backend's `ip` / `tc` invocations (argv arrays plus batch text as
 * `input`); a Commander runs them. Containers have no named namespace, so commands reach a
 * container's network namespace with `nsenter -t <pid> -n` (network namespace only: the
 * filesystem, and so /sys, stay the host's; see veth.ts for the trap that sets). Inside a
 * container the lab touches only `eth0`; in the machine's own namespace only the host side of a
 * lab container's veth, after veth.ts has proved it is one.
 *
 * The shaping lines themselves come from lab/shaping.ts, exactly as the netns backend's.
 */
import { pinnedNeighbourLines } from '../neighbours.js';
import type { Invocation } from '../netns/commands.js';
import { lossRuleset } from '../loss.js';
import { GSO_MAX_SEGS, initialShapeLines, rateChangeLines } from '../shaping.js';

/** The interface name Docker gives a container's link. */
export const CONTAINER_IFNAME = 'eth0';

function batch(argv: string[], lines: readonly string[]): Invocation {
  return { argv, input: lines.map((l) => `${l}\n`).join('') };
}

function checkPid(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 1) throw new RangeError(`not a container process id: ${pid}`);
  return String(pid);
}

/** `nsenter -t PID -n -- argv...`: argv in the network namespace of process `pid`. */
export function nsenterNet(pid: number, argv: readonly string[]): string[] {
  return ['nsenter', '-t', checkPid(pid), '-n', '--', ...argv];
}

/**
 * `nsenter -t PID -m -n -p -i -u -- argv...`: argv INSIDE the container of process `pid`: its
 * filesystem (argv[0] is resolved in the container's image), network, process, IPC and UTS
 * namespaces. With -p nsenter forks: the program is nsenter's child (backend.ts signals it
 * there), and it dies with the container's process 1 when the container is removed.
 */
export function nsenterInside(pid: number, argv: readonly string[]): string[] {
  return ['nsenter', '-t', checkPid(pid), '-m', '-n', '-p', '-i', '-u', '--', ...argv];
}

/**
 * Random loss in a container's network namespace: lab/loss.ts's nftables ruleset (input hook =
 * its download, output hook = its upload), applied with the host's nft through nsenter -n.
 */
export function containerLoss(pid: number, downPct: number, upPct: number): Invocation {
  return { argv: nsenterNet(pid, ['nft', '-f', '-']), input: lossRuleset(downPct, upPct) };
}

/**
 * One `ip -j -batch -` in a container's namespace: small GSO packets on eth0 (lab/shaping.ts),
 * then list eth0, whose JSON is what veth.ts reads.
 */
export function containerSetup(pid: number): Invocation {
  return batch(nsenterNet(pid, ['ip', '-j', '-batch', '-']), [
    `link set ${CONTAINER_IFNAME} gso_max_segs ${GSO_MAX_SEGS}`,
    `link show ${CONTAINER_IFNAME}`,
  ]);
}

/** `nsenter -t PID -n ip -batch -`: a permanent neighbour entry in the container for each of `peers` (why: lab/neighbours.ts). */
export function containerNeighbours(pid: number, peers: readonly { address: string; mac: string }[]): Invocation {
  return batch(nsenterNet(pid, ['ip', '-batch', '-']), pinnedNeighbourLines(peers, CONTAINER_IFNAME));
}

/** `nsenter -t PID -n ip -j link show eth0`. */
export function containerLinkShow(pid: number): Invocation {
  return { argv: nsenterNet(pid, ['ip', '-j', 'link', 'show', CONTAINER_IFNAME]) };
}

/** `ip -j link show`: the machine's own namespace, every interface (the veth check reads it). */
export function hostLinkShow(): Invocation {
  return { argv: ['ip', '-j', 'link', 'show'] };
}

/** `nsenter -t PID -n tc -batch -` with `lines`, or null when there is nothing to do. */
export function containerTc(pid: number, lines: readonly string[]): Invocation | null {
  return lines.length === 0 ? null : batch(nsenterNet(pid, ['tc', '-batch', '-']), lines);
}

/** `tc -batch -` in the machine's own namespace with `lines`, or null when empty. */
export function hostTc(lines: readonly string[]): Invocation | null {
  return lines.length === 0 ? null : batch(['tc', '-batch', '-'], lines);
}

/** The upload of a container: HTB on its eth0 (inside), none when unshaped. */
export function uploadShapeLines(upBps: number): string[] {
  return initialShapeLines(CONTAINER_IFNAME, upBps);
}

/** Downloads: HTB on each proved host-side veth (egress towards its container). */
export function downloadShapeLines(ports: readonly { veth: string; downBps: number }[]): string[] {
  return ports.flatMap((p) => initialShapeLines(p.veth, p.downBps));
}

/** An upload change inside a container, in place. */
export function uploadChangeLines(fromBps: number, toBps: number): string[] {
  return rateChangeLines(CONTAINER_IFNAME, fromBps, toBps);
}
