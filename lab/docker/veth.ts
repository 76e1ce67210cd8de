/**
 * Which interface in the machine's own namespace is the host side of a container's link, proved
 * before tc touches it. Pure: listings come in as `ip -j link show` text.
 *
 * The trap (LAB-NOTES): `nsenter -t PID -n cat /sys/class/net/eth0/iflink` enters only the
 * network namespace, so sysfs is still the host's and the number read is the host's own eth0's
 * iflink; shaping "that" interface would throttle the machine's uplink. Instead the container's
 * eth0 is listed with `nsenter -t PID -n ip -j link show eth0` (netlink, answered by the
 * container's namespace), whose `link_index` is the peer's ifindex in the host namespace. The
 * host-side candidate is then accepted only if every one of these holds:
 *
 *   - the container listing is exactly one `eth0` with a `link_index` and a `link_netnsid`
 *     (its peer lives in another namespace);
 *   - the host namespace lists an interface with that ifindex, named like Docker's veths
 *     (`veth` + hex), whose own `link_index` is the container's eth0 ifindex (each end names the
 *     other) and whose peer is also in another namespace;
 *   - it is a port of the lab's own bridge (`master` = `<prefix>-br`), and that bridge is listed
 *     in the host namespace under the lab's name.
 *
 * Anything else is a SafetyError naming what did not match.
 */
import { SafetyError } from '../netns/safety.js';

export { SafetyError } from '../netns/safety.js';

/** The fields of one `ip -j link show` entry this check reads. */
export interface VethLink {
  ifindex: number;
  ifname: string;
  link_index?: number;
  link_netnsid?: number;
  master?: string;
  link_type?: string;
  /** The link-layer (MAC) address. */
  address?: string;
}

/** Docker's host-side veth names: `veth` + 7 hex digits (other lengths accepted, hex only). */
export const DOCKER_VETH_PATTERN = /^veth[0-9a-f]{4,11}$/;

/** Parse `ip -j link show` output (one JSON array; empty output = none). */
export function parseVethList(stdout: string): VethLink[] {
  const text = stdout.trim();
  const parsed: unknown = JSON.parse(text === '' ? '[]' : text);
  if (!Array.isArray(parsed)) throw new SyntaxError('ip -j link show: expected a JSON array');
  return parsed.map((e: unknown, i) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.ifname !== 'string' || typeof o.ifindex !== 'number') {
      throw new SyntaxError(`ip -j link show: entry ${i} lacks ifname/ifindex`);
    }
    const l: VethLink = { ifindex: o.ifindex, ifname: o.ifname };
    if (typeof o.link_index === 'number') l.link_index = o.link_index;
    if (typeof o.link_netnsid === 'number') l.link_netnsid = o.link_netnsid;
    if (typeof o.master === 'string') l.master = o.master;
    if (typeof o.link_type === 'string') l.link_type = o.link_type;
    if (typeof o.address === 'string') l.address = o.address;
    return l;
  });
}

/** The last JSON array in `ip -j -batch -` output (a batch's `link show` line prints one). */
export function lastJsonLine(stdout: string): string {
  const lines = stdout.split('\n').filter((l) => l.trimStart().startsWith('['));
  const last = lines[lines.length - 1];
  if (last === undefined) throw new SyntaxError('no JSON link listing in the output');
  return last;
}

/**
 * The container's eth0 from its own listing (`ip -j link show eth0` run in its namespace).
 * `what` names the container in errors.
 */
export function containerEth0(listing: readonly VethLink[], what: string): VethLink & { link_index: number } {
  const refuse = (why: string): never => {
    throw new SafetyError(`${what}: cannot find the host side of its eth0: ${why}`);
  };
  if (listing.length !== 1 || listing[0]!.ifname !== 'eth0') refuse(`expected one eth0 in its listing, got ${listing.map((l) => l.ifname).join(', ') || 'none'}`);
  const eth0 = listing[0]!;
  if (eth0.link_index === undefined) refuse('eth0 has no link_index (not a veth?)');
  if (eth0.link_netnsid === undefined) refuse('eth0 has no link_netnsid: its peer is not in another namespace');
  return eth0 as VethLink & { link_index: number };
}

/**
 * The host-side veth of a container: its name in the host namespace, after every check in the
 * banner. `eth0` is the container's own listing entry, `host` the host namespace's full listing,
 * `bridge` the lab's bridge name.
 */
export function hostVethFor(eth0: VethLink, host: readonly VethLink[], bridge: string, what: string): string {
  const refuse = (why: string): never => {
    throw new SafetyError(`${what}: refusing to shape the host side of its eth0: ${why}`);
  };
  const checked = containerEth0([eth0], what);
  if (!/^fl[0-9a-f]{4}-br$/.test(bridge)) refuse(`${bridge} is not a lab bridge name`);
  if (!host.some((l) => l.ifname === bridge)) refuse(`the lab's bridge ${bridge} is not in the host namespace`);
  const peer = host.find((l) => l.ifindex === checked.link_index);
  if (peer === undefined) refuse(`no interface with ifindex ${checked.link_index} in the host namespace`);
  const p = peer!;
  if (!DOCKER_VETH_PATTERN.test(p.ifname)) refuse(`ifindex ${p.ifindex} is ${p.ifname}, not a Docker veth`);
  if (p.link_index !== checked.ifindex) refuse(`${p.ifname} does not point back at eth0 (its link_index ${p.link_index ?? 'none'}, eth0 is ${checked.ifindex})`);
  if (p.link_netnsid === undefined) refuse(`${p.ifname}'s peer is not in another namespace`);
  if (p.master !== bridge) refuse(`${p.ifname} is not a port of the lab's bridge ${bridge} (master: ${p.master ?? 'none'})`);
  return p.ifname;
}

/**
 * Re-check, before a rate change, that `veth` is still the port the lab found for a container:
 * same name at the same ifindex pointing back at eth0, still on the lab's bridge.
 */
export function recheckHostVeth(veth: string, eth0: VethLink, host: readonly VethLink[], bridge: string, what: string): string {
  const found = hostVethFor(eth0, host, bridge, what);
  if (found !== veth) throw new SafetyError(`${what}: its host-side veth is now ${found}, not ${veth}`);
  return found;
}
