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
 * Protocols with programs of their own (bittorrent: aria2c, opentracker, its node agent; see
 * protocol-image.ts): when the lab's contenders need one, bring-up builds (or reuses) that
 * protocol's image and starts, instead of `fanout receive` containers, an idle container of it for
 * every receiver, for the source (the namespace holder) and for every service host the protocols
 * ask for (a tracker: its own container at a fixed address below the gateway, not a receiver and
 * not shaped). The run's work folder is bind-mounted at its own path in each (and the folder of a
 * scenario's own source file in the source's), so a ProcessSpec's argv, written with this
 * machine's paths, works unchanged. spawn(node, argv) then runs argv INSIDE the node's container
 * (`nsenter -t PID -m -n -p -i -u`: its image's /usr/bin/aria2c, its network, its process
 * namespace, so whatever it leaves dies with the container); the runner gets nsenter's real
 * ChildProcess, whose kill() signals the program (nsenter's child). Receivers are set up and
 * shaped exactly as for fragments; services are not shaped.
 *
 * Loss: nftables random drop in each lossy receiver's container namespace (lab/loss.ts's ruleset,
 * nsenter -n nft -f -), applied once after shaping, for fragments and protocols alike. Delay and
 * jitter (netem) are refused on this backend.
 *
 * Teardown (down(), in `finally` and on signals through lab/run.ts): senders killed by pid, every
 * container and network with this run's label removed (remove.ts), then listed again to prove it,
 * and the exchange folder removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Commander } from '../commander.js';
import { RECEIVER_PORT, RunError, nodeLabel, type EmulatedNetwork, type NodeRef, type RunningReceivers } from '../hosts.js';
import { mapLimit, ownCmdline } from '../netns/backend.js';
import { PlanError, makeRunPrefix } from '../netns/plan.js';
import { isMac } from '../neighbours.js';
import type { Protocol } from '../protocols/types.js';
import type { LinkEvent, Topology } from '../types.js';
import { chooseBase } from './base.js';
import { containerLinkShow, containerLoss, containerNeighbours, hostLinkShow, nsenterInside, nsenterNet } from './commands.js';
import { startIdle, startReceiver, startSenderHolder, type RunningContainer } from './containers.js';
import { DockerEngineError, checkContainerPid, connectEngine, remoteEngineMessage, remoteEngineReason, type Engine } from './engine.js';
import { LABEL_EXCHANGE, emptySlot, exchangeSlot, makeExchange, moveOut, removeExchange } from './exchange.js';
import { changeRates, setUpHosts, type LiveHost } from './hosts.js';
import { ensureReceiverImage } from './image.js';
import { ensureProtocolImage, needsProtocolImage } from './protocol-image.js';
import { LABEL_ROLE, LABEL_RUN, freeBlocks, labLabels, planDockerNetwork, type DockerPlan, type Owner } from './plan.js';
import { listRun, removeRun } from './remove.js';
import { containerEth0, parseVethList } from './veth.js';

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
  /** Service hosts the protocols need (`tracker`): a container each, unshaped. */
  services?: readonly string[];
  /**
   * The protocols the lab runs (default: fragments only, as before). One with programs of its own
   * (protocol-image.ts) makes every node an idle container of its image.
   */
  protocols?: readonly Pick<Protocol, 'name' | 'tools'>[];
  /** Folders of this machine bind-mounted at the same path into every protocol container (the lab's work folder). */
  mounts?: readonly string[];
  /** Folders bind-mounted into the source's protocol container only (a scenario's own source file's folder). */
  sourceMounts?: readonly string[];
}

