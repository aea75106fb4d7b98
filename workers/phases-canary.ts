/**
 * The canary phase's part of the phases worker (config.temporal.taskQueues.phases):
 * canaryRolloutWorkflow, reconciliationWorkflow and rollbackDrillWorkflow run there. Spread
 * the activities into the worker's `activities` and create the Schedules at start
 * (clients/schedules.ts):
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
import { createCanaryActivities } from '../activities/canary.js';
import { createDrillActivities } from '../activities/drill.js';
import { createReportActivities } from '../activities/reports.js';
import type { Db } from '../lib/db/index.js';
import type { FlagCache } from '../lib/flags/cache.js';
import type { FlagStore } from '../lib/flags/store.js';
import type { Logger } from '../lib/log.js';
import { setCanaryStage, type Metrics } from '../lib/metrics.js';
import type { PromClient } from '../lib/prom/client.js';
import type { HotBackupProbe } from '../lib/service/hot-backup.js';

export interface CanaryWorkerDeps {
  db: Db;
  flags: Pick<
    FlagStore,
    'list' | 'setMany' | 'kill' | 'awaitSwitch' | 'awaitChangeSwitched' | 'audit' | 'latch' | 'latchMark'
  >;
  cache: Pick<FlagCache, 'get' | 'all' | 'onChange'>;
  prom: Pick<PromClient, 'queryScalar'>;
  queries: Record<string, string>;
  reportsDir: string;
  metrics: Pick<Metrics, 'reconciliationDivergence' | 'canaryStage'>;
  /** is approach 1 warm? (lib/service/compose.ts; absent when this worker does not run approach 1) */
  probeHotBackup?: () => Promise<HotBackupProbe>;
  log: Logger;
}

/** Activities of the canary rollout, the reconciliation job and the rollback drill (+ writeReport). */
export function canaryActivities(deps: CanaryWorkerDeps) {
  return {
    ...createReportActivities({ db: deps.db, reportsDir: deps.reportsDir }),
    ...createCanaryActivities({
      flags: deps.flags,
      prom: deps.prom,
      queries: deps.queries,
      db: deps.db,
      setDivergence: (ratio) => deps.metrics.reconciliationDivergence.set(ratio),
      setStage: (stage) => setCanaryStage(deps.metrics, stage),
      probeHotBackup: deps.probeHotBackup,
      log: deps.log.child({ component: 'canary-activities' }),
    }),
    ...createDrillActivities({
      flags: deps.flags,
      cache: deps.cache,
      db: deps.db,
      log: deps.log.child({ component: 'drill-activities' }),
    }),
  };
}
