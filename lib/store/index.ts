/**
 * lib/store: one repository per table (`createXRepository(db)`), the only place that speaks SQL
 * (sql/ holds the migrations, lib/db the pool and the migration runner). Driver errors leave as
 * StoreError `<table>.<method>: <message>` (repository.ts).
 */
export * from './queryable.js';
export * from './repository.js';
export * from './session.js';
export * from './workspaces.js';
export * from './operation-log.js';
export * from './sandboxes.js';
export * from './push-locks.js';
export * from './flags.js';
export * from './flag-audit.js';
export * from './flag-latch.js';
export * from './rollback-events.js';
export * from './process-heartbeats.js';
export * from './idempotency-keys.js';
export * from './reports.js';
export * from './baseline.js';
export * from './drift.js';
export * from './validation.js';
