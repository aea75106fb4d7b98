/**
 * The lifecycle `npm start` walks (issue 11 item 1), its pure parts: which phases `--phases`
 * selects and in what order, what each phase's end counts as, the summary table, and the `demo:`
 * key of temporal.yaml (defaults, and errors naming the field).
 */
import { describe, expect, test } from '@jest/globals';
import { ConfigError, parseConfig } from '../../lib/config/index.js';
import {
  LIFECYCLE_PHASES,
  OUTCOME_WIDTH,
  baselineOutcome,
  canaryOutcome,
  driftOutcome,
  formatDuration,
  lifecycleOk,
  selectPhases,
  summaryTable,
  validationOutcome,
  type PhaseRecord,
} from '../../lib/lifecycle/plan.js';

const all = [...LIFECYCLE_PHASES];

describe('selectPhases', () => {
  test('without --phases runs the configured phases in the seeds order', () => {
    expect(selectPhases(undefined, all)).toEqual(['validation', 'canary', 'baseline', 'drift']);
    expect(selectPhases(undefined, ['drift', 'validation'])).toEqual(['validation', 'drift']);
  });

  test('--phases picks a subset, in the seeds order whatever order it is written in, each once', () => {
    expect(selectPhases('validation,canary', all)).toEqual(['validation', 'canary']);
    expect(selectPhases(' drift , canary,canary', all)).toEqual(['canary', 'drift']);
    // the option may name a phase the configured list leaves out: it is an explicit choice
    expect(selectPhases('baseline', ['validation'])).toEqual(['baseline']);
  });

  test('an unknown or empty --phases is an error naming the phases there are', () => {
    expect(() => selectPhases('validation,rollout', all)).toThrow(
      '--phases: unknown phase "rollout"; the phases are validation, canary, baseline, drift',
    );
    expect(() => selectPhases(' , ', all)).toThrow(/--phases: name at least one of validation, canary/);
  });
});

describe('phase outcomes', () => {
  test('a validation period is expected to end with a decision, whichever', () => {
    expect(
      validationOutcome('backtest', { decision: 'MIGRATE', week: 5, incomplete: false, reasons: [] }, 'COMPLETED'),
    ).toEqual({
      outcome: 'backtest MIGRATE at week 5',
      expected: true,
    });
    expect(
      validationOutcome('live', { decision: 'STAY', week: 2, incomplete: true, reasons: [] }, 'COMPLETED'),
    ).toEqual({
      outcome: 'live STAY at week 2 (incomplete data)',
      expected: true,
    });
    expect(validationOutcome('live', null, 'FAILED')).toEqual({
      outcome: 'live ended FAILED without a decision',
      expected: false,
    });
  });

  test('a canary is expected to complete; a rollback is reported with its stage and reason', () => {
    expect(
      canaryOutcome(
        { status: 'completed', stage: { name: 'decommission', percent: 100 }, rollback: null },
        'COMPLETED',
      ),
    ).toEqual({
      outcome: 'completed at decommission (100% on approach 2)',
      expected: true,
    });
    expect(
      canaryOutcome(
        {
          status: 'rolled_back',
          stage: { name: 'shadow', percent: 0 },
          rollback: { stage: 'shadow', source: 'auto', reason: 'consistency breached in 2 consecutive analyses' },
        },
        'COMPLETED',
      ),
    ).toEqual({
      outcome: 'rolled back at shadow (auto): consistency breached in 2 consecutive analyses',
      expected: false,
    });
    expect(canaryOutcome(null, 'TERMINATED').expected).toBe(false);
  });

  test('a baseline is expected to complete with its archive; GO or NO-GO is reported, a trip is not expected', () => {
    const base = { reason: null, reportIds: ['r1'], archive: { name: 'baseline-x.tar.gz' } };
    expect(baselineOutcome({ ...base, outcome: 'completed', decision: 'no-go' }, 'COMPLETED')).toEqual({
      outcome: 'completed, NO-GO, archive baseline-x.tar.gz',
      expected: true,
    });
    expect(
      baselineOutcome({ ...base, outcome: 'tripped', decision: 'tripped', reason: 'error rate 3% > 2%' }, 'COMPLETED'),
    ).toEqual({ outcome: 'tripped: error rate 3% > 2%, archive baseline-x.tar.gz', expected: false });
    expect(
      baselineOutcome({ ...base, archive: null, outcome: 'completed', decision: 'go' }, 'COMPLETED').expected,
    ).toBe(false);
  });

  test('a drift review is expected to end with its verdict, PASS or FAIL', () => {
    expect(driftOutcome({ summary: 'FAIL (provisional) — api: 6/7 criteria met', passed: false }, 'COMPLETED')).toEqual(
      {
        outcome: 'FAIL (provisional) — api: 6/7 criteria met',
        expected: true,
      },
    );
    expect(driftOutcome(null, 'TERMINATED').expected).toBe(false);
  });
});

