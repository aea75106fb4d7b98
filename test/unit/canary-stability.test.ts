/**
 * "Stable" before decommission (seed 002 "after 2 weeks stable", seed 004's success criteria):
 * every criterion must hold over the hot-backup period, and the refusal names the failing one.
 */
import { describe, expect, test } from '@jest/globals';
import type { Reading } from '../../lib/canary/analysis.js';
import { DEFAULT_STABILITY, NO_HOT_BACKUP, evaluateStability } from '../../lib/canary/stability.js';

const v = (value: number): Reading => ({ kind: 'value', value });
const good = { p90PushSeconds: v(3.2), poolReuse: v(0.93), errorRate: v(0.002) };
const hot = { ...NO_HOT_BACKUP, since: 0, analyses: 4032 };
const WEEKS_2 = 14 * 86_400;

describe('evaluateStability', () => {
  test('P90 push < 10 s, pool reuse > 80 %, error rate < 1 % and no trigger breached: stable', () => {
    const r = evaluateStability(good, DEFAULT_STABILITY, hot, WEEKS_2);
    expect(r.stable).toBe(true);
    expect(r.failing).toBeNull();
    expect(r.checks.map((c) => c.criterion)).toEqual(['p90_push', 'pool_reuse', 'error_rate', 'rollback_triggers']);
  });

  test.each([
    ['p90_push', { p90PushSeconds: v(10) }, /p90_push: approach-2 P90 push 10 s ≥ 10 s/],
    ['pool_reuse', { poolReuse: v(0.8) }, /pool_reuse: pool reuse 80.0% ≤ 80.0%/],
    ['error_rate', { errorRate: v(0.01) }, /error_rate: approach-2 error rate 1.0% ≥ 1.0%/],
    [
      'no data',
      { poolReuse: { kind: 'nodata', reason: 'empty result' } as Reading },
      /pool_reuse: no data for pool reuse/,
    ],
  ])('refused on %s, naming the criterion', (_n, over, why) => {
    const r = evaluateStability({ ...good, ...over }, DEFAULT_STABILITY, hot, WEEKS_2);
    expect(r.stable).toBe(false);
    expect(r.failing).toMatch(why);
  });

  test('a rollback trigger breached once in the hot-backup period is not stable', () => {
    const breached = {
      ...hot,
      breachCount: 1,
      breaches: [
        {
          trigger: 'consistency' as const,
          stage: 'cutover',
          at: '2026-12-20T10:00:00.000Z',
          detail: 'consistency 99.1% < 99.990%',
        },
      ],
    };
    const r = evaluateStability(good, DEFAULT_STABILITY, breached, WEEKS_2);
    expect(r.stable).toBe(false);
    expect(r.failing).toMatch(
      /rollback_triggers: rollback trigger consistency breached at 2026-12-20T10:00:00.000Z in cutover/,
    );
  });
});

describe('hot-backup warmth (approach 1 ready during cutover)', () => {
  const warm = { warm: true, ms: 40, detail: 'served', at: '2026-12-01T00:00:00.000Z' };
  test('with the warmth criterion: never probed, or cold once, is not stable; warm throughout is', () => {
    const opts = { warmth: true };
    const never = evaluateStability(good, DEFAULT_STABILITY, hot, WEEKS_2, opts);
    expect(never.failing).toMatch(/^hot_backup_warm: approach 1 was never probed/);
    const allWarm = { ...hot, warmth: { probes: 12, cold: 0, firstCold: null, last: warm } };
    const ok = evaluateStability(good, DEFAULT_STABILITY, allWarm, WEEKS_2, opts);
    expect(ok.stable).toBe(true);
    expect(ok.checks.at(-1)).toMatchObject({ criterion: 'hot_backup_warm', ok: true });
    const coldOnce = {
      ...hot,
      warmth: {
        probes: 12,
        cold: 2,
        firstCold: { at: '2026-11-30T10:00:00.000Z', stage: 'cutover', detail: 'quota exhausted' },
        last: warm,
      },
    };
    const r = evaluateStability(good, DEFAULT_STABILITY, coldOnce, WEEKS_2, opts);
    expect(r.stable).toBe(false);
    expect(r.failing).toBe(
      'hot_backup_warm: approach 1 was cold at 2026-11-30T10:00:00.000Z in cutover (quota exhausted), 2 of 12 probes cold',
    );
  });

  test('without it (runs replayed from before the probe) the verdict is what it was', () => {
    expect(evaluateStability(good, DEFAULT_STABILITY, hot, WEEKS_2).checks).toHaveLength(4);
    expect(evaluateStability(good, DEFAULT_STABILITY, hot, WEEKS_2).stable).toBe(true);
  });
});
