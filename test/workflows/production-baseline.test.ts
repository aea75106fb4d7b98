import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import pino from 'pino';
import { header, parse, parseSamples } from '../../lib/baseline/csv.js';
import { parseConfig } from '../../lib/config/index.js';
import { PromClient } from '../../lib/prom/client.js';
import { createBaselineRunRepository, createBaselineSampleRepository } from '../../lib/store/baseline.js';
import { createReportRepository } from '../../lib/store/reports.js';
import {
  baselineInputFromConfig,
  baselineScheduleId,
  controlBaselineSchedule,
  createBaselineSchedule,
  listBaselineSchedules,
  type BaselineOverrides,
} from '../../clients/baseline.js';
import { baselineActivities, envTokenFor } from '../../workers/phases-baseline.js';
import { artifactRunId } from '../../workflows/ids.js';
import { statusQuery } from '../../workflows/production-baseline/messages.js';
import { productionBaselineWorkflow } from '../../workflows/production-baseline/workflow.js';
import { sgcDecisionKey, sgcPhaseKey, sgcStatusKey } from '../../workflows/search-attributes.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startLoadTarget, type LoadTargetServer } from '../helpers/load-target.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { recordHistory } from '../helpers/history.js';
import { baselineWorker } from '../helpers/baseline-worker.js';
import { assertBaselineArtifacts } from '../helpers/baseline-artifacts.js';

const baselineRunRepo = () => createBaselineRunRepository(tdb.db);
const baselineSampleRepo = () => createBaselineSampleRepository(tdb.db);
const reportRepo = () => createReportRepository(tdb.db);

const log = pino({ level: 'silent' });
Runtime.install({ logger: new DefaultLogger('WARN') });
const TOKEN = 'load-token-for-tests-0123456789';
const config = parseConfig({});

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let prometheus: PrometheusHandle;
let target: LoadTargetServer;
let reportsDir: string;

