/**
 * The scenario file format: what `lab/scenario` accepts, its keys, limits and defaults.
 *
 * ```yaml
 * name: one-slow          # required, [a-z0-9-]+ (at most 64 characters), used in the results path
 * description: ...        # what the scenario probes; default ""
 * backend: auto           # auto | netns | docker | sim; default auto
 * seed: 1                 # non-negative integer; default 1. Every random choice derives from it
 * file: { size: 64MiB }   # required: { size } (content generated from the seed) or { path }
 *                         # (relative to the scenario file's folder). At least one byte per receiver.
 * transfer:               # required
 *   job: fragments        # fragments (receiver i gets fragment i; default) | whole-file (every
 *                         # node gets the whole file)
 *   protocol: fragments   # accepted for the fragments job (older files); nothing else
 *   rateKbps: 200000      # fragments job: required, > 0: the sender's aggregate limit (1 Kbps =
 *                         # 1000 bit/s); whole-file job: not used (each protocol has its own options)
 *   width: 64             # fragments job: connections at once, >= 1; default and maximum: the count
 *   authKey: true         # fragments job: sender and receivers prove a fresh pre-shared key
 *                         # (--auth-key, lab/auth.ts); default false. netns backend only
 *   bittorrent: { ... }   # a protocol's own options, under its name (see that protocol's plug-in in
 *                         # lab/protocols/; e.g. bittorrent: pieceSize, maxPeers, trackerInterval, aria2Args)
 * strategies: [...]       # contenders, non-empty, no repeats: `protocol/variant` (bittorrent/aria2,
 *                         # fragments/backpressure) or, in a fragments job, a bare strategy name;
 *                         # default: every contender of the job
 * repeat: 3               # 1..1000; default 1
 * receivers:              # required
 *   count: 64             # required, 1..100000
 *   down: 50mbit          # required: link rate towards each receiver
 *   up: 50mbit            # link rate from each receiver; default: the receiver's own final `down`
 *   delay: 20ms           # netem only (see below): one-way delay towards the receiver
 *   jitter: 5ms           # netem only: delay variation
 *   loss: 0.5%            # random loss, percent ("0.5%" or 0.5), 0..100, on each direction of the
 *                         # link; or { down: 1%, up: 0% } per direction. netem, or nftables where
 *                         # the kernel has no netem
 *   groups:               # applied in order: later entries override earlier ones
 *     - select: { last: 1 }   # exactly one of { first: N } { last: N } { index: I }
 *       down: 2mbit           #   { indexes: [I, ...] } { every: N } (= indexes 0, N, 2N, ...)
 *                             #   { site: NAME } (the receivers of a site, see sites below)
 *                             # a group sets at least one of down, up, delay, jitter, loss
 * source: { up: 10gbit, down: 1gbit }  # the source's link; up default 10gbit, down default
 *                         # unshaped. `sender: { up }` is the older spelling (not both)
 * events:                 # link changes during the transfer; default none
 *   - at: 3s              # required, >= 0, after the transfer starts
 *     select: { index: 5 }# required, as in groups
 *     down: 1mbit         # at least one of down, up; only what is written changes
 * sites:                  # receivers behind shared trunks (lab/scenario/sites.ts); default none
 *   - name: office        # [a-z0-9-]+, unique
 *     select: { first: 3 }# as in groups; selects at least one; a receiver is in at most one site
 *     up: 10mbit          # required: the trunk's rate out of the site
 *     down: 20mbit        # required: the trunk's rate into the site
 * check:                  # optional pass/fail thresholds for `fanout lab`
 *   efficiency: { backpressure: 1.15 }  # per contender (must be in `strategies`), >= 1
 * sweep: { ... }          # makes the file a sweep (lab/sweep/schema.ts): `fanout lab` runs it point
 *                         # by point; a single scenario (this format) has no `sweep:`
 * sim:                    # optional: the flow simulator's model (backend sim only; defaults in
 *   connectMs: 1          #   lab/sim/engine.ts DEFAULT_SIM_MODEL): connectMs, setupCpuMs, rttMs,
 *   setupCpuMs: 4         #   finalizeMs, progressTailMs (>= 0), setupCores, initialWindowBytes
 *                         #   (> 0), linkEfficiency (0..1]
 * ```
 *
 * Rates: "20mbit" (see core/units.ts), or wherever a rate stands, a distribution drawn per receiver:
 *   `{ lognormal: { median: 20mbit, sigma: 0.7, min: 1mbit, max: 200mbit } }` (min/max optional,
 *   the draw is clamped to them; sigma >= 0) or `{ uniform: { min: 5mbit, max: 25mbit } }`.
 *   A draw is keyed by the seed, where the distribution is written (its path, e.g.
 *   `receivers.groups[1].down`) and the receiver index, so it does not depend on other draws.
 *   Drawn rates are rounded to whole bit/s. In an event, a distribution gives one event per receiver.
 *
 * Rates are link rates as tc HTB enforces them (whole Ethernet frames), see lab/types.ts.
 *
 * delay/jitter need tc's netem (kernel module sch_netem): without it (`caps.netem` false) each is an
 * error naming the module. loss needs netem or nftables (`caps.nftables`); it lands in
 * ReceiverSpec.lossDownPct / lossUpPct.
 *
 * Every problem is reported with its path (`receivers.groups[1].down: ...`); unknown keys are errors.
 */
