/**
 * Issue 9 item 5: a kill switch that stays killed. `POST /v1/flags/kill` sets a persistent latch
 * in Postgres; while it is set every flag write (the API's PUT, the weekly drill, a canary stage)
 * is refused with 409 and the reason, until an admin unlatches with a reason. The drill restores
 * its pre-drill flags in a `finally`, and never over a kill.
 *
 * Real Postgres, the real Temporal dev server and the activities the phases worker registers; the
 * only injected fault is one drill flip that fails (to prove the `finally`).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure, WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { flagRoutes } from '../../api/routes/flags.js';
import { parseConfig } from '../../lib/config/index.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { createDb } from '../../lib/db/index.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { FlagCache } from '../../lib/flags/cache.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import { canaryActivities } from '../../workers/phases-canary.js';
import { canaryRolloutWorkflow } from '../../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId } from '../../workflows/ids.js';
import { rollbackDrillWorkflow } from '../../workflows/rollback-drill/workflow.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv, uniqueId, uniqueQueue } from '../helpers/temporal.js';
import { routeApp } from '../helpers/route-app.js';
import { testWorker } from '../helpers/worker.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });
const ADMIN = 'admin-token-0123456789abcdef012';
const OPERATOR = 'operator-token-0123456789abcdef';

let env: TestWorkflowEnvironment;
let t: TestDb;
let store: FlagStore;
let cache: FlagCache;
let app: FastifyInstance;
let reportsDir: string;

beforeAll(async () => {
  [env, t] = await Promise.all([testEnv(), freshDb('latch')]);
  store = new FlagStore(t.db);
  cache = await FlagCache.start({ connectionString: t.url, processId: 'latch-worker', heartbeatMs: 500 });
  reportsDir = mkdtempSync(join(tmpdir(), 'sgc-latch-'));
  const config = parseConfig({
    api: {
      tokens: [
        { name: 'root', role: 'admin', token: ADMIN },
        { name: 'ops', role: 'operator', token: OPERATOR },
      ],
    },
  });
  const f = routeApp(config.api.tokens);
  await f.register(flagRoutes({ flags: store, switchTimeoutMs: 3_000 }), { prefix: '/v1' });
  app = f as unknown as FastifyInstance;
});

afterAll(async () => {
  await app?.close();
  await cache?.close();
  await t?.drop();
  await env?.teardown();
  rmSync(reportsDir, { recursive: true, force: true });
});

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const kill = (reason: string) =>
  app.inject({ method: 'POST', url: '/v1/flags/kill', headers: as(ADMIN), payload: { reason } });
const unlatch = (reason: string) =>
  app.inject({ method: 'POST', url: '/v1/flags/unlatch', headers: as(ADMIN), payload: { reason } });
const setAll = (percent: number, shadow: boolean, reason: string) =>
  store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent, shadow })),
    { actor: 'test', reason },
  );
const flagValues = async () => (await store.list()).map((f) => [f.operation, f.percent, f.shadow]);

async function until<T>(what: string, fn: () => Promise<T | undefined | null | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Audit rows after `afterId` that raised a flag (percent above 0 or shadow on). */
async function raisesAfter(afterId: number): Promise<{ change_id: string; operation: string }[]> {
  const { rows } = await t.db.query<{ change_id: string; operation: string }>(
    `SELECT change_id, operation FROM flag_audit WHERE id > $1 AND ((new->>'percent')::int > 0 OR (new->>'shadow')::boolean) ORDER BY id`,
    [afterId],
  );
  return rows;
}
const lastAuditId = async () =>
  Number((await t.db.query<{ id: string | null }>('SELECT max(id) AS id FROM flag_audit')).rows[0]!.id ?? 0);

