/**
 * Week-over-week stability (seed 000 "Metric Stability Thresholds"). Pure.
 */
import type { ValidationConfig } from '../config/validation.js';
import type { WeekSummary } from './types.js';

export type StabilityMetric = 'costPerOp' | 'p95Latency' | 'errorRate' | 'peakConcurrency';
export type StabilityStatus = 'stable' | 'unstable' | 'no_data';

export interface StabilityCheck {
  metric: StabilityMetric;
  previous: number | null;
  current: number | null;
  /** relative change (cur/prev - 1) for relative bands, absolute difference for the error rate */
  change: number | null;
  /** the band the change is compared with, described ("±10%", "±2 points", "±25% or ±2") */
  band: string;
  status: StabilityStatus;
}

export interface StabilityResult {
  previousWeek: number;
  currentWeek: number;
  /** true: every metric within its band; false: at least one outside; null: some metric had no data */
  stable: boolean | null;
  checks: StabilityCheck[];
}

/** Floating-point slack so a change exactly at the band (0.055 vs 0.05 = +10 %) counts as within it. */
const EPS = 1e-9;

/** Relative change cur/prev - 1; a change from 0 to 0 is 0, from 0 to anything else is +Infinity. */
export function relativeChange(previous: number, current: number): number {
  if (previous === 0) return current === 0 ? 0 : Number.POSITIVE_INFINITY;
  return current / previous - 1;
}

function check(
  metric: StabilityMetric,
  previous: number | null,
  current: number | null,
  band: string,
  measure: (p: number, c: number) => number,
  within: (change: number, p: number, c: number) => boolean,
): StabilityCheck {
  if (previous === null || current === null)
    return { metric, previous, current, change: null, band, status: 'no_data' };
  const change = measure(previous, current);
  return { metric, previous, current, change, band, status: within(change, previous, current) ? 'stable' : 'unstable' };
}

/**
 * Compares `current` with `previous`:
 *   - cost per operation within ±`costPerOpRelative` (10 %) relative change;
 *   - P95 latency within ±`p95Relative` (20 %) relative change;
 *   - error rate within ±`errorRateAbsolute` (2 percentage points) absolute change;
 *   - peak concurrency "identified and consistent": both weeks have a peak, and it moved by at
 *     most `concurrencyRelative` (25 %) or at most `concurrencyAbsolute` (2) operations.
 * A change exactly at the band is stable. A metric missing in either week is `no_data`, which
 * makes the whole result inconclusive (`stable: null`) unless another metric is unstable.
 */
export function compareWeeks(previous: WeekSummary, current: WeekSummary, config: ValidationConfig): StabilityResult {
  const s = config.stability;
  const pct = (x: number): string => `±${Math.round(x * 1000) / 10}%`;
  const checks: StabilityCheck[] = [
    check(
      'costPerOp',
      previous.costPerOp,
      current.costPerOp,
      pct(s.costPerOpRelative),
      relativeChange,
      (ch) => Math.abs(ch) <= s.costPerOpRelative + EPS,
    ),
    check(
      'p95Latency',
      previous.p95Seconds,
      current.p95Seconds,
      pct(s.p95Relative),
      relativeChange,
      (ch) => Math.abs(ch) <= s.p95Relative + EPS,
    ),
    check(
      'errorRate',
      previous.errorRate,
      current.errorRate,
      `±${Math.round(s.errorRateAbsolute * 1000) / 10} points`,
      (p, c) => c - p,
      (ch) => Math.abs(ch) <= s.errorRateAbsolute + EPS,
    ),
    check(
      'peakConcurrency',
      previous.peakConcurrency,
      current.peakConcurrency,
      `${pct(s.concurrencyRelative)} or ±${s.concurrencyAbsolute}`,
      relativeChange,
      (ch, p, c) => Math.abs(c - p) <= s.concurrencyAbsolute + EPS || Math.abs(ch) <= s.concurrencyRelative + EPS,
    ),
  ];
  const unstable = checks.some((c) => c.status === 'unstable');
  const noData = checks.some((c) => c.status === 'no_data');
  return {
    previousWeek: previous.week,
    currentWeek: current.week,
    stable: unstable ? false : noData ? null : true,
    checks,
  };
}
