/**
 * The Docker backend's pure parts, no engine needed: plan (names, addresses, blocks, labels),
 * the ip/tc/nsenter builders and the shared shaping lines, the host-side veth safety check against
 * `ip -j` output recorded on this machine, Dockerfile.receiver and its build arguments, the
 * content tag, the tar writer, ldd parsing, progress streams, and clean-up planning.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseLdd, rootfsDirs, rootfsEntries } from '../../lab/docker/base.js';
import { planDockerClean, type DockerCleanInputs } from '../../lab/docker/clean.js';
import { containerSetup, containerTc, downloadShapeLines, hostTc, nsenterNet, uploadChangeLines, uploadShapeLines } from '../../lab/docker/commands.js';
import { DOCKER_INSTALL_HINT, remoteEngineReason } from '../../lab/docker/engine.js';
import { contextEntries, contextTag, moduleClosure, staticImports, DOCKERFILE_NAME } from '../../lab/docker/image.js';
import {
  LABEL_OWNER_CMDLINE,
  LABEL_OWNER_PID,
  LABEL_RUN,
  blockSubnet,
  freeBlocks,
  labLabels,
  ownerOf,
  planDockerNetwork,
  runFilter,
} from '../../lab/docker/plan.js';
import { readProgress } from '../../lab/docker/progress.js';
import { splitTarName, tarHeader, tarStream } from '../../lab/docker/tar.js';
import { containerEth0, hostVethFor, lastJsonLine, parseVethList, recheckHostVeth, SafetyError } from '../../lab/docker/veth.js';
import { backendStatuses, type Capabilities } from '../../lab/doctor.js';
import { PlanError } from '../../lab/netns/plan.js';
import { rateChangeLines, shapeLines } from '../../lab/shaping.js';

const topo = (n: number, down = 10e6, up = 5e6) => ({
  receivers: Array.from({ length: n }, (_, i) => ({ index: i, downBps: i === n - 1 ? 2e6 : down, upBps: up })),
  sender: { upBps: 10e9 },
});

describe('docker plan', () => {
  it('names every object with the run prefix and mirrors the netns addresses inside a /20 of 198.19.0.0/16', () => {
    const p = planDockerNetwork(topo(3), 'fl0dc1', 2);
    expect(p).toMatchObject({ prefix: 'fl0dc1', network: 'fl0dc1-net', bridge: 'fl0dc1-br', block: 2, subnet: '198.19.32.0/20', gateway: '198.19.47.254' });
    expect(p.sender).toEqual({ role: 'sender', index: null, name: 'fl0dc1-s', address: '198.19.32.1', downBps: Infinity, upBps: 10e9 });
    expect(p.receivers.map((r) => [r.name, r.address, r.downBps, r.upBps])).toEqual([
      ['fl0dc1-r0', '198.19.32.2', 10e6, 5e6],
      ['fl0dc1-r1', '198.19.32.3', 10e6, 5e6],
      ['fl0dc1-r2', '198.19.32.4', 2e6, 5e6],
    ]);
    expect(blockSubnet(0)).toEqual({ subnet: '198.19.0.0/20', gateway: '198.19.15.254', base: (198 * 2 ** 24) + (19 << 16) });
    expect(blockSubnet(15).subnet).toBe('198.19.240.0/20');
  });

  it('refuses a bad prefix, a bad rate (with its path), too many receivers, an out-of-range block', () => {
    expect(() => planDockerNetwork(topo(1), 'lab1', 0)).toThrow(PlanError);
    expect(() => planDockerNetwork({ receivers: [{ index: 0, downBps: 0, upBps: 1 }], sender: { upBps: 1 } }, 'fl0dc1', 0)).toThrow('receivers[0].downBps');
    expect(() => planDockerNetwork(topo(4093), 'fl0dc1', 0)).toThrow('at most 4092');
    expect(planDockerNetwork(topo(4092), 'fl0dc1', 0).receivers.at(-1)!.address).toBe('198.19.15.253'); // just below the gateway
    expect(() => blockSubnet(16)).toThrow(PlanError);
  });

  it('picks only blocks no Docker network overlaps', () => {
    expect(freeBlocks([])).toEqual([...Array(16).keys()]);
    expect(freeBlocks(['172.17.0.0/16', '198.19.0.0/20', '198.19.40.0/24', 'fd00::/64', ''])).toEqual([1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(freeBlocks(['198.18.0.0/15'])).toEqual([]); // a network over the whole lab range leaves nothing
  });

  it('labels every object with the run and its owner, and reads the owner back', () => {
    const l = labLabels('fl0dc1', 'receiver', { pid: 4242, cmdline: ['node', 'fanout.js', 'lab'] }, 3);
    expect(l).toEqual({
      'org.fanout-lab.run': 'fl0dc1',
      'org.fanout-lab.role': 'receiver',
      'org.fanout-lab.owner-pid': '4242',
      'org.fanout-lab.owner-cmdline': '["node","fanout.js","lab"]',
      'org.fanout-lab.index': '3',
    });
    expect(ownerOf(l)).toEqual({ pid: 4242, cmdline: ['node', 'fanout.js', 'lab'] });
    expect(ownerOf({ [LABEL_OWNER_PID]: '7', [LABEL_OWNER_CMDLINE]: '{not json' })).toEqual({ pid: 7 });
    expect(ownerOf({ [LABEL_OWNER_PID]: 'x' })).toBeNull();
    expect(runFilter('fl0dc1')).toEqual({ label: ['org.fanout-lab.run=fl0dc1'] });
    expect(runFilter()).toEqual({ label: ['org.fanout-lab.run'] });
  });
});

describe('docker ip/tc builders (shaping shared with netns)', () => {
  it('sets up a container through nsenter -n: small GSO packets, then its eth0 listing', () => {
    expect(containerSetup(4711)).toEqual({
      argv: ['nsenter', '-t', '4711', '-n', '--', 'ip', '-j', '-batch', '-'],
      input: 'link set eth0 gso_max_segs 8\nlink show eth0\n',
    });
    expect(() => nsenterNet(1, ['ip'])).toThrow(RangeError); // never init's namespace
    expect(() => nsenterNet(0, ['ip'])).toThrow(RangeError);
  });

  it('shapes uploads inside and downloads on the host side with the very lines netns uses', () => {
    expect(uploadShapeLines(5e6)).toEqual(shapeLines('eth0', 5e6));
    expect(uploadShapeLines(Infinity)).toEqual([]);
    expect(containerTc(4711, uploadShapeLines(5e6))).toEqual({
      argv: ['nsenter', '-t', '4711', '-n', '--', 'tc', '-batch', '-'],
      input:
        'qdisc replace dev eth0 root handle 1: htb default 1\n' +
        'class replace dev eth0 parent 1: classid 1:1 htb rate 5000000bit ceil 5000000bit burst 2225b cburst 2225b\n',
    });
    expect(containerTc(4711, [])).toBeNull();
    const down = downloadShapeLines([
      { veth: 'vethc0c46ae', downBps: 10e6 },
      { veth: 'veth3816548', downBps: Infinity },
    ]);
    expect(down).toEqual(shapeLines('vethc0c46ae', 10e6));
    expect(hostTc(down)!.argv).toEqual(['tc', '-batch', '-']);
    expect(hostTc([])).toBeNull();
  });

  it('changes a rate in place, installs or removes shaping, and refuses a bad rate', () => {
    expect(uploadChangeLines(5e6, 1e6)).toEqual(['class change dev eth0 parent 1: classid 1:1 htb rate 1000000bit ceil 1000000bit burst 1725b cburst 1725b']);
    expect(rateChangeLines('vethab12cd3', Infinity, 1e6)).toEqual(shapeLines('vethab12cd3', 1e6));
    expect(rateChangeLines('vethab12cd3', 1e6, Infinity)).toEqual(['qdisc del dev vethab12cd3 root']);
    expect(rateChangeLines('vethab12cd3', 1e6, 1e6)).toEqual([]);
    expect(rateChangeLines('vethab12cd3', Infinity, Infinity)).toEqual([]);
    expect(() => rateChangeLines('vethab12cd3', 1e6, -1)).toThrow(RangeError);
  });
});

// Recorded on this machine (Debian 12, Docker 20.10.24, kernel 6.18) during a 2-receiver run with
// prefix fl0dc1: `ip -j link show` in the machine's namespace (trimmed to the relevant entries) and
// `nsenter -t PID -n ip -j link show eth0` in each receiver. `nsenter -t PID -n cat
// /sys/class/net/eth0/iflink` printed 4 in both containers: the host's own eth0.
const HOST_LINKS = `[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"mtu":65536,"qdisc":"noqueue","operstate":"UNKNOWN","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00"},{"ifindex":4,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1400,"qdisc":"pfifo_fast","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"02:fc:00:00:00:01","broadcast":"ff:ff:ff:ff:ff:ff"},{"ifindex":5,"ifname":"docker0","flags":["NO-CARRIER","BROADCAST","MULTICAST","UP"],"mtu":1500,"qdisc":"noqueue","operstate":"DOWN","linkmode":"DEFAULT","group":"default","link_type":"ether","address":"02:42:ee:4f:c4:ef","broadcast":"ff:ff:ff:ff:ff:ff"},{"ifindex":2897,"ifname":"fl0dc1-br","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"noqueue","operstate":"UP","linkmode":"DEFAULT","group":"default","link_type":"ether","address":"02:42:ee:ac:c3:bb","broadcast":"ff:ff:ff:ff:ff:ff"},{"ifindex":2923,"link_index":2922,"ifname":"vethc0c46ae","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"htb","master":"fl0dc1-br","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"1e:70:07:d9:d4:7c","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":49},{"ifindex":2925,"link_index":2924,"ifname":"veth3816548","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"htb","master":"fl0dc1-br","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"ae:4e:23:f1:28:be","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":44}]`;
const R0_ETH0 = `[{"ifindex":2922,"link_index":2923,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"htb","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"02:42:c6:13:00:02","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0}]`;
const R1_ETH0 = `[{"ifindex":2924,"link_index":2925,"ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"qdisc":"htb","operstate":"UP","linkmode":"DEFAULT","group":"default","txqlen":1000,"link_type":"ether","address":"02:42:c6:13:00:03","broadcast":"ff:ff:ff:ff:ff:ff","link_netnsid":0}]`;
/** What `cat /sys/class/net/eth0/iflink` under nsenter -n printed: the host's eth0, not the peer. */
const TRAP_IFLINK = 4;