describe('the kill latch', () => {
  test('POST /v1/flags/kill latches: every flag write is 409 with the reason until an admin unlatches with a reason, audited', async () => {
    await setAll(50, true, 'a rollout at 50%');
    const k = await kill('incident 42: approach 2 corrupts clones');
    assert.equal(k.statusCode, 200, k.body);
    assert.equal(k.json().latch.latched, true);
    assert.equal(k.json().latch.reason, 'incident 42: approach 2 corrupts clones');

    // the API
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/flags/push',
      headers: as(ADMIN),
      payload: { percent: 10, reason: 'try again' },
    });
    assert.equal(put.statusCode, 409, put.body);
    assert.equal(put.json().error, 'latched');
    assert.match(put.json().message, /incident 42/);
    // the store (the drill and the canary write through it), also from another process's pool:
    // the latch lives in Postgres, not in this process
    const other = createDb(t.url, { max: 1 });
    try {
      await assert.rejects(
        new FlagStore(other).set('git.push', { percent: 10 }, { actor: 'canary', reason: 'stage' }),
        (e: unknown) => e instanceof DomainError && e.type === ErrorType.FlagsLatched && /incident 42/.test(e.message),
      );
    } finally {
      await other.end();
    }
    // even a direct SQL edit cannot raise a flag while latched
    await assert.rejects(t.db.query(`UPDATE flags SET percent = 100 WHERE operation = 'git.push'`), /latched/);
    assert.ok((await store.list()).every((f) => f.percent === 0 && !f.shadow));

    // unlatching is admin work and needs a reason
    assert.equal(
      (await app.inject({ method: 'POST', url: '/v1/flags/unlatch', headers: as(OPERATOR), payload: { reason: 'x' } }))
        .statusCode,
      403,
    );
    const noReason = await app.inject({ method: 'POST', url: '/v1/flags/unlatch', headers: as(ADMIN), payload: {} });
    assert.equal(noReason.statusCode, 400);
    assert.equal(noReason.json().field, 'reason');
    const u = await unlatch('root cause fixed in v1.2.3');
    assert.equal(u.statusCode, 200, u.body);
    assert.equal(u.json().latched, false);

    const status = await app.inject({ method: 'GET', url: '/v1/flags/latch', headers: as(ADMIN) });
    assert.equal(status.statusCode, 200);
    expect(
      status
        .json()
        .events.slice(0, 2)
        .map((e: { action: string; actor: string; reason: string }) => [e.action, e.actor, e.reason]),
    ).toEqual([
      ['unlatch', 'api:root', 'root cause fixed in v1.2.3'],
      ['latch', 'api:root', 'incident 42: approach 2 corrupts clones'],
    ]);
    const ok = await app.inject({
      method: 'PUT',
      url: '/v1/flags/push',
      headers: as(ADMIN),
      payload: { percent: 10, reason: 'after the fix' },
    });
    assert.equal(ok.statusCode, 200, ok.body);
  });

  test('a kill during a drill stays killed: the drill stops flipping and restores nothing, and says so', async () => {
    await setAll(50, true, 'a rollout at 50%');
    const taskQueue = uniqueQueue('latch-drill');
    const w = await worker(taskQueue);
    await w.runUntil(async () => {
      const drillId = uniqueId('drill');
      const h = await env.client.workflow.start(rollbackDrillWorkflow, {
        taskQueue,
        workflowId: drillId,
        args: [{ drillId, flipEverySeconds: 1, durationSeconds: 6, agents: 20 }],
      });
      // during a rollout the drill starts "off"; wait for its second flip (back "on") and pull the real kill switch
      await until(
        "the drill's second flip",
        async () => (await store.audit({ changeId: `drill/${drillId}/flip-2`, limit: 1 })).length > 0,
      );
      const killedAt = await lastAuditId();
      const k = await kill('incident 43 during the weekly drill');
      assert.equal(k.statusCode, 200, k.body);
      const r = await h.result();
      assert.equal(r.restored, false);
      assert.match(r.restoreSkipped ?? '', /kill switch/);
      assert.equal(r.verdict, 'aborted');
      assert.deepEqual(await raisesAfter(killedAt), [], 'no flag was raised after the kill (no "on" flip, no restore)');
      assert.ok((await store.list()).every((f) => f.percent === 0 && !f.shadow));
      assert.equal((await store.latch()).latched, true);
    });
    assert.equal((await unlatch('drill test done')).statusCode, 200);
  });

  test('the drill restores its pre-drill flags in finally when a flip fails', async () => {
    await setAll(50, true, 'a rollout at 50%');
    const before = await flagValues();
    const taskQueue = uniqueQueue('latch-drill-fail');
    const a = acts();
    const realFlip = a.flipFlags;
    // fault injection: the second flip ("on", after the first switched everything off) fails for good
    a.flipFlags = async (input) => {
      if (input.flip === 2) throw ApplicationFailure.nonRetryable('injected: flip 2 cannot land', 'InjectedFault');
      return realFlip(input);
    };
    const w = await worker(taskQueue, a);
    await w.runUntil(async () => {
      const drillId = uniqueId('drill');
      const run = env.client.workflow.execute(rollbackDrillWorkflow, {
        taskQueue,
        workflowId: drillId,
        args: [{ drillId, flipEverySeconds: 1, durationSeconds: 3, agents: 10 }],
      });
      await assert.rejects(run, (e: unknown) => e instanceof WorkflowFailedError);
    });
    assert.deepEqual(
      await flagValues(),
      before,
      'flags are back where the drill found them, not left half-way (all off)',
    );
  });
});

