import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeListError, parseNode, parseNodeListArg, parseNodeListText, readNodeList } from '../../sender/nodes.js';

const node = (host: string, port: number, label = `${host}:${port}`) => ({ host, port, label });

/** The NodeListError message `fn` throws; fails on anything else. */
function errorOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof NodeListError) return err.message;
    throw err;
  }
  throw new Error('did not throw');
}

describe('parseNode', () => {
  it.each([
    ['10.0.0.1:9000', node('10.0.0.1', 9000)],
    ['  10.0.0.1:9000  ', node('10.0.0.1', 9000)],
    ['localhost:1', node('localhost', 1)],
    ['recv-01.lab.example:65535', node('recv-01.lab.example', 65535)],
    ['a:080', node('a', 80)],
    ['[::1]:9000', node('::1', 9000, '[::1]:9000')],
    ['[2001:db8::7]:9001', node('2001:db8::7', 9001, '[2001:db8::7]:9001')],
    ['[::ffff:198.18.0.1]:9002', node('::ffff:198.18.0.1', 9002, '[::ffff:198.18.0.1]:9002')],
  ])('%s', (text, want) => {
    expect(parseNode(text, 'x')).toEqual(want);
  });

  it.each([
    ['10.0.0.1:0', 'n:1: port 0 is outside 1..65535'],
    ['10.0.0.1:65536', 'n:1: port 65536 is outside 1..65535'],
    ['10.0.0.1:99999', 'n:1: port 99999 is outside 1..65535'],
    ['10.0.0.1:http', 'n:1: port "http" is not a number'],
    ['10.0.0.1:', 'n:1: port "" is not a number'],
    ['10.0.0.1:-1', 'n:1: port "-1" is not a number'],
    ['10.0.0.1:123456', 'n:1: port "123456" is not a number'],
    ['10.0.0.1:9000 ', null], // trailing space is trimmed: valid
    ['10.0.0.1', 'n:1: expected host:port, got "10.0.0.1" (no port)'],
    ['::1:9000', 'n:1: write IPv6 addresses in brackets, e.g. [::1]:9000 (got "::1:9000")'],
    ['[::1]9000', 'n:1: expected [IPv6]:port, got "[::1]9000"'],
    ['[::1:9000', 'n:1: expected [IPv6]:port, got "[::1:9000"'],
    ['[10.0.0.1]:9000', 'n:1: "10.0.0.1" is not an IPv6 address'],
    ['[fe80::zz]:9000', 'n:1: "fe80::zz" is not an IPv6 address'],
    ['under_score:9000', 'n:1: "under_score" is not a host name or address'],
    ['-lead.example:9000', 'n:1: "-lead.example" is not a host name or address'],
    ['a..b:9000', 'n:1: "a..b" is not a host name or address'],
    [':9000', 'n:1: "" is not a host name or address'],
  ])('%s', (text, message) => {
    if (message === null) expect(parseNode(text, 'n:1').port).toBe(9000);
    else expect(errorOf(() => parseNode(text, 'n:1'))).toBe(message);
  });
});

describe('parseNodeListText', () => {
  it('comments, blank lines, CRLF, IPv6 and host names', () => {
    const text = [
      '# receivers for run 7',
      '',
      '198.18.0.2:9000',
      '   198.18.0.3:9000   # trailing comment',
      '\t',
      '[::1]:9100',
      'recv-4.lab:9000\r',
      '# end',
      '',
    ].join('\n');
    expect(parseNodeListText(text, 'nodes.txt')).toEqual([
      node('198.18.0.2', 9000),
      node('198.18.0.3', 9000),
      node('::1', 9100, '[::1]:9100'),
      node('recv-4.lab', 9000),
    ]);
  });

  it('errors name the file and the line number, counting blank and comment lines', () => {
    const text = '# header\n10.0.0.1:9000\n10.0.0.2:90000\n';
    expect(errorOf(() => parseNodeListText(text, 'nodes.txt'))).toBe('nodes.txt:3: port 90000 is outside 1..65535');
    expect(errorOf(() => parseNodeListText('\n\n\n\nbad\n', 'lab/nodes.list'))).toBe('lab/nodes.list:5: expected host:port, got "bad" (no port)');
  });

  it('a file with no nodes', () => {
    expect(errorOf(() => parseNodeListText('# nothing\n\n  \n', 'nodes.txt'))).toBe('nodes.txt: no nodes (every line is blank or a comment)');
    expect(errorOf(() => parseNodeListText('', 'empty.txt'))).toBe('empty.txt: no nodes (every line is blank or a comment)');
  });

  it('duplicates name both lines', () => {
    const text = '10.0.0.1:9000\n10.0.0.1:9001\n# x\n10.0.0.1:9000\n';
    expect(errorOf(() => parseNodeListText(text, 'nodes.txt'))).toBe('nodes.txt:4: duplicate node 10.0.0.1:9000 (first at nodes.txt:1)');
  });

  it('duplicates ignore host-name case and port leading zeros', () => {
    expect(errorOf(() => parseNodeListText('Recv-1.Lab:9000\nrecv-1.lab:09000\n', 'n.txt'))).toBe(
      'n.txt:2: duplicate node recv-1.lab:9000 (first at n.txt:1)',
    );
  });

  it('the same host on different ports, or different hosts on one port, are distinct', () => {
    expect(parseNodeListText('h:1\nh:2\ng:1\n', 'n.txt')).toHaveLength(3);
  });

  it('one IPv6 address written two ways ([::1] and [0:0::1]) is a duplicate', () => {
    expect(() => parseNodeListText('[::1]:9000\n[0:0::1]:9000\n', 'n.txt')).toThrow('n.txt:2: duplicate node');
  });
});