describe('host-side veth safety check (recorded ip -j output)', () => {
  const host = parseVethList(HOST_LINKS);
  const eth0 = (text: string, what: string) => containerEth0(parseVethList(text), what);

  it("finds each container's own port on the lab's bridge, each end naming the other", () => {
    expect(hostVethFor(eth0(R0_ETH0, 'fl0dc1-r0'), host, 'fl0dc1-br', 'fl0dc1-r0')).toBe('vethc0c46ae');
    expect(hostVethFor(eth0(R1_ETH0, 'fl0dc1-r1'), host, 'fl0dc1-br', 'fl0dc1-r1')).toBe('veth3816548');
    expect(recheckHostVeth('vethc0c46ae', eth0(R0_ETH0, 'r0'), host, 'fl0dc1-br', 'r0')).toBe('vethc0c46ae');
    expect(() => recheckHostVeth('veth3816548', eth0(R0_ETH0, 'r0'), host, 'fl0dc1-br', 'r0')).toThrow(/now vethc0c46ae/);
  });

  it("refuses the sysfs trap: the iflink read through nsenter names the host's eth0", () => {
    const trapped = { ...eth0(R0_ETH0, 'r0'), link_index: TRAP_IFLINK };
    expect(() => hostVethFor(trapped, host, 'fl0dc1-br', 'fl0dc1-r0')).toThrow(SafetyError);
    expect(() => hostVethFor(trapped, host, 'fl0dc1-br', 'fl0dc1-r0')).toThrow('ifindex 4 is eth0, not a Docker veth');
  });

  it('refuses a veth on another bridge, one that does not point back, a missing bridge, a foreign bridge name', () => {
    const r0 = eth0(R0_ETH0, 'r0');
    const elsewhere = host.map((l) => (l.ifname === 'vethc0c46ae' ? { ...l, master: 'docker0' } : l));
    expect(() => hostVethFor(r0, elsewhere, 'fl0dc1-br', 'r0')).toThrow("not a port of the lab's bridge fl0dc1-br (master: docker0)");
    const crossed = host.map((l) => (l.ifname === 'vethc0c46ae' ? { ...l, link_index: 2924 } : l));
    expect(() => hostVethFor(r0, crossed, 'fl0dc1-br', 'r0')).toThrow('does not point back at eth0');
    expect(() => hostVethFor(r0, host.filter((l) => l.ifname !== 'fl0dc1-br'), 'fl0dc1-br', 'r0')).toThrow("the lab's bridge fl0dc1-br is not in the host namespace");
    expect(() => hostVethFor(r0, host, 'docker0', 'r0')).toThrow('docker0 is not a lab bridge name');
    expect(() => hostVethFor({ ...r0, link_index: 99999 }, host, 'fl0dc1-br', 'r0')).toThrow('no interface with ifindex 99999');
  });

  it("refuses a container listing that is not one veth eth0 with its peer in another namespace", () => {
    expect(() => eth0('[]', 'r0')).toThrow('expected one eth0');
    expect(() => eth0(R0_ETH0.replace('"link_netnsid":0', '"x":0'), 'r0')).toThrow('no link_netnsid');
    expect(() => eth0(R0_ETH0.replace('"link_index":2923,', ''), 'r0')).toThrow('no link_index');
    expect(() => eth0(R0_ETH0.replace('"ifname":"eth0"', '"ifname":"eth1"'), 'r0')).toThrow('expected one eth0');
  });

  it('reads the listing out of a batch that also configured the link', () => {
    expect(parseVethList(lastJsonLine(`\n${R0_ETH0}\n`))[0]!.ifindex).toBe(2922);
    expect(() => lastJsonLine('')).toThrow(SyntaxError);
  });
});

