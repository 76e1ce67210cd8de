/**
 * End to end on loopback: a real source and real nodes (in this process) on 127.0.0.1 ports, real
 * sockets and files. Every node ends with the file byte for byte, no chunk arrives twice, control
 * stays a small fraction of payload; a lying peer (corrupt chunks) and a node that restarts are
 * survived; the CLI refuses bad arguments with exit 2.
 */
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { FloodNode } from '../../protocols/floodclone/node.js';
import { FloodSource } from '../../protocols/floodclone/source.js';
import { encode, FloodDecoder, type Frame } from '../../protocols/floodclone/wire.js';

const run = promisify(execFile);
const FANOUT = join(process.cwd(), 'dist/cli/fanout.js');
const dirs: string[] = [];
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function swarm(o: { nodes: number; bytes: number; chunkBytes: number; corrupt?: number[] }) {
  const d = mkdtempSync(join(tmpdir(), 'flood-e2e-'));
  dirs.push(d);
  const data = randomBytes(o.bytes);
  writeFileSync(join(d, 'src.bin'), data);
  const honest = o.nodes - (o.corrupt?.length ?? 0);
  const source = new FloodSource({ file: join(d, 'src.bin'), host: '127.0.0.1', port: 0, chunkBytes: o.chunkBytes, expect: honest });
  const addr = await source.start();
  stops.push(() => source.stop());
  const port = Number(addr.split(':').pop());
  const events: Record<string, unknown>[][] = [];
  const nodes: FloodNode[] = [];
  const addrs: string[] = [];
  for (let i = 0; i < o.nodes; i++) {
    events.push([]);
    const n = new FloodNode({ sourceHost: '127.0.0.1', sourcePort: port, listenHost: '127.0.0.1', listenPort: 0, out: join(d, `out${i}.bin`), corruptUploads: o.corrupt?.includes(i), onEvent: (ev) => events[i]!.push(ev) });
    addrs.push(await n.listen());
    nodes.push(n);
    stops.push(() => n.stop());
  }
  return { d, data, source, nodes, events, port, addrs };
}

/**
 * A hand-driven node: connects to `port`, sends a HELLO with `nodeId`, and returns the frames that
 * came back once `until` holds of them, or after 300 ms.
 */
async function helloTo(port: number, nodeId: number, fileHash: Buffer, o: { fromSource?: boolean; until?: (frames: Frame[]) => boolean } = {}): Promise<Frame[]> {
  const sock = connect({ host: '127.0.0.1', port });
  const dec = new FloodDecoder();
  dec.fromSource = o.fromSource ?? false;
  const frames: Frame[] = [];
  let wake = (): void => {};
  sock.on('data', (d: Buffer) => {
    frames.push(...dec.push(d));
    if (o.until?.(frames)) wake();
  });
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  sock.write(encode({ type: 'hello', role: 'node', nodeId, listenPort: 1, fileHash }));
  await new Promise<void>((r) => {
    const timer = setTimeout(r, 300);
    wake = () => {
      clearTimeout(timer);
      r();
    };
  });
  sock.destroy();
  return frames;
}

