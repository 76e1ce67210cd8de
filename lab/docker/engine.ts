/**
 * Reaching the Docker engine: through testcontainers (which honours DOCKER_HOST, the Docker
 * contexts and ~/.testcontainers.properties), with Ryuk disabled by the lab itself (its image
 * cannot be pulled without a registry; the lab removes what it made by label instead), and the
 * checks that the engine is on this machine: the backend shapes the host side of each
 * container's veth with tc and bind-mounts the receivers' folders, both of which only work on
 * the engine's own machine.
 */
import { readFile, stat } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import type Dockerode from 'dockerode';
import type { ContainerRuntimeClient } from 'testcontainers';

/** What to do on a Linux machine without an engine. */
export const DOCKER_INSTALL_HINT =
  'install and start a Docker engine (Debian/Ubuntu: apt-get install docker.io, then start dockerd: systemctl start docker, or dockerd &)';

/** No engine, or one the backend cannot use. */
export class DockerEngineError extends Error {
  override readonly name = 'DockerEngineError';
}

/** The engine, as the backend uses it. */
export interface Engine {
  client: ContainerRuntimeClient;
  docker: Dockerode;
}

/**
 * testcontainers as the lab needs it: Ryuk off (its image cannot be pulled without a registry; the
 * lab cleans up itself: labels, `finally`, signals, `fanout clean`), and, unless the user set it,
 * the engine's host given as localhost: otherwise testcontainers finds it by running an
 * `alpine:3.14` container, a pull that fails offline (or hangs where a firewall drops it). The lab
 * maps no ports, and its engine is local anyway.
 */
export function configureTestcontainers(env: NodeJS.ProcessEnv = process.env): void {
  env.TESTCONTAINERS_RYUK_DISABLED = 'true';
  env.TESTCONTAINERS_HOST_OVERRIDE ??= 'localhost';
}

/** Connect (testcontainers' runtime client and its dockerode), or say what to do. */
export async function connectEngine(): Promise<Engine> {
  configureTestcontainers();
  const { getContainerRuntimeClient } = await import('testcontainers');
  let client: ContainerRuntimeClient;
  try {
    client = await getContainerRuntimeClient();
  } catch (e) {
    const where = process.env.DOCKER_HOST ? `DOCKER_HOST=${process.env.DOCKER_HOST}` : 'unix:///var/run/docker.sock';
    throw new DockerEngineError(`no Docker engine answers at ${where} (${(e as Error).message.split('\n')[0]}); ${DOCKER_INSTALL_HINT}`);
  }
  return { client, docker: client.container.dockerode };
}

/** Addresses of this machine (every interface), for telling a local tcp:// engine from a remote one. */
function localAddresses(): Set<string> {
  const out = new Set<string>(['localhost', '127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/**
 * Why DOCKER_HOST names an engine on another machine, or null when it may be local (unset,
 * unix://, tcp:// to one of this machine's addresses). Pure given `local`.
 */
export function remoteEngineReason(dockerHost: string | undefined, local: ReadonlySet<string> = localAddresses()): string | null {
  if (dockerHost === undefined || dockerHost === '' || dockerHost.startsWith('unix://') || dockerHost.startsWith('npipe://')) return null;
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+)/.exec(dockerHost);
  if (m) {
    const host = m[1]!.replace(/^\[|\]$/g, '');
    return local.has(host) ? null : `DOCKER_HOST=${dockerHost} is not an address of this machine`;
  }
  return `DOCKER_HOST=${dockerHost} reaches the engine through another machine`;
}

/** The message for an engine on another machine. */
export function remoteEngineMessage(reason: string): string {
  return (
    `the docker backend needs the engine on this machine (${reason}): it shapes the host side of each ` +
    `container's veth with tc, enters containers' network namespaces and bind-mounts the receivers' ` +
    `folders. Run the lab on the engine's machine (there DOCKER_HOST can stay unset, or be unix:// or tcp:// to a local address)`
  );
}

/**
 * Prove that `pid` (an engine's State.Pid) is the container's process on this machine: its
 * cgroup names the container, and its network namespace is not this process's. Throws
 * DockerEngineError otherwise (an engine elsewhere reports pids of its own machine).
 */
export async function checkContainerPid(pid: number, containerId: string, what: string): Promise<void> {
  if (!Number.isInteger(pid) || pid <= 1) throw new DockerEngineError(`${what}: the engine reports no process for it (pid ${pid})`);
  let cgroup: string;
  try {
    cgroup = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    throw new DockerEngineError(remoteEngineMessage(`${what}'s pid ${pid} does not exist here`));
  }
  if (!cgroup.includes(containerId)) throw new DockerEngineError(remoteEngineMessage(`pid ${pid} here is not ${what}'s process`));
  const [theirs, ours] = await Promise.all([stat(`/proc/${pid}/ns/net`), stat('/proc/self/ns/net')]);
  if (theirs.ino === ours.ino && theirs.dev === ours.dev) {
    throw new DockerEngineError(`${what} shares this machine's own network namespace (host networking?); refusing to shape it`);
  }
}
