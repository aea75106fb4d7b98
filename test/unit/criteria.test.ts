import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  evaluateCriteria,
  aggregateRun,
  renderCriteriaMarkdown,
  DEFAULT_CRITERIA_THRESHOLDS,
} from '../../lib/baseline/criteria.js';
import type { BaselineSample, SampleValue } from '../../lib/baseline/csv.js';
import {
  buildProductionReport,
  buildCompletionSummary,
  buildMetadata,
  captureEnvironment,
  configDigest,
  windowGaps,
} from '../../lib/baseline/report.js';
import { evaluateBreaker } from '../../lib/baseline/breaker.js';

function healthy(n: number, over: Record<string, SampleValue> = {}): BaselineSample {
  return {
    sampleNum: n,
    timestamp: 1_763_900_000 + n * 600,
    values: {
      http_success_rate: 0.998,
      p50_latency: 20,
      p90_latency: 35,
      p95_latency: 43,
      p99_latency: 90,
      raw_fallback_ratio: 0.05,
      effective_fallback_ratio: 0.01,
      error_rate: 0.002,
      error_rate_4xx: 0.001,
      error_rate_5xx: 0.001,
      cpu_percent: 12,
      rss_mb: 300,
      request_rate: 80,
      cache_hit_rate: 0.9,
      cache_hits_raw: 900,
      cache_misses_raw: 100,
      push_success: 99,
      push_failure: 1,
      clone_success: 10,
      clone_failure: 0,
      push_success_rate: 0.99,
      clone_success_rate: 1,
      ...over,
    },
  };
}

const row = (r: ReturnType<typeof evaluateCriteria>, id: string) => {
  const found = r.rows.find((x) => x.id === id);
  assert.ok(found, `row ${id}`);
  return found;
};

test('a healthy run passes every criterion and is Go', () => {
  const r = evaluateCriteria(
    Array.from({ length: 12 }, (_, i) => healthy(i + 1)),
    DEFAULT_CRITERIA_THRESHOLDS,
    { expectedSamples: 12 },
  );
  assert.equal(r.goNoGo.decision, 'go', r.goNoGo.reasons.join('; '));
  assert.deepEqual(r.counts, { pass: r.rows.length, fail: 0, na: 0 });
  assert.deepEqual(
    r.rows.map((x) => x.id),
    [
      'samples',
      'success_rate',
      'p95_latency',
      'p99_latency',
      'rss_avg',
      'cache_hit_rate',
      'error_rate',
      'effective_fallback',
      'push_success_rate',
      'clone_success_rate',
    ],
  );
  for (const x of r.rows) assert.ok(x.target && x.observed && ['pass', 'fail', 'na'].includes(x.status));
});

test('boundaries: P95 150 ms, P99 250 ms, RSS 500 MB, error 1%, fallback 5%, cache 80% pass exactly at the limit', () => {
  const at = evaluateCriteria([
    healthy(1, {
      p95_latency: 150,
      p99_latency: 250,
      rss_mb: 500,
      error_rate: 0.01,
      effective_fallback_ratio: 0.05,
      cache_hits_raw: 80,
      cache_misses_raw: 20,
    }),
  ]);
  for (const id of ['p95_latency', 'p99_latency', 'rss_avg', 'error_rate', 'effective_fallback', 'cache_hit_rate'])
    assert.equal(row(at, id).status, 'pass', id);
  const over = evaluateCriteria([
    healthy(1, {
      p95_latency: 150.1,
      p99_latency: 250.1,
      rss_mb: 500.1,
      error_rate: 0.0101,
      effective_fallback_ratio: 0.0501,
      cache_hits_raw: 79,
      cache_misses_raw: 21,
    }),
  ]);
  for (const id of ['p95_latency', 'p99_latency', 'rss_avg', 'error_rate', 'effective_fallback', 'cache_hit_rate'])
    assert.equal(row(over, id).status, 'fail', id);
  assert.equal(over.goNoGo.decision, 'no-go');
});

test('RSS is judged on the average, so one high window does not fail it', () => {
  const r = evaluateCriteria([healthy(1, { rss_mb: 700 }), healthy(2, { rss_mb: 300 }), healthy(3, { rss_mb: 300 })]);
  assert.equal(row(r, 'rss_avg').status, 'pass');
  assert.match(row(r, 'rss_avg').observed, /433\.3 MB/);
});

test('cache hit rate comes from the raw counters over the run, not the mean of window rates', () => {
  // window rates 100% and 50% average 75%; by counts it is 1000/1200 ≈ 83%
  const samples = [
    healthy(1, { cache_hits_raw: 1000, cache_misses_raw: 0, cache_hit_rate: 1 }),
    healthy(2, { cache_hits_raw: 0, cache_misses_raw: 200, cache_hit_rate: 0 }),
  ];
  const a = aggregateRun(samples);
  assert.ok(Math.abs(a.cacheHitRate! - 1000 / 1200) < 1e-9);
  assert.equal(row(evaluateCriteria(samples), 'cache_hit_rate').status, 'pass');
});

