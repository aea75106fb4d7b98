import { Registry, Histogram, Counter, Gauge, collectDefaultMetrics } from 'prom-client';
import type { ErrorCategory, ErrorTypeName } from './errors.js';

export type Approach = 'simple' | 'pooled';

/** Buckets of gitops_operation_duration_seconds; SLO latency targets snap to these. */
export const OPERATION_DURATION_BUCKETS_SECONDS = [0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2, 5, 10, 30, 60];

/**
 * Buckets of gitops_activity_duration_seconds: activities run from a few milliseconds (a flag
 * write) to a whole load window (minutes) or a drill's synthetic load (up to an hour).
 */
export const ACTIVITY_DURATION_BUCKETS_SECONDS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600,
];

/**
 * `outcome` of gitops_activity_duration_seconds: `ok`, `cancelled`, the failure's ErrorType
 * (`GitConflict`, `PromUnavailable`, …: a closed set, so failures by type stay low-cardinality),
 * or `unexpected` for anything that is not a DomainError (a bug).
 */
export type ActivityOutcome = 'ok' | 'cancelled' | 'unexpected' | ErrorTypeName;

/**
 * The metric contract of DESIGN.md (names and labels are used by dashboards, alert rules and the
 * phases' default PromQL). No ID labels. One registry per process, built in the composition root.
 */