describe('Dockerfile.receiver and the image content tag', () => {
  const dockerfile = readFileSync(new URL(`../../${DOCKERFILE_NAME}`, import.meta.url), 'utf8');

  it('takes BASE_IMAGE (default node:20-slim) before FROM and starts node with the receiver', () => {
    const lines = dockerfile.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    expect(lines[0]).toBe('ARG BASE_IMAGE=node:20-slim');
    expect(lines[1]).toBe('FROM ${BASE_IMAGE}');
    const entry = lines.find((l) => l.startsWith('ENTRYPOINT'))!;
    expect(JSON.parse(entry.slice('ENTRYPOINT'.length))).toEqual(['node', '/app/dist/cli/fanout.js', 'receive']);
    expect(lines).toContain('COPY dist/ /app/dist/');
  });

  it('follows static relative imports only (dynamic imports stay out)', () => {
    expect(staticImports(`import { a } from './a.js';\nimport {\n  b,\n} from "../core/b.js";\nexport * from './c.js';\nimport './d.js';\nconst m = await import('./lazy.js');\nimport x from 'node:fs';`)).toEqual([
      './a.js',
      '../core/b.js',
      './c.js',
      './d.js',
    ]);
    const tree: Record<string, string> = {
      'cli/fanout.js': `import { x } from './exit.js';\nconst load = () => import('./lab.js');`,
      'cli/receive.js': `import { S } from '../receiver/server.js';\nimport { fail } from './exit.js';`,
      'cli/exit.js': '',
      'receiver/server.js': `import { F } from '../wire/frames.js';`,
      'wire/frames.js': '',
      'cli/lab.js': `import 'testcontainers';`,
    };
    expect(moduleClosure(['cli/fanout.js', 'cli/receive.js'], (rel) => tree[rel]!)).toEqual(['cli/exit.js', 'cli/fanout.js', 'cli/receive.js', 'receiver/server.js', 'wire/frames.js']);
  });

  it('tags by content: any byte, build argument or base changes the tag; the same input gives the same tag', () => {
    const files = [
      { name: 'Dockerfile.receiver', content: Buffer.from(dockerfile) },
      { name: 'dist/cli/fanout.js', content: Buffer.from('console.log(1)') },
    ];
    const tag = contextTag(files, { BASE_IMAGE: 'fanout-lab-node-base:abc' }, 'sha256:1');
    expect(tag).toMatch(/^fanout-lab-receiver:[0-9a-f]{16}$/);
    expect(contextTag([...files].reverse(), { BASE_IMAGE: 'fanout-lab-node-base:abc' }, 'sha256:1')).toBe(tag);
    expect(contextTag([files[0]!, { ...files[1]!, content: Buffer.from('console.log(2)') }], { BASE_IMAGE: 'fanout-lab-node-base:abc' }, 'sha256:1')).not.toBe(tag);
    expect(contextTag(files, { BASE_IMAGE: 'node:20-slim' }, 'sha256:1')).not.toBe(tag);
    expect(contextTag(files, { BASE_IMAGE: 'fanout-lab-node-base:abc' }, 'sha256:2')).not.toBe(tag);
    expect(contextEntries(files).map((e) => `${e.type} ${e.name}`)).toEqual(['dir dist', 'dir dist/cli', 'file Dockerfile.receiver', 'file dist/cli/fanout.js']);
  });
});