describe('the kill latch and a running canary', () => {
  // Prometheus is unreachable here (port 9): every analysis is inconclusive and the rollout
  // pauses, with analyses going on — the latch must be seen anyway, within one tick
  const stages = [{ name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3_600 }];

  test('a kill during a canary stays killed: the rollout ends rolled_back (kill_switch) at its next analysis and never raises a flag again', async () => {
    await setAll(0, false, 'before the rollout');
    const taskQueue = uniqueQueue('latch-canary');
    const w = await worker(taskQueue);
    await w.runUntil(async () => {
      const rolloutId = uniqueId('r').slice(0, 40);
      const h = await env.client.workflow.start(canaryRolloutWorkflow, {
        taskQueue,
        workflowId: canaryWorkflowId(rolloutId),
        args: [{ rolloutId, stages, analysisIntervalSeconds: 1 }],
      });
      await until('the stage applied', async () => (await store.get('git.push'))?.percent === 10);
      const killedAt = await lastAuditId();
      assert.equal((await kill('incident 44 during the canary')).statusCode, 200);
      const t0 = Date.now();
      const r = await h.result();
      assert.ok(Date.now() - t0 < 10_000, 'seen within an analysis tick or two');
      assert.equal(r.outcome, 'rolled_back');
      assert.equal(r.rollback?.source, 'kill_switch');
      assert.match(r.rollback?.reason ?? '', /incident 44/);
      assert.deepEqual(await raisesAfter(killedAt), []);
      assert.ok((await store.list()).every((f) => f.percent === 0 && !f.shadow));
    });
    assert.equal((await unlatch('canary test done')).statusCode, 200);
  });

  test('a stage change while latched is refused: the rollout ends rolled_back (kill_switch) instead of failing or retrying for ever', async () => {
    await setAll(0, false, 'before the rollout');
    assert.equal((await kill('incident 45: hold everything')).statusCode, 200);
    const taskQueue = uniqueQueue('latch-canary-apply');
    const w = await worker(taskQueue);
    await w.runUntil(async () => {
      const rolloutId = uniqueId('r').slice(0, 40);
      const r = await env.client.workflow.execute(canaryRolloutWorkflow, {
        taskQueue,
        workflowId: canaryWorkflowId(rolloutId),
        args: [{ rolloutId, stages, analysisIntervalSeconds: 1 }],
        workflowExecutionTimeout: '60 seconds',
      });
      assert.equal(r.outcome, 'rolled_back');
      assert.equal(r.rollback?.source, 'kill_switch');
      assert.match(r.rollback?.reason ?? '', /incident 45/);
    });
    assert.ok((await store.list()).every((f) => f.percent === 0 && !f.shadow));
    assert.equal((await unlatch('canary test done')).statusCode, 200);
  });
});

/** A worker for the canary and drill workflows over `activities` (by default, acts()). */
function worker(taskQueue: string, activities: ReturnType<typeof acts> = acts()): Promise<Worker> {
  return testWorker(env, { taskQueue, activities, log });
}

function acts() {
  return canaryActivities({
    db: t.db,
    flags: store,
    cache,
    prom: new PromClient({ url: 'http://127.0.0.1:9' }),
    queries: DEFAULT_QUERIES,
    reportsDir,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
  });
}
