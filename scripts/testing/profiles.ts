/**
 * Shared synthetic data for the phase tests and the backtest benchmark: the healthy approach 1
 * that validation backtests read, and the healthy canary analyses as constant PromQL.
 */
import type { HourContext, ProfilePoint } from '../../lib/prom/openmetrics.js';

/**
 * A healthy approach 1: working-hours load of 3 ops/min (0.6 at night), 1 % errors, P95 1.2 s
 * busy / 0.8 s quiet, at most 6 operations at once, $0.005 per operation (≈ $324 a month).
 * Every validation trigger is comfortably below its threshold.
 */
export function healthyApproach1(h: HourContext): ProfilePoint {
  const busy = h.hourOfDay >= 9 && h.hourOfDay < 18;
  return {
    opsPerMin: busy ? 3 : 0.6,
    errorRate: 0.01,
    errorMix: { network: 0.6, timeout: 0.4 },
    p95Seconds: busy ? 1.2 : 0.8,
    concurrency: busy ? 6 : 2,
    costPerOp: 0.005,
    operationMix: { pull: 0.6, push: 0.4 },
  };
}

/** Healthy canary analyses as constant PromQL, answered by a real Prometheus. */
export const HEALTHY_CANARY_QUERIES: Readonly<Record<string, string>> = {
  'canary.error_rate': 'vector(0.01)',
  'canary.operations': 'vector(100)',
  'canary.p95_pooled_seconds': 'vector(0.2)',
  'canary.p95_simple_seconds': 'vector(0.2)',
  // approach 1's operations: enough for its P95 to count (the latency floor, 20)
  'canary.operations_simple': 'vector(100)',
  'canary.consistency': 'vector(1)',
  // seed 004's success criteria over the hot backup, checked before decommission
  'canary.stable.p90_push_seconds': 'vector(2)',
  'canary.stable.pool_reuse': 'vector(0.9)',
  'canary.stable.error_rate': 'vector(0.001)',
};
