/**
 * The BitTorrent node agent: runs on one lab node next to the real `aria2c` it starts, and tells
 * the lab what that client does, one JSON object per line on stdout, each with `wallMs` (the
 * machine's clock):
 *
 *   {"event":"spawned","pid":P,"argv":[..]} aria2c started (the lab records it at once, so its
 *                                           teardown can end it even if this agent is killed first;
 *                                           aria2c also gets --stop-with-process=<this agent>)
 *   {"event":"ready"}                       aria2c's RPC answers (seeder: and the tracker lists it);
 *                                           a leecher's aria2c starts paused (--pause, nothing sent
 *                                           or asked for) and is unpaused on SIGUSR1 (the lab's go)
 *   {"event":"go"}                          SIGUSR1 came and aria2c was told to unpause
 *   {"event":"progress","down":N,"up":M}    while anything changed (aria2's own totals): every 250 ms
 *                                           until the first byte, then every second (the agents of
 *                                           64 nodes polling 4 times a second cost the machine ~0.3
 *                                           of a core; the exact moments come from the hook)
 *   {"event":"first-byte"}                  the first payload byte counted
 *   {"event":"done"}                        aria2c's --on-bt-download-complete hook ran (exact time)
 *   {"event":"final","down":N,"up":M}       on SIGTERM, the last totals, before aria2c is killed
 *
 * Totals come from aria2's JSON-RPC (`aria2.tellActive`: completedLength, uploadLength) on the
 * node's own loopback, so no byte of it crosses a shaped link. The agent is not a wrapper that
 * changes anything aria2c does: aria2c gets exactly the arguments after `--`, plus the RPC and
 * the hook, and is killed (SIGKILL) when the lab stops the agent, so it never lingers.
 *
 * Usage: node agent.js --role seeder|leecher --rpc-port P [--scrape URL] -- <aria2c argv...>
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const DONE_MARK = 'FANOUT-BT-DONE';

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...obj, wallMs: Date.now() })}\n`);
}

function rpc(port: number, method: string, params: unknown[] = []): Promise<unknown> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 'f', method, params });
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/jsonrpc', method: 'POST', timeout: 2000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => {
        try {
          const j = JSON.parse(text) as { result?: unknown; error?: { message: string } };
          if (j.error) reject(new Error(j.error.message));
          else resolve(j.result);
        } catch (e) {
          reject(e as Error);
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('rpc timeout')));
    req.end(body);
  });
}

function get(url: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 2000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve(Buffer.concat(parts)));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const dash = process.argv.indexOf('--');
  if (dash < 0) throw new Error('usage: agent.js --role seeder|leecher --rpc-port P [--scrape URL] -- aria2c ...');
  const { values } = parseArgs({
    args: process.argv.slice(2, dash),
    options: { role: { type: 'string' }, 'rpc-port': { type: 'string' }, scrape: { type: 'string' } },
  });
  const port = Number(values['rpc-port']);
  const role = values.role;
  if (!Number.isInteger(port) || (role !== 'seeder' && role !== 'leecher')) throw new Error('--role seeder|leecher and --rpc-port are required');
  const argv = process.argv.slice(dash + 1);
  // --stop-with-process: aria2c ends itself when this agent is gone, however it went (a SIGKILL).
  const childArgv = [
    ...argv,
    '--enable-rpc=true',
    `--rpc-listen-port=${port}`,
    '--rpc-listen-all=false',
    `--stop-with-process=${process.pid}`,
    ...(role === 'leecher' ? ['--pause=true'] : []),
  ];
  const child = spawn(childArgv[0]!, childArgv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  // The lab records aria2c's pid and argv now, so its teardown (and `fanout clean`) can end it by id.
  if (child.pid !== undefined) emit({ event: 'spawned', pid: child.pid, argv: childArgv });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => {
    if (stderr.length < 4000) stderr += b.toString();
  });
  let doneSeen = false;
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const at = line.indexOf(DONE_MARK);
    if (at < 0 || doneSeen) return;
    doneSeen = true;
    const ns = /FANOUT-BT-DONE (\d+)/.exec(line.slice(at));
    process.stdout.write(`${JSON.stringify({ event: 'done', wallMs: ns ? Number(BigInt(ns[1]!) / 1_000_000n) : Date.now() })}\n`);
  });
  let exiting = false;
  child.once('exit', (code, signal) => {
    if (exiting) return;
    process.stderr.write(`aria2c exited (${code ?? signal}): ${stderr.trim().slice(-1500)}\n`);
    process.exit(3);
  });

  let down = 0;
  let up = 0;
  const poll = async (): Promise<void> => {
    const active = (await rpc(port, 'aria2.tellActive', [['completedLength', 'uploadLength']])) as { completedLength: string; uploadLength: string }[];
    const d = active.reduce((a, x) => a + Number(x.completedLength), 0);
    const u = active.reduce((a, x) => a + Number(x.uploadLength), 0);
    if (role === 'leecher' && down === 0 && d > 0) emit({ event: 'first-byte' });
    if (d !== down || u !== up) {
      down = d;
      up = u;
      emit({ event: 'progress', down, up });
    }
  };

  const stop = async (): Promise<void> => {
    if (exiting) return;
    exiting = true;
    try {
      await poll();
    } catch {
      // aria2c busy or gone: the last totals stand
    }
    emit({ event: 'final', down, up });
    // Reap it before leaving, so no zombie outlives the agent.
    child.once('exit', () => process.exit(0));
    child.kill('SIGKILL');
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('SIGUSR1', () => {
    rpc(port, 'aria2.unpauseAll')
      .then(() => emit({ event: 'go' }))
      .catch((e: unknown) => process.stderr.write(`bittorrent agent: unpause failed: ${(e as Error).message}\n`));
  });

  // Ready: the RPC answers; a seeder also waits until the tracker counts it as complete.
  for (let i = 0; ; i++) {
    try {
      await rpc(port, 'aria2.getVersion');
      break;
    } catch {
      if (i > 200) throw new Error(`aria2c's RPC did not answer within 20 s: ${stderr.trim().slice(-1500)}`);
      await sleep(100);
    }
  }
  if (values.scrape) {
    for (let i = 0; ; i++) {
      const body = await get(values.scrape).catch(() => Buffer.alloc(0));
      if (/8:completei[1-9]/.test(body.toString('latin1'))) break;
      if (i > 200) throw new Error('the tracker did not list the seeder within 20 s');
      await sleep(100);
    }
  }
  emit({ event: 'ready' });
  for (;;) {
    await poll().catch(() => {});
    await sleep(role === 'leecher' && down === 0 ? 250 : 1000);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bittorrent agent: ${(e as Error).message}\n`);
  process.exit(2);
});
