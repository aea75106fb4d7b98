/**
 * Circuit breaker for the production baseline (seed 003 risk mitigation: "stop immediately if
 * error rate > 2% or effective fallback > 8%").
 *
 * It judges the LAST sample window only, never the run so far: a bad early window followed by
 * good ones must not keep stopping the load, and a cumulative average would hide a fresh
 * failure behind hours of good traffic. NA is neutral: an NA check neither trips nor passes.
 *
 * Pure: no I/O, no clock.
 */
import type { BaselineSample, SampleValue } from './csv.js';

export interface BreakerThresholds {
  /** trips when error_rate > this (fraction) */
  errorRateMax: number;
  /** trips when effective_fallback_ratio > this (fraction) */
  effectiveFallbackMax: number;
}

export const DEFAULT_BREAKER_THRESHOLDS: BreakerThresholds = { errorRateMax: 0.02, effectiveFallbackMax: 0.08 };

export type BreakerRule = 'error_rate' | 'effective_fallback_ratio';

export interface BreakerCheck {
  rule: BreakerRule;
  value: SampleValue;
  threshold: number;
  /** trip: value > threshold; ok: value ≤ threshold; na: no value */
  status: 'ok' | 'trip' | 'na';
}

export interface BreakerDecision {
  /** tripped when any check trips; ok only when every check has a value within bounds; na otherwise */
  state: 'ok' | 'tripped' | 'na';
  tripped: boolean;
  /** the first rule that tripped, with its value and threshold */
  rule?: BreakerRule;
  value?: number;
  threshold?: number;
  /** the window judged */
  sampleNum?: number;
  reason: string;
  checks: BreakerCheck[];
}

const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;

function check(rule: BreakerRule, value: SampleValue | undefined, threshold: number): BreakerCheck {
  const v = value === undefined || value === null || !Number.isFinite(value) ? null : value;
  return { rule, value: v, threshold, status: v === null ? 'na' : v > threshold ? 'trip' : 'ok' };
}

/** Judges one window's values (error_rate, effective_fallback_ratio). */
export function evaluateBreaker(
  window: BaselineSample | Partial<Record<string, SampleValue>>,
  thresholds: BreakerThresholds = DEFAULT_BREAKER_THRESHOLDS,
): BreakerDecision {
  const isSample = 'values' in window && typeof window.values === 'object' && window.values !== null;
  const values = (isSample ? (window as BaselineSample).values : window) as Partial<Record<string, SampleValue>>;
  const sampleNum = isSample ? (window as BaselineSample).sampleNum : undefined;
  const checks = [
    check('error_rate', values.error_rate, thresholds.errorRateMax),
    check('effective_fallback_ratio', values.effective_fallback_ratio, thresholds.effectiveFallbackMax),
  ];
  const where = sampleNum === undefined ? '' : ` in sample ${sampleNum}`;
  const trip = checks.find((c) => c.status === 'trip');
  if (trip && trip.value !== null) {
    return {
      state: 'tripped',
      tripped: true,
      rule: trip.rule,
      value: trip.value,
      threshold: trip.threshold,
      sampleNum,
      reason: `${trip.rule} ${pct(trip.value)} > ${pct(trip.threshold)}${where}`,
      checks,
    };
  }
  if (checks.every((c) => c.status === 'ok')) {
    return { state: 'ok', tripped: false, sampleNum, reason: `within limits${where}`, checks };
  }
  const missing = checks
    .filter((c) => c.status === 'na')
    .map((c) => c.rule)
    .join(', ');
  return { state: 'na', tripped: false, sampleNum, reason: `no data for ${missing}${where}`, checks };
}

/** Judges the last window of a run; an empty run is `na`. */
export function evaluateBreakerOnLastWindow(
  samples: readonly BaselineSample[],
  thresholds: BreakerThresholds = DEFAULT_BREAKER_THRESHOLDS,
): BreakerDecision {
  const last = samples[samples.length - 1];
  if (!last) {
    return {
      state: 'na',
      tripped: false,
      reason: 'no sample yet',
      checks: [
        check('error_rate', null, thresholds.errorRateMax),
        check('effective_fallback_ratio', null, thresholds.effectiveFallbackMax),
      ],
    };
  }
  return evaluateBreaker(last, thresholds);
}