describe('offline base: ldd and the root filesystem', () => {
  // `ldd /usr/bin/node` on this machine.
  const LDD = `\tlinux-vdso.so.1 (0x00007fa698af1000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007fa698ada000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fa698800000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007fa698720000)
\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007fa698aba000)
\tlibpthread.so.0 => /lib/x86_64-linux-gnu/libpthread.so.0 (0x00007fa698ab5000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fa69853e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fa698af3000)
`;

  it('lists every library with a file, the loader included, and fails on a missing one', () => {
    expect(parseLdd(LDD)).toEqual([
      '/lib/x86_64-linux-gnu/libdl.so.2',
      '/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/lib/x86_64-linux-gnu/libm.so.6',
      '/lib/x86_64-linux-gnu/libgcc_s.so.1',
      '/lib/x86_64-linux-gnu/libpthread.so.0',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/lib64/ld-linux-x86-64.so.2',
    ]);
    expect(parseLdd('\tstatically linked\n')).toEqual([]);
    expect(() => parseLdd('\tlibnode.so.108 => not found\n')).toThrow('libnode.so.108 => not found');
  });

  it('puts node where the official image has it, parents before children, and a sticky /tmp', () => {
    expect(rootfsDirs(['/usr/local/bin/node', '/lib64/ld-linux-x86-64.so.2', '/lib/x86_64-linux-gnu/libc.so.6'])).toEqual(['/lib', '/lib64', '/usr', '/lib/x86_64-linux-gnu', '/usr/local', '/usr/local/bin']);
    const entries = rootfsEntries([{ path: '/usr/local/bin/node', source: '/usr/bin/node', size: 10, mode: 0o755 }]);
    expect(entries.map((e) => `${e.type} ${e.name}`)).toEqual(['dir usr', 'dir usr/local', 'dir usr/local/bin', 'dir tmp', 'file usr/local/bin/node']);
    expect(entries.find((e) => e.name === 'tmp')).toEqual({ type: 'dir', name: 'tmp', mode: 0o1777 });
  });
});

