/**
 * rollbackDrillWorkflow and reconciliationWorkflow with the activities the phases worker
 * registers (workers/phases-canary.ts), on the real dev server and a fresh Postgres; drill
 * timings shrunk from 30 s × 5 min to 1 s × 4 s. The test process holds the FlagCache the
 * worker would (the synthetic load routes through it; every flip must reach it).
 */
import { afterAll, beforeAll, beforeEach, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { canaryConfigSchema } from '../../lib/config/canary.js';
import { configSchema } from '../../lib/config/index.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { FlagCache } from '../../lib/flags/cache.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import { ensureCanarySchedules, scheduleSpecs } from '../../clients/schedules.js';
import { canaryActivities } from '../../workers/phases-canary.js';
import { reconciliationWorkflow } from '../../workflows/reconciliation/workflow.js';
import { rollbackDrillWorkflow } from '../../workflows/rollback-drill/workflow.js';
import { sgcDecisionKey, sgcPhaseKey } from '../../workflows/search-attributes.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv, uniqueId, uniqueQueue } from '../helpers/temporal.js';
import { recordHistory } from '../helpers/history.js';
import { testWorker } from '../helpers/worker.js';

const log = createLogger({ level: 'silent' });
Runtime.install({ logger: new DefaultLogger('ERROR') });
let env: TestWorkflowEnvironment;
let t: TestDb;
let store: FlagStore;
let cache: FlagCache;
let reportsDir: string;
const metrics = createMetrics({ defaultMetrics: false });

beforeAll(async () => {
  env = await testEnv();
  t = await freshDb('drill');
  store = new FlagStore(t.db);
  cache = await FlagCache.start({ connectionString: t.url, processId: 'drill-worker-process', heartbeatMs: 500 });
  reportsDir = mkdtempSync(join(tmpdir(), 'sgc-drill-reports-'));
});

afterAll(async () => {
  await cache?.close();
  await t?.drop();
  await env?.teardown();
  rmSync(reportsDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 0, shadow: false })),
    { actor: 'test', reason: 'reset' },
  );
});

function acts() {
  return canaryActivities({
    db: t.db,
    flags: store,
    cache,
    prom: new PromClient({ url: 'http://127.0.0.1:9' }),
    queries: DEFAULT_QUERIES,
    reportsDir,
    metrics,
    log,
  });
}

function worker(taskQueue: string, activities: object = acts()): Promise<Worker> {
  return testWorker(env, { taskQueue, activities, log });
}

const SHRUNK = { flipEverySeconds: 1, durationSeconds: 4, agents: 50 };

test('the drill flips the flags on and off under load, each flip reaches every process in < 1 s, and restores them', async () => {
  const taskQueue = uniqueQueue('drill');
  const w = await worker(taskQueue);
  const before = await store.list();
  const listenPid = cache.backendPid;
  await w.runUntil(async () => {
    const h = await env.client.workflow.start(rollbackDrillWorkflow, {
      taskQueue,
      workflowId: uniqueId('drill'),
      args: [SHRUNK],
    });
    const r = await h.result();
    assert.deepEqual(r.failures, []);
    assert.equal(r.verdict, 'pass');
    assert.deepEqual(
      r.flips.map((f) => f.direction),
      ['on', 'off', 'on', 'off'],
      'flags start off, so the first flip turns them on',
    );
    for (const f of r.flips) {
      // a slow flip with a new LISTEN connection means the cache gave its connection up mid-drill
      const why = JSON.stringify({ ...f, listenPidBefore: listenPid, listenPidNow: cache.backendPid });
      assert.ok(f.switched && f.durationMs !== null && f.durationMs < 1_000 && f.changed === 8, why);
      assert.ok(f.processes >= 1);
    }
    assert.ok(r.load.decisions > 0 && r.load.pooled > 0 && r.load.simple > 0, JSON.stringify(r.load));
    assert.ok(r.load.versionsSeen >= 4, "the worker's cache applied every flip");
    assert.equal(r.load.flapping, 0);
    const desc = await h.describe();
    assert.equal(desc.typedSearchAttributes.get(sgcPhaseKey), 'drill');
    assert.equal(desc.typedSearchAttributes.get(sgcDecisionKey), 'pass');
    // the "off" flips are the real kill switch, recorded as drill rollback events
    const events = (await store.rollbackEvents()).filter((e) => e.changeId?.startsWith(`drill/${r.drillId}/`));
    assert.deepEqual(
      events.map((e) => e.source),
      ['drill', 'drill'],
    );
    assert.ok(events.every((e) => e.durationMs !== null));
    const { rows } = await t.db.query<{ kind: string; title: string }>(
      'SELECT kind, title FROM reports WHERE id = $1',
      [r.reportId],
    );
    assert.deepEqual(rows[0], { kind: 'rollback-drill', title: `Rollback drill ${r.drillId}: pass` });
    assert.match(readFileSync(join(reportsDir, r.drillId, `${r.reportId}.md`), 'utf8'), /\| 4 \| off \| 8 \|/);
    await recordHistory('rollbackDrillWorkflow-pass', h);
  });
  assert.deepEqual(
    (await store.list()).map((f) => [f.operation, f.percent, f.shadow]),
    before.map((f) => [f.operation, f.percent, f.shadow]),
  );
});

