import { afterAll, beforeAll, beforeEach, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createLocalProvider, type LocalSandboxProvider } from '../../lib/sandbox/local.js';
import { SandboxPool, type PoolSettings } from '../../lib/pool/pool.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';
import { ErrorType, isDomainError } from '../../lib/errors.js';
import { createSandboxRepository } from '../../lib/store/sandboxes.js';
import { createLogger } from '../../lib/log.js';

const sandboxRepo = () => createSandboxRepository(t.db, { key });

let t: TestDb;
let root: string;
let provider: LocalSandboxProvider;
let metrics: Metrics;
const key = randomBytes(32);
const log = createLogger({ level: 'silent' });
const pools: SandboxPool[] = [];
const providers: LocalSandboxProvider[] = [];

const SETTINGS: PoolSettings = {
  min: 2,
  max: 3,
  ttlSeconds: 3600,
  acquireTimeoutMs: 300,
  pricePerSecond: 0.5,
  tickMs: 60_000,
};
const agent = (n: number) => ({
  agentId: `agent-${n}`,
  taskId: `task-${n}`,
  repoUrl: 'file:///r.git',
  agentBranch: `agent/agent-${n}/task-${n}`,
});

function newProvider(dir = root): LocalSandboxProvider {
  const p = createLocalProvider({ root: dir, defaultTimeoutMs: 3_600_000 });
  providers.push(p);
  return p;
}

function newPool(settings: Partial<PoolSettings> = {}, p: LocalSandboxProvider = provider): SandboxPool {
  const pool = new SandboxPool({ provider: p, db: t.db, key, metrics, log }, { ...SETTINGS, ...settings });
  pools.push(pool);
  return pool;
}

async function counter(name: 'poolAcquisitions' | 'sandboxCost', label: string): Promise<number> {
  const m = await metrics[name].get();
  return m.values.find((v) => Object.values(v.labels).includes(label))?.value ?? 0;
}

beforeAll(async () => {
  t = await freshDb('pool');
});

beforeEach(async () => {
  // every test starts with an empty pool: earlier tests' rows are closed, their sandboxes
  // live in another root
  for (const p of pools.splice(0)) await p.stop();
  await t.db.query(
    `UPDATE git_sandboxes SET status = 'terminated', terminated_at = now() WHERE status <> 'terminated'`,
  );
  root = mkdtempSync(join(tmpdir(), 'sgc-pool-'));
  provider = newProvider();
  metrics = createMetrics({ defaultMetrics: false });
});

afterAll(async () => {
  for (const p of pools) await p.stop();
  for (const p of providers) {
    p.close();
    rmSync(p.root, { recursive: true, force: true });
  }
  await t?.drop();
});

test('start() pre-warms to min, records them ready, and a second start creates nothing', async () => {
  const pool = newPool();
  const first = await pool.start();
  assert.equal(first.created, 2);
  assert.deepEqual(await pool.stats(), { idle: 2, inUse: 0, initializing: 0, unhealthy: 0, live: 2 });
  assert.equal(await provider.running(), 2);
  const second = await pool.start();
  assert.equal(second.created, 0);
  assert.equal(second.reconnected, 2);
  assert.equal(await provider.running(), 2);
  const gauge = (await metrics.poolSandboxes.get()).values.find((v) => v.labels.state === 'idle')?.value;
  assert.equal(gauge, 2);
  assert.equal((await metrics.sandboxLimit.get()).values[0]?.value, 3);
});

test('acquire reuses a warm sandbox, creates one when none is idle, and records the agent', async () => {
  const pool = newPool();
  await pool.start();
  const a = await pool.acquire(agent(1));
  const b = await pool.acquire(agent(2));
  const c = await pool.acquire(agent(3));
  assert.deepEqual([a.result, b.result, c.result], ['reused', 'reused', 'created']);
  assert.equal(new Set([a.sandbox.id, b.sandbox.id, c.sandbox.id]).size, 3, 'no sandbox is handed out twice');
  assert.equal(await counter('poolAcquisitions', 'reused'), 2);
  assert.equal(await counter('poolAcquisitions', 'created'), 1);
  const rec = await sandboxRepo().findById(a.sandbox.id);
  assert.equal(rec?.status, 'in_use');
  assert.equal(rec?.agentId, 'agent-1');
  assert.equal(rec?.agentBranch, 'agent/agent-1/task-1');
  assert.equal((await a.sandbox.run(['true'])).exitCode, 0);
});

