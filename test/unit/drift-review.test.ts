import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { driftInputFromConfig, driftOverridesSchema } from '../../clients/drift.js';
import { parseConfig } from '../../lib/config/index.js';
import {
  evaluateDriftReview,
  renderDriftReviewMarkdown,
  resourceTable,
  reviewMode,
  seriesOf,
  toSampleSet,
  type DriftProcessInput,
} from '../../lib/drift/review.js';
import { DEFAULT_DRIFT_THRESHOLDS, evaluateDrift, type DriftSample } from '../../lib/drift/verdict.js';

const T0 = 1_759_600_000;
const START = T0 - 10;
const MB = 1048576;
const H2 = 7200;
const H48 = 172_800;

/**
 * A soak of `duration` seconds sampled every `step` (seed 001's healthy shape: memory +4.5%,
 * CPU ~1.2%, handles 17 → 28 then flat), with per-sample overrides.
 */
function soak(
  name: string,
  o: { duration?: number; step?: number; over?: (i: number, s: DriftSample) => Partial<DriftSample> } = {},
): DriftProcessInput {
  const duration = o.duration ?? H2;
  const step = o.step ?? 300;
  const n = duration / step;
  const mk = (i: number): DriftSample => {
    const at = T0 + i * step;
    const grown = Math.min(i / n, 0.4) / 0.4; // memory settles after 40% of the soak
    const base: DriftSample = {
      at,
      uptimeSeconds: at - START,
      startTimeSeconds: START,
      rssBytes: (2765 + grown * 125) * MB,
      heapUsedBytes: (80 + grown * 4) * MB,
      cpuPercent: i === 0 ? 1.9 : 1.2,
      openFds: i < 4 ? 17 + i * 3 : 28,
      activeHandles: i < 4 ? 10 + i : 14,
      eventLoopLagP99Seconds: 0.012,
      criticalErrorsTotal: 0,
      backgroundTasksHealthy: 1,
    };
    return { ...base, ...(o.over?.(i, base) ?? {}) };
  };
  return {
    name,
    job: `sgc-${name}`,
    instance: '.+',
    t0: mk(0),
    samples: Array.from({ length: n }, (_, k) => mk(k + 1)),
  };
}

const leaking = (name: string, duration = H2) =>
  soak(name, { duration, over: (i, s) => ({ rssBytes: s.rssBytes! * (1 + 0.012 * i) }) });

test('one review of two processes: a verdict each, overall FAIL naming the leaking process', () => {
  const v = evaluateDriftReview({ processes: [soak('api'), leaking('worker')], durationSeconds: H2 });
  assert.deepEqual(
    v.processes.map((p) => [p.name, p.summary, p.passed]),
    [
      ['api', '7/7 criteria met', true],
      ['worker', '6/7 criteria met', false],
    ],
  );
  assert.equal(v.passed, false);
  assert.deepEqual(v.failedProcesses, ['worker']);
  assert.deepEqual(v.failed, ['worker:memory_growth']);
  assert.equal(v.met, 6, 'the weakest process');
  assert.equal(
    v.summary,
    'FAIL (provisional) — worker: 6/7 criteria met (failed: memory_growth); api: 7/7 criteria met',
  );
});

test('every process at 7/7 passes overall; a process without data cannot pass', () => {
  const v = evaluateDriftReview({ processes: [soak('api'), soak('worker')], durationSeconds: H2 });
  assert.equal(v.passed, true);
  assert.equal(v.summary, 'PASS (provisional) — api: 7/7 criteria met; worker: 7/7 criteria met');
  const silent = soak('worker', { over: () => ({ criticalErrorsTotal: null }) });
  const w = evaluateDriftReview({ processes: [soak('api'), silent], durationSeconds: H2 });
  assert.equal(w.passed, false);
  assert.deepEqual(w.missing, ['worker:critical_errors']);
  assert.match(w.summary, /^FAIL \(provisional\) — worker: 6\/7 criteria met \(no data: critical_errors\)/);
  assert.equal(evaluateDriftReview({ processes: [], durationSeconds: H2 }).passed, false);
});

