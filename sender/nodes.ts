/**
 * Node lists: `host:port` per line (a file) or comma-separated (the command line). `#` starts a
 * comment, blank lines are ignored, IPv6 is written `[::1]:9000`. Pure, apart from `readNodeList`.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export interface NodeAddress {
  host: string;
  port: number;
  /** As written, e.g. "[::1]:9000"; used in reports. */
  label: string;
}

export class NodeListError extends Error {
  override readonly name = 'NodeListError';
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Parses one `host:port` entry; `where` names it in errors ("nodes.txt:3"). */
export function parseNode(text: string, where: string): NodeAddress {
  const s = text.trim();
  let host: string;
  let portText: string;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0 || s[close + 1] !== ':') throw new NodeListError(`${where}: expected [IPv6]:port, got "${s}"`);
    host = s.slice(1, close);
    portText = s.slice(close + 2);
    if (isIP(host) !== 6) throw new NodeListError(`${where}: "${host}" is not an IPv6 address`);
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) throw new NodeListError(`${where}: expected host:port, got "${s}" (no port)`);
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) throw new NodeListError(`${where}: write IPv6 addresses in brackets, e.g. [::1]:9000 (got "${s}")`);
    if (isIP(host) === 0 && !HOSTNAME.test(host)) throw new NodeListError(`${where}: "${host}" is not a host name or address`);
  }
  if (!/^\d{1,5}$/.test(portText)) throw new NodeListError(`${where}: port "${portText}" is not a number`);
  const port = Number(portText);
  if (port < 1 || port > 65535) throw new NodeListError(`${where}: port ${port} is outside 1..65535`);
  const label = isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
  return { host, port, label };
}

/** One spelling per address: IPv6 compressed and lowercased ([0:0::1] and [::1] are one node). */
function canonicalHost(host: string): string {
  if (isIP(host) === 6) {
    try {
      return new URL(`http://[${host}]/`).hostname;
    } catch {
      // Zone ids (fe80::1%eth0) are not URL hosts: compare them as written.
    }
  }
  return host.toLowerCase();
}

function checkDuplicates(nodes: { node: NodeAddress; where: string }[]): NodeAddress[] {
  const seen = new Map<string, string>();
  for (const { node, where } of nodes) {
    const key = `${canonicalHost(node.host)}|${node.port}`;
    const first = seen.get(key);
    if (first !== undefined) throw new NodeListError(`${where}: duplicate node ${node.label} (first at ${first})`);
    seen.set(key, where);
  }
  return nodes.map((n) => n.node);
}

/** Parses the text of a node-list file. */
export function parseNodeListText(text: string, fileName: string): NodeAddress[] {
  const out: { node: NodeAddress; where: string }[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const where = `${fileName}:${i + 1}`;
    out.push({ node: parseNode(line, where), where });
  });
  if (out.length === 0) throw new NodeListError(`${fileName}: no nodes (every line is blank or a comment)`);
  return checkDuplicates(out);
}

/** Parses a comma-separated list such as "10.0.0.1:9000,[::1]:9001". */
export function parseNodeListArg(arg: string): NodeAddress[] {
  const parts = arg.split(',').map((p) => p.trim());
  const out = parts.map((p, i) => {
    const where = `--nodes item ${i + 1}`;
    if (p === '') throw new NodeListError(`${where}: empty entry`);
    return { node: parseNode(p, where), where };
  });
  return checkDuplicates(out);
}

/**
 * `--nodes` takes a file path or a comma-separated list: a value that names an existing file (or
 * contains a path separator and no comma) is read as a file.
 */
export function readNodeList(arg: string, exists: (p: string) => boolean): NodeAddress[] {
  const looksLikeFile = exists(arg) || (!arg.includes(',') && (arg.includes('/') || /\.(txt|list|nodes)$/.test(arg)));
  if (!looksLikeFile) return parseNodeListArg(arg);
  let text: string;
  try {
    text = readFileSync(arg, 'utf8');
  } catch (err) {
    throw new NodeListError(`cannot read node list ${arg}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  return parseNodeListText(text, arg);
}
