/**
 * Pinned neighbours, shared by every backend whose hosts talk to each other (netns, Docker).
 *
 * Why: the kernel's ARP table is ONE table for every namespace on the machine, and its
 * garbage-collection thresholds (gc_thresh3, 1024 by default, settable only in the machine's own
 * namespace) count every namespace's entries. Where every node talks to every other (a swarm of
 * 64: 65 x 65 entries), the table filled, new entries were refused ("table_fulls" in
 * `ip -s ntable`), ARP failed, and nodes' SYNs never left their interface: some nodes could not
 * reach anyone for minutes. Permanent entries are exempt from those thresholds (Linux 4.19+), and
 * no ARP traffic crosses the shaped links either. Pure: a backend lists the MACs and runs the lines.
 */

/** A MAC address as `ip -j link show` prints it. */
export function isMac(mac: string | undefined): mac is string {
  return mac !== undefined && /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(mac);
}

/** `ip -batch` lines: a permanent neighbour entry on `dev` for each peer. */
export function pinnedNeighbourLines(peers: readonly { address: string; mac: string }[], dev: string): string[] {
  return peers.map((p) => `neigh replace ${p.address} lladdr ${p.mac} dev ${dev} nud permanent`);
}
