import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  DEFAULT_STAGES,
  DEFAULT_THRESHOLDS,
  NO_STREAKS,
  evaluateAnalysis,
  nextState,
  stageFlags,
  stageMode,
  type AnalysisValues,
  type Reading,
} from '../../lib/canary/analysis.js';
import { adminOnlyField } from '../../lib/canary/bounds.js';
import { judgeDrill, renderDrillReport, type FlipResult, type LoadSummary } from '../../lib/canary/drill.js';
import { canaryConfigSchema } from '../../lib/config/canary.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';

const v = (value: number): Reading => ({ kind: 'value', value });
const none: Reading = { kind: 'nodata', reason: 'empty result' };

function values(o: Partial<AnalysisValues> = {}): AnalysisValues {
  return {
    errorRate: v(0.01),
    operations: v(500),
    p95PooledSeconds: v(0.3),
    p95SimpleSeconds: v(0.25),
    consistency: v(1),
    ...o,
  };
}

const status = (vals: AnalysisValues, baseline?: number | null) =>
  Object.fromEntries(
    evaluateAnalysis(vals, DEFAULT_THRESHOLDS, { baselineP95Seconds: baseline }).triggers.map((t) => [
      t.trigger,
      t.status,
    ]),
  );

describe('evaluateAnalysis', () => {
  test('healthy numbers pass every trigger', () => {
    const v1 = evaluateAnalysis(values(), DEFAULT_THRESHOLDS);
    assert.equal(v1.status, 'ok');
    assert.deepEqual(status(values()), { error_rate: 'ok', p95_latency: 'ok', consistency: 'ok' });
  });

  test('error rate breaches strictly above 5%, and not below 20 approach-2 operations', () => {
    assert.equal(status(values({ errorRate: v(0.05) })).error_rate, 'ok');
    assert.equal(status(values({ errorRate: v(0.0501) })).error_rate, 'breach');
    assert.equal(status(values({ errorRate: v(0.5), operations: v(19) })).error_rate, 'ok');
    assert.equal(status(values({ errorRate: v(0.5), operations: v(20) })).error_rate, 'breach');
  });

  test('P95 breaches above 2x approach 1 over the same window, else against the carried baseline', () => {
    assert.equal(status(values({ p95PooledSeconds: v(0.5), p95SimpleSeconds: v(0.25) })).p95_latency, 'ok');
    assert.equal(status(values({ p95PooledSeconds: v(0.51), p95SimpleSeconds: v(0.25) })).p95_latency, 'breach');
    // approach 1 silent this window (100% stage): judged against the last measured baseline
    assert.equal(status(values({ p95PooledSeconds: v(0.9), p95SimpleSeconds: none }), 0.4).p95_latency, 'breach');
    assert.equal(status(values({ p95PooledSeconds: v(0.7), p95SimpleSeconds: none }), 0.4).p95_latency, 'ok');
    assert.equal(status(values({ p95SimpleSeconds: none }), null).p95_latency, 'nodata');
    const carried = evaluateAnalysis(values({ p95SimpleSeconds: none }), DEFAULT_THRESHOLDS, {
      baselineP95Seconds: 0.25,
    });
    assert.match(carried.triggers.find((t) => t.trigger === 'p95_latency')!.detail, /carried/);
  });

  test('consistency breaches below 99.99%', () => {
    assert.equal(status(values({ consistency: v(0.9999) })).consistency, 'ok');
    assert.equal(status(values({ consistency: v(0.9998) })).consistency, 'breach');
  });

  test('no data is nodata, never a pass, and makes the analysis inconclusive', () => {
    const a = evaluateAnalysis(values({ errorRate: none, operations: none }), DEFAULT_THRESHOLDS);
    assert.equal(a.status, 'inconclusive');
    assert.equal(a.triggers.find((t) => t.trigger === 'error_rate')!.status, 'nodata');
    assert.equal(evaluateAnalysis(values({ consistency: none }), DEFAULT_THRESHOLDS).status, 'inconclusive');
    // a breach elsewhere outranks missing data
    assert.equal(
      evaluateAnalysis(values({ consistency: none, errorRate: v(0.2) }), DEFAULT_THRESHOLDS).status,
      'breach',
    );
  });
});

