/**
 * What a run needs from an emulated network, whatever builds it (network namespaces, Docker
 * containers): any program started on any node (the source, a receiver, or a service host such
 * as a tracker), the fragment receivers in the backend's own form, link changes, and teardown.
 */
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BackendName, LinkEvent } from './types.js';

export interface ReceiverEndpoint {
  index: number;
  /** host:port the sender connects to. */
  address: string;
}

export interface RunningReceivers {
  endpoints: ReceiverEndpoint[];
  /** Stops every receiver process this run started, by its pid; resolves when all have exited. */
  stop(): Promise<void>;
}

/** A node of the lab network: the source, receiver i, or a named service host (not a receiver, not shaped). */
export type NodeRef = { role: 'source' } | { role: 'receiver'; index: number } | { role: 'service'; name: string };

export function nodeLabel(n: NodeRef): string {
  return n.role === 'source' ? 'source' : n.role === 'receiver' ? `receiver ${n.index}` : `service ${n.name}`;
}

export interface EmulatedNetwork {
  readonly backend: BackendName;
  /** The per-run prefix of every object this network made. */
  readonly prefix: string;
  /** A node's IPv4 address inside the lab. */
  address(node: NodeRef): string;
  /**
   * Starts `argv` (an absolute program path and its arguments; files are this machine's) on the
   * node's network stack, recorded for teardown; stdout and stderr are pipes.
   */
  spawn(node: NodeRef, argv: string[], env?: Record<string, string>): ChildProcess;
  /** Records a process that a spawned program started itself, so teardown ends it too (by pid, argv checked). */
  adopt(node: NodeRef, pid: number, argv: string[]): Promise<void>;
  /** One `fanout receive` per receiver host, storing into outDirs[i] (a folder on this machine's filesystem). */
  startReceivers(outDirs: string[]): Promise<RunningReceivers>;
  /** Spawns `argv` (a node script and its arguments) on the sender host. */
  spawnSender(argv: string[]): ChildProcess;
  applyEvent(ev: LinkEvent): Promise<void>;
  down(): Promise<void>;
}

export const RECEIVER_PORT = 9000;

/** The built CLI every host runs (receivers, the sender): compiled JavaScript, no TypeScript loader. */
export const FANOUT_JS = fileURLToPath(new URL('../cli/fanout.js', import.meta.url));

/** A run could not be carried out (a receiver would not start, the sender died, an event failed). */
export class RunError extends Error {
  override readonly name = 'RunError';
}
