/**
 * 3-month forecast of cost, operations and peak concurrency (seed 000 week 4: "Forecast resource
 * requirements for 3 months ahead"). Pure and deterministic: the validation workflow computes it.
 *
 * Each daily series is fitted by `fitDailySeries` (trend.ts): lasting level or trend changes are
 * found first and the trend is fitted only after the last one, so a one-time step (a price
 * change, a new team) is a new level, not a slope. Every projected value carries 80 % and 95 %
 * prediction intervals, and a trigger crossing is stated with its likelihood.
 */
import type { ValidationConfig } from '../config/validation.js';
import { fitDailySeries, predictBusiestDay, predictRate, trendAt, type Prediction, type SeriesFit } from './trend.js';

export {
  fitDailySeries,
  predictDay,
  predictTotal,
  predictRate,
  predictBusiestDay,
  trendAt,
  MIN_HISTORY_DAYS,
  type Prediction,
  type SeriesFit,
  type SeriesChange,
  type WeeklyPattern,
} from './trend.js';

/** Ordinary least-squares line y = intercept + slope·x. */
export interface LinearFit {
  slope: number;
  intercept: number;
  /** coefficient of determination; null when y is constant (nothing to explain) */
  r2: number | null;
  n: number;
}

/** Least-squares fit of y on x; null with fewer than two points or when every x is the same. (The old forecast's method; the accuracy benchmark compares against it.) */
export function linearFit(points: readonly (readonly [number, number])[]): LinearFit | null {
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  const n = pts.length;
  if (n < 2) return null;
  const mx = pts.reduce((s, [x]) => s + x, 0) / n;
  const my = pts.reduce((s, [, y]) => s + y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const [x, y] of pts) {
    sxx += (x - mx) ** 2;
    sxy += (x - mx) * (y - my);
    syy += (y - my) ** 2;
  }
  if (sxx === 0) return null;
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  let ssRes = 0;
  for (const [x, y] of pts) ssRes += (y - (intercept + slope * x)) ** 2;
  return { slope, intercept, r2: syy === 0 ? null : 1 - ssRes / syy, n };
}

/** Day-level input: DaySummary fits. Days flagged `complete: false` are left out of the fit. */
export interface ForecastDay {
  day: number;
  costDollars: number | null;
  peakConcurrency: number | null;
  operations?: number | null;
  complete?: boolean;
}

/** The 80 % and 95 % prediction intervals of a projected value. */
export interface Band {
  lo80: number;
  hi80: number;
  lo95: number;
  hi95: number;
}

/**
 * How likely a projected value is above a trigger: `very likely` — the whole 80 % band is above
 * (≥ 90 %); `likely` — the central forecast is above (> 50 %); `possible` — only the upper part
 * of the 80 % band is (10–50 %); `unlikely` — only the 95 % band reaches it (2.5–10 %);
 * `very unlikely` — not even that.
 */
export type CrossingLikelihood = 'very likely' | 'likely' | 'possible' | 'unlikely' | 'very unlikely';

export interface ForecastPoint {
  monthsAhead: number;
  /** the day number the point is projected for */
  day: number;
  /** spend over a month at that day's rate (trend × days per month), USD; null without a usable fit */
  monthlyCost: number | null;
  monthlyCostBand: Band | null;
  /** operations over a month at that day's rate */
  monthlyOperations: number | null;
  monthlyOperationsBand: Band | null;
  /** daily peak concurrency on that day (on the busiest weekday when there is a weekly pattern) */
  peakConcurrency: number | null;
  peakConcurrencyBand: Band | null;
  /** the central forecast is strictly above the trigger */
  monthlyCostExceeds: boolean | null;
  concurrencyExceeds: boolean | null;
  monthlyCostLikelihood: CrossingLikelihood | null;
  concurrencyLikelihood: CrossingLikelihood | null;
}

export type ForecastSeriesName = 'cost' | 'operations' | 'concurrency';

