import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { defaultValidationConfig } from '../../lib/config/validation.js';
import {
  crossingLikelihood,
  fitDailySeries,
  forecast3Months,
  linearFit,
  predictDay,
  predictRate,
  predictTotal,
  usableFit,
  type ForecastDay,
  type SeriesFit,
} from '../../lib/validation/forecast.js';
import { fSurvival, normalQuantile, tQuantile, trendAt, weeklyPattern } from '../../lib/validation/trend.js';
import { renderValidationFinalReport } from '../../lib/validation/report.js';
import { decide, summarizeWeek, type DaySnapshot } from '../../lib/validation/index.js';
import { renderLineChartSvg, type ChartSpecWithBands } from '../../lib/reports/svg.js';

const config = defaultValidationConfig();
const close = (a: number | null | undefined, b: number, eps = 1e-9): void => {
  assert.ok(a !== null && a !== undefined && Math.abs(a - b) <= eps, `${a} ≉ ${b} (±${eps})`);
};

function days(n: number, cost: (d: number) => number | null, conc: (d: number) => number | null): ForecastDay[] {
  return Array.from({ length: n }, (_, i) => ({ day: i + 1, costDollars: cost(i + 1), peakConcurrency: conc(i + 1) }));
}

/** Seeded normal noise (mulberry32 + Box–Muller): the synthetic series are the same on every run. */
function noise(seed: number): () => number {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u() || 1e-12)) * Math.cos(2 * Math.PI * u());
}

/** [day, value] pairs of days 1..n (skipping `missing`), value = level(d) × (1 + cv·noise). */
function series(
  n: number,
  level: (d: number) => number,
  cv: number,
  seed: number,
  missing: number[] = [],
): [number, number][] {
  const e = noise(seed);
  const out: [number, number][] = [];
  for (let d = 1; d <= n; d++) {
    const v = level(d) * (1 + cv * e());
    if (!missing.includes(d)) out.push([d, v]);
  }
  return out;
}

const fitOf = (pts: [number, number][]): SeriesFit => {
  const f = fitDailySeries(pts);
  assert.ok(f, 'a fit');
  return f;
};

describe('linearFit (ordinary least squares, the old method the benchmark compares with)', () => {
  test('recovers an exact line with r² = 1', () => {
    const f = linearFit([
      [1, 5],
      [2, 7],
      [3, 9],
      [4, 11],
    ]);
    assert.ok(f);
    close(f.slope, 2);
    close(f.intercept, 3);
    close(f.r2, 1);
    assert.equal(f.n, 4);
  });

  test('fits the least-squares line through noisy points', () => {
    // x̄ = ȳ = 2.5, Sxy = 3, Sxx = 5 → slope 0.6, intercept 2.5 - 0.6·2.5 = 1
    const f = linearFit([
      [1, 2],
      [2, 1],
      [3, 4],
      [4, 3],
    ]);
    assert.ok(f);
    close(f.slope, 0.6);
    close(f.intercept, 1);
    assert.ok((f.r2 as number) > 0 && (f.r2 as number) < 1);
  });

  test('needs two distinct x values', () => {
    assert.equal(linearFit([[1, 2]]), null);
    assert.equal(
      linearFit([
        [1, 2],
        [1, 3],
      ]),
      null,
    );
    assert.equal(linearFit([]), null);
  });
});

describe('distributions behind the intervals', () => {
  test('normal and Student t quantiles match the tables', () => {
    close(normalQuantile(0.9), 1.2816, 1e-4);
    close(normalQuantile(0.975), 1.96, 1e-3);
    close(normalQuantile(0.025), -1.96, 1e-3);
    // t tables: df 1, 2 exact; 5, 10, 30 to 3 decimals
    close(tQuantile(0.975, 1), 12.706, 1e-3);
    close(tQuantile(0.975, 2), 4.303, 1e-3);
    close(tQuantile(0.9, 5), 1.476, 2e-3);
    close(tQuantile(0.975, 5), 2.571, 3e-3);
    close(tQuantile(0.975, 10), 2.228, 2e-3);
    close(tQuantile(0.9, 30), 1.31, 1e-3);
  });

  test('F survival matches the 1 % table values for 6 numerator degrees of freedom', () => {
    for (const [f, d2] of [
      [5.39, 10],
      [3.87, 20],
      [3.47, 30],
      [2.96, 120],
    ])
      close(fSurvival(f, 6, d2), 0.01, 2e-4);
    assert.equal(fSurvival(0, 6, 10), 1);
  });
});