describe('not enough data yet (issue 10 item 2)', () => {
  const opts = { insufficient: true };
  const failed: Reading = { kind: 'nodata', reason: 'Prometheus unreachable', failed: true };

  test('too few approach-2 operations, or an empty answer, is insufficient — not a pass and not a pause', () => {
    const few = evaluateAnalysis(values({ errorRate: v(0.5), operations: v(3) }), DEFAULT_THRESHOLDS, opts);
    assert.equal(few.status, 'insufficient');
    assert.equal(few.triggers.find((t) => t.trigger === 'error_rate')!.status, 'insufficient');
    assert.match(few.triggers.find((t) => t.trigger === 'error_rate')!.detail, /not enough data yet/);
    const empty = evaluateAnalysis(
      values({ errorRate: none, operations: none, p95PooledSeconds: none }),
      DEFAULT_THRESHOLDS,
      opts,
    );
    assert.equal(empty.status, 'insufficient');
    // a failed query is still inconclusive (the rollout pauses at once)
    assert.equal(evaluateAnalysis(values({ consistency: failed }), DEFAULT_THRESHOLDS, opts).status, 'inconclusive');
    // a breach still outranks it
    assert.equal(
      evaluateAnalysis(values({ operations: v(3), consistency: v(0.9) }), DEFAULT_THRESHOLDS, opts).status,
      'breach',
    );
  });

  test('insufficient widens the next window, and pauses only once data stayed short for the configured time', () => {
    const few = evaluateAnalysis(values({ operations: v(3) }), DEFAULT_THRESHOLDS, opts);
    assert.equal(nextState(NO_STREAKS, few, 2, { ms: 60_000, pauseAfterMs: 1_800_000 }).action, 'widen');
    const p = nextState(NO_STREAKS, few, 2, { ms: 1_800_000, pauseAfterMs: 1_800_000 });
    assert.equal(p.action, 'pause');
    assert.ok(p.action === 'pause' && /not enough data for 1800 s/.test(p.reason));
  });
});

