/**
 * The model behind the 3-month forecast: one daily series (cost, operations or peak
 * concurrency) split at lasting level or trend changes, a robust trend fitted after the last
 * change, and prediction intervals around its projection. Pure and deterministic (no clock, no
 * randomness, plain-JSON results): the validation workflow computes it in workflow code.
 * (Hand-written: no maintained JS library does robust change points; the statistics are
 * textbook and each is tested in test/unit/forecast.test.ts.)
 *
 * What `fitDailySeries` does, in order (the last `MAX_FIT_DAYS` days only):
 *  1. weekly pattern: each day relative to the median of the rest of its week, per weekday
 *     (median); kept when an F test of weekday effects on top of a trend and the clearest level
 *     shift gives p < 0.005 (one-off days left out; at least ~16 days), then divided out;
 *  2. scale: on logarithms when every value is positive (noise on cost and volume grows with the
 *     level; a step or a spike is then a ratio); σ from the spread of day-to-day differences (a
 *     step moves one of them, a trend moves them all alike: neither inflates it);
 *  3. change points: optimal partitioning into flat or sloped pieces of at least
 *     `MIN_SEGMENT_DAYS` days. A piece is its median or its robust (Theil) line; each day costs
 *     its squared distance to the piece, capped at `CAP_SIGMAS`² so that a one-off day cannot
 *     pay for a change; each extra piece costs `PENALTY_PER_CHANGE` and each slope
 *     `PENALTY_PER_SLOPE`; penalties and cap in units of the long-run variance
 *     σ²·(1 + ρ)/(1 − ρ), ρ the correlation of neighbouring days — so slowly wandering noise is
 *     not taken for a change, and the cap grows with the penalty (capped at (3σ)² while a change
 *     cost up to 14 × 5.7σ², a week of far-off days cost less than the step that explained it,
 *     and clear steps were missed). Run twice: the first pass (ρ = 0) gives the residuals σ and
 *     ρ are measured on;
 *  4. one-off days: further than 4σ from their piece; replaced by it for the fit, and their
 *     rate and size kept (they will happen again: the band allows for them);
 *  5. after the last change, on the original scale: Theil–Sen slope (median of the slopes of
 *     every pair of days). When there was a change and every value is positive, also the pace
 *     shared by every piece, each at its own level: y = r_k·(a + b·x) on piece k, fitted by
 *     alternating least squares, its standard error from the linearised fit with every piece's
 *     level as a parameter (only the spread within each piece tells the pace). A level shift (a
 *     price change, a new team) moves r, not the pace, so the days before it still count: the
 *     shared slope is used when the last piece's own slope is within `POOL_MAX_T` standard
 *     errors of it (else the trend itself changed and only the days after the change tell it).
 *     The slope is shrunk towards flat by max(0, 1 − 1/t²), t = slope / standard error (a slope
 *     lost in the noise is projected flat, a clear one nearly as fitted); level = the mean of
 *     the detrended days after the last change; σ of a day around that line (around the shared
 *     fit, all pieces, when the pace is shared);
 *  6. intervals: Student t with n − 2 degrees of freedom on the variance of level + slope ×
 *     distance (+ the slope shrinking took away) + the days' own noise and one-offs, scaled for
 *     correlated days — so the band widens with the horizon.
 */

/** A lasting change found in the series: the first day of the new regime and the fitted levels either side. */
export interface SeriesChange {
  day: number;
  /** fitted (weekday-adjusted) value on the last day before the change */
  before: number;
  /** fitted value on `day` */
  after: number;
}

/** Weekday factors, indexed by (day − 1) mod 7: multiplicative (mean 1) or additive (mean 0). */
export interface WeeklyPattern {
  kind: 'multiplicative' | 'additive';
  factors: number[];
}

/** A fitted daily series. Plain JSON: it travels in Temporal payloads and report data. */
export interface SeriesFit {
  /** days with a value (within the last `MAX_FIT_DAYS`) */
  n: number;
  firstDay: number;
  lastDay: number;
  /** lasting changes, oldest first; the trend is fitted from the last one on */
  changes: SeriesChange[];
  /** first day the trend is fitted on (the last change, or the first day) */
  fromDay: number;
  /** days with a value from `fromDay` on */
  days: number;
  /** `days` ≥ `minDays`: enough history after the last change to project */
  enoughHistory: boolean;
  minDays: number;
  /** weekday-adjusted level at `xMean` (per day) */
  level: number;
  /** mean day number of the fitted days */
  xMean: number;
  /** slope per day used for the projection: `fittedSlope` × max(0, 1 − 1/t²); 0 without enough history */
  slope: number;
  /** slope per day before shrinking: Theil–Sen after the last change, or the pace shared with the earlier pieces (`sharedPace`) */
  fittedSlope: number;
  /** the slope was fitted on every piece, each at its own level (a level shift that kept the pace), not only after the last change */
  sharedPace: boolean;
  /** |fittedSlope| ≥ the 97.5 % t quantile × its standard error: the days clearly rise or fall */
  slopeClear: boolean;
  /** standard error of `slope`, including the part of `fittedSlope` that shrinking took away */
  slopeSe: number;
  /** standard error of `level` */
  levelSe: number;
  /** standard deviation of one (weekday-adjusted) day around the line */
  sigma: number;
  /** lag-1 correlation of neighbouring days' deviations (0..0.7): variances of level, slope and sums grow with it */
  rho: number;
  /** share of days that were one-offs (they will happen again at this rate: the bands allow for it) */
  oneOffRate: number;
  /** the one-offs' sizes relative to their day's fitted value (+2 = three times the usual) */
  oneOffSizes: number[];
  /** degrees of freedom of `sigma` (days − 2) */
  df: number;
  weekly: WeeklyPattern | null;
  /** days treated as one-off (replaced by their segment's line for the fit) */
  outliers: number[];
}

/** A projected value with its 80 % and 95 % prediction intervals (bounds clamped at 0). */
export interface Prediction {
  mean: number;
  lo80: number;
  hi80: number;
  lo95: number;
  hi95: number;
}

