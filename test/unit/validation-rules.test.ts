import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { defaultValidationConfig, type ValidationConfig } from '../../lib/config/validation.js';
import {
  summarizeWeek,
  evaluateTrigger,
  compareWeeks,
  decide,
  evaluateWeekGoals,
  goalsChecklist,
  forecast3Months,
  isDayComplete,
  TRIGGER_NAMES,
  emptyHour,
  type DaySnapshot,
  type HourlyPoint,
  type WeekSummary,
  type TriggerName,
} from '../../lib/validation/index.js';

const config = defaultValidationConfig();
const T0 = 1_700_000_000 - (1_700_000_000 % 86_400);

/** A healthy hour: well inside every trigger. */
const HEALTHY: Omit<HourlyPoint, 't'> = {
  opsPerMin: 20,
  costPerOp: 0.01,
  p95Seconds: 1,
  errorRate: 0.01,
  peakConcurrency: 4,
  monthlyCost: 100,
};

interface DayOpts {
  /** per-hour override (hour 0..23) */
  hour?: (h: number) => Partial<Omit<HourlyPoint, 't'>> | null;
  /** overrides of the day aggregates */
  agg?: Partial<DaySnapshot['aggregates']>;
}

function makeDay(day: number, o: DayOpts = {}, c: ValidationConfig = config): DaySnapshot {
  const start = T0 + (day - 1) * c.dayLengthSeconds;
  const hourly: HourlyPoint[] = [];
  const n = c.dayLengthSeconds / c.resolutionSeconds;
  for (let h = 0; h < n; h++) {
    const over = o.hour ? o.hour(h) : {};
    const t = start + (h + 1) * c.resolutionSeconds;
    hourly.push(over === null ? emptyHour(t) : { t, ...HEALTHY, ...over });
  }
  const withData = hourly.filter((p) => p.opsPerMin !== null);
  const mean = (k: keyof Omit<HourlyPoint, 't'>): number | null => {
    const v = withData.map((p) => p[k]).filter((x): x is number => x !== null);
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : null;
  };
  const ops = withData.reduce((s, p) => s + (p.opsPerMin ?? 0) * 60, 0);
  return {
    day,
    start,
    end: start + c.dayLengthSeconds,
    hourly,
    aggregates: {
      operations: withData.length ? ops : null,
      costDollars: withData.length ? ops * (mean('costPerOp') ?? 0) : null,
      costPerOp: mean('costPerOp'),
      p50Seconds: (mean('p95Seconds') ?? 0) / 2 || null,
      p95Seconds: mean('p95Seconds'),
      p99Seconds: (mean('p95Seconds') ?? 0) * 1.5 || null,
      errorRate: mean('errorRate'),
      errorRateByCategory: { network: mean('errorRate'), timeout: 0, conflict: 0, auth: 0, rate_limit: 0, other: 0 },
      peakConcurrency: withData.length ? Math.max(...withData.map((p) => p.peakConcurrency ?? 0)) : null,
      throughputOpsPerMin: mean('opsPerMin'),
      peakThroughputOpsPerMin: mean('opsPerMin'),
      operationDistribution: withData.length ? { pull: 0.5, push: 0.3, clone: 0.2 } : null,
      poolHitRatio: null,
      rateLimitHeadroom: 0.9,
      rateLimitedOperations: 0,
      recoveryMeanSeconds: 4,
      recoveryP95Seconds: 8,
      monthlyCost: mean('monthlyCost'),
      ...o.agg,
    },
  };
}

type WeekOpts = DayOpts & { skipDays?: number[]; dayOpts?: (dayInWeek: number) => DayOpts };

function makeWeek(week: number, o: WeekOpts = {}, c: ValidationConfig = config): WeekSummary {
  const days: DaySnapshot[] = [];
  for (let i = 0; i < c.daysPerWeek; i++) {
    const dayNo = (week - 1) * c.daysPerWeek + i + 1;
    if (o.skipDays?.includes(dayNo)) continue;
    days.push(makeDay(dayNo, o.dayOpts ? o.dayOpts(i) : o, c));
  }
  return summarizeWeek(days, week, c);
}