export interface Forecast {
  method: 'changepoint-theil-sen';
  /** last observed day the projection starts from; null without data */
  lastDay: number | null;
  /** fits of the daily series (null with fewer than 2 days); a fit without `enoughHistory` is not projected */
  cost: SeriesFit | null;
  operations: SeriesFit | null;
  concurrency: SeriesFit | null;
  /** trend values at the last observed day (null when the series is not projected) */
  currentMonthlyCost: number | null;
  currentPeakConcurrency: number | null;
  points: ForecastPoint[];
  /** a central forecast above the monthly-cost or concurrency trigger; null when neither is projected */
  crossesTrigger: boolean | null;
  /**
   * crossings that are at least possible, with their likelihood, e.g. "monthly cost passes $500 at
   * +1 month in the 80 % band …"; per series, the earliest horizon of each likelihood only
   */
  crossings: string[];
  /** series that are not projected and why ("not enough history …") */
  notes: string[];
}

/** A fit the forecast may project: enough days after the last change. */
export function usableFit(fit: SeriesFit | null): boolean {
  return fit !== null && fit.enoughHistory && fit.df >= 1;
}

const projectable = (fit: SeriesFit | null): SeriesFit | null => (usableFit(fit) ? fit : null);

const band = (p: Prediction): Band => ({ lo80: p.lo80, hi80: p.hi80, lo95: p.lo95, hi95: p.hi95 });

/** Likelihood that the value is strictly above `threshold`, from its bands. */
export function crossingLikelihood(p: Prediction, threshold: number): CrossingLikelihood {
  if (p.lo80 > threshold) return 'very likely';
  if (p.mean > threshold) return 'likely';
  if (p.hi80 > threshold) return 'possible';
  if (p.hi95 > threshold) return 'unlikely';
  return 'very unlikely';
}

const months = (m: number): string => `+${m} month${m > 1 ? 's' : ''}`;
const dollars = (v: number): string => `$${v < 100 ? v.toFixed(2) : Math.round(v).toLocaleString('en-US')}`;
const count = (v: number): string => (v < 100 ? v.toFixed(1) : Math.round(v).toLocaleString('en-US'));

function crossingText(
  what: string,
  threshold: string,
  m: number,
  p: Prediction,
  likelihood: CrossingLikelihood,
  fmt: (v: number) => string,
): string | null {
  const range = `80 % band ${fmt(p.lo80)}–${fmt(p.hi80)}`;
  switch (likelihood) {
    case 'very likely':
      return `${what} passes ${threshold} at ${months(m)} — very likely: the whole ${range} is above (central forecast ${fmt(p.mean)})`;
    case 'likely':
      return `${what} passes ${threshold} at ${months(m)} — likely: the central forecast is ${fmt(p.mean)} (${range})`;
    case 'possible':
      return `${what} passes ${threshold} at ${months(m)} in the 80 % band — possible, not expected: central forecast ${fmt(p.mean)} (${range})`;
    default:
      return null;
  }
}

function notEnoughNote(label: string, fit: SeriesFit | null): string | null {
  if (fit === null) return `${label}: no forecast — fewer than 2 days of data`;
  if (usableFit(fit)) return null;
  const last = fit.changes[fit.changes.length - 1];
  return last
    ? `${label}: not enough history — the series changed for good on day ${last.day} and has ${fit.days} day${fit.days === 1 ? '' : 's'} since (${fit.minDays} needed); no projection`
    : `${label}: not enough history — ${fit.days} day${fit.days === 1 ? '' : 's'} of data (${fit.minDays} needed); no projection`;
}

/**
 * Projects monthly cost, monthly operations and peak concurrency 1..`config.forecast.months`
 * (3) months ahead of the last observed day, each month `config.forecast.daysPerMonth` days.
 *
 * Inputs are the complete days only. A series is projected when it has at least
 * `MIN_HISTORY_DAYS` days after its last lasting change (else it gets a "not enough history"
 * note and null points). Monthly cost is the trend's daily cost at the horizon day × days per
 * month; peak concurrency the trend's daily peak at the horizon day (busiest weekday when the
 * series has a weekly pattern). A central forecast strictly above `thresholds.monthlyCost` or
 * `thresholds.concurrency` "exceeds"; `crossings` lists every crossing at least `possible`.
 */