export function createMetrics(opts: { defaultMetrics?: boolean; prefix?: string } = {}) {
  const registry = new Registry();
  if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
  const r = [registry];
  const m = {
    registry,
    operationDuration: new Histogram({
      name: 'gitops_operation_duration_seconds',
      help: 'Duration of agent git operations',
      labelNames: ['operation', 'approach', 'outcome'] as const,
      registers: r,
      buckets: OPERATION_DURATION_BUCKETS_SECONDS,
    }),
    operations: new Counter({
      name: 'gitops_operations_total',
      help: 'Agent git operations by outcome and error category',
      labelNames: ['operation', 'approach', 'outcome', 'error_category'] as const,
      registers: r,
    }),
    inFlight: new Gauge({
      name: 'gitops_operations_in_flight',
      help: 'Operations running now',
      labelNames: ['approach'] as const,
      registers: r,
    }),
    sandboxCost: new Counter({
      name: 'gitops_sandbox_cost_dollars_total',
      help: 'Sandbox cost accrued (USD) at the configured price per sandbox-second',
      labelNames: ['approach'] as const,
      registers: r,
    }),
    poolAcquisitions: new Counter({
      name: 'gitops_pool_acquisitions_total',
      help: 'Pool acquisitions: reused a warm sandbox or created one',
      labelNames: ['result'] as const,
      registers: r,
    }),
    poolSandboxes: new Gauge({
      name: 'gitops_pool_sandboxes',
      help: 'Pooled sandboxes by state',
      labelNames: ['state'] as const,
      registers: r,
    }),
    sandboxesRunning: new Gauge({
      name: 'gitops_sandboxes_running',
      help: 'Sandboxes running now',
      labelNames: ['provider'] as const,
      registers: r,
    }),
    sandboxLimit: new Gauge({
      name: 'gitops_sandbox_limit',
      help: 'Concurrent-sandbox plan limit',
      labelNames: ['provider'] as const,
      registers: r,
    }),
    providerRateLimited: new Counter({
      name: 'gitops_provider_rate_limited_total',
      help: "429 answers from the sandbox provider's API (E2B), including those retried with backoff",
      labelNames: ['provider'] as const,
      registers: r,
    }),
    lockWait: new Histogram({
      name: 'gitops_lock_wait_seconds',
      help: 'Time waiting for the push lock',
      labelNames: ['outcome'] as const,
      registers: r,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    }),
    queueWait: new Histogram({
      name: 'gitops_queue_wait_seconds',
      help: 'Merge queue (push.mode queue): staged commit to its answer (landed or conflict)',
      labelNames: ['outcome'] as const,
      registers: r,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    }),
    queueBatchSize: new Histogram({
      name: 'gitops_queue_batch_size',
      help: 'Staged commits one merge queue batch applied',
      registers: r,
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    }),
    recovery: new Histogram({
      name: 'gitops_recovery_seconds',
      help: 'First failure to success of a retried operation',
      labelNames: ['operation'] as const,
      registers: r,
      buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    }),
    routerDecisions: new Counter({
      name: 'gitops_router_decisions_total',
      help: 'Router decisions',
      labelNames: ['operation', 'approach', 'mode'] as const,
      registers: r,
    }),
    fallbacks: new Counter({
      name: 'gitops_fallback_total',
      help: 'Approach-2 failures served by approach 1',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    shadowComparisons: new Counter({
      name: 'gitops_shadow_comparisons_total',
      help: 'Shadow comparisons of approach 2 against approach 1',
      labelNames: ['operation', 'result'] as const,
      registers: r,
    }),
    reconciliationDivergence: new Gauge({
      name: 'gitops_reconciliation_divergence_ratio',
      help: 'Share of workspace records that diverge between approaches',
      registers: r,
    }),
    activityDuration: new Histogram({
      name: 'gitops_activity_duration_seconds',
      help: 'Temporal activity executions by activity type and outcome (ok, cancelled, the failure type, unexpected)',
      labelNames: ['activity_type', 'outcome'] as const,
      registers: r,
      buckets: ACTIVITY_DURATION_BUCKETS_SECONDS,
    }),
    logErrors: new Counter({
      name: 'gitops_log_errors_total',
      help: 'Log lines at error or fatal level (drift review: critical errors)',
      labelNames: ['level'] as const,
      registers: r,
    }),
    // the flags' state as stored in Postgres, read at scrape time by the API (lib/flags/metrics.ts):
    // the dashboard's flag panel and its kill-switch / rollback annotations
    flagPercent: new Gauge({
      name: 'gitops_flag_percent',
      help: 'Share of agents routed to approach 2, per flag (as stored)',
      labelNames: ['operation'] as const,
      registers: r,
    }),
    flagShadow: new Gauge({
      name: 'gitops_flag_shadow',
      help: '1 when the flag runs the other approach in shadow (as stored)',
      labelNames: ['operation'] as const,
      registers: r,
    }),
    flagShadowPercent: new Gauge({
      name: 'gitops_flag_shadow_percent',
      help: 'Share of agents whose calls get the shadow run while shadow is on, per flag (as stored)',
      labelNames: ['operation'] as const,
      registers: r,
    }),
    killLatched: new Gauge({
      name: 'gitops_kill_latched',
      help: '1 while the kill switch latch refuses flag writes',
      registers: r,
    }),
    rollbackEvents: new Gauge({
      name: 'gitops_rollback_events',
      help: 'Rollback events recorded so far, by source (kill | rollback | auto | drill); a step up is a kill switch or rollback',
      labelNames: ['source'] as const,
      registers: r,
    }),
    // set by the canary activities in the phases worker: the stage the last rollout applied, or
    // rolled_back (one series, value 1)
    canaryStage: new Gauge({
      name: 'gitops_canary_stage',
      help: 'The canary stage this worker applied last (value 1), or rolled_back',
      labelNames: ['stage'] as const,
      registers: r,
    }),
    // the phases' webhook notifications (activities/notify.ts): one per receiver and event
    notifications: new Counter({
      name: 'gitops_notifications_total',
      help: 'Webhook notifications by event kind and outcome (sent | failed), one per receiver and event',
      labelNames: ['kind', 'outcome'] as const,
      registers: r,
    }),
  };
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Marks `stage` as the canary stage now (the only series of gitops_canary_stage). */
export function setCanaryStage(m: Pick<Metrics, 'canaryStage'>, stage: string): void {
  m.canaryStage.reset();
  m.canaryStage.labels(stage).set(1);
}

/** Records one finished operation on the contract metrics. */
export function recordOperation(
  m: Metrics,
  op: { operation: string; approach: Approach; seconds: number; error?: ErrorCategory },
): void {
  const outcome = op.error === undefined ? 'success' : 'error';
  m.operationDuration.labels(op.operation, op.approach, outcome).observe(op.seconds);
  m.operations.labels(op.operation, op.approach, outcome, op.error ?? 'none').inc();
}
