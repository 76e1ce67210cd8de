/**
 * Link impairments on a lab host: pure builders (nftables ruleset text, tc batch lines); nothing
 * runs here. Two ways, picked by what the kernel has (`fanout doctor`):
 *
 * nftables random loss (kernels without sch_netem, e.g. this project's machines). One table owned
 * by the lab in the host's namespace, `table inet fanout_loss`, with a filter chain on hook
 * `input` (what arrives at the host: its download direction) and one on hook `output` (what it
 * sends: its upload direction), each dropping IPv4 packets at random:
 *
 *   meta nfproto ipv4 numgen random mod 100000 < N drop      N = round(pct * 1000)
 *
 * so the resolution is 0.001 %. A direction at 0 % (or below 0.0005 %, which rounds to N = 0)
 * gets no chain at all. The ruleset replaces itself: it starts with `table inet fanout_loss`
 * (declares it: creates it if absent, a no-op if present) then `delete table inet fanout_loss`,
 * then defines it afresh; `nft -f` applies the file as one transaction, so applying it twice
 * leaves exactly one copy and there is no moment without the table. `nft` only touches the
 * namespace it runs in, so it is run as `ip netns exec <ns> nft -f -`.
 * Loopback: the input hook sees a datagram sent to 127.0.0.1 once (output sees it once too), so
 * a loss on one hook only is measurable on `lo` alone (test/lab/loss.test.ts does).
 *
 * netem (kernels that have it): delay, jitter and loss as a qdisc. On a shaped direction it is
 * the child of the HTB class 1:1 that lab/shaping.ts makes, so shaping is applied first and
 * netem's queue sits below it:
 *
 *   qdisc replace dev D parent 1:1 handle 10: netem delay Xms Yms loss Z%
 *
 * and on an unshaped direction (no HTB) it is the root qdisc: `qdisc replace dev D root handle
 * 10: netem ...`. Units: ms and percent, as netem reads them.
 */
import { execInNamespace, type Invocation } from './netns/commands.js';

/** The nftables table the lab owns in each host namespace. */
export const LOSS_TABLE = 'fanout_loss';
/** numgen modulus: thresholds are in thousandths of a percent. */
export const LOSS_MODULUS = 100_000;
/** The netem handle (under HTB class 1:1, or at the root). */
export const NETEM_HANDLE = '10:';

function checkPct(pct: number, what: string): void {
  if (typeof pct !== 'number' || !Number.isFinite(pct) || pct < 0 || pct > 100) {
    throw new RangeError(`${what}: expected a loss percentage in [0, 100] (got ${pct})`);
  }
}

/** The `numgen random mod 100000 < N` threshold for `pct` percent: round(pct * 1000). */
export function lossThreshold(pct: number): number {
  checkPct(pct, 'loss');
  return Math.round(pct * (LOSS_MODULUS / 100));
}

function chainLines(name: string, hook: 'input' | 'output', pct: number): string[] {
  const n = lossThreshold(pct);
  if (n === 0) return [];
  return [
    `\tchain ${name} {`,
    `\t\ttype filter hook ${hook} priority filter; policy accept;`,
    `\t\tmeta nfproto ipv4 numgen random mod ${LOSS_MODULUS} < ${n} drop`,
    '\t}',
  ];
}

/** Declare-then-delete: removes the table whether or not it exists (nft has no `destroy` before 1.0.8). */
function dropTableLines(): string[] {
  return [`table inet ${LOSS_TABLE}`, `delete table inet ${LOSS_TABLE}`];
}

/**
 * The ruleset for `nft -f -`: random drop of `downPct` % of what arrives and `upPct` % of what
 * leaves, replacing any earlier one (idempotent). With both at 0 it only removes the table.
 */
export function lossRuleset(downPct: number, upPct: number): string {
  checkPct(downPct, 'loss down');
  checkPct(upPct, 'loss up');
  const chains = [...chainLines('down', 'input', downPct), ...chainLines('up', 'output', upPct)];
  const lines = dropTableLines();
  if (chains.length > 0) lines.push(`table inet ${LOSS_TABLE} {`, ...chains, '}');
  return lines.map((l) => `${l}\n`).join('');
}

/** `ip netns exec <ns> nft -f -` with the ruleset as stdin. */
export function lossInvocation(ns: string, downPct: number, upPct: number): Invocation & { input: string } {
  return { argv: execInNamespace(ns, ['nft', '-f', '-']), input: lossRuleset(downPct, upPct) };
}

/** Remove the lab's loss table from `ns` (succeeds whether or not it is there). */
export function clearLossInvocation(ns: string): Invocation & { input: string } {
  return { argv: execInNamespace(ns, ['nft', '-f', '-']), input: dropTableLines().map((l) => `${l}\n`).join('') };
}

/** What netem should do to one direction. */
export interface NetemOptions {
  delayMs?: number;
  /** Needs a delay to vary around; with none, `delay 0ms <jitter>`. */
  jitterMs?: number;
  lossPct?: number;
}

function checkMs(ms: number, what: string): void {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new RangeError(`${what}: expected a time in ms >= 0 (got ${ms})`);
}

/** The netem arguments, e.g. `delay 20ms 5ms loss 1%`; empty when nothing is asked. */
export function netemArgs(o: NetemOptions): string {
  const delay = o.delayMs ?? 0;
  const jitter = o.jitterMs ?? 0;
  const loss = o.lossPct ?? 0;
  checkMs(delay, 'delay');
  checkMs(jitter, 'jitter');
  checkPct(loss, 'loss');
  const parts: string[] = [];
  if (delay !== 0 || jitter !== 0) parts.push(`delay ${delay}ms${jitter !== 0 ? ` ${jitter}ms` : ''}`);
  if (loss !== 0) parts.push(`loss ${loss}%`);
  return parts.join(' ');
}

/**
 * tc batch lines putting netem on `dev`: under HTB class 1:1 when the direction is shaped
 * (`shaped`, the default: lab/shaping.ts made that class), else as the root qdisc. Nothing when
 * no impairment is asked.
 */
export function netemLines(dev: string, o: NetemOptions, shaped = true): string[] {
  const args = netemArgs(o);
  if (args === '') return [];
  const where = shaped ? 'parent 1:1' : 'root';
  return [`qdisc replace dev ${dev} ${where} handle ${NETEM_HANDLE} netem ${args}`];
}