function weeks(n: number, per: (w: number) => WeekOpts = () => ({}), c: ValidationConfig = config): WeekSummary[] {
  return Array.from({ length: n }, (_, i) => makeWeek(i + 1, per(i + 1), c));
}

const FIELD: Record<TriggerName, keyof Omit<HourlyPoint, 't'>> = {
  concurrency: 'peakConcurrency',
  costPerOp: 'costPerOp',
  p95Latency: 'p95Seconds',
  errorRate: 'errorRate',
  monthlyCost: 'monthlyCost',
  throughput: 'opsPerMin',
};
const THRESHOLD: Record<TriggerName, number> = {
  concurrency: 10,
  costPerOp: 0.05,
  p95Latency: 2,
  errorRate: 0.05,
  monthlyCost: 500,
  throughput: 100,
};

function hoursAt(field: keyof Omit<HourlyPoint, 't'>, value: number, count: number): HourlyPoint[] {
  return Array.from({ length: 168 }, (_, i) => ({
    t: T0 + (i + 1) * 3600,
    ...HEALTHY,
    ...(i < count ? { [field]: value } : {}),
  }));
}

describe('triggers on hourly points', () => {
  for (const name of TRIGGER_NAMES) {
    const field = FIELD[name];
    const thr = THRESHOLD[name];
    const justOver = thr * 1.001;
    const cases: [string, number, number, 'exceeded' | 'ok'][] = [
      ['exactly at the threshold for every hour is not a breach', thr, 168, 'ok'],
      ['just over the threshold for 3 hours is exceeded', justOver, 3, 'exceeded'],
      ['just over the threshold for 2 hours (below minBreachHours) is not', justOver, 2, 'ok'],
      ['far over the threshold for 1 hour is not', thr * 10, 1, 'ok'],
    ];
    for (const [what, value, count, want] of cases) {
      test(`${name}: ${what}`, () => {
        const r = evaluateTrigger(name, hoursAt(field, value, count), 168, true, config);
        assert.equal(r.status, want);
        assert.equal(r.threshold, thr);
        assert.equal(r.breachHours, value > thr ? count : 0);
      });
    }
  }

  test('a trigger not exceeded in a week with missing data is no_data, never ok', () => {
    const r = evaluateTrigger('p95Latency', hoursAt('p95Seconds', 1, 0).slice(24), 168, false, config);
    assert.equal(r.status, 'no_data');
    assert.equal(r.hoursWithData, 144);
  });

  test('a breach observed in a week with missing data still counts as exceeded', () => {
    const r = evaluateTrigger('concurrency', hoursAt('peakConcurrency', 12, 5).slice(0, 100), 168, false, config);
    assert.equal(r.status, 'exceeded');
    assert.equal(r.max, 12);
  });

  test('null hours are not read as zero: the maximum comes from hours with data', () => {
    const pts = hoursAt('peakConcurrency', 3, 168).map((p, i) => (i % 2 ? { ...p, peakConcurrency: null } : p));
    const r = evaluateTrigger('concurrency', pts, 168, true, config);
    assert.equal(r.hoursWithData, 84);
    assert.equal(r.max, 3);
  });

  test('minBreachHours comes from the config', () => {
    const c = defaultValidationConfig({ breach: { minBreachHours: 1 } });
    assert.equal(evaluateTrigger('concurrency', hoursAt('peakConcurrency', 11, 1), 168, true, c).status, 'exceeded');
  });
});

