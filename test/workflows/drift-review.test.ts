import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import pino from 'pino';
import { parseConfig } from '../../lib/config/index.js';
import { PromClient } from '../../lib/prom/client.js';
import { createDriftReviewRepository, createDriftSampleRepository } from '../../lib/store/drift.js';
import { driftInputFromConfig } from '../../clients/drift.js';
import { driftStatusQuery } from '../../workflows/drift-review/messages.js';
import { driftReviewWorkflow } from '../../workflows/drift-review/workflow.js';
import { artifactRunId } from '../../workflows/ids.js';
import { sgcDecisionKey, sgcPhaseKey } from '../../workflows/search-attributes.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueId, uniqueQueue } from '../helpers/temporal.js';
import { recordHistory } from '../helpers/history.js';
import { baselineWorker } from '../helpers/baseline-worker.js';

const driftReviewRepo = () => createDriftReviewRepository(tdb.db);
const driftSampleRepo = () => createDriftSampleRepository(tdb.db);

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

interface Target {
  child: ChildProcess;
  hostPort: string;
}

async function startTarget(leak: boolean): Promise<Target> {
  const child = spawn(process.execPath, ['-e', TARGET_SRC], {
    cwd: process.cwd(),
    env: { PATH: process.env.PATH, LEAK: leak ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
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
    testEnv(),
    freshDb('drift'),
    startTarget(false),
    startTarget(true),
    mkdtemp(join(tmpdir(), 'sgc-drift-reports-')),
  ]);
  prometheus = await startPrometheus({
    scrapeInterval: '1s',
    scrape: [
      { job: 'drift-healthy', targets: [healthy.hostPort] },
      { job: 'drift-leaky', targets: [leaky.hostPort] },
    ],
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

test('one review of two processes gives each its verdict and fails overall naming the leaking one; a full-length review of a healthy one passes as full', async () => {
  const taskQueue = uniqueQueue('drift');
  const worker = await baselineWorker({
    env,
    taskQueue,
    db: tdb.db,
    promUrl: prometheus.url,
    reportsDir,
    log,
    tokenEnv: {},
  });
  // two processes as drift.targets lists them: a name in the verdict and a Prometheus job each
  const config = parseConfig({
    drift: {
      targets: [
        { name: 'healthy', job: 'drift-healthy' },
        { name: 'leaky', job: 'drift-leaky' },
      ],
      intervalSeconds: 2,
      shortSoakSeconds: 8,
    },
  });
  const healthyId = uniqueId('drift-healthy');
  const bothId = uniqueId('drift-both');

  const [ok, both, okHandle] = await worker.runUntil(async () => {
    // the healthy process alone, with the full-review threshold at the soak's length: reported as full;
    // samplesPerRun 2 forces continue-as-new twice in a 4-sample review
    const h1 = await env.client.workflow.start(driftReviewWorkflow, {
      taskQueue,
      workflowId: healthyId,
      args: [
        {
          ...driftInputFromConfig(config, { target: { name: 'healthy', job: 'drift-healthy' } }),
          fullReviewMinSeconds: 8,
          samplesPerRun: 2,
        },
      ],
    });
    // both processes in one review (the default: every target), the 48 h threshold: provisional
    const h2 = await env.client.workflow.start(driftReviewWorkflow, {
      taskQueue,
      workflowId: bothId,
      args: [driftInputFromConfig(config)],
    });
    const status = await h2.query(driftStatusQuery);
    assert.equal(status.samplesTotal, 4);
    const results = [await h1.result(), await h2.result(), h1] as const;
    await recordHistory(
      'driftReviewWorkflow-first-run-continued',
      env.client.workflow.getHandle(healthyId, h1.firstExecutionRunId),
    );
    await recordHistory('driftReviewWorkflow-last-run-pass', h1);
    await recordHistory('driftReviewWorkflow-fail', h2);
    return results;
  });

  assert.equal(ok.passed, true, ok.summary);
  assert.equal(ok.mode, 'full');
  assert.equal(ok.summary, 'PASS (full) — healthy: 7/7 criteria met');
  assert.deepEqual(
    ok.processes.map((p) => [p.name, p.summary]),
    [['healthy', '7/7 criteria met']],
  );
  assert.equal(ok.samples, 4);
  assert.notEqual((await okHandle.describe()).runId, okHandle.firstExecutionRunId, 'the review continued as new');
  assert.equal((await okHandle.describe()).typedSearchAttributes.get(sgcDecisionKey), 'pass');
  assert.equal((await okHandle.describe()).typedSearchAttributes.get(sgcPhaseKey), 'drift');
  // Temporal UI's list shows the verdict in the run's memo (kept current by the workflow, across continue-as-new)
  assert.equal((await okHandle.describe()).memo?.summary, `drift review ${ok.summary}`);

  // per process: the healthy one meets 7/7, the leaking one fails on memory growth
  const byName = Object.fromEntries(both.processes.map((p) => [p.name, p]));
  assert.deepEqual(Object.keys(byName), ['healthy', 'leaky']);
  assert.equal(
    byName.healthy.summary,
    '7/7 criteria met',
    `healthy: failed ${byName.healthy.failed.join(', ')}; missing ${byName.healthy.missing.join(', ')}`,
  );
  assert.equal(byName.healthy.passed, true);
  assert.equal(byName.leaky.passed, false);
  assert.ok(byName.leaky.failed.includes('memory_growth'), `leaky failed ${byName.leaky.failed.join(', ')}`);
  assert.match(byName.leaky.summary, /^[0-6]\/7 criteria met$/);
  // overall: FAIL, provisional (an 8 s soak is never a full review), naming the process
  assert.equal(both.passed, false);
  assert.equal(both.mode, 'provisional');
  assert.deepEqual(both.failedProcesses, ['leaky']);
  assert.match(
    both.summary,
    /^FAIL \(provisional\) — leaky: [0-6]\/7 criteria met \(failed: [^)]*memory_growth[^)]*\); healthy: 7\/7 criteria met$/,
  );
  assert.ok(both.failed.includes('leaky:memory_growth'));

  const okId = artifactRunId(healthyId);
  const bothRunId = artifactRunId(bothId);
  assert.deepEqual(
    (await driftSampleRepo().list(okId)).map((s) => s.sampleNum),
    [0, 1, 2, 3, 4],
  );
  assert.equal((await driftReviewRepo().findById(bothRunId))?.passed, false);
  const report = await readFile(join(reportsDir, bothRunId, `${bothRunId}-verdict.md`), 'utf8');
  assert.match(report, /\*\*Overall: ❌ FAIL \(provisional\)\*\* — failed: leaky/);
  assert.match(report, /## leaky — job `drift-leaky`[^\n]*❌ [0-6]\/7 CRITERIA MET/);
  assert.match(report, /## healthy — job `drift-healthy`[^\n]*✅ 7\/7 CRITERIA MET/);
  // the T0 / T+N / Delta table covers every resource, for each process
  const leakySection = report.slice(report.indexOf('## leaky'));
  assert.match(leakySection, /\| Resource \| T0 \| T\+\d+ s \| Delta \| Status \|/);
  assert.match(leakySection, /\| Memory \(RSS\) \| [\d.]+ MB \| [\d.]+ MB \| \+[\d.]+ MB \(\+[\d.]+%\) \| ❌ Fail \|/);
  for (const resource of [
    'Uptime',
    'Heap used',
    'CPU \\(avg\\)',
    'Open fds',
    'Active handles',
    'Event-loop lag p99',
    'Restarts',
    'Critical errors',
  ]) {
    assert.match(
      leakySection,
      new RegExp(`\\| ${resource} \\| [^|]*\\d[^|]* \\| [^|]*\\d[^|]* \\|`),
      `${resource} has T0 and T+N values`,
    );
  }
  assert.match(leakySection, /\| Memory growth \|[^\n]*❌ Fail/);
  assert.match(
    await readFile(join(reportsDir, okId, `${okId}-verdict.md`), 'utf8'),
    /\*\*Overall: ✅ PASS \(full\)\*\*/,
  );
  const csv = await readFile(join(reportsDir, bothRunId, 'drift-samples.csv'), 'utf8');
  assert.match(csv, /^sample_num,process,job,at,uptimeSeconds/);
  assert.equal(csv.trimEnd().split('\n').length, 1 + 5 * 2, 'one line per sample and process');
});
