/**
 * NetnsNetwork: brings a NetnsPlan up on this machine, changes link rates during a run, and
 * tears it down. Every object is written to the ledger before it is made.
 *
 * Bring-up, with few processes (64 hosts: 135 `ip`/`tc` runs, 8 at a time; no shell, no
 * `ip netns exec`):
 *   0. a prefix no present namespace uses (`ip -j netns list`)
 *   1. every namespace, then ledger     -> `ip -batch -` (netns add ...); fails if any exists
 *   2. ledger: bridge + every veth port -> `ip -n BR -batch -` (bridge, site bridges and trunks,
 *                                          veths with the peer made as eth0 inside each host
 *                                          namespace, ports up)
 *   3. per host, in parallel            -> `ip -j -n H -batch -` (lo up, address, eth0 up, then
 *                                          `link show`, which is the host's safety listing)
 *      and `ip -n BR -j link show`      -> the bridge namespace's safety listing
 *   4. safety check of every interface against the listings (SafetyError on any doubt)
 *   5. per host, in parallel            -> `ip -n H -batch -`: a permanent neighbour entry for
 *                                          every other host (commands.ts neighbourLines: why)
 *   6. shaping, in parallel             -> `tc -n BR -batch -` (downloads, trunks), `tc -n H -batch -`
 *                                          (uploads); then loss, delay, jitter
 * Any failure tears down what the ledger holds, then rethrows.
 *
 * Steps 2 and 3 change interfaces before the listing-based check: they run only inside
 * namespaces made in step 1 (`netns add` fails on an existing name, so each is new and holds
 * nothing the lab did not put there) and name devices the same batch just created. Everything
 * after bring-up (shaping, rate changes) is checked against the listings first.
 *
 * The listings are cached: the lab is the only one changing these namespaces, so later rate
 * changes check against them without listing again.
 */
import { readFileSync } from 'node:fs';
import type { Commander } from '../commander.js';
import { DEFAULT_LEDGER_DIR, Ledger, readLedgerFile, undoActions } from '../ledger.js';
import type { NodeRef } from '../hosts.js';
import type { LinkEvent, ReceiverSpec, Topology } from '../types.js';
import { lossInvocation, netemLines } from '../loss.js';
import { isMac } from '../neighbours.js';
import {
  bridgeSetup,
  changeRate,
  bringUpInvocations,
  createNamespaces,
  deleteNamespaces,
  hostSetup,
  installRate,
  listLinks,
  pinNeighbours,
  removeRate,
  shapingInvocations,
  tcBatch,
  type Invocation,
} from './commands.js';
import { PlanError, bridgeNsInterfaces, makeRunPrefix, planHosts, planNamespaces, planNetwork, type HostPlan, type NetnsPlan } from './plan.js';
import { checkLabInterface, checkPlanInterfaces, lastJsonArray, parseLinkList, type LinkInfo } from './safety.js';
import { executeUndo, presentNamespaces, realProcessOps, type ProcessOps, type UndoReport } from './teardown.js';

/** Options for NetnsNetwork.up. */
export interface NetnsUpOptions {
  commander: Commander;
  /** Default /run/fanout-lab. */
  ledgerDir?: string;
  /** Default: a fresh random `fl` + 4 hex. */
  prefix?: string;
  /** Commands run at once during bring-up (default 8). */
  concurrency?: number;
  /** Extra unshaped hosts a protocol needs (e.g. `tracker`), by name. */
  services?: readonly string[];
  /**
   * How loss, delay and jitter are applied: `netem` (tc, where the kernel has sch_netem) or
   * `nftables` (random drop in the host's namespace: loss only). Default nftables.
   */
  impairments?: 'netem' | 'nftables';
  /** How teardown reads and kills recorded processes (tests inject a fake). */
  processOps?: ProcessOps;
}

/** Teardown left something behind. */
export class TeardownError extends Error {
  override readonly name = 'TeardownError';
  constructor(readonly report: UndoReport) {
    super(`teardown incomplete: remaining ${report.remaining.join(', ') || '-'}; errors: ${report.errors.join('; ') || '-'}`);
  }
}

/** One receiver as the runner needs it. */
export interface NetnsReceiver {
  index: number;
  ns: string;
  address: string;
}

