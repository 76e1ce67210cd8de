/** Builds a strategy object by name. */
import { Backpressure, Sequential } from './backpressure.js';
import type { StrategyName } from './names.js';
import { ProbePrioritise } from './probe-prioritise.js';
import { RoundRobin } from './round-robin.js';
import { StaticSplit } from './static-split.js';
import { HANDICAP_ENV, Handicapped, parseHandicap } from './handicap.js';
import type { Strategy, StrategyContext } from './types.js';

export { STRATEGY_NAMES, isStrategyName, type StrategyName } from './names.js';
export type { Strategy, StrategyContext, WriteDecision, CloseReason } from './types.js';

/**
 * The strategy `name`, slowed as FANOUT_HANDICAP asks when it names this strategy (see
 * handicap.ts: only for proving the regression gate fails).
 */
export function createStrategy(name: StrategyName, ctx: StrategyContext, env: NodeJS.ProcessEnv = process.env): Strategy {
  const h = parseHandicap(env[HANDICAP_ENV]);
  const s = createPlainStrategy(name, ctx);
  if (h === null || h.strategy !== name) return s;
  return new Handicapped(s, h.node === 'last' ? ctx.fragments.length - 1 : h.node, h.untilMs);
}

function createPlainStrategy(name: StrategyName, ctx: StrategyContext): Strategy {
  switch (name) {
    case 'round-robin':
      return new RoundRobin(ctx);
    case 'backpressure':
      return new Backpressure(ctx);
    case 'probe-prioritise':
      return new ProbePrioritise(ctx);
    case 'sequential':
      return new Sequential(ctx);
    case 'static-split':
      return new StaticSplit(ctx);
  }
}
