/** What the Docker tests share: what a lab run left behind, and cleaning up only this file's runs. */
import { execFileSync } from 'node:child_process';
import Dockerode from 'dockerode';
import { runDockerClean } from '../../lab/docker/clean.js';

const docker = new Dockerode();

/** Containers and networks carrying run `prefix`'s label, and links of the machine named after it. */
export async function leftovers(prefix: string): Promise<string[]> {
  const filters = JSON.stringify({ label: [`org.fanout-lab.run=${prefix}`] });
  const c = await docker.listContainers({ all: true, filters });
  const n = await docker.listNetworks({ filters });
  const links = (JSON.parse(execFileSync('ip', ['-j', 'link', 'show']).toString()) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((x) => x.startsWith(`${prefix}-`));
  return [...c.map((x) => `container ${x.Names[0]}`), ...n.map((x) => `network ${x.Name}`), ...links.map((l) => `link ${l}`)];
}

/** Removes what these runs left (a forced `fanout clean` of every run would also take other tests' live runs). */
export async function cleanRuns(prefixes: readonly string[]): Promise<void> {
  const ours: string[] = [];
  for (const p of prefixes) if ((await leftovers(p)).length > 0) ours.push(p);
  if (ours.length > 0) await runDockerClean({ prefixes: ours, force: true });
}