/** Run `fn` over `items` with at most `limit` in flight; rejects with the first error after all settle. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let firstError: unknown = null;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (e) {
        firstError ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (firstError !== null) throw firstError;
  return out;
}

function run(commander: Commander, inv: Invocation): Promise<{ stdout: string; stderr: string }> {
  return inv.input === undefined ? commander.run(inv.argv) : commander.run(inv.argv, { input: inv.input });
}

/** A lab network of network namespaces, up. */
export class NetnsNetwork {
  /** Current rate per `ns/dev` (Infinity = unshaped). */
  private readonly rates = new Map<string, number>();
  private downed = false;

  private constructor(
    readonly plan: NetnsPlan,
    private readonly commander: Commander,
    private readonly ledger: Ledger,
    private readonly listings: Map<string, LinkInfo[]>,
    private readonly processOps: ProcessOps,
  ) {
    for (const h of planHosts(plan)) {
      this.rates.set(`${plan.bridgeNs}/${h.bridgePort}`, h.downBps);
      this.rates.set(`${h.ns}/${h.ifname}`, h.upBps);
    }
    for (const site of plan.sites) {
      this.rates.set(`${plan.bridgeNs}/${site.coreEnd}`, site.downBps);
      this.rates.set(`${plan.bridgeNs}/${site.siteEnd}`, site.upBps);
    }
  }

  get prefix(): string {
    return this.plan.prefix;
  }
  get senderNs(): string {
    return this.plan.sender.ns;
  }
  get senderAddress(): string {
    return this.plan.sender.address;
  }
  get receivers(): NetnsReceiver[] {
    return this.plan.receivers.map((r) => ({ index: r.index!, ns: r.ns, address: r.address }));
  }
  get ledgerPath(): string {
    return this.ledger.path;
  }

  /** Describe and build the network for `topology`. On failure nothing is left behind (or it throws saying what is). */
  static async up(topology: Pick<Topology, 'receivers' | 'sender' | 'sites'>, opts: NetnsUpOptions): Promise<NetnsNetwork> {
    const { commander } = opts;
    const services = opts.services ?? [];
    planNetwork(topology, opts.prefix ?? 'fl0000', services); // validate before touching anything
    impairmentInvocations(planNetwork(topology, 'fl0000', services), topology.receivers, opts.impairments ?? 'nftables'); // the same
    const prefix = await freePrefix(commander, opts.prefix);
    const plan = planNetwork(topology, prefix, services);
    const limit = opts.concurrency ?? 8;
    const processOps = opts.processOps ?? realProcessOps;
    const ledger = await Ledger.create(opts.ledgerDir ?? DEFAULT_LEDGER_DIR, prefix, ownCmdline());
    const listings = new Map<string, LinkInfo[]>();
    try {
      // Recorded once they exist, never before: undo deletes by name, so it must name only what
      // this run made. `netns add` fails on an existing name; after a failed batch, the plan's
      // names now present are ours (the prefix was free).
      let made = planNamespaces(plan);
      try {
        await run(commander, createNamespaces(plan));
      } catch (e) {
        const present = new Set(await presentNamespaces(commander));
        made = made.filter((n) => present.has(n));
        throw e;
      } finally {
        await ledger.record(...made.map((name) => ({ kind: 'netns' as const, name })));
      }

      await ledger.record(
        ...bridgeNsInterfaces(plan).map((x) => ({ kind: 'link' as const, ns: plan.bridgeNs, name: x.name })),
        ...planHosts(plan).map((h) => ({ kind: 'link' as const, ns: h.ns, name: h.ifname })),
      );
      await run(commander, bridgeSetup(plan));

      const jobs: (() => Promise<void>)[] = [
        async () => {
          listings.set(plan.bridgeNs, parseLinkList((await run(commander, listLinks(plan.bridgeNs))).stdout));
        },
        ...planHosts(plan).map((h) => async () => {
          listings.set(h.ns, parseLinkList(lastJsonArray((await run(commander, hostSetup(h))).stdout)));
        }),
      ];
      await mapLimit(jobs, limit, (j) => j());
      checkPlanInterfaces(plan, listings);
      const macOf = (h: HostPlan): string => {
        const mac = listings.get(h.ns)?.find((l) => l.ifname === h.ifname)?.address;
        if (!isMac(mac)) throw new PlanError(`no MAC address listed for ${h.ifname} in ${h.ns}`);
        return mac;
      };
      await mapLimit(planHosts(plan), limit, (h) => run(commander, pinNeighbours(plan, h, macOf)));

      await mapLimit(shapingInvocations(plan), limit, (inv) => run(commander, inv));
      await mapLimit(impairmentInvocations(plan, topology.receivers, opts.impairments ?? 'nftables'), limit, (inv) => run(commander, inv));
    } catch (e) {
      const report = await undoLedger(ledger, commander, processOps).catch((undoErr: unknown) => undoErr);
      if (report instanceof Error) throw new AggregateError([e, report], `bring-up failed (${String(e)}) and so did teardown`);
      throw e;
    }
    return new NetnsNetwork(plan, commander, ledger, listings, processOps);
  }