test('a short soak is provisional, a 48 h review full; the threshold is configurable and a review cut short is never full', () => {
  assert.equal(evaluateDriftReview({ processes: [soak('api')], durationSeconds: H2 }).mode, 'provisional');
  const full = evaluateDriftReview({ processes: [soak('api', { duration: H48, step: 3600 })], durationSeconds: H48 });
  assert.equal(full.mode, 'full');
  assert.equal(full.summary, 'PASS (full) — api: 7/7 criteria met');
  // planned 48 h, samples span only 24 h (the review was cut short): provisional, and uptime fails
  const cut = soak('api', { duration: H48, step: 3600 });
  const short = evaluateDriftReview({
    processes: [{ ...cut, samples: cut.samples.slice(0, 24) }],
    durationSeconds: H48,
  });
  assert.equal(short.mode, 'provisional');
  assert.equal(short.passed, false);
  // a 2 h soak with the threshold at 2 h is a full review
  assert.equal(evaluateDriftReview({ processes: [soak('api')], durationSeconds: H2, fullMinSeconds: H2 }).mode, 'full');
  assert.equal(reviewMode(H2, H2, H48, 0.01), 'provisional');
  assert.equal(reviewMode(H48, H48 - 60, H48, 0.01), 'full', 'within the uptime tolerance');
  assert.equal(reviewMode(H48, H48 * 0.98, H48, 0.01), 'provisional');
});

test('the resource table has T0, T+N and Delta for every resource, judged by its criterion', () => {
  const p = soak('api', { over: (i) => (i === 24 ? { criticalErrorsTotal: 0 } : {}) });
  const v = evaluateDrift({ t0: p.t0, samples: p.samples, durationSeconds: H2 });
  const rows = resourceTable(p, v, DEFAULT_DRIFT_THRESHOLDS);
  assert.deepEqual(
    rows.map((r) => r.id),
    ['uptime', 'rss', 'heap', 'cpu', 'open_fds', 'active_handles', 'eventloop_lag_p99', 'restarts', 'critical_errors'],
  );
  const row = Object.fromEntries(rows.map((r) => [r.id, r]));
  assert.deepEqual(row.rss.cells, { t0: '2765.0 MB', tN: '2890.0 MB', delta: '+125.0 MB (+4.5%)' });
  assert.equal(row.rss.status, 'pass');
  assert.equal(row.rss.criterion, 'memory_growth');
  assert.deepEqual(row.uptime.cells, { t0: '10 s', tN: '2.00 h', delta: '+2.00 h' });
  assert.deepEqual(row.heap.cells, { t0: '80.0 MB', tN: '84.0 MB', delta: '+4.0 MB (+5.0%)' });
  assert.equal(row.heap.status, 'info', 'heap is shown, not judged');
  // CPU: T0 as sampled, T+N the soak's average (seed 001's "CPU (avg)")
  assert.deepEqual(row.cpu.cells, { t0: '1.90%', tN: '1.20%', delta: '−0.70%' });
  assert.deepEqual(row.open_fds.cells, { t0: '17', tN: '28', delta: '+11' });
  assert.equal(row.open_fds.status, 'pass', 'growth that levels off');
  assert.deepEqual(row.eventloop_lag_p99.cells, { t0: '12.0 ms', tN: '12.0 ms', delta: '±0.0 ms' });
  assert.deepEqual(row.restarts.cells, { t0: '0', tN: '0', delta: '±0' });
  assert.deepEqual(row.critical_errors.cells, { t0: '0', tN: '0', delta: '±0' });
});

test('the resource table shows growth, restarts and errors where they happen, and NA where a resource is not exported', () => {
  const restartAt = T0 + 3600;
  const p = soak('worker', {
    over: (i, s) => ({
      openFds: 20 + i * 2,
      heapUsedBytes: null,
      criticalErrorsTotal: s.at >= restartAt ? 1 : i >= 6 ? 3 : 0,
      ...(s.at >= restartAt ? { startTimeSeconds: restartAt, uptimeSeconds: s.at - restartAt } : {}),
    }),
  });
  const v = evaluateDrift({ t0: p.t0, samples: p.samples, durationSeconds: H2 });
  const row = Object.fromEntries(resourceTable(p, v, DEFAULT_DRIFT_THRESHOLDS).map((r) => [r.id, r]));
  assert.equal(row.open_fds.status, 'fail');
  assert.equal(row.active_handles.status, 'pass', 'each handle series is judged on its own');
  assert.deepEqual(row.heap.cells, { t0: 'NA', tN: 'NA', delta: 'NA' });
  assert.deepEqual([row.restarts.cells.tN, row.restarts.status], ['1', 'fail']);
  // 0 → 3, then a reset to 1 at the restart: 3 + 1 critical errors
  assert.deepEqual([row.critical_errors.cells.delta, row.critical_errors.status], ['+4', 'fail']);
  assert.equal(row.uptime.status, 'fail');
});

