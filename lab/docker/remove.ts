/**
 * Listing and removing one run's (or every run's) labelled containers and networks through the
 * engine's API. Only objects carrying the lab's run label are ever asked for, so nothing else
 * can be removed. No testcontainers import here: `fanout clean` uses this without loading it.
 *
 * Order matters on Docker 20.10 (Debian's docker.io): containers that leave a network at the
 * same time (parallel `rm -f`) sometimes lose an update of the network's endpoint count, and the
 * network then refuses removal ("has active endpoints") with no container attached, until the
 * engine restarts. Measured here with 64 containers: 5 of about 25 parallel teardowns left such a
 * network. So every container is first disconnected from the lab's network one at a time (each
 * endpoint count update alone), then the containers are removed in parallel, then the network.
 */
import type Dockerode from 'dockerode';
import { mapLimit } from '../netns/backend.js';
import { runFilter } from './plan.js';

/** Remove containers by id, killing them (`docker rm -f`), `limit` at a time; 404 = already gone. */
export async function removeContainers(docker: Dockerode, ids: readonly string[], limit = 16): Promise<string[]> {
  const errors: string[] = [];
  await mapLimit(ids, limit, async (id) => {
    try {
      await docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      const code = (e as { statusCode?: number }).statusCode;
      if (code !== 404 && !/removal of container .* is already in progress/i.test(String(e))) errors.push(`${id.slice(0, 12)}: ${(e as Error).message}`);
    }
  });
  return errors;
}

/** Disconnect every container from network `id`, one at a time (see the banner); `then(c)` after each. */
export async function disconnectAll(docker: Dockerode, id: string, then: (container: string) => unknown = () => {}): Promise<string[]> {
  const errors: string[] = [];
  let attached: string[];
  try {
    attached = Object.keys((await docker.getNetwork(id).inspect()).Containers ?? {});
  } catch (e) {
    return (e as { statusCode?: number }).statusCode === 404 ? [] : [`network ${id.slice(0, 12)}: ${(e as Error).message}`];
  }
  for (const c of attached) {
    try {
      await docker.getNetwork(id).disconnect({ Container: c, Force: true });
    } catch (e) {
      const code = (e as { statusCode?: number }).statusCode;
      if (code !== 404 && !/is not connected/i.test(String(e))) errors.push(`disconnect ${c.slice(0, 12)}: ${(e as Error).message}`);
    }
    then(c);
  }
  return errors;
}

/**
 * Remove a network; null when removed or already gone. The engine drops a removed container's
 * endpoint a moment after the removal returns ("has active endpoints"), so that answer is retried
 * for up to ~3 s.
 */
export async function removeNetwork(docker: Dockerode, id: string): Promise<string | null> {
  for (let attempt = 0; ; attempt++) {
    try {
      await docker.getNetwork(id).remove();
      return null;
    } catch (e) {
      if ((e as { statusCode?: number }).statusCode === 404) return null;
      if (!/active endpoints/i.test(String(e)) || attempt >= 15) return (e as Error).message;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/**
 * Remove lab containers and networks in the safe order (see the banner); returns the errors.
 * Pipelined: while the next container is being disconnected, those already off the network are
 * removed in parallel (removing a disconnected container touches no network's count), so the
 * teardown costs about the serial disconnects alone (~60 ms each here: the engine writes its
 * store for every endpoint) instead of disconnects plus removals.
 */
export async function removeObjects(
  docker: Dockerode,
  containerIds: readonly string[],
  networkIds: readonly string[],
  opts: { removeNetworks?: boolean; limit?: number } = {},
): Promise<string[]> {
  const limit = opts.limit ?? 16;
  const errors: string[] = [];
  const ours = new Set(containerIds);
  const removing: Promise<void>[] = [];
  let active = 0;
  const waiters: (() => void)[] = [];
  const remove = (id: string): void => {
    ours.delete(id);
    removing.push(
      (async () => {
        while (active >= limit) await new Promise<void>((r) => waiters.push(r));
        active++;
        try {
          errors.push(...(await removeContainers(docker, [id], 1)));
        } finally {
          active--;
          waiters.shift()?.();
        }
      })(),
    );
  };
  for (const n of networkIds) errors.push(...(await disconnectAll(docker, n, (c) => ours.has(c) && remove(c))));
  for (const id of [...ours]) remove(id);
  await Promise.all(removing);
  if (opts.removeNetworks === false) return errors;
  for (const n of networkIds) {
    const err = await removeNetwork(docker, n);
    if (err !== null) errors.push(`network ${n.slice(0, 12)}: ${err}`);
  }
  return errors;
}

/** Every lab container and network of run `prefix` (or of every run). */
export async function listRun(docker: Dockerode, prefix?: string): Promise<{ containers: Dockerode.ContainerInfo[]; networks: Dockerode.NetworkInspectInfo[] }> {
  const filters = JSON.stringify(runFilter(prefix));
  const [containers, networks] = await Promise.all([docker.listContainers({ all: true, filters }), docker.listNetworks({ filters })]);
  return { containers, networks };
}

/** Remove everything of run `prefix`, then list again. Returns what could not be removed. */
export async function removeRun(docker: Dockerode, prefix: string): Promise<string[]> {
  const first = await listRun(docker, prefix);
  const errors = await removeObjects(docker, first.containers.map((c) => c.Id), first.networks.map((n) => n.Id));
  const left = await listRun(docker, prefix);
  return [
    ...errors,
    ...left.containers.map((c) => `container ${c.Names[0] ?? c.Id} still present`),
    ...left.networks.map((n) => `network ${n.Name} still present`),
  ];
}