describe('summarizeWeek', () => {
  test('cost per operation is total cost over total operations, not a mean of daily ratios', () => {
    const w = makeWeek(1, {
      dayOpts: (i) =>
        i === 0
          ? { hour: () => ({ opsPerMin: 100, costPerOp: 0.02 }) }
          : { hour: () => ({ opsPerMin: 10, costPerOp: 0.01 }) },
    });
    const expected = (100 * 60 * 24 * 0.02 + 6 * 10 * 60 * 24 * 0.01) / (100 * 60 * 24 + 6 * 10 * 60 * 24);
    assert.ok(Math.abs((w.costPerOp as number) - expected) < 1e-12);
  });

  test('P95 is the median of the daily values, so one bad day does not move it', () => {
    const w = makeWeek(1, { dayOpts: (i) => (i === 3 ? { hour: () => ({ p95Seconds: 9 }) } : {}) });
    assert.equal(w.p95Seconds, 1);
    assert.equal(w.maxP99Seconds, 13.5);
  });

  test('error rate is weighted by operations', () => {
    const w = makeWeek(1, {
      dayOpts: (i) =>
        i === 0
          ? { hour: () => ({ opsPerMin: 60, errorRate: 0.1 }) }
          : { hour: () => ({ opsPerMin: 10, errorRate: 0 }) },
    });
    assert.ok(Math.abs((w.errorRate as number) - (60 * 0.1) / (60 + 60)) < 1e-12);
  });

  test('a day without a snapshot is missing and makes the week incomplete', () => {
    const w = makeWeek(1, { skipDays: [3] });
    assert.deepEqual(w.missingDays, [3]);
    assert.equal(w.complete, false);
    assert.ok(w.triggers.every((t) => t.status === 'no_data'));
  });

  test('a day below 90% hourly coverage is missing; at exactly 90% it counts', () => {
    const c = defaultValidationConfig({ dayLengthSeconds: 36_000 }); // 10 hourly points: 9 = 90 %
    assert.equal(isDayComplete(makeDay(1, { hour: (h) => (h === 0 ? null : {}) }, c), c), true);
    assert.equal(isDayComplete(makeDay(1, { hour: (h) => (h < 2 ? null : {}) }, c), c), false);
  });

  test('a day without a single operation counts as missing (no cost per operation)', () => {
    const w = makeWeek(1, { dayOpts: (i) => (i === 1 ? { agg: { costPerOp: null } } : {}) });
    assert.deepEqual(w.missingDays, [2]);
  });

  test('the peak concurrency and its hour of day are identified', () => {
    const w = makeWeek(1, {
      dayOpts: (i) => (i === 2 ? { hour: (h) => (h === 14 ? { peakConcurrency: 9 } : {}) } : {}),
    });
    assert.equal(w.peakConcurrency, 9);
    assert.equal(w.peakConcurrencyHourOfDay, 14);
    assert.equal(w.peakConcurrencyAt, T0 + 2 * 86_400 + 15 * 3600);
  });

  test('consecutive hours above the error-rate trigger are reported as a cascade', () => {
    const w = makeWeek(1, {
      dayOpts: (i) =>
        i === 0 ? { hour: (h) => (h >= 3 && h <= 5 ? { errorRate: 0.2 } : h === 9 ? { errorRate: 0.3 } : {}) } : {},
    });
    assert.equal(w.cascades.length, 1);
    assert.equal(w.cascades[0].hours, 3);
    assert.equal(w.cascades[0].peakErrorRate, 0.2);
  });

  test('snapshots of other weeks are ignored', () => {
    const days = [makeDay(1), makeDay(8), makeDay(9)];
    const w = summarizeWeek(days, 2, config);
    assert.deepEqual(
      w.days.map((d) => d.day),
      [8, 9],
    );
    assert.deepEqual(w.missingDays, [10, 11, 12, 13, 14]);
  });
});

