/**
 * Default PromQL for the canary phase, keyed by quantity name; overridable under `queries:` in
 * temporal.yaml or per rollout (`CanaryRolloutInput.queries`).
 *
 * Every query measures its quantity over the window that ends at the analysis time, written
 * `$window` (the analysis window, by default the analysis interval, as a PromQL duration), and
 * returns one series or nothing. Nothing (or NaN, e.g. 0/0) is "no data", which makes the
 * analysis inconclusive — never 0. Error counts use `or vector(0)` so that "no errors" is a
 * real 0 while "no approach-2 operations" stays no data.
 *
 * The error rate leaves conflicts out of the numerator, exactly as the Approach2ErrorRateHigh
 * alert in monitoring/alerts.yml does: conflicts come from agents racing on one branch and hit
 * approach 1 the same way. An agent's own bad requests (`error_category="client"`) are left out
 * of both sides (issue 9 item 9): they are not service failures, and counting them as operations
 * would let a flood of them dilute real failures. Both P95s are read over the same window, so a quiet night compares
 * with a quiet night; approach 1's operations in it are counted too, since a P95 over a handful of
 * calls is no baseline (the latency floor, lib/canary/analysis.ts). Consistency takes the worst divergence any process reported in the window;
 * the gauge is set by the phases worker that ran reconciliationWorkflow (workers/phases-canary.ts).
 */
const POOLED = 'approach="pooled"';
/** an approach's operations the service answered for itself: the agent's own bad requests left out */
const served = (approach: string): string => `approach="${approach}",error_category!="client"`;
/** an approach's served operations in the window */
const operations = (approach: string): string => `sum(increase(gitops_operations_total{${served(approach)}}[$window]))`;

/** approach-2 service failures (conflicts and client errors excluded) / approach-2 served operations */
const ERROR_RATE =
  `(sum(increase(gitops_operations_total{${POOLED},outcome="error",error_category!~"conflict|client"}[$window])) or vector(0))` +
  ` / ${operations('pooled')}`;

const p95 = (approach: string): string =>
  `histogram_quantile(0.95, sum by (le) (rate(gitops_operation_duration_seconds_bucket{approach="${approach}"}[$window])))`;

export const CANARY_QUERIES: Record<string, string> = {
  /** approach-2 service failures (conflicts and client errors excluded) / approach-2 operations (client errors excluded), fraction */
  'canary.error_rate': ERROR_RATE,
  /** approach-2 operations in the window, client errors excluded (the error-rate floor) */
  'canary.operations': operations('pooled'),
  'canary.p95_pooled_seconds': p95('pooled'),
  'canary.p95_simple_seconds': p95('simple'),
  /**
   * approach-1 operations in the window, counted as canary.operations counts approach 2's (the
   * latency floor: right after the cutover approach 1 serves a handful of calls, too few for a P95)
   */
  'canary.operations_simple': operations('simple'),
  /** 1 − worst reconciliation divergence ratio in the window */
  'canary.consistency': '1 - max(max_over_time(gitops_reconciliation_divergence_ratio[$window]))',
  // Seed 004's success criteria over the hot-backup period (`$window` = the period), judged
  // before decommission (lib/canary/stability.ts).
  /** approach-2 P90 of successful pushes, seconds (seed 004: "Git push < 10 seconds (P90)") */
  'canary.stable.p90_push_seconds':
    'histogram_quantile(0.90, sum by (le) (rate(gitops_operation_duration_seconds_bucket{approach="pooled",operation="push",outcome="success"}[$window])))',
  /** reused / all pool acquisitions (seed 004: "Pool reuse rate > 80%") */
  'canary.stable.pool_reuse':
    '(sum(increase(gitops_pool_acquisitions_total{result="reused"}[$window])) or vector(0)) / sum(increase(gitops_pool_acquisitions_total[$window]))',
  /** approach-2 service failures / operations, as canary.error_rate (seed 004: "Error rate < 1%") */
  'canary.stable.error_rate': ERROR_RATE,
};

/** The query names one analysis reads, in the order of AnalysisValues. */
export const CANARY_QUERY_NAMES = {
  errorRate: 'canary.error_rate',
  operations: 'canary.operations',
  p95PooledSeconds: 'canary.p95_pooled_seconds',
  p95SimpleSeconds: 'canary.p95_simple_seconds',
  operationsSimple: 'canary.operations_simple',
  consistency: 'canary.consistency',
} as const;

/** The query names of the stability check before decommission, in the order of StabilityValues. */
export const STABILITY_QUERY_NAMES = {
  p90PushSeconds: 'canary.stable.p90_push_seconds',
  poolReuse: 'canary.stable.pool_reuse',
  errorRate: 'canary.stable.error_rate',
} as const;
