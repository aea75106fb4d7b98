/**
 * The validation period's pure rules and types (seed 000): safe to import from workflows.
 * The Prometheus collector (collect.ts) and the queries are not re-exported here on purpose:
 * the collector does I/O and belongs to activities.
 */
export * from './types.js';
export * from './triggers.js';
export * from './summary.js';
export * from './stability.js';
export * from './decide.js';
export * from './goals.js';
export * from './forecast.js';