test('ratios are weighted by request rate', () => {
  const a = aggregateRun([
    healthy(1, { error_rate: 0.1, request_rate: 1 }),
    healthy(2, { error_rate: 0, request_rate: 99 }),
  ]);
  assert.ok(Math.abs(a.errorRate! - 0.001) < 1e-12);
});

test('operation success rates use their thresholds: push 95%, clone 99%', () => {
  const r = evaluateCriteria([healthy(1, { push_success: 94, push_failure: 6, clone_success: 98, clone_failure: 2 })]);
  assert.equal(row(r, 'push_success_rate').status, 'fail');
  assert.equal(row(r, 'clone_success_rate').status, 'fail');
  assert.equal(r.goNoGo.decision, 'no-go');
});

test('NA is neutral for a criterion but a mandatory NA blocks Go', () => {
  // no clones during the run: the clone criterion is na and does not block
  const noClone = evaluateCriteria([
    healthy(1, { clone_success: null, clone_failure: null, clone_success_rate: null }),
  ]);
  assert.equal(row(noClone, 'clone_success_rate').status, 'na');
  assert.equal(noClone.goNoGo.decision, 'go');
  // cache hit NA everywhere: na row, and Go needs it
  const noCache = evaluateCriteria([
    healthy(1, { cache_hit_rate: null, cache_hits_raw: null, cache_misses_raw: null }),
  ]);
  assert.equal(row(noCache, 'cache_hit_rate').status, 'na');
  assert.equal(noCache.goNoGo.decision, 'no-go');
  assert.ok(noCache.goNoGo.reasons.some((x) => /cache/i.test(x)));
  // one window with NA p95 among good ones: the row still passes on the others, but Go is blocked
  const gap = evaluateCriteria([healthy(1), healthy(2, { p95_latency: null }), healthy(3)]);
  assert.equal(row(gap, 'p95_latency').status, 'pass');
  assert.equal(gap.goNoGo.decision, 'no-go');
  assert.deepEqual(gap.naMandatory, [{ sampleNum: 2, columns: ['p95_latency'] }]);
});

test('fewer samples than planned fails the samples criterion', () => {
  const r = evaluateCriteria([healthy(1), healthy(2)], DEFAULT_CRITERIA_THRESHOLDS, { expectedSamples: 12 });
  assert.equal(row(r, 'samples').status, 'fail');
  assert.equal(r.goNoGo.decision, 'no-go');
});

test('the seed-v3 profile judges plugin reload and snapshot success rates', () => {
  const r = evaluateCriteria(
    [
      healthy(1, {
        plugin_reload_success: 96,
        plugin_reload_failure: 4,
        snapshot_create_success: 50,
        snapshot_restore_success: 48,
        snapshot_create_failure: 1,
        snapshot_restore_failure: 1,
      }),
    ],
    DEFAULT_CRITERIA_THRESHOLDS,
    { profile: 'seed-v3' },
  );
  assert.equal(row(r, 'plugin_reload_success_rate').status, 'pass');
  assert.equal(row(r, 'snapshot_success_rate').status, 'fail', '98% < 99%');
  assert.ok(!r.rows.some((x) => x.id === 'push_success_rate'));
});

test('the markdown table lists every row and the decision', () => {
  const r = evaluateCriteria([healthy(1, { p95_latency: 200 })]);
  const md = renderCriteriaMarkdown(r);
  assert.match(md, /\| Latency P95 \\\* \| ≤ 150 ms \| 200\.0 ms \(max 200\.0 ms\) \| ❌ fail \|/);
  assert.match(md, /Go\/No-Go: NO-GO/);
});

// The report builders render the criteria; their guarantees are checked here with the same data.