describe('tar writer', () => {
  it('writes valid ustar headers (checksum, long names split into prefix)', () => {
    const h = tarHeader({ type: 'file', name: 'a/b.txt', size: 5, source: Buffer.from('hello') });
    expect(h.length).toBe(512);
    const stored = parseInt(h.subarray(148, 154).toString(), 8);
    const copy = Buffer.from(h);
    copy.fill(0x20, 148, 156);
    expect(copy.reduce((s, b) => s + b, 0)).toBe(stored);
    expect(h.subarray(257, 262).toString()).toBe('ustar');
    const long = `${'d'.repeat(90)}/${'e'.repeat(90)}/f.js`;
    expect(splitTarName(long)).toEqual({ prefix: 'd'.repeat(90), name: `${'e'.repeat(90)}/f.js` }); // the prefix holds at most 155
    expect(() => splitTarName('x'.repeat(300))).toThrow(RangeError);
  });

  it('is read back by tar(1): names, modes, sizes, a symlink', async () => {
    const chunks: Buffer[] = [];
    for await (const c of tarStream([
      { type: 'dir', name: 'app' },
      { type: 'file', name: 'app/x.js', size: 3, mode: 0o755, source: Buffer.from('abc') },
      { type: 'file', name: 'app/package.json', size: 2, source: Buffer.from('{}') },
      { type: 'symlink', name: 'app/link', target: 'x.js' },
    ])) {
      chunks.push(c as Buffer);
    }
    const tar = Buffer.concat(chunks);
    expect(tar.length % 512).toBe(0);
    const listing = execFileSync('tar', ['-tvf', '-'], { input: tar }).toString().trim().split('\n');
    expect(listing.map((l) => l.split(/\s+/).slice(-1)[0] === 'x.js' ? l.split(/\s+/).slice(-3).join(' ') : l.split(/\s+/).pop())).toEqual(['app/', 'app/x.js', 'app/package.json', 'app/link -> x.js']);
    expect(listing[1]).toMatch(/^-rwxr-xr-x root\/root\s+3 /);
    expect(execFileSync('tar', ['-xOf', '-', 'app/x.js'], { input: tar }).toString()).toBe('abc');
  });
});