describe('week-over-week stability', () => {
  const base = makeWeek(1);
  const cases: [string, Partial<WeekSummary>, Partial<WeekSummary>, 'stable' | 'unstable', string][] = [
    ['cost/op exactly +10% is stable', { costPerOp: 0.05 }, { costPerOp: 0.055 }, 'stable', 'costPerOp'],
    ['cost/op exactly -10% is stable', { costPerOp: 0.05 }, { costPerOp: 0.045 }, 'stable', 'costPerOp'],
    ['cost/op +10.5% is unstable', { costPerOp: 0.05 }, { costPerOp: 0.05525 }, 'unstable', 'costPerOp'],
    ['P95 exactly +20% is stable', { p95Seconds: 1 }, { p95Seconds: 1.2 }, 'stable', 'p95Latency'],
    ['P95 +21% is unstable', { p95Seconds: 1 }, { p95Seconds: 1.21 }, 'unstable', 'p95Latency'],
    ['error rate +2 points (1% → 3%) is stable', { errorRate: 0.01 }, { errorRate: 0.03 }, 'stable', 'errorRate'],
    ['error rate +2.1 points is unstable', { errorRate: 0.01 }, { errorRate: 0.031 }, 'unstable', 'errorRate'],
    ['error rate -2 points is stable', { errorRate: 0.04 }, { errorRate: 0.02 }, 'stable', 'errorRate'],
    [
      'peak concurrency 4 → 6 (±2 operations) is stable',
      { peakConcurrency: 4 },
      { peakConcurrency: 6 },
      'stable',
      'peakConcurrency',
    ],
    [
      'peak concurrency 4 → 7 is unstable',
      { peakConcurrency: 4 },
      { peakConcurrency: 7 },
      'unstable',
      'peakConcurrency',
    ],
    [
      'peak concurrency 20 → 25 (+25%) is stable',
      { peakConcurrency: 20 },
      { peakConcurrency: 25 },
      'stable',
      'peakConcurrency',
    ],
    [
      'peak concurrency 20 → 26 is unstable',
      { peakConcurrency: 20 },
      { peakConcurrency: 26 },
      'unstable',
      'peakConcurrency',
    ],
  ];
  for (const [what, prev, cur, want, metric] of cases) {
    test(what, () => {
      const r = compareWeeks({ ...base, ...prev }, { ...base, week: 2, ...cur }, config);
      assert.equal(r.checks.find((c) => c.metric === metric)?.status, want);
      assert.equal(r.stable, want === 'stable');
    });
  }

  test('a metric without data makes stability inconclusive (null), not stable', () => {
    const r = compareWeeks(base, { ...base, week: 2, costPerOp: null }, config);
    assert.equal(r.stable, null);
    assert.equal(r.checks.find((c) => c.metric === 'costPerOp')?.status, 'no_data');
  });

  test('an unstable metric wins over a missing one', () => {
    const r = compareWeeks(base, { ...base, week: 2, costPerOp: null, p95Seconds: 5 }, config);
    assert.equal(r.stable, false);
  });
});

