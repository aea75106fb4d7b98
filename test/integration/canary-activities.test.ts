/**
 * The canary and drill activities against real Postgres and a real Prometheus, each side-effecting
 * one run twice (Temporal retries them): the second run must find the first one's work and add
 * nothing.
 */
import { afterAll, beforeAll, beforeEach, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { ApplicationFailure } from '@temporalio/activity';
import { createCanaryActivities } from '../../activities/canary.js';
import { createDrillActivities } from '../../activities/drill.js';
import type { AnalysisValues } from '../../lib/canary/analysis.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { FlagCache } from '../../lib/flags/cache.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import { boundaryEnv } from '../helpers/activities.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';

const log = createLogger({ level: 'silent' });
let t: TestDb;
let store: FlagStore;
let cache: FlagCache;
let prom: PrometheusHandle;
const metrics = createMetrics({ defaultMetrics: false });

beforeAll(async () => {
  t = await freshDb('canary_acts');
  store = new FlagStore(t.db);
  cache = await FlagCache.start({ connectionString: t.url, processId: 'acts-test-process', heartbeatMs: 500 });
  prom = await startPrometheus();
});

afterAll(async () => {
  await cache?.close();
  await prom?.stop();
  await t?.drop();
});

beforeEach(async () => {
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 0, shadow: false })),
    { actor: 'test', reason: 'reset' },
  );
});

const canary = () =>
  createCanaryActivities({
    flags: store,
    prom: new PromClient({ url: prom.url }),
    queries: DEFAULT_QUERIES,
    db: t.db,
    log,
    setDivergence: (r) => metrics.reconciliationDivergence.set(r),
  });
const drill = () => createDrillActivities({ flags: store, cache, db: t.db, log });
const count = async (sql: string, params: unknown[] = []) =>
  Number((await t.db.query<{ n: string }>(sql, params)).rows[0]!.n);

test('applyStageFlags run twice with one change id changes and audits the flags once', async () => {
  const a = canary();
  const input = {
    rolloutId: 'r1',
    stage: 'canary-10',
    percent: 10,
    shadow: true,
    changeId: 'canary/r1/x/stage-1-canary-10',
    actor: 'test',
  };
  const first = await a.applyStageFlags(input);
  // an admin moves one flag meanwhile; the retry must not overwrite it
  await store.set('git.push', { percent: 0 }, { actor: 'admin', reason: 'hold push back' });
  const second = await a.applyStageFlags(input);
  assert.deepEqual(
    { changed: first.changed, alreadyApplied: first.alreadyApplied },
    { changed: 8, alreadyApplied: false },
  );
  assert.deepEqual(
    { changed: second.changed, alreadyApplied: second.alreadyApplied, version: second.version },
    { changed: 8, alreadyApplied: true, version: first.version },
  );
  assert.equal(await count('SELECT count(*) AS n FROM flag_audit WHERE change_id = $1', [input.changeId]), 8);
  assert.equal((await store.get('git.push'))?.percent, 0);
  assert.equal((await store.get('git.pull'))?.percent, 10);
});

test("applyStageFlags sets only the stage's operations when it names them, and rejects unknown ones for good", async () => {
  const a = canary();
  await a.applyStageFlags({
    rolloutId: 'r2',
    stage: 's',
    percent: 30,
    shadow: false,
    operations: ['git.status', 'git.diff'],
    changeId: 'canary/r2/x/s',
    actor: 'test',
  });
  assert.deepEqual(
    (await store.list()).filter((f) => f.percent === 30).map((f) => f.operation),
    ['git.diff', 'git.status'],
  );
  await assert.rejects(
    boundaryEnv().run(a.applyStageFlags, {
      rolloutId: 'r2',
      stage: 's2',
      percent: 30,
      shadow: false,
      operations: ['git.nope'],
      changeId: 'canary/r2/x/s2',
      actor: 'test',
    }),
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'ValidationError' && e.nonRetryable === true,
  );
});

