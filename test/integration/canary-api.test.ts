/**
 * The flag and rollout routes over HTTP (Fastify inject) against the real Temporal dev server and
 * Postgres: roles, validation, audited changes, the kill switch's measured switch time and its
 * idempotency key, and a rollout started, steered and rolled back through the API. The FlagCache
 * in this process is the API process's own.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { controlRollout } from '../../clients/canary.js';
import { flagRoutes } from '../../api/routes/flags.js';
import { rolloutRoutes } from '../../api/routes/rollouts.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { FlagCache } from '../../lib/flags/cache.js';
import { FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import { canaryActivities } from '../../workers/phases-canary.js';
import { flagsCommand } from '../../scripts/cli/flags.js';
import { rolloutCommand } from '../../scripts/cli/rollout.js';
import { stackEnv } from '../helpers/stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { routeApp } from '../helpers/route-app.js';
import { canaryRolloutWorkflow } from '../../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId } from '../../workflows/ids.js';
import { workerInterceptors } from '../../workers/interceptors.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });
const ADMIN = 'admin-token-0123456789abcdef012';
const OPERATOR = 'operator-token-0123456789abcdef';
const AGENT = 'agent-token-0123456789abcdef01';

let env: TestWorkflowEnvironment;
let t: TestDb;
let cache: FlagCache;
let app: FastifyInstance;
let worker: Worker;
let running: Promise<void>;
let config: Config;
let reportsDir: string;

beforeAll(async () => {
  [env, t] = await Promise.all([testEnv(), freshDb('canary_api')]);
  reportsDir = mkdtempSync(join(tmpdir(), 'sgc-canary-api-'));
  cache = await FlagCache.start({ connectionString: t.url, processId: 'api-process', heartbeatMs: 500 });
  const taskQueue = uniqueQueue('canary-api');
  config = parseConfig({
    temporal: { taskQueues: { phases: taskQueue } },
    api: {
      tokens: [
        { name: 'root', role: 'admin', token: ADMIN },
        { name: 'ops', role: 'operator', token: OPERATOR },
        { name: 'a1', role: 'agent', agentId: 'a1', token: AGENT },
      ],
    },
    // the test's analyses run every second against constant queries: a 0.5 s scrape allows it
    canary: { analysisIntervalSeconds: 1, scrapeIntervalSeconds: 0.5 },
  });
  const flags = new FlagStore(t.db);
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    // nothing listens on port 9: every analysis is inconclusive (Prometheus unreachable)
    activities: canaryActivities({
      db: t.db,
      flags,
      cache,
      prom: new PromClient({ url: 'http://127.0.0.1:9', timeoutMs: 500 }),
      queries: DEFAULT_QUERIES,
      reportsDir,
      metrics: createMetrics({ defaultMetrics: false }),
      log,
    }),
    interceptors: workerInterceptors({ log, metrics: createMetrics({ defaultMetrics: false }) }),
  });
  running = worker.run();

  const f = routeApp(config.api.tokens);
  await f.register(flagRoutes({ flags, switchTimeoutMs: 3_000 }), { prefix: '/v1' });
  await f.register(rolloutRoutes({ client: env.client, taskQueue, defaults: config.canary }), { prefix: '/v1' });
  app = f as unknown as FastifyInstance;
});

afterAll(async () => {
  await app?.close();
  worker?.shutdown();
  await running;
  await cache?.close();
  await t?.drop();
  await env?.teardown();
  rmSync(reportsDir, { recursive: true, force: true });
});

const as = (token: string) => ({ authorization: `Bearer ${token}` });

test('flags are admin-only: no token 401, operator 403, admin 200 with every flag', async () => {
  assert.equal((await app.inject({ method: 'GET', url: '/v1/flags' })).statusCode, 401);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/flags', headers: as(OPERATOR) })).statusCode, 403);
  const res = await app.inject({ method: 'GET', url: '/v1/flags', headers: as(ADMIN) });
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().flags.length, 8);
  assert.deepEqual(res.json().flags[0], { ...res.json().flags[0], operation: 'git.clone', percent: 0, shadow: false });
});

test('PUT /v1/flags/:operation changes one flag, audited with the caller and the reason; a reason is required', async () => {
  const bad = await app.inject({ method: 'PUT', url: '/v1/flags/push', headers: as(ADMIN), payload: { percent: 20 } });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().field, 'reason');
  assert.equal(
    (
      await app.inject({
        method: 'PUT',
        url: '/v1/flags/push',
        headers: as(ADMIN),
        payload: { percent: 101, reason: 'x' },
      })
    ).statusCode,
    400,
  );
  assert.equal(
    (
      await app.inject({
        method: 'PUT',
        url: '/v1/flags/nope',
        headers: as(ADMIN),
        payload: { percent: 1, reason: 'x' },
      })
    ).json().field,
    'operation',
  );

  const res = await app.inject({
    method: 'PUT',
    url: '/v1/flags/push',
    headers: as(ADMIN),
    payload: { percent: 20, shadow: true, reason: 'canary by hand' },
  });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().changed, [
    {
      operation: 'git.push',
      old: { percent: 0, shadow: false, shadowPercent: 0 },
      new: { percent: 20, shadow: true, shadowPercent: 100 },
    },
  ]);
  const audit = await app.inject({ method: 'GET', url: '/v1/flags/audit?operation=push&limit=1', headers: as(ADMIN) });
  assert.deepEqual(
    (({ operation, actor, reason, old, new: n }) => ({ operation, actor, reason, old, new: n }))(
      audit.json().entries[0],
    ),
    {
      operation: 'git.push',
      actor: 'api:root',
      reason: 'canary by hand',
      old: { percent: 0, shadow: false, shadowPercent: 0 },
      new: { percent: 20, shadow: true, shadowPercent: 100 },
    },
  );
  // the shadow share (issue 10 item 2): set, and refused with the field named when out of range or contradicting shadow
  const share = await app.inject({
    method: 'PUT',
    url: '/v1/flags/push',
    headers: as(ADMIN),
    payload: { shadowPercent: 10, reason: 'shadow week' },
  });
  assert.equal(share.statusCode, 200);
  assert.deepEqual(share.json().changed[0].new, { percent: 20, shadow: true, shadowPercent: 10 });
  const listed = await app.inject({ method: 'GET', url: '/v1/flags', headers: as(ADMIN) });
  assert.equal(listed.json().flags.find((f: { operation: string }) => f.operation === 'git.push').shadowPercent, 10);
  for (const payload of [
    { shadowPercent: 150, reason: 'x' },
    { shadowPercent: 2.5, reason: 'x' },
    { shadow: false, shadowPercent: 10, reason: 'x' },
  ]) {
    const bad = await app.inject({ method: 'PUT', url: '/v1/flags/push', headers: as(ADMIN), payload });
    assert.equal(bad.statusCode, 400, JSON.stringify(payload));
    assert.equal(bad.json().field, 'shadowPercent', JSON.stringify(bad.json()));
  }
  await app.inject({
    method: 'PUT',
    url: '/v1/flags/push',
    headers: as(ADMIN),
    payload: { shadowPercent: 100, reason: 'back' },
  });
  // same values again: nothing written
  const again = await app.inject({
    method: 'PUT',
    url: '/v1/flags/git.push',
    headers: as(ADMIN),
    payload: { percent: 20, reason: 'again' },
  });
  assert.equal(again.json().changeId, null);
});

test('POST /v1/flags/kill turns every flag off, answers with the measured switch time, and is idempotent by key', async () => {
  await app.inject({
    method: 'PUT',
    url: '/v1/flags/clone',
    headers: as(ADMIN),
    payload: { percent: 50, reason: 'on' },
  });
  const headers = { ...as(ADMIN), 'idempotency-key': 'kill-1' };
  const res = await app.inject({ method: 'POST', url: '/v1/flags/kill', headers, payload: { reason: 'incident 42' } });
  assert.equal(res.statusCode, 200);
  const body = res.json();
  assert.ok(
    body.eventId > 0 && body.switched === true && body.durationMs < 1_000 && body.processes >= 1,
    JSON.stringify(body),
  );
  assert.deepEqual(body.changed.map((c: { operation: string }) => c.operation).sort(), ['git.clone', 'git.push']);
  assert.ok(
    cache.all().every((f) => f.percent === 0 && !f.shadow),
    "the API process's own cache has switched",
  );
  const retry = await app.inject({
    method: 'POST',
    url: '/v1/flags/kill',
    headers,
    payload: { reason: 'incident 42' },
  });
  assert.equal(retry.json().eventId, body.eventId);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/flags/kill', headers: as(ADMIN), payload: {} })).statusCode,
    400,
  );
  // the kill latched the flags (test/security/kill-latch.test.ts); the next tests change them again
  assert.equal(
    (
      await app.inject({
        method: 'POST',
        url: '/v1/flags/unlatch',
        headers: as(ADMIN),
        payload: { reason: 'incident 42 resolved' },
      })
    ).json().cleared,
    true,
  );
});

test('a rollout is started, read, steered and rolled back through the API; one at a time; a refused action answers 409 with the reason', async () => {
  const stages = [
    { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3_600 },
    { name: 'end', percent: 10, shadow: false, holdSeconds: 0 },
  ];
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/rollouts', headers: as(AGENT), payload: { stages } })).statusCode,
    403,
  );
  // custom stages are admin work (test/security/rollout-bounds.test.ts); operators steer it below
  const started = await app.inject({
    method: 'POST',
    url: '/v1/rollouts',
    headers: as(ADMIN),
    payload: { rolloutId: 'api-r1', stages },
  });
  assert.equal(started.statusCode, 201, started.body);
  assert.equal(started.json().workflowId, 'canary-api-r1');

  const status = async () =>
    (await app.inject({ method: 'GET', url: '/v1/rollouts/api-r1', headers: as(OPERATOR) })).json();
  const until = async (what: string, pred: (s: { status: string; stage: { startedAt: string | null } }) => boolean) => {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = await status();
      if (pred(s)) return s;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await until('stage applied', (s) => s.stage.startedAt !== null);
  // Prometheus is unreachable here: the analysis is inconclusive and the rollout pauses, saying why
  const paused = await until('paused', (s) => s.status === 'paused');
  assert.match(paused.paused.reason, /PromUnavailable/);

  // visibility lags a start by up to a second: retry until the running rollout is listed
  let dup;
  for (let i = 0; i < 50; i++) {
    dup = await app.inject({ method: 'POST', url: '/v1/rollouts', headers: as(ADMIN), payload: { stages } });
    if (dup.statusCode === 409) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.equal(dup?.statusCode, 409, dup?.body);

  const post = (action: string, payload?: object) =>
    app.inject({
      method: 'POST',
      url: `/v1/rollouts/api-r1/${action}`,
      headers: as(OPERATOR),
      ...(payload ? { payload } : {}),
    });
  const refused = async (action: string, payload: object | undefined, message: RegExp) => {
    const res = await post(action, payload);
    assert.equal(res.statusCode, 409, res.body);
    assert.equal(res.json().error, 'refused');
    assert.match(res.json().message, message);
  };
  await refused(
    'advance',
    { stage: 'canary-10' },
    /^advance refused: the rollout is paused \(inconclusive analysis: .*PromUnavailable.*\); resume it first$/,
  );
  await refused('pause', undefined, /^pause refused: the rollout is already paused since /);
  await refused(
    'advance',
    { stage: 'end' },
    /^advance refused: advance was for stage end, the rollout is at canary-10$/,
  );
  const resumed = await post('resume');
  assert.equal(resumed.statusCode, 200, resumed.body);
  assert.deepEqual(
    [resumed.json().action, resumed.json().status.status, resumed.json().status.paused],
    ['resume', 'running', null],
  );

  assert.equal((await post('rollback', {})).json().field, 'reason');
  const rb = await post('rollback', { reason: 'operator says no' });
  assert.equal(rb.statusCode, 200, rb.body);
  const done = rb.json().status;
  assert.equal(done.status, 'rolled_back');
  assert.equal(done.rollback.reason, 'operator says no');
  assert.equal(done.rollback.actor, 'api:ops');
  assert.equal(done.rollback.switched, true);
  assert.equal(done.stage.percent, 0);
  assert.equal((await status()).status, 'rolled_back');
  // a rollout that has ended refuses with how it ended; one that never existed is 404
  await refused('pause', undefined, /^pause refused: the rollout was rolled back at canary-10 \(operator says no\)$/);
  await refused('rollback', { reason: 'again' }, /^rollback refused: the rollout was rolled back/);
  assert.equal((await app.inject({ method: 'GET', url: '/v1/rollouts/nope', headers: as(OPERATOR) })).statusCode, 404);
  assert.equal(
    (await app.inject({ method: 'POST', url: '/v1/rollouts/nope/resume', headers: as(OPERATOR) })).statusCode,
    404,
  );
});

test('the CLI sets, lists, kills and audits flags, and starts, reads and rolls back a rollout', async () => {
  const lines: string[] = [];
  const cliConfig = () =>
    parseConfig({
      postgres: { url: t.url },
      temporal: { address: stackEnv('SGC_TEST_TEMPORAL_ADDRESS'), taskQueues: config.temporal.taskQueues },
      canary: { analysisIntervalSeconds: 1, scrapeIntervalSeconds: 0.5 },
    });
  // commander exits the process on a usage error unless told to throw, per (sub)command
  const testable = (cmd: Command): Command => {
    for (const c of [cmd, ...cmd.commands]) c.exitOverride().configureOutput({ writeErr: () => undefined });
    return cmd;
  };
  const flags = (...args: string[]) =>
    testable(flagsCommand({ loadConfig: cliConfig, out: (l) => lines.push(l) })).parseAsync(args, { from: 'user' });
  const rollout = (...args: string[]) =>
    testable(rolloutCommand({ loadConfig: cliConfig, out: (l) => lines.push(l) })).parseAsync(args, { from: 'user' });

  await flags('set', 'diff', '--percent', '30', '--shadow', 'on', '--reason', 'cli test');
  assert.match(lines.pop()!, /^changed git\.diff 0%→30%/);
  await flags('list');
  assert.ok(
    lines.some((l) => /^git\.diff\s+30%\s+shadow on/.test(l)),
    lines.join('\n'),
  );
  await flags('kill', '--reason', 'cli kill');
  assert.match(lines.pop()!, /^killed 1 flag\(s\) \(event \d+\); every process switched in [\d.]+ ms; latched$/);
  await flags('unlatch', '--reason', 'cli kill resolved');
  assert.equal(lines.pop(), 'unlatched: flag writes are accepted again');
  await flags('audit', '--operation', 'diff', '--limit', '1');
  assert.match(lines.pop()!, /git\.diff\s+30%\+shadow → 0% {2}by cli:\S+: cli kill/);
  await assert.rejects(flags('set', 'diff', '--percent', '300', '--reason', 'x'));

  // issue 10 item 2: with the shipped 5 s scrape, `--interval 5` is refused before anything starts
  const shipped = () =>
    parseConfig({
      postgres: { url: t.url },
      temporal: { address: stackEnv('SGC_TEST_TEMPORAL_ADDRESS'), taskQueues: config.temporal.taskQueues },
    });
  await assert.rejects(
    testable(rolloutCommand({ loadConfig: shipped, out: (l) => lines.push(l) })).parseAsync(
      ['start', '--id', 'cli-too-fast', '--interval', '5'],
      { from: 'user' },
    ),
    /analysisIntervalSeconds 5 s is shorter than two Prometheus scrape intervals \(scrape interval 5 s, canary.scrapeIntervalSeconds\)/,
  );

  await rollout(
    'start',
    '--id',
    'cli-r1',
    '--stages',
    writeStages([{ name: 'canary-5', percent: 5, shadow: true, holdSeconds: 3_600 }]),
  );
  assert.match(lines.pop()!, /^started rollout cli-r1 \(workflow canary-cli-r1/);
  for (let i = 0; i < 100 && !/canary-5 \(5% to approach 2/.test(lines.at(-1) ?? ''); i++) {
    await rollout('status', 'cli-r1');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(lines.at(-1)!, /^rollout cli-r1: \w+ — stage 1\/1 canary-5 \(5% to approach 2, shadow on\)/);
  await assert.rejects(rollout('rollback', 'cli-r1'), /--reason/);
  await assert.rejects(
    rollout('advance', 'cli-r1'),
    /advance refused: canary-5 is the last stage: nothing to advance to/,
  );
  await rollout('rollback', 'cli-r1', '--reason', 'cli says stop');
  assert.match(lines.pop()!, /^rolled back rollout cli-r1 from canary-5: every process switched in [\d.]+ ms$/);
  for (let i = 0; i < 100 && !/rolled_back/.test(lines.at(-1) ?? ''); i++) {
    await rollout('status', 'cli-r1');
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(lines.join('\n'), /rolled back \(rollback\) from canary-5: cli says stop/);
});

test('an action no worker answers fails with a timeout naming the rollout instead of hanging', async () => {
  const h = await env.client.workflow.start(canaryRolloutWorkflow, {
    taskQueue: uniqueQueue('canary-no-worker'),
    workflowId: canaryWorkflowId('api-no-worker'),
    args: [{ rolloutId: 'api-no-worker', stages: [{ name: 'canary-10', percent: 10, shadow: true, holdSeconds: 60 }] }],
  });
  try {
    const started = Date.now();
    await assert.rejects(
      controlRollout({ client: env.client }, 'api-no-worker', { name: 'pause' }, { timeoutMs: 1_500 }),
      (e: unknown) =>
        e instanceof DomainError &&
        e.type === ErrorType.Timeout &&
        /rollout api-no-worker did not answer pause within 1.5 s/.test(e.message),
    );
    assert.ok(Date.now() - started < 10_000, `answered after ${Date.now() - started} ms`);
  } finally {
    await h.terminate('test cleanup');
  }
});

function writeStages(stages: object[]): string {
  const file = join(reportsDir, `stages-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(stages));
  return file;
}