describe('floodclone on loopback', () => {
  it('6 nodes: every one holds the file byte for byte; no duplicate chunk; control under 1 % of payload', async () => {
    const s = await swarm({ nodes: 6, bytes: 6_000_000, chunkBytes: 64 * 1024 });
    for (const n of s.nodes) n.go();
    await Promise.all(s.nodes.map((n) => n.finished));
    let payload = 0;
    let control = 0;
    for (let i = 0; i < 6; i++) {
      expect(readFileSync(join(s.d, `out${i}.bin`)).equals(s.data)).toBe(true);
      const c = s.nodes[i]!.counters();
      expect(c.dups).toBe(0);
      payload += c.down;
      control += c.ctrlDown + c.ctrlUp;
    }
    expect(control / payload).toBeLessThan(0.01);
    const st = s.source.stats();
    expect(st.completed).toBe(6);
    // The peers carried most of the copies: the source sent less than all 6.
    expect(st.payloadUp).toBeLessThan(6 * 6_000_000);
  });

  it('a peer that serves corrupt chunks: its chunks are rejected and fetched elsewhere, the others complete', async () => {
    const s = await swarm({ nodes: 5, bytes: 3_000_000, chunkBytes: 32 * 1024, corrupt: [0] });
    for (const n of s.nodes) n.go();
    await Promise.all(s.nodes.slice(1).map((n) => n.complete));
    for (let i = 1; i < 5; i++) expect(readFileSync(join(s.d, `out${i}.bin`)).equals(s.data)).toBe(true);
    const corrupt = s.events.slice(1).flat().filter((e) => e['event'] === 'corrupt');
    expect(corrupt.length).toBeGreaterThan(0);
  });

  it('a peer that claims the node\'s own id in its HELLO is refused; another id is not', async () => {
    const s = await swarm({ nodes: 1, bytes: 300_000, chunkBytes: 32 * 1024 });
    const node = s.nodes[0]!;
    node.go();
    await node.complete;
    const m = s.events[0]!.find((e) => e['event'] === 'manifest')!;
    const port = Number(s.addrs[0]!.split(':').pop());
    const fileHash = createHash('sha256').update(s.data).digest();
    const answer = (nodeId: number): Promise<Frame[]> => helloTo(port, nodeId, fileHash);
    const mine = await answer(m['nodeId'] as number);
    expect(mine.map((f) => f.type)).toEqual(['error']);
    expect((mine[0] as { message: string }).message).toMatch(/claims this node's id/);
    const other = await answer((m['nodeId'] as number) + 1000);
    expect(other.map((f) => f.type)).toEqual(['hello', 'bitfield']);
  });

  it('a restarted source gives ids its predecessor did not (it starts at a random id)', async () => {
    const s = await swarm({ nodes: 0, bytes: 100_000, chunkBytes: 32 * 1024 });
    const idFrom = async (port: number): Promise<number> => {
      const frames = await helloTo(port, 0, createHash('sha256').update(s.data).digest(), { fromSource: true, until: (fs) => fs.some((f) => f.type === 'welcome') });
      const w = frames.find((f) => f.type === 'welcome');
      if (w?.type !== 'welcome') throw new Error('no WELCOME from the source');
      return w.nodeId;
    };
    const first = await idFrom(s.port);
    await s.source.stop();
    const again = new FloodSource({ file: join(s.d, 'src.bin'), host: '127.0.0.1', port: s.port, chunkBytes: 32 * 1024 });
    await again.start();
    stops.push(() => again.stop());
    expect(await idFrom(s.port)).not.toBe(first);
  });

  it('a node stopped mid-transfer resumes from its verified chunks when it comes back', async () => {
    const s = await swarm({ nodes: 3, bytes: 4_000_000, chunkBytes: 64 * 1024 });
    const [a, b, c] = s.nodes as [FloodNode, FloodNode, FloodNode];
    a.go();
    b.go();
    // Let c get part of the file, then stop it.
    c.go();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (c.counters().have >= 5) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    await c.stop();
    const had = c.counters().have;
    expect(had).toBeLessThan(62);
    expect(existsSync(join(s.d, 'out2.bin'))).toBe(false);
    const again: Record<string, unknown>[] = [];
    const c3 = new FloodNode({ sourceHost: '127.0.0.1', sourcePort: s.port, listenHost: '127.0.0.1', listenPort: 0, out: join(s.d, 'out2.bin'), onEvent: (e) => again.push(e) });
    stops.push(() => c3.stop());
    await c3.listen();
    c3.go();
    await c3.complete;
    const manifest = again.find((e) => e['event'] === 'manifest')!;
    expect(manifest['resumed']).toBeGreaterThanOrEqual(1);
    expect(readFileSync(join(s.d, 'out2.bin')).equals(s.data)).toBe(true);
    await Promise.all([a.complete, b.complete]);
  });

  it('a source that restarts: the nodes redial it and complete, with no chunk twice', async () => {
    const s = await swarm({ nodes: 3, bytes: 4_000_000, chunkBytes: 64 * 1024 });
    for (const n of s.nodes) n.go();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (s.nodes.some((n) => n.counters().have >= 4)) {
          clearInterval(timer);
          resolve();
        }
      }, 2);
    });
    await s.source.stop();
    const again = new FloodSource({ file: join(s.d, 'src.bin'), host: '127.0.0.1', port: s.port, chunkBytes: 64 * 1024, expect: 3 });
    await again.start();
    stops.push(() => again.stop());
    await Promise.all(s.nodes.map((n) => n.complete));
    for (let i = 0; i < 3; i++) {
      expect(readFileSync(join(s.d, `out${i}.bin`)).equals(s.data)).toBe(true);
      expect(s.nodes[i]!.counters().dups).toBe(0);
    }
  });

  it('the CLI refuses bad arguments with exit 2 and a message', async () => {
    const fails = async (args: string[], re: RegExp): Promise<void> => {
      const e = await run(process.execPath, [FANOUT, 'flood', ...args]).then(
        () => null,
        (x: { code: number; stderr: string }) => x,
      );
      expect(e?.code).toBe(2);
      expect(e?.stderr).toMatch(re);
    };
    await fails(['serve', '--listen', '127.0.0.1:0'], /--file is required/);
    await fails(['serve', '--file', '/nonexistent', '--listen', '127.0.0.1:0'], /not a file/);
    await fails(['serve', '--file', FANOUT, '--listen', 'nope'], /HOST:PORT/);
    await fails(['serve', '--file', FANOUT, '--listen', '127.0.0.1:0', '--chunk-size', '0B'], /chunk-size/);
    await fails(['join', '--source', '127.0.0.1:9', '--out', '/nonexistent/x'], /does not exist/);
    await fails(['join', '--out', '/tmp/x'], /--source is required/);
    await fails(['join', '--source', '127.0.0.1:9', '--out', '/tmp/x', '--wait-signal', 'SIGKILL'], /SIGUSR1/);
    await fails(['join', '--bogus'], /bogus/);
    await fails(['frobnicate'], /unknown flood command/);
    const help = await run(process.execPath, [FANOUT, 'flood', 'join', '--help']);
    expect(help.stdout).toMatch(/fanout flood join --source HOST:PORT/);
  });
});