test('killSwitch run twice with one change id records one rollback event and measures this process switching', async () => {
  const a = canary();
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 50, shadow: true })),
    { actor: 'test', reason: 'on' },
  );
  const input = {
    reason: 'test kill',
    actor: 'test',
    source: 'rollback' as const,
    changeId: 'canary/r3/x/rollback',
    timeoutMs: 3_000,
  };
  const first = await a.killSwitch(input);
  const second = await a.killSwitch(input);
  assert.equal(first.changed, 8);
  assert.equal(second.eventId, first.eventId);
  assert.equal(second.changed, 0);
  assert.ok(first.switched && first.durationMs !== null && first.durationMs < 1_000, JSON.stringify(first));
  assert.ok(first.processes >= 1);
  assert.equal(await count("SELECT count(*) AS n FROM rollback_events WHERE change_id = 'canary/r3/x/rollback'"), 1);
  assert.equal(await count("SELECT count(*) AS n FROM flag_audit WHERE change_id = 'canary/r3/x/rollback'"), 8);
  assert.deepEqual(
    cache.all().map((f) => f.percent),
    FLAG_OPERATIONS.map(() => 0),
  );
});

test('analyse reads every quantity at the given time, keeps no data explicit, and fails a bad query for good', async () => {
  const a = canary();
  const at = Date.now() / 1000;
  // analyse heartbeats while it queries: it runs in an activity context, as on a worker
  const values = await boundaryEnv().run(a.analyse, {
    at,
    windowSeconds: 60,
    queries: {
      'canary.error_rate': 'vector(0.07)',
      'canary.operations': 'vector(42)',
      'canary.p95_pooled_seconds': 'vector(+Inf)',
      'canary.p95_simple_seconds': 'vector(0) / vector(0)',
      'canary.consistency': 'sum(gitops_reconciliation_divergence_ratio)',
    },
  });
  assert.deepEqual(values, {
    errorRate: { kind: 'value', value: 0.07 },
    operations: { kind: 'value', value: 42 },
    p95PooledSeconds: { kind: 'value', value: Number.MAX_VALUE },
    p95SimpleSeconds: { kind: 'nodata', reason: 'NaN (e.g. 0/0)' },
    // not overridden: the default approach-1 count, with no gitops metrics scraped
    operationsSimple: { kind: 'nodata', reason: 'empty result' },
    consistency: { kind: 'nodata', reason: 'empty result' },
  });
  // the default queries parse and, with no gitops metrics scraped, are all no data
  const defaults = (await boundaryEnv().run(a.analyse, { at, windowSeconds: 300 })) as AnalysisValues;
  assert.ok(
    Object.values(defaults).every((r) => r.kind === 'nodata'),
    JSON.stringify(defaults),
  );
  await assert.rejects(
    boundaryEnv().run(a.analyse, { at, windowSeconds: 60, queries: { 'canary.error_rate': 'sum(' } }),
    (e: unknown) => e instanceof ApplicationFailure && e.type === 'PromBadQuery' && e.nonRetryable === true,
  );
});

test('reconcileDualWrite run twice gives the same answer and sets the divergence gauge', async () => {
  const a = canary();
  const since = new Date(Date.now() - 120_000);
  await store.set('git.clone', { shadow: true }, { actor: 'test', reason: 'dual-write on' });
  // w1 on both sides (consistent); w2 only on approach 1, created 100 s ago (missing on approach 2)
  await t.db
    .query(`INSERT INTO workspaces (id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir, status, created_at)
    VALUES ('w1','simple','a','t','file:///r','main','agent/a/t','s1','ws/w1','ready', now() - interval '100 seconds'),
           ('w1','pooled','a','t','file:///r','main','agent/a/t','s2','ws/w1','ready', now() - interval '100 seconds'),
           ('w2','simple','b','t','file:///r','main','agent/b/t','s3','ws/w2','ready', now() - interval '100 seconds')`);
  // the flag turned shadow on "now": move the audit row back so both workspaces fall in the window
  await t.db.query(`UPDATE flag_audit SET at = $1 WHERE operation = 'git.clone' AND (new->>'shadow')::boolean`, [
    since,
  ]);
  const input = { now: new Date().toISOString(), lagThresholdMs: 60_000, switchGraceMs: 0 };
  const first = await a.reconcileDualWrite(input);
  const second = await a.reconcileDualWrite(input);
  assert.deepEqual(second, first);
  assert.deepEqual(
    { checked: first.checked, divergent: first.divergent, ratio: first.ratio },
    { checked: 2, divergent: 1, ratio: 0.5 },
  );
  assert.deepEqual(first.issues, [{ workspaceId: 'w2', kind: 'missing' }]);
  assert.equal((await metrics.reconciliationDivergence.get()).values[0]?.value, 0.5);
});

