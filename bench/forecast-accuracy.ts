/**
 * Benchmark `forecast-accuracy` (issue 14): how well the validation forecast (change points +
 * Theil–Sen, lib/validation/trend.ts) projects three weeks ahead, against plain least squares
 * over every day (the forecast it replaced). Needs no stack: `npx tsx bench/forecast-accuracy.ts`
 * runs it as well as `npm run bench -- forecast-accuracy`.
 *
 * Histories: 6 weeks of daily values from five families — flat, growth, step, step + growth,
 * weekly seasonality (half of them also growing) — at four noise levels (2, 5, 10, 20 % of the
 * level, with day-to-day correlation φ drawn from {0, 0.3, 0.5}), plus 2 % one-off spike days
 * (×1.5–3, in the held-out weeks too) and 3 % missing days in the fitted weeks. Levels are
 * log-uniform in 5..500 a day; growth is +0.5..+3 % of the starting level a day, a fifth of the
 * series falling by 0.3..1.5 % instead; steps multiply the level by 0.4–0.8 or 1.3–4 on a day
 * drawn from 4..18, so about a fifth of the step series have fewer than 7 days after the step
 * ("not enough history": the report shows no numbers then; here they are scored with the
 * level-only projection the fit falls back to, not left out). 40 series per family and noise
 * level; a seeded RNG (mulberry32, BENCH_SEED, default 14) makes a run reproducible.
 *
 * Each method is fitted on days 1–21 and projects days 22–42. Scored on horizon aggregates —
 * the totals of weeks 4, 5 and 6 (the report's figures are monthly totals too):
 *  - mape_pct: mean over every (series, week) of |forecast − actual| / actual × 100;
 *  - linear_mape_pct: the same for least squares (clamped at 0 like the old forecast);
 *  - coverage_80_pct: share of those (series, week) totals inside the method's 80 % interval.
 * stderr has the same per family and per noise level, the daily-point versions (MAPE and 80 %
 * coverage of each held-out day), and two references:
 *  - oracle_mape: the error of the noise-free curve itself, i.e. the part no forecast can remove
 *    (noise and spikes in the held-out weeks);
 *  - known_mape: least squares that is *told* the structure — the step day, whether the series
 *    grows, which fitted days are spikes and the weekly pattern — and only estimates the level,
 *    the slope (when it grows) and the step's ratio from the same fitted days. What is left
 *    between it and oracle_mape is estimation noise; a method that must also find the structure
 *    can hardly beat it, so it shows how much room the goal leaves.
 *
 * Goals: mape_pct ≤ linear_mape_pct / 2 and ≤ 10; 75 ≤ coverage_80_pct ≤ 90.
 * Prints one final line: BENCH forecast-accuracy series=<n> mape_pct=<n> linear_mape_pct=<n> coverage_80_pct=<n>
 */
import { fitDailySeries, linearFit, predictDay, predictTotal } from '../lib/validation/forecast.js';

const FAMILIES = ['flat', 'growth', 'step', 'step+growth', 'seasonal'] as const;
type Family = (typeof FAMILIES)[number];
const NOISE_LEVELS = [0.02, 0.05, 0.1, 0.2];
const PER_CELL = Number(process.env.BENCH_N ?? 40);
const SEED = Number(process.env.BENCH_SEED ?? 14);
const FIT_DAYS = 21;
const TOTAL_DAYS = 42;

/** mulberry32: a small, well-mixed 32-bit PRNG, reproducible from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface History {
  family: Family;
  noise: number;
  /** value of day d at index d - 1 */
  values: number[];
  /** the noise-free curve (what an oracle would forecast) */
  truth: number[];
  /** days left out of the fit (missing data) */
  missing: Set<number>;
  /** the structure the series was generated with (for the known-structure reference only) */
  known: { stepDay: number; grows: boolean; spikes: Set<number>; weekly: number[] | null };
}