describe('decide', () => {
  const conc = (v: number): WeekOpts => ({ hour: (h) => (h >= 12 && h < 15 ? { peakConcurrency: v } : {}) });
  const p95Spike: WeekOpts = { hour: (h) => (h >= 10 && h < 14 ? { p95Seconds: 3 } : {}) };

  test('before the minimum of 2 weeks there is no decision', () => {
    const r = decide(weeks(1), config);
    assert.equal(r.decision, 'CONTINUE');
    assert.equal(r.provisional, undefined);
    assert.equal(decide([], config).decision, 'CONTINUE');
  });

  test('healthy and stable for 4 weeks → STAY, complete', () => {
    const r = decide(weeks(4), config);
    assert.equal(r.decision, 'STAY');
    assert.equal(r.incomplete, false);
    assert.equal(r.forced, false);
    assert.equal(r.stability?.stable, true);
  });

  test('healthy at weeks 2 and 3 → CONTINUE until the planned week, with a provisional STAY', () => {
    for (const n of [2, 3]) {
      const r = decide(weeks(n), config);
      assert.equal(r.decision, 'CONTINUE');
      assert.equal(r.provisional, 'STAY');
    }
  });

  test('a trigger exceeded in one week only (spike) is not MIGRATE', () => {
    const r = decide(
      weeks(4, (w) => (w === 2 ? p95Spike : {})),
      config,
    );
    assert.equal(r.decision, 'STAY');
    assert.equal(r.sustained.length, 0);
    assert.equal(r.triggersTable.rows.find((row) => row.trigger === 'p95Latency')?.cells[1].status, 'exceeded');
  });

  test('a trigger exceeded in 2 consecutive weeks → MIGRATE as soon as it is seen', () => {
    const r = decide(
      weeks(3, (w) => (w >= 2 ? conc(12) : {})),
      config,
    );
    assert.equal(r.decision, 'MIGRATE');
    assert.deepEqual(r.sustained, [{ trigger: 'concurrency', weeks: [2, 3] }]);
    assert.match(r.reasons[0], /Concurrency.*weeks 2 and 3/);
  });

  test('with migrateEarly off, a sustained breach waits for the planned week', () => {
    const c = defaultValidationConfig({ migrateEarly: false });
    const early = decide(
      weeks(3, (w) => (w >= 2 ? conc(12) : {}), c),
      c,
    );
    assert.equal(early.decision, 'CONTINUE');
    assert.equal(early.provisional, 'MIGRATE');
    assert.equal(
      decide(
        weeks(4, (w) => (w >= 2 ? conc(12) : {}), c),
        c,
      ).decision,
      'MIGRATE',
    );
  });

  test('breaches in weeks 1 and 3 (not consecutive) are not MIGRATE', () => {
    const r = decide(
      weeks(5, (w) => (w === 1 || w === 3 ? conc(12) : {})),
      config,
    );
    assert.deepEqual(r.sustained, []);
    assert.equal(r.decision, 'STAY');
  });

  test('a trigger exceeded in the latest week only → EXTEND (spike or start of a sustained breach?)', () => {
    const r = decide(
      weeks(4, (w) => (w === 4 ? p95Spike : {})),
      config,
    );
    assert.equal(r.decision, 'EXTEND');
    assert.ok(r.reasons.some((x) => /week 4 only/.test(x)));
    assert.equal(
      decide(
        weeks(5, (w) => (w >= 4 ? p95Spike : {})),
        config,
      ).decision,
      'MIGRATE',
    );
  });

  test('a missing day in the latest week is inconclusive → EXTEND, never STAY', () => {
    const r = decide(
      weeks(4, (w) => (w === 4 ? { skipDays: [24] } : {})),
      config,
    );
    assert.equal(r.decision, 'EXTEND');
    assert.equal(r.incomplete, true);
    assert.ok(r.reasons.some((x) => /day 24/.test(x)));
  });

  test('a missing day next to an exceeded week could hide a sustained breach → EXTEND', () => {
    const r = decide(
      weeks(4, (w) => (w === 2 ? { skipDays: [10] } : w === 3 ? conc(12) : {})),
      config,
    );
    assert.equal(r.decision, 'EXTEND');
    assert.ok(r.reasons.some((x) => /could hide a sustained breach/.test(x)));
  });

  test('a missing day that no reading could turn into a sustained breach → STAY, flagged incomplete', () => {
    const r = decide(
      weeks(4, (w) => (w === 2 ? { skipDays: [10] } : {})),
      config,
    );
    assert.equal(r.decision, 'STAY');
    assert.equal(r.incomplete, true);
    assert.ok(r.reasons.some((x) => /day 10/.test(x)));
  });

  test('seed 000 "inconclusive → EXTEND": 4 of 7 days of week 3 missing → EXTEND at week 4 naming the days; STAY at week 5 with a complete window', () => {
    const gappy = (w: number): WeekOpts => (w === 3 ? { skipDays: [16, 17, 18, 19] } : {});
    const at4 = decide(weeks(4, gappy), config);
    assert.equal(at4.decision, 'EXTEND');
    assert.ok(
      at4.reasons.some((x) =>
        /4 days of the decision window \(weeks 3 and 4\) are missing, more than the 2 allowed: week 3 days 16, 17, 18, 19/.test(
          x,
        ),
      ),
      at4.reasons.join(' | '),
    );
    const at5 = decide(weeks(5, gappy), config);
    assert.equal(at5.decision, 'STAY');
    assert.equal(at5.incomplete, true, 'the old gap is still reported');
    // up to the configured number of missing days, the window still decides
    const two = decide(
      weeks(4, (w) => (w === 3 ? { skipDays: [16, 17] } : {})),
      config,
    );
    assert.equal(two.decision, 'STAY');
    const strict = defaultValidationConfig({ maxMissingDecisionDays: 1 });
    assert.equal(
      decide(
        weeks(4, (w) => (w === 3 ? { skipDays: [16, 17] } : {}), strict),
        strict,
      ).decision,
      'EXTEND',
    );
  });

  test('unstable cost at the planned week → EXTEND, then a forced decision at week 6 flagged incomplete', () => {
    const cost = (w: number): WeekOpts => ({ hour: () => ({ costPerOp: w % 2 ? 0.01 : 0.02 }) });
    const at4 = decide(weeks(4, cost), config);
    assert.equal(at4.decision, 'EXTEND');
    assert.ok(at4.reasons.some((x) => /Cost per operation unstable/.test(x)));
    assert.equal(decide(weeks(5, cost), config).decision, 'EXTEND');
    const at6 = decide(weeks(6, cost), config);
    assert.equal(at6.decision, 'STAY');
    assert.equal(at6.incomplete, true);
    assert.equal(at6.forced, true);
    assert.ok(at6.reasons.some((x) => /last allowed/.test(x)));
  });

  test('missing data at week 6 forces a decision flagged incomplete', () => {
    const r = decide(
      weeks(6, (w) => (w === 6 ? { skipDays: [40] } : {})),
      config,
    );
    assert.equal(r.decision, 'STAY');
    assert.equal(r.incomplete, true);
  });

  test('a sustained breach still wins at the forced week', () => {
    const r = decide(
      weeks(6, (w) => (w >= 5 ? conc(15) : { skipDays: [w * 7] })),
      config,
    );
    assert.equal(r.decision, 'MIGRATE');
    assert.equal(r.incomplete, true);
  });

  test('decideNow (force) before the minimum decides with what there is, flagged incomplete', () => {
    const r = decide(weeks(1), config, { force: true });
    assert.equal(r.decision, 'STAY');
    assert.equal(r.incomplete, true);
    assert.equal(r.forced, true);
  });

  test('the triggers table has every trigger for every week, missing weeks as no_data', () => {
    const ws = weeks(3).filter((w) => w.week !== 2);
    const r = decide(ws, config);
    assert.deepEqual(r.triggersTable.weeks, [1, 2, 3]);
    assert.equal(r.triggersTable.rows.length, 6);
    for (const row of r.triggersTable.rows) assert.equal(row.cells[1].status, 'no_data');
    assert.equal(r.decision, 'CONTINUE');
    assert.equal(r.provisional, 'EXTEND');
  });
});

