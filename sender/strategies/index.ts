/** Builds a strategy object by name. */
import { Backpressure, Sequential } from './backpressure.js';
import type { StrategyName } from './names.js';
import { ProbePrioritise } from './probe-prioritise.js';
import { RoundRobin } from './round-robin.js';
import { StaticSplit } from './static-split.js';
import type { Strategy, StrategyContext } from './types.js';

export { STRATEGY_NAMES, isStrategyName, type StrategyName } from './names.js';
export type { Strategy, StrategyContext, WriteDecision, CloseReason } from './types.js';

export function createStrategy(name: StrategyName, ctx: StrategyContext): Strategy {
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
