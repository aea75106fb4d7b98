/**
 * 3-month forecast of cost and concurrency (seed 000 week 4: "Forecast resource requirements for
 * 3 months ahead"). Pure.
 */
import type { ValidationConfig } from '../config/validation.js';

/** Ordinary least-squares line y = intercept + slope·x. */
export interface LinearFit {
  slope: number;
  intercept: number;
  /** coefficient of determination; null when y is constant (nothing to explain) */
  r2: number | null;
  n: number;
}

/** Least-squares fit of y on x; null with fewer than two points or when every x is the same. */
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
  complete?: boolean;
}

export interface ForecastPoint {
  monthsAhead: number;
  /** the day number the point is projected for */
  day: number;
  /** daily-cost trend at that day × days per month (a monthly run rate), USD; never below 0 */
  monthlyCost: number | null;
  /** daily peak-concurrency trend at that day; never below 0 */
  peakConcurrency: number | null;
  monthlyCostExceeds: boolean | null;
  concurrencyExceeds: boolean | null;
}

export interface Forecast {
  method: 'ols-linear';
  /** last observed day the projection starts from; null without data */
  lastDay: number | null;
  cost: LinearFit | null;
  concurrency: LinearFit | null;
  /** trend values at the last observed day */
  currentMonthlyCost: number | null;
  currentPeakConcurrency: number | null;
  points: ForecastPoint[];
  /** any projected point above the monthly-cost or concurrency trigger; null without any fit */
  crossesTrigger: boolean | null;
  /** human-readable crossings, e.g. "monthly cost passes $500 at +2 months ($612.40)" */
  crossings: string[];
}

/**
 * Projects monthly cost and peak concurrency 1..`config.forecast.months` (3) months ahead.
 *
 * Fit: ordinary least squares of a straight line through the daily values against the day
 * number, one line for daily cost (USD/day) and one for daily peak concurrency, using only
 * complete days. Each point is the trend at `lastDay + m × daysPerMonth`; monthly cost is that
 * day's trend cost × `daysPerMonth` (a run rate), clamped at 0. A point crosses a trigger when it
 * is strictly above `thresholds.monthlyCost` or `thresholds.concurrency`.
 */
export function forecast3Months(days: readonly ForecastDay[], config: ValidationConfig): Forecast {
  const usable = days.filter((d) => d.complete !== false);
  const costPts = usable.filter((d) => d.costDollars !== null).map((d) => [d.day, d.costDollars as number] as const);
  const concPts = usable.filter((d) => d.peakConcurrency !== null).map((d) => [d.day, d.peakConcurrency as number] as const);
  const cost = linearFit(costPts);
  const concurrency = linearFit(concPts);
  const observed = [...costPts, ...concPts].map(([x]) => x);
  const lastDay = observed.length === 0 ? null : Math.max(...observed);
  const perMonth = config.forecast.daysPerMonth;
  const at = (fit: LinearFit | null, x: number): number | null => (fit === null ? null : Math.max(0, fit.intercept + fit.slope * x));

  const points: ForecastPoint[] = [];
  const crossings: string[] = [];
  if (lastDay !== null) {
    for (let m = 1; m <= config.forecast.months; m++) {
      const day = lastDay + m * perMonth;
      const daily = at(cost, day);
      const monthlyCost = daily === null ? null : daily * perMonth;
      const peakConcurrency = at(concurrency, day);
      const monthlyCostExceeds = monthlyCost === null ? null : monthlyCost > config.thresholds.monthlyCost;
      const concurrencyExceeds = peakConcurrency === null ? null : peakConcurrency > config.thresholds.concurrency;
      if (monthlyCostExceeds) crossings.push(`monthly cost passes $${config.thresholds.monthlyCost} at +${m} month${m > 1 ? 's' : ''} ($${(monthlyCost as number).toFixed(2)})`);
      if (concurrencyExceeds) crossings.push(`peak concurrency passes ${config.thresholds.concurrency} at +${m} month${m > 1 ? 's' : ''} (${(peakConcurrency as number).toFixed(1)})`);
      points.push({ monthsAhead: m, day, monthlyCost, peakConcurrency, monthlyCostExceeds, concurrencyExceeds });
    }
  }
  const currentDaily = lastDay === null ? null : at(cost, lastDay);
  return {
    method: 'ols-linear',
    lastDay,
    cost,
    concurrency,
    currentMonthlyCost: currentDaily === null ? null : currentDaily * perMonth,
    currentPeakConcurrency: lastDay === null ? null : at(concurrency, lastDay),
    points,
    crossesTrigger: cost === null && concurrency === null ? null : crossings.length > 0,
    crossings,
  };
}
