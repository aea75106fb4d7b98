import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { defaultValidationConfig } from '../../lib/config/validation.js';
import { forecast3Months, linearFit, type ForecastDay } from '../../lib/validation/forecast.js';

const config = defaultValidationConfig();
const close = (a: number | null, b: number, eps = 1e-9): void => {
  assert.ok(a !== null && Math.abs(a - b) < eps, `${a} ≉ ${b}`);
};

function days(n: number, cost: (d: number) => number | null, conc: (d: number) => number | null): ForecastDay[] {
  return Array.from({ length: n }, (_, i) => ({ day: i + 1, costDollars: cost(i + 1), peakConcurrency: conc(i + 1) }));
}

describe('linearFit (ordinary least squares)', () => {
  test('recovers an exact line with r² = 1', () => {
    const f = linearFit([[1, 5], [2, 7], [3, 9], [4, 11]]);
    assert.ok(f);
    close(f.slope, 2);
    close(f.intercept, 3);
    close(f.r2, 1);
    assert.equal(f.n, 4);
  });

  test('fits the least-squares line through noisy points', () => {
    // x̄ = ȳ = 2.5, Sxy = 3, Sxx = 5 → slope 0.6, intercept 2.5 - 0.6·2.5 = 1
    const f = linearFit([[1, 2], [2, 1], [3, 4], [4, 3]]);
    assert.ok(f);
    close(f.slope, 0.6);
    close(f.intercept, 1);
    assert.ok((f.r2 as number) > 0 && (f.r2 as number) < 1);
  });

  test('needs two distinct x values', () => {
    assert.equal(linearFit([[1, 2]]), null);
    assert.equal(linearFit([[1, 2], [1, 3]]), null);
    assert.equal(linearFit([]), null);
  });

  test('a flat series has slope 0 and no r²', () => {
    const f = linearFit([[1, 4], [2, 4], [3, 4]]);
    assert.ok(f);
    close(f.slope, 0);
    assert.equal(f.r2, null);
  });
});

describe('forecast3Months', () => {
  test('flat cost and concurrency project flat and cross nothing', () => {
    const f = forecast3Months(days(28, () => 10, () => 4), config);
    assert.equal(f.method, 'ols-linear');
    assert.equal(f.lastDay, 28);
    assert.deepEqual(f.points.map((p) => p.day), [58, 88, 118]);
    for (const p of f.points) {
      close(p.monthlyCost, 300);
      close(p.peakConcurrency, 4);
      assert.equal(p.monthlyCostExceeds, false);
      assert.equal(p.concurrencyExceeds, false);
    }
    assert.equal(f.crossesTrigger, false);
    close(f.currentMonthlyCost, 300);
  });

  test('a growing daily cost crosses $500/month within 3 months and says when', () => {
    // daily cost = 10 + 0.2·day: at day 58 → 21.6/day → $648/month; at day 28 → $468
    const f = forecast3Months(days(28, (d) => 10 + 0.2 * d, () => 4), config);
    close(f.cost?.slope ?? null, 0.2);
    close(f.currentMonthlyCost, (10 + 0.2 * 28) * 30);
    close(f.points[0].monthlyCost, (10 + 0.2 * 58) * 30);
    assert.equal(f.points[0].monthlyCostExceeds, true);
    assert.equal(f.crossesTrigger, true);
    assert.match(f.crossings[0], /monthly cost passes \$500 at \+1 month/);
  });

  test('concurrency growing past 10 is flagged; exactly 10 is not a crossing', () => {
    // peak = 4 + 0.1·day → day 118 → 15.8 (crosses); at day 88 → 12.8
    const f = forecast3Months(days(28, () => 1, (d) => 4 + 0.1 * d), config);
    assert.equal(f.points[2].concurrencyExceeds, true);
    // peak = 10 exactly at every projected point is not above the trigger
    const flat = forecast3Months(days(28, () => 1, () => 10), config);
    assert.equal(flat.crossesTrigger, false);
  });

  test('a falling trend is clamped at zero, never negative', () => {
    const f = forecast3Months(days(14, (d) => 20 - d, () => 4), config);
    for (const p of f.points) assert.equal(p.monthlyCost, 0);
  });

  test('incomplete and missing days are left out of the fit', () => {
    const input = days(14, (d) => (d === 5 ? null : 10), () => 4).map((d) => (d.day === 7 ? { ...d, costDollars: 1000, complete: false } : d));
    const f = forecast3Months(input, config);
    assert.equal(f.cost?.n, 12);
    close(f.cost?.slope ?? null, 0);
  });

  test('without data there is no forecast, and no claim that nothing is crossed', () => {
    const f = forecast3Months(days(1, () => 10, () => 4), config);
    assert.equal(f.cost, null);
    assert.equal(f.crossesTrigger, null);
    const none = forecast3Months([], config);
    assert.equal(none.lastDay, null);
    assert.equal(none.points.length, 0);
  });

  test('the horizon follows config.forecast.months', () => {
    const f = forecast3Months(days(10, () => 1, () => 1), defaultValidationConfig({ forecast: { months: 6 } }));
    assert.equal(f.points.length, 6);
  });
});