import type { BackendChoice } from '../types.js';

/** What the machine can do, as far as the scenario format cares. */
export interface ScenarioCaps {
  /** tc netem (kernel module sch_netem) is available: delay, jitter and loss are allowed. */
  netem: boolean;
  /** nftables random drop works in a namespace: loss is allowed without netem. */
  nftables?: boolean;
  /** Whether a program is on this machine (a protocol's tools); unchecked when absent. */
  hasTool?: (bin: string) => boolean;
}

export const TOP_KEYS = [
  'name',
  'description',
  'backend',
  'seed',
  'file',
  'transfer',
  'strategies',
  'repeat',
  'receivers',
  'sender',
  'source',
  'events',
  'sites',
  'check',
  'sim',
] as const;
export const FILE_KEYS = ['size', 'path'] as const;
export const JOBS = ['fragments', 'whole-file'] as const;
export const DEFAULT_JOB = 'fragments';
export const NETEM_KEYS = ['delay', 'jitter', 'loss'] as const;
export const RECEIVERS_KEYS = ['count', 'down', 'up', 'groups', ...NETEM_KEYS] as const;
export const GROUP_KEYS = ['select', 'down', 'up', ...NETEM_KEYS] as const;
export const SENDER_KEYS = ['up'] as const;
export const SOURCE_KEYS = ['up', 'down'] as const;
export const LOSS_KEYS = ['down', 'up'] as const;
export const EVENT_KEYS = ['at', 'select', 'down', 'up'] as const;
export const CHECK_KEYS = ['efficiency'] as const;
export const SIM_KEYS = ['connectMs', 'setupCpuMs', 'setupCores', 'rttMs', 'initialWindowBytes', 'progressTailMs', 'finalizeMs', 'linkEfficiency'] as const;
export const SELECT_KEYS = ['first', 'last', 'index', 'indexes', 'every', 'site'] as const;
export const LOGNORMAL_KEYS = ['median', 'sigma', 'min', 'max'] as const;
export const UNIFORM_KEYS = ['min', 'max'] as const;

export const BACKENDS: readonly BackendChoice[] = ['auto', 'netns', 'docker', 'sim'];

export const NAME_PATTERN = /^[a-z0-9-]+$/;
export const NAME_MAX_CHARS = 64;
export const COUNT_MAX = 100_000;
export const REPEAT_MAX = 1000;

export const DEFAULT_BACKEND: BackendChoice = 'auto';
export const DEFAULT_SEED = 1;
export const DEFAULT_REPEAT = 1;
export const DEFAULT_SENDER_UP_BPS = 10_000_000_000;

/** The kernel module netem keys need, named in the error when it is missing. */
export const NETEM_MODULE = 'sch_netem';
