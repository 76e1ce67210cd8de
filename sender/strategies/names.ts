/** The scheduling strategies `fanout send --strategy` accepts, in the order help text lists them. */
export const STRATEGY_NAMES = [
  'round-robin',
  'backpressure',
  'probe-prioritise',
  'sequential',
  'static-split',
] as const;

export type StrategyName = (typeof STRATEGY_NAMES)[number];

export function isStrategyName(s: string): s is StrategyName {
  return (STRATEGY_NAMES as readonly string[]).includes(s);
}
