import { log, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { PoolActivities, PoolChoreReport } from '../../activities/pool.js';
import { sgcPhaseKey, sgcStageKey } from '../search-attributes.js';

export type PoolMaintenanceTask = 'healthCheck' | 'cleanup';

export interface PoolMaintenanceInput {
  task: PoolMaintenanceTask;
}

export interface PoolMaintenanceResult {
  task: PoolMaintenanceTask;
  report: PoolChoreReport;
}

const { checkPoolHealth, cleanupExpiredSandboxes } = proxyActivities<PoolActivities>({
  // a health check probes up to pool.max (10) sandboxes and may create replacements
  startToCloseTimeout: '2 minutes',
  // The next Schedule run comes within 5-10 minutes anyway: a few quick retries ride out a
  // Postgres or provider blip without overlapping the next run.
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 3 },
});

/**
 * One pool chore, started by a Schedule (seed 004: health check every 5 min, cleanup of
 * expired sandboxes every 10 min). Listed in Temporal UI as SgcPhase=maintenance, SgcStage=<task>.
 */
export async function poolMaintenanceWorkflow(input: PoolMaintenanceInput): Promise<PoolMaintenanceResult> {
  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'maintenance' },
    { key: sgcStageKey, value: input.task },
  ]);
  const report = input.task === 'healthCheck' ? await checkPoolHealth() : await cleanupExpiredSandboxes();
  log.info('pool maintenance done', { task: input.task, ...report });
  return { task: input.task, report };
}