test('the markdown has the overall verdict with its mode, and per process the T0 / T+N / Delta table and the criteria', () => {
  const md = renderDriftReviewMarkdown(
    evaluateDriftReview({ processes: [soak('api'), leaking('worker')], durationSeconds: H2 }),
    'Drift review — test',
  );
  assert.match(md, /^# Drift review — test$/m);
  assert.match(md, /^\*\*Overall: ❌ FAIL \(provisional\)\*\* — failed: worker$/m);
  assert.match(
    md,
    /^Provisional: a short soak of 2\.00 h observed \(2\.00 h planned\); a full review is at least 48\.00 h\.$/m,
  );
  assert.match(md, /^## api — job `sgc-api`, instance `\.\+`: ✅ 7\/7 CRITERIA MET$/m);
  assert.match(md, /^## worker — job `sgc-worker`, instance `\.\+`: ❌ 6\/7 CRITERIA MET$/m);
  assert.equal(md.match(/^\| Resource \| T0 \| T\+2\.00 h \| Delta \| Status \|$/gm)?.length, 2);
  assert.equal(md.match(/^\| Criterion \| Target \| Actual \| Pass\/Fail \|$/gm)?.length, 2);
  assert.match(md, /^\| Memory \(RSS\) \| 2765\.0 MB \| [\d.]+ MB \| \+[\d.]+ MB \(\+[\d.]+%\) \| ❌ Fail \|$/m);
  assert.match(md, /^\| Heap used \| 80\.0 MB \| 84\.0 MB \| \+4\.0 MB \(\+5\.0%\) \| — \|$/m);
});

test('rows stored before reviews covered several processes read as the one process', () => {
  const flat: DriftSample = { at: T0, rssBytes: 5 * MB, cpuPercent: 1 };
  assert.deepEqual(toSampleSet(flat, 'sgc-worker'), {
    at: T0,
    targets: { 'sgc-worker': { rssBytes: 5 * MB, cpuPercent: 1 } },
  });
  const set = { at: T0, targets: { api: { rssBytes: 1 }, worker: { rssBytes: 2 } } };
  assert.deepEqual(toSampleSet(set, 'x'), set);
  assert.deepEqual(seriesOf([set, { at: T0 + 1, targets: { api: { rssBytes: 3 } } }], 'worker'), [
    { at: T0, rssBytes: 2 },
    { at: T0 + 1 },
  ]);
});

test('by default one review covers the API and the worker, by the job names npm start gives them in Prometheus', () => {
  const config = parseConfig({});
  const input = driftInputFromConfig(config);
  assert.deepEqual(input.targets, [
    { name: 'api', job: 'sgc-api', instance: '.+' },
    { name: 'worker', job: 'sgc-worker', instance: '.+' },
  ]);
  assert.equal(input.fullReviewMinSeconds, 172_800);
  assert.equal(input.durationSeconds, 7_200, 'a short soak by default, reported as provisional');
  const scraped = [
    ...readFileSync(new URL('../../monitoring/prometheus.yml.tmpl', import.meta.url), 'utf8').matchAll(
      /job_name:\s*(\S+)/g,
    ),
  ].map((m) => m[1]);
  for (const t of input.targets ?? [])
    assert.ok(
      scraped.includes(t.job),
      `${t.job} is a scrape job of monitoring/prometheus.yml.tmpl (${scraped.join(', ')})`,
    );
  // one process on request; target and targets together, or two targets under one name, are refused naming the field
  assert.deepEqual(driftInputFromConfig(config, { target: { job: 'sgc-worker' } }).targets, [
    { name: 'sgc-worker', job: 'sgc-worker', instance: '.+' },
  ]);
  const both = driftOverridesSchema.safeParse({ target: { job: 'a' }, targets: [{ job: 'b' }] });
  assert.equal(both.success, false);
  assert.deepEqual(
    both.error?.issues.map((i) => i.path.join('.')),
    ['targets'],
  );
  assert.equal(driftOverridesSchema.safeParse({ targets: [{ job: 'a' }, { job: 'a' }] }).success, false);
  assert.throws(
    () =>
      parseConfig({
        drift: {
          targets: [
            { job: 'x', instance: 'a' },
            { job: 'x', instance: 'b' },
          ],
        },
      }),
    /drift\.targets: target names must be unique/,
  );
});
