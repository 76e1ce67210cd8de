/**
 * npm run bench:loss [-- --count N --pps P]
 *
 * Is a configured loss rate the loss rate datagrams meet? Brings up a lab network (network
 * namespaces, as root) with three receivers whose links drop 1 %, 5 % and 10 % in each direction
 * (nftables random drop on this kernel, netem where the kernel has it), sends N datagrams (default
 * 100,000) across each link in each direction, paced below the link rate so no queue drops any,
 * counts what arrives, and prints configured against measured with the binomial standard error.
 */
import { parseArgs } from 'node:util';
import { RealCommander } from '../lab/commander.js';
import { detectCapabilities } from '../lab/doctor.js';
import { NetnsNetwork } from '../lab/netns/backend.js';
import { NetnsHosts } from '../lab/netns/hosts.js';
import { measureLoss } from '../lab/probe/loss.js';
import { parseScenario } from '../lab/scenario/index.js';

const { values } = parseArgs({ options: { count: { type: 'string', default: '100000' }, pps: { type: 'string', default: '10000' } } });
const count = Number(values.count);
const pps = Number(values.pps);
const RATES = [1, 5, 10];

const caps = await detectCapabilities(new RealCommander());
if (!caps.backends.netns.usable) {
  process.stderr.write(`bench:loss needs the netns backend: ${caps.backends.netns.reason}\n`);
  process.exit(2);
}
const how = caps.netem.ok ? 'netem' : 'nftables';
const groups = RATES.map((p, i) => `    - select: { index: ${i} }\n      loss: ${p}%\n`).join('');
const t = parseScenario(
  `name: bench-loss\nfile: { size: 1MiB }\ntransfer: { job: whole-file }\nstrategies: [bittorrent/aria2]\nreceivers:\n  count: ${RATES.length}\n  down: 200mbit\n  up: 200mbit\n  groups:\n${groups}source: { up: 1gbit, down: 1gbit }\n`,
  { netem: caps.netem.ok, nftables: caps.nftables.ok },
  'bench-loss',
);
const net = new NetnsHosts(await NetnsNetwork.up(t, { commander: new RealCommander(), impairments: how }));
const rows: string[] = [];
try {
  process.stdout.write(`loss by ${how}; ${count} datagrams of 64 bytes per link and direction at ${pps}/s\n\n`);
  process.stdout.write('configured | direction | sent | received | measured loss | 1 sd (binomial) | measured - configured\n');
  process.stdout.write('--- | --- | --- | --- | --- | --- | ---\n');
  for (const dir of ['down', 'up'] as const) {
    const results = await Promise.all(
      RATES.map((_, i) => {
        const node = { role: 'receiver', index: i } as const;
        const src = { role: 'source' } as const;
        return dir === 'down' ? measureLoss(net, src, node, count, pps, 47000 + i) : measureLoss(net, node, src, count, pps, 47000 + i);
      }),
    );
    results.forEach((m, i) => {
      const p = RATES[i]! / 100;
      const sd = 100 * Math.sqrt((p * (1 - p)) / m.sent);
      const line = `${RATES[i]} % | ${dir} | ${m.sent} | ${m.received} | ${m.lossPct.toFixed(3)} % | ${sd.toFixed(3)} % | ${(m.lossPct - RATES[i]!).toFixed(3)} %`;
      rows.push(line);
      process.stdout.write(`${line}\n`);
    });
  }
} finally {
  await net.down();
}
