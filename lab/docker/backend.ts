/**
 * DockerNetwork: the Docker implementation of EmulatedNetwork. Same run, same checks, same
 * results as the netns backend; every receiver is a container of the Dockerfile.receiver image.
 *
 * Bring-up (once per lab):
 *   1. root and an engine on this machine (engine.ts); the base and receiver images (base.ts,
 *      image.ts), built or reused by content tag
 *   2. the exchange folder (exchange.ts) and the lab's own bridge network `<prefix>-net` (bridge
 *      `<prefix>-br`, a free /20 of 198.19.0.0/16, internal), labelled
 *   3. the sender's namespace holder `<prefix>-s` at .1, its link set up and shaped
 * then, when the first run starts its receivers (so that a signal meanwhile reaches down()):
 *   4. one container per receiver, 8 started at once, each waited for until it prints its ready
 *      line (`fanout receive --json`: "listening"), storing into its exchange slot
 *   5. every container's eth0 set to small GSO packets and its upload shaped inside; one listing
 *      of the host namespace proves every host-side veth (veth.ts); one `tc -batch` shapes every
 *      download (hosts.ts; the lines are lab/shaping.ts's, as in netns)
 * Per run: startReceivers checks every receiver container still runs, empties its slot and puts
 * every link back to the scenario's own rates (events of the run before changed them); stop()
 * moves what the run stored into its out dirs. Containers live for the whole lab: one create and
 * remove cycle instead of one per run saves ~20 s a run, and fewer cycles mean fewer chances to
 * meet the engine's endpoint-count bug (remove.ts).
 *
 * Where the sender runs: as in the netns backend, the host's own `node dist/cli/fanout.js send`
 * reading the host's file, but inside the sender container's network namespace (nsenter -n, the
 * Docker counterpart of `ip netns exec`). So its traffic takes the path the netns backend's does
 * (own eth0 shaped to sender.upBps with the same GSO limit, across a bridge, out of each
 * receiver's shaped port), the runner gets a ChildProcess whose pid is the sender's own, and the
 * source file is neither copied nor mounted into a container. Sending from the machine's own
 * namespace instead would have put the sender's uplink on the bridge device itself, a different
 * queue from the netns backend's.
 *
 * Teardown (down(), in `finally` and on signals through lab/run.ts): senders killed by pid, every
 * container and network with this run's label removed (remove.ts), then listed again to prove it,
 * and the exchange folder removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Commander } from '../commander.js';
import { RECEIVER_PORT, RunError, nodeLabel, type EmulatedNetwork, type NodeRef, type RunningReceivers } from '../hosts.js';
import { mapLimit, ownCmdline } from '../netns/backend.js';
import { PlanError, makeRunPrefix } from '../netns/plan.js';
import type { LinkEvent, Topology } from '../types.js';
import { chooseBase } from './base.js';
import { hostLinkShow, nsenterNet } from './commands.js';
import { startReceiver, startSenderHolder } from './containers.js';
import { DockerEngineError, connectEngine, remoteEngineMessage, remoteEngineReason, type Engine } from './engine.js';
import { LABEL_EXCHANGE, emptySlot, exchangeSlot, makeExchange, moveOut, removeExchange } from './exchange.js';
import { changeRates, setUpHosts, type LiveHost } from './hosts.js';
import { ensureReceiverImage } from './image.js';
import { LABEL_ROLE, LABEL_RUN, freeBlocks, labLabels, planDockerNetwork, type DockerPlan, type Owner } from './plan.js';
import { listRun, removeRun } from './remove.js';
import { parseVethList } from './veth.js';

/** Containers started at once (LAB-NOTES: 8 at a time beat all at once by ~2x). */
export const START_CONCURRENCY = 8;

export interface DockerUpOptions {
  commander: Commander;
  log?: (line: string) => void;
  /** Default: a fresh random `fl` + 4 hex no lab object uses. */
  prefix?: string;
  /** Containers started at once (default START_CONCURRENCY). */
  concurrency?: number;
  /** Default: this process. */
  owner?: Owner;
  /** The compiled tree the receiver image takes (default: the one this module runs from). */
  distRoot?: string;
}

