/**
 * Builds a daily snapshot from Prometheus with the validation queries. This module does I/O
 * through the client it is given: activities use it; workflows must not import it (they import
 * the pure rules from lib/validation/index.ts).
 */
import type { ValidationConfig } from '../config/validation.js';
import { DomainError, ErrorType } from '../errors.js';
import {
  promDuration,
  substituteQuery,
  toScalar,
  type PromInstantResult,
  type PromRangeResult,
} from '../prom/client.js';
import type { DayAggregates, DaySnapshot, ErrorRateByCategory, HourlyPoint } from './types.js';
import { REPORTED_CATEGORIES, emptyHour } from './types.js';

/** The part of PromClient the collector needs. */
export interface PromQuerier {
  query(promql: string, time?: number): Promise<PromInstantResult>;
  queryRange(promql: string, start: number, end: number, stepSeconds: number): Promise<PromRangeResult>;
}

type ScalarAggregate = Exclude<keyof DayAggregates, 'errorRateByCategory' | 'operationDistribution'>;

/** Query name behind each scalar day aggregate. */
export const AGGREGATE_QUERIES: Record<ScalarAggregate, string> = {
  operations: 'validation.operations',
  costDollars: 'validation.cost_dollars',
  costPerOp: 'validation.cost_per_operation',
  p50Seconds: 'validation.latency_p50_seconds',
  p95Seconds: 'validation.latency_p95_seconds',
  p99Seconds: 'validation.latency_p99_seconds',
  errorRate: 'validation.error_rate',
  peakConcurrency: 'validation.peak_concurrency',
  throughputOpsPerMin: 'validation.throughput_ops_per_min',
  peakThroughputOpsPerMin: 'validation.peak_throughput_ops_per_min',
  poolHitRatio: 'validation.pool_hit_ratio',
  rateLimitHeadroom: 'validation.rate_limit_headroom',
  rateLimitedOperations: 'validation.rate_limited_operations',
  recoveryMeanSeconds: 'validation.recovery_mean_seconds',
  recoveryP95Seconds: 'validation.recovery_p95_seconds',
  monthlyCost: 'validation.monthly_cost',
};

/**
 * Query name behind each hourly field, and its window: the resolution, except monthly cost,
 * which uses a trailing day so one busy hour is not extrapolated to a month.
 */
export const HOURLY_QUERIES: Record<keyof Omit<HourlyPoint, 't'>, { query: string; window: 'resolution' | 'day' }> = {
  opsPerMin: { query: 'validation.throughput_ops_per_min', window: 'resolution' },
  costPerOp: { query: 'validation.cost_per_operation', window: 'resolution' },
  p95Seconds: { query: 'validation.latency_p95_seconds', window: 'resolution' },
  errorRate: { query: 'validation.error_rate', window: 'resolution' },
  peakConcurrency: { query: 'validation.peak_concurrency', window: 'resolution' },
  monthlyCost: { query: 'validation.monthly_cost', window: 'day' },
};

/**
 * A Prometheus value as stored: NaN (0/0, no operations) and -Inf become null (no data); +Inf
 * (a quantile beyond the largest bucket) becomes Number.MAX_VALUE so it still breaches every
 * threshold and survives JSON (which has no Infinity).
 */
export function storedValue(v: number): number | null {
  if (Number.isNaN(v) || v === Number.NEGATIVE_INFINITY) return null;
  if (v === Number.POSITIVE_INFINITY) return Number.MAX_VALUE;
  return v;
}

/** Operation names become report keys: keep label-like names, fold anything else (URLs, ids) into "other". */
export function safeLabel(name: string | undefined): string {
  return name !== undefined && /^[A-Za-z0-9_.:-]{1,64}$/.test(name) ? name : 'other';
}

async function inParallel<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out = new Array<T>(tasks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}

export interface CollectDayOptions {
  /** 1-based day of the period */
  day: number;
  /** unix seconds: the day covers (start, start + dayLengthSeconds] */
  start: number;
  /** named queries (defaults merged with overrides) */
  queries: Record<string, string>;
  config: ValidationConfig;
  /** parallel queries in flight (default 4) */
  concurrency?: number;
}

/**
 * Collects one day: an instant query per aggregate at the day's end with `$window` = the day,
 * and a range query per hourly field at the resolution (`$subquery_step` =
 * `config.subqueryStepSeconds` in both). Hours Prometheus has no point for are
 * null points; an hour without a throughput point (no scrape in it) is null in every field. Errors from the client (PromUnavailable, PromBadQuery) propagate: a failed day is
 * retried by the caller, never stored half-empty.
 */