function generate(family: Family, noise: number, rand: () => number): History {
  const uniform = (a: number, b: number): number => a + (b - a) * rand();
  const gauss = (): number => {
    let u = 0;
    while (u === 0) u = rand();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  };
  const base = Math.exp(uniform(Math.log(5), Math.log(500)));
  const growth = (): number => (rand() < 0.2 ? -uniform(0.003, 0.015) : uniform(0.005, 0.03));
  const stepFactor = (): number => (rand() < 0.3 ? uniform(0.4, 0.8) : Math.exp(uniform(Math.log(1.3), Math.log(4))));
  let g = 0;
  let stepDay = Infinity;
  let factor = 1;
  let weekly: number[] | null = null;
  if (family === 'growth') g = growth();
  if (family === 'step' || family === 'step+growth') {
    stepDay = Math.floor(uniform(4, 19));
    factor = stepFactor();
  }
  if (family === 'step+growth') g = growth();
  if (family === 'seasonal') {
    const weekend = uniform(0.2, 0.8);
    const phase = Math.floor(uniform(0, 7));
    weekly = Array.from({ length: 7 }, (_, k) => ((k + phase) % 7 >= 5 ? weekend : 1));
    if (rand() < 0.5) g = growth();
  }
  const phi = [0, 0.3, 0.5][Math.floor(uniform(0, 3))];
  let e = gauss();
  const values: number[] = [];
  const truth: number[] = [];
  const missing = new Set<number>();
  const spikes = new Set<number>();
  for (let d = 1; d <= TOTAL_DAYS; d++) {
    if (d > 1) e = phi * e + Math.sqrt(1 - phi * phi) * gauss();
    let level = base * (1 + g * (d - 1)) * (d >= stepDay ? factor : 1);
    if (weekly) level *= weekly[(d - 1) % 7];
    truth.push(level);
    let v = level * (1 + noise * e);
    if (rand() < 0.02) {
      v *= uniform(1.5, 3);
      spikes.add(d);
    }
    values.push(Math.max(0, v));
    if (d <= FIT_DAYS && rand() < 0.03) missing.add(d);
  }
  return { family, noise, values, truth, missing, known: { stepDay, grows: g !== 0, spikes, weekly } };
}

/**
 * The known-structure reference: y = F^[d ≥ step] · (a + b·d) · weekly(d) fitted by least squares
 * on the fitted days that are not spikes (b = 0 when the series does not grow), alternating
 * between (a, b) on the step-adjusted values and F on the days from the step on. Returns the
 * projected value of a day.
 */
function knownStructureFit(h: History, fitPts: readonly [number, number][]): (day: number) => number {
  const { stepDay, grows, spikes, weekly } = h.known;
  const pts = fitPts
    .filter(([d]) => !spikes.has(d))
    .map(([d, v]): [number, number] => [d, weekly ? v / weekly[(d - 1) % 7] : v]);
  const after = (d: number): boolean => d >= stepDay;
  const nAfter = pts.filter(([d]) => after(d)).length;
  let ratio = 1;
  if (nAfter > 0 && nAfter < pts.length) {
    const m = (f: (d: number) => boolean): number => {
      const v = pts.filter(([d]) => f(d)).map(([, y]) => y);
      return v.reduce((s, y) => s + y, 0) / v.length;
    };
    ratio = m(after) / m((d) => !after(d));
  }
  let a = 0;
  let b = 0;
  for (let iter = 0; iter < 20; iter++) {
    const z = pts.map(([d, y]): [number, number] => [d, after(d) ? y / ratio : y]);
    const xm = z.reduce((s, [d]) => s + d, 0) / z.length;
    const ym = z.reduce((s, [, y]) => s + y, 0) / z.length;
    const sxx = z.reduce((s, [d]) => s + (d - xm) ** 2, 0);
    b = grows && sxx > 0 ? z.reduce((s, [d, y]) => s + (d - xm) * (y - ym), 0) / sxx : 0;
    a = ym - b * xm;
    if (nAfter === 0 || nAfter === pts.length) break;
    let num = 0;
    let den = 0;
    for (const [d, y] of pts)
      if (after(d)) {
        num += y * (a + b * d);
        den += (a + b * d) ** 2;
      }
    ratio = den > 0 ? num / den : ratio;
  }
  return (day) => Math.max(0, (after(day) ? ratio : 1) * (a + b * day) * (weekly ? weekly[(day - 1) % 7] : 1));
}

interface Score {
  ape: number[];
  linearApe: number[];
  oracleApe: number[];
  knownApe: number[];
  inside80: number;
  aggregates: number;
  dailyApe: number[];
  dailyInside80: number;
  dailyPoints: number;
  notEnoughHistory: number;
  series: number;
}

const emptyScore = (): Score => ({
  ape: [],
  linearApe: [],
  oracleApe: [],
  knownApe: [],
  inside80: 0,
  aggregates: 0,
  dailyApe: [],
  dailyInside80: 0,
  dailyPoints: 0,
  notEnoughHistory: 0,
  series: 0,
});