/** How the breaker watches load while a window runs (seed 003: "stop immediately"). */
export interface SlidingBreakerOptions extends BreakerThresholds {
  /** the span judged, ending now (default 60 s) */
  windowSeconds: number;
  /** below this many completed requests in the span the error rate is not judged yet */
  minRequests: number;
}

export const DEFAULT_SLIDING_BREAKER: Omit<SlidingBreakerOptions, keyof BreakerThresholds> = {
  windowSeconds: 60,
  minRequests: 20,
};

/** How often the live breaker reads the service's own error rate and fallback ratio from Prometheus. */
export const DEFAULT_BREAKER_CHECK_EVERY_SECONDS = 5;

/** A live trip: when the first failure of the breaching span happened and when it was seen. */
export interface LiveTrip {
  rule: BreakerRule;
  value: number;
  threshold: number;
  /** epoch ms of the first failing request in the span that breached */
  firstFailureAt: number | null;
  /** epoch ms the breach was detected */
  detectedAt: number;
  reason: string;
}

interface Tick {
  at: number;
  completed: number;
  errors: number;
  firstErrorAt: number | null;
}

/**
 * The breaker judged on a sliding window while load runs, not only at the end of a sample
 * window: progress ticks (completed and failed requests since the last tick) go in, and the
 * client error rate over the last `windowSeconds` is judged at every tick; the effective
 * fallback ratio (a server-side figure) is judged whenever a fresh value is observed. Pure: the
 * caller supplies the times.
 */
export class SlidingBreaker {
  private readonly ticks: Tick[] = [];
  private trip: LiveTrip | null = null;
  constructor(private readonly o: SlidingBreakerOptions) {}

  get tripped(): LiveTrip | null {
    return this.trip;
  }

  /** Adds one progress tick; returns the trip when this tick breaches. */
  observeRequests(
    at: number,
    completed: number,
    errors: number,
    firstErrorAt: number | null = errors > 0 ? at : null,
  ): LiveTrip | null {
    if (this.trip) return this.trip;
    this.ticks.push({ at, completed, errors, firstErrorAt });
    const from = at - this.o.windowSeconds * 1000;
    while (this.ticks.length > 0 && this.ticks[0].at <= from) this.ticks.shift();
    let total = 0;
    let failed = 0;
    let first: number | null = null;
    for (const t of this.ticks) {
      total += t.completed;
      failed += t.errors;
      if (t.firstErrorAt !== null && (first === null || t.firstErrorAt < first)) first = t.firstErrorAt;
    }
    if (total < this.o.minRequests) return null;
    const rate = failed / total;
    if (rate > this.o.errorRateMax) {
      this.trip = {
        rule: 'error_rate',
        value: rate,
        threshold: this.o.errorRateMax,
        firstFailureAt: first,
        detectedAt: at,
        reason: `error_rate ${pct(rate)} > ${pct(this.o.errorRateMax)} over the last ${this.o.windowSeconds} s (${failed}/${total} requests)`,
      };
    }
    return this.trip;
  }

  /** A server-side reading over the same span (e.g. from Prometheus); null is no data (neutral). */
  observeServer(
    at: number,
    values: { error_rate?: number | null; effective_fallback_ratio?: number | null },
  ): LiveTrip | null {
    if (this.trip) return this.trip;
    const checks: [BreakerRule, number | null | undefined, number][] = [
      ['error_rate', values.error_rate, this.o.errorRateMax],
      ['effective_fallback_ratio', values.effective_fallback_ratio, this.o.effectiveFallbackMax],
    ];
    for (const [rule, v, threshold] of checks) {
      if (v === null || v === undefined || !Number.isFinite(v) || v <= threshold) continue;
      let first: number | null = null;
      for (const t of this.ticks)
        if (t.firstErrorAt !== null && (first === null || t.firstErrorAt < first)) first = t.firstErrorAt;
      this.trip = {
        rule,
        value: v,
        threshold,
        firstFailureAt: first,
        detectedAt: at,
        reason: `${rule} ${pct(v)} > ${pct(threshold)} over the last ${this.o.windowSeconds} s (server side)`,
      };
      return this.trip;
    }
    return null;
  }
}
