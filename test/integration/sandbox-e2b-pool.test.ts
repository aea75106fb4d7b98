/**
 * Approach 2's pool on the `e2b` provider (real SDK, E2B's envd behind the stand-in, real
 * Postgres): lifetimes under the plan's cap, the orphan sweep, and pre-warming under E2B's
 * creation rate limit (issue 15, items 4, 8, 9, 10).
 */
import { afterAll, beforeAll, beforeEach, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sandbox as E2bSandbox } from '@e2b/code-interpreter';
import { freshDb, type TestDb } from '../helpers/db.js';
import { SandboxPool, POOL_METADATA, type PoolSettings } from '../../lib/pool/pool.js';
import { createMetrics } from '../../lib/metrics.js';
import { createLogger } from '../../lib/log.js';
import { ErrorType, isDomainError } from '../../lib/errors.js';
import { createSandboxRepository } from '../../lib/store/sandboxes.js';
import type { SandboxProvider } from '../../lib/sandbox/types.js';
import { startTestStandin, type TestStandin } from '../contract/e2b-standin.js';

const sandboxRepo = () => createSandboxRepository(t.db, { key });

let t: TestDb;
const key = randomBytes(32);
const log = createLogger({ level: 'silent' });
const pools: SandboxPool[] = [];
const standins: TestStandin[] = [];
const agent = (n: number) => ({
  agentId: `agent-${n}`,
  taskId: `task-${n}`,
  repoUrl: 'file:///r.git',
  agentBranch: `agent/agent-${n}/task-${n}`,
});

function newPool(provider: SandboxProvider, settings: Partial<PoolSettings> = {}): SandboxPool {
  const pool = new SandboxPool(
    { provider, db: t.db, key, metrics: createMetrics({ defaultMetrics: false }), log },
    {
      min: 1,
      max: 3,
      ttlSeconds: 3600,
      acquireTimeoutMs: 10_000,
      tickMs: 60_000,
      ...settings,
    },
  );
  pools.push(pool);
  return pool;
}

async function standin(...a: Parameters<typeof startTestStandin>): Promise<TestStandin> {
  const st = await startTestStandin(...a);
  standins.push(st);
  return st;
}

beforeAll(async () => {
  t = await freshDb('e2bpool');
});

beforeEach(async () => {
  for (const p of pools.splice(0)) await p.stop();
  for (const s of standins.splice(0)) await s.close();
  await t.db.query(
    `UPDATE git_sandboxes SET status = 'terminated', terminated_at = now() WHERE status <> 'terminated'`,
  );
});

afterAll(async () => {
  for (const p of pools) await p.stop();
  for (const s of standins) await s.close();
  await t?.drop();
});

test('under a short plan cap, an idle sandbox too old to serve is retired and an agent session outlives its lease by renewal', async () => {
  // plan cap 10 s; lease 3 s; an agent must get at least 4 s of life
  const st = await standin({ maxLifetimeMs: 10_000 });
  const provider = st.provider({ maxLifetimeMs: 10_000 });
  const pool = newPool(provider, { sandboxTimeoutMs: 3_000, minRemainingMs: 4_000, tickMs: 250 });
  await pool.start();
  const [old] = st.sandboxes();
  assert.ok(old, 'pre-warmed');

  // idle past cap − minRemaining (6 s): renewal kept it alive, but it can no longer serve a session
  await sleep(7_000);
  assert.ok(
    st.sandboxes().some((s) => s.id === old.id),
    'renewal kept the idle sandbox alive past its 3 s lease',
  );
  const { sandbox: sb, lease, result } = await pool.acquire(agent(1));
  assert.notEqual(sb.id, old.id, 'a sandbox with under minRemaining left was handed out');
  assert.equal(result, 'created');

  // a 6 s session on a 3 s lease: every command succeeds because the pool renews the lease
  const t0 = Date.now();
  while (Date.now() - t0 < 6_000) {
    assert.equal((await sb.run(['true'])).exitCode, 0, `died ${Date.now() - t0} ms into the session`);
    await sleep(400);
  }
  const left =
    (st
      .sandboxes()
      .find((s) => s.id === sb.id)
      ?.endAt.getTime() ?? 0) - Date.now();
  assert.ok(left > 0, 'still alive after the session');

  // the too-old one is cleaned up (killed at the provider, row terminated)
  const c = await pool.cleanupExpired();
  assert.ok(c.expired >= 1);
  assert.equal(
    st.sandboxes().some((s) => s.id === old.id),
    false,
  );
  assert.equal((await sandboxRepo().findById(old.id))?.status, 'terminated');
  await pool.release(sb, lease);
});