export async function collectDaySnapshot(prom: PromQuerier, o: CollectDayOptions): Promise<DaySnapshot> {
  const { config, queries } = o;
  const end = o.start + config.dayLengthSeconds;
  const res = config.resolutionSeconds;
  const dayWindow = promDuration(config.dayLengthSeconds);
  const resWindow = promDuration(res);
  const subqueryStep = promDuration(config.subqueryStepSeconds);
  const q = (name: string, window: string): string => {
    const promql = queries[name];
    if (promql === undefined)
      throw new DomainError(ErrorType.PromBadQuery, `validation query ${name} is not configured`, { retryable: false });
    return substituteQuery(promql, { window, subquery_step: subqueryStep });
  };

  const scalarKeys = Object.keys(AGGREGATE_QUERIES) as ScalarAggregate[];
  const categoryKeys = REPORTED_CATEGORIES;
  const hourlyKeys = Object.keys(HOURLY_QUERIES) as (keyof typeof HOURLY_QUERIES)[];

  const tasks: (() => Promise<unknown>)[] = [
    ...scalarKeys.map((k) => async () => {
      const promql = q(AGGREGATE_QUERIES[k], dayWindow);
      const s = toScalar(await prom.query(promql, end), promql);
      return s.kind === 'value' ? storedValue(s.value) : null;
    }),
    ...categoryKeys.map((c) => async () => {
      const promql = q(`validation.error_rate_${c}`, dayWindow);
      const s = toScalar(await prom.query(promql, end), promql);
      return s.kind === 'value' ? storedValue(s.value) : null;
    }),
    async () => {
      const r = await prom.query(q('validation.operation_distribution', dayWindow), end);
      const dist: Record<string, number> = {};
      for (const s of r.series) {
        const v = storedValue(s.sample.value);
        if (v === null) continue;
        const key = safeLabel(s.metric.operation);
        dist[key] = (dist[key] ?? 0) + v;
      }
      return Object.keys(dist).length === 0 ? null : dist;
    },
    ...hourlyKeys.map((k) => async () => {
      const spec = HOURLY_QUERIES[k];
      const promql = q(spec.query, spec.window === 'day' ? dayWindow : resWindow);
      const r = await prom.queryRange(promql, o.start + res, end, res);
      if (r.series.length > 1) {
        throw new DomainError(
          ErrorType.PromBadQuery,
          `hourly query ${spec.query} must return one series, got ${r.series.length}`,
          { retryable: false },
        );
      }
      const byT = new Map<number, number | null>();
      for (const s of r.series[0]?.samples ?? []) byT.set(Math.round(s.t), storedValue(s.value));
      return byT;
    }),
  ];
  const results = await inParallel(tasks, o.concurrency ?? 4);

  let i = 0;
  const scalars = {} as Record<ScalarAggregate, number | null>;
  for (const k of scalarKeys) scalars[k] = results[i++] as number | null;
  const errorRateByCategory = {} as ErrorRateByCategory;
  for (const c of categoryKeys) errorRateByCategory[c] = results[i++] as number | null;
  const operationDistribution = results[i++] as Record<string, number> | null;
  const hourlyMaps = {} as Record<keyof typeof HOURLY_QUERIES, Map<number, number | null>>;
  for (const k of hourlyKeys) hourlyMaps[k] = results[i++] as Map<number, number | null>;

  const hourly: HourlyPoint[] = [];
  for (let t = o.start + res; t <= end; t += res) {
    // No throughput point: no scrape landed in this hour (Prometheus was down, or the target).
    // It is a gap in every field: a gauge read through a subquery (peak concurrency) would
    // otherwise repeat, through Prometheus's 5-minute lookback, the last value scraped before the
    // outage, and the day-window cost would project a month from data that stops short of it.
    if (!hourlyMaps.opsPerMin.has(t) || hourlyMaps.opsPerMin.get(t) === null) {
      hourly.push(emptyHour(t));
      continue;
    }
    hourly.push({
      t,
      opsPerMin: hourlyMaps.opsPerMin.get(t) ?? null,
      costPerOp: hourlyMaps.costPerOp.get(t) ?? null,
      p95Seconds: hourlyMaps.p95Seconds.get(t) ?? null,
      errorRate: hourlyMaps.errorRate.get(t) ?? null,
      peakConcurrency: hourlyMaps.peakConcurrency.get(t) ?? null,
      monthlyCost: hourlyMaps.monthlyCost.get(t) ?? null,
    });
  }
  return {
    day: o.day,
    start: o.start,
    end,
    aggregates: { ...scalars, errorRateByCategory, operationDistribution },
    hourly,
  };
}
