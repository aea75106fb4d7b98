/**
 * The baseline and drift activities against real Postgres, a real Prometheus and a real HTTP
 * target, run through MockActivityEnvironment behind the activity boundary: each side-effecting activity run twice must
 * leave one row / one report / the same archive, and no token reaches a log line.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ApplicationFailure } from '@temporalio/common';
import pino from 'pino';
import { Counter, Histogram } from 'prom-client';
import type { LoadTarget } from '../../activities/baseline.js';
import { createBaselineActivities } from '../../activities/baseline.js';
import { createDriftActivities } from '../../activities/drift.js';
import { DEFAULT_BREAKER_THRESHOLDS } from '../../lib/baseline/breaker.js';
import { DEFAULT_CRITERIA_THRESHOLDS } from '../../lib/baseline/criteria.js';
import { queriedColumns, row } from '../../lib/baseline/csv.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { DEFAULT_DRIFT_THRESHOLDS } from '../../lib/drift/verdict.js';
import { REDACT_PATHS } from '../../lib/log.js';
import { PromClient } from '../../lib/prom/client.js';
import { createBaselineSampleRepository } from '../../lib/store/baseline.js';
import { createDriftReviewRepository, createDriftSampleRepository } from '../../lib/store/drift.js';
import { createReportRepository } from '../../lib/store/reports.js';
import { OPERATION_DURATION_BUCKETS_SECONDS } from '../../lib/metrics.js';
import { envTokenFor } from '../../workers/phases-baseline.js';
import { boundaryEnv } from '../helpers/activities.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startLoadTarget, type LoadTargetServer } from '../helpers/load-target.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';

const baselineSampleRepo = () => createBaselineSampleRepository(tdb.db);
const driftReviewRepo = () => createDriftReviewRepository(tdb.db);
const driftSampleRepo = () => createDriftSampleRepository(tdb.db);
const reportRepo = () => createReportRepository(tdb.db);

const TOKEN = 'activity-test-token-0123456789abcdef';
let tdb: TestDb;
let prometheus: PrometheusHandle;
let target: LoadTargetServer;
let reportsDir: string;
const logLines: string[] = [];

beforeAll(async () => {
  [tdb, target, reportsDir] = await Promise.all([
    freshDb('blacts'),
    startLoadTarget({ token: TOKEN }),
    mkdtemp(join(tmpdir(), 'sgc-blacts-')),
  ]);
  prometheus = await startPrometheus({
    scrapeInterval: '1s',
    scrape: [{ job: 'sgc-target', targets: [target.hostPort] }],
  });
  const prom = new PromClient({ url: prometheus.url });
  for (let i = 0; i < 100 && (await prom.query('up{job="sgc-target"} == 1')).series.length === 0; i++)
    await new Promise((r) => setTimeout(r, 100));
});

afterAll(async () => {
  await Promise.allSettled([tdb?.drop(), prometheus?.stop(), target?.close()]);
  if (reportsDir) await rm(reportsDir, { recursive: true, force: true });
});

/** A logger whose lines land in `logLines` (the token must never appear there). */
function testLog() {
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  return pino({ level: 'debug', redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
}

function deps(flags: { operation: string; percent: number; shadow: boolean }[] = []) {
  return {
    db: tdb.db,
    prom: new PromClient({ url: prometheus.url }),
    config: { queries: DEFAULT_QUERIES },
    log: testLog(),
    tokenFor: envTokenFor({ SGC_LOAD_TOKEN: TOKEN, SGC_WRONG_TOKEN: 'not-the-token-0123456789' }),
    reportsDir,
    hostname: 'test-host',
    gitSha: 'abc1234',
    flags: { list: async () => flags },
  };
}

const targetOf = (o: Partial<LoadTarget> = {}): LoadTarget => ({
  baseUrl: target.url,
  tokenRef: 'SGC_LOAD_TOKEN',
  healthPath: '/healthz',
  mix: { kind: 'git', repoUrl: 'https://git.example/r.git', workspaces: 2 },
  ...o,
});

/** MockActivityEnvironment.run behind the workers' activity boundary (its log lines checked too), with the activity's own types. */
function mockEnv() {
  const env = boundaryEnv({ log: testLog() });
  return {
    run: <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> =>
      env.run(fn, ...args) as Promise<R>,
  };
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  assert.ok(e instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(e)}`);
  return e;
}

test('baseline activities run twice leave one run, one row per window, the same reports and a byte-identical archive', async () => {
  const acts = createBaselineActivities(deps([{ operation: 'git.push', percent: 0, shadow: false }]));
  const env = mockEnv();
  const runId = 'twice-run';
  const parameters = { target: { baseUrl: target.url, tokenRef: 'SGC_LOAD_TOKEN' }, baseline: { samples: 1 } };
  const pre = {
    runId,
    startedAt: Date.now() / 1000,
    target: targetOf(),
    job: 'sgc-target',
    expectedFlags: { 'git.push': { percent: 0 } },
    parameters,
  };
  const p1 = await env.run(acts.preflight, pre);
  const p2 = await env.run(acts.preflight, pre);
  assert.deepEqual(p1.workspaceIds, p2.workspaceIds, 'a retried preflight attaches to the workspaces it created');
  assert.equal(p1.workspaceIds.length, 2);
  assert.ok(p1.checks.some((c) => c.name === 'token' && c.ok));
  const e1 = await env.run(acts.captureEnvironment, { runId, target: targetOf(), parameters });
  const e2 = await env.run(acts.captureEnvironment, { runId, target: targetOf(), parameters });
  assert.equal(e2.configDigest, e1.configDigest);

  const window = {
    runId,
    phase: 'baseline' as const,
    sampleNum: 1,
    windowSeconds: 2,
    rps: 20,
    connections: 2,
    requestTimeoutMs: 5_000,
    target: targetOf({ mix: { kind: 'git', workspaceIds: p1.workspaceIds } }),
    profile: 'default' as const,
    job: 'sgc-target',
  };
  const w1 = await env.run(acts.runLoadWindow, window);
  const sent = target.requests;
  const w2 = await env.run(acts.runLoadWindow, window);
  assert.equal(w1.reused, false);
  assert.equal(w2.reused, true, 'the second attempt found the stored window');
  assert.equal(target.requests, sent, 'and sent no load');
  assert.deepEqual(w2.values, w1.values);
  assert.equal((await baselineSampleRepo().list(runId)).length, 1);
  assert.ok(w1.client.completed >= 30, `the window carried load (${w1.client.completed})`);

  const settings = {
    runId,
    profile: 'default' as const,
    criteria: DEFAULT_CRITERIA_THRESHOLDS,
    breaker: DEFAULT_BREAKER_THRESHOLDS,
    slo: { latencyBucketsSeconds: OPERATION_DURATION_BUCKETS_SECONDS },
  };
  const plan = { phase: 'baseline' as const, rps: 20, connections: 2, intervalSeconds: 2, samples: 1 };
  const d1 = await env.run(acts.writeDay1Report, { ...settings, baseline: plan });
  const d2 = await env.run(acts.writeDay1Report, { ...settings, baseline: plan });
  assert.deepEqual(d2, d1);
  assert.equal((await reportRepo().list({ runId })).length, 2, 'production report and SLO draft, once each');
  const fin = {
    ...settings,
    phases: [plan],
    outcome: 'completed' as const,
    startedAt: 1_799_999_000,
    finishedAt: 1_800_000_000,
  };
  const f1 = await env.run(acts.finalizeArtifacts, fin);
  const f2 = await env.run(acts.finalizeArtifacts, fin);
  assert.equal(f2.archive.sha256, f1.archive.sha256, 'the same run finalised twice gives the same archive');
  assert.deepEqual(f2.reportIds, f1.reportIds);
  assert.deepEqual((await reportRepo().list({ runId })).map((r) => r.id).sort(), [...f1.reportIds].sort());
  const sloth = await readFile(join(reportsDir, runId, 'slo.sloth.yaml'), 'utf8');
  const les = [...sloth.matchAll(/le="([0-9.]+)"/g)].map((m) => Number(m[1]));
  for (const le of les)
    assert.ok(OPERATION_DURATION_BUCKETS_SECONDS.includes(le), `SLO threshold le=${le} is a histogram bucket`);

  assert.ok(logLines.length > 0);
  assert.ok(!logLines.join('').includes(TOKEN), 'the token never reaches a log line');
});

test('the seed-v3 profile fills every column for a service that exports the series its queries read', async () => {
  // the seed service's own series beside our git metrics, on the same target, moving while the load runs
  const r = target.metrics.registry;
  const fallback = new Counter({
    name: 'metasheet_fallback_total',
    help: 'fallbacks',
    labelNames: ['reason'],
    registers: [r],
  });
  const adapterOps = new Counter({
    name: 'metasheet_http_adapter_ops_total',
    help: 'http adapter ops',
    registers: [r],
  });
  const rpc = new Counter({ name: 'metasheet_message_rpc_attempts_total', help: 'rpc attempts', registers: [r] });
  const reloads = new Counter({
    name: 'metasheet_plugin_reload_total',
    help: 'reloads',
    labelNames: ['plugin_name', 'result'],
    registers: [r],
  });
  const reloadSeconds = new Histogram({
    name: 'metasheet_plugin_reload_duration_seconds',
    help: 'reload',
    buckets: [0.1, 0.5, 1, 2, 5],
    registers: [r],
  });
  const creates = new Counter({
    name: 'metasheet_snapshot_create_total',
    help: 'creates',
    labelNames: ['result'],
    registers: [r],
  });
  const restores = new Counter({
    name: 'metasheet_snapshot_restore_total',
    help: 'restores',
    labelNames: ['result'],
    registers: [r],
  });
  const snapshotSeconds = new Histogram({
    name: 'metasheet_snapshot_operation_duration_seconds',
    help: 'snapshots',
    labelNames: ['operation'],
    buckets: [0.1, 0.5, 1, 2, 5],
    registers: [r],
  });
  for (const reason of ['http_error', 'message_timeout']) fallback.labels(reason).inc(0);
  for (const result of ['success', 'failure']) {
    reloads.labels('p1', result).inc(0);
    creates.labels(result).inc(0);
    restores.labels(result).inc(0);
  }
  let tick = 0;
  const seedService = setInterval(() => {
    tick++;
    adapterOps.inc(5);
    rpc.inc(2);
    if (tick % 10 === 0) {
      fallback.labels('http_error').inc();
      fallback.labels('message_timeout').inc();
    }
    reloads.labels('p1', tick % 20 === 0 ? 'failure' : 'success').inc();
    reloadSeconds.observe(0.05 * (1 + (tick % 7)));
    creates.labels('success').inc();
    restores.labels(tick % 15 === 0 ? 'failure' : 'success').inc();
    snapshotSeconds.labels(tick % 2 ? 'create' : 'restore').observe(0.2 * (1 + (tick % 5)));
  }, 50);
  try {
    const acts = createBaselineActivities(deps());
    const env = mockEnv();
    const runId = 'seed-v3-full';
    const pre = await env.run(acts.preflight, {
      runId,
      startedAt: Date.now() / 1000,
      target: targetOf(),
      job: 'sgc-target',
      expectedFlags: {},
      parameters: {},
    });
    // a first window lets every series be scraped twice before the measured one
    const base = {
      runId,
      phase: 'baseline' as const,
      windowSeconds: 3,
      rps: 20,
      connections: 2,
      requestTimeoutMs: 5_000,
      target: targetOf({ mix: { kind: 'git', workspaceIds: pre.workspaceIds } }),
      profile: 'seed-v3' as const,
      job: 'sgc-target',
    };
    await env.run(acts.runLoadWindow, { ...base, sampleNum: 1 });
    const w = await env.run(acts.runLoadWindow, { ...base, sampleNum: 2 });
    assert.deepEqual(w.promErrors, []);
    const na = queriedColumns('seed-v3').filter((c) => w.values[c] === null || w.values[c] === undefined);
    assert.deepEqual(na, [], `seed-v3 columns left NA: ${na.join(', ')}`);
    assert.equal(
      w.filledFromLoad.length,
      0,
      `every column came from its query, none from the engine (${w.filledFromLoad.join(', ')})`,
    );
    assert.ok(!row('seed-v3', w).split(',').includes('NA'));
    assert.ok(
      w.values.plugin_reload_success_rate! > 0.8 && w.values.plugin_reload_success_rate! < 1,
      `plugin reload success ${w.values.plugin_reload_success_rate}`,
    );
    assert.ok(w.values.snapshot_operation_p95! >= 200, `snapshot p95 ${w.values.snapshot_operation_p95} ms`);
  } finally {
    clearInterval(seedService);
  }
});

test('preflight refuses for good on a rejected token, a flag mismatch, or a token name outside SGC_*TOKEN', async () => {
  const env = mockEnv();
  const base = { runId: 'pre-fail', startedAt: Date.now() / 1000, job: 'sgc-target', parameters: {} };
  const wrongToken = await failureOf(
    env.run(createBaselineActivities(deps()).preflight, {
      ...base,
      target: targetOf({ tokenRef: 'SGC_WRONG_TOKEN' }),
      expectedFlags: {},
    }),
  );
  assert.equal(wrongToken.type, 'AuthError');
  assert.equal(wrongToken.nonRetryable, true);

  const flags = await failureOf(
    env.run(createBaselineActivities(deps([{ operation: 'git.push', percent: 50, shadow: false }])).preflight, {
      ...base,
      target: targetOf(),
      expectedFlags: { 'git.push': { percent: 0 } },
    }),
  );
  assert.equal(flags.type, 'ValidationError');
  assert.match(flags.message, /git\.push: percent 50, expected 0/);

  const outside = await failureOf(
    env.run(createBaselineActivities({ ...deps(), tokenFor: envTokenFor({ DATABASE_TOKEN: TOKEN }) }).preflight, {
      ...base,
      target: targetOf({ tokenRef: 'DATABASE_TOKEN' }),
      expectedFlags: {},
    }),
  );
  assert.equal(outside.type, 'ValidationError');
  assert.ok(!outside.message.includes(TOKEN));
});

test('drift activities run twice keep one sample per number and one verdict report', async () => {
  const acts = createDriftActivities({ ...deps(), prom: new PromClient({ url: prometheus.url }) });
  const env = mockEnv();
  const reviewId = 'drift-twice';
  const targets = [{ name: 'target', job: 'sgc-target', instance: '.+' }];
  const now = Date.now() / 1000;
  await env.run(acts.beginDriftReview, { reviewId, targets, durationSeconds: 4, intervalSeconds: 2, startedAt: now });
  await env.run(acts.beginDriftReview, {
    reviewId,
    targets,
    durationSeconds: 4,
    intervalSeconds: 2,
    startedAt: now + 5,
  });
  const s0 = await env.run(acts.sampleDrift, { reviewId, sampleNum: 0, at: now, targets, intervalSeconds: 2 });
  const again = await env.run(acts.sampleDrift, { reviewId, sampleNum: 0, at: now + 1, targets, intervalSeconds: 2 });
  assert.deepEqual(again, s0, 'a retried sample returns the stored one');
  const v0 = s0.targets.target;
  assert.ok(typeof v0.rssBytes === 'number' && v0.rssBytes > 0);
  assert.ok(typeof v0.heapUsedBytes === 'number' && v0.heapUsedBytes > 0, 'heap used is sampled');
  assert.ok(typeof v0.eventLoopLagP99Seconds === 'number', 'event-loop lag p99 is sampled');
  assert.ok(typeof v0.startTimeSeconds === 'number');
  assert.equal((await driftSampleRepo().list(reviewId)).length, 1);

  await new Promise((r) => setTimeout(r, 2_100));
  await env.run(acts.sampleDrift, { reviewId, sampleNum: 1, at: Date.now() / 1000, targets, intervalSeconds: 2 });
  const input = {
    reviewId,
    targets,
    durationSeconds: 2,
    intervalSeconds: 2,
    thresholds: DEFAULT_DRIFT_THRESHOLDS,
    finishedAt: now + 3,
  };
  const r1 = await env.run(acts.writeDriftReport, input);
  const r2 = await env.run(acts.writeDriftReport, input);
  assert.deepEqual(r2, r1);
  assert.equal(r1.mode, 'provisional', 'a 2 s review is a short soak');
  assert.match(r1.processes[0].summary, /^\d\/7 criteria met$/);
  assert.equal((await reportRepo().list({ runId: reviewId })).length, 1);
});

test('a review stored before reviews covered several processes (one flat row, one target) still gets its verdict', async () => {
  const acts = createDriftActivities({ ...deps(), prom: new PromClient({ url: prometheus.url }) });
  const env = mockEnv();
  const reviewId = 'drift-legacy';
  const target = { job: 'sgc-target', instance: '.+' };
  const t0 = Date.now() / 1000 - 10;
  await driftReviewRepo().upsert({
    id: reviewId,
    target,
    durationSeconds: 6,
    intervalSeconds: 2,
    startedAt: new Date(t0 * 1000),
  });
  const flat = (i: number) => ({
    at: t0 + 2 * i,
    uptimeSeconds: 100 + 2 * i,
    startTimeSeconds: t0 - 100,
    rssBytes: 50e6,
    cpuPercent: 1,
    openFds: 20,
    activeHandles: 5,
    criticalErrorsTotal: 0,
    backgroundTasksHealthy: 1,
  });
  await driftSampleRepo().upsert(reviewId, 0, flat(0));
  await driftSampleRepo().upsert(reviewId, 1, flat(1));
  // the old workflow's next attempt names one `target`
  const s1 = await env.run(acts.sampleDrift, { reviewId, sampleNum: 1, at: t0 + 2, target, intervalSeconds: 2 });
  assert.equal(s1.targets['sgc-target'].rssBytes, 50e6, 'the stored flat row, read as the one process');
  for (const i of [2, 3]) await driftSampleRepo().upsert(reviewId, i, flat(i));
  const r = await env.run(acts.writeDriftReport, {
    reviewId,
    target,
    durationSeconds: 6,
    intervalSeconds: 2,
    thresholds: DEFAULT_DRIFT_THRESHOLDS,
    finishedAt: t0 + 6,
  });
  assert.deepEqual(
    r.processes.map((p) => [p.name, p.summary]),
    [['sgc-target', '7/7 criteria met']],
  );
  assert.equal(r.passed, true);
  assert.match(r.summary, /^PASS \(provisional\) — sgc-target: 7\/7 criteria met$/);
});

test('OPERATION_DURATION_BUCKETS_SECONDS matches the gitops_operation_duration_seconds histogram', async () => {
  const { createMetrics } = await import('../../lib/metrics.js');
  const m = createMetrics({ defaultMetrics: false });
  m.operationDuration.labels('push', 'simple', 'success').observe(0.001);
  const les = (await m.operationDuration.get()).values
    .filter((v) => v.metricName === 'gitops_operation_duration_seconds_bucket')
    .map((v) => (v.labels as Record<string, string | number>).le)
    .filter((le) => le !== '+Inf')
    .map(Number);
  assert.deepEqual(les, OPERATION_DURATION_BUCKETS_SECONDS);
});