/** Loss per receiver (percent), from the topology. */
interface LossSpec {
  index: number;
  downPct: number;
  upPct: number;
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
  /** Service hosts' containers, by name (protocol labs only). */
  private readonly serviceContainers = new Map<string, RunningContainer>();
  /** The protocol whose image every node runs (null: the fragments lab, as before). */
  private inside: string | null = null;
  private losses: LossSpec[] = [];

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
  static async up(topology: Pick<Topology, 'receivers' | 'sender'> & Partial<Pick<Topology, 'sites'>>, opts: DockerUpOptions): Promise<DockerNetwork> {
    // Refused before anything is built (runLab refuses earlier still, with the same words).
    if ((topology.sites ?? []).length > 0) throw new RunError('sites are not supported on docker yet; use netns or sim');
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
    const services = [...new Set(opts.services ?? [])];
    planDockerNetwork(topology, opts.prefix ?? 'fl0000', 0, services); // validate before touching anything
    const losses = checkImpairments(topology);
    const protocols = opts.protocols ?? [];
    const imaged = protocols.filter(needsProtocolImage);
    if (imaged.length > 1) throw new PlanError(`the docker backend runs one protocol image per lab (asked for ${imaged.map((p) => p.name).join(', ')}): run them in separate scenarios`);
    const toolProtocol = imaged[0] ?? null;
    if (toolProtocol !== null && protocols.some((p) => !needsProtocolImage(p))) {
      throw new PlanError(`the docker backend cannot run ${toolProtocol.name} and fragment contenders in one lab (different containers per node)`);
    }
    const mounts = [...new Set(opts.mounts ?? [])];
    const sourceMounts = [...new Set([...mounts, ...(opts.sourceMounts ?? [])])];
    for (const m of sourceMounts) if (!isAbsolute(m) || m === '/') throw new PlanError(`docker bind mount ${JSON.stringify(m)}: expected an absolute folder other than /`);
    if (typeof process.getuid === 'function' && process.getuid() !== 0) {
      throw new DockerEngineError("the docker backend needs root: it shapes the host side of each container's veth with tc and enters containers' network namespaces");
    }
    const remote = remoteEngineReason(process.env.DOCKER_HOST);
    if (remote !== null) throw new DockerEngineError(remoteEngineMessage(remote));
    const engine = await connectEngine();
    const { docker } = engine;
    const base = await chooseBase(docker, { commander: opts.commander });
    log(`docker: base image ${base.description}`);
    let imageTag: string;
    if (toolProtocol === null) {
      const image = await ensureReceiverImage(docker, base, opts.distRoot !== undefined ? { distRoot: opts.distRoot } : {});
      log(`docker: receiver image ${image.tag} (${image.cached ? 'already built from the same content' : `built in ${image.buildS.toFixed(1)} s`})`);
      imageTag = image.tag;
    } else {
      const image = await ensureProtocolImage(docker, base, opts.commander, toolProtocol, opts.distRoot !== undefined ? { distRoot: opts.distRoot } : {});
      log(`docker: ${toolProtocol.name} image ${image.tag} (${image.files} files; ${image.cached ? 'already built from the same content' : `built in ${image.buildS.toFixed(1)} s`})`);
      imageTag = image.tag;
    }

    const owner: Owner = opts.owner ?? ownCmdline();
    const prefix = await freePrefix(engine, opts.commander, opts.prefix);
    const exchange = await makeExchange(prefix, topology.receivers.length);
    try {
      const plan = await createNetwork(engine, topology, prefix, { ...labLabels(prefix, 'network', owner), [LABEL_EXCHANGE]: exchange }, services);
      const holder = toolProtocol === null ? await startSenderHolder(docker, imageTag, plan, owner) : await startIdle(docker, imageTag, plan, plan.sender, owner, sourceMounts);
      const [sender] = await setUpHosts(opts.commander, plan, [{ plan: plan.sender, container: holder }]);
      const net = new DockerNetwork(plan, engine, opts.commander, imageTag, sender!, exchange, owner, opts.concurrency ?? START_CONCURRENCY, log);
      net.losses = losses;
      if (toolProtocol !== null) {
        net.inside = toolProtocol.name;
        await net.startProtocolHosts(mounts);
      }
      return net;
    } catch (e) {
      const left = await removeRun(docker, prefix).catch((err: unknown) => [String(err)]);
      await removeExchange(exchange).catch(() => undefined);
      if (left.length > 0) throw new AggregateError([e], `docker bring-up failed (${(e as Error).message}) and teardown left: ${left.join('; ')} (run \`fanout clean\`)`);
      throw e;
    }
  }