test('an acquired sandbox whose end comes back capped is retired, not handed out', async () => {
  const st = await standin({ maxLifetimeMs: 8_000 });
  // the pool is told of no cap (e.g. an older row): only the end read back after setTimeout tells
  const provider = { ...st.provider(), maxLifetimeMs: undefined } as SandboxProvider;
  // no ticks: the lease (6 s) outlasts the idle time, and accrual would lock the row against the claim
  const pool = newPool(provider, { sandboxTimeoutMs: 6_000, minRemainingMs: 4_000 });
  await pool.start();
  const [old] = st.sandboxes();
  await sleep(5_000);
  const { sandbox } = await pool.acquire(agent(2));
  assert.notEqual(sandbox.id, old.id);
  assert.equal((await sandboxRepo().findById(old.id))?.lastOperation, 'lifetime cap');
  assert.equal(
    st.sandboxes().some((s) => s.id === old.id),
    false,
  );
});

test("the orphan sweep kills sandboxes created behind the service's back, and only ours", async () => {
  const st = await standin();
  const provider = st.provider();
  const pool = newPool(provider, { min: 2, orphanGraceMs: 0 });
  await pool.start();
  const conn = { apiKey: st.apiKey, apiUrl: st.apiUrl, sandboxUrl: st.sandboxUrl, debug: false, timeoutMs: 120_000 };

  // behind the service's back: straight through the SDK, with our labels
  const behind = await E2bSandbox.create('base', { ...conn, metadata: { ...POOL_METADATA, sgcOwner: provider.owner } });
  // an approach-1 sandbox nobody recorded
  const simple = await provider.create({ metadata: { sgcApproach: 'simple' } });
  // a kill that failed when its row was terminated
  const { sandbox: leaked } = await pool.acquire(agent(3));
  await t.db.query(`UPDATE git_sandboxes SET status = 'terminated', terminated_at = now() WHERE sandbox_id = $1`, [
    leaked.id,
  ]);
  const pooled =
    (await pool.stats()).idle === 1
      ? (await t.db.query<{ sandbox_id: string }>(`SELECT sandbox_id FROM git_sandboxes WHERE status = 'ready'`))
          .rows[0].sandbox_id
      : '';
  assert.ok(pooled && pooled !== leaked.id);
  // another deployment's sandbox with the same approach label
  const foreign = await st.provider({ owner: 'another-deployment' }).create({ metadata: { ...POOL_METADATA } });

  const connects = st.requestCounts().connect;
  const report = await pool.cleanupExpired();
  assert.equal(report.orphans, 3);
  const live = new Set(st.sandboxes().map((s) => s.id));
  assert.equal(live.has(behind.sandboxId), false);
  assert.equal(live.has(simple.id), false);
  assert.equal(live.has(leaked.id), false);
  assert.equal(live.has(pooled), true, 'a recorded pool sandbox was swept');
  assert.equal(live.has(foreign.id), true, "another owner's sandbox was swept");
  assert.equal(st.requestCounts().connect, connects, 'the sweep connected to a sandbox');
  // idempotent
  assert.equal(await pool.sweepOrphans(), 0);
  await foreign.kill();
});

test('a create that times out at the client but succeeds at E2B is swept once its grace passes', async () => {
  const st = await standin();
  const provider = st.provider({ requestTimeoutMs: 1_000, createRetry: { attempts: 1, baseMs: 10, maxMs: 10 } });
  const pool = newPool(provider, { min: 0, orphanGraceMs: 4_000 });
  await pool.start();
  st.setFaults({ createResponseDelayMs: 2_000 });
  await assert.rejects(pool.acquire(agent(4)), (e) => isDomainError(e, ErrorType.Timeout));
  st.setFaults({});
  const [ghost] = st.sandboxes();
  assert.ok(ghost, 'the server made the sandbox');
  assert.equal(await sandboxRepo().findById(ghost.id), null, 'the service never recorded it');
  assert.equal(await pool.sweepOrphans(), 0, 'swept inside its grace period');
  await sleep(ghost.startedAt.getTime() + 4_500 - Date.now());
  assert.equal(await pool.sweepOrphans(), 1);
  assert.equal(st.sandboxes().length, 0);
});

test('retiring by id never connects (nothing is extended or resumed first)', async () => {
  const st = await standin();
  const provider = st.provider();
  const a = newPool(provider);
  await a.start();
  const [sb] = st.sandboxes();
  const fresh = newPool(provider); // no handles, as after a restart
  const connects = st.requestCounts().connect;
  await fresh.retire(sb.id, 'test');
  assert.equal(st.requestCounts().connect, connects);
  assert.equal(st.sandboxes().length, 0);
});

test("pre-warming in parallel under E2B's creation rate (1/s) backs off instead of failing", async () => {
  const st = await standin({ faults: { createsPerSecond: 1 } });
  const pool = newPool(st.provider(), { min: 3, max: 3 });
  const t0 = Date.now();
  const { created } = await pool.start();
  assert.equal(created, 3);
  assert.equal(st.sandboxes().length, 3);
  assert.ok(Date.now() - t0 >= 1_000, 'three creations inside one second were not limited');
  assert.equal((await pool.stats()).idle, 3);
});
