import { describe, expect, it } from 'vitest';
import {
  bridgeSetup,
  changeRate,
  createNamespaces,
  deleteNamespaces,
  execInNamespace,
  hostSetup,
  htbBurstBytes,
  htbRate,
  listLinks,
  parseNetnsList,
  shapingInvocations,
} from '../../lab/netns/commands.js';
import {
  PlanError,
  isLabAddress,
  isLabName,
  makeRunPrefix,
  planNetwork,
  receiverAddress,
  senderAddress,
} from '../../lab/netns/plan.js';

const topo = {
  receivers: [
    { index: 0, downBps: 10_000_000, upBps: 5_000_000 },
    { index: 1, downBps: 50_000_000, upBps: 20_000_000 },
  ],
  sender: { upBps: 1_000_000_000 },
};
const plan = planNetwork(topo, 'fl0a1b');

describe('plan', () => {
  it('names every namespace and interface with the prefix, host ends eth0', () => {
    expect(plan.bridgeNs).toBe('fl0a1b-br');
    expect(plan.bridge).toBe('fl0a1b-br');
    expect(plan.sender).toEqual({
      role: 'sender',
      index: null,
      ns: 'fl0a1b-s',
      ifname: 'eth0',
      address: '198.18.0.1',
      bridgePort: 'fl0a1b-s',
      downBps: Infinity,
      upBps: 1_000_000_000,
    });
    expect(plan.receivers.map((r) => [r.ns, r.bridgePort, r.address, r.downBps, r.upBps])).toEqual([
      ['fl0a1b-r0', 'fl0a1b-r0', '198.18.0.2', 10_000_000, 5_000_000],
      ['fl0a1b-r1', 'fl0a1b-r1', '198.18.0.3', 50_000_000, 20_000_000],
    ]);
  });

  it('gives unique addresses inside 198.18.0.0/15, none the sender, network or broadcast', () => {
    expect(senderAddress()).toBe('198.18.0.1');
    expect(receiverAddress(0)).toBe('198.18.0.2');
    expect(receiverAddress(253)).toBe('198.18.0.255');
    expect(receiverAddress(254)).toBe('198.18.1.0');
    const last = 2 ** 17 - 4;
    expect(receiverAddress(last)).toBe('198.19.255.254');
    expect(() => receiverAddress(last + 1)).toThrow(PlanError);
    const seen = new Set<string>();
    for (let i = 0; i < 5000; i++) {
      const a = receiverAddress(i);
      expect(isLabAddress(a)).toBe(true);
      seen.add(a);
    }
    expect(seen.size).toBe(5000);
    expect(seen.has(senderAddress())).toBe(false);
    expect(isLabAddress('198.20.0.1')).toBe(false);
    expect(isLabAddress('10.0.0.1')).toBe(false);
  });

  it('makes prefixes fl + 4 lowercase hex', () => {
    expect(makeRunPrefix(() => new Uint8Array([0xab, 0x05]))).toBe('flab05');
    for (let i = 0; i < 50; i++) expect(makeRunPrefix()).toMatch(/^fl[0-9a-f]{4}$/);
    expect(isLabName('fl3a9c-r0')).toBe(true);
    expect(isLabName('flx')).toBe(false);
    expect(isLabName('fl3a9c')).toBe(false);
    expect(isLabName('myns')).toBe(false);
  });

  it('keeps interface names within 15 characters for large labs', () => {
    const many = planNetwork({ receivers: Array.from({ length: 10_000 }, (_, i) => ({ index: i, downBps: 1e6, upBps: 1e6 })), sender: { upBps: 1e6 } }, 'flffff');
    expect(many.receivers[9999]!.bridgePort).toBe('flffff-r9999');
    expect(Math.max(...many.receivers.map((r) => r.bridgePort.length))).toBeLessThanOrEqual(15);
  });

  it('rejects bad rates with their path, bad prefixes, out-of-order receivers', () => {
    expect(() => planNetwork({ ...topo, receivers: [{ index: 0, downBps: 0, upBps: 1 }] }, 'fl0a1b')).toThrow(
      'receivers[0].downBps: expected a positive rate in bit/s or Infinity (got 0)',
    );
    expect(() => planNetwork({ ...topo, sender: { upBps: Number.NaN } }, 'fl0a1b')).toThrow('sender.upBps');
    expect(() => planNetwork(topo, 'FL0A1B')).toThrow(PlanError);
    expect(() => planNetwork(topo, 'fl0a1b-')).toThrow(PlanError);
    expect(() => planNetwork({ ...topo, receivers: [{ index: 1, downBps: 1, upBps: 1 }] }, 'fl0a1b')).toThrow('receivers[0].index');
  });
});

