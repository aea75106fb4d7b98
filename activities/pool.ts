import type { Logger } from '../lib/log.js';

/** A chore's outcome as counts (checked, replaced, terminated…): JSON-safe, shown in Temporal UI. */
export type PoolChoreReport = Record<string, number>;

/** What the maintenance activities need from approach 2's pool. */
export interface PoolChores {
  /** probes idle sandboxes, replaces unhealthy ones, tops the pool up to its minimum */
  healthCheck(): Promise<object>;
  /** terminates sandboxes past their TTL and reaps records of sandboxes that no longer exist */
  cleanupExpired(): Promise<object>;
}

export interface PoolActivityDeps {
  pool: Pick<PoolChores, 'healthCheck' | 'cleanupExpired'>;
  log: Logger;
}

/** Keeps the numeric fields of a pool report: the rest may not be JSON-safe or may be large. */
function counts(report: object): PoolChoreReport {
  const out: PoolChoreReport = {};
  for (const [k, v] of Object.entries(report)) if (typeof v === 'number') out[k] = v;
  return out;
}

/**
 * Activities for poolMaintenanceWorkflow (started by the pool Schedules). Both chores are safe
 * to run twice: a second health check finds the pool already healthy, a second cleanup finds
 * nothing left to reap.
 */
export function createPoolActivities({ pool, log }: PoolActivityDeps) {
  return {
    async checkPoolHealth(): Promise<PoolChoreReport> {
      const report = counts(await pool.healthCheck());
      log.info(report, 'pool health check done');
      return report;
    },
    async cleanupExpiredSandboxes(): Promise<PoolChoreReport> {
      const report = counts(await pool.cleanupExpired());
      log.info(report, 'pool cleanup done');
      return report;
    },
  };
}

export type PoolActivities = ReturnType<typeof createPoolActivities>;
