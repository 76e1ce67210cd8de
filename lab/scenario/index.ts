/**
 * Scenario files: YAML -> checked, fully drawn `Topology` (lab/types.ts). The format is documented
 * at the top of schema.ts.
 */
export { loadScenario } from './load.js';
export { parseScenario, type ParseOptions } from './parse.js';
export { ScenarioError, formatIssue, type ScenarioIssue } from './errors.js';
export type { ScenarioCaps } from './schema.js';
