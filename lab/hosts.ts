/**
 * What a run needs from an emulated network, whatever builds it (network namespaces today;
 * Docker containers and the flow simulator are other implementations): receivers to start and
 * stop, a way to run the sender on the sender host, link changes, and teardown.
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

export interface EmulatedNetwork {
  readonly backend: BackendName;
  /** The per-run prefix of every object this network made. */
  readonly prefix: string;
  /** One receiver per host, storing into outDirs[i] (a folder on this machine's filesystem). */
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