test('the production report carries the criteria table, a sample table and charts with thresholds', () => {
  const samples = [healthy(1), healthy(2, { p95_latency: 180 })];
  const criteria = evaluateCriteria(samples);
  const rep = buildProductionReport({
    runId: 'baseline-1',
    profile: 'default',
    phase: { name: 'day 1', samples, criteria, breaker: evaluateBreaker(samples[1]) },
    thresholds: { p95MaxMs: 150, rssAvgMaxMb: 500 },
  });
  assert.match(rep.markdown, /## Success criteria/);
  assert.match(rep.markdown, /\| 2 \| 2025-11-23T\d\d:\d\d:\d\dZ \| 99\.80% \| 20\.0 \| 180\.0 \|/);
  const latency = rep.charts.find((c) => c.title === 'Latency percentiles')!;
  assert.deepEqual(
    latency.series.find((s) => s.name === 'P95')!.points.map((p) => p[1]),
    [43, 180],
  );
  assert.equal(latency.threshold?.value, 150);
  assert.equal((rep.data.goNoGo as { decision: string }).decision, criteria.goNoGo.decision);
});

test('a window that started late (a worker restarted between windows) is reported as a gap; the usual pause is not', () => {
  // 600 s windows, each starting 2 s after the previous one ended (its queries), except window 3: 40 s
  const ends = [600, 1202, 1842, 2444, 3046];
  const samples = ends.map((end, i) => ({ ...healthy(i + 1), timestamp: 1_763_900_000 + end, windowSeconds: 600 }));
  assert.deepEqual(windowGaps(samples), [{ afterSample: 2, seconds: 40 }]);
  const even = [600, 1202, 1804, 2406, 3008].map((end, i) => ({
    ...healthy(i + 1),
    timestamp: 1_763_900_000 + end,
    windowSeconds: 600,
  }));
  assert.deepEqual(windowGaps(even), [], 'evenly spaced windows have no gap');
  // the phase's interval stands in for a sample without its own window length
  assert.deepEqual(
    windowGaps(
      samples.map(({ windowSeconds: _w, ...s }) => s),
      600,
    ),
    [{ afterSample: 2, seconds: 40 }],
  );
  const rep = buildProductionReport({
    runId: 'baseline-gap',
    profile: 'default',
    phase: { name: 'baseline', samples, criteria: evaluateCriteria(samples), intervalSeconds: 600 },
  });
  assert.match(rep.markdown, /\*\*Gaps between windows\*\* \(not measured\): 40 s after sample 2 /);
  assert.deepEqual(rep.data.gaps, [{ afterSample: 2, seconds: 40 }]);
  const plain = buildProductionReport({
    runId: 'baseline-even',
    profile: 'default',
    phase: { name: 'baseline', samples: even, criteria: evaluateCriteria(even), intervalSeconds: 600 },
  });
  assert.doesNotMatch(plain.markdown, /Gaps between windows/);
});

test('a tripped run gets a partial summary naming the breaker rule', () => {
  const samples = [healthy(1), healthy(2, { error_rate: 0.05 })];
  const breaker = evaluateBreaker(samples[1]);
  const sum = buildCompletionSummary({
    runId: 'b2',
    outcome: 'tripped',
    startedAt: 1_763_900_000,
    finishedAt: 1_763_901_200,
    phases: [{ name: 'day 1', samples, criteria: evaluateCriteria(samples), breaker }],
    artifacts: ['metrics.csv'],
  });
  assert.match(sum.title, /^Partial summary/);
  assert.match(sum.markdown, /Circuit breaker tripped in day 1: error_rate 5\.00% > 2\.00% in sample 2/);
  assert.match(sum.markdown, /Overall: NO-GO/);
  assert.equal(sum.data.decision, 'no-go');
});

test('metadata keeps parameters and environment but no secrets', async () => {
  const config = {
    api: { tokens: [{ name: 'ops', role: 'operator', token: 'tok-0123456789abcdef' }] },
    postgres: { url: 'postgres://sgc:hunter2@db:5432/sgc?sslmode=require' },
    sandbox: { e2bApiKey: 'e2b_secret_key', provider: 'local' },
    baseline: { baseline: { rps: 80 } },
  };
  const digest = await configDigest(config);
  assert.match(digest, /^[0-9a-f]{64}$/);
  assert.equal(
    await configDigest({
      ...config,
      api: { tokens: [{ name: 'ops', role: 'operator', token: 'another-token-value' }] },
    }),
    digest,
    'the digest does not depend on secrets',
  );
  const md = buildMetadata({
    runId: 'b3',
    startedAt: 1_763_900_000,
    target: 'http://agent:pw@127.0.0.1:8080/?token=x',
    profile: 'default',
    parameters: { rps: 80, connections: 20 },
    environment: captureEnvironment('build-host'),
    config,
    configDigest: digest,
    gitSha: 'deadbeefcafe',
  });
  const text = JSON.stringify(md);
  for (const secret of ['tok-0123456789abcdef', 'hunter2', 'e2b_secret_key', 'pw@', 'token=x'])
    assert.ok(!text.includes(secret), secret);
  assert.equal(md.environment.nodeVersion, process.version);
  assert.equal(md.environment.hostname, 'build-host');
  assert.equal(md.gitSha, 'deadbeefcafe');
  assert.equal(md.target, 'http://127.0.0.1:8080/');
  assert.deepEqual(md.parameters, { rps: 80, connections: 20 });
});

test('P95/P99 are judged on the merged histogram of all requests when given, with the worst window beside', () => {
  const samples = [healthy(1), healthy(2, { p95_latency: 160, p99_latency: 200 })];
  // window percentiles average to ≤ 150 ms, but the phase's requests together say 170 ms
  const merged = evaluateCriteria(samples, DEFAULT_CRITERIA_THRESHOLDS, {
    mergedLatency: { p95: 170, p99: 240, count: 9_600 },
  });
  assert.equal(row(merged, 'p95_latency').status, 'fail');
  assert.equal(row(merged, 'p95_latency').value, 170);
  assert.match(row(merged, 'p95_latency').observed, /over all 9600 requests \(worst window 160\.0 ms\)/);
  assert.equal(row(merged, 'p99_latency').status, 'pass');
  const fallback = evaluateCriteria(samples, DEFAULT_CRITERIA_THRESHOLDS, {});
  assert.equal(row(fallback, 'p95_latency').status, 'pass', 'without histograms: the request-weighted mean of windows');
});