  /**
   * A protocol lab: every receiver and service host as an idle container of the protocol's image
   * (8 started at once), then the receivers' links set up and shaped as for fragments, and loss.
   * Services are not shaped. Runs inside bring-up, so a failure removes everything (bringUp).
   */
  private async startProtocolHosts(mounts: readonly string[]): Promise<void> {
    const t0 = performance.now();
    const hosts = [...this.plan.receivers, ...this.plan.services];
    const containers = await mapLimit(hosts, this.concurrency, (h) => startIdle(this.engine.docker, this.image, this.plan, h, this.owner, mounts));
    this.plan.services.forEach((h, k) => this.serviceContainers.set(h.service!, containers[this.plan.receivers.length + k]!));
    for (const [k, h] of this.plan.services.entries()) await checkContainerPid(containers[this.plan.receivers.length + k]!.pid, containers[this.plan.receivers.length + k]!.id, h.name);
    const live = await this.setUpReceivers(containers, t0, `${containers.length - this.plan.services.length} receiver and ${this.plan.services.length} service container(s) of the ${this.inside} image`);
    await this.pinNeighbours([this.sender.container, ...containers], [this.plan.sender, ...hosts]);
    this.starting = Promise.resolve(live);
  }

  /**
   * Every node talks to every other in a protocol lab: a permanent neighbour entry in each
   * container for every other one (each pid proved, each eth0 listed for its MAC).
   */
  private async pinNeighbours(containers: readonly RunningContainer[], plans: readonly { address: string; name: string }[]): Promise<void> {
    const macs = await mapLimit(containers, 8, async (c) => {
      await checkContainerPid(c.pid, c.id, c.name);
      const mac = containerEth0(parseVethList((await this.commander.run(containerLinkShow(c.pid).argv)).stdout), c.name).address;
      if (!isMac(mac)) throw new RunError(`no MAC address listed for eth0 in ${c.name}`);
      return mac;
    });
    await mapLimit(containers.map((c, i) => ({ c, i })), 8, async ({ c, i }) => {
      const inv = containerNeighbours(c.pid, plans.flatMap((p, k) => (k === i ? [] : [{ address: p.address, mac: macs[k]! }])));
      await this.commander.run(inv.argv, { input: inv.input! });
    });
  }

  /**
   * The receivers' containers started (since `t0`): every link set up and shaped, loss applied,
   * the timings recorded and logged as `what ... up in`.
   */
  private async setUpReceivers(containers: readonly RunningContainer[], t0: number, what: string): Promise<LiveHost[]> {
    const t1 = performance.now();
    const live = await setUpHosts(
      this.commander,
      this.plan,
      this.plan.receivers.map((h, i) => ({ plan: h, container: containers[i]! })),
    );
    await this.applyLoss(live);
    const t2 = performance.now();
    this.timings.receiversUpS = (t2 - t0) / 1000;
    this.timings.shapeS = (t2 - t1) / 1000;
    this.log(`docker: ${what} up in ${this.timings.receiversUpS.toFixed(1)} s (links set up and shaped in ${this.timings.shapeS.toFixed(1)} s of it)`);
    this.live = live;
    return live;
  }