test('drill flips run twice with one change id change the flags once and measure every process', async () => {
  const d = drill();
  const targets = FLAG_OPERATIONS.map((operation) => ({ operation, percent: 10, shadow: true }));
  const on = {
    drillId: 'd1',
    flip: 1,
    direction: 'on' as const,
    targets,
    changeId: 'drill/d1/flip-1',
    actor: 'test',
    timeoutMs: 3_000,
  };
  const a = await d.flipFlags(on);
  const b = await d.flipFlags(on);
  assert.ok(a.switched && a.durationMs !== null && a.durationMs < 1_000 && a.changed === 8, JSON.stringify(a));
  assert.equal(b.changed, 8);
  assert.equal(b.version, a.version);
  assert.equal(await count("SELECT count(*) AS n FROM flag_audit WHERE change_id = 'drill/d1/flip-1'"), 8);
  const off = { ...on, flip: 2, direction: 'off' as const, changeId: 'drill/d1/flip-2' };
  const c = await d.flipFlags(off);
  const e = await d.flipFlags(off);
  assert.ok(c.switched && c.durationMs !== null && c.durationMs < 1_000, JSON.stringify(c));
  assert.equal(e.changed, 8);
  assert.equal(
    await count("SELECT count(*) AS n FROM rollback_events WHERE change_id = 'drill/d1/flip-2' AND source = 'drill'"),
    1,
  );
  assert.equal(await count("SELECT count(*) AS n FROM flag_audit WHERE change_id = 'drill/d1/flip-2'"), 8);
  await d.setFlagsOnce({ targets, changeId: 'drill/d1/restore', actor: 'test', reason: 'restore' });
  await d.setFlagsOnce({ targets, changeId: 'drill/d1/restore', actor: 'test', reason: 'restore' });
  assert.equal(await count("SELECT count(*) AS n FROM flag_audit WHERE change_id = 'drill/d1/restore'"), 8);
});

test('checkDrillInvariants finds a lock held past expiry and a sandbox stuck in use, and nothing else', async () => {
  const d = drill();
  const since = new Date(Date.now() - 60_000);
  await t.db.query(`INSERT INTO push_locks (lock_key, holder, acquired_at, expires_at, fencing_token) VALUES
    ('repo:leaked', 'dead-worker', now() - interval '40 seconds', now() - interval '10 seconds', 1),
    ('repo:live', 'busy-worker', now(), now() + interval '30 seconds', 2),
    ('repo:old', 'before-drill', now() - interval '2 hours', now() - interval '2 hours', 3)`);
  await t.db.query(`INSERT INTO git_sandboxes (sandbox_id, agent_id, status, last_used_at) VALUES
    ('sb-stuck', 'agent-1', 'in_use', now() - interval '2 hours'),
    ('sb-busy', 'agent-2', 'in_use', now() - interval '1 minute'),
    ('sb-idle', '', 'ready', now() - interval '3 hours')`);
  const inv = await d.checkDrillInvariants({
    since: since.toISOString(),
    at: new Date().toISOString(),
    stuckInUseSeconds: 3_600,
  });
  assert.deepEqual(
    inv.leakedLocks.map((l) => l.lockKey),
    ['repo:leaked'],
  );
  assert.equal(inv.leakedLockCount, 1);
  assert.deepEqual(
    inv.stuckSandboxes.map((s) => s.sandboxId),
    ['sb-stuck'],
  );
  assert.equal(inv.stuckSandboxCount, 1);
  await t.db.query('DELETE FROM push_locks');
  await t.db.query('DELETE FROM git_sandboxes');
});
