/**
 * The hosts of a Docker lab network once their containers run: their links set up and shaped at
 * bring-up (setUpHosts), their rates changed in place later (changeRates), every interface proved
 * first. Shared by bring-up, the per-run reset to the scenario's rates, and timed events.
 */
import type { Commander } from '../commander.js';
import { mapLimit } from '../netns/backend.js';
import { rateChangeLines } from '../shaping.js';
import { containerSetup, containerTc, downloadShapeLines, hostLinkShow, hostTc, uploadChangeLines, uploadShapeLines } from './commands.js';
import type { RunningContainer } from './containers.js';
import { checkContainerPid } from './engine.js';
import type { DockerHostPlan, DockerPlan } from './plan.js';
import { containerEth0, hostVethFor, lastJsonLine, parseVethList, recheckHostVeth, type VethLink } from './veth.js';

/** One host as it runs: its container, its eth0 listing, its host-side veth, its current rates. */
export interface LiveHost {
  plan: DockerHostPlan;
  container: RunningContainer;
  eth0: VethLink;
  veth: string;
  downBps: number;
  upBps: number;
}

function run(commander: Commander, inv: { argv: string[]; input?: string } | null): Promise<{ stdout: string }> {
  if (inv === null) return Promise.resolve({ stdout: '' });
  return inv.input === undefined ? commander.run(inv.argv) : commander.run(inv.argv, { input: inv.input });
}

/**
 * Set up started containers: in each, small GSO packets on eth0 and its listing, then its upload
 * shaped; then one listing of the host namespace proves every host-side veth, and one tc batch
 * shapes every download. Every pid is proved to be its container's before nsenter uses it.
 */
export async function setUpHosts(commander: Commander, plan: DockerPlan, hosts: { plan: DockerHostPlan; container: RunningContainer }[]): Promise<LiveHost[]> {
  const eth0s = await mapLimit(hosts, 8, async ({ plan: h, container: c }) => {
    await checkContainerPid(c.pid, c.id, c.name);
    const eth0 = containerEth0(parseVethList(lastJsonLine((await run(commander, containerSetup(c.pid))).stdout)), c.name);
    await run(commander, containerTc(c.pid, uploadShapeLines(h.upBps)));
    return eth0;
  });
  const hostList = parseVethList((await run(commander, hostLinkShow())).stdout);
  const live: LiveHost[] = hosts.map(({ plan: h, container }, i) => ({
    plan: h,
    container,
    eth0: eth0s[i]!,
    veth: hostVethFor(eth0s[i]!, hostList, plan.bridge, container.name),
    downBps: h.downBps,
    upBps: h.upBps,
  }));
  await run(commander, hostTc(downloadShapeLines(live.map((l) => ({ veth: l.veth, downBps: l.downBps })))));
  return live;
}

/** A change of one host's rates (bit/s; absent = unchanged, Infinity = unshaped). */
export interface RateChange {
  host: LiveHost;
  downBps?: number;
  upBps?: number;
}

/**
 * Change rates in place (`tc class change`, or install/remove when a direction becomes shaped or
 * unshaped). Every container pid and host-side veth is proved again first (a container may have
 * died and its pid or veth name been reused), all before any command runs.
 */
export async function changeRates(commander: Commander, plan: DockerPlan, changes: readonly RateChange[]): Promise<void> {
  const todo = changes.filter((c) => (c.downBps !== undefined && c.downBps !== c.host.downBps) || (c.upBps !== undefined && c.upBps !== c.host.upBps));
  if (todo.length === 0) return;
  const hostList = todo.some((c) => c.downBps !== undefined) ? parseVethList((await run(commander, hostLinkShow())).stdout) : [];
  const hostLines: string[] = [];
  const inside: { c: RateChange; lines: string[] }[] = [];
  for (const c of todo) {
    const h = c.host;
    await checkContainerPid(h.container.pid, h.container.id, h.container.name);
    if (c.downBps !== undefined) {
      recheckHostVeth(h.veth, h.eth0, hostList, plan.bridge, h.container.name);
      hostLines.push(...rateChangeLines(h.veth, h.downBps, c.downBps));
    }
    if (c.upBps !== undefined) inside.push({ c, lines: uploadChangeLines(h.upBps, c.upBps) });
  }
  await run(commander, hostTc(hostLines));
  await mapLimit(inside, 8, ({ c, lines }) => run(commander, containerTc(c.host.container.pid, lines)));
  for (const c of todo) {
    if (c.downBps !== undefined) c.host.downBps = c.downBps;
    if (c.upBps !== undefined) c.host.upBps = c.upBps;
  }
}