describe('latency floor: a P95 over too few operations is not a ratio (canary-latency-floor)', () => {
  // the clean-clone smoke run's first analysis after the cutover: approach 1 served a handful of
  // calls in the window (P95 0.90 s) against approach 2's 3.95 s — 4.39×, a breach without the floor
  const afterCutover = (simpleOps: number, o: Partial<AnalysisValues> = {}): AnalysisValues =>
    values({ p95PooledSeconds: v(3.95), p95SimpleSeconds: v(0.9), operationsSimple: v(simpleOps), ...o });
  const floor = { insufficient: true, latencyFloor: true };
  const latency = (vals: AnalysisValues, o: Parameters<typeof evaluateAnalysis>[2], t = DEFAULT_THRESHOLDS) =>
    evaluateAnalysis(vals, t, o).triggers.find((x) => x.trigger === 'p95_latency')!;

  test('few approach-1 operations and no baseline yet: too few to judge — neither a breach nor a pass', () => {
    const a = evaluateAnalysis(afterCutover(4), DEFAULT_THRESHOLDS, floor);
    const l = a.triggers.find((x) => x.trigger === 'p95_latency')!;
    assert.equal(l.status, 'insufficient');
    assert.equal(l.value, null);
    assert.match(l.detail, /4 approach-1 operations < 20: too few to judge/);
    assert.equal(a.status, 'insufficient');
    // it neither extends a latency streak nor resets it
    assert.deepEqual(nextState({ ...NO_STREAKS, p95_latency: 1 }, a, 2).streaks.p95_latency, 1);
  });

  test('few approach-1 operations with a carried baseline: judged against the baseline, not the few calls', () => {
    const ok = latency(afterCutover(4), { ...floor, baselineP95Seconds: 3.1 });
    assert.equal(ok.status, 'ok');
    assert.match(ok.detail, /carried approach-1 baseline 3\.10 s/);
    assert.match(ok.detail, /4 approach-1 operations < 20/);
    // a real regression against the baseline still breaches
    assert.equal(latency(afterCutover(4), { ...floor, baselineP95Seconds: 1.5 }).status, 'breach');
  });

  test('enough approach-1 operations: the ratio over the same window judges, and 4.39× breaches', () => {
    const l = latency(afterCutover(20), floor);
    assert.equal(l.status, 'breach');
    assert.ok(Math.abs(l.value! - 3.95 / 0.9) < 1e-9);
    assert.equal(latency(afterCutover(20, { p95PooledSeconds: v(1.8) }), floor).status, 'ok');
  });

  test("raising the floor makes a rollback less likely: admin work; lowering it is an operator's call", () => {
    const plan = {
      stages: DEFAULT_STAGES,
      thresholds: DEFAULT_THRESHOLDS,
      consecutiveBreaches: 2,
      autoAdvance: false,
      analysisIntervalSeconds: 300,
    };
    assert.equal(
      adminOnlyField({ thresholds: { minLatencyOperations: 21 } }, plan)?.field,
      'thresholds.minLatencyOperations',
    );
    assert.equal(adminOnlyField({ thresholds: { minLatencyOperations: 5 } }, plan), null);
  });

  test('the floor is its own threshold (minLatencyOperations), and approach 2 needs it too', () => {
    const t = { ...DEFAULT_THRESHOLDS, minLatencyOperations: 5 };
    assert.equal(latency(afterCutover(4), floor, t).status, 'insufficient');
    assert.equal(latency(afterCutover(5), floor, t).status, 'breach');
    // approach 2 above the error-rate floor but below the latency floor: the error rate judges, latency cannot
    const few2 = evaluateAnalysis(
      afterCutover(100, { operations: v(12) }),
      { ...DEFAULT_THRESHOLDS, minOperations: 10 },
      floor,
    );
    assert.equal(few2.triggers.find((x) => x.trigger === 'error_rate')!.status, 'ok');
    const l = few2.triggers.find((x) => x.trigger === 'p95_latency')!;
    assert.equal(l.status, 'insufficient');
    assert.match(l.detail, /12 approach-2 operations < 20: too few to judge/);
  });

  test('approach 1 silent keeps the carried baseline; its count query failing is no data; a count not known judges as before', () => {
    const silent = afterCutover(0, { p95SimpleSeconds: none, p95PooledSeconds: v(0.5) });
    assert.equal(latency(silent, { ...floor, baselineP95Seconds: 0.4 }).status, 'ok');
    const failed: Reading = { kind: 'nodata', reason: 'Prometheus unreachable', failed: true };
    assert.equal(latency(afterCutover(0, { operationsSimple: failed }), floor).status, 'nodata');
    // not read (a worker without the query) or not answered (queries overridden for another service's metrics)
    assert.equal(latency(values({ p95PooledSeconds: v(3.95), p95SimpleSeconds: v(0.9) }), floor).status, 'breach');
    assert.equal(latency(afterCutover(0, { operationsSimple: none }), floor).status, 'breach');
  });

  test('runs recorded before the floor (replay) keep judging the few calls: 4.39× breaches', () => {
    assert.equal(latency(afterCutover(4), { insufficient: true }).status, 'breach');
    assert.equal(latency(afterCutover(4), { insufficient: true, baselineP95Seconds: 3.1 }).status, 'breach');
  });
});

describe('nextState', () => {
  const bad = evaluateAnalysis(values({ errorRate: v(0.09) }), DEFAULT_THRESHOLDS);
  const good = evaluateAnalysis(values(), DEFAULT_THRESHOLDS);
  const blind = evaluateAnalysis(values({ errorRate: none }), DEFAULT_THRESHOLDS);

  test('rolls back when a trigger breaches in 2 consecutive analyses, not after 1', () => {
    const first = nextState(NO_STREAKS, bad, 2);
    assert.equal(first.action, 'continue');
    assert.equal(first.streaks.error_rate, 1);
    const second = nextState(first.streaks, bad, 2);
    assert.equal(second.action, 'rollback');
    assert.ok(second.action === 'rollback' && second.trigger === 'error_rate' && /2 consecutive/.test(second.reason));
  });

  test('a healthy analysis in between resets the streak', () => {
    let s = nextState(NO_STREAKS, bad, 2).streaks;
    s = nextState(s, good, 2).streaks;
    assert.equal(nextState(s, bad, 2).action, 'continue');
  });

  test('no data pauses with the reason and leaves a streak as it was', () => {
    const s = nextState(NO_STREAKS, bad, 2).streaks;
    const p = nextState(s, blind, 2);
    assert.equal(p.action, 'pause');
    assert.ok(p.action === 'pause' && /inconclusive.*error_rate/.test(p.reason));
    assert.equal(p.streaks.error_rate, 1);
    assert.equal(nextState(p.streaks, bad, 2).action, 'rollback');
  });
});