/** Segments are at least this many days long (a shorter run is noise or a one-off). */
export const MIN_SEGMENT_DAYS = 4;
/** Days needed after the last change before anything is projected ("not enough history" below). */
export const MIN_HISTORY_DAYS = 7;
/** Only the most recent days are fitted: older history says little about the next months, and it bounds the work (O(n⁴) at worst). */
export const MAX_FIT_DAYS = 56;
/**
 * Cost of one more segment, in units of the long-run variance σ²·(1 + ρ)/(1 − ρ). Measured by
 * simulation (with `PENALTY_PER_SLOPE` = 8, 400 series each, 5 % normal noise): on 2–6 weeks
 * of flat noise about 1 % of series get a false change (3 weeks growing 0.5–1 % a day: 5 %); a
 * step of 4σ lasting the last week of three is found 9 times in 10, one of 3σ 7 times in 10.
 */
export const PENALTY_PER_CHANGE = 14;
/**
 * Cost of a slope in a segment (else it is flat), in the same units. The search only needs a
 * slope so that a steady trend is not read as a staircase of steps (each step costs 14); the
 * trend itself is fitted afterwards (step 5). At BIC's ln n ≈ 3 a sloped piece across a level
 * shift was often cheaper than the shift: the step was missed and projected as growth (of 400
 * 3-week series with a 4σ step in the last week, 28 % missed at 3, 10 % at 8; the accuracy
 * benchmark's error fell by about half a point on seeds it was not chosen on).
 */
export const PENALTY_PER_SLOPE = 8;
/** A day's cost in the segmentation is capped at CAP_SIGMAS² long-run variances (CAP_SIGMAS·σ squared, times (1 + ρ)/(1 − ρ)). */
const CAP_SIGMAS = 3;
/**
 * A weekly pattern is kept only when "no pattern" would give its F statistic less often than
 * this (`weeklyTestP`). Measured (400 series a cell; 2–20 % noise, neighbour correlation 0 or
 * 0.5, 2 % spikes, 3 % missing days): 0–4 % false patterns (mean 1.4 %) on 3–4 weeks of flat,
 * growing, stepped or stepped-and-growing series without one (the previous test: 0–3 %, mean
 * 1.3 %), none on 2 weeks; a weekend dip to 0.2–0.8 is found on 3 weeks in 94 % of series at
 * 2–5 % noise (92 %), 88 % at 10 % (81 %), 63 % at 20 % (45 %).
 */
const WEEKLY_MAX_P = 0.005;
/** A day is left out of the weekly test when its residual exceeds this many σ (σ from week-apart differences). */
const WEEKLY_ONE_OFF_SIGMAS = 3.5;
/** The clearest level shift enters the weekly test when its t (with the weekday effects fitted) exceeds this. */
const WEEKLY_STEP_T = 4;
/**
 * The weekly test needs this many residual degrees of freedom (≈ 16 days; a step enters only with
 * as many): on two weeks, each weekday seen twice, steps gave 5–10 % false patterns. (The previous
 * test found a pattern on two weeks in 5–48 % of seasonal series; this one needs a third week.)
 */
const WEEKLY_MIN_DF = 8;
/** A day further than this many σ from its segment's line is a one-off. */
const OUTLIER_SIGMAS = 4;
/** Theil–Sen's variance relative to least squares under normal noise (efficiency ≈ 0.91). */
const THEIL_SEN_VARIANCE_FACTOR = 1.1;
/** A slope is "clear" (worded so in the report) at |slope| ≥ this t quantile × its standard error. */
const SLOPE_CLEAR_P = 0.975;
/** Correlation of neighbouring days is capped here (beyond it a few weeks cannot tell a wander from a trend). */
const MAX_RHO = 0.7;

// ---- small statistics ------------------------------------------------------------------------