function score(h: History, into: Score[]): void {
  const fitPts = h.values.flatMap((v, i) =>
    i + 1 <= FIT_DAYS && !h.missing.has(i + 1) ? [[i + 1, v] as [number, number]] : [],
  );
  const fit = fitDailySeries(fitPts);
  const lin = linearFit(fitPts);
  if (!fit || !lin) throw new Error('a 3-week history always fits');
  const known = knownStructureFit(h, fitPts);
  for (const s of into) {
    s.series++;
    if (!fit.enoughHistory) s.notEnoughHistory++;
  }
  for (let w = 0; w < 3; w++) {
    const days = Array.from({ length: 7 }, (_, k) => FIT_DAYS + 1 + 7 * w + k);
    const actual = days.reduce((s, d) => s + h.values[d - 1], 0);
    const p = predictTotal(fit, days);
    const linear = days.reduce((s, d) => s + Math.max(0, lin.intercept + lin.slope * d), 0);
    const oracle = days.reduce((s, d) => s + h.truth[d - 1], 0);
    const knownTotal = days.reduce((s, d) => s + known(d), 0);
    for (const s of into) {
      s.ape.push((Math.abs(p.mean - actual) / actual) * 100);
      s.linearApe.push((Math.abs(linear - actual) / actual) * 100);
      s.oracleApe.push((Math.abs(oracle - actual) / actual) * 100);
      s.knownApe.push((Math.abs(knownTotal - actual) / actual) * 100);
      s.aggregates++;
      if (actual >= p.lo80 && actual <= p.hi80) s.inside80++;
    }
    for (const d of days) {
      const actualDay = h.values[d - 1];
      const pd = predictDay(fit, d);
      for (const s of into) {
        if (actualDay > 0) s.dailyApe.push((Math.abs(pd.mean - actualDay) / actualDay) * 100);
        s.dailyPoints++;
        if (actualDay >= pd.lo80 && actualDay <= pd.hi80) s.dailyInside80++;
      }
    }
  }
}

const mean = (v: readonly number[]): number => v.reduce((s, x) => s + x, 0) / v.length;
const f1 = (v: number): string => v.toFixed(1);

function main(): void {
  const rand = rng(SEED);
  const total = emptyScore();
  const byFamily = new Map<string, Score>(FAMILIES.map((f) => [f, emptyScore()]));
  const byNoise = new Map<number, Score>(NOISE_LEVELS.map((n) => [n, emptyScore()]));
  const started = performance.now();
  for (const family of FAMILIES) {
    for (const noise of NOISE_LEVELS) {
      for (let k = 0; k < PER_CELL; k++)
        score(generate(family, noise, rand), [total, byFamily.get(family) as Score, byNoise.get(noise) as Score]);
    }
  }
  const line = (name: string, s: Score): string =>
    `${name.padEnd(12)} series=${String(s.series).padStart(4)} mape=${f1(mean(s.ape)).padStart(5)} linear_mape=${f1(mean(s.linearApe)).padStart(6)} oracle_mape=${f1(mean(s.oracleApe)).padStart(5)} known_mape=${f1(mean(s.knownApe)).padStart(5)} ` +
    `cov80=${f1((100 * s.inside80) / s.aggregates).padStart(5)} daily_mape=${f1(mean(s.dailyApe)).padStart(5)} daily_cov80=${f1((100 * s.dailyInside80) / s.dailyPoints).padStart(5)} not_enough_history=${s.notEnoughHistory}`;
  process.stderr.write(
    `[forecast-accuracy] seed=${SEED}; weekly totals of days 22–42 from a fit on days 1–21 (${((performance.now() - started) / 1000).toFixed(1)} s)\n`,
  );
  for (const [f, s] of byFamily) process.stderr.write(`  ${line(f, s)}\n`);
  for (const [n, s] of byNoise) process.stderr.write(`  ${line(`noise ${n * 100}%`, s)}\n`);
  process.stderr.write(`  ${line('all', total)}\n`);
  console.log(
    `BENCH forecast-accuracy series=${total.series} mape_pct=${f1(mean(total.ape))} linear_mape_pct=${f1(mean(total.linearApe))} coverage_80_pct=${f1((100 * total.inside80) / total.aggregates)}`,
  );
}

main();
