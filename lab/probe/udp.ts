/**
 * A UDP loss probe the lab runs on its own nodes (never anywhere else: it is given lab addresses
 * by the lab). Two roles, one JSON line each on stdout:
 *
 *   node udp.js sink ADDR PORT QUIET_MS    binds ADDR:PORT, prints {"event":"ready"}; once
 *                                          datagrams stop for QUIET_MS after the first (or after
 *                                          30 s with none), prints {"event":"received","count":N}
 *   node udp.js send ADDR PORT COUNT PPS   sends COUNT datagrams of 64 bytes to ADDR:PORT at PPS
 *                                          per second (paced in 1 ms slices, so no queue on the
 *                                          way overflows), prints {"event":"sent","count":N}
 *
 * Each datagram carries its sequence number; the sink counts distinct ones, so a duplicate cannot
 * hide a loss.
 */
import { createSocket } from 'node:dgram';

const [role, addr, portS, a, b] = process.argv.slice(2);
const port = Number(portS);
if (!addr || !Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: udp.js sink ADDR PORT QUIET_MS | send ADDR PORT COUNT PPS\n');
  process.exit(2);
}

if (role === 'sink') {
  const quietMs = Number(a ?? 500);
  const seen = new Set<number>();
  const sock = createSocket('udp4');
  let timer: NodeJS.Timeout | null = null;
  const finish = (): void => {
    process.stdout.write(`${JSON.stringify({ event: 'received', count: seen.size })}\n`);
    sock.close();
  };
  const arm = (ms: number): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(finish, ms);
  };
  sock.on('message', (msg) => {
    if (msg.length >= 4) seen.add(msg.readUInt32BE(0));
    if (seen.size % 256 === 1) arm(quietMs);
  });
  sock.bind({ address: addr, port }, () => {
    sock.setRecvBufferSize(8 << 20);
    process.stdout.write(`${JSON.stringify({ event: 'ready' })}\n`);
    arm(30_000);
  });
} else if (role === 'send') {
  const count = Number(a);
  const pps = Number(b);
  if (!Number.isInteger(count) || count <= 0 || !(pps > 0)) {
    process.stderr.write('send: COUNT and PPS must be positive\n');
    process.exit(2);
  }
  const sock = createSocket('udp4');
  const buf = Buffer.alloc(64);
  let sent = 0;
  const t0 = performance.now();
  const tick = (): void => {
    const due = Math.min(count, Math.floor(((performance.now() - t0) / 1000) * pps) + 1);
    while (sent < due) {
      const b2 = Buffer.from(buf);
      b2.writeUInt32BE(sent, 0);
      sock.send(b2, port, addr);
      sent++;
    }
    if (sent < count) setTimeout(tick, 1);
    else setTimeout(() => {
      process.stdout.write(`${JSON.stringify({ event: 'sent', count: sent })}\n`);
      sock.close();
    }, 50);
  };
  tick();
} else {
  process.stderr.write(`unknown role ${role}\n`);
  process.exit(2);
}
