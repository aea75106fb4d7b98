import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  evaluateDrift,
  renderDriftMarkdown,
  kendallTrend,
  counterIncrease,
  type DriftSample,
} from '../../lib/drift/verdict.js';

const T0 = 1_759_600_000;
const START = T0 - 10; // process started 10 s before T0
const MB = 1048576;
const DURATION = 7200;
const STEP = 300;

/** A healthy 2 h soak sampled every 5 min (seed 001's shape: memory +4.5%, CPU ~1.2%, handles 17 → 28 then flat). */
function soak(over: (i: number, s: DriftSample) => Partial<DriftSample> = () => ({})): {
  t0: DriftSample;
  samples: DriftSample[];
} {
  const mk = (i: number): DriftSample => {
    const at = T0 + i * STEP;
    const base: DriftSample = {
      at,
      uptimeSeconds: at - START,
      startTimeSeconds: START,
      rssBytes: (2765 + Math.min(i, 10) * 12.5) * MB,
      cpuPercent: i === 0 ? 1.9 : 1.2 + (i % 3) * 0.2,
      openFds: i < 4 ? 17 + i * 3 : 28 + (i % 2),
      activeHandles: i < 4 ? 10 + i : 14,
      criticalErrorsTotal: 0,
      backgroundTasksHealthy: 1,
    };
    return { ...base, ...over(i, base) };
  };
  return { t0: mk(0), samples: Array.from({ length: DURATION / STEP }, (_, k) => mk(k + 1)) };
}

test('a healthy soak meets 7/7 and passes', () => {
  const v = evaluateDrift({ ...soak(), durationSeconds: DURATION });
  assert.equal(v.summary, '7/7 criteria met', JSON.stringify(v.rows, null, 1));
  assert.equal(v.passed, true);
  assert.deepEqual(
    v.rows.map((r) => r.status),
    Array(7).fill('pass'),
  );
  assert.ok(v.metrics.memoryGrowth! > 0.04 && v.metrics.memoryGrowth! < 0.05);
  assert.match(renderDriftMarkdown(v), /7\/7 CRITERIA MET/);
});

test('leaking memory fails, naming memory growth', () => {
  const v = evaluateDrift({
    ...soak((i, s) => ({ rssBytes: s.rssBytes! * (1 + 0.012 * i) })),
    durationSeconds: DURATION,
  });
  assert.equal(v.passed, false);
  assert.deepEqual(v.failed, ['memory_growth']);
  assert.equal(v.summary, '6/7 criteria met');
  assert.match(v.rows.find((r) => r.id === 'memory_growth')!.observed, /\+\d+\.\d%/);
  assert.match(renderDriftMarkdown(v), /failed: memory_growth/);
});

test('a restart fails the restarts criterion and the uptime one', () => {
  const restartAt = T0 + 3600;
  const v = evaluateDrift({
    ...soak((_i, s) => (s.at >= restartAt ? { startTimeSeconds: restartAt, uptimeSeconds: s.at - restartAt } : {})),
    durationSeconds: DURATION,
  });
  assert.equal(v.passed, false);
  assert.equal(v.metrics.restarts, 1);
  assert.ok(v.failed.includes('restarts'));
  assert.ok(v.failed.includes('uptime'));
});

test('a restart is also seen from uptime alone when the start time is not exported', () => {
  const v = evaluateDrift({
    ...soak((i, s) => ({ startTimeSeconds: null, uptimeSeconds: i >= 12 ? (i - 12) * STEP + 5 : s.uptimeSeconds })),
    durationSeconds: DURATION,
  });
  assert.equal(v.metrics.restarts, 1);
});

test('CPU: average at 5% fails, a sustained spike fails, a brief spike does not', () => {
  assert.deepEqual(evaluateDrift({ ...soak(() => ({ cpuPercent: 5 })), durationSeconds: DURATION }).failed, ['cpu']);
  const sustained = evaluateDrift({
    ...soak((i) => (i >= 5 && i <= 7 ? { cpuPercent: 30 } : { cpuPercent: 0.5 })),
    durationSeconds: DURATION,
  });
  assert.deepEqual(sustained.failed, ['cpu'], 'three samples at 30% in a row');
  assert.ok(sustained.metrics.cpuAvgPercent! < 5, 'the average alone would pass');
  const brief = evaluateDrift({
    ...soak((i) => (i === 5 || i === 6 ? { cpuPercent: 30 } : { cpuPercent: 0.5 })),
    durationSeconds: DURATION,
  });
  assert.equal(brief.passed, true);
});

test('handles growing continuously fail; growth that levels off after start-up passes', () => {
  const leak = evaluateDrift({ ...soak((i) => ({ openFds: 20 + i * 2 })), durationSeconds: DURATION });
  assert.deepEqual(leak.failed, ['handles']);
  assert.equal(kendallTrend([1, 2, 3, 4]), 1);
  assert.equal(kendallTrend([4, 4, 4, 4]), 0);
});

test('critical errors since T0 fail, counting across a counter reset', () => {
  assert.equal(counterIncrease([3, 3, 5, 1, 2]), 2 + 1 + 1);
  const v = evaluateDrift({ ...soak((i) => ({ criticalErrorsTotal: i >= 20 ? 1 : 0 })), durationSeconds: DURATION });
  assert.deepEqual(v.failed, ['critical_errors']);
});

test('an unhealthy background-task sample fails that criterion', () => {
  const v = evaluateDrift({ ...soak((i) => ({ backgroundTasksHealthy: i === 9 ? 0 : 1 })), durationSeconds: DURATION });
  assert.deepEqual(v.failed, ['background_tasks']);
});

test('missing data makes a criterion na and the verdict cannot pass', () => {
  const v = evaluateDrift({ ...soak(() => ({ criticalErrorsTotal: null })), durationSeconds: DURATION });
  assert.equal(v.passed, false);
  assert.deepEqual(v.missing, ['critical_errors']);
  assert.deepEqual(v.failed, []);
  assert.equal(v.summary, '6/7 criteria met');
  const nothing = evaluateDrift({ t0: { at: T0 }, samples: [], durationSeconds: DURATION });
  assert.equal(nothing.met, 0);
  assert.equal(nothing.missing.length, 7);
});

test('a soak cut short fails uptime even when the process stayed up', () => {
  const { t0, samples } = soak();
  const v = evaluateDrift({ t0, samples: samples.slice(0, 12), durationSeconds: DURATION });
  assert.deepEqual(v.failed, ['uptime']);
});