function med(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Robust standard deviation: 1.4826 × median absolute deviation, or 1.2533 × mean absolute deviation when the MAD is 0. */
function robustScale(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const m = med(values);
  const dev = values.map((v) => Math.abs(v - m));
  const mad = med(dev);
  if (mad > 0) return 1.4826 * mad;
  return (1.2533 * dev.reduce((s, d) => s + d, 0)) / dev.length;
}

/** Standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  const a = [
    -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
    2.506628277459239,
  ];
  const b = [
    -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
  ];
  const c = [
    -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    );
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  );
}

/**
 * Student t quantile with `df` degrees of freedom: exact for 1 and 2, else the Cornish–Fisher
 * expansion around the normal quantile (within 0.3 % of tables for df ≥ 3 at p ≤ 0.975).
 */
export function tQuantile(p: number, df: number): number {
  if (!(df >= 1)) throw new RangeError(`df must be ≥ 1, got ${df}`);
  if (df === 1) return Math.tan(Math.PI * (p - 0.5));
  if (df === 2) return (2 * p - 1) / Math.sqrt(2 * p * (1 - p));
  const z = normalQuantile(p);
  const z2 = z * z;
  const g1 = ((z2 + 1) * z) / 4;
  const g2 = (((5 * z2 + 16) * z2 + 3) * z) / 96;
  const g3 = ((((3 * z2 + 19) * z2 + 17) * z2 - 15) * z) / 384;
  const g4 = (((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z) / 92160;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15). */
function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised incomplete beta I_x(a, b) (continued fraction, modified Lentz). */
function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  if (x > (a + 1) / (a + b + 2)) return 1 - incompleteBeta(1 - x, b, a);
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log(1 - x)) / a;
  const tiny = 1e-300;
  let f = 1;
  let c = 1;
  let d = 0;
  for (let i = 0; i <= 300; i++) {
    const m = Math.floor(i / 2);
    const num =
      i === 0
        ? 1
        : i % 2 === 0
          ? (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m))
          : -((a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 + num * d;
    if (Math.abs(d) < tiny) d = tiny;
    d = 1 / d;
    c = 1 + num / c;
    if (Math.abs(c) < tiny) c = tiny;
    const cd = c * d;
    f *= cd;
    if (Math.abs(1 - cd) < 1e-12) break;
  }
  return front * (f - 1);
}

/** P(F > f) for an F distribution with (d1, d2) degrees of freedom. */
export function fSurvival(f: number, d1: number, d2: number): number {
  if (!(f > 0)) return 1;
  if (f === Infinity) return 0;
  return incompleteBeta(d2 / (d2 + d1 * f), d2 / 2, d1 / 2);
}

const round = (v: number): number => (v === 0 ? 0 : Number(v.toPrecision(12)));

const weekday = (day: number): number => (((day - 1) % 7) + 7) % 7;

// ---- steps -----------------------------------------------------------------------------------

/**
 * Median of the 7-day week around point i (the window slides inward at the ends, so it always
 * spans a whole week and holds each weekday once): the local level, free of the weekly pattern.
 * Null when fewer than 5 of its days have data.
 */
function weekLevel(xs: readonly number[], ys: readonly number[], i: number): number | null {
  const first = xs[0];
  const last = xs[xs.length - 1];
  const start = Math.max(first, Math.min(xs[i] - 3, last - 6));
  const win: number[] = [];
  for (let j = 0; j < xs.length; j++) if (j !== i && xs[j] >= start && xs[j] <= start + 6) win.push(ys[j]);
  return win.length >= 4 ? med(win) : null;
}

/** Least squares of y on the columns of `x` (rows): coefficients, residual sum of squares and (XᵀX)⁻¹; null when singular. */
function leastSquares(
  x: readonly (readonly number[])[],
  y: readonly number[],
): { beta: number[]; rss: number; inv: number[][] } | null {
  const p = x[0].length;
  const xtx = Array.from({ length: p }, (_, a) =>
    Array.from({ length: p }, (_, b) => x.reduce((s, r) => s + r[a] * r[b], 0)),
  );
  const xty = Array.from({ length: p }, (_, a) => x.reduce((s, r, i) => s + r[a] * y[i], 0));
  const beta = solve(xtx, xty);
  if (beta === null) return null;
  const inv: number[][] = [];
  for (let a = 0; a < p; a++) {
    const col = solve(
      xtx,
      Array.from({ length: p }, (_, b) => (a === b ? 1 : 0)),
    );
    if (col === null) return null;
    inv.push(col);
  }
  const rss = y.reduce((s, v, i) => s + (v - x[i].reduce((acc, c, k) => acc + c * beta[k], 0)) ** 2, 0);
  return { beta, rss, inv };
}

/**
 * P value of "one effect per weekday" (on logarithms when multiplicative): the F test of
 * y = a + b·day [+ step] + weekday against y = a + b·day [+ step], by least squares. A trend is
 * in both models, so it neither makes a weekday effect nor hides one; so is the clearest level
 * shift (chosen on the model without weekdays, so a weekday effect cannot choose it, and kept when
 * its t exceeds `WEEKLY_STEP_T` in the model with them). The test this replaces, on each day
 * relative to the median of its week, missed a pattern under a trend, a step or a spike (a weekly
 * pattern with a 2 % noise went unseen). One-off days are left out first, the furthest from the
 * weekday fit one at a time while beyond `WEEKLY_ONE_OFF_SIGMAS` σ of its residual, σ from
 * week-apart differences. 1 when it cannot be tested (a weekday seen fewer than twice, fewer than
 * `WEEKLY_MIN_DF` residual degrees of freedom).
 */
function weeklyTestP(xs: readonly number[], ys: readonly number[], multiplicative: boolean): number {
  // (a day at 0 has no logarithm: then the values themselves)
  if (multiplicative && !ys.every((y) => y > 0)) return weeklyTestP(xs, ys, false);
  const z = multiplicative ? ys.map((y) => Math.log(y)) : [...ys];
  const xMid = (xs[0] + xs[xs.length - 1]) / 2;
  // step: the first day of a level shift (none: Infinity)
  const row = (x: number, withWeekdays: boolean, step: number): number[] => {
    const r = [1, x - xMid];
    if (step !== Infinity) r.push(x >= step ? 1 : 0);
    if (withWeekdays) for (let k = 1; k < 7; k++) r.push(weekday(x) === (weekday(xs[0]) + k) % 7 ? 1 : 0);
    return r;
  };
  // σ of a day from week-apart differences (they cancel the weekly pattern; a trend only shifts
  // them all alike, a step or a one-off moves a few): what a one-off day is measured against
  const lagged: number[] = [];
  for (let i = 0, j = 0; i < xs.length; i++) {
    while (j < xs.length && xs[j] < xs[i] + 7) j++;
    if (j < xs.length && xs[j] === xs[i] + 7) lagged.push(z[j] - z[i]);
  }
  const sigma = lagged.length >= 4 ? robustScale(lagged) / Math.SQRT2 : 0;
  let keep = xs.map((_, i) => i);
  const maxOneOffs = Math.floor(xs.length / 10);
  for (let removed = 0; ; removed++) {
    const counts = new Array<number>(7).fill(0);
    for (const i of keep) counts[weekday(xs[i])]++;
    const yk = keep.map((i) => z[i]);
    // an unmodelled level shift leaves a run of large residuals that hides any pattern
    let reduced = leastSquares(
      keep.map((i) => row(xs[i], false, Infinity)),
      yk,
    );
    let step = Infinity;
    let best: ReturnType<typeof leastSquares> = null;
    for (let j = 2; j < keep.length - 1; j++) {
      const c = xs[keep[j]];
      const fit = leastSquares(
        keep.map((i) => row(xs[i], false, c)),
        yk,
      );
      if (fit !== null && (best === null || fit.rss < best.rss)) {
        best = fit;
        step = c;
      }
    }
    let xf = keep.map((i) => row(xs[i], true, Infinity));
    let full = leastSquares(xf, yk);
    if (step !== Infinity && full !== null) {
      const xStep = keep.map((i) => row(xs[i], true, step));
      const withStep = leastSquares(xStep, yk);
      const dfStep = keep.length - 9;
      if (
        withStep !== null &&
        dfStep >= WEEKLY_MIN_DF &&
        (full.rss - withStep.rss) / (withStep.rss / dfStep) > WEEKLY_STEP_T ** 2
      ) {
        full = withStep;
        xf = xStep;
        reduced = best;
      } else step = Infinity;
    } else step = Infinity;
    const df = keep.length - (8 + (step === Infinity ? 0 : 1));
    if (counts.some((c) => c < 2) || df < WEEKLY_MIN_DF) return 1;
    if (full === null || reduced === null) return 1;
    if (removed < maxOneOffs && sigma > 0 && lagged.length >= 10) {
      // the day furthest from the weekday fit, in σ of its residual (σ²·(1 − leverage)), goes when beyond the cut
      let worst = -1;
      let worstT = WEEKLY_ONE_OFF_SIGMAS;
      xf.forEach((r, j) => {
        const h = r.reduce((acc, a, u) => acc + a * r.reduce((acc2, b, v) => acc2 + full.inv[u][v] * b, 0), 0);
        if (h > 0.99) return;
        const e = yk[j] - r.reduce((acc, c, k) => acc + c * full.beta[k], 0);
        const t = Math.abs(e) / (sigma * Math.sqrt(1 - h));
        if (t > worstT) {
          worstT = t;
          worst = j;
        }
      });
      if (worst >= 0) {
        keep = keep.filter((_, j) => j !== worst);
        continue;
      }
    }
    // (rounding errors of a noise-free series are no pattern)
    const tiny = 1e-12 * yk.reduce((acc, v) => acc + v * v, 0);
    if (!(reduced.rss - full.rss > tiny)) return 1;
    if (full.rss <= tiny) return 0;
    return fSurvival((reduced.rss - full.rss) / 6 / (full.rss / df), 6, df);
  }
}

/** Step 1: a weekly pattern, or null when there is too little data or it does not clearly beat none. */
export function weeklyPattern(xs: readonly number[], ys: readonly number[]): WeeklyPattern | null {
  if (xs.length < 14 || xs[xs.length - 1] - xs[0] < 13) return null;
  const levels = xs.map((_, i) => weekLevel(xs, ys, i));
  const multiplicative = ys.every((y) => y >= 0) && levels.every((l) => l === null || l > 0);
  const byDay: number[][] = Array.from({ length: 7 }, () => []);
  xs.forEach((x, i) => {
    const l = levels[i];
    if (l !== null) byDay[weekday(x)].push(multiplicative ? ys[i] / l : ys[i] - l);
  });
  if (byDay.some((v) => v.length < 2)) return null;
  const raw = byDay.map((v) => med(v));
  const mean = raw.reduce((s, v) => s + v, 0) / 7;
  if (multiplicative && !(mean > 0)) return null;
  const factors = multiplicative ? raw.map((v) => v / mean) : raw.map((v) => v - mean);
  if (!(weeklyTestP(xs, ys, multiplicative) < WEEKLY_MAX_P)) return null;
  return { kind: multiplicative ? 'multiplicative' : 'additive', factors: factors.map(round) };
}

/** Takes the weekly pattern out (points on a weekday whose factor is ~0 carry no level and are dropped). */
function deseasonalize(
  xs: readonly number[],
  ys: readonly number[],
  w: WeeklyPattern | null,
): { xs: number[]; ys: number[] } {
  if (!w) return { xs: [...xs], ys: [...ys] };
  const outX: number[] = [];
  const outY: number[] = [];
  xs.forEach((x, i) => {
    const f = w.factors[weekday(x)];
    if (w.kind === 'multiplicative') {
      if (f < 0.1) return;
      outX.push(x);
      outY.push(ys[i] / f);
    } else {
      outX.push(x);
      outY.push(ys[i] - f);
    }
  });
  return { xs: outX, ys: outY };
}

/** Step 2: σ of the day-to-day noise from the first differences of consecutive days (relative to their mean, or absolute). */
function noiseFromDifferences(xs: readonly number[], ys: readonly number[], relative: boolean): number {
  const d: number[] = [];
  for (let i = 1; i < xs.length; i++)
    if (xs[i] - xs[i - 1] === 1) d.push(relative ? (ys[i] - ys[i - 1]) / ((ys[i] + ys[i - 1]) / 2) : ys[i] - ys[i - 1]);
  return d.length < 2 ? 0 : robustScale(d) / Math.SQRT2;
}

/** Theil–Sen slope: the median of the slopes between every pair of points with distinct x. */
export function theilSenSlope(xs: readonly number[], ys: readonly number[], from = 0, to = xs.length): number {
  const m = to - from;
  const slopes = new Float64Array((m * (m - 1)) / 2);
  let k = 0;
  for (let i = from; i < to; i++) {
    for (let j = i + 1; j < to; j++) if (xs[j] !== xs[i]) slopes[k++] = (ys[j] - ys[i]) / (xs[j] - xs[i]);
  }
  if (k === 0) return 0;
  const v = slopes.subarray(0, k).sort();
  const mid = Math.floor(k / 2);
  return k % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * The robust line of points from..to-1 for the change search: Theil's own "incomplete" method —
 * the median of the slopes between each point of the first half and its partner half a segment
 * later — then the median intercept. O(m log m) instead of the O(m² log m) of every pair, which
 * the search needs: it fits every run of days.
 */
function robustLine(
  xs: readonly number[],
  ys: readonly number[],
  from: number,
  to: number,
): { slope: number; intercept: number } {
  const h = Math.floor((to - from) / 2);
  const slopes: number[] = [];
  for (let k = from; k < from + h; k++) if (xs[k + h] !== xs[k]) slopes.push((ys[k + h] - ys[k]) / (xs[k + h] - xs[k]));
  const slope = slopes.length === 0 ? 0 : med(slopes);
  const rest: number[] = [];
  for (let i = from; i < to; i++) rest.push(ys[i] - slope * xs[i]);
  return { slope, intercept: med(rest) };
}

/** A segment's robust fit: flat (median) or a line (Theil–Sen), whichever costs less. */
interface SegmentFit {
  slope: number;
  intercept: number;
  cost: number;
}

/** Robust lines and medians of runs of points, computed once per series (the search asks for each run in both passes). */
class RunFits {
  private readonly cache = new Map<number, { slope: number; intercept: number; level: number }>();
  constructor(
    private readonly xs: readonly number[],
    private readonly ys: readonly number[],
  ) {}
  get(from: number, to: number): { slope: number; intercept: number; level: number } {
    const key = from * (this.xs.length + 1) + to;
    let v = this.cache.get(key);
    if (!v) {
      v = { ...robustLine(this.xs, this.ys, from, to), level: med(this.ys.slice(from, to)) };
      this.cache.set(key, v);
    }
    return v;
  }
}

/** A day's distance to a fitted value: relative to it (a ratio) or absolute. */
function residual(y: number, fitted: number, relative: boolean): number {
  return relative ? (y - fitted) / Math.max(fitted, 1e-12) : y - fitted;
}

function fitSegment(
  runs: RunFits,
  xs: readonly number[],
  ys: readonly number[],
  from: number,
  to: number,
  p: Penalties,
): SegmentFit {
  const capped = (slope: number, intercept: number): number => {
    let c = 0;
    for (let k = from; k < to; k++) c += Math.min(residual(ys[k], intercept + slope * xs[k], p.relative) ** 2, p.cap2);
    return c;
  };
  const run = runs.get(from, to);
  const flat = { slope: 0, intercept: run.level, cost: capped(0, run.level) };
  const sloped = { slope: run.slope, intercept: run.intercept, cost: capped(run.slope, run.intercept) + p.slope };
  return sloped.cost < flat.cost ? sloped : flat;
}

interface Penalties {
  segment: number;
  slope: number;
  cap2: number;
  relative: boolean;
}

/** Penalties and cap of a segmentation for noise σ (relative or absolute) with neighbour correlation ρ. */
function penalties(sigma: number, rho: number, relative: boolean, ys: readonly number[]): Penalties {
  // floors keep a noise-free series from splitting on rounding errors
  const scale = relative ? 1 : ys.reduce((acc, y) => acc + Math.abs(y), 0) / Math.max(1, ys.length);
  const s2 = Math.max(sigma, 1e-6 * (scale + 1e-12)) ** 2;
  const lr = s2 * ((1 + rho) / (1 - rho));
  return { segment: PENALTY_PER_CHANGE * lr, slope: PENALTY_PER_SLOPE * lr, cap2: CAP_SIGMAS ** 2 * lr, relative };
}

/**
 * Step 3: segment starts (indices, the first is 0) of the partition into robust flat or sloped
 * pieces that minimises Σ min(residual², cap²) + a penalty per extra segment and per slope, every
 * segment at least `minLen` points long.
 */
export function segmentStarts(
  xs: readonly number[],
  ys: readonly number[],
  sigma: number,
  rho: number,
  relative = false,
  runs = new RunFits(xs, ys),
  minLen = MIN_SEGMENT_DAYS,
): number[] {
  const n = xs.length;
  if (n < 2 * minLen) return [0];
  const p = penalties(sigma, rho, relative, ys);
  const best: number[] = new Array<number>(n + 1).fill(Infinity);
  const prev: number[] = new Array<number>(n + 1).fill(-1);
  best[0] = -p.segment;
  for (let j = minLen; j <= n; j++) {
    for (let i = 0; i <= j - minLen; i++) {
      if (best[i] === Infinity) continue;
      const v = best[i] + fitSegment(runs, xs, ys, i, j, p).cost + p.segment;
      // strict <: on a tie the earlier split (the longer last segment) wins, deterministically
      if (best[j] === Infinity || v < best[j] - 1e-12 * Math.abs(best[j])) {
        best[j] = v;
        prev[j] = i;
      }
    }
  }
  const starts: number[] = [];
  for (let j = n; j > 0; j = prev[j]) starts.unshift(prev[j]);
  return starts;
}

/** Each point's value on its segment's fit. */
function segmentFits(
  runs: RunFits,
  xs: readonly number[],
  ys: readonly number[],
  starts: readonly number[],
  sigma: number,
  rho: number,
  relative: boolean,
): number[] {
  const p = penalties(sigma, rho, relative, ys);
  const fitted: number[] = new Array<number>(xs.length).fill(0);
  starts.forEach((a, k) => {
    const b = k + 1 < starts.length ? starts[k + 1] : xs.length;
    const { slope, intercept } = fitSegment(runs, xs, ys, a, b, p);
    for (let i = a; i < b; i++) fitted[i] = intercept + slope * xs[i];
  });
  return fitted;
}

/**
 * Lag-1 autocorrelation of residuals over consecutive days within a segment, corrected for the
 * bias of short fitted segments and clamped to [0, MAX_RHO]. Residuals of fitted lines lean
 * towards no correlation by about (1 + 3ρ)/n for a fitted mean (Marriott–Pope) and about
 * (2 + 4ρ)/n once a slope is fitted too; `perSegment` applies that to every segment (for the
 * bands: they must not be too narrow), else only once (for the change search: one long line).
 */
function lag1(xs: readonly number[], resid: readonly number[], starts: readonly number[], perSegment: boolean): number {
  const segOf = new Array<number>(xs.length).fill(0);
  starts.forEach((a, k) => {
    const b = k + 1 < starts.length ? starts[k + 1] : xs.length;
    for (let i = a; i < b; i++) segOf[i] = k;
  });
  let num = 0;
  let pairs = 0;
  const den = resid.reduce((s, r) => s + r * r, 0) / resid.length;
  for (let i = 1; i < xs.length; i++) {
    if (xs[i] - xs[i - 1] !== 1 || segOf[i] !== segOf[i - 1]) continue;
    num += resid[i] * resid[i - 1];
    pairs++;
  }
  if (pairs < 5 || !(den > 0)) return 0;
  const r = num / pairs / den;
  const bias = perSegment ? ((2 + 4 * r) * starts.length) / pairs : (1 + 3 * r) / pairs;
  return Math.min(MAX_RHO, Math.max(0, r + bias));
}

/** Residuals with the one-offs (beyond `cut`) replaced by 0, and the one-offs' indices. */
function withoutOneOffs(resid: readonly number[], cut: number): { resid: number[]; idx: number[] } {
  const idx: number[] = [];
  const out = resid.map((r, i) => {
    if (cut > 0 && Math.abs(r) > cut) {
      idx.push(i);
      return 0;
    }
    return r;
  });
  return { resid: out, idx };
}

/** The last piece's own slope further than this many standard errors (of the difference) from the shared pace keeps its own: the trend itself changed. */
const POOL_MAX_T = 3;

/**
 * The trend shared by every piece, each at its own level: y = r_k · (a + b·x) on piece k (r = 1
 * on the last), fitted by alternating least squares. A level shift (a price change, a new team)
 * moves r, not the pace, so the days before the last change still say how fast the series
 * grows. Returns b at the last piece's scale, its standard error, σ of a day on that scale and
 * the degrees of freedom; null when a piece's level is not positive.
 */
function sharedTrend(
  xs: readonly number[],
  ys: readonly number[],
  starts: readonly number[],
): { slope: number; intercept: number; slopeSe: number; sigma: number; df: number } | null {
  const seg = new Array<number>(xs.length).fill(0);
  starts.forEach((a, k) => {
    const b = k + 1 < starts.length ? starts[k + 1] : xs.length;
    for (let i = a; i < b; i++) seg[i] = k;
  });
  const K = starts.length;
  const meanOf = (k: number): number => {
    let s = 0;
    let c = 0;
    for (let i = 0; i < xs.length; i++)
      if (seg[i] === k) {
        s += ys[i];
        c++;
      }
    return s / c;
  };
  const lastMean = meanOf(K - 1);
  if (!(lastMean > 0)) return null;
  const r = Array.from({ length: K }, (_, k) => meanOf(k) / lastMean);
  if (r.some((v) => !(v > 0))) return null;
  let a = 0;
  let b = 0;
  let xm = 0;
  let sxx = 0;
  for (let iter = 0; iter < 30; iter++) {
    const z = ys.map((y, i) => y / r[seg[i]]);
    xm = xs.reduce((s, x) => s + x, 0) / xs.length;
    const zm = z.reduce((s, v) => s + v, 0) / z.length;
    sxx = xs.reduce((s, x) => s + (x - xm) ** 2, 0);
    b = sxx > 0 ? xs.reduce((s, x, i) => s + (x - xm) * (z[i] - zm), 0) / sxx : 0;
    a = zm - b * xm;
    for (let k = 0; k < K - 1; k++) {
      let num = 0;
      let den = 0;
      for (let i = 0; i < xs.length; i++)
        if (seg[i] === k) {
          num += ys[i] * (a + b * xs[i]);
          den += (a + b * xs[i]) ** 2;
        }
      if (den > 0 && num > 0) r[k] = num / den;
    }
  }
  const z = ys.map((y, i) => y / r[seg[i]]);
  const df = xs.length - 2 - (K - 1);
  if (df < 1 || !(sxx > 0)) return null;
  const ss = z.reduce((s, v, i) => s + (v - (a + b * xs[i])) ** 2, 0);
  const sigma = Math.sqrt(ss / df);
  // standard error of b with the pieces' levels estimated too (linearised least squares on the
  // last piece's scale): parameters a, b and ln r_k of every earlier piece, a day of piece k
  // contributing the gradient (1, x, a + b·x at k). Only the days' spread *within* each piece
  // tells the pace, which this counts (the spread over every day would make the band too narrow).
  const P = K + 1;
  const info = Array.from({ length: P }, () => new Array<number>(P).fill(0));
  for (let i = 0; i < xs.length; i++) {
    const g = new Array<number>(P).fill(0);
    g[0] = 1;
    g[1] = xs[i];
    if (seg[i] < K - 1) g[2 + seg[i]] = a + b * xs[i];
    for (let p = 0; p < P; p++) for (let q = 0; q < P; q++) info[p][q] += g[p] * g[q];
  }
  const vb = solve(
    info,
    Array.from({ length: P }, (_, p) => (p === 1 ? 1 : 0)),
  );
  if (vb === null || !(vb[1] > 0)) return null;
  return { slope: b, intercept: a, slopeSe: sigma * Math.sqrt(vb[1]), sigma, df };
}

/** Solves A·v = rhs (Gaussian elimination with partial pivoting); null when A is singular. */
function solve(matrix: readonly (readonly number[])[], rhs: readonly number[]): number[] | null {
  const n = rhs.length;
  const m = matrix.map((row, i) => [...row, rhs[i]]);
  for (let c = 0; c < n; c++) {
    let piv = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    if (!(Math.abs(m[piv][c]) > 1e-12 * Math.max(1, Math.abs(m[0][0])))) return null;
    [m[c], m[piv]] = [m[piv], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

/**
 * Fits one daily series (see the module comment). `points` are [day, value] pairs; non-finite
 * values are ignored, duplicates of a day are averaged. Null with fewer than 2 days.
 */
export function fitDailySeries(
  points: readonly (readonly [number, number])[],
  opts: { minDays?: number } = {},
): SeriesFit | null {
  const minDays = opts.minDays ?? MIN_HISTORY_DAYS;
  const byDay = new Map<number, number[]>();
  for (const [x, y] of points) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    const list = byDay.get(x);
    if (list) list.push(y);
    else byDay.set(x, [y]);
  }
  const sortedDays = [...byDay.keys()].sort((a, b) => a - b);
  const days = sortedDays.filter((d) => d > sortedDays[sortedDays.length - 1] - MAX_FIT_DAYS);
  if (days.length < 2) return null;
  const rawY = days.map((d) => {
    const v = byDay.get(d) as number[];
    return v.reduce((s, y) => s + y, 0) / v.length;
  });

  // 1. weekly pattern out
  const weekly = weeklyPattern(days, rawY);
  const des = deseasonalize(days, rawY, weekly);
  const xs = des.xs;
  const zs = des.ys;
  if (xs.length < 2) return null;
  // Distances are relative (ratios) when every value is positive: the day-to-day noise of cost
  // and volume grows with the level, and a step or a spike is then the same at any level.
  const relative = zs.every((z) => z > 0);
  // 2. noise; 3. first pass: residuals to measure σ and ρ on
  const sigmaDiff = noiseFromDifferences(xs, zs, relative);
  const runs = new RunFits(xs, zs);
  const starts1 = segmentStarts(xs, zs, sigmaDiff, 0, relative, runs);
  const fit1 = segmentFits(runs, xs, zs, starts1, sigmaDiff, 0, relative);
  const resid1 = zs.map((z, i) => residual(z, fit1[i], relative));
  const sigma1 = Math.max(robustScale(resid1), sigmaDiff);
  const rho1 = lag1(xs, withoutOneOffs(resid1, OUTLIER_SIGMAS * sigma1).resid, starts1, false);
  //    second pass with the long-run variance
  const starts = segmentStarts(xs, zs, sigma1, rho1, relative, runs);
  const fitted = segmentFits(runs, xs, zs, starts, sigma1, rho1, relative);
  // 4. one-off days, replaced by their segment's fit; their relative size is kept for the bands
  const resid = withoutOneOffs(
    zs.map((z, i) => residual(z, fitted[i], relative)),
    OUTLIER_SIGMAS * sigma1,
  );
  const oneOffs = new Set(resid.idx);
  const ys = zs.map((z, i) => (oneOffs.has(i) ? fitted[i] : z));
  const rho = lag1(xs, resid.resid, starts, true);
  const oneOffSizes = resid.idx.map((i) => round(fitted[i] > 0 ? (zs[i] - fitted[i]) / fitted[i] : 0));

  const changes: SeriesChange[] = starts
    .slice(1)
    .map((b) => ({ day: xs[b], before: round(fitted[b - 1]), after: round(fitted[b]) }));
  // 5. the trend after the last change
  const from = starts[starts.length - 1];
  const sx = xs.slice(from);
  const sy = ys.slice(from);
  const m = sx.length;
  const xMean = sx.reduce((s, v) => s + v, 0) / m;
  const sxx = sx.reduce((s, v) => s + (v - xMean) ** 2, 0);
  const ownSlope = theilSenSlope(sx, sy);
  const inflation = (1 + rho) / (1 - rho);
  const spread = (slope: number): { level: number; sigma: number } => {
    const d = sy.map((y, k) => y - slope * (sx[k] - xMean));
    const lv = d.reduce((s, v) => s + v, 0) / m;
    return { level: lv, sigma: m - 2 >= 1 ? Math.sqrt(d.reduce((s, v) => s + (v - lv) ** 2, 0) / (m - 2)) : 0 };
  };
  const own = spread(ownSlope);
  const ownSe = sxx > 0 ? own.sigma * Math.sqrt((THEIL_SEN_VARIANCE_FACTOR * inflation) / sxx) : Infinity;
  const pooled = relative && starts.length > 1 ? sharedTrend(xs, ys, starts) : null;
  // the pace is shared when the last piece's own slope agrees with the pace of the pieces before
  // it (fitted on those alone, so that a changed trend cannot pull the comparison), both taken
  // relative to the level at the last piece's mean day (y = r·(a + b·x): r cancels)
  const before = pooled ? sharedTrend(xs.slice(0, from), ys.slice(0, from), starts.slice(0, -1)) : null;
  const beforeLevel = before ? before.intercept + before.slope * xMean : 0;
  const usePooled =
    pooled !== null &&
    before !== null &&
    beforeLevel > 0 &&
    own.level > 0 &&
    Number.isFinite(pooled.slopeSe) &&
    (!Number.isFinite(ownSe) ||
      Math.abs(ownSlope / own.level - before.slope / beforeLevel) <=
        POOL_MAX_T * Math.hypot(ownSe / own.level, (before.slopeSe * Math.sqrt(inflation)) / beforeLevel));
  const fittedSlope = usePooled && pooled ? pooled.slope : ownSlope;
  // level at xMean: the mean of the detrended days (one-offs were replaced above)
  const { level, sigma: ownSigma } = usePooled ? spread(fittedSlope) : own;
  const df = usePooled && pooled ? pooled.df : m - 2;
  const sigma = usePooled && pooled ? pooled.sigma : ownSigma;
  // (the shared slope is least squares: no Theil–Sen factor; the days' correlation inflates it alike)
  const se = usePooled && pooled ? pooled.slopeSe * Math.sqrt(inflation) : ownSe;
  const levelSe = Math.sqrt((inflation * sigma * sigma) / m);
  // t = |slope| / its standard error; the projected slope is shrunk by max(0, 1 − 1/t²) (positive-part
  // James–Stein): a slope lost in the noise is projected flat, a clear one nearly as fitted
  const tStat = se === 0 ? (fittedSlope === 0 ? 0 : Infinity) : Number.isFinite(se) ? Math.abs(fittedSlope) / se : 0;
  const enough = m >= minDays && df >= 1;
  const slope = enough && tStat > 1 ? fittedSlope * (1 - 1 / (tStat * tStat)) : 0;
  const slopeClear = enough && tStat >= tQuantile(SLOPE_CLEAR_P, Math.max(1, df));
  return {
    n: days.length,
    firstDay: days[0],
    lastDay: days[days.length - 1],
    changes,
    fromDay: sx[0],
    days: m,
    enoughHistory: m >= minDays,
    minDays,
    sharedPace: usePooled,
    level: round(level),
    xMean: round(xMean),
    slope: round(slope),
    fittedSlope: round(fittedSlope),
    slopeClear,
    // the band still allows for the part of the fitted slope that shrinking took away
    slopeSe: round(Number.isFinite(se) ? Math.sqrt(se * se + (fittedSlope - slope) ** 2) : Number.MAX_VALUE),
    levelSe: round(levelSe),
    sigma: round(sigma),
    rho: round(rho),
    oneOffRate: round(resid.idx.length / xs.length),
    oneOffSizes,
    df: Math.max(0, df),
    weekly,
    outliers: resid.idx.map((i) => xs[i]),
  };
}

// ---- projection ------------------------------------------------------------------------------

const clamp0 = (v: number): number => Math.max(0, v);

/** Weekday factor of `day` as a multiplier (additive patterns are returned as an offset instead). */
function factorOf(fit: SeriesFit, day: number): { mul: number; add: number } {
  if (!fit.weekly) return { mul: 1, add: 0 };
  const f = fit.weekly.factors[weekday(day)];
  return fit.weekly.kind === 'multiplicative' ? { mul: f, add: 0 } : { mul: 1, add: f };
}

/** Weekday-adjusted trend value (the expected "typical day") at `day`; not clamped. */
export function trendAt(fit: SeriesFit, day: number): number {
  return fit.level + fit.slope * (day - fit.xMean);
}

/** Student t CDF with `df` degrees of freedom. */
export function tCdf(t: number, df: number): number {
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? 1 - tail : tail;
}

/** One-off days expected in a window: how many (Poisson mean) and the value of a typical day there. */
interface OneOffs {
  expected: number;
  sizes: readonly number[];
  day: number;
}

/**
 * The 80 % and 95 % intervals of a value whose core is Student t (mean, sd, df), plus K one-off
 * days, K ~ Poisson(expected), each adding one of the sizes seen × a typical day. Without
 * one-offs the bounds are mean ± t·sd; with them, quantiles of the mixture (bisection), so a
 * rare large spike widens the upper 95 % bound more than the 80 % band, as it should.
 */
function interval(mean: number, sd: number, df: number, oneOffs?: OneOffs): Prediction {
  if (df < 1 || !Number.isFinite(sd))
    return { mean: clamp0(mean), lo80: 0, hi80: Number.MAX_VALUE, lo95: 0, hi95: Number.MAX_VALUE };
  const q = (p: number): number => tQuantile(p, df);
  if (!oneOffs || oneOffs.sizes.length === 0 || !(oneOffs.expected > 0) || !(oneOffs.day > 0)) {
    return {
      mean: clamp0(mean),
      lo80: clamp0(mean - q(0.9) * sd),
      hi80: clamp0(mean + q(0.9) * sd),
      lo95: clamp0(mean - q(0.975) * sd),
      hi95: clamp0(mean + q(0.975) * sd),
    };
  }
  // components: no one-off; one (each size seen); two (each pair); three or more (lumped at 3 × the mean size)
  const lambda = oneOffs.expected;
  const sizes = oneOffs.sizes;
  const j = sizes.length;
  const p0 = Math.exp(-lambda);
  const p1 = lambda * p0;
  const p2 = ((lambda * lambda) / 2) * p0;
  const comps: [weight: number, shift: number][] = [[p0, 0]];
  for (const a of sizes) comps.push([p1 / j, a * oneOffs.day]);
  for (const a of sizes) for (const b of sizes) comps.push([p2 / (j * j), (a + b) * oneOffs.day]);
  comps.push([Math.max(0, 1 - p0 - p1 - p2), (3 * sizes.reduce((acc, v) => acc + v, 0) * oneOffs.day) / j]);
  const scale = Math.max(sd, 1e-9 * (Math.abs(mean) + 1));
  const cdf = (x: number): number =>
    comps.reduce((acc, [w, shift]) => acc + w * tCdf((x - mean - shift) / scale, df), 0);
  const shifts = comps.map(([, shift]) => shift);
  const reach = q(0.9995) * scale;
  const quantile = (p: number): number => {
    let lo = mean + Math.min(0, ...shifts) - reach;
    let hi = mean + Math.max(0, ...shifts) + reach;
    // to a millionth of the core spread: far below anything the report prints
    for (let k = 0; k < 80 && hi - lo > 1e-6 * scale; k++) {
      const mid = (lo + hi) / 2;
      if (cdf(mid) < p) lo = mid;
      else hi = mid;
    }
    return (lo + hi) / 2;
  };
  return {
    mean: clamp0(mean),
    lo80: clamp0(quantile(0.1)),
    hi80: clamp0(quantile(0.9)),
    lo95: clamp0(quantile(0.025)),
    hi95: clamp0(quantile(0.975)),
  };
}

/**
 * The sum of the daily values over `days` (e.g. the 7 days of a week), with its intervals. The
 * mean is the trend's sum (the one-off days are not in it); with f the weekday multiplier of day
 * d: Var = (Σf·levelSe)² + (Σf·(d − x̄)·slopeSe)² + ΣΣ f·f'·σ²·ρ^|d − d'|, plus the chance of
 * one-off days as seen (see `interval`).
 */
export function predictTotal(fit: SeriesFit, days: readonly number[]): Prediction {
  let mean = 0;
  let sf = 0;
  let sfd = 0;
  const mul: number[] = [];
  for (const d of days) {
    const f = factorOf(fit, d);
    mean += f.mul * trendAt(fit, d) + f.add;
    sf += f.mul;
    sfd += f.mul * (d - fit.xMean);
    mul.push(f.mul);
  }
  const s2 = fit.sigma ** 2;
  let noise = 0;
  for (let i = 0; i < days.length; i++) {
    for (let j = 0; j < days.length; j++) noise += mul[i] * mul[j] * fit.rho ** Math.abs(days[i] - days[j]);
  }
  const variance = (sf * fit.levelSe) ** 2 + (sfd === 0 ? 0 : (sfd * fit.slopeSe) ** 2) + noise * s2;
  const oneOffs = {
    expected: fit.oneOffRate * days.length,
    sizes: fit.oneOffSizes,
    day: days.length ? mean / days.length : 0,
  };
  return interval(mean, Math.sqrt(variance), fit.df, oneOffs);
}

/**
 * The total of `span` days at the rate of `day` (e.g. a month's spend at that day's run rate):
 * mean = span × trend(day); variance = span²·(levelSe² + ((day − x̄)·slopeSe)²) + the span's
 * own day-to-day noise, σ²·(span·mean(f²) + 2·Σₗ(span − l)·ρˡ), plus its one-off days.
 */
export function predictRate(fit: SeriesFit, day: number, span: number): Prediction {
  const w = fit.weekly;
  const f2 = w !== null && w.kind === 'multiplicative' ? w.factors.reduce((s, f) => s + f * f, 0) / 7 : 1;
  const s2 = fit.sigma ** 2;
  const dist = day - fit.xMean;
  let noise = span * f2;
  for (let l = 1; l < span; l++) noise += 2 * (span - l) * fit.rho ** l;
  const level = trendAt(fit, day);
  const variance = span ** 2 * (fit.levelSe ** 2 + (dist === 0 ? 0 : (dist * fit.slopeSe) ** 2)) + noise * s2;
  return interval(span * level, Math.sqrt(variance), fit.df, {
    expected: fit.oneOffRate * span,
    sizes: fit.oneOffSizes,
    day: level,
  });
}

/** One day's value at `day` with its intervals. */
export function predictDay(fit: SeriesFit, day: number): Prediction {
  return predictTotal(fit, [day]);
}

/**
 * The value on the busiest weekday of the week around `day` (the day itself without a weekly
 * pattern): what a daily peak should be compared with.
 */
export function predictBusiestDay(fit: SeriesFit, day: number): Prediction {
  if (!fit.weekly) return predictDay(fit, day);
  let best = day;
  for (let d = day - 3; d <= day + 3; d++) {
    const f = fit.weekly.factors[weekday(d)];
    const fb = fit.weekly.factors[weekday(best)];
    if (f > fb) best = d;
  }
  return predictDay(fit, best);
}
