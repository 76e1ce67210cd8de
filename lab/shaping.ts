/**
 * Link shaping, shared by every backend that shapes real interfaces (netns, docker): pure
 * builders of tc batch lines, nothing runs here. A backend decides *which* interface carries a
 * direction and *how* to reach it (`tc -n NS -batch -`, `nsenter -t PID -n tc -batch -`), and
 * checks that interface is the lab's before running anything; the recipe itself lives here only.
 *
 * Shaping follows LAB-NOTES: HTB with one default class whose rate equals its ceil,
 *
 *   qdisc replace dev D root handle 1: htb default 1
 *   class replace dev D parent 1: classid 1:1 htb rate Rbit ceil Rbit burst Bb cburst Bb
 *
 * on the switch side of a host's link for its download and on the host's own `eth0` for its
 * upload. A timed change is `class change` in place (no qdisc delete/re-add: that glitches).
 *
 * Burst: tc's default HTB burst is rate/HZ + MTU, where HZ comes from /proc/net/psched. On a
 * high-resolution-timer kernel (this one: HZ reads as 1e9) that is just ~1600 bytes at any rate.
 * HTB caps its saved-up tokens at `burst`, so whenever its wake-up timer fires late by more
 * than burst/rate, the link loses the time it overslept: at 1 Gbit/s, 1600 bytes is 13 us, far
 * below real timer/softirq latency on a busy 2-vCPU VM, and TSO/GSO skbs of up to 64 KiB make
 * every send a wait. So we write the burst explicitly as one millisecond at the rate plus one
 * MTU-sized frame (tc's own default on an HZ=1000 kernel): 1725 B at 1 Mbit/s, 7850 B at
 * 50 Mbit/s, 126600 B at 1 Gbit/s (tc prints it rounded to its clock ticks, e.g. 126375b). The
 * cost is at most 1 ms of line-rate burst, which is nothing against transfers of a second or
 * more; and the commands no longer depend on the machine's timer resolution.
 *
 * GSO: every host interface (the `eth0` a host sends from) gets `gso_max_segs GSO_MAX_SEGS`.
 * HTB charges a whole GSO skb (up to 64 KiB) when its bucket holds any tokens, so with full-size
 * GSO the last super-packet of a transfer slips through unpaid: a 1 MiB fragment beat its
 * 8 Mbit/s link by up to 5 %, and the lower bound stopped being one. With at most 8 segments per
 * skb the slip is at most ~12 KB (1.1 % of 1 MiB; measured: 92.5-94.4 % goodput, never above the
 * rate), and the CPU cost stays low: 64 receivers at a 200 Mbit/s aggregate ran with a fifth of
 * the CPU idle, where 1 segment per skb saturated both cores at about 150 Mbit/s.
 *
 * Rates are bit/s of link rate (whole Ethernet frames, as HTB counts them); `Infinity` means
 * unshaped (no qdisc on that direction).
 */

/** The bytes tc assumes per frame when it pads a burst (its own default MTU term). */
export const HTB_MTU_BYTES = 1600;
/** How much line-rate time the burst covers (see the banner). */
export const HTB_BURST_MS = 1;
/** Segments per GSO skb on every host interface (see the banner). */
export const GSO_MAX_SEGS = 8;

/** A rate as tc reads it: integer bit/s with the `bit` unit, e.g. `20000000bit`. */
export function htbRate(rateBps: number): string {
  if (!Number.isFinite(rateBps) || rateBps <= 0) throw new RangeError(`not a finite positive rate: ${rateBps}`);
  return `${Math.max(1, Math.round(rateBps))}bit`;
}

/** The burst (and cburst) in bytes for `rateBps`: 1 ms at the rate plus one frame. */
export function htbBurstBytes(rateBps: number): number {
  return Math.ceil((rateBps / 8) * (HTB_BURST_MS / 1000)) + HTB_MTU_BYTES;
}

/** `parent 1: classid 1:1 htb rate R ceil R burst B cburst B` */
export function htbClassArgs(rateBps: number): string {
  const r = htbRate(rateBps);
  const b = `${htbBurstBytes(rateBps)}b`;
  return `parent 1: classid 1:1 htb rate ${r} ceil ${r} burst ${b} cburst ${b}`;
}

/** The two HTB lines (qdisc + class 1:1, rate = ceil) shaping `dev` to `rateBps`. */
export function shapeLines(dev: string, rateBps: number): string[] {
  return [`qdisc replace dev ${dev} root handle 1: htb default 1`, `class replace dev ${dev} ${htbClassArgs(rateBps)}`];
}

/** Shape `dev` to `rateBps`, or nothing when the direction is unshaped (Infinity). */
export function initialShapeLines(dev: string, rateBps: number): string[] {
  return rateBps === Infinity ? [] : shapeLines(dev, rateBps);
}

/**
 * A trunk: a veth pair joining two bridges, each direction shaped on the egress of the end it
 * leaves by (`intoEnd` carries what goes in, `outOfEnd` what comes out); an unshaped direction
 * gets nothing.
 */
export function trunkShapeLines(intoEnd: string, intoBps: number, outOfEnd: string, outOfBps: number): string[] {
  return [...initialShapeLines(intoEnd, intoBps), ...initialShapeLines(outOfEnd, outOfBps)];
}

/** Check a rate a change asks for: a positive bit/s or Infinity (unshaped). */
export function checkShapeRate(rateBps: number, what: string): void {
  if (!(rateBps === Infinity || (Number.isFinite(rateBps) && rateBps > 0))) {
    throw new RangeError(`rate for ${what}: expected a positive bit/s or Infinity (got ${rateBps})`);
  }
}

/**
 * tc batch lines that take `dev` from `fromBps` to `toBps` in place: `class change` when both
 * are shaped, the full recipe when it was unshaped, `qdisc del` when it becomes unshaped, nothing
 * when it stays unshaped or unchanged.
 */
export function rateChangeLines(dev: string, fromBps: number, toBps: number): string[] {
  checkShapeRate(toBps, dev);
  if (fromBps === toBps) return [];
  if (fromBps !== Infinity && toBps !== Infinity) return [`class change dev ${dev} ${htbClassArgs(toBps)}`];
  if (fromBps === Infinity) return shapeLines(dev, toBps);
  return [`qdisc del dev ${dev} root`];
}