/** How long bring-up and teardown took (for the log and the report). */
export interface DockerTimings {
  /** Receiver containers started and ready, then every link set up and shaped. */
  receiversUpS: number;
  /** Of which: setting up and shaping the links. */
  shapeS: number;
  downS?: number;
}

export class DockerNetwork implements EmulatedNetwork {
  readonly backend = 'docker' as const;
  private readonly senders = new Set<ChildProcess>();
  private running = false;
  private downed = false;
  /** The receivers once started (the first startReceivers starts them; see ensureReceivers). */
  private live: LiveHost[] | null = null;
  private starting: Promise<LiveHost[]> | null = null;
  readonly timings: DockerTimings = { receiversUpS: 0, shapeS: 0 };

  private constructor(
    readonly plan: DockerPlan,
    private readonly engine: Engine,
    private readonly commander: Commander,
    private readonly image: string,
    private readonly sender: LiveHost,
    readonly exchange: string,
    private readonly owner: Owner,
    private readonly concurrency: number,
    private readonly log: (line: string) => void,
  ) {}

  /** The receivers' hosts (empty until the first run started them). */
  get receivers(): LiveHost[] {
    return this.live ?? [];
  }

  get prefix(): string {
    return this.plan.prefix;
  }

  /** Bring the network up (see the banner). On failure nothing of this run is left (or it says what is). */
  static async up(topology: Pick<Topology, 'receivers' | 'sender'>, opts: DockerUpOptions): Promise<DockerNetwork> {
    try {
      return await DockerNetwork.bringUp(topology, opts);
    } catch (e) {
      // Only the CLI turns errors into exit codes: a failed bring-up is a RunError with the cause's words.
      if (e instanceof RunError || e instanceof PlanError) throw e;
      throw new RunError(`docker backend: ${(e as Error).message}`, { cause: e });
    }
  }

  private static async bringUp(topology: Pick<Topology, 'receivers' | 'sender'>, opts: DockerUpOptions): Promise<DockerNetwork> {
    const log = opts.log ?? (() => {});
    planDockerNetwork(topology, opts.prefix ?? 'fl0000', 0); // validate before touching anything
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new DockerEngineError("the docker backend needs root: it shapes the host side of each container's veth with tc and enters containers' network namespaces");
    }
    const remote = remoteEngineReason(process.env.DOCKER_HOST);
    if (remote !== null) throw new DockerEngineError(remoteEngineMessage(remote));
    const engine = await connectEngine();
    const { docker } = engine;
    const base = await chooseBase(docker, { commander: opts.commander });
    log(`docker: base image ${base.description}`);
    const image = await ensureReceiverImage(docker, base, opts.distRoot !== undefined ? { distRoot: opts.distRoot } : {});
    log(`docker: receiver image ${image.tag} (${image.cached ? 'already built from the same content' : `built in ${image.buildS.toFixed(1)} s`})`);