test('release of a healthy sandbox wipes its workspaces and returns it idle; releasing again changes nothing', async () => {
  const pool = newPool();
  await pool.start();
  const { sandbox, lease } = await pool.acquire(agent(1));
  await sandbox.writeFile('ws/w1/secret.txt', 'agent 1 data');
  const r1 = await pool.release(sandbox, lease);
  assert.deepEqual(r1, { returned: true, retired: false, created: 0 });
  assert.equal(existsSync(join(sandbox.home, 'ws')), false, 'workspace root wiped');
  const rec = await sandboxRepo().findById(sandbox.id);
  assert.equal(rec?.status, 'ready');
  assert.equal(rec?.agentId, '', 'no longer assigned');
  const r2 = await pool.release(sandbox, lease);
  assert.equal(r2.retired, false);
  assert.equal(r2.stale, true, 'the second release says it had nothing to do');
  assert.equal((await pool.stats()).idle, 2);
  // the next agent gets a clean sandbox
  const again = await pool.acquire(agent(2));
  assert.equal(again.result, 'reused');
  assert.equal((await again.sandbox.run(['sh', '-c', 'ls ws 2>/dev/null | wc -l'])).stdout.trim(), '0');
});

test('an unhealthy sandbox on release is killed, recorded (error encrypted) and replaced to keep min', async () => {
  const pool = newPool();
  await pool.start();
  const { sandbox, lease } = await pool.acquire(agent(1));
  sandbox.isHealthy = async () => false;
  const r = await pool.release(sandbox, lease);
  assert.equal(r.retired, true);
  assert.equal(r.reason, 'unhealthy');
  assert.equal(r.created, 1, 'replacement created');
  const rec = await sandboxRepo().findById(sandbox.id);
  assert.equal(rec?.status, 'terminated');
  assert.equal(rec?.errorCount, 1);
  assert.ok(rec?.terminatedAt);
  const { rows } = await t.db.query<{ last_error: Buffer }>(
    'SELECT last_error FROM git_sandboxes WHERE sandbox_id = $1',
    [sandbox.id],
  );
  assert.ok(!rows[0].last_error.toString('latin1').includes('health check'), 'stored as ciphertext');
  assert.match((await sandboxRepo().readLastError(sandbox.id)) ?? '', /health check failed/);
  await assert.rejects(provider.connect(sandbox.id), (e: unknown) => isDomainError(e, ErrorType.SandboxGone));
  assert.deepEqual(await pool.stats(), { idle: 2, inUse: 0, initializing: 0, unhealthy: 0, live: 2 });
});

test('max is respected: the next acquire waits, then fails with PoolExhausted; a release lets a waiter in', async () => {
  const pool = newPool({ acquireTimeoutMs: 300 });
  await pool.start();
  const held = await Promise.all([1, 2, 3].map((n) => pool.acquire(agent(n))));
  assert.equal(await provider.running(), 3);
  const t0 = Date.now();
  const err = await pool.acquire(agent(4)).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(err, ErrorType.PoolExhausted), `expected PoolExhausted, got ${String(err)}`);
  assert.ok(Date.now() - t0 >= 280, 'waited for the timeout');
  assert.equal(await provider.running(), 3, 'nothing created beyond max');

  const waiting = newPool({ acquireTimeoutMs: 2_000 }).acquire(agent(5));
  await sleep(100);
  await pool.release(held[0].sandbox, held[0].lease);
  const got = await waiting;
  assert.equal(got.result, 'reused');
  assert.equal(got.sandbox.id, held[0].sandbox.id);
});

test('concurrent acquires from two pool instances (two processes) never exceed max nor share a sandbox', async () => {
  const p1 = newPool({ min: 0, max: 4, acquireTimeoutMs: 3_000 });
  const p2 = newPool({ min: 0, max: 4, acquireTimeoutMs: 3_000 }, newProvider());
  const got = await Promise.all([1, 2, 3, 4].map((n) => (n % 2 ? p1 : p2).acquire(agent(n))));
  assert.equal(new Set(got.map((g) => g.sandbox.id)).size, 4);
  assert.equal((await sandboxRepo().countByStatus({ pooled: true })).in_use, 4);
  const err = await p2.acquire(agent(9)).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(err, ErrorType.PoolExhausted));
});

