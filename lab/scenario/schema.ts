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
 *   protocol: fragments   # default fragments (the only one so far)
 *   rateKbps: 200000      # required, > 0: the sender's aggregate limit (1 Kbps = 1000 bit/s)
 *   width: 64             # connections at once, >= 1; default and maximum: the receiver count
 * strategies: [...]       # non-empty, no repeats; default: every name in STRATEGY_NAMES
 * repeat: 3               # 1..1000; default 1
 * receivers:              # required
 *   count: 64             # required, 1..100000
 *   down: 50mbit          # required: link rate towards each receiver
 *   up: 50mbit            # link rate from each receiver; default: the receiver's own final `down`
 *   delay: 20ms           # netem only (see below): one-way delay on the receiver's link
 *   jitter: 5ms           # netem only: delay variation
 *   loss: 0.5%            # netem only: random loss, percent ("0.5%" or 0.5), 0..100
 *   groups:               # applied in order: later entries override earlier ones
 *     - select: { last: 1 }   # exactly one of { first: N } { last: N } { index: I }
 *       down: 2mbit           #   { indexes: [I, ...] } { every: N } (= indexes 0, N, 2N, ...)
 *                             # a group sets at least one of down, up, delay, jitter, loss
 * sender: { up: 10gbit }  # the sender's link; default 10gbit
 * events:                 # link changes during the transfer; default none
 *   - at: 3s              # required, >= 0, after the transfer starts
 *     select: { index: 5 }# required, as in groups
 *     down: 1mbit         # at least one of down, up; only what is written changes
 * check:                  # optional pass/fail thresholds for `fanout lab`
 *   efficiency: { backpressure: 1.15 }  # per strategy (must be in `strategies`), >= 1
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
 * delay/jitter/loss need tc's netem (kernel module sch_netem): without it (`caps.netem` false) each
 * is an error naming the module; with it they land in ReceiverSpec.delayMs / jitterMs / lossPct.
 *
 * Every problem is reported with its path (`receivers.groups[1].down: ...`); unknown keys are errors.
 */
import type { BackendChoice } from '../types.js';

/** What the machine can do, as far as the scenario format cares. */
export interface ScenarioCaps {
  /** tc netem (kernel module sch_netem) is available: delay, jitter and loss are allowed. */
  netem: boolean;
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
  'events',
  'check',
  'sim',
] as const;
export const FILE_KEYS = ['size', 'path'] as const;
export const TRANSFER_KEYS = ['protocol', 'rateKbps', 'width'] as const;
export const NETEM_KEYS = ['delay', 'jitter', 'loss'] as const;
export const RECEIVERS_KEYS = ['count', 'down', 'up', 'groups', ...NETEM_KEYS] as const;
export const GROUP_KEYS = ['select', 'down', 'up', ...NETEM_KEYS] as const;
export const SENDER_KEYS = ['up'] as const;
export const EVENT_KEYS = ['at', 'select', 'down', 'up'] as const;
export const CHECK_KEYS = ['efficiency'] as const;
export const SIM_KEYS = ['connectMs', 'setupCpuMs', 'setupCores', 'rttMs', 'initialWindowBytes', 'progressTailMs', 'finalizeMs', 'linkEfficiency'] as const;
export const SELECT_KEYS = ['first', 'last', 'index', 'indexes', 'every'] as const;
export const LOGNORMAL_KEYS = ['median', 'sigma', 'min', 'max'] as const;
export const UNIFORM_KEYS = ['min', 'max'] as const;

export const BACKENDS: readonly BackendChoice[] = ['auto', 'netns', 'docker', 'sim'];
export const PROTOCOLS = ['fragments'] as const;

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