describe('fitDailySeries on synthetic daily series', () => {
  test('flat: no change, no trend, the level within a few percent', () => {
    const f = fitOf(series(28, () => 100, 0.05, 1));
    assert.deepEqual(f.changes, []);
    assert.equal(f.slopeClear, false);
    assert.ok(Math.abs(f.slope) < 0.2, `slope ${f.slope}`);
    close(trendAt(f, 28), 100, 3);
    assert.equal(f.weekly, null);
    assert.equal(f.enoughHistory, true);
  });

  test('linear growth: no change, the slope recovered (exactly without noise)', () => {
    const exact = fitOf(series(28, (d) => 50 + 2 * d, 0, 1));
    assert.deepEqual(exact.changes, []);
    close(exact.slope, 2, 1e-9);
    close(trendAt(exact, 60), 170, 1e-6);
    const noisy = fitOf(series(28, (d) => 50 + 2 * d, 0.03, 2));
    assert.deepEqual(noisy.changes, []);
    assert.equal(noisy.slopeClear, true);
    close(noisy.slope, 2, 0.3);
  });

  test('a level step is a change, not a slope: the trend is fitted after it and is flat', () => {
    const f = fitOf(series(28, (d) => (d >= 10 ? 30 : 10), 0.04, 3));
    assert.equal(f.changes.length, 1);
    close(f.changes[0].day, 10, 1);
    close(f.changes[0].before, 10, 1);
    close(f.changes[0].after, 30, 2);
    assert.equal(f.fromDay, f.changes[0].day);
    assert.ok(Math.abs(f.slope) < 0.15, `slope ${f.slope}`);
    close(trendAt(f, 90), 30, 1.5);
    // least squares over every day turns the step into growth
    const ols = linearFit(series(28, (d) => (d >= 10 ? 30 : 10), 0.04, 3));
    assert.ok(ols && ols.intercept + ols.slope * 90 > 60);
  });

  test('step + growth: the change is found and the slope after it recovered', () => {
    const f = fitOf(series(35, (d) => (d >= 12 ? 2 : 1) * (40 + 1.5 * d), 0.02, 4));
    assert.equal(f.changes.length, 1);
    close(f.changes[0].day, 12, 1);
    assert.equal(f.slopeClear, true);
    // after the step the level is 2·(40 + 1.5d): slope 3 a day
    close(f.slope, 3, 0.5);
  });

  /** [day, value] pairs of days 1..n, value = level(d) × (1 + cv·e), e an AR(1) with neighbour correlation phi. */
  const correlated = (
    n: number,
    level: (d: number) => number,
    cv: number,
    phi: number,
    seed: number,
  ): [number, number][] => {
    const g = noise(seed);
    let e = g();
    const out: [number, number][] = [];
    for (let d = 1; d <= n; d++) {
      if (d > 1) e = phi * e + Math.sqrt(1 - phi * phi) * g();
      out.push([d, level(d) * (1 + cv * e)]);
    }
    return out;
  };

  test('a step in correlated noise is found, not taken for a run of one-off days', () => {
    // ×1.6 on day 10 of 21, 10 % noise with neighbour correlation 0.8: the correlation raises the
    // price of a change, and a day's cost must be capped in the same units or the days before the
    // step are cheaper as one-offs (3 of these 40 were missed so)
    for (let seed = 1; seed <= 40; seed++) {
      const f = fitOf(correlated(21, (d) => (d >= 10 ? 160 : 100), 0.1, 0.8, seed));
      assert.ok(
        f.changes.some((c) => Math.abs(c.day - 10) <= 1),
        `seed ${seed}: changes ${JSON.stringify(f.changes)}`,
      );
    }
  });

  test('a level shift with growth keeps the pace: the days before the step count too', () => {
    // ×2 on day 15 of 21 on a series growing 2 % of its start a day: after the step 2·50·0.02 = 2 a day
    let errShared = 0;
    let sharedCount = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const f = fitOf(correlated(21, (d) => (d >= 15 ? 2 : 1) * 50 * (1 + 0.02 * (d - 1)), 0.05, 0.3, seed));
      assert.ok(f.changes.some((c) => Math.abs(c.day - 15) <= 1));
      if (!f.sharedPace) continue;
      errShared += Math.abs(f.slope - 2);
      sharedCount++;
    }
    // shared in most series, and then close to the true pace on average
    assert.ok(sharedCount >= 15, `pace shared in ${sharedCount} of 20`);
    assert.ok(errShared / sharedCount < 0.8, `mean |slope − 2| = ${errShared / sharedCount}`);
  });

  test('a real trend change after a step is not pooled: the slope after it is its own', () => {
    // flat at 50, then from day 15 at 100 growing 4 a day: the pace before says nothing about after
    for (let seed = 1; seed <= 20; seed++) {
      const f = fitOf(correlated(28, (d) => (d >= 15 ? 100 + 4 * (d - 15) : 50), 0.03, 0.3, seed));
      assert.equal(f.sharedPace, false, `seed ${seed}`);
      close(f.slope, 4, 0.6);
    }
  });

  test('noisy with a one-off spike: no change, the spike is listed, leaves the level alone and widens only the upper band', () => {
    const clean = series(42, () => 200, 0.2, 5);
    const pts = clean.map(([d, v]): [number, number] => [d, d === 30 ? 1200 : v]);
    const f = fitOf(pts);
    const g = fitOf(clean);
    assert.deepEqual(f.changes, []);
    assert.deepEqual(f.outliers, [30]);
    close(f.oneOffRate, 1 / 42, 1e-9);
    close(trendAt(f, 42), trendAt(g, 42), 0.02 * trendAt(g, 42));
    const week = [64, 65, 66, 67, 68, 69, 70];
    const p = predictTotal(f, week);
    const q = predictTotal(g, week);
    close(p.mean, q.mean, 0.02 * q.mean);
    close(p.lo80, q.lo80, 0.05 * q.lo80);
    // one such day in 42 → a 15 % chance that the week holds one: the band's top allows for it
    assert.ok(p.hi95 > q.hi95 + 700, `${p.hi95} vs ${q.hi95}`);
    assert.ok(p.lo80 < 1400 && 1400 < p.hi80, `${p.lo80}..${p.hi80}`);
  });

  test('weekly seasonality: found and taken out, no change or trend made of weekends', () => {
    // weekdays 100, weekends 40 (days 6, 7 of every week)
    const wk = (d: number): number => ((d - 1) % 7 >= 5 ? 40 : 100);
    const f = fitOf(series(28, wk, 0.05, 6));
    assert.ok(f.weekly, 'a weekly pattern');
    assert.equal(f.weekly.kind, 'multiplicative');
    const mean = (100 * 5 + 40 * 2) / 7;
    close(f.weekly.factors[5], 40 / mean, 0.08);
    close(f.weekly.factors[0], 100 / mean, 0.08);
    assert.deepEqual(f.changes, []);
    assert.ok(Math.abs(f.slope) < 0.3, `slope ${f.slope}`);
    // a whole future week sums to 5·100 + 2·40; a Saturday is ~40
    close(predictTotal(f, [36, 37, 38, 39, 40, 41, 42]).mean, 580, 25);
    close(predictDay(f, 41).mean, 40, 5);
  });

  test('weekly pattern test: rarely claims one on seeded noise, trend or step; finds one under a trend or a step', () => {
    // 200 seeded 3-week series each, 10 % noise, one missing day; counts of series given a pattern
    const found = (level: (d: number) => number, seed: number): number => {
      let count = 0;
      for (let s = 0; s < 200; s++) {
        const pts = series(21, level, 0.1, seed + s, [5 + (s % 7)]);
        if (
          weeklyPattern(
            pts.map(([d]) => d),
            pts.map(([, v]) => v),
          )
        )
          count++;
      }
      return count;
    };
    const wk = (d: number): number => ((d - 1) % 7 >= 5 ? 0.6 : 1);
    // false patterns (measured 2, 2, 0; the previous test on values relative to their week's median 2, 2, 1)
    assert.ok(found(() => 100, 5000) <= 6);
    assert.ok(found((d) => 100 + 2 * d, 6000) <= 6);
    assert.ok(found((d) => (d >= 9 ? 200 : 100), 7000) <= 6);
    // weekends at 0.6 (measured 196, 195, 175 of 200; the previous test 175, 178, 82)
    assert.ok(found((d) => 100 * wk(d), 8000) >= 185);
    assert.ok(found((d) => (100 + 2 * d) * wk(d), 9000) >= 185);
    assert.ok(found((d) => (d >= 11 ? 200 : 100) * wk(d), 9500) >= 160);
  });

  test('missing days: the fit uses the days there are and still recovers the trend', () => {
    const missing = [3, 4, 9, 15, 16, 17, 22];
    const f = fitOf(series(28, (d) => 20 + 0.5 * d, 0.02, 7, missing));
    assert.equal(f.n, 28 - missing.length);
    assert.deepEqual(f.changes, []);
    close(f.slope, 0.5, 0.12);
  });

  test('a step in the last days leaves "not enough history": no slope, flagged', () => {
    const f = fitOf(series(28, (d) => (d >= 24 ? 60 : 20), 0.03, 8));
    assert.equal(f.changes.length, 1);
    close(f.changes[0].day, 24, 1);
    assert.equal(f.enoughHistory, false);
    assert.equal(f.slope, 0);
    assert.equal(usableFit(f), false);
  });

  test('bands are ordered, widen with the horizon, and hold ~80 % of held-out weeks on honest noise', () => {
    const f = fitOf(series(21, (d) => 100 + d, 0.05, 9));
    const near = predictRate(f, 30, 30);
    const far = predictRate(f, 90, 30);
    for (const p of [near, far])
      assert.ok(p.lo95 <= p.lo80 && p.lo80 <= p.mean && p.mean <= p.hi80 && p.hi80 <= p.hi95);
    assert.ok(far.hi80 - far.lo80 > near.hi80 - near.lo80);
    // calibration: 300 seeded growth series with normal noise, weeks 4–6 after a 3-week fit
    let inside = 0;
    let total = 0;
    for (let s = 0; s < 300; s++) {
      const all = series(42, (d) => 100 + d, 0.05, 1000 + s);
      const fit = fitOf(all.slice(0, 21));
      for (let w = 0; w < 3; w++) {
        const week = Array.from({ length: 7 }, (_, k) => 22 + 7 * w + k);
        const actual = week.reduce((acc, d) => acc + all[d - 1][1], 0);
        const p = predictTotal(fit, week);
        if (actual >= p.lo80 && actual <= p.hi80) inside++;
        total++;
      }
    }
    const coverage = inside / total;
    assert.ok(coverage >= 0.72 && coverage <= 0.92, `80 % band coverage ${coverage}`);
  });

  test('deterministic and plain JSON (it travels in Temporal payloads)', () => {
    const pts = series(42, (d) => (d >= 7 ? 3 : 1) * (10 + d * 0.1), 0.1, 10);
    const a = fitDailySeries(pts);
    const b = fitDailySeries(pts);
    assert.deepEqual(a, b);
    assert.deepEqual(JSON.parse(JSON.stringify(a)), a);
  });
});