describe('the summary', () => {
  const rec = (phase: PhaseRecord['phase'], expected: boolean, report?: string): PhaseRecord => ({
    phase,
    outcome: `${phase} ${expected ? 'ok' : 'bad'}`,
    expected,
    durationMs: 65_000,
    workflows: [`http://ui/${phase}`],
    reports: report ? [report] : [],
  });

  test('one row per planned phase with outcome, duration and report link, then the total', () => {
    const table = summaryTable(
      [rec('validation', true, 'http://api/v1/reports/v1'), rec('canary', false)],
      ['validation', 'canary', 'drift'],
      200_000,
    );
    expect(table[0]).toMatch(/^\| phase +\| outcome +\| duration \| report \|$/);
    expect(table[2]).toMatch(/^\| validation \| ✓ validation ok +\| 1m05s +\| http:\/\/api\/v1\/reports\/v1 \|$/);
    expect(table[3]).toMatch(/^\| canary +\| ✗ canary bad +\| 1m05s +\| — \|$/);
    expect(table[4]).toMatch(/^\| drift +\| ✗ not run +\| — +\| — \|$/);
    expect(table[5]).toBe('lifecycle did NOT end as expected in 3m20s');
  });

  test('a long outcome (a rollback reason) is cut in the table, not in the record', () => {
    const long = { ...rec('canary', false), outcome: `rolled back at shadow: ${'x'.repeat(200)}` };
    const row = summaryTable([long], ['canary'], 1_000)[2]!;
    expect(row).toContain(`✗ ${long.outcome.slice(0, OUTCOME_WIDTH - 1)}… |`);
    expect(long.outcome.length).toBeGreaterThan(200);
  });

  test('the lifecycle is ok only when every planned phase ran and ended as expected', () => {
    expect(lifecycleOk([rec('validation', true), rec('canary', true)], ['validation', 'canary'])).toBe(true);
    expect(lifecycleOk([rec('validation', true)], ['validation', 'canary'])).toBe(false);
    expect(lifecycleOk([rec('validation', true), rec('canary', false)], ['validation', 'canary'])).toBe(false);
    expect(summaryTable([rec('drift', true)], ['drift'], 61_000).at(-1)).toBe(
      'lifecycle completed as expected in 1m01s',
    );
  });

  test('durations read as minutes and seconds', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(42_400)).toBe('42s');
    expect(formatDuration(600_000)).toBe('10m00s');
  });
});

describe('temporal.yaml demo:', () => {
  test('defaults: every phase, in the seeds order, with timings of seconds', () => {
    const c = parseConfig({});
    expect(c.demo.phases).toEqual(['validation', 'canary', 'baseline', 'drift']);
    expect(c.demo.validation.historyWeeks).toBe(6);
    expect(c.demo.validation.liveDaySeconds % c.demo.validation.liveResolutionSeconds).toBe(0);
    expect(c.demo.canary.analysisIntervalSeconds).toBeGreaterThanOrEqual(10);
  });

  test('a bad value stops start-up naming the field', () => {
    const issues = (raw: unknown): string[] => {
      try {
        parseConfig(raw);
      } catch (e) {
        if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.reason}`);
        throw e;
      }
      return [];
    };
    expect(issues({ demo: { phases: ['validation', 'rollout'] } })).toEqual([
      expect.stringMatching(/^demo\.phases\.1: /),
    ]);
    expect(issues({ demo: { validation: { liveDaySeconds: 40, liveResolutionSeconds: 15 } } })).toEqual([
      'demo.validation.liveDaySeconds: must be a multiple of liveResolutionSeconds',
    ]);
    expect(issues({ demo: { canary: { analysisIntervalSeconds: 5 } } })).toEqual([
      expect.stringMatching(/^demo\.canary\.analysisIntervalSeconds: /),
    ]);
    expect(issues({ demo: { drift: { durationSeconds: 15, intervalSeconds: 10 } } })).toEqual([
      'demo.drift.durationSeconds: must be at least two intervals',
    ]);
    expect(issues({ demo: { validation: { historyStepSeconds: 7 } } })).toEqual([
      'demo.validation.historyStepSeconds: must divide 3600',
    ]);
  });
});