describe('Docker progress streams', () => {
  it("returns the builder's own error from inside a successful HTTP answer", () => {
    // A build whose base does not exist, as the engine streamed it (Docker 20.10, no registry), raw.
    const text =
      '{"stream":"Step 1/3 : ARG BASE_IMAGE=node:20-slim"}\r\n{"stream":"\\n"}\r\n{"stream":"Step 2/3 : FROM ${BASE_IMAGE}"}\r\n{"stream":"\\n"}\r\n' +
      '{"errorDetail":{"message":"Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host"},"error":"Get \\"https://registry-1.docker.io/v2/\\": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host"}\r\n';
    const p = readProgress(text);
    expect(p.error).toBe('Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host');
    expect(p.lines).toEqual(['Step 1/3 : ARG BASE_IMAGE=node:20-slim', 'Step 2/3 : FROM ${BASE_IMAGE}']);
    expect(readProgress('{"aux":{"ID":"sha256:abc"}}\n{"stream":"Successfully built abc\\n"}').error).toBeNull();
    expect(readProgress('{"aux":{"ID":"sha256:abc"}}').id).toBe('sha256:abc');
  });
});

describe('fanout clean: the Docker part', () => {
  const owner = (pid: number) => labLabels('fl0dc1', 'receiver', { pid, cmdline: ['node', 'dist/cli/fanout.js', 'lab', 'x.yaml'] });
  const base = (over: Partial<DockerCleanInputs> = {}): DockerCleanInputs => ({
    containers: [
      { id: 'c'.repeat(64), name: 'fl0dc1-s', labels: owner(100), pid: 5000 },
      { id: 'd'.repeat(64), name: 'fl0dc1-r0', labels: owner(100), pid: 0 },
      { id: 'e'.repeat(64), name: 'somebody-else', labels: { [LABEL_RUN]: 'not-a-prefix' }, pid: 0 },
    ],
    networks: [{ id: 'n1', name: 'fl0dc1-net', labels: { ...owner(100), 'org.fanout-lab.role': 'network' } }],
    cmdlines: new Map([
      [100, null],
      [6001, ['/usr/bin/node', '/work/main/dist/cli/fanout.js', 'send', '--json']],
      [6002, ['sleep', '1000']],
    ]),
    strayPids: new Map([['c'.repeat(64), [6001, 6002]]]),
    selfPid: 1,
    ...over,
  });

  it("removes a dead owner's containers and network, kills only fanout processes left in their namespaces", () => {
    const p = planDockerClean(base());
    expect(p.removeContainers.map((c) => c.name)).toEqual(['fl0dc1-s', 'fl0dc1-r0']);
    expect(p.removeNetworks.map((n) => n.name)).toEqual(['fl0dc1-net']);
    expect(p.kill).toEqual([{ pid: 6001, reason: "running in lab container fl0dc1-s's network namespace" }]);
    expect(p.skipped).toEqual([{ what: 'pid 6002', reason: "in fl0dc1-s's network namespace but not a fanout process: sleep 1000" }]);
  });

  it('leaves a run whose owner is alive (same argv) unless forced, and honours --prefix', () => {
    const alive = base({ cmdlines: new Map([[100, ['node', 'dist/cli/fanout.js', 'lab', 'x.yaml']]]) });
    const p = planDockerClean(alive);
    expect(p.removeContainers).toEqual([]);
    expect(p.removeNetworks).toEqual([]);
    expect(p.kill).toEqual([]);
    expect(p.skipped.map((s) => s.what)).toEqual(['container fl0dc1-s', 'container fl0dc1-r0', 'network fl0dc1-net']);
    expect(planDockerClean({ ...alive, force: true }).removeContainers).toHaveLength(2);
    // A reused pid (another program now) is no owner.
    expect(planDockerClean(base({ cmdlines: new Map([[100, ['bash']]]) })).removeContainers).toHaveLength(2);
    expect(planDockerClean({ ...base(), prefixes: ['fl9999'] }).removeContainers).toEqual([]);
  });
});