describe('canary config and queries', () => {
  test('defaults are the seed-002 plan: week 1 shadow 10% read-only, week 2 dual-write 50%, week 3 cutover 100% with hot backup, then decommission', () => {
    const c = canaryConfigSchema.parse(undefined);
    assert.deepEqual(
      c.stages.map((s) => [s.name, s.mode, s.percent, s.shadow, s.holdSeconds / 86_400]),
      [
        ['shadow', 'shadow', 10, true, 7],
        ['dual-write', 'dual_write', 50, true, 7],
        ['cutover', 'cutover', 100, true, 7],
        ['decommission', 'decommission', 100, false, 0],
      ],
    );
    // what the flags serve: nobody from approach 2 in shadow (approach 1 answers, approach 2 runs
    // beside for 10 % of agents); dual-write and cutover keep both sides for every agent
    assert.deepEqual(DEFAULT_STAGES.map(stageFlags), [
      { percent: 0, shadow: true, shadowPercent: 10 },
      { percent: 50, shadow: true, shadowPercent: 100 },
      { percent: 100, shadow: true, shadowPercent: 100 },
      { percent: 100, shadow: false, shadowPercent: 0 },
    ]);
    assert.equal(c.stages[0]!.shadowPercent, 10);
    assert.equal(
      DEFAULT_STAGES.reduce((n, s) => n + s.holdSeconds, 0),
      21 * 86_400,
    );
    assert.deepEqual(c.stability, { p90PushSeconds: 10, poolReuse: 0.8, errorRate: 0.01 });
    assert.equal(c.scrapeIntervalSeconds, 5);
    assert.equal(c.analysisIntervalSeconds, 300);
    assert.equal(c.consecutiveBreaches, 2);
    assert.equal(c.autoAdvance, false);
    assert.deepEqual(c.thresholds, {
      errorRate: 0.05,
      minOperations: 20,
      minLatencyOperations: 20,
      p95Ratio: 2,
      consistency: 0.9999,
    });
    assert.equal(canaryConfigSchema.safeParse({ thresholds: { minLatencyOperations: -1 } }).success, false);
    assert.equal(canaryConfigSchema.safeParse({ thresholds: { minLatencyOperations: 2.5 } }).success, false);
  });

  test('plans without modes keep working: the mode is derived from percent and shadow, and writes the same flags', () => {
    const old = [
      { name: 'shadow', percent: 0, shadow: true, holdSeconds: 1 },
      { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 1 },
      { name: 'cutover-100', percent: 100, shadow: true, holdSeconds: 1 },
      { name: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
    ];
    assert.equal(canaryConfigSchema.safeParse({ stages: old }).success, true);
    assert.deepEqual(old.map(stageMode), ['shadow', 'dual_write', 'cutover', 'decommission']);
    assert.deepEqual(
      old.map(stageFlags),
      // a shadow stage without a share shadows every agent, as before the share existed
      old.map((s) => ({ percent: s.percent, shadow: s.shadow, shadowPercent: s.shadow ? 100 : 0 })),
    );
    assert.equal(stageMode({ percent: 30, shadow: false }), null);
  });

  test('modes follow the seed order; cutover and decommission are 100%, decommission last, shadow matching', () => {
    const bad = (stages: unknown[]) => {
      const r = canaryConfigSchema.safeParse({ stages });
      return r.success ? null : r.error.issues[0]!.message;
    };
    const st = (mode: string, percent: number, shadow = mode !== 'decommission') => ({
      name: mode.replace('_', '-'),
      mode,
      percent,
      shadow,
      holdSeconds: 1,
    });
    assert.equal(bad([st('shadow', 10), st('dual_write', 50), st('cutover', 100), st('decommission', 100)]), null);
    assert.match(bad([st('dual_write', 50), st('shadow', 50)])!, /modes follow/);
    assert.match(bad([st('cutover', 50)])!, /100%/);
    assert.match(bad([st('decommission', 100), { ...st('cutover', 100), name: 'x' }])!, /last stage/);
    assert.match(bad([st('dual_write', 50, false)])!, /shadow: true/);
  });

  test('an analysis interval shorter than two scrape intervals is refused, naming the scrape interval', () => {
    const r = canaryConfigSchema.safeParse({ analysisIntervalSeconds: 5 });
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0]!.message, /scrape interval 5 s/);
    assert.equal(canaryConfigSchema.safeParse({ analysisIntervalSeconds: 10 }).success, true);
    assert.equal(canaryConfigSchema.safeParse({ analysisIntervalSeconds: 5, scrapeIntervalSeconds: 1 }).success, true);
  });

  test('rejects duplicate stage names and bad flag names', () => {
    assert.equal(
      canaryConfigSchema.safeParse({
        stages: [
          { name: 'a', percent: 1, shadow: false, holdSeconds: 1 },
          { name: 'a', percent: 2, shadow: false, holdSeconds: 1 },
        ],
      }).success,
      false,
    );
    assert.equal(
      canaryConfigSchema.safeParse({
        stages: [{ name: 'a', percent: 1, shadow: false, holdSeconds: 1, operations: ['push'] }],
      }).success,
      false,
    );
  });

  test('the error-rate query leaves conflicts and client errors out like the alert rule, and every query has a $window', () => {
    assert.match(DEFAULT_QUERIES['canary.error_rate']!, /error_category!~"conflict\|client"/);
    // the latency floor counts approach 1's operations the way canary.operations counts approach 2's
    assert.equal(
      DEFAULT_QUERIES['canary.operations_simple'],
      DEFAULT_QUERIES['canary.operations']!.replace('approach="pooled"', 'approach="simple"'),
    );
    for (const name of [
      'canary.error_rate',
      'canary.operations',
      'canary.p95_pooled_seconds',
      'canary.p95_simple_seconds',
      'canary.operations_simple',
      'canary.consistency',
    ]) {
      assert.match(DEFAULT_QUERIES[name]!, /\$window/, name);
    }
  });
});

