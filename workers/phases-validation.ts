/**
 * The validation period's activities for the phases worker (validationPeriodWorkflow runs on
 * config.temporal.taskQueues.phases). Spread the result into the worker's `activities`:
 *
 *   activities: { ...validationActivities({ db, prom, queries: config.queries, reportsDir: config.reports.dir, log }), ... }
 *
 * Deps, built once by the worker's composition root:
 *   - db: the Postgres pool (migrations applied: sql/000003_reports.sql, sql/000005_validation.sql)
 *   - prom: a PromClient on config.prometheus (url, timeoutMs) — the Prometheus the period watches
 *   - queries: config.queries (defaults merged with temporal.yaml; runs may override `validation.*`)
 *   - reportsDir: config.reports.dir (pages and markdown are written under <dir>/<runId>/)
 *   - log: a pino logger (the activities log a constant message with fields)
 *   - temporal: the client and phases task queue, for the quarterly re-evaluation Schedule after STAY
 *
 * `writeReport` is included too: it is the shared report activity of every phase, so a worker
 * that already registers createReportActivities gets the same function twice, harmlessly.
 */
import { createReportActivities } from '../activities/reports.js';
import { ensureReevaluationSchedule, type ValidationTemporalDeps } from '../clients/validation.js';
import type { ValidationPeriodInput } from '../workflows/validation-period/workflow.js';
import { createValidationActivities } from '../activities/validation.js';
import type { Logger } from '../lib/log.js';
import type { PromQuerier } from '../lib/validation/collect.js';
import type { Queryable } from '../lib/store/queryable.js';

export interface ValidationWorkerDeps {
  db: Queryable;
  prom: PromQuerier;
  queries: Record<string, string>;
  reportsDir: string;
  log: Logger;
  temporal: ValidationTemporalDeps;
}

export function validationActivities(deps: ValidationWorkerDeps) {
  const reports = createReportActivities({ db: deps.db, reportsDir: deps.reportsDir });
  return {
    ...reports,
    ...createValidationActivities({
      db: deps.db,
      prom: deps.prom,
      queries: deps.queries,
      writeReport: reports.writeReport,
      scheduleReevaluation: (req) =>
        ensureReevaluationSchedule(deps.temporal, { ...req, input: req.input as ValidationPeriodInput }),
      log: deps.log.child({ component: 'validation-activities' }),
    }),
  };
}