describe('doctor: the docker backend', () => {
  const probe = (ok: boolean, detail: string, endpoint = 'unix:///var/run/docker.sock') => ({ ok, detail, endpoint });
  const caps = (root: boolean, docker: ReturnType<typeof probe>): Omit<Capabilities, 'backends' | 'kernel'> => {
    const p = { ok: true, detail: '' };
    return { root, netns: p, veth: p, bridge: p, htb: p, netem: { ok: false, detail: '' }, nftables: p, docker };
  };

  it('is usable with an engine on this machine and root, and says what is missing otherwise', () => {
    expect(backendStatuses(caps(true, probe(true, 'engine 20.10.24 answers (API 1.41)'))).docker).toEqual({
      usable: true,
      reason: 'Docker engine 20.10.24 answers (API 1.41) at unix:///var/run/docker.sock',
    });
    expect(backendStatuses(caps(false, probe(true, 'engine 20.10.24 answers (API 1.41)'))).docker.reason).toMatch(/but the docker backend needs root/);
    const none = backendStatuses(caps(true, probe(false, 'no engine: ENOENT'))).docker;
    expect(none.usable).toBe(false);
    if (process.platform === 'linux') expect(none.reason).toContain('apt-get install docker.io, then start dockerd');
    expect(DOCKER_INSTALL_HINT).toContain('apt-get install docker.io');
    const far = backendStatuses(caps(true, probe(true, 'engine answers', 'tcp://203.0.113.7:2375'))).docker;
    expect(far.usable).toBe(false);
    expect(far.reason).toContain('needs the engine on this machine');
  });

  it('tells a local DOCKER_HOST from a remote one', () => {
    const local = new Set(['127.0.0.1', '::1', 'localhost', '10.0.0.5']);
    expect(remoteEngineReason(undefined, local)).toBeNull();
    expect(remoteEngineReason('unix:///run/docker.sock', local)).toBeNull();
    expect(remoteEngineReason('tcp://10.0.0.5:2375', local)).toBeNull();
    expect(remoteEngineReason('tcp://[::1]:2375', local)).toBeNull();
    expect(remoteEngineReason('tcp://build-box:2376', local)).toBe('DOCKER_HOST=tcp://build-box:2376 is not an address of this machine');
    expect(remoteEngineReason('ssh://me@box', local)).toMatch(/through another machine/);
  });
});
