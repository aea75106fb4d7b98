/**
 * The canary rollout's state rules (workflows/canary-rollout/state.ts) without a server: which
 * operator actions it takes and why it refuses the others (the Update validators and signal
 * handlers share these), hold time across pauses, when a stage may be left, and what a run hands
 * to the next.
 */
import { describe, expect, test } from '@jest/globals';
import type { AnalysisValues, CanaryStage } from '../../lib/canary/analysis.js';
import {
  accrue,
  apply,
  approved,
  beginRun,
  decide,
  held,
  initialState,
  nextRunState,
  planOf,
  recordAnalysis,
  recordGoNoGo,
  runStatus,
  type ActionName,
  type CanaryState,
} from '../../workflows/canary-rollout/state.js';

const T0 = Date.UTC(2026, 11, 1);
const STAGES: CanaryStage[] = [
  { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 60 },
  { name: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
];
const plan = planOf({ rolloutId: 'r1', stages: STAGES, analysisIntervalSeconds: 10 });

function applied(): CanaryState {
  const s = initialState('run-1', T0);
  s.stage.applied = true;
  s.stage.startedAt = T0;
  return s;
}

function reason(action: ActionName, s: CanaryState, payload: unknown): string | null {
  const d = decide(action, plan, s, payload);
  return d.ok ? null : `${d.refusal.kind}: ${d.refusal.reason}`;
}

const v = (value: number) => ({ kind: 'value', value }) as const;
const healthyValues: AnalysisValues = {
  errorRate: v(0.01),
  operations: v(100),
  p95PooledSeconds: v(0.2),
  p95SimpleSeconds: v(0.2),
  consistency: v(1),
};
const breaching: AnalysisValues = { ...healthyValues, errorRate: v(0.09) };
// a failed query (Prometheus down): inconclusive, pauses at once
const noData: AnalysisValues = {
  ...healthyValues,
  consistency: { kind: 'nodata', reason: 'Prometheus unreachable', failed: true },
};
const tooFew: AnalysisValues = { ...healthyValues, operations: v(2) };

describe('operator actions', () => {
  test('advance is taken for the current stage and refused for another, while paused, at the last stage or once rolling back', () => {
    const s = applied();
    expect(reason('advance', s, { stage: 'canary-10', actor: 'ops' })).toBeNull();
    expect(reason('advance', s, undefined)).toBeNull();
    expect(reason('advance', s, { stage: 'decommission' })).toBe(
      'refused: advance was for stage decommission, the rollout is at canary-10',
    );
    apply('pause', s, { reason: 'dashboards' }, T0 + 1_000);
    expect(reason('advance', s, {})).toBe('refused: the rollout is paused (dashboards); resume it first');
    const last = { ...applied(), stage: { ...applied().stage, index: 1 } };
    expect(reason('advance', last, {})).toBe(
      'refused: decommission is the last stage: nothing to advance to (the rollout completes when its hold ends)',
    );
    const rolling = applied();
    apply('rollback', rolling, { reason: 'stop' }, T0);
    expect(reason('advance', rolling, {})).toBe('refused: the rollout is rolling back');
  });

  test('pause and resume are refused when they would change nothing', () => {
    const s = applied();
    expect(reason('resume', s, {})).toBe('refused: the rollout is not paused');
    apply('pause', s, { reason: 'dashboards', actor: 'ops' }, T0);
    expect(s.paused).toEqual({ by: 'operator', reason: 'dashboards', actor: 'ops', since: new Date(T0).toISOString() });
    expect(reason('pause', s, {})).toMatch(/^refused: the rollout is already paused since .+ \(dashboards\)$/);
    expect(reason('resume', s, { actor: 'ops' })).toBeNull();
  });

  test('rollback needs a reason, and is refused once under way, done, or after completion', () => {
    const s = applied();
    expect(reason('rollback', s, {})).toBe('invalid: reason is required (the audit records why)');
    expect(reason('rollback', s, { reason: 'x'.repeat(501) })).toBe(
      'invalid: reason must be a string of at most 500 characters',
    );
    expect(reason('rollback', s, 'stop')).toBe('invalid: payload must be an object');
    expect(reason('rollback', s, { reason: 'stop' })).toBeNull();
    apply('rollback', s, { reason: 'stop' }, T0);
    expect(s.rollbackPending).toMatchObject({ source: 'rollback', reason: 'stop', actor: 'signal' });
    expect(reason('rollback', s, { reason: 'again' })).toBe('refused: a rollback is already under way or done');
    const done = { ...applied(), completed: true };
    expect(reason('rollback', done, { reason: 'late' })).toBe(
      'refused: the rollout has completed; use the kill switch (POST /v1/flags/kill)',
    );
    expect(reason('pause', done, {})).toBe('refused: the rollout has completed');
  });

  test('a malformed field is named', () => {
    const d = decide('advance', plan, applied(), { stage: 42 });
    expect(d).toEqual({
      ok: false,
      refusal: { kind: 'invalid', field: 'stage', reason: 'stage must be a string of at most 63 characters' },
    });
  });
});

describe('hold, approval and runs', () => {
  test('hold time stops while paused; the stage is held only with a healthy last analysis, then awaits approval', () => {
    const s = applied();
    accrue(s, T0 + 30_000);
    apply('pause', s, {}, T0 + 30_000);
    accrue(s, T0 + 90_000);
    expect(s.stage.heldMs).toBe(30_000);
    apply('resume', s, {}, T0 + 90_000);
    accrue(s, T0 + 120_000);
    expect(s.stage.heldMs).toBe(60_000);
    expect(held(plan, s)).toBe(false); // no analysis yet
    recordAnalysis(plan, s, breaching, T0 + 120_000, T0 + 120_000);
    expect(held(plan, s)).toBe(false);
    expect(runStatus(plan, s)).toBe('awaiting_advance');
    recordAnalysis(plan, s, healthyValues, T0 + 130_000, T0 + 130_000);
    expect(held(plan, s)).toBe(true);
    expect(approved(plan, s)).toBe(false);
    apply('advance', s, {}, T0 + 131_000);
    expect(approved(plan, s)).toBe(true);
  });

  test('two breaches in a row ask for a rollback; no data pauses with the reason', () => {
    const s = applied();
    expect(recordAnalysis(plan, s, breaching, T0, T0).action).toBe('continue');
    const second = recordAnalysis(plan, s, breaching, T0 + 10_000, T0 + 10_000);
    expect(second.action).toBe('rollback');
    expect(s.rollbackPending).toMatchObject({ source: 'auto', trigger: 'error_rate', actor: 'canary r1' });
    const p = applied();
    recordAnalysis(plan, p, noData, T0, T0);
    expect(p.paused?.by).toBe('inconclusive');
    expect(runStatus(plan, p)).toBe('paused');
  });

  test('the next run starts the next stage afresh, or goes on in the same one; hold time is counted from the run start', () => {
    const s = applied();
    s.stage.heldMs = 60_000;
    s.stage.advanceApproved = true;
    const next = nextRunState(s, true);
    expect(next.run).toBe(2);
    expect(next.stage).toMatchObject({ index: 1, applied: false, heldMs: 0, advanceApproved: false });
    const same = nextRunState(s, false);
    expect(same.stage).toBe(s.stage);
    const begun = beginRun(same, 'ignored', T0 + 500_000);
    expect(begun).toMatchObject({ executionKey: 'run-1', lastTickAt: T0 + 500_000, analysesThisRun: 0 });
    // the last stage needs no approval
    const last = { ...applied(), stage: { ...applied().stage, index: 1 } };
    expect(approved(plan, last)).toBe(true);
  });
});

describe('the seed-002 plan rules', () => {
  test('too little traffic widens the next window (doubling, capped) and pauses only after insufficientDataPauseSeconds', () => {
    const p2 = planOf({
      rolloutId: 'r1',
      stages: STAGES,
      analysisIntervalSeconds: 10,
      insufficientDataPauseSeconds: 60,
    });
    const s = applied();
    expect(recordAnalysis(p2, s, tooFew, T0 + 10_000, T0 + 10_000).action).toBe('widen');
    expect(s.stage.windowSeconds).toBe(20);
    expect(s.paused).toBeNull();
    expect(s.stage.lastStatus).toBe('insufficient');
    expect(held(p2, s)).toBe(false); // not enough data is never a healthy last analysis
    expect(recordAnalysis(p2, s, tooFew, T0 + 20_000, T0 + 20_000).action).toBe('widen');
    expect(s.stage.windowSeconds).toBe(40);
    // data short since T0 (the first window's start): 70 s ≥ 60 s → pause, naming why
    const last = recordAnalysis(p2, s, tooFew, T0 + 70_000, T0 + 70_000);
    expect(last.action).toBe('pause');
    expect(s.paused?.reason).toMatch(/not enough data for 70 s/);
    // enough data again: back to the plan's window, the streak of short data forgotten
    const s2 = applied();
    recordAnalysis(p2, s2, tooFew, T0 + 10_000, T0 + 10_000);
    expect(recordAnalysis(p2, s2, healthyValues, T0 + 20_000, T0 + 20_000).action).toBe('continue');
    expect(s2.stage.windowSeconds).toBeNull();
    expect(s2.stage.insufficientSince).toBeNull();
  });

  test('runs recorded before the rules (replay) keep the old ones: too few operations pass, empty answers pause', () => {
    const old = planOf({ rolloutId: 'r1', stages: STAGES, analysisIntervalSeconds: 10 }, false);
    const s = applied();
    expect(recordAnalysis(old, s, tooFew, T0, T0).action).toBe('continue');
    const empty: AnalysisValues = { ...healthyValues, consistency: { kind: 'nodata', reason: 'empty result' } };
    expect(recordAnalysis(old, s, empty, T0, T0).action).toBe('pause');
    expect(planOf({ rolloutId: 'r1' }, false).stages.map((x) => x.name)).toEqual([
      'shadow',
      'canary-10',
      'dual-write-50',
      'cutover-100',
      'decommission',
    ]);
  });

  test('a rollback trigger breached during the hot backup refuses the advance into decommission, naming it', () => {
    const s = applied(); // canary-10 with shadow: dual_write, a hot-backup stage
    recordAnalysis(plan, s, breaching, T0 + 10_000, T0 + 10_000);
    recordAnalysis(plan, s, healthyValues, T0 + 20_000, T0 + 20_000);
    expect(s.hotBackup).toMatchObject({ since: T0, analyses: 2, breachCount: 1 });
    expect(reason('advance', s, { actor: 'ops' })).toMatch(
      /refused: decommission refused: rollback_triggers: rollback trigger error_rate breached at .* in canary-10/,
    );
  });

  test('the go/no-go record says who approved, when, and on which analysis', () => {
    const s = applied();
    recordAnalysis(plan, s, healthyValues, T0 + 10_000, T0 + 10_000);
    apply('advance', s, { actor: 'api:ops-lead' }, T0 + 15_000);
    const rec = recordGoNoGo(plan, s, 'go', T0 + 60_000, 'held healthy');
    expect(rec).toMatchObject({
      stage: 'canary-10',
      mode: 'dual_write',
      next: 'decommission',
      decision: 'go',
      by: 'api:ops-lead',
      approvedAt: new Date(T0 + 15_000).toISOString(),
      at: new Date(T0 + 60_000).toISOString(),
      analysis: { at: new Date(T0 + 10_000).toISOString(), status: 'ok' },
    });
    expect(rec.analysis!.summary).toMatch(/error_rate ok/);
    expect(s.goNoGo).toHaveLength(1);
  });
});

describe('the latency floor after the cutover (canary-latency-floor)', () => {
  const HOT: CanaryStage[] = [
    { name: 'dual-write', mode: 'dual_write', percent: 50, shadow: true, holdSeconds: 60 },
    { name: 'cutover', mode: 'cutover', percent: 100, shadow: true, holdSeconds: 60 },
    { name: 'decommission', mode: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
  ];
  const input = { rolloutId: 'r1', stages: HOT, analysisIntervalSeconds: 10 };
  const at = (sec: number): number => T0 + sec * 1_000;
  // dual-write: both sides busy and about as fast
  const dualWrite: AnalysisValues = {
    ...healthyValues,
    p95PooledSeconds: v(3.2),
    p95SimpleSeconds: v(3.0),
    operationsSimple: v(100),
  };
  // the smoke run's first analysis after the cutover: approach 1 served 3 calls (P95 0.90 s)
  const firstAfterCutover: AnalysisValues = {
    ...healthyValues,
    p95PooledSeconds: v(3.95),
    p95SimpleSeconds: v(0.9),
    operationsSimple: v(3),
  };
  function cutoverAfterDualWrite(p: ReturnType<typeof planOf>): CanaryState {
    const s = applied();
    recordAnalysis(p, s, dualWrite, at(10), at(10));
    s.stage = { ...s.stage, index: 1 };
    recordAnalysis(p, s, firstAfterCutover, at(20), at(20));
    return s;
  }

  test('a few approach-1 calls right after the cutover are not a breach: the carried baseline judges, and decommission is not refused', () => {
    const p = planOf(input);
    const s = cutoverAfterDualWrite(p);
    const latency = s.recent.at(-1)!.triggers.find((t) => t.trigger === 'p95_latency')!;
    expect(latency).toMatchObject({ status: 'ok' });
    expect(latency.detail).toMatch(/3 approach-1 operations < 20: too few to judge.*carried approach-1 baseline 3 s/);
    expect(s.baselineP95Seconds).toBe(3.0); // the few calls' P95 does not become the baseline
    expect(s.hotBackup).toMatchObject({ analyses: 2, breachCount: 0 });
    expect(decide('advance', p, s, { actor: 'ops' }).ok).toBe(true);
  });

  test('a few slow approach-1 calls neither hide a latency regression nor reset its streak', () => {
    const p = planOf(input);
    const s = applied();
    const slow: AnalysisValues = { ...healthyValues, p95PooledSeconds: v(0.5), operationsSimple: v(100) };
    expect(recordAnalysis(p, s, slow, at(10), at(10)).action).toBe('continue');
    expect(s.stage.streaks.p95_latency).toBe(1);
    const fewSlowA1 = { ...slow, p95SimpleSeconds: v(1.0), operationsSimple: v(2) };
    const next = recordAnalysis(p, s, fewSlowA1, at(20), at(20));
    expect(next).toMatchObject({ action: 'rollback', trigger: 'p95_latency' });
  });

  test('too few approach-1 calls before any baseline: not enough data yet (the window widens), no breach', () => {
    const p = planOf(input);
    const s = applied();
    expect(recordAnalysis(p, s, firstAfterCutover, at(10), at(10)).action).toBe('widen');
    expect(s.stage.lastStatus).toBe('insufficient');
    expect(s.hotBackup).toMatchObject({ breachCount: 0 });
    expect(s.baselineP95Seconds).toBeNull();
  });

  test('runs recorded before the floor (replay) keep the old rule: the few calls breach and refuse decommission', () => {
    const old = planOf(input, true, true, true, false);
    const s = cutoverAfterDualWrite(old);
    expect(s.recent.at(-1)!.triggers.find((t) => t.trigger === 'p95_latency')).toMatchObject({ status: 'breach' });
    expect(s.baselineP95Seconds).toBe(0.9);
    expect(s.hotBackup).toMatchObject({ breachCount: 1 });
    const d = decide('advance', old, s, { actor: 'ops' });
    expect(d.ok ? null : d.refusal.reason).toMatch(
      /decommission refused: rollback_triggers: rollback trigger p95_latency/,
    );
  });
});

describe('Prometheus not answering (issue 12 fault 4): data gaps', () => {
  // one analysis every 10 s; Prometheus stopped for two of them (T0+20 s and T0+30 s)
  const at = (s: number): number => T0 + s * 1_000;
  // what the workflow records when the analyse activity failed (every query unanswered)
  const x = { kind: 'nodata', reason: 'PromUnavailable: connect ECONNREFUSED', failed: true } as const;
  const down: AnalysisValues = {
    errorRate: x,
    operations: x,
    p95PooledSeconds: x,
    p95SimpleSeconds: x,
    consistency: x,
  };
  function through(p: typeof plan, s: CanaryState, steps: [number, AnalysisValues][]): string[] {
    return steps.map(([t, values]) => {
      accrue(s, at(t));
      return recordAnalysis(p, s, values, at(t), at(t)).action;
    });
  }

  test('two analyses without an answer: paused, neither advanced nor rolled back; the next one that judges closes the gap and lifts its pause', () => {
    const s = applied();
    expect(
      through(plan, s, [
        [10, healthyValues],
        [20, down],
        [30, down],
      ]),
    ).toEqual(['continue', 'pause', 'pause']);
    expect(runStatus(plan, s)).toBe('paused');
    expect(s.rollbackPending).toBeNull();
    expect(s.stage.heldMs).toBe(20_000); // nothing held while Prometheus was away
    expect(s.dataGaps).toEqual([
      expect.objectContaining({ since: new Date(at(20)).toISOString(), until: null, analyses: 2, resumed: false }),
    ]);
    expect(s.dataGaps![0]!.reason).toMatch(/no data for .*PromUnavailable/);
    expect(through(plan, s, [[40, healthyValues]])).toEqual(['continue']);
    expect(s.paused).toBeNull();
    expect(runStatus(plan, s)).toBe('running');
    expect(s.dataGaps).toEqual([
      expect.objectContaining({ until: new Date(at(40)).toISOString(), analyses: 2, resumed: true }),
    ]);
    accrue(s, at(50));
    expect(s.stage.heldMs).toBe(30_000); // held again from the analysis that judged
    expect(s.stage.streaks).toEqual({ error_rate: 0, p95_latency: 0, consistency: 0 });
  });

  test('a gap neither counts as a breach nor forgets one: breach, gap, breach rolls back at the second breach', () => {
    const s = applied();
    expect(
      through(plan, s, [
        [10, breaching],
        [20, down],
        [30, down],
        [40, breaching],
      ]),
    ).toEqual(['continue', 'pause', 'pause', 'rollback']);
    expect(s.rollbackPending).toMatchObject({ source: 'auto', trigger: 'error_rate' });
    expect(s.dataGaps?.[0]).toMatchObject({ analyses: 2, until: new Date(at(40)).toISOString() });
  });

  test('too little data after the gap keeps the pause (the widening rule decides); an operator’s pause is never lifted by data', () => {
    const s = applied();
    expect(
      through(plan, s, [
        [10, down],
        [20, tooFew],
      ]),
    ).toEqual(['pause', 'widen']);
    expect(runStatus(plan, s)).toBe('paused');
    expect(s.dataGaps?.[0]).toMatchObject({ until: null, analyses: 2 });
    through(plan, s, [[30, healthyValues]]);
    expect(runStatus(plan, s)).toBe('running');
    expect(s.dataGaps?.[0]).toMatchObject({ until: new Date(at(30)).toISOString(), analyses: 2, resumed: true });

    const o = applied();
    apply('pause', o, { reason: 'dashboards', actor: 'ops' }, at(5));
    through(plan, o, [
      [10, down],
      [20, healthyValues],
    ]);
    expect(o.paused).toMatchObject({ by: 'operator', reason: 'dashboards' });
    expect(o.dataGaps?.[0]).toMatchObject({ resumed: false, until: new Date(at(20)).toISOString() });
  });

  test('runs recorded before data gaps (replay) keep the pause until resumed', () => {
    const old = planOf({ rolloutId: 'r1', stages: STAGES, analysisIntervalSeconds: 10 }, true, true, false);
    const s = applied();
    through(old, s, [
      [10, down],
      [20, healthyValues],
    ]);
    expect(runStatus(old, s)).toBe('paused');
    expect(s.dataGaps).toBeUndefined();
  });
});