beforeAll(async () => {
  [env, tdb, target, reportsDir] = await Promise.all([
    testEnv(),
    freshDb('baseline'),
    startLoadTarget({ token: TOKEN }),
    mkdtemp(join(tmpdir(), 'sgc-baseline-reports-')),
  ]);
  prometheus = await startPrometheus({
    scrapeInterval: '1s',
    scrape: [{ job: 'sgc-target', targets: [target.hostPort] }],
  });
  // the first scrape has landed before any run starts
  const prom = new PromClient({ url: prometheus.url });
  for (let i = 0; i < 100; i++) {
    const up = await prom.query('up{job="sgc-target"} == 1');
    if (up.series.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  await Promise.allSettled([env?.teardown(), tdb?.drop(), prometheus?.stop(), target?.close()]);
  if (reportsDir) await rm(reportsDir, { recursive: true, force: true });
});

function worker(taskQueue: string, extra: Partial<WorkerOptions> = {}): Promise<Worker> {
  const tokenEnv = { SGC_TEST_TOKEN: TOKEN };
  return baselineWorker({ env, taskQueue, db: tdb.db, promUrl: prometheus.url, reportsDir, log, tokenEnv }, extra);
}

/** Seconds-long version of seed 003's plan against the test target. */
function input(o: BaselineOverrides = {}) {
  return baselineInputFromConfig(config, {
    target: {
      baseUrl: target.url,
      tokenRef: 'SGC_TEST_TOKEN',
      mix: { kind: 'git', repoUrl: 'https://git.example/repo.git', workspaces: 2 },
    },
    job: 'sgc-target',
    warmup: { rps: 10, connections: 2, durationSeconds: 0 },
    baseline: { rps: 20, connections: 4, samples: 3, intervalSeconds: 2 },
    day2: { enabled: false },
    fallbackScenario: { enabled: false },
    ...o,
  });
}

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Names in a .tar.gz (ustar headers). */
function tarNames(gz: Buffer): string[] {
  const tar = gunzipSync(gz);
  const names: string[] = [];
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const str = (a: number, n: number): string =>
      h
        .subarray(a, a + n)
        .toString('utf8')
        .replace(/\0.*$/s, '');
    const size = parseInt(str(124, 12), 8);
    names.push(`${str(345, 155)}/${str(0, 100)}`);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return names;
}

test('a baseline through real Prometheus produces every artifact, stores its rows and reports, and releases its workspaces', async () => {
  const taskQueue = uniqueQueue('baseline');
  const workflowId = uniqueId('baseline-full');
  const runId = artifactRunId(workflowId);
  const w = await worker(taskQueue);
  const result = await w.runUntil(async () => {
    const handle = await env.client.workflow.start(productionBaselineWorkflow, {
      taskQueue,
      workflowId,
      args: [
        input({
          warmup: { rps: 10, connections: 2, durationSeconds: 2 },
          baseline: { rps: 20, connections: 4, samples: 3, intervalSeconds: 3 },
          day2: { enabled: true, waitSeconds: 1, rps: 20, connections: 4, samples: 2, intervalSeconds: 2 },
          fallbackScenario: { enabled: true, rps: 20, connections: 4, samples: 1, intervalSeconds: 2 },
        }),
      ],
    });
    const r = await handle.result();
    const status = await handle.query(statusQuery);
    assert.equal(status.stage, 'done');
    assert.equal(status.phase, 'fallback');
    assert.deepEqual([status.sampleNum, status.samplesTotal], [1, 1]);
    const sa = (await handle.describe()).typedSearchAttributes;
    assert.equal(sa.get(sgcPhaseKey), 'baseline');
    assert.equal(sa.get(sgcStatusKey), 'done');
    assert.equal(sa.get(sgcDecisionKey), r.decision);
    await recordHistory('productionBaselineWorkflow-completed', handle);
    return r;
  });

  assert.equal(result.outcome, 'completed');
  assert.ok(result.decision === 'go' || result.decision === 'no-go');
  assert.deepEqual(result.samples, { warmup: 1, baseline: 3, extended: 2, fallback: 1 });
  assert.equal(result.trip, null);

  const dir = join(reportsDir, runId);
  // every artifact, vouched for by the manifest, no secret in any
  const { metadata, listed, archive } = await assertBaselineArtifacts(dir, runId, {
    samples: 3,
    fallback: true,
    archiveSha256: result.archive?.sha256,
    token: TOKEN,
  });
  assert.equal(metadata.environment.hostname, 'test-host');
  // the archive holds them all
  assert.deepEqual(tarNames(archive).sort(), [...listed, 'manifest.json'].map((f) => `${runId}/${f}`).sort());

  const csv = await readFile(join(dir, 'metrics.csv'), 'utf8');
  assert.equal(csv.split('\n')[0], header('default'));
  const rows = parseSamples(csv);
  assert.deepEqual(
    rows.map((r) => r.sampleNum),
    [1, 2, 3],
  );
  // rss and pool reuse exist only in Prometheus (the load engine cannot see them)
  assert.ok(
    rows.every((r) => typeof r.values.rss_mb === 'number' && r.values.rss_mb > 10),
    'rss_mb from Prometheus in every row',
  );
  assert.ok(
    rows.some((r) => typeof r.values.cache_hit_rate === 'number'),
    'cache_hit_rate from Prometheus',
  );
  assert.equal(parseSamples(await readFile(join(dir, 'metrics-extended.csv'), 'utf8')).length, 2);

  const reports = await reportRepo().list({ runId });
  assert.deepEqual(reports.map((r) => r.kind).sort(), [
    'baseline-production',
    'baseline-production',
    'baseline-production',
    'baseline-slo',
    'baseline-summary',
  ]);
  const run = await baselineRunRepo().findById(runId);
  assert.equal(run?.status, 'finished');
  assert.equal(run?.outcome, 'ok');
  assert.ok(!JSON.stringify(run).includes(TOKEN));
  assert.equal((await baselineSampleRepo().list(runId)).length, 7);
  assert.deepEqual([...target.released].sort(), ['ws-1', 'ws-2']);
  assert.equal(target.unauthorized, 0);
});

test('a CSV profile declared in temporal.yaml writes its own columns, filled from its named queries against real Prometheus and from the load engine', async () => {
  const declared = parseConfig({
    queries: {
      'custom.pushes': 'sum(increase(gitops_operations_total{operation="push"}[$window]))',
      'custom.status_p95_ms':
        '1000 * histogram_quantile(0.95, sum by (le) (rate(gitops_operation_duration_seconds_bucket{operation="status"}[$window])))',
      'custom.absent': 'sum(increase(gitops_no_such_series_total[$window]))',
    },
    baseline: {
      profile: 'ops-v1',
      profiles: {
        'ops-v1': {
          columns: [
            { name: 'sample_num', load: 'sample_num' },
            { name: 'window_end', load: 'timestamp' },
            { name: 'pushes', query: 'custom.pushes' },
            { name: 'status_p95', query: 'custom.status_p95_ms', unit: 'ms' },
            { name: 'rss_mb', query: 'baseline.rss_mb' },
            { name: 'client_p95', load: 'p95_ms' },
            { name: 'requests', load: 'requests' },
            { name: 'not_exported', query: 'custom.absent' },
          ],
        },
      },
    },
  });
  const taskQueue = uniqueQueue('baseline-profile');
  const workflowId = uniqueId('baseline-profile');
  const runId = artifactRunId(workflowId);
  const w = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: baselineActivities({
      db: tdb.db,
      prom: new PromClient({ url: prometheus.url }),
      config: { queries: declared.queries },
      log,
      tokenFor: envTokenFor({ SGC_TEST_TOKEN: TOKEN }),
      reportsDir,
      hostname: 'test-host',
      gitSha: null,
    }),
  });
  const runInput = baselineInputFromConfig(declared, {
    target: {
      baseUrl: target.url,
      tokenRef: 'SGC_TEST_TOKEN',
      mix: { kind: 'git', repoUrl: 'https://git.example/repo.git', workspaces: 2 },
    },
    job: 'sgc-target',
    warmup: { durationSeconds: 0 },
    baseline: { rps: 20, connections: 4, samples: 2, intervalSeconds: 3 },
    day2: { enabled: false },
    fallbackScenario: { enabled: false },
  });
  assert.equal(
    typeof runInput.profile === 'object' && runInput.profile.name,
    'ops-v1',
    'the declared profile travels whole in the input',
  );
  const result = await w.runUntil(async () =>
    (await env.client.workflow.start(productionBaselineWorkflow, { taskQueue, workflowId, args: [runInput] })).result(),
  );
  assert.equal(result.outcome, 'completed');

  const csv = await readFile(join(reportsDir, runId, 'metrics.csv'), 'utf8');
  const { header: head, records } = parse(csv);
  assert.deepEqual(head, [
    'sample_num',
    'window_end',
    'pushes',
    'status_p95',
    'rss_mb',
    'client_p95',
    'requests',
    'not_exported',
  ]);
  assert.equal(records.length, 2);
  records.forEach((cells, i) => {
    const at = (c: string) => cells[head.indexOf(c)];
    assert.equal(at('sample_num'), String(i + 1));
    assert.match(at('window_end'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$/);
    // from the named queries, through Prometheus (the engine has no such statistics)
    assert.ok(Number(at('pushes')) > 0, `pushes ${at('pushes')} in window ${i + 1}`);
    assert.ok(Number(at('status_p95')) > 0, `status_p95 ${at('status_p95')}`);
    assert.ok(Number(at('rss_mb')) > 10, `rss_mb ${at('rss_mb')}`);
    // from the load engine's window
    assert.ok(Number(at('client_p95')) > 0, `client_p95 ${at('client_p95')}`);
    assert.ok(Number.isInteger(Number(at('requests'))) && Number(at('requests')) >= 30, `requests ${at('requests')}`);
    // a named query whose series the service does not export: NA, never 0
    assert.equal(at('not_exported'), 'NA');
  });
  const stored = await baselineSampleRepo().list(runId);
  assert.deepEqual(
    stored.map((x) => (x.loadStats as { filledFromLoad: string[] }).filledFromLoad),
    [
      ['client_p95', 'requests'],
      ['client_p95', 'requests'],
    ],
  );
  const metadata = JSON.parse(await readFile(join(reportsDir, runId, 'metadata.json'), 'utf8'));
  assert.equal(metadata.profile.name, 'ops-v1');
  assert.match(await readFile(join(reportsDir, runId, `${runId}-production.md`), 'utf8'), /CSV profile `ops-v1`/);
});

test('the breaker trips when the target starts failing: the load stops within one interval and a partial summary names the rule', async () => {
  const taskQueue = uniqueQueue('baseline-trip');
  const workflowId = uniqueId('baseline-trip');
  const runId = artifactRunId(workflowId);
  const intervalMs = 2_000;
  const w = await worker(taskQueue);
  let switchedAt = 0;
  try {
    const result = await w.runUntil(async () => {
      const handle = await env.client.workflow.start(productionBaselineWorkflow, {
        taskQueue,
        workflowId,
        args: [input({ baseline: { rps: 30, connections: 4, samples: 8, intervalSeconds: intervalMs / 1000 } })],
      });
      await until(async () => ((await handle.query(statusQuery)).sampleNum >= 1 ? true : undefined));
      target.setFailing(true);
      switchedAt = Date.now();
      const r = await handle.result();
      await recordHistory('productionBaselineWorkflow-breaker-tripped', handle);
      return r;
    });
    const requestsAtEnd = target.requests;
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(target.requests, requestsAtEnd, 'no load after the run ended');
    assert.ok(
      target.lastRequestAt - switchedAt <= intervalMs + 1_000,
      `load went on ${target.lastRequestAt - switchedAt} ms after the target failed`,
    );

    assert.equal(result.outcome, 'tripped');
    assert.equal(result.decision, 'tripped');
    assert.equal(result.trip?.rule, 'error_rate');
    assert.ok((result.trip?.value ?? 0) > 0.02);
    assert.ok(result.samples.baseline < 8 && result.samples.baseline >= 2);
    assert.equal(result.trip?.sampleNum, result.samples.baseline);
    const summary = await readFile(join(reportsDir, runId, `${runId}-summary.md`), 'utf8');
    assert.match(summary, /Partial summary/);
    assert.match(summary, /error_rate/);
    const run = await baselineRunRepo().findById(runId);
    assert.equal(run?.outcome, 'tripped');
    assert.match(run?.tripReason ?? '', /error_rate/);
  } finally {
    target.setFailing(false);
  }
});

test('the live breaker stops the load mid-window, seconds after the target starts failing (seed 003: stop immediately)', async () => {
  const taskQueue = uniqueQueue('baseline-live-trip');
  const workflowId = uniqueId('baseline-live-trip');
  const runId = artifactRunId(workflowId);
  const w = await worker(taskQueue);
  let switchedAt = 0;
  try {
    const result = await w.runUntil(async () => {
      // one long window: before this breaker existed, the trip waited for its end (60 s)
      const handle = await env.client.workflow.start(productionBaselineWorkflow, {
        taskQueue,
        workflowId,
        args: [input({ baseline: { rps: 30, connections: 4, samples: 2, intervalSeconds: 60 } })],
      });
      await until(async () => ((await handle.query(statusQuery)).stage === 'baseline' ? true : undefined));
      await new Promise((r) => setTimeout(r, 3_000));
      target.setFailing(true);
      switchedAt = Date.now();
      return handle.result();
    });
    const stoppedAfterMs = target.lastRequestAt - switchedAt;
    assert.ok(stoppedAfterMs < 10_000, `load went on ${stoppedAfterMs} ms after the target failed`);
    assert.equal(result.outcome, 'tripped');
    assert.equal(result.trip?.rule, 'error_rate');
    assert.equal(result.trip?.sampleNum, 1);
    assert.match(result.trip?.reason ?? '', /stopped during sample 1/);
    assert.match(result.trip?.reason ?? '', /last 60 s/);
    // the window that was stopped keeps what it measured
    const run = await baselineRunRepo().findById(runId);
    assert.equal(run?.outcome, 'tripped');
    const summary = await readFile(join(reportsDir, runId, `${runId}-summary.md`), 'utf8');
    assert.match(summary, /stopped during sample 1/);
  } finally {
    target.setFailing(false);
  }
});

test('a worker shut down mid-sample: a new worker resumes the run and no stored row is lost or duplicated', async () => {
  const taskQueue = uniqueQueue('baseline-resume');
  const workflowId = uniqueId('baseline-resume');
  const runId = artifactRunId(workflowId);
  const opts = { stickyQueueScheduleToStartTimeout: '1s' } as const;
  const w1 = await worker(taskQueue, opts);
  const running = w1.run();
  const handle = await env.client.workflow.start(productionBaselineWorkflow, {
    taskQueue,
    workflowId,
    args: [input({ baseline: { rps: 20, connections: 4, samples: 4, intervalSeconds: 2 } })],
  });
  await until(async () => ((await handle.query(statusQuery)).sampleNum >= 1 ? true : undefined));
  const first = (await baselineSampleRepo().list(runId, 'baseline'))[0];
  assert.equal(first?.sampleNum, 1);
  await new Promise((r) => setTimeout(r, 800)); // well inside window 2
  w1.shutdown();
  await running;

  const w2 = await worker(taskQueue, opts);
  const result = await w2.runUntil(handle.result());
  assert.equal(result.outcome, 'completed');
  const rows = await baselineSampleRepo().list(runId, 'baseline');
  assert.deepEqual(
    rows.map((r) => r.sampleNum),
    [1, 2, 3, 4],
  );
  assert.equal(rows[0].timestamp, first.timestamp, 'the row stored before the crash is kept as it was');
  assert.equal(parseSamples(await readFile(join(reportsDir, runId, 'metrics.csv'), 'utf8')).length, 4);

  // the interrupted window really ran twice
  const history = await handle.fetchHistory();
  const attempts = (history.events ?? []).map((e) => e.activityTaskStartedEventAttributes?.attempt ?? 0);
  assert.ok(Math.max(...attempts) >= 2, 'a load window was retried after the shutdown');
});

test('a scheduled baseline fires from its Schedule: create, list, pause, unpause, trigger', async () => {
  const taskQueue = uniqueQueue('baseline-sched');
  const name = `t-${taskQueue.slice(-8)}`;
  const { scheduleId } = await createBaselineSchedule(
    { client: env.client, taskQueue },
    { name, every: '365d' },
    input({ baseline: { rps: 10, connections: 2, samples: 1, intervalSeconds: 1 } }),
  );
  assert.equal(scheduleId, baselineScheduleId(name));
  try {
    const listed = await until(async () => (await listBaselineSchedules(env.client)).find((s) => s.name === name));
    assert.equal(listed.spec, 'every 365d');
    assert.equal(listed.paused, false);
    await controlBaselineSchedule(env.client, name, 'pause');
    // patches reach the Schedule asynchronously
    await until(async () =>
      (await env.client.schedule.getHandle(scheduleId).describe()).state.paused ? true : undefined,
    );
    await controlBaselineSchedule(env.client, name, 'unpause');

    const w = await worker(taskQueue);
    const result = await w.runUntil(async () => {
      await controlBaselineSchedule(env.client, name, 'trigger');
      const started = await until(
        async () =>
          (await env.client.schedule.getHandle(scheduleId).describe()).info.recentActions[0]?.action.workflow
            .workflowId,
      );
      assert.match(started, new RegExp(`^baseline-sched-${name}-`));
      return env.client.workflow.getHandle<typeof productionBaselineWorkflow>(started).result();
    });
    assert.equal(result.outcome, 'completed');
    assert.equal(result.samples.baseline, 1);
  } finally {
    await env.client.schedule.getHandle(scheduleId).delete();
  }
});