describe('weekly goals (seed 000 weeks 1–4)', () => {
  test('week 1 baseline: healthy week meets every check', () => {
    const g = evaluateWeekGoals(weeks(1), 1, config);
    assert.equal(g.kind, 'baseline');
    assert.equal(g.met, true, JSON.stringify(g.checks));
  });

  test('week 1: error rate exactly 2% is not below 2%', () => {
    const g = evaluateWeekGoals(
      weeks(1, () => ({ hour: () => ({ errorRate: 0.02 }) })),
      1,
      config,
    );
    assert.equal(g.checks.find((c) => c.id === 'error-rate')?.status, 'not_met');
    const ok = evaluateWeekGoals(
      weeks(1, () => ({ hour: () => ({ errorRate: 0.0199 }) })),
      1,
      config,
    );
    assert.equal(ok.checks.find((c) => c.id === 'error-rate')?.status, 'met');
  });

  test('week 1: a day with cost/op 15% off the median breaks baseline stability', () => {
    const g = evaluateWeekGoals(
      weeks(1, () => ({ dayOpts: (i) => (i === 2 ? { hour: () => ({ costPerOp: 0.0115 }) } : {}) })),
      1,
      config,
    );
    assert.equal(g.checks.find((c) => c.id === 'cost-stable')?.status, 'not_met');
    assert.equal(g.met, false);
  });

  test('week 1: rate-limited operations are a resource exhaustion event', () => {
    const g = evaluateWeekGoals(
      weeks(1, () => ({ agg: { rateLimitedOperations: 3 } })),
      1,
      config,
    );
    assert.equal(g.checks.find((c) => c.id === 'no-exhaustion')?.status, 'not_met');
  });

  test('week 2: headroom exactly 50% is not above 50%; pool data absent is no_data, not met', () => {
    const at = evaluateWeekGoals(
      weeks(2, () => ({ agg: { rateLimitHeadroom: 0.5 } })),
      2,
      config,
    );
    assert.equal(at.checks.find((c) => c.id === 'headroom')?.status, 'not_met');
    const over = evaluateWeekGoals(
      weeks(2, () => ({ agg: { rateLimitHeadroom: 0.51 } })),
      2,
      config,
    );
    assert.equal(over.checks.find((c) => c.id === 'headroom')?.status, 'met');
    assert.equal(over.checks.find((c) => c.id === 'cache-hit')?.status, 'no_data');
    assert.equal(over.met, null);
  });

  test('week 3: uncategorised failures and a timeout below 2× P99 fail the goal', () => {
    const g = evaluateWeekGoals(
      weeks(3, () => ({
        agg: {
          errorRateByCategory: { network: 0.005, timeout: 0, conflict: 0, auth: 0, rate_limit: 0, other: 0.005 },
          p99Seconds: 70,
        },
      })),
      3,
      config,
    );
    assert.equal(g.checks.find((c) => c.id === 'categorised')?.status, 'not_met');
    assert.equal(g.checks.find((c) => c.id === 'timeouts')?.status, 'not_met');
    const ok = evaluateWeekGoals(
      weeks(3, () => ({ agg: { p99Seconds: 60 } })),
      3,
      config,
    );
    assert.equal(ok.checks.find((c) => c.id === 'timeouts')?.status, 'met');
    assert.equal(ok.checks.find((c) => c.id === 'categorised')?.status, 'met');
  });

  test('week 3: cascades cannot be ruled out with missing days', () => {
    const g = evaluateWeekGoals(
      weeks(3, (w) => (w === 3 ? { skipDays: [17] } : {})),
      3,
      config,
    );
    assert.equal(g.checks.find((c) => c.id === 'cascades')?.status, 'no_data');
  });

  test('week 4 readiness: trend and forecast need a forecast; gaps flag metrics near a trigger', () => {
    const ws = weeks(4, (w) => (w === 4 ? { hour: () => ({ peakConcurrency: 9 }) } : {}));
    const without = evaluateWeekGoals(ws, 4, config, null);
    assert.equal(without.checks.find((c) => c.id === 'forecast')?.status, 'no_data');
    const fc = forecast3Months(
      ws.flatMap((w) => w.days),
      config,
    );
    const g = evaluateWeekGoals(ws, 4, config, fc);
    assert.equal(g.checks.find((c) => c.id === 'forecast')?.status, 'met');
    assert.match(g.checks.find((c) => c.id === 'gaps')?.detail ?? '', /Concurrency/);
  });

  test('week 4 gap analysis lists an exceeded trigger even when most hours are low', () => {
    const ws = weeks(4, (w) => (w === 4 ? { hour: (h) => (h === 14 ? { peakConcurrency: 12 } : {}) } : {}));
    const g = evaluateWeekGoals(ws, 4, config, null);
    assert.match(g.checks.find((c) => c.id === 'gaps')?.detail ?? '', /Concurrency.*exceeded in 7 h/);
    const calm = evaluateWeekGoals(weeks(4), 4, config, null);
    assert.match(calm.checks.find((c) => c.id === 'gaps')?.detail ?? '', /no metric within 20% of its trigger/);
  });

  test('weeks 5 and 6 repeat the load and failure checks', () => {
    const g = evaluateWeekGoals(weeks(5), 5, config);
    assert.equal(g.kind, 'extended');
    assert.ok(g.checks.some((c) => c.id === 'headroom') && g.checks.some((c) => c.id === 'timeouts'));
  });

  test('a week without a summary is no_data in the checklist', () => {
    const list = goalsChecklist(
      weeks(3).filter((w) => w.week !== 2),
      config,
    );
    assert.equal(list.length, 3);
    assert.equal(list[1].met, null);
  });
});