describe('forecast3Months', () => {
  test('flat cost and concurrency project flat and cross nothing', () => {
    const f = forecast3Months(
      days(
        28,
        () => 10,
        () => 4,
      ),
      config,
    );
    assert.equal(f.method, 'changepoint-theil-sen');
    assert.equal(f.lastDay, 28);
    assert.deepEqual(
      f.points.map((p) => p.day),
      [58, 88, 118],
    );
    for (const p of f.points) {
      close(p.monthlyCost, 300);
      close(p.peakConcurrency, 4);
      assert.equal(p.monthlyCostExceeds, false);
      assert.equal(p.concurrencyExceeds, false);
      assert.equal(p.monthlyCostLikelihood, 'very unlikely');
    }
    assert.equal(f.crossesTrigger, false);
    assert.deepEqual(f.crossings, []);
    close(f.currentMonthlyCost, 300);
  });

  test('a growing daily cost crosses $500/month within 3 months and says when, with its likelihood', () => {
    // daily cost = 10 + 0.2·day: at day 58 → 21.6/day → $648/month; at day 28 → $468
    const f = forecast3Months(
      days(
        28,
        (d) => 10 + 0.2 * d,
        () => 4,
      ),
      config,
    );
    close(f.cost?.slope, 0.2);
    close(f.currentMonthlyCost, (10 + 0.2 * 28) * 30);
    close(f.points[0].monthlyCost, (10 + 0.2 * 58) * 30, 1e-6);
    assert.equal(f.points[0].monthlyCostExceeds, true);
    assert.equal(f.crossesTrigger, true);
    assert.match(f.crossings[0], /monthly cost passes \$500 at \+1 month — very likely/);
  });

  test('a noisy series near the trigger: the crossing is stated as possible in the 80 % band', () => {
    // ~$420/month with 15 % day-to-day noise: the central forecast stays below $500, the band reaches it
    const cost = series(28, () => 14, 0.15, 12);
    const f = forecast3Months(
      cost.map(([d, v]) => ({ day: d, costDollars: v, peakConcurrency: 4 })),
      config,
    );
    const p = f.points[0];
    assert.equal(p.monthlyCostExceeds, false);
    assert.ok(p.monthlyCostBand && p.monthlyCostBand.hi80 > 500, `band ${JSON.stringify(p.monthlyCostBand)}`);
    assert.equal(p.monthlyCostLikelihood, 'possible');
    assert.match(f.crossings.join('\n'), /monthly cost passes \$500 at \+1 month in the 80 % band — possible/);
    assert.equal(f.crossesTrigger, false);
  });

  test('concurrency growing past 10 is flagged; exactly 10 is not a crossing', () => {
    // peak = 4 + 0.1·day → day 118 → 15.8 (crosses); at day 88 → 12.8
    const f = forecast3Months(
      days(
        28,
        () => 1,
        (d) => 4 + 0.1 * d,
      ),
      config,
    );
    assert.equal(f.points[2].concurrencyExceeds, true);
    const flat = forecast3Months(
      days(
        28,
        () => 1,
        () => 10,
      ),
      config,
    );
    assert.equal(flat.crossesTrigger, false);
  });

  test('a falling trend is clamped at zero, never negative', () => {
    const f = forecast3Months(
      days(
        14,
        (d) => 20 - d,
        () => 4,
      ),
      config,
    );
    for (const p of f.points) {
      assert.equal(p.monthlyCost, 0);
      assert.ok(p.monthlyCostBand && p.monthlyCostBand.lo95 >= 0);
    }
  });

  test('incomplete and missing days are left out of the fit', () => {
    const input = days(
      14,
      (d) => (d === 5 ? null : 10),
      () => 4,
    ).map((d) => (d.day === 7 ? { ...d, costDollars: 1000, complete: false } : d));
    const f = forecast3Months(input, config);
    assert.equal(f.cost?.n, 12);
    close(f.cost?.slope, 0);
  });

  test('without data there is no forecast, and no claim that nothing is crossed', () => {
    const f = forecast3Months(
      days(
        1,
        () => 10,
        () => 4,
      ),
      config,
    );
    assert.equal(f.cost, null);
    assert.equal(f.crossesTrigger, null);
    const none = forecast3Months([], config);
    assert.equal(none.lastDay, null);
    assert.equal(none.points.length, 0);
  });

  test('too short after the last change: "not enough history", no numbers, no claim', () => {
    // cost and concurrency both jump 4 days before the end
    const f = forecast3Months(
      days(
        28,
        (d) => (d >= 25 ? 40 : 10),
        (d) => (d >= 25 ? 14 : 5),
      ),
      config,
    );
    assert.equal(f.cost?.enoughHistory, false);
    assert.equal(f.points[0].monthlyCost, null);
    assert.equal(f.points[0].monthlyCostBand, null);
    assert.equal(f.points[0].peakConcurrency, null);
    assert.equal(f.crossesTrigger, null);
    assert.match(
      f.notes.join('\n'),
      /monthly cost: not enough history — the series changed for good on day 25 and has 4 days since \(7 needed\)/,
    );
  });

  test('the horizon follows config.forecast.months', () => {
    const f = forecast3Months(
      days(
        10,
        () => 1,
        () => 1,
      ),
      defaultValidationConfig({ forecast: { months: 6 } }),
    );
    assert.equal(f.points.length, 6);
  });

  test('crossingLikelihood reads the bands', () => {
    const p = { mean: 100, lo80: 80, hi80: 120, lo95: 70, hi95: 130 };
    assert.equal(crossingLikelihood(p, 75), 'very likely');
    assert.equal(crossingLikelihood(p, 90), 'likely');
    assert.equal(crossingLikelihood(p, 110), 'possible');
    assert.equal(crossingLikelihood(p, 125), 'unlikely');
    assert.equal(crossingLikelihood(p, 130), 'very unlikely');
  });
});