test("during a rollout the drill starts by switching off, restores the rollout's flags, and fails on a stuck sandbox", async () => {
  const taskQueue = uniqueQueue('drill-rollout');
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 50, shadow: true })),
    { actor: 'test', reason: 'a rollout at 50%' },
  );
  await t.db.query(
    `INSERT INTO git_sandboxes (sandbox_id, agent_id, status, last_used_at) VALUES ('sb-stuck', 'agent-9', 'in_use', now() - interval '3 hours')`,
  );
  try {
    const w = await worker(taskQueue);
    const r = await w.runUntil(
      env.client.workflow.execute(rollbackDrillWorkflow, {
        taskQueue,
        workflowId: uniqueId('drill'),
        args: [{ ...SHRUNK, durationSeconds: 2 }],
      }),
    );
    assert.deepEqual(
      r.flips.map((f) => f.direction),
      ['off', 'on'],
    );
    assert.equal(r.verdict, 'fail');
    assert.deepEqual(r.failures, ['1 sandbox(es) stuck in use']);
    assert.deepEqual(
      r.invariants.stuckSandboxes.map((s) => s.sandboxId),
      ['sb-stuck'],
    );
    assert.ok((await store.list()).every((f) => f.percent === 50 && f.shadow));
  } finally {
    await t.db.query('DELETE FROM git_sandboxes');
  }
});

test("reconciliationWorkflow compares the dual-write records and sets the worker's divergence gauge", async () => {
  const taskQueue = uniqueQueue('reconcile');
  await store.set('git.clone', { shadow: true }, { actor: 'test', reason: 'dual-write on' });
  await t.db.query(
    `UPDATE flag_audit SET at = now() - interval '10 minutes' WHERE operation = 'git.clone' AND (new->>'shadow')::boolean`,
  );
  await t.db
    .query(`INSERT INTO workspaces (id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir, status, created_at, last_used_at) VALUES
    ('rw1','simple','a','t','file:///r','main','agent/a/t','s1','ws/rw1','ready', now() - interval '5 minutes', now() - interval '4 minutes'),
    ('rw1','pooled','a','t','file:///r','main','agent/a/t','s2','ws/rw1','ready', now() - interval '5 minutes', now() - interval '1 minute'),
    ('rw2','simple','b','t','file:///r','main','agent/b/t','s3','ws/rw2','ready', now() - interval '5 minutes', null),
    ('rw2','pooled','b','t','file:///r','main','agent/b/t','s4','ws/rw2','error', now() - interval '5 minutes', null)`);
  try {
    const w = await worker(taskQueue);
    const workflowId = uniqueId('reconcile');
    const r = await w.runUntil(
      env.client.workflow.execute(reconciliationWorkflow, {
        taskQueue,
        workflowId,
        args: [{ lagThresholdSeconds: 60 }],
      }),
    );
    await recordHistory('reconciliationWorkflow', env.client.workflow.getHandle(workflowId));
    assert.deepEqual(
      { checked: r.checked, divergent: r.divergent, ratio: r.ratio },
      { checked: 2, divergent: 1, ratio: 0.5 },
    );
    // rw2's sides disagree (a divergence); rw1's copy is only behind (lag: reported, never divergence)
    assert.deepEqual(
      r.issues.map((i) => `${i.workspaceId}:${i.kind}`),
      ['rw2:status_mismatch', 'rw1:lag'],
    );
    assert.equal((await metrics.reconciliationDivergence.get()).values[0]?.value, 0.5);
  } finally {
    await t.db.query('DELETE FROM workspaces');
  }
});

test('the canary Schedules are created once, updated on the next start, and start their workflows', async () => {
  const taskQueue = uniqueQueue('canary-sched');
  const namePrefix = `${taskQueue}-`;
  const config = configSchema.parse({});
  const ids = await ensureCanarySchedules(env.client, config, taskQueue, log, { namePrefix });
  try {
    assert.deepEqual(ids, [`sgc-${namePrefix}reconciliation`, `sgc-${namePrefix}rollback-drill`]);
    // the weekly drill: cron "0 3 * * 1" comes back as a calendar, Mondays 03:00
    const cal = (await env.client.schedule.getHandle(ids[1]!).describe()).spec.calendars?.[0];
    assert.deepEqual(
      [cal?.hour, cal?.minute, cal?.dayOfWeek],
      [[{ start: 3, end: 3, step: 1 }], [{ start: 0, end: 0, step: 1 }], [{ start: 'MONDAY', end: 'MONDAY', step: 1 }]],
    );
    assert.equal((await env.client.schedule.getHandle(ids[0]!).describe()).spec.intervals?.[0]?.every, 300_000);
    const drillSpec = scheduleSpecs(config).find((x) => x.kind === 'drill');
    assert.equal(drillSpec?.kind === 'drill' ? drillSpec.args[0].flipEverySeconds : undefined, 30);

    const changed = {
      ...config,
      schedules: { ...config.schedules, reconciliationEvery: '7m' },
      canary: canaryConfigSchema.parse({}),
    };
    assert.deepEqual(await ensureCanarySchedules(env.client, changed, taskQueue, log, { namePrefix }), ids);
    assert.equal((await env.client.schedule.getHandle(ids[0]!).describe()).spec.intervals?.[0]?.every, 420_000);

    let reconciled = 0;
    const real = acts();
    const w = await worker(taskQueue, {
      ...real,
      reconcileDualWrite: async (i: Parameters<typeof real.reconcileDualWrite>[0]) => {
        reconciled++;
        return real.reconcileDualWrite(i);
      },
    });
    await w.runUntil(async () => {
      await env.client.schedule.getHandle(ids[0]!).trigger();
      const deadline = Date.now() + 30_000;
      while (reconciled === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    });
    assert.equal(reconciled, 1);
    assert.deepEqual(
      await ensureCanarySchedules(
        env.client,
        { ...config, schedules: { ...config.schedules, enabled: false } },
        taskQueue,
        log,
        { namePrefix },
      ),
      [],
    );
  } finally {
    for (const id of ids)
      await env.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
  }
});
