/**
 * Migration triggers (seed 000 "Migration Trigger Review") evaluated on hourly points.
 * Pure: no I/O, no clock.
 */
import type { ValidationConfig } from '../config/validation.js';
import type { HourlyPoint, TriggerName, TriggerWeekResult } from './types.js';
import { TRIGGER_NAMES } from './types.js';

export interface TriggerDef {
  name: TriggerName;
  label: string;
  /** unit for display: "ops", "$", "s", "%", "ops/min" */
  unit: string;
  /** the hourly field the trigger reads */
  field: keyof Omit<HourlyPoint, 't'>;
  threshold: (c: ValidationConfig) => number;
}

/** The six triggers, in the seed's table order. */
export const TRIGGERS: Record<TriggerName, TriggerDef> = {
  concurrency: {
    name: 'concurrency',
    label: 'Concurrency (simultaneous operations)',
    unit: 'ops',
    field: 'peakConcurrency',
    threshold: (c) => c.thresholds.concurrency,
  },
  costPerOp: {
    name: 'costPerOp',
    label: 'Cost per operation',
    unit: '$',
    field: 'costPerOp',
    threshold: (c) => c.thresholds.costPerOp,
  },
  p95Latency: {
    name: 'p95Latency',
    label: 'P95 latency',
    unit: 's',
    field: 'p95Seconds',
    threshold: (c) => c.thresholds.p95Seconds,
  },
  errorRate: {
    name: 'errorRate',
    label: 'Error rate',
    unit: '%',
    field: 'errorRate',
    threshold: (c) => c.thresholds.errorRate,
  },
  monthlyCost: {
    name: 'monthlyCost',
    label: 'Monthly cost',
    unit: '$',
    field: 'monthlyCost',
    threshold: (c) => c.thresholds.monthlyCost,
  },
  throughput: {
    name: 'throughput',
    label: 'Throughput',
    unit: 'ops/min',
    field: 'opsPerMin',
    threshold: (c) => c.thresholds.throughputOpsPerMin,
  },
};

/** Nearest-rank percentile of finite values (q in 0..1); null for an empty list. */
export function percentile(values: number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1];
}

/**
 * Evaluates one trigger over a week's hourly points.
 *
 * Rule: the trigger is **exceeded** when at least `config.breach.minBreachHours` (default 3)
 * hourly points are strictly above its threshold — a value exactly at the threshold is not a
 * breach (the seed says "> 10", "> $0.05"…). Breaches need not be consecutive: three busy hours
 * on three days of the week are a recurring pattern, which is what the trigger review looks for.
 * Otherwise the status is **ok** when `dataComplete` is true and **no_data** when it is not —
 * missing data is inconclusive, never a pass. Observed breaches count even with gaps.
 *
 * @param hourly the week's hourly points (null values = no data for that hour)
 * @param hoursExpected hours the week should have (days × 24 at hourly resolution)
 * @param dataComplete whether every day of the week has data (see `summarizeWeek`)
 */
export function evaluateTrigger(
  name: TriggerName,
  hourly: readonly HourlyPoint[],
  hoursExpected: number,
  dataComplete: boolean,
  config: ValidationConfig,
): TriggerWeekResult {
  const def = TRIGGERS[name];
  const threshold = def.threshold(config);
  const values: number[] = [];
  for (const p of hourly) {
    const v = p[def.field];
    if (v !== null && Number.isFinite(v)) values.push(v);
  }
  const breachHours = values.filter((v) => v > threshold).length;
  const exceeded = breachHours >= config.breach.minBreachHours;
  return {
    trigger: name,
    threshold,
    status: exceeded ? 'exceeded' : dataComplete ? 'ok' : 'no_data',
    breachHours,
    hoursWithData: values.length,
    hoursExpected,
    max: values.length === 0 ? null : Math.max(...values),
    p95OfHours: percentile(values, 0.95),
  };
}

/** Evaluates all six triggers over a week's hourly points (see `evaluateTrigger`). */
export function evaluateTriggers(
  hourly: readonly HourlyPoint[],
  hoursExpected: number,
  dataComplete: boolean,
  config: ValidationConfig,
): TriggerWeekResult[] {
  return TRIGGER_NAMES.map((n) => evaluateTrigger(n, hourly, hoursExpected, dataComplete, config));
}