describe('judgeDrill', () => {
  const flip = (o: Partial<FlipResult> = {}): FlipResult => ({
    flip: 1,
    direction: 'off',
    changeId: 'c',
    version: 2,
    switched: true,
    durationMs: 12,
    processes: 2,
    missing: [],
    changed: 8,
    ...o,
  });
  const load: LoadSummary = {
    agents: 10,
    ticks: 5,
    decisions: 400,
    pooled: 20,
    simple: 380,
    versionsSeen: 2,
    flapping: 0,
    pooledWhileOff: 0,
  };
  const clean = { leakedLocks: [], leakedLockCount: 0, stuckSandboxes: [], stuckSandboxCount: 0 };

  test('passes when every flip switched within the bound and nothing leaked', () => {
    assert.deepEqual(judgeDrill([flip(), flip({ flip: 2, direction: 'on' })], load, clean, 1000), {
      verdict: 'pass',
      failures: [],
    });
  });

  test('fails on a slow flip, a missing process, a leaked lock or a stuck sandbox, naming each', () => {
    const j = judgeDrill(
      [flip({ durationMs: 1500 }), flip({ flip: 2, switched: false, durationMs: null, missing: ['p9'] })],
      load,
      { ...clean, leakedLockCount: 1, stuckSandboxCount: 2 },
      1000,
    );
    assert.equal(j.verdict, 'fail');
    assert.equal(j.failures.length, 4);
    assert.match(j.failures.join('\n'), /1500\.0 ms[\s\S]*p9[\s\S]*lock[\s\S]*2 sandbox/);
    assert.match(
      renderDrillReport({
        drillId: 'd',
        startedAt: 'a',
        finishedAt: 'b',
        flipEverySeconds: 30,
        durationSeconds: 300,
        switchBoundMs: 1000,
        flips: [flip()],
        load,
        invariants: clean,
        judgement: j,
        restored: true,
      }),
      /# Rollback drill d: FAIL/,
    );
  });
});