  /** nftables loss in each lossy receiver's container namespace (the pid proved first). */
  private async applyLoss(live: readonly LiveHost[]): Promise<void> {
    await mapLimit(this.losses, 8, async (l) => {
      const h = live[l.index];
      if (h === undefined) throw new RangeError(`no receiver ${l.index}`);
      await checkContainerPid(h.container.pid, h.container.id, h.container.name);
      const inv = containerLoss(h.container.pid, l.downPct, l.upPct);
      await this.commander.run(inv.argv, { input: inv.input! });
    });
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
      return this.setUpReceivers(containers, t0, `${containers.length} receiver containers`);
    })();
    return this.starting;
  }

  async startReceivers(outDirs: string[]): Promise<RunningReceivers> {
    if (this.downed) throw new RunError('network is down');
    if (this.running) throw new RunError('receivers are already in a run');
    if (this.inside !== null) throw new RunError(`this docker lab's receivers are ${this.inside} containers, not fanout receive`);
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
    const s = this.plan.services.find((h) => h.service === node.name);
    if (s === undefined) throw new RunError(`this docker lab has no service host ${node.name} (it has: ${this.plan.services.map((h) => h.service).join(', ') || 'none'})`);
    return s.address;
  }

  /**
   * Starts argv on a node. In a protocol lab: INSIDE the node's container (nsenter -m -n -p -i -u;
   * argv[0] is the image's program), the returned ChildProcess's kill() signalling the program
   * itself. In the fragments lab, as before: a host program in the source's network namespace
   * (nsenter -n, as the sender runs), or in a receiver's once the receivers run.
   */
  spawn(node: NodeRef, argv: string[], env?: Record<string, string>): ChildProcess {
    if (this.downed) throw new RunError('network is down');
    let pid: number;
    if (node.role === 'source') pid = this.sender.container.pid;
    else if (node.role === 'receiver' && this.receivers[node.index] !== undefined) pid = this.receivers[node.index]!.container.pid;
    else if (node.role === 'service' && this.serviceContainers.has(node.name)) pid = this.serviceContainers.get(node.name)!.pid;
    else throw new RunError(`the docker backend cannot start a program on ${nodeLabel(node)} here (${this.inside === null ? "receivers run their image's fanout receive; no service hosts" : 'no such host in this lab'})`);
    const full = this.inside === null ? nsenterNet(pid, argv) : nsenterInside(pid, argv);
    const p = spawn(full[0]!, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    if (this.inside !== null) signalThroughNsenter(p);
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
    this.log(`docker: ${this.receivers.length + this.serviceContainers.size + 1} container(s) and the network removed in ${this.timings.downS.toFixed(1)} s`);
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
async function createNetwork(engine: Engine, topology: Pick<Topology, 'receivers' | 'sender'>, prefix: string, labels: Record<string, string>, services: readonly string[] = []): Promise<DockerPlan> {
  const used = (await engine.docker.listNetworks()).flatMap((n) => (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? ''));
  const blocks = freeBlocks(used);
  if (blocks.length === 0) throw new DockerEngineError('every /20 of 198.19.0.0/16 is taken by Docker networks (lab runs left behind? run `fanout clean`)');
  let lastError: unknown = null;
  for (const block of blocks.slice(0, 4)) {
    const plan = planDockerNetwork(topology, prefix, block, services);
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

/**
 * Loss per lossy receiver; delay and jitter refused (they need netem, which this backend does
 * not apply). Throws PlanError.
 */
export function checkImpairments(topology: Pick<Topology, 'receivers'>): LossSpec[] {
  const out: LossSpec[] = [];
  for (const r of topology.receivers) {
    if ((r.delayMs ?? 0) !== 0 || (r.jitterMs ?? 0) !== 0) {
      throw new PlanError(`receivers[${r.index}]: delay and jitter are not applied by the docker backend (loss only, with nftables); use --backend netns on a kernel with sch_netem`);
    }
    const downPct = r.lossDownPct ?? 0;
    const upPct = r.lossUpPct ?? 0;
    if (downPct !== 0 || upPct !== 0) out.push({ index: r.index, downPct, upPct });
  }
  return out;
}

/** The pid of `pid`'s first child (nsenter -p forks the program), or null. */
export function firstChild(pid: number): number | null {
  try {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids[0] ?? null;
  } catch {
    return null;
  }
}

/**
 * nsenter -p runs the program as its child and does not pass signals on: make `p.kill(sig)`
 * signal the program itself (and, for SIGKILL, nsenter too). Before nsenter has forked, nsenter.
 */
export function signalThroughNsenter(p: ChildProcess): void {
  const own = p.kill.bind(p);
  p.kill = (signal?: NodeJS.Signals | number): boolean => {
    const sig = signal ?? 'SIGTERM';
    const kid = p.pid === undefined || p.exitCode !== null || p.signalCode !== null ? null : firstChild(p.pid);
    if (kid === null) return own(sig);
    try {
      process.kill(kid, sig);
    } catch {
      return own(sig);
    }
    if (sig === 'SIGKILL' || sig === 9) own('SIGKILL');
    return true;
  };
}
