/**
 * Activities of productionBaselineWorkflow and driftReviewWorkflow for the phases worker:
 * spread `baselineActivities(deps)` into the worker's `activities`.
 *
 * Deps (built once in the composition root):
 * - `db` — the Postgres pool (baseline_runs/_samples, drift_reviews/_samples, reports);
 * - `prom` — the Prometheus client over `config.prometheus` (lib/prom/client.ts);
 * - `config` — for `config.queries` (named PromQL, defaults merged with temporal.yaml);
 * - `reportsDir` — `config.reports.dir`; run artifacts go to `<reportsDir>/<runId>/`;
 * - `tokenFor` — resolves a load token reference to the token; `envTokenFor()` below reads it
 *   from the worker's environment, restricted to `SGC_*TOKEN` names;
 * - `flags` — optional FlagStore (or anything with `list()`), for the preflight's expected-flag
 *   check and the environment capture;
 * - `hostname`, `gitSha` — environment capture (os.hostname(), the deployed commit);
 * - `log` — pino.
 */
import { createBaselineActivities, type BaselineActivityDeps } from '../activities/baseline.js';
import { createDriftActivities } from '../activities/drift.js';

export type BaselineWorkerDeps = BaselineActivityDeps;

/**
 * Resolves a token reference from the environment. Only names of the form `SGC_…TOKEN` resolve:
 * a run's input names its token, and an operator who may start runs must not be able to point
 * the load (with a bearer header) at an arbitrary host carrying, say, E2B_API_KEY or GIT_TOKEN.
 */
export function envTokenFor(env: NodeJS.ProcessEnv = process.env): (ref: string) => string | undefined {
  return (ref) => (/^SGC_[A-Z0-9_]*TOKEN$/.test(ref) ? env[ref] || undefined : undefined);
}

export function baselineActivities(deps: BaselineWorkerDeps) {
  return {
    ...createBaselineActivities({ ...deps, log: deps.log.child({ component: 'baseline-activities' }) }),
    ...createDriftActivities({
      db: deps.db,
      prom: deps.prom,
      config: deps.config,
      reportsDir: deps.reportsDir,
      log: deps.log.child({ component: 'drift-activities' }),
    }),
  };
}
