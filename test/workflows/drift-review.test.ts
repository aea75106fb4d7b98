import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import pino from 'pino';
import { parseConfig } from '../../lib/config/index.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { PromClient } from '../../lib/prom/client.js';
import { getDriftReview, listDriftSamples } from '../../lib/store/drift.js';
import { driftInputFromConfig } from '../../clients/drift.js';
import { baselineActivities, envTokenFor } from '../../workers/phases-baseline.js';
import { driftStatusQuery } from '../../workflows/drift-review/messages.js';
import { driftReviewWorkflow } from '../../workflows/drift-review/workflow.js';
import { artifactRunId } from '../../workflows/ids.js';
import { sgcDecisionKey, sgcPhaseKey } from '../../workflows/search-attributes.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { recordHistory } from '../helpers/history.js';

const log = pino({ level: 'silent' });
Runtime.install({ logger: new DefaultLogger('WARN') });

/**
 * A process to review: prom-client's process metrics plus the error-log counter (initialised
 * at 0, as our processes do). With LEAK=1 it keeps 2 MiB more every 100 ms (filled, so the
 * pages are resident): RSS grows about 20 MiB a second.
 */
const TARGET_SRC = `
const http = require('node:http');
const client = require('prom-client');
const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });
const errors = new client.Counter({ name: 'gitops_log_errors_total', help: 'log errors', labelNames: ['level'], registers: [registry] });
errors.labels('error').inc(0); errors.labels('fatal').inc(0);
const kept = [];
if (process.env.LEAK === '1') setInterval(() => kept.push(Buffer.alloc(2 * 1048576, 1)), 100);
const server = http.createServer(async (req, res) => {
  res.setHeader('content-type', registry.contentType);
  res.end(await registry.metrics());
});
server.listen(0, '127.0.0.1', () => process.stdout.write(String(server.address().port) + '\\n'));
process.on('disconnect', () => process.exit(0));
`;

interface Target { child: ChildProcess; hostPort: string }

async function startTarget(leak: boolean): Promise<Target> {
  const child = spawn(process.execPath, ['-e', TARGET_SRC], { cwd: process.cwd(), env: { PATH: process.env.PATH, LEAK: leak ? '1' : '0' }, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  return { child, hostPort: `127.0.0.1:${Number(String(chunk).trim())}` };
}

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let prometheus: PrometheusHandle;
let healthy: Target;
let leaky: Target;
let reportsDir: string;

beforeAll(async () => {
  [env, tdb, healthy, leaky, reportsDir] = await Promise.all([
    testEnv(), freshDb('drift'), startTarget(false), startTarget(true), mkdtemp(join(tmpdir(), 'sgc-drift-reports-')),
  ]);
  prometheus = await startPrometheus({
    scrapeInterval: '1s',
    scrape: [{ job: 'drift-healthy', targets: [healthy.hostPort] }, { job: 'drift-leaky', targets: [leaky.hostPort] }],
  });
  // T0 comes after both processes have been scraped a few times (start-up CPU out of the rate window)
  const prom = new PromClient({ url: prometheus.url });
  for (let i = 0; i < 100; i++) {
    const up = await prom.query('count_over_time(up{job=~"drift-.*"}[10s]) >= 3');
    if (up.series.length === 2) break;
    await new Promise((r) => setTimeout(r, 200));
  }
});

afterAll(async () => {
  healthy?.child.kill();
  leaky?.child.kill();
  await Promise.allSettled([env?.teardown(), tdb?.drop(), prometheus?.stop()]);
  if (reportsDir) await rm(reportsDir, { recursive: true, force: true });
});

test('a drift review passes 7/7 for a healthy process and fails naming memory growth for one that leaks', async () => {
  const taskQueue = uniqueQueue('drift');
  const worker = await Worker.create({
    connection: env.nativeConnection, taskQueue, workflowBundle: await workflowBundle(),
    activities: baselineActivities({
      db: tdb.db, prom: new PromClient({ url: prometheus.url }), config: { queries: DEFAULT_QUERIES }, log,
      tokenFor: envTokenFor({}), reportsDir, hostname: 'test-host', gitSha: null,
    }),
  });
  const config = parseConfig({});
  const review = (job: string) => driftInputFromConfig(config, { target: { job }, durationSeconds: 8, intervalSeconds: 2 });
  const healthyId = uniqueId('drift-healthy');
  const leakyId = uniqueId('drift-leaky');

  const [ok, bad, okHandle] = await worker.runUntil(async () => {
    // samplesPerRun 2 forces continue-as-new twice in a 4-sample review
    const h1 = await env.client.workflow.start(driftReviewWorkflow, { taskQueue, workflowId: healthyId, args: [{ ...review('drift-healthy'), samplesPerRun: 2 }] });
    const h2 = await env.client.workflow.start(driftReviewWorkflow, { taskQueue, workflowId: leakyId, args: [review('drift-leaky')] });
    const status = await h2.query(driftStatusQuery);
    assert.equal(status.samplesTotal, 4);
    const results = [await h1.result(), await h2.result(), h1] as const;
    await recordHistory('driftReviewWorkflow-first-run-continued', env.client.workflow.getHandle(healthyId, h1.firstExecutionRunId));
    await recordHistory('driftReviewWorkflow-last-run-pass', h1);
    await recordHistory('driftReviewWorkflow-fail', h2);
    return results;
  });

  assert.equal(ok.summary, '7/7 criteria met', `healthy review: failed ${ok.failed.join(', ')}; missing ${ok.missing.join(', ')}`);
  assert.equal(ok.passed, true);
  assert.equal(ok.samples, 4);
  assert.notEqual((await okHandle.describe()).runId, okHandle.firstExecutionRunId, 'the review continued as new');
  assert.equal((await okHandle.describe()).typedSearchAttributes.get(sgcDecisionKey), 'pass');
  assert.equal((await okHandle.describe()).typedSearchAttributes.get(sgcPhaseKey), 'drift');

  assert.equal(bad.passed, false);
  assert.ok(bad.failed.includes('memory_growth'), `leaky review failed ${bad.failed.join(', ')}`);
  assert.match(bad.summary, /^[0-6]\/7 criteria met$/);

  const okId = artifactRunId(healthyId);
  const badId = artifactRunId(leakyId);
  assert.deepEqual((await listDriftSamples(tdb.db, okId)).map((s) => s.sampleNum), [0, 1, 2, 3, 4]);
  assert.equal((await getDriftReview(tdb.db, badId))?.passed, false);
  const badReport = await readFile(join(reportsDir, badId, `${badId}-verdict.md`), 'utf8');
  assert.match(badReport, /\| Memory growth \|[^\n]*❌ Fail/);
  assert.match(await readFile(join(reportsDir, okId, `${okId}-verdict.md`), 'utf8'), /7\/7 CRITERIA MET/);
  assert.match(await readFile(join(reportsDir, okId, 'drift-samples.csv'), 'utf8'), /^sample_num,at,uptimeSeconds/);
});
