import { describe, expect, test } from '@jest/globals';
import { waitWithProgress, type Progress } from '../../scripts/cli/wait.js';
import { baselineSummary, canarySummary, driftSummary, validationSummary } from '../../workflows/summary.js';

describe('--wait progress', () => {
  test('prints a line when the progress changes, a heartbeat on long quiet stretches, and the outcome', async () => {
    const states: Progress[] = [
      { done: false, line: 'sample 1 of 3' },
      { done: false, line: 'sample 1 of 3' },
      { done: false, line: 'sample 2 of 3' },
      { done: false, line: 'sample 2 of 3' },
      { done: false, line: 'sample 2 of 3' },
      { done: true, line: 'PASS 7/7' },
    ];
    let clock = 0;
    const lines: string[] = [];
    const end = await waitWithProgress({
      poll: async () => states.shift()!,
      out: (l) => lines.push(l),
      intervalMs: 30_000,
      heartbeatMs: 60_000,
      sleep: async (ms) => {
        clock += ms;
      },
      now: () => clock,
    });
    expect(end).toBe('PASS 7/7');
    expect(lines).toEqual([
      '[0m00s] sample 1 of 3',
      '[1m00s] sample 2 of 3',
      '[2m00s] sample 2 of 3',
      '[2m30s] PASS 7/7',
    ]);
  });

  test('a failing status read is reported and retried, not fatal', async () => {
    let n = 0;
    const lines: string[] = [];
    await waitWithProgress({
      poll: async () => {
        n++;
        if (n === 1) throw new Error('deadline exceeded');
        return { done: true, line: 'done' };
      },
      out: (l) => lines.push(l),
      sleep: async () => undefined,
      now: () => 0,
    });
    expect(lines).toEqual(['[0m00s] status unavailable: deadline exceeded', '[0m00s] done']);
  });

  test('the progress lines say week/day, stage and percent, sample n of N', () => {
    expect(
      validationSummary({
        mode: 'live',
        phase: 'waiting',
        week: 2,
        day: 3,
        daysPerWeek: 7,
        plannedWeeks: 4,
        provisional: 'STAY',
        decision: null,
        lastDecision: { week: 1, decision: 'CONTINUE' },
      }),
    ).toBe(
      'live validation: week 2 day 3/7 (decision planned at week 4), waiting; last checkpoint week 1: CONTINUE, if decided now STAY',
    );
    expect(
      canarySummary({
        status: 'running',
        stage: { index: 2, name: 'dual-write-50', percent: 50, shadow: true },
        stages: [1, 2, 3, 4, 5],
      }),
    ).toBe('canary running, stage 3/5 dual-write-50: 50% to approach 2 + shadow');
    expect(
      canarySummary({
        status: 'rolled_back',
        stage: { index: 1, name: 'canary-10', percent: 10, shadow: true },
        stages: [1, 2],
        rollback: { source: 'auto', reason: 'error_rate 7% > 5% twice' },
      }),
    ).toBe('canary rolled back (auto) at canary-10: error_rate 7% > 5% twice');
    expect(
      baselineSummary({
        status: 'running',
        stage: 'baseline',
        phase: 'baseline',
        sampleNum: 4,
        samplesTotal: 12,
        decision: null,
        breaker: { state: 'ok', reason: '' },
      }),
    ).toBe('baseline running, baseline, baseline sample 4 of 12');
    expect(driftSummary({ stage: 'sampling', sampleNum: 5, samplesTotal: 24, verdict: null })).toBe(
      'drift review sampling, sample 5 of 24',
    );
  });
});
