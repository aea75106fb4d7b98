/**
 * Data shapes of the validation period (seed 000). Plain JSON (no Date, no Infinity) so they
 * travel through Temporal payloads and Postgres jsonb unchanged. A missing value is `null` —
 * never 0: "no data" must stay distinguishable from "nothing happened".
 */
import type { ErrorCategory } from '../errors.js';

/** Error categories the service can fail with (the `error_category` label minus `none` and `client`). */
export type FailureCategory = Exclude<ErrorCategory, 'none' | 'client'>;
export const FAILURE_CATEGORIES: readonly FailureCategory[] = [
  'network',
  'timeout',
  'conflict',
  'auth',
  'rate_limit',
  'other',
];
/**
 * Categories collected per day: the service's failures, and the agents' own bad requests
 * (`client`, issue 9 item 9), shown apart in the reports and never part of the error rate.
 */
export const REPORTED_CATEGORIES: readonly (FailureCategory | 'client')[] = [...FAILURE_CATEGORIES, 'client'];
/** Error rate per category; `client` is absent in data collected before it was counted apart. */
export type ErrorRateByCategory = Record<FailureCategory, number | null> & { client?: number | null };

/** One point per resolution step (hourly by default); the point at `t` covers (t - resolution, t]. */
export interface HourlyPoint {
  /** unix seconds, end of the hour */
  t: number;
  /** mean operations per minute in the hour; 0 means no operations, null means no data */
  opsPerMin: number | null;
  costPerOp: number | null;
  p95Seconds: number | null;
  /** fraction 0..1 */
  errorRate: number | null;
  peakConcurrency: number | null;
  /** spend rate over the trailing day, projected to a 30-day month (USD) */
  monthlyCost: number | null;
}

/** A point with no data (no scrape landed in its hour): null in every field, never zero. */
export function emptyHour(t: number): HourlyPoint {
  return {
    t,
    opsPerMin: null,
    costPerOp: null,
    p95Seconds: null,
    errorRate: null,
    peakConcurrency: null,
    monthlyCost: null,
  };
}

/** The day's aggregates, each measured over the whole day. */
export interface DayAggregates {
  operations: number | null;
  costDollars: number | null;
  costPerOp: number | null;
  p50Seconds: number | null;
  p95Seconds: number | null;
  p99Seconds: number | null;
  errorRate: number | null;
  errorRateByCategory: ErrorRateByCategory;
  peakConcurrency: number | null;
  throughputOpsPerMin: number | null;
  peakThroughputOpsPerMin: number | null;
  /** share of operations per operation name; null when there were none */
  operationDistribution: Record<string, number> | null;
  poolHitRatio: number | null;
  /** 1 - running/limit at the day's worst minute */
  rateLimitHeadroom: number | null;
  rateLimitedOperations: number | null;
  recoveryMeanSeconds: number | null;
  recoveryP95Seconds: number | null;
  monthlyCost: number | null;
}

/** A daily snapshot: the day's aggregates plus its hourly points (missing hours are null points). */
export interface DaySnapshot {
  /** 1-based day of the period */
  day: number;
  /** unix seconds, start and end of the day (metric time) */
  start: number;
  end: number;
  aggregates: DayAggregates;
  hourly: HourlyPoint[];
}

export const TRIGGER_NAMES = [
  'concurrency',
  'costPerOp',
  'p95Latency',
  'errorRate',
  'monthlyCost',
  'throughput',
] as const;
/** The six migration triggers of seed 000. */
export type TriggerName = (typeof TRIGGER_NAMES)[number];

/**
 * A trigger's state in one week: `exceeded` (breached in at least `minBreachHours` hourly
 * points), `ok` (not exceeded and the week's data is complete), or `no_data` (not exceeded, but
 * days or hours are missing — inconclusive, never a pass).
 */
export type TriggerStatus = 'exceeded' | 'ok' | 'no_data';

export interface TriggerWeekResult {
  trigger: TriggerName;
  threshold: number;
  status: TriggerStatus;
  /** hourly points strictly above the threshold */
  breachHours: number;
  hoursWithData: number;
  hoursExpected: number;
  /** highest hourly value, null without data */
  max: number | null;
  /** 95th percentile of the hourly values (nearest rank), null without data */
  p95OfHours: number | null;
}

/** A day as kept in a weekly summary (for charts and forecasts): its aggregates and completeness. */
export interface DaySummary {
  day: number;
  start: number;
  complete: boolean;
  /** share of hourly points with throughput data */
  coverage: number;
  costPerOp: number | null;
  costDollars: number | null;
  operations: number | null;
  p50Seconds: number | null;
  p95Seconds: number | null;
  p99Seconds: number | null;
  errorRate: number | null;
  peakConcurrency: number | null;
  throughputOpsPerMin: number | null;
}

/** A run of consecutive hours above the error-rate trigger (seed 000 week 3: cascade failures). */
export interface CascadeWindow {
  start: number;
  end: number;
  hours: number;
  peakErrorRate: number;
}

export interface WeekSummary {
  /** 1-based week of the period */
  week: number;
  /** day numbers the week should have */
  expectedDays: number[];
  /** expected days without a snapshot or with too little data */
  missingDays: number[];
  /** every expected day present and complete */
  complete: boolean;
  days: DaySummary[];

  operations: number | null;
  costDollars: number | null;
  /** total cost / total operations */
  costPerOp: number | null;
  /** median of the daily values (robust to one bad day; quantiles cannot be merged exactly) */
  p50Seconds: number | null;
  p95Seconds: number | null;
  p99Seconds: number | null;
  /** highest daily P99, for the timeout check */
  maxP99Seconds: number | null;
  /** operations-weighted mean of the daily error rates */
  errorRate: number | null;
  errorRateByCategory: ErrorRateByCategory;
  /** highest hourly peak of the week */
  peakConcurrency: number | null;
  /** end of the hour the peak was seen in (unix s) and its hour of day (0–23, hour starting) */
  peakConcurrencyAt: number | null;
  peakConcurrencyHourOfDay: number | null;
  throughputOpsPerMin: number | null;
  peakThroughputOpsPerMin: number | null;
  operationDistribution: Record<string, number> | null;
  poolHitRatio: number | null;
  /** lowest daily headroom */
  rateLimitHeadroomMin: number | null;
  rateLimitedOperations: number | null;
  recoveryMeanSeconds: number | null;
  recoveryP95Seconds: number | null;
  /** the week's spend projected to a month: costDollars × daysPerMonth / days with cost data */
  monthlyCostProjected: number | null;
  cascades: CascadeWindow[];
  /** trigger evaluation on the week's hourly points */
  triggers: TriggerWeekResult[];
}

export type Decision = 'CONTINUE' | 'STAY' | 'MIGRATE' | 'EXTEND';
