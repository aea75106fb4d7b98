/**
 * Default PromQL for the validation phase, keyed by quantity name; overridable under `queries:`
 * in temporal.yaml or per run.
 *
 * Window convention: every query measures its quantity over the window that ENDS at the
 * evaluation time, written `$window`. The caller substitutes a PromQL duration (see
 * `substituteQuery`/`promDuration` in lib/prom/client.ts):
 *   - hourly points: a range query with step = resolution and `$window` = the resolution (`1h`),
 *     so the point at T covers (T-1h, T];
 *   - day aggregates: an instant query at the day's end with `$window` = the day (`1d`);
 *   - `validation.monthly_cost` hourly points use a trailing day (`$window` = `1d`) so a busy
 *     hour is not extrapolated to a month (see lib/validation/collect.ts).
 *
 * Peak queries (concurrency, headroom, peak throughput) are subqueries evaluated every
 * `$subquery_step` (default `1m`, `validation.subqueryStepSeconds`); shrunk test runs whose
 * "hour" is seconds long set it to a few seconds.
 *
 * Result shape: every query returns one series (no labels) except
 * `validation.operation_distribution`, which returns one series per `operation`. An empty result
 * is "no data" — ratios divide by the operation count, so a window without operations is no
 * data, never 0. Error counts use `or vector(0)` so that "no errors" is a real 0 while "no
 * operations" stays no data.
 */

const ops = 'sum(increase(gitops_operations_total[$window]))';
/** operations the service answered for itself: an agent's own bad requests (`client`) left out */
const served = 'sum(increase(gitops_operations_total{error_category!="client"}[$window]))';
/** failures of a kind / served operations: client errors neither fail nor dilute (issue 9 item 9) */
const errorsWhere = (selector: string, of: string = served): string =>
  `(sum(increase(gitops_operations_total{${selector}}[$window])) or vector(0)) / ${of}`;
const latency = (q: number): string =>
  `histogram_quantile(${q}, sum by (le) (rate(gitops_operation_duration_seconds_bucket[$window])))`;

/** Seconds in the 30-day month the monthly-cost projection uses. */
export const SECONDS_PER_MONTH = 30 * 86_400;

export const VALIDATION_QUERIES: Record<string, string> = {
  /** operations completed in the window (all outcomes) */
  'validation.operations': ops,
  /** sandbox spend in the window, USD */
  'validation.cost_dollars': 'sum(increase(gitops_sandbox_cost_dollars_total[$window]))',
  /** USD per operation */
  'validation.cost_per_operation': `sum(increase(gitops_sandbox_cost_dollars_total[$window])) / ${ops}`,
  /** spend rate over the window projected to a 30-day month, USD */
  'validation.monthly_cost': `sum(rate(gitops_sandbox_cost_dollars_total[$window])) * ${SECONDS_PER_MONTH}`,
  'validation.latency_p50_seconds': latency(0.5),
  'validation.latency_p95_seconds': latency(0.95),
  'validation.latency_p99_seconds': latency(0.99),
  /** service failures / served operations (fraction); the agents' own bad requests are error_rate_client */
  'validation.error_rate': errorsWhere('error_category!~"none|client"'),
  'validation.error_rate_network': errorsWhere('error_category="network"'),
  'validation.error_rate_timeout': errorsWhere('error_category="timeout"'),
  'validation.error_rate_conflict': errorsWhere('error_category="conflict"'),
  'validation.error_rate_auth': errorsWhere('error_category="auth"'),
  'validation.error_rate_rate_limit': errorsWhere('error_category="rate_limit"'),
  'validation.error_rate_other': errorsWhere('error_category="other"'),
  /** the agents' own bad requests / all operations: shown apart, never a migration trigger */
  'validation.error_rate_client': errorsWhere('error_category="client"', ops),
  /** operations rejected by the provider's rate limit in the window (resource exhaustion events) */
  'validation.rate_limited_operations':
    // operations that failed on a rate limit, plus every 429 E2B's API answered (also those retried)
    '(sum(increase(gitops_operations_total{error_category="rate_limit"}[$window])) or vector(0)) + (sum(increase(gitops_provider_rate_limited_total[$window])) or vector(0))',
  /** highest number of operations in flight at once (all approaches and processes summed, sampled every $subquery_step) */
  'validation.peak_concurrency': 'max_over_time(sum(gitops_operations_in_flight)[$window:$subquery_step])',
  /** mean operations per minute over the window */
  'validation.throughput_ops_per_min': `sum(rate(gitops_operations_total[$window])) * 60`,
  /** busiest 10-minute throughput inside the window, operations per minute */
  'validation.peak_throughput_ops_per_min':
    'max_over_time((sum(rate(gitops_operations_total[10m])) * 60)[$window:$subquery_step])',
  /** share of operations per `operation` label (one series each) */
  'validation.operation_distribution': `sum by (operation) (increase(gitops_operations_total[$window])) / ignoring(operation) group_left() ${ops}`,
  /** pool/cache hit ratio: reused sandboxes / all acquisitions (no data without a pool) */
  'validation.pool_hit_ratio':
    '(sum(increase(gitops_pool_acquisitions_total{result="reused"}[$window])) or vector(0)) / sum(increase(gitops_pool_acquisitions_total[$window]))',
  /** rate-limit headroom at the window's worst point: 1 - running sandboxes / plan limit */
  'validation.rate_limit_headroom':
    'min_over_time((1 - sum(gitops_sandboxes_running) / sum(gitops_sandbox_limit))[$window:$subquery_step])',
  /** mean transient-failure recovery time (first failure → success), seconds */
  'validation.recovery_mean_seconds':
    'sum(rate(gitops_recovery_seconds_sum[$window])) / sum(rate(gitops_recovery_seconds_count[$window]))',
  'validation.recovery_p95_seconds':
    'histogram_quantile(0.95, sum by (le) (rate(gitops_recovery_seconds_bucket[$window])))',
};
