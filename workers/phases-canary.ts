/**
 * The canary phase's part of the phases worker (config.temporal.taskQueues.phases):
 * canaryRolloutWorkflow, reconciliationWorkflow and rollbackDrillWorkflow run there. Spread
 * the activities into the worker's `activities` and create the Schedules at start:
 *
 *   const cache = await FlagCache.start({ connectionString: config.postgres.url, log });
 *   activities: { ...canaryActivities({ db, flags: new FlagStore(db), cache, prom, queries: config.queries,
 *                                       reportsDir: config.reports.dir, metrics, log }), ... }
 *   await ensureCanarySchedules(client, config, config.temporal.taskQueues.phases, log);
 *
 * Deps, built once by the composition root:
 *   - db: the Postgres pool; flags: a FlagStore over it
 *   - cache: this process's FlagCache. The worker must hold one anyway: it is a process that
 *     routes (the drill's synthetic load goes through it), and the kill switch waits for every
 *     live flag-caching process to acknowledge.
 *   - prom: a PromClient on config.prometheus; queries: config.queries
 *   - metrics: this process's registry. reconciliationWorkflow's activity sets
 *     `gitops_reconciliation_divergence_ratio` in it, so the worker's /metrics
 *     (config.metrics.workerPort) must be scraped by the Prometheus the canary queries. With
 *     several phases workers, each exports the value of the last reconciliation it ran; the
 *     canary's consistency query takes the worst over its window, so a worker's stale value
 *     errs toward caution (it can trip the trigger), never toward passing.
 */
import type { Client } from '@temporalio/client';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { createCanaryActivities } from '../activities/canary.js';
import { createDrillActivities } from '../activities/drill.js';
import { createReportActivities } from '../activities/reports.js';
import type { Config } from '../lib/config/index.js';
import type { Db } from '../lib/db/index.js';
import type { FlagCache } from '../lib/flags/cache.js';
import type { FlagStore } from '../lib/flags/store.js';
import type { Logger } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import type { PromClient } from '../lib/prom/client.js';
import { scheduleId } from '../workflows/ids.js';
import { reconciliationWorkflow, type ReconciliationInput } from '../workflows/reconciliation/workflow.js';
import { rollbackDrillWorkflow, type RollbackDrillInput } from '../workflows/rollback-drill/workflow.js';
import { upsertSchedule } from './schedules.js';

export interface CanaryWorkerDeps {
  db: Db;
  flags: Pick<FlagStore, 'list' | 'setMany' | 'kill' | 'awaitSwitch' | 'audit'>;
  cache: Pick<FlagCache, 'get' | 'all' | 'onChange'>;
  prom: Pick<PromClient, 'queryScalar'>;
  queries: Record<string, string>;
  reportsDir: string;
  metrics: Pick<Metrics, 'reconciliationDivergence'>;
  log: Logger;
}

/** Activities of the canary rollout, the reconciliation job and the rollback drill (+ writeReport). */
export function canaryActivities(deps: CanaryWorkerDeps) {
  return {
    ...createReportActivities({ db: deps.db, reportsDir: deps.reportsDir }),
    ...createCanaryActivities({
      flags: deps.flags, prom: deps.prom, queries: deps.queries, db: deps.db,
      setDivergence: (ratio) => deps.metrics.reconciliationDivergence.set(ratio),
      log: deps.log.child({ component: 'canary-activities' }),
    }),
    ...createDrillActivities({ flags: deps.flags, cache: deps.cache, db: deps.db, log: deps.log.child({ component: 'drill-activities' }) }),
  };
}

export type CanarySchedule =
  | { name: string; kind: 'reconciliation'; spec: { intervals: { every: string }[] }; args: [ReconciliationInput]; runTimeout: string }
  | { name: string; kind: 'drill'; spec: { cronExpressions: string[] }; args: [RollbackDrillInput]; runTimeout: string };

/**
 * The canary phase's Schedules: reconciliation every `schedules.reconciliationEvery` (5 min,
 * seed 002 step 4) and the weekly kill-switch drill on `schedules.rollbackDrillCron` (seed 002:
 * "Kill-switch tested weekly"). Pure: what ensureCanarySchedules creates.
 */
export function scheduleSpecs(config: Pick<Config, 'schedules' | 'canary'>): CanarySchedule[] {
  const c = config.canary;
  return [
    {
      name: 'reconciliation', kind: 'reconciliation',
      spec: { intervals: [{ every: config.schedules.reconciliationEvery }] },
      args: [{ lagThresholdSeconds: c.reconciliation.lagThresholdSeconds, switchGraceSeconds: c.reconciliation.switchGraceSeconds }],
      // a run stuck past its interval is abandoned; the next one starts fresh
      runTimeout: config.schedules.reconciliationEvery,
    },
    {
      name: 'rollback-drill', kind: 'drill',
      spec: { cronExpressions: [config.schedules.rollbackDrillCron] },
      args: [{
        flipEverySeconds: c.drill.flipEverySeconds, durationSeconds: c.drill.durationSeconds, switchBoundMs: c.drill.switchBoundMs,
        onPercent: c.drill.onPercent, agents: c.drill.agents, stuckInUseSeconds: c.drill.stuckInUseSeconds, switchTimeoutMs: c.switchTimeoutMs,
      }],
      runTimeout: '1 hour',
    },
  ];
}

/**
 * Creates the canary Schedules, or updates them to the current config when they exist (a second
 * worker start never fails or duplicates them). Nothing is created when `schedules.enabled` is
 * false. `namePrefix` keeps tests sharing a server apart from production's Schedules.
 */
export async function ensureCanarySchedules(
  client: Client, config: Pick<Config, 'schedules' | 'canary'>, taskQueue: string, log: Logger, opts: { namePrefix?: string } = {},
): Promise<string[]> {
  if (!config.schedules.enabled) return [];
  const ids: string[] = [];
  for (const s of scheduleSpecs(config)) {
    const id = scheduleId(`${opts.namePrefix ?? ''}${s.name}`);
    const common = {
      taskQueue,
      // the Schedule appends the fire time, so each run's id is unique and readable
      workflowId: id,
      workflowRunTimeout: s.runTimeout,
    };
    // a slow run must not pile up runs behind it; two drills at once would flip each other's flags
    const policies = { overlap: ScheduleOverlapPolicy.SKIP };
    if (s.kind === 'reconciliation') {
      await upsertSchedule(client, { scheduleId: id, spec: s.spec, action: { type: 'startWorkflow', workflowType: reconciliationWorkflow, args: s.args, ...common }, policies }, log);
    } else {
      await upsertSchedule(client, { scheduleId: id, spec: s.spec, action: { type: 'startWorkflow', workflowType: rollbackDrillWorkflow, args: s.args, ...common }, policies }, log);
    }
    ids.push(id);
  }
  return ids;
}