test('cleanupExpired retires idle sandboxes past their TTL and tops up; running it twice finds nothing more', async () => {
  const pool = newPool();
  await pool.start();
  const inUse = await pool.acquire(agent(1));
  await t.db.query(
    `UPDATE git_sandboxes SET expires_at = now() - interval '1 second' WHERE status IN ('ready', 'in_use')`,
  );
  const idleBefore = (
    await t.db.query<{ sandbox_id: string }>(`SELECT sandbox_id FROM git_sandboxes WHERE status = 'ready'`)
  ).rows.map((r) => r.sandbox_id);
  const r1 = await pool.cleanupExpired();
  assert.equal(r1.expired, 1);
  assert.equal(r1.created, 1, 'back to min 2: the in-use one + a new idle one');
  for (const id of idleBefore) assert.equal((await sandboxRepo().findById(id))?.status, 'terminated');
  const r2 = await pool.cleanupExpired();
  assert.equal(r2.expired, 0);
  // the expired in-use sandbox is not yanked from its agent; it is retired when returned
  assert.equal((await sandboxRepo().findById(inUse.sandbox.id))?.status, 'in_use');
  const rel = await pool.release(inUse.sandbox, inUse.lease);
  assert.equal(rel.reason, 'expired');
  assert.equal((await pool.stats()).live, 2);
});

test("healthCheck replaces an idle sandbox that died behind the pool's back; a second run finds all healthy", async () => {
  const pool = newPool();
  await pool.start();
  const { rows } = await t.db.query<{ sandbox_id: string }>(
    `SELECT sandbox_id FROM git_sandboxes WHERE status = 'ready' ORDER BY id LIMIT 1`,
  );
  await (await provider.connect(rows[0].sandbox_id)).kill();
  const r1 = await pool.healthCheck();
  assert.deepEqual(r1, { checked: 2, unhealthy: 1, created: 1 });
  assert.equal((await sandboxRepo().findById(rows[0].sandbox_id))?.status, 'terminated');
  assert.match((await sandboxRepo().readLastError(rows[0].sandbox_id)) ?? '', /health check failed/);
  const r2 = await pool.healthCheck();
  assert.deepEqual(r2, { checked: 2, unhealthy: 0, created: 0 });
});

test('after a restart, start() reconnects to recorded sandboxes and retires the ones that are gone', async () => {
  const pool = newPool();
  await pool.start();
  const inUse = await pool.acquire(agent(1));
  await pool.stop();
  provider.close();
  const { rows } = await t.db.query<{ sandbox_id: string }>(
    `SELECT sandbox_id FROM git_sandboxes WHERE status = 'ready' ORDER BY id`,
  );
  assert.equal(rows.length, 1);
  // "restart": a new provider and pool over the same root and database
  const p2 = newProvider(root);
  const restarted = newPool({}, p2);
  const r = await restarted.start();
  assert.deepEqual(r, { reconnected: 2, retired: 0, created: 0 });
  const again = await restarted.acquire(agent(2));
  assert.equal(again.result, 'reused');
  assert.equal(again.sandbox.id, rows[0].sandbox_id);
  // the in-use one is found by id and released through the new pool
  assert.equal((await restarted.release(inUse.sandbox.id, inUse.lease)).returned, true);

  // a sandbox that vanished while we were down is marked terminated, and min is restored
  await restarted.stop();
  await (await p2.connect(again.sandbox.id)).kill();
  const third = newPool({}, newProvider(root));
  const r3 = await third.start();
  assert.equal(r3.retired, 1);
  assert.equal((await sandboxRepo().findById(again.sandbox.id))?.status, 'terminated');
  assert.equal((await third.stats()).live, 2);
});

test('a creation that crashed half-way (stale reservation) is cleaned up; cost accrues per sandbox-second', async () => {
  const pool = newPool({ initializingGraceMs: 0 });
  // a crashed process had reserved a slot and created its sandbox, but never bound it
  await t.db.query(
    `INSERT INTO git_sandboxes (sandbox_id, status, created_at, expires_at) VALUES ('pending:crashed', 'initializing', now() - interval '1 minute', now() + interval '1 hour')`,
  );
  const orphan = await provider.create({ metadata: { sgcApproach: 'pooled', sgcReservation: 'pending:crashed' } });
  await pool.start();
  assert.equal((await sandboxRepo().findById('pending:crashed'))?.status, 'terminated');
  await assert.rejects(provider.connect(orphan.id), (e: unknown) => isDomainError(e, ErrorType.SandboxGone));
  await sleep(300);
  await pool.stop({ terminateIdle: true });
  const dollars = await counter('sandboxCost', 'pooled');
  // 2 sandboxes × ≥0.3 s × $0.5/s
  assert.ok(dollars >= 0.25 && dollars < 10, `cost ${dollars}`);
  assert.equal((await pool.stats()).live, 0);
  // a second stop accrues nothing more for terminated sandboxes
  await pool.stop();
  assert.equal(await counter('sandboxCost', 'pooled'), dollars);
});