describe('command builders (2 receivers)', () => {
  it('execInNamespace wraps argv', () => {
    expect(execInNamespace('fl0a1b-r0', ['node', 'r.js', '--port', '5001'])).toEqual([
      'ip', 'netns', 'exec', 'fl0a1b-r0', 'node', 'r.js', '--port', '5001',
    ]);
  });

  it('creates every namespace in one ip batch', () => {
    expect(createNamespaces(plan)).toEqual({
      argv: ['ip', '-batch', '-'],
      input: 'netns add fl0a1b-br\nnetns add fl0a1b-s\nnetns add fl0a1b-r0\nnetns add fl0a1b-r1\n',
    });
  });

  it('builds the bridge and veths inside the bridge namespace, peers made as eth0 in each host', () => {
    const inv = bridgeSetup(plan);
    expect(inv.argv).toEqual(['ip', '-n', 'fl0a1b-br', '-batch', '-']);
    expect(inv.input!.split('\n')).toEqual([
      'link set lo up',
      'link add fl0a1b-br type bridge mcast_snooping 0 mcast_querier 0',
      'link set fl0a1b-br addrgenmode none',
      'link add fl0a1b-s type veth peer name eth0 netns fl0a1b-s',
      'link set fl0a1b-s addrgenmode none master fl0a1b-br up',
      'link add fl0a1b-r0 type veth peer name eth0 netns fl0a1b-r0',
      'link set fl0a1b-r0 addrgenmode none master fl0a1b-br up',
      'link add fl0a1b-r1 type veth peer name eth0 netns fl0a1b-r1',
      'link set fl0a1b-r1 addrgenmode none master fl0a1b-br up',
      'link set fl0a1b-br up',
      '',
    ]);
  });

  it('configures each host (lo, no IPv6 link-local, no GSO, address /15, eth0 up, multicast route on eth0) and lists its links in the same process', () => {
    expect(hostSetup(plan.receivers[1]!)).toEqual({
      argv: ['ip', '-j', '-n', 'fl0a1b-r1', '-batch', '-'],
      input: 'link set lo up\nlink set eth0 addrgenmode none\nlink set eth0 gso_max_segs 8\naddr add 198.18.0.3/15 dev eth0\nlink set eth0 up\nroute add 224.0.0.0/4 dev eth0\nlink show\n',
    });
    expect(hostSetup(plan.sender).input).toContain('addr add 198.18.0.1/15 dev eth0\n');
    expect(listLinks('fl0a1b-br')).toEqual({ argv: ['ip', '-n', 'fl0a1b-br', '-j', 'link', 'show'] });
  });

  it('shapes with HTB default 1, rate = ceil, downloads on bridge ports, uploads on eth0 inside hosts', () => {
    expect(shapingInvocations(plan)).toEqual([
      {
        argv: ['tc', '-n', 'fl0a1b-br', '-batch', '-'],
        input:
          'qdisc replace dev fl0a1b-r0 root handle 1: htb default 1\n' +
          'class replace dev fl0a1b-r0 parent 1: classid 1:1 htb rate 10000000bit ceil 10000000bit burst 2850b cburst 2850b\n' +
          'qdisc replace dev fl0a1b-r1 root handle 1: htb default 1\n' +
          'class replace dev fl0a1b-r1 parent 1: classid 1:1 htb rate 50000000bit ceil 50000000bit burst 7850b cburst 7850b\n',
      },
      {
        argv: ['tc', '-n', 'fl0a1b-s', '-batch', '-'],
        input:
          'qdisc replace dev eth0 root handle 1: htb default 1\n' +
          'class replace dev eth0 parent 1: classid 1:1 htb rate 1000000000bit ceil 1000000000bit burst 126600b cburst 126600b\n',
      },
      {
        argv: ['tc', '-n', 'fl0a1b-r0', '-batch', '-'],
        input:
          'qdisc replace dev eth0 root handle 1: htb default 1\n' +
          'class replace dev eth0 parent 1: classid 1:1 htb rate 5000000bit ceil 5000000bit burst 2225b cburst 2225b\n',
      },
      {
        argv: ['tc', '-n', 'fl0a1b-r1', '-batch', '-'],
        input:
          'qdisc replace dev eth0 root handle 1: htb default 1\n' +
          'class replace dev eth0 parent 1: classid 1:1 htb rate 20000000bit ceil 20000000bit burst 4100b cburst 4100b\n',
      },
    ]);
  });

  it('leaves unshaped (Infinity) directions without a qdisc', () => {
    const p = planNetwork({ receivers: [{ index: 0, downBps: Infinity, upBps: Infinity }], sender: { upBps: Infinity } }, 'fl0a1b');
    expect(shapingInvocations(p)).toEqual([]);
  });

  it('changes a rate in place with tc class change', () => {
    expect(changeRate('fl0a1b-br', 'fl0a1b-r0', 20_000_000).argv).toEqual([
      'tc', '-n', 'fl0a1b-br', 'class', 'change', 'dev', 'fl0a1b-r0',
      'parent', '1:', 'classid', '1:1', 'htb', 'rate', '20000000bit', 'ceil', '20000000bit', 'burst', '4100b', 'cburst', '4100b',
    ]);
  });

  it('computes the burst as 1 ms at the rate plus one frame, rates as integer bit/s', () => {
    expect(htbBurstBytes(1_000_000)).toBe(1725);
    expect(htbBurstBytes(1_000_000_000)).toBe(126_600);
    expect(htbRate(20_000_000)).toBe('20000000bit');
    expect(htbRate(1234.6)).toBe('1235bit');
    expect(() => htbRate(Infinity)).toThrow(RangeError);
    expect(() => htbRate(0)).toThrow(RangeError);
  });

  it('tears down by deleting the namespaces in one forced batch', () => {
    expect(deleteNamespaces(['fl0a1b-r1', 'fl0a1b-br'])).toEqual({
      argv: ['ip', '-force', '-batch', '-'],
      input: 'netns del fl0a1b-r1\nnetns del fl0a1b-br\n',
    });
  });

  it('parses ip -j netns list', () => {
    expect(parseNetnsList('[{"name":"fl0a1b-r0","id":2},{"name":"myns"}]\n')).toEqual(['fl0a1b-r0', 'myns']);
    expect(parseNetnsList('')).toEqual([]);
    expect(parseNetnsList('[]')).toEqual([]);
  });
});