    const owner: Owner = opts.owner ?? ownCmdline();
    const prefix = await freePrefix(engine, opts.commander, opts.prefix);
    const exchange = await makeExchange(prefix, topology.receivers.length);
    try {
      const plan = await createNetwork(engine, topology, prefix, { ...labLabels(prefix, 'network', owner), [LABEL_EXCHANGE]: exchange });
      const holder = await startSenderHolder(docker, image.tag, plan, owner);
      const [sender] = await setUpHosts(opts.commander, plan, [{ plan: plan.sender, container: holder }]);
      return new DockerNetwork(plan, engine, opts.commander, image.tag, sender!, exchange, owner, opts.concurrency ?? START_CONCURRENCY, log);
    } catch (e) {
      const left = await removeRun(docker, prefix).catch((err: unknown) => [String(err)]);
      await removeExchange(exchange).catch(() => undefined);
      if (left.length > 0) throw new AggregateError([e], `docker bring-up failed (${(e as Error).message}) and teardown left: ${left.join('; ')} (run \`fanout clean\`)`);
      throw e;
    }
  }

  /**
   * Start the receiver containers (once; the first run waits for them, so that a signal during
   * the ~13 s this takes for 64 reaches down(), which lets the starts in flight finish and then
   * removes everything): 8 at a time, each until its ready line, then every link set up and shaped.
   */
  private ensureReceivers(): Promise<LiveHost[]> {
    this.starting ??= (async () => {
      const user = `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
      const t0 = performance.now();
      const containers = await mapLimit(this.plan.receivers, this.concurrency, (h) => {
        if (this.downed) throw new RunError('network is down');
        return startReceiver(this.engine.docker, this.image, this.plan, h, exchangeSlot(this.exchange, h.index!), this.owner, user);
      });
      const t1 = performance.now();
      const live = await setUpHosts(
        this.commander,
        this.plan,
        this.plan.receivers.map((h, i) => ({ plan: h, container: containers[i]! })),
      );
      const t2 = performance.now();
      this.timings.receiversUpS = (t2 - t0) / 1000;
      this.timings.shapeS = (t2 - t1) / 1000;
      this.log(`docker: ${live.length} receiver containers up in ${this.timings.receiversUpS.toFixed(1)} s (links set up and shaped in ${this.timings.shapeS.toFixed(1)} s of it)`);
      this.live = live;
      return live;
    })();
    return this.starting;
  }

  async startReceivers(outDirs: string[]): Promise<RunningReceivers> {
    if (this.downed) throw new RunError('network is down');
    if (this.running) throw new RunError('receivers are already in a run');
    if (outDirs.length !== this.plan.receivers.length) throw new RunError(`expected ${this.plan.receivers.length} out dirs, got ${outDirs.length}`);
    const fresh = this.live === null;
    try {
      await this.ensureReceivers();
    } catch (e) {
      throw e instanceof RunError ? e : new RunError(`docker backend: ${(e as Error).message}`, { cause: e });
    }
    if (!fresh) await this.checkReceiversRun();
    for (const r of this.receivers) await emptySlot(exchangeSlot(this.exchange, r.plan.index!));
    // Every run starts from the scenario's own rates, whatever the run before changed.
    await changeRates(this.commander, this.plan, this.receivers.map((host) => ({ host, downBps: host.plan.downBps, upBps: host.plan.upBps })));
    this.running = true;
    const stop = async (): Promise<void> => {
      if (!this.running) return;
      this.running = false;
      await mapLimit(this.receivers, 16, (r) => moveOut(exchangeSlot(this.exchange, r.plan.index!), outDirs[r.plan.index!]!));
    };
    return { endpoints: this.receivers.map((r) => ({ index: r.plan.index!, address: `${r.plan.address}:${RECEIVER_PORT}` })), stop };
  }

  /** A receiver container that stopped (crashed, killed) breaks the run: say which, with its last words. */
  private async checkReceiversRun(): Promise<void> {
    const filters = JSON.stringify({ label: [`${LABEL_RUN}=${this.prefix}`, `${LABEL_ROLE}=receiver`], status: ['running'] });
    const up = new Set((await this.engine.docker.listContainers({ filters })).map((c) => c.Id));
    const gone = this.receivers.filter((r) => !up.has(r.container.id));
    if (gone.length > 0) {
      const words = gone[0]!.container.output().trim().slice(-500);
      throw new RunError(`receiver container(s) ${gone.map((r) => r.container.name).join(', ')} no longer run${words ? `; ${gone[0]!.container.name} printed: ${words}` : ''}`);
    }
  }

  spawnSender(argv: string[]): ChildProcess {
    return this.spawn({ role: 'source' }, [process.execPath, ...argv]);
  }

  address(node: NodeRef): string {
    if (node.role === 'source') return this.plan.sender.address;
    if (node.role === 'receiver') {
      const h = this.plan.receivers[node.index];
      if (h === undefined) throw new RangeError(`no receiver ${node.index}`);
      return h.address;
    }
    throw new RunError(`the docker backend has no service hosts (${node.name}): run this protocol on netns`);
  }

  /**
   * A host program in a node's network namespace (nsenter -n, as the sender runs): the source's
   * holder container, or a receiver's container once the receivers run. Service hosts: none yet.
   */
  spawn(node: NodeRef, argv: string[], env?: Record<string, string>): ChildProcess {
    let pid: number;
    if (node.role === 'source') pid = this.sender.container.pid;
    else if (node.role === 'receiver' && this.receivers[node.index] !== undefined) pid = this.receivers[node.index]!.container.pid;
    else throw new RunError(`the docker backend cannot start a program on ${nodeLabel(node)} here (receivers run their image's fanout receive; no service hosts)`);
    const full = nsenterNet(pid, argv);
    const p = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    this.senders.add(p);
    p.once('exit', () => this.senders.delete(p));
    return p;
  }

  /** Programs started by spawned ones die with their parent's kill in down(); nothing to record. */
  async adopt(): Promise<void> {}

  async applyEvent(ev: LinkEvent): Promise<void> {
    if (this.downed) throw new RunError('network is down');
    const changes = ev.receivers.map((i) => {
      const host = this.receivers[i];
      if (host === undefined) throw new RangeError(`no receiver ${i} (have ${this.receivers.length})`);
      return { host, ...(ev.downBps !== undefined ? { downBps: ev.downBps } : {}), ...(ev.upBps !== undefined ? { upBps: ev.upBps } : {}) };
    });
    await changeRates(this.commander, this.plan, changes);
  }

  /** Kill senders, remove every container and network of this run, and prove nothing is left. Idempotent. */
  async down(): Promise<void> {
    if (this.downed) return;
    this.downed = true;
    this.running = false;
    for (const p of this.senders) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await this.starting?.catch(() => undefined); // no new starts begin; those in flight finish, to be removed below
    const t0 = performance.now();
    const left = await removeRun(this.engine.docker, this.plan.prefix);
    this.timings.downS = (performance.now() - t0) / 1000;
    await removeExchange(this.exchange).catch((e: unknown) => left.push(`exchange folder ${this.exchange}: ${String(e)}`));
    if (left.length > 0) throw new RunError(`docker teardown of ${this.plan.prefix} incomplete: ${left.join('; ')} (run \`fanout clean\`)`);
    this.log(`docker: ${this.receivers.length + 1} container(s) and the network removed in ${this.timings.downS.toFixed(1)} s`);
  }
}

/** A prefix no lab container, network or host interface uses. */
async function freePrefix(engine: Engine, commander: Commander, wanted: string | undefined): Promise<string> {
  const { containers, networks } = await listRun(engine.docker);
  const links = parseVethList((await commander.run(hostLinkShow().argv)).stdout).map((l) => l.ifname);
  const taken = (p: string): boolean =>
    containers.some((c) => c.Labels?.[LABEL_RUN] === p) || networks.some((n) => n.Labels?.[LABEL_RUN] === p) || links.includes(`${p}-br`);
  if (wanted !== undefined) {
    if (taken(wanted)) throw new DockerEngineError(`prefix ${wanted} is in use (run \`fanout clean\`)`);
    return wanted;
  }
  for (let i = 0; i < 20; i++) {
    const p = makeRunPrefix();
    if (!taken(p)) return p;
  }
  throw new DockerEngineError('no free run prefix found (too many lab objects left? run `fanout clean`)');
}

/** Create the lab's network in the first free block (Docker refuses an overlap: then the next). */
async function createNetwork(engine: Engine, topology: Pick<Topology, 'receivers' | 'sender'>, prefix: string, labels: Record<string, string>): Promise<DockerPlan> {
  const used = (await engine.docker.listNetworks()).flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? ''));
  const blocks = freeBlocks(used);
  if (blocks.length === 0) throw new DockerEngineError('every /20 of 198.19.0.0/16 is taken by Docker networks (lab runs left behind? run `fanout clean`)');
  let lastError: unknown = null;
  for (const block of blocks.slice(0, 4)) {
    const plan = planDockerNetwork(topology, prefix, block);
    try {
      await engine.client.network.create({
        Name: plan.network,
        Driver: 'bridge',
        Internal: true,
        CheckDuplicate: true,
        Labels: labels,
        IPAM: { Driver: 'default', Config: [{ Subnet: plan.subnet, Gateway: plan.gateway }] },
        Options: {
          'com.docker.network.bridge.name': plan.bridge,
          'com.docker.network.bridge.enable_ip_masquerade': 'false',
          'com.docker.network.driver.mtu': '1500',
        },
      });
      return plan;
    } catch (e) {
      lastError = e;
      if (!/overlap/i.test(String(e))) throw e;
    }
  }
  throw lastError as Error;
}