export function forecast3Months(days: readonly ForecastDay[], config: ValidationConfig): Forecast {
  const usable = days.filter((d) => d.complete !== false);
  const pick = (get: (d: ForecastDay) => number | null | undefined): [number, number][] =>
    usable.flatMap((d) => {
      const v = get(d);
      return v === null || v === undefined || !Number.isFinite(v) ? [] : [[d.day, v] as [number, number]];
    });
  const costPts = pick((d) => d.costDollars);
  const opsPts = pick((d) => d.operations);
  const concPts = pick((d) => d.peakConcurrency);
  const cost = fitDailySeries(costPts);
  const operations = fitDailySeries(opsPts);
  const concurrency = fitDailySeries(concPts);
  const observed = [...costPts, ...opsPts, ...concPts].map(([x]) => x);
  const lastDay = observed.length === 0 ? null : Math.max(...observed);
  const perMonth = config.forecast.daysPerMonth;
  const t = config.thresholds;

  const costFit = projectable(cost);
  const opsFit = projectable(operations);
  const concFit = projectable(concurrency);
  const points: ForecastPoint[] = [];
  const crossings: string[] = [];
  // per series, the earliest horizon of each likelihood (possible → likely → very likely), so a
  // steady crossing is said once, not once per month
  const said = { cost: new Set<CrossingLikelihood>(), concurrency: new Set<CrossingLikelihood>() };
  if (lastDay !== null) {
    for (let m = 1; m <= config.forecast.months; m++) {
      const day = lastDay + m * perMonth;
      const c = costFit ? predictRate(costFit, day, perMonth) : null;
      const o = opsFit ? predictRate(opsFit, day, perMonth) : null;
      const k = concFit ? predictBusiestDay(concFit, day) : null;
      const cl = c === null ? null : crossingLikelihood(c, t.monthlyCost);
      const kl = k === null ? null : crossingLikelihood(k, t.concurrency);
      if (c !== null && cl !== null && !said.cost.has(cl)) {
        const s = crossingText('monthly cost', `$${t.monthlyCost}`, m, c, cl, dollars);
        if (s) crossings.push(s);
        said.cost.add(cl);
      }
      if (k !== null && kl !== null && !said.concurrency.has(kl)) {
        const s = crossingText('peak concurrency', String(t.concurrency), m, k, kl, count);
        if (s) crossings.push(s);
        said.concurrency.add(kl);
      }
      points.push({
        monthsAhead: m,
        day,
        monthlyCost: c?.mean ?? null,
        monthlyCostBand: c ? band(c) : null,
        monthlyOperations: o?.mean ?? null,
        monthlyOperationsBand: o ? band(o) : null,
        peakConcurrency: k?.mean ?? null,
        peakConcurrencyBand: k ? band(k) : null,
        monthlyCostExceeds: c === null ? null : c.mean > t.monthlyCost,
        concurrencyExceeds: k === null ? null : k.mean > t.concurrency,
        monthlyCostLikelihood: cl,
        concurrencyLikelihood: kl,
      });
    }
  }
  const notes = [
    notEnoughNote('monthly cost', cost),
    notEnoughNote('operations', operations),
    notEnoughNote('peak concurrency', concurrency),
  ].filter((s): s is string => s !== null);
  const projected = costFit !== null || concFit !== null;
  return {
    method: 'changepoint-theil-sen',
    lastDay,
    cost,
    operations,
    concurrency,
    currentMonthlyCost: lastDay !== null && costFit ? Math.max(0, trendAt(costFit, lastDay)) * perMonth : null,
    currentPeakConcurrency: lastDay !== null && concFit ? Math.max(0, trendAt(concFit, lastDay)) : null,
    points,
    crossesTrigger: projected
      ? points.some((p) => p.monthlyCostExceeds === true || p.concurrencyExceeds === true)
      : null,
    crossings,
    notes,
  };
}