  /**
   * Print (through `commander`, e.g. a DryRunCommander) what up() then down() would run, without
   * listing or checking anything: the `--dry-run` view.
   */
  static async dryRun(topology: Pick<Topology, 'receivers' | 'sender' | 'sites'>, opts: { commander: Commander; prefix?: string; services?: readonly string[] }): Promise<NetnsPlan> {
    const plan = planNetwork(topology, opts.prefix ?? makeRunPrefix(), opts.services ?? []);
    for (const inv of [...bringUpInvocations(plan), deleteNamespaces(planNamespaces(plan))]) await run(opts.commander, inv);
    return plan;
  }

  /** Record a process the runner started (before or right after starting it), so teardown/clean kill it. */
  async recordProcess(pid: number, opts: { ns?: string; cmdline?: string[] } = {}): Promise<void> {
    await this.ledger.record({ kind: 'process', pid, ...opts });
  }

  /** Apply a timed link event now (the runner owns the timing). */
  async applyEvent(ev: LinkEvent): Promise<void> {
    const changes: { ns: string; dev: string; rateBps: number }[] = [];
    for (const i of ev.receivers) {
      const h = this.receiverPlan(i);
      if (ev.downBps !== undefined) changes.push({ ns: this.plan.bridgeNs, dev: h.bridgePort, rateBps: ev.downBps });
      if (ev.upBps !== undefined) changes.push({ ns: h.ns, dev: h.ifname, rateBps: ev.upBps });
    }
    await this.applyChanges(changes);
  }

  /** Change receiver i's rates in place (`tc class change`). */
  async setReceiverRate(i: number, rates: { downBps?: number; upBps?: number }): Promise<void> {
    const ev: LinkEvent = { atMs: 0, receivers: [i] };
    if (rates.downBps !== undefined) ev.downBps = rates.downBps;
    if (rates.upBps !== undefined) ev.upBps = rates.upBps;
    await this.applyEvent(ev);
  }

  /** The invocations a set of rate changes needs, after the safety check of every interface. */
  private changeInvocations(changes: { ns: string; dev: string; rateBps: number }[]): Invocation[] {
    const out: Invocation[] = [];
    for (const c of changes) {
      if (!(c.rateBps === Infinity || (Number.isFinite(c.rateBps) && c.rateBps > 0))) {
        throw new RangeError(`rate for ${c.dev} in ${c.ns}: expected a positive bit/s or Infinity (got ${c.rateBps})`);
      }
      checkLabInterface(this.plan, this.listings, c.ns, c.dev);
      const now = this.rates.get(`${c.ns}/${c.dev}`) ?? Infinity;
      if (now !== Infinity && c.rateBps !== Infinity) out.push(changeRate(c.ns, c.dev, c.rateBps));
      else if (now === Infinity && c.rateBps !== Infinity) out.push(installRate(c.ns, c.dev, c.rateBps));
      else if (now !== Infinity && c.rateBps === Infinity) out.push(removeRate(c.ns, c.dev));
    }
    return out;
  }

  private async applyChanges(changes: { ns: string; dev: string; rateBps: number }[]): Promise<void> {
    if (this.downed) throw new Error('network is down');
    const invs = this.changeInvocations(changes); // all checked before any runs
    await mapLimit(invs, 8, (inv) => run(this.commander, inv));
    for (const c of changes) this.rates.set(`${c.ns}/${c.dev}`, c.rateBps);
  }

