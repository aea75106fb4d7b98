/**
 * The baseline and drift routes over HTTP (Fastify inject) against the real Temporal dev
 * server, Postgres, Prometheus and a load target: roles, validation, start → status → cancel
 * with a partial summary, Schedules, and drift reviews.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import pino from 'pino';
import type { FastifyInstance } from 'fastify';
import { baselineRoutes } from '../../api/routes/baselines.js';
import { driftRoutes } from '../../api/routes/drift.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { artifactRunId, baselineWorkflowId } from '../../workflows/ids.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startLoadTarget, type LoadTargetServer } from '../helpers/load-target.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { stackEnv } from '../helpers/stack.js';
import { testEnv, uniqueQueue } from '../helpers/temporal.js';
import { routeApp } from '../helpers/route-app.js';
import { baselineWorker } from '../helpers/baseline-worker.js';
import { baselineCommand } from '../../scripts/cli/baseline.js';
import { driftCommand } from '../../scripts/cli/drift.js';

Runtime.install({ logger: new DefaultLogger('WARN') });
const log = pino({ level: 'silent' });
const OPERATOR = 'operator-token-0123456789abcdef';
const AGENT = 'agent-token-0123456789abcdef01';
const LOAD = 'load-token-0123456789abcdef0123';

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let prometheus: PrometheusHandle;
let target: LoadTargetServer;
let reportsDir: string;
let app: FastifyInstance;
let worker: Worker;
let running: Promise<void>;
let config: Config;

beforeAll(async () => {
  [env, tdb, target, reportsDir] = await Promise.all([
    testEnv(),
    freshDb('blapi'),
    startLoadTarget({ token: LOAD }),
    mkdtemp(join(tmpdir(), 'sgc-blapi-')),
  ]);
  prometheus = await startPrometheus({
    scrapeInterval: '1s',
    scrape: [{ job: 'sgc-target', targets: [target.hostPort] }],
  });
  const taskQueue = uniqueQueue('blapi');
  config = parseConfig({
    temporal: { address: stackEnv('SGC_TEST_TEMPORAL_ADDRESS'), taskQueues: { phases: taskQueue } },
    api: {
      tokens: [
        { name: 'ops', role: 'operator', token: OPERATOR },
        { name: 'a1', role: 'agent', agentId: 'a1', token: AGENT },
      ],
    },
    baseline: { job: 'sgc-target', warmup: { durationSeconds: 1 }, day2: { enabled: false } },
    drift: { targets: [{ job: 'sgc-target' }], intervalSeconds: 1, shortSoakSeconds: 2 },
  });
  worker = await baselineWorker({
    env,
    taskQueue,
    db: tdb.db,
    promUrl: prometheus.url,
    reportsDir,
    log,
    tokenEnv: { SGC_LOAD_TOKEN: LOAD },
    hostname: 'api-test',
  });
  running = worker.run();

  const f = routeApp(config.api.tokens);
  const temporal = { client: env.client, taskQueue };
  await f.register(baselineRoutes({ temporal, config }), { prefix: '/v1' });
  await f.register(driftRoutes({ temporal, config }), { prefix: '/v1' });
  app = f as unknown as FastifyInstance;
});

afterAll(async () => {
  await app?.close();
  worker?.shutdown();
  await running;
  await Promise.allSettled([env?.teardown(), tdb?.drop(), prometheus?.stop(), target?.close()]);
  if (reportsDir) await rm(reportsDir, { recursive: true, force: true });
});

const as = (token: string) => ({ authorization: `Bearer ${token}` });

async function until<T>(fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 150));
  }
}

test('baseline routes need an operator token and validate their bodies', async () => {
  assert.equal((await app.inject({ method: 'POST', url: '/v1/baselines', payload: {} })).statusCode, 401);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/baselines', headers: as(AGENT), payload: {} })).statusCode,
    403,
  );
  const bad = await app.inject({
    method: 'POST',
    url: '/v1/baselines',
    headers: as(OPERATOR),
    payload: { target: { tokenRef: 'GIT_TOKEN' } },
  });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().field, 'target.tokenRef');
  // the default git mix needs workspaces or a repository to create them from
  const noWs = await app.inject({
    method: 'POST',
    url: '/v1/baselines',
    headers: as(OPERATOR),
    payload: { target: { baseUrl: target.url } },
  });
  assert.equal(noWs.statusCode, 400);
  assert.equal(noWs.json().field, 'target.mix');
  const missing = await app.inject({ method: 'GET', url: '/v1/baselines/nope', headers: as(OPERATOR) });
  assert.equal(missing.statusCode, 404);
});

test('POST /v1/baselines starts a run, GET shows its status, cancel stops the load and leaves a partial summary', async () => {
  const start = await app.inject({
    method: 'POST',
    url: '/v1/baselines',
    headers: as(OPERATOR),
    payload: {
      id: 'api-cancel',
      target: {
        baseUrl: target.url,
        tokenRef: 'SGC_LOAD_TOKEN',
        mix: {
          kind: 'requests',
          requests: [{ name: 'status', weight: 1, method: 'GET', path: '/v1/workspaces/w/status' }],
        },
      },
      warmup: { durationSeconds: 0 },
      baseline: { rps: 20, connections: 2, samples: 20, intervalSeconds: 1 },
    },
  });
  assert.equal(start.statusCode, 201, start.body);
  assert.equal(start.json().workflowId, baselineWorkflowId('api-cancel'));
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/v1/baselines',
        headers: as(OPERATOR),
        payload: { id: 'api-cancel', target: { mix: { kind: 'git', workspaceIds: ['w'] } } },
      })
    ).statusCode,
    409,
  );

  const status = await until(async () => {
    const s = (await app.inject({ method: 'GET', url: '/v1/baselines/api-cancel', headers: as(OPERATOR) })).json();
    return s.status?.sampleNum >= 1 ? s : undefined;
  });
  assert.equal(status.state, 'RUNNING');
  assert.equal(status.status.phase, 'baseline');
  assert.equal(status.status.samplesTotal, 20);
  // one-second windows are too short for Prometheus' fallback ratio: NA, which is neutral
  assert.ok(['ok', 'na'].includes(status.status.breaker.state));

  const cancel = await app.inject({
    method: 'POST',
    url: '/v1/baselines/api-cancel/cancel',
    headers: as(OPERATOR),
    payload: { reason: 'maintenance window' },
  });
  assert.equal(cancel.statusCode, 202);
  const done = await until(async () => {
    const s = (await app.inject({ method: 'GET', url: '/v1/baselines/api-cancel', headers: as(OPERATOR) })).json();
    return s.state === 'COMPLETED' ? s : undefined;
  });
  assert.equal(done.result.outcome, 'cancelled');
  assert.equal(done.result.reason, 'maintenance window');
  assert.ok(done.result.samples.baseline < 20);
  const before = target.requests;
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(target.requests, before, 'the load stopped');
  const runId = artifactRunId(baselineWorkflowId('api-cancel'));
  const summary = await readFile(join(reportsDir, runId, `${runId}-summary.md`), 'utf8');
  assert.match(summary, /Partial summary/);
  assert.match(summary, /cancelled\*\* — maintenance window/);
});

test('baseline Schedules over HTTP: create, list, pause, unpause, trigger', async () => {
  const name = `api-${Date.now().toString(36)}`;
  const baseline = {
    target: { baseUrl: target.url, tokenRef: 'SGC_LOAD_TOKEN', mix: { kind: 'git', workspaceIds: ['w1'] } },
    baseline: { samples: 1, intervalSeconds: 1, rps: 5, connections: 1 },
  };
  const created = await app.inject({
    method: 'POST',
    url: '/v1/baseline-schedules',
    headers: as(OPERATOR),
    payload: { name, cron: '0 9 * * 1', paused: true, baseline },
  });
  assert.equal(created.statusCode, 201, created.body);
  try {
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/baseline-schedules',
          headers: as(OPERATOR),
          payload: { name, every: '1d', baseline },
        })
      ).statusCode,
      409,
    );
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/baseline-schedules',
          headers: as(OPERATOR),
          payload: { name: 'both', every: '1d', cron: '0 9 * * 1', baseline },
        })
      ).statusCode,
      400,
    );
    const listed = await until(async () => {
      const l = (await app.inject({ method: 'GET', url: '/v1/baseline-schedules', headers: as(OPERATOR) })).json() as {
        schedules: { name: string; paused: boolean; spec: string }[];
      };
      return l.schedules.find((s) => s.name === name);
    });
    assert.deepEqual([listed.paused, listed.spec], [true, 'cron 0 9 * * 1']);
    for (const action of ['unpause', 'pause', 'trigger']) {
      assert.equal(
        (await app.inject({ method: 'POST', url: `/v1/baseline-schedules/${name}/${action}`, headers: as(OPERATOR) }))
          .statusCode,
        202,
        action,
      );
    }
    assert.equal(
      (await app.inject({ method: 'POST', url: '/v1/baseline-schedules/no-such/trigger', headers: as(OPERATOR) }))
        .statusCode,
      404,
    );
    // a Schedule applies patches asynchronously: wait for the trigger to land while it stays paused
    const handle = env.client.schedule.getHandle(created.json().scheduleId);
    // (the three patches are applied asynchronously too: wait for the pause as well, never for less)
    const d = await until(async () => {
      const x = await handle.describe();
      return x.info.recentActions.length > 0 && x.state.paused ? x : undefined;
    });
    assert.equal(d.state.paused, true);
  } finally {
    await env.client.schedule.getHandle(created.json().scheduleId).delete();
  }
});

test('POST /v1/drift-reviews starts a review and GET returns its verdict', async () => {
  const start = await app.inject({
    method: 'POST',
    url: '/v1/drift-reviews',
    headers: as(OPERATOR),
    payload: { id: 'api-drift' },
  });
  assert.equal(start.statusCode, 201, start.body);
  const done = await until(async () => {
    const s = (await app.inject({ method: 'GET', url: '/v1/drift-reviews/api-drift', headers: as(OPERATOR) })).json();
    return s.state === 'COMPLETED' ? s : undefined;
  });
  assert.match(done.result.summary, /^(PASS|FAIL) \(provisional\) — sgc-target: \d\/7 criteria met/);
  assert.deepEqual(
    done.result.processes.map((p: { name: string }) => p.name),
    ['sgc-target'],
  );
  assert.match(done.result.processes[0].summary, /^\d\/7 criteria met$/);
  assert.equal(done.result.samples, 2);
});

test('the CLI starts a baseline and a drift review and reads their results', async () => {
  const lines: string[] = [];
  const opts = { loadConfig: () => config, out: (l: string) => lines.push(l) };
  const run = (cmd: typeof baselineCommand | typeof driftCommand, ...args: string[]) =>
    cmd(opts).parseAsync(args, { from: 'user' });
  await run(
    baselineCommand,
    'start',
    '--id',
    'cli-1',
    '--target',
    target.url,
    '--token-ref',
    'SGC_LOAD_TOKEN',
    '--workspace-ids',
    'w1',
    '--warmup',
    '0',
    '--samples',
    '1',
    '--interval',
    '1',
    '--rate',
    '5',
    '--concurrency',
    '1',
    '--no-day2',
  );
  assert.match(lines.at(-1) ?? '', /^started baseline cli-1 \(workflow baseline-cli-1/);
  await run(driftCommand, 'start', '--id', 'cli-d1', '--job', 'sgc-target', '--duration', '1', '--interval', '1');
  assert.match(lines.at(-1) ?? '', /^started drift review cli-d1/);
  const baselineDone = await until(async () => {
    await run(baselineCommand, 'status', 'cli-1');
    return /COMPLETED — completed/.test(lines.at(-1) ?? '') ? lines.at(-1) : undefined;
  });
  assert.match(baselineDone, /samples: baseline 1/);
  const driftDone = await until(async () => {
    await run(driftCommand, 'status', 'cli-d1', '--json');
    const v = JSON.parse(lines.at(-1) ?? '{}') as {
      state?: string;
      result?: { summary: string; processes: { summary: string }[] };
    };
    return v.state === 'COMPLETED' ? v : undefined;
  });
  assert.match(driftDone.result?.processes[0]?.summary ?? '', /^\d\/7 criteria met$/);
  await run(driftCommand, 'status', 'cli-d1');
  assert.match(
    lines.at(-1) ?? '',
    /^drift review cli-d1: COMPLETED — (PASS|FAIL) \(provisional\)\n(.*\n)* {2}(pass|FAIL) sgc-target \(job sgc-target\): \d\/7 criteria met/,
  );
  await assert.rejects(run(baselineCommand, 'start', '--token-ref', 'GIT_TOKEN', '--workspace-ids', 'w1'), /tokenRef/);
});