describe('parseNodeListArg', () => {
  it('a comma-separated list, spaces trimmed, order kept', () => {
    expect(parseNodeListArg('10.0.0.1:9000, [::1]:9001 ,h:3')).toEqual([
      node('10.0.0.1', 9000),
      node('::1', 9001, '[::1]:9001'),
      node('h', 3),
    ]);
    expect(parseNodeListArg('127.0.0.1:9000')).toEqual([node('127.0.0.1', 9000)]);
  });

  it('errors name the item', () => {
    expect(errorOf(() => parseNodeListArg('a:1,,b:2'))).toBe('--nodes item 2: empty entry');
    expect(errorOf(() => parseNodeListArg('a:1,'))).toBe('--nodes item 2: empty entry');
    expect(errorOf(() => parseNodeListArg('a:1,b:0'))).toBe('--nodes item 2: port 0 is outside 1..65535');
    expect(errorOf(() => parseNodeListArg('a:1,b:2,a:1'))).toBe('--nodes item 3: duplicate node a:1 (first at --nodes item 1)');
  });
});

describe('readNodeList: file or list', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fanout-nodes-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const never = (): boolean => false;
  const always = (): boolean => true;

  it('an existing file is read as a file', () => {
    const p = write('nodes.txt', '127.0.0.1:9000\n127.0.0.1:9001\n');
    expect(readNodeList(p, (q) => q === p)).toEqual([node('127.0.0.1', 9000), node('127.0.0.1', 9001)]);
  });

  it('a name without a slash or a known extension is a file when it exists (the exists check decides)', () => {
    // `exists` says yes, so it is read as a file (and, not being in the cwd, cannot be read);
    // with `exists` saying no, the same text is parsed as a one-item list.
    expect(errorOf(() => readNodeList('receivers-7f3a', always))).toBe('cannot read node list receivers-7f3a: ENOENT');
    expect(errorOf(() => readNodeList('receivers-7f3a', never))).toBe('--nodes item 1: expected host:port, got "receivers-7f3a" (no port)');
  });

  it('errors from a file carry its name and line', () => {
    const p = write('bad.txt', '127.0.0.1:9000\n\n127.0.0.1:x\n');
    expect(errorOf(() => readNodeList(p, always))).toBe(`${p}:3: port "x" is not a number`);
  });

  it('a missing path that looks like a file is reported as unreadable, not parsed as a list', () => {
    expect(errorOf(() => readNodeList(join(dir, 'missing.txt'), never))).toBe(`cannot read node list ${join(dir, 'missing.txt')}: ENOENT`);
    expect(errorOf(() => readNodeList('missing.nodes', never))).toBe('cannot read node list missing.nodes: ENOENT');
    expect(errorOf(() => readNodeList('conf/receivers', never))).toBe('cannot read node list conf/receivers: ENOENT');
  });

  it('a directory is unreadable', () => {
    const d = join(dir, 'list.txt');
    mkdirSync(d);
    expect(errorOf(() => readNodeList(d, always))).toBe(`cannot read node list ${d}: EISDIR`);
  });

  it('anything else is a comma list', () => {
    expect(readNodeList('127.0.0.1:9000,127.0.0.1:9001', never)).toHaveLength(2);
    expect(readNodeList('127.0.0.1:9000', never)).toEqual([node('127.0.0.1', 9000)]);
    // A host name ending like a file extension still has its port after it.
    expect(readNodeList('nodes.list:9000', never)).toEqual([node('nodes.list', 9000)]);
    // A comma beats a slash: a list, whose items then fail as host names.
    expect(errorOf(() => readNodeList('a/b:1,c:2', never))).toBe('--nodes item 1: "a/b" is not a host name or address');
  });
});