describe('issue 14: cost per operation steps from $0.020 to $0.075 on day 7, then flat, 6 weeks', () => {
  // ≈ 362.7 operations a day: $7.25 a day before the step, $27.20 (≈ $816 a month) after
  const opsPerDay = 816 / 30 / 0.075;
  const T0 = 1_790_000_000 - (1_790_000_000 % 86_400);
  const cfg = defaultValidationConfig({ weeks: 6, maxWeeks: 6 });

  function snapshot(n: number): DaySnapshot {
    const start = T0 + (n - 1) * 86_400;
    const costPerOp = n >= 7 ? 0.075 : 0.02;
    const ops = opsPerDay * (1 + 0.03 * Math.sin(n * 1.7));
    const hourly = Array.from({ length: 24 }, (_, h) => ({
      t: start + (h + 1) * 3600,
      opsPerMin: ops / 1440,
      costPerOp,
      p95Seconds: 1,
      errorRate: 0.01,
      peakConcurrency: 5,
      monthlyCost: ops * costPerOp * 30,
    }));
    return {
      day: n,
      start,
      end: start + 86_400,
      hourly,
      aggregates: {
        operations: ops,
        costDollars: ops * costPerOp,
        costPerOp,
        p50Seconds: 0.4,
        p95Seconds: 1,
        p99Seconds: 1.6,
        errorRate: 0.01,
        errorRateByCategory: { network: 0.006, timeout: 0.004, conflict: 0, auth: 0, rate_limit: 0, other: 0 },
        peakConcurrency: 5,
        throughputOpsPerMin: ops / 1440,
        peakThroughputOpsPerMin: ops / 600,
        operationDistribution: { pull: 0.6, push: 0.4 },
        poolHitRatio: null,
        rateLimitHeadroom: 0.8,
        rateLimitedOperations: 0,
        recoveryMeanSeconds: 3,
        recoveryP95Seconds: 6,
        monthlyCost: ops * costPerOp * 30,
      },
    };
  }
  const snaps = Array.from({ length: 42 }, (_, i) => snapshot(i + 1));
  const weeks = Array.from({ length: 6 }, (_, i) => summarizeWeek(snaps, i + 1, cfg));
  const forecast = forecast3Months(
    weeks.flatMap((w) => w.days),
    cfg,
  );

  test('forecast ≈ $816 a month at every horizon, inside a narrow band — not the least-squares slope', () => {
    assert.equal(forecast.cost?.changes.length, 1);
    assert.equal(forecast.cost?.changes[0].day, 7);
    assert.equal(forecast.cost?.slope, 0);
    for (const p of forecast.points) {
      close(p.monthlyCost, 816, 10);
      assert.ok(
        p.monthlyCostBand && p.monthlyCostBand.lo80 > 770 && p.monthlyCostBand.hi80 < 870,
        JSON.stringify(p.monthlyCostBand),
      );
      assert.ok(p.monthlyCostBand.lo95 <= p.monthlyCostBand.lo80 && p.monthlyCostBand.hi95 >= p.monthlyCostBand.hi80);
    }
    // the old method on the same days: a line through the step, ≥ $1,200 at +1 month and still rising
    const days2 = weeks.flatMap((w) => w.days).map((d) => [d.day, d.costDollars as number] as [number, number]);
    const ols = linearFit(days2);
    assert.ok(ols);
    assert.ok((ols.intercept + ols.slope * 72) * 30 > 1200);
    assert.ok((ols.intercept + ols.slope * 132) * 30 > 1800);
    assert.match(forecast.crossings[0], /monthly cost passes \$500 at \+1 month — very likely/);
  });

  test('the readiness report states method, inputs, bands and the crossing; the chart has shaded bands', () => {
    const r = renderValidationFinalReport({ weeks, config: cfg, decision: decide(weeks, cfg), forecast });
    assert.match(r.markdown, /\*\*How this forecast is made\.\*\*/);
    assert.match(
      r.markdown,
      /daily cost: lasting change on day 7 \(\$7\.\d\d a day → \$27\.\d\d a day\); the 36 days since day 7 are used/,
    );
    assert.match(
      r.markdown,
      /\| \+1 month \| 72 \| \$81\d\.\d\d \| \$\d{3} – \$\d{3} \| \$\d{3} – \$\d{3} \| yes \(very likely\) \|/,
    );
    assert.doesNotMatch(r.markdown, /ordinary least-squares/);
    const chart = r.charts.find((c) => c.title.startsWith('Monthly cost')) as ChartSpecWithBands | undefined;
    assert.ok(chart?.bands && chart.bands.length === 2);
    const svg = renderLineChartSvg(chart);
    assert.equal((svg.match(/<g class="band"/g) ?? []).length, 2);
    assert.match(svg, /fill-opacity="0.25"/);
    assert.match(svg, />80 % band</);
  });
});

describe('chart bands (lib/reports/svg.ts)', () => {
  test('a chart without bands draws none; a band with a null bound breaks', () => {
    const base = {
      title: 't',
      unit: '$',
      series: [
        {
          name: 'a',
          points: [
            [1, 1],
            [2, 2],
            [3, 3],
          ] as [number, number][],
        },
      ],
    };
    assert.doesNotMatch(renderLineChartSvg(base), /class="band"/);
    const svg = renderLineChartSvg({
      ...base,
      bands: [
        {
          name: 'b <x>',
          series: 'a',
          points: [
            [1, 0, 2],
            [2, 1, 3],
            [3, null, 4],
            [4, 2, 5],
            [5, 3, 6],
          ],
        },
      ],
    });
    assert.equal((svg.match(/<path d="M[^"]*Z" fill=/g) ?? []).length, 2);
    assert.match(svg, /data-band="b &lt;x&gt;"/);
  });
});
