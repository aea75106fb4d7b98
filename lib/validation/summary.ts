/**
 * Weekly summary of daily snapshots (seed 000 "Weekly aggregated reports"). Pure.
 */
import type { ValidationConfig } from '../config/validation.js';
import { evaluateTriggers } from './triggers.js';
import type { CascadeWindow, DaySnapshot, DaySummary, FailureCategory, HourlyPoint, WeekSummary } from './types.js';
import { REPORTED_CATEGORIES } from './types.js';

/** Median of the non-null finite values; null when there are none. */
export function median(values: readonly (number | null)[]): number | null {
  const v = values.filter((x): x is number => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function nonNull(values: readonly (number | null)[]): number[] {
  return values.filter((x): x is number => x !== null && Number.isFinite(x));
}

function sumOrNull(values: readonly (number | null)[]): number | null {
  const v = nonNull(values);
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0);
}

function maxOrNull(values: readonly (number | null)[]): number | null {
  const v = nonNull(values);
  return v.length === 0 ? null : Math.max(...v);
}

function minOrNull(values: readonly (number | null)[]): number | null {
  const v = nonNull(values);
  return v.length === 0 ? null : Math.min(...v);
}

function meanOrNull(values: readonly (number | null)[]): number | null {
  const v = nonNull(values);
  return v.length === 0 ? null : v.reduce((a, b) => a + b, 0) / v.length;
}

/** Σ(value × weight) / Σweight over pairs where both are known; null when the weights sum to 0. */
function weightedMean(pairs: readonly [number | null, number | null][]): number | null {
  let num = 0;
  let den = 0;
  for (const [v, w] of pairs) {
    if (v === null || w === null || !Number.isFinite(v) || !Number.isFinite(w)) continue;
    num += v * w;
    den += w;
  }
  return den > 0 ? num / den : null;
}

/** Resolution points a day should have (24 at the default hourly resolution). */
export function hoursPerDay(config: ValidationConfig): number {
  return Math.round(config.dayLengthSeconds / config.resolutionSeconds);
}

/** The day numbers (1-based) week `week` covers. */
export function daysOfWeek(week: number, config: ValidationConfig): number[] {
  return Array.from({ length: config.daysPerWeek }, (_, i) => (week - 1) * config.daysPerWeek + i + 1);
}

/** Share of the day's expected hourly points that have throughput data (the counter series exist). */
export function dayCoverage(day: DaySnapshot, config: ValidationConfig): number {
  const expected = hoursPerDay(config);
  const withData = day.hourly.filter((p) => p.opsPerMin !== null).length;
  return expected === 0 ? 0 : Math.min(1, withData / expected);
}

/**
 * A day counts as having data when at least `config.data.minHourCoverage` of its hourly points
 * have throughput data and every aggregate the decision reads (cost/op, P95, error rate, peak
 * concurrency, throughput, monthly cost) is known. A day without a single operation has no
 * cost per operation and so counts as missing: it cannot show the service is healthy.
 */
export function isDayComplete(day: DaySnapshot, config: ValidationConfig): boolean {
  const a = day.aggregates;
  return (
    dayCoverage(day, config) >= config.data.minHourCoverage &&
    a.costPerOp !== null &&
    a.p95Seconds !== null &&
    a.errorRate !== null &&
    a.peakConcurrency !== null &&
    a.throughputOpsPerMin !== null &&
    a.monthlyCost !== null
  );
}

/** Runs of at least `minHours` consecutive hourly points with the error rate strictly above `threshold`. */
export function findCascades(
  hourly: readonly HourlyPoint[],
  threshold: number,
  minHours: number,
  resolutionSeconds: number,
): CascadeWindow[] {
  const points = [...hourly].sort((a, b) => a.t - b.t);
  const out: CascadeWindow[] = [];
  let run: HourlyPoint[] = [];
  const flush = (): void => {
    if (run.length >= minHours) {
      out.push({
        start: run[0].t - resolutionSeconds,
        end: run[run.length - 1].t,
        hours: run.length,
        peakErrorRate: Math.max(...run.map((p) => p.errorRate as number)),
      });
    }
    run = [];
  };
  for (const p of points) {
    const breach = p.errorRate !== null && p.errorRate > threshold;
    const adjacent = run.length > 0 && p.t - run[run.length - 1].t === resolutionSeconds;
    if (breach && (run.length === 0 || adjacent)) run.push(p);
    else {
      flush();
      if (breach) run.push(p);
    }
  }
  flush();
  return out;
}

/**
 * Summarises one week of daily snapshots and evaluates the triggers on its hourly points.
 * Snapshots of other weeks are ignored; a day missing from `days` (or incomplete, see
 * `isDayComplete`) is listed in `missingDays` and makes the week incomplete, which turns
 * triggers that were not exceeded into `no_data`.
 *
 * Aggregation: cost/op = total cost / total operations; latency quantiles = median of the daily
 * values (quantiles cannot be merged exactly; the median keeps one bad day from moving the
 * weekly baseline); error rates = operations-weighted mean; peak concurrency = highest hourly
 * peak; monthly cost = the week's spend scaled to `forecast.daysPerMonth` days.
 */
export function summarizeWeek(days: readonly DaySnapshot[], week: number, config: ValidationConfig): WeekSummary {
  const expectedDays = daysOfWeek(week, config);
  const byDay = new Map<number, DaySnapshot>();
  for (const d of days) if (expectedDays.includes(d.day)) byDay.set(d.day, d);
  const present = expectedDays.map((n) => byDay.get(n)).filter((d): d is DaySnapshot => d !== undefined);

  const daySummaries: DaySummary[] = present.map((d) => ({
    day: d.day,
    start: d.start,
    complete: isDayComplete(d, config),
    coverage: dayCoverage(d, config),
    costPerOp: d.aggregates.costPerOp,
    costDollars: d.aggregates.costDollars,
    operations: d.aggregates.operations,
    p50Seconds: d.aggregates.p50Seconds,
    p95Seconds: d.aggregates.p95Seconds,
    p99Seconds: d.aggregates.p99Seconds,
    errorRate: d.aggregates.errorRate,
    peakConcurrency: d.aggregates.peakConcurrency,
    throughputOpsPerMin: d.aggregates.throughputOpsPerMin,
  }));
  const completeDays = new Set(daySummaries.filter((d) => d.complete).map((d) => d.day));
  const missingDays = expectedDays.filter((n) => !completeDays.has(n));
  const complete = missingDays.length === 0;

  const agg = present.map((d) => d.aggregates);
  const hourly = present.flatMap((d) => d.hourly);

  const operations = sumOrNull(agg.map((a) => a.operations));
  const costPairs = agg.filter((a) => a.costDollars !== null && a.operations !== null);
  const costSum = costPairs.reduce((s, a) => s + (a.costDollars as number), 0);
  const opsSum = costPairs.reduce((s, a) => s + (a.operations as number), 0);

  const errorRateByCategory = Object.fromEntries(
    REPORTED_CATEGORIES.map((c) => [c, weightedMean(agg.map((a) => [a.errorRateByCategory[c] ?? null, a.operations]))]),
  ) as Record<FailureCategory, number | null>;

  let peak: HourlyPoint | null = null;
  for (const p of hourly) {
    if (p.peakConcurrency !== null && (peak === null || p.peakConcurrency > (peak.peakConcurrency as number))) peak = p;
  }
  const dailyPeak = maxOrNull(agg.map((a) => a.peakConcurrency));
  const peakConcurrency = maxOrNull([peak?.peakConcurrency ?? null, dailyPeak]);
  let peakConcurrencyHourOfDay: number | null = null;
  if (peak) {
    const day = present.find((d) => peak !== null && peak.t > d.start && peak.t <= d.end);
    if (day)
      peakConcurrencyHourOfDay = Math.floor((peak.t - config.resolutionSeconds - day.start) / config.resolutionSeconds);
  }

  let operationDistribution: Record<string, number> | null = null;
  const distDays = agg.filter((a) => a.operationDistribution !== null && a.operations !== null && a.operations > 0);
  if (distDays.length > 0) {
    const totalOps = distDays.reduce((s, a) => s + (a.operations as number), 0);
    const acc: Record<string, number> = {};
    for (const a of distDays) {
      for (const [op, share] of Object.entries(a.operationDistribution as Record<string, number>)) {
        acc[op] = (acc[op] ?? 0) + share * (a.operations as number);
      }
    }
    operationDistribution = Object.fromEntries(Object.entries(acc).map(([k, v]) => [k, v / totalOps]));
  }

  const costDays = agg.filter((a) => a.costDollars !== null);
  const monthlyCostProjected =
    costDays.length === 0
      ? null
      : (costDays.reduce((s, a) => s + (a.costDollars as number), 0) * config.forecast.daysPerMonth) / costDays.length;

  const hoursExpected = expectedDays.length * hoursPerDay(config);
  return {
    week,
    expectedDays,
    missingDays,
    complete,
    days: daySummaries,
    operations,
    costDollars: sumOrNull(agg.map((a) => a.costDollars)),
    costPerOp: opsSum > 0 ? costSum / opsSum : null,
    p50Seconds: median(agg.map((a) => a.p50Seconds)),
    p95Seconds: median(agg.map((a) => a.p95Seconds)),
    p99Seconds: median(agg.map((a) => a.p99Seconds)),
    maxP99Seconds: maxOrNull(agg.map((a) => a.p99Seconds)),
    errorRate: weightedMean(agg.map((a) => [a.errorRate, a.operations])),
    errorRateByCategory,
    peakConcurrency,
    peakConcurrencyAt: peak?.t ?? null,
    peakConcurrencyHourOfDay,
    throughputOpsPerMin: meanOrNull(agg.map((a) => a.throughputOpsPerMin)),
    peakThroughputOpsPerMin: maxOrNull(agg.map((a) => a.peakThroughputOpsPerMin)),
    operationDistribution,
    poolHitRatio: meanOrNull(agg.map((a) => a.poolHitRatio)),
    rateLimitHeadroomMin: minOrNull(agg.map((a) => a.rateLimitHeadroom)),
    rateLimitedOperations: sumOrNull(agg.map((a) => a.rateLimitedOperations)),
    recoveryMeanSeconds: meanOrNull(agg.map((a) => a.recoveryMeanSeconds)),
    recoveryP95Seconds: median(agg.map((a) => a.recoveryP95Seconds)),
    monthlyCostProjected,
    cascades: findCascades(hourly, config.thresholds.errorRate, config.goals.cascadeMinHours, config.resolutionSeconds),
    triggers: evaluateTriggers(hourly, hoursExpected, complete, config),
  };
}
