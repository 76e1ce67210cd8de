/**
 * Starting and removing the lab's containers. Containers are created and started with
 * testcontainers (GenericContainer, with a log wait strategy on the receiver's ready line); the
 * two things it has no call for, a fixed address on a user network and sysctls, are set through
 * its subclassing hooks; listing and removing by label go through its dockerode.
 */
import { GenericContainer, Wait } from 'testcontainers';
import type Dockerode from 'dockerode';
import { RECEIVER_PORT } from '../hosts.js';
import { CONTAINER_OUT_DIR, labLabels, type DockerHostPlan, type DockerPlan, type Owner } from './plan.js';


/** How long a container may take to print its ready line. */
export const READY_TIMEOUT_MS = 30_000;
/** The line `fanout receive --json` prints once it listens (cli/receive.ts). */
export const RECEIVER_READY = '"event":"listening"';
/** What the sender's idle namespace holder prints once up. */
export const SENDER_READY = 'fanout-lab sender namespace ready';
const SENDER_IDLE_JS = `process.on('SIGTERM',()=>process.exit(0));console.log(${JSON.stringify(SENDER_READY)});setInterval(()=>{},1<<30)`;

/** GenericContainer plus the two settings the lab needs that it has no call for. */
export class LabContainer extends GenericContainer {
  /** Join `network` at a fixed `address` (the plan's), not the next free one. */
  withStaticAddress(network: string, address: string): this {
    this.withNetworkMode(network);
    this.createOpts.NetworkingConfig = { EndpointsConfig: { [network]: { IPAMConfig: { IPv4Address: address } } } };
    return this;
  }

  withSysctls(sysctls: Record<string, string>): this {
    this.hostConfig.Sysctls = { ...this.hostConfig.Sysctls, ...sysctls };
    return this;
  }
}

/** A started lab container, as the backend tracks it. */
export interface RunningContainer {
  id: string;
  name: string;
  pid: number;
  /** The last few KB its stdout/stderr printed (for error messages). */
  output: () => string;
}

/** No IPv6 inside (no link-local chatter on shaped links; the netns backend's `addrgenmode none`). */
const SYSCTLS = { 'net.ipv6.conf.all.disable_ipv6': '1', 'net.ipv6.conf.default.disable_ipv6': '1' };

function tail(max = 4000): { consume: (s: NodeJS.ReadableStream) => void; text: () => string } {
  let buf = '';
  return {
    consume: (s) => {
      s.on('data', (c: Buffer | string) => {
        buf = (buf + c.toString()).slice(-max);
      });
      s.on('error', () => {});
    },
    text: () => buf,
  };
}

async function startOne(docker: Dockerode, c: LabContainer, name: string, out: ReturnType<typeof tail>): Promise<RunningContainer> {
  let started;
  try {
    started = await c.start();
  } catch (e) {
    const said = out.text().trim();
    throw new Error(`container ${name} did not start: ${(e as Error).message}${said ? `; it printed: ${said.slice(-1500)}` : ''}`);
  }
  const id = started.getId();
  const info = await docker.getContainer(id).inspect();
  return { id, name, pid: info.State.Pid, output: out.text };
}

/**
 * Start receiver `h` storing into `outDir` (bind-mounted as /out: its exchange slot), running as
 * `user` (uid:gid). It lives for the whole lab.
 */
export function startReceiver(docker: Dockerode, image: string, plan: DockerPlan, h: DockerHostPlan, outDir: string, owner: Owner, user: string): Promise<RunningContainer> {
  const out = tail();
  const name = h.name;
  const c = new LabContainer(image)
    .withName(name)
    .withLabels(labLabels(plan.prefix, 'receiver', owner, h.index ?? undefined))
    .withStaticAddress(plan.network, h.address)
    .withSysctls(SYSCTLS)
    .withBindMounts([{ source: outDir, target: CONTAINER_OUT_DIR, mode: 'rw' }])
    .withUser(user)
    .withCommand(['--json', '--listen', `${h.address}:${RECEIVER_PORT}`, '--out', CONTAINER_OUT_DIR])
    .withWaitStrategy(Wait.forLogMessage(RECEIVER_READY))
    .withStartupTimeout(READY_TIMEOUT_MS)
    .withLogConsumer((s) => out.consume(s));
  return startOne(docker, c, name, out);
}

/** Start the sender's namespace holder: the same image, idling. */
export function startSenderHolder(docker: Dockerode, image: string, plan: DockerPlan, owner: Owner): Promise<RunningContainer> {
  return startIdle(docker, image, plan, plan.sender, owner);
}

/**
 * Start host `h` as an idle container of `image` (node idling as its process 1), with `mounts`
 * (folders of this machine) bind-mounted read-write at the same paths inside: the programs the
 * lab starts in it later (nsenter, backend.ts) then find every path of their argv unchanged.
 */
export function startIdle(docker: Dockerode, image: string, plan: DockerPlan, h: DockerHostPlan, owner: Owner, mounts: readonly string[] = []): Promise<RunningContainer> {
  const out = tail();
  const role = h.role === 'receiver' ? 'receiver' : h.role === 'service' ? 'service' : 'sender';
  const c = new LabContainer(image)
    .withName(h.name)
    .withLabels(labLabels(plan.prefix, role, owner, h.index ?? undefined))
    .withStaticAddress(plan.network, h.address)
    .withSysctls(SYSCTLS)
    .withEntrypoint(['node', '-e', SENDER_IDLE_JS])
    .withCommand([])
    .withWaitStrategy(Wait.forLogMessage(SENDER_READY))
    .withStartupTimeout(READY_TIMEOUT_MS)
    .withLogConsumer((s) => out.consume(s));
  if (mounts.length > 0) c.withBindMounts(mounts.map((m) => ({ source: m, target: m, mode: 'rw' as const })));
  return startOne(docker, c, h.name, out);
}