  /** The host of a node (source, receiver i, or a service by name). */
  host(node: NodeRef): HostPlan {
    if (node.role === 'source') return this.plan.sender;
    if (node.role === 'receiver') return this.receiverPlan(node.index);
    const h = this.plan.services.find((v) => v.service === node.name);
    if (h === undefined) throw new RangeError(`no service host ${node.name} (have ${this.plan.services.map((v) => v.service).join(', ') || 'none'})`);
    return h;
  }

  private receiverPlan(i: number): HostPlan {
    const h = this.plan.receivers[i];
    if (h === undefined) throw new RangeError(`no receiver ${i} (have ${this.plan.receivers.length})`);
    return h;
  }

  /** Undo everything the ledger records (reverse order), then delete the ledger. Idempotent. */
  async down(): Promise<UndoReport | null> {
    if (this.downed) return null;
    this.downed = true;
    return undoLedger(this.ledger, this.commander, this.processOps);
  }
}

/**
 * A prefix no present namespace uses: `wanted` (PlanError if taken: a crashed run's leftovers,
 * see `fanout clean`), or a fresh random one that is free.
 */
async function freePrefix(commander: Commander, wanted: string | undefined): Promise<string> {
  const present = await presentNamespaces(commander);
  const taken = (p: string): string | undefined => present.find((n) => n.startsWith(`${p}-`));
  if (wanted !== undefined) {
    const t = taken(wanted);
    if (t !== undefined) throw new PlanError(`prefix ${wanted} is in use by namespace ${t} (run \`fanout clean\`)`);
    return wanted;
  }
  for (let i = 0; i < 20; i++) {
    const p = makeRunPrefix();
    if (taken(p) === undefined) return p;
  }
  throw new PlanError('no free run prefix found (too many lab namespaces left? run `fanout clean`)');
}

/** This process as the ledger header and the Docker labels name it: pid and /proc/self/cmdline (what clean will compare). */
export function ownCmdline(): { pid: number; cmdline?: string[] } {
  try {
    const argv = readFileSync('/proc/self/cmdline', 'utf8').split('\0');
    if (argv[argv.length - 1] === '') argv.pop();
    return { pid: process.pid, cmdline: argv };
  } catch {
    return { pid: process.pid };
  }
}

/** Undo one ledger; remove its file when nothing remains. Throws TeardownError otherwise. */
async function undoLedger(ledger: Ledger, commander: Commander, ops: ProcessOps): Promise<UndoReport> {
  const { entries } = await readLedgerFile(ledger.path);
  const report = await executeUndo(undoActions(entries), commander, ops);
  if (report.remaining.length > 0) throw new TeardownError(report);
  await ledger.remove();
  return report;
}

/**
 * Loss, delay and jitter on every receiver link that asks for them, after shaping. With netem:
 * netem under the direction's HTB class (download on the bridge port: loss down, delay, jitter;
 * upload on eth0: loss up). Without: loss only, through nftables random drop in the receiver's
 * namespace (input hook = download, output hook = upload); delay and jitter are refused earlier,
 * at scenario validation, naming sch_netem.
 */
export function impairmentInvocations(plan: NetnsPlan, receivers: readonly ReceiverSpec[], how: 'netem' | 'nftables'): Invocation[] {
  const out: Invocation[] = [];
  for (const r of receivers) {
    const h = plan.receivers[r.index];
    if (h === undefined) continue;
    const down = r.lossDownPct ?? 0;
    const up = r.lossUpPct ?? 0;
    const delay = r.delayMs ?? 0;
    const jitter = r.jitterMs ?? 0;
    if (down === 0 && up === 0 && delay === 0 && jitter === 0) continue;
    if (how === 'nftables') {
      if (delay !== 0 || jitter !== 0) throw new PlanError(`receivers[${r.index}]: delay and jitter need tc netem (sch_netem)`);
      out.push(lossInvocation(h.ns, down, up));
      continue;
    }
    if (down !== 0 || delay !== 0 || jitter !== 0) {
      const o: { delayMs?: number; jitterMs?: number; lossPct?: number } = {};
      if (delay !== 0) o.delayMs = delay;
      if (jitter !== 0) o.jitterMs = jitter;
      if (down !== 0) o.lossPct = down;
      out.push(tcBatch(plan.bridgeNs, netemLines(h.bridgePort, o, h.downBps !== Infinity)));
    }
    if (up !== 0) out.push(tcBatch(h.ns, netemLines(h.ifname, { lossPct: up }, h.upBps !== Infinity)));
  }
  return out;
}
