import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { freshDb, type TestDb } from '../helpers/db.js';
import { PushLock } from '../../lib/lock/push-lock.js';
import { LocalLock } from '../../lib/lock/local-lock.js';
import { ErrorType, isDomainError, type DomainError } from '../../lib/errors.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';

let t: TestDb;
let metrics: Metrics;
const locks: PushLock[] = [];

function lock(opts: { pollMs?: number; listen?: boolean } = {}): PushLock {
  const l = new PushLock({
    db: t.db,
    metrics,
    defaults: { ttlMs: 30_000, timeoutMs: 5_000, pollMs: opts.pollMs ?? 20 },
    listen: opts.listen,
  });
  locks.push(l);
  return l;
}

async function audit(
  key: string,
): Promise<{ holder: string; event: string; previous_holder: string | null; fencing_token: string | null }[]> {
  const { rows } = await t.db.query(
    'SELECT holder, event, previous_holder, fencing_token FROM lock_audit WHERE lock_key = $1 ORDER BY id',
    [key],
  );
  return rows;
}

async function histogramCount(outcome: string): Promise<number> {
  const m = await metrics.lockWait.get();
  return (
    m.values.find((v) => v.metricName === 'gitops_lock_wait_seconds_count' && v.labels.outcome === outcome)?.value ?? 0
  );
}

beforeAll(async () => {
  t = await freshDb('lock');
  metrics = createMetrics({ defaultMetrics: false });
});

afterAll(async () => {
  for (const l of locks) await l.close();
  await t?.drop();
});

test('concurrent acquirers (separate PushLock instances, as separate processes) never overlap', async () => {
  const key = 'push:file:///r.git#main';
  let inside = 0;
  let maxInside = 0;
  const order: string[] = [];
  const tokens: bigint[] = [];
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => {
      const l = lock();
      return l.withLock(key, `holder-${i}`, async (h) => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        tokens.push(BigInt(h.fencingToken));
        order.push(`holder-${i}`);
        await sleep(15);
        inside--;
      });
    }),
  );
  assert.equal(maxInside, 1);
  assert.equal(order.length, 10);
  for (let i = 1; i < tokens.length; i++)
    assert.ok(tokens[i] > tokens[i - 1], 'fencing tokens increase with each acquisition');
  const rows = await audit(key);
  assert.equal(rows.filter((r) => r.event === 'acquired').length, 10);
  assert.equal(rows.filter((r) => r.event === 'released').length, 10);
  assert.equal(await lock().inspect(key), null, 'no lock left behind');
});

test('an acquirer gives up with LockTimeout when the lock stays held, and it is audited and measured', async () => {
  const key = 'push:timeout#main';
  const l = lock();
  const held = await l.acquire(key, 'owner');
  const before = await histogramCount('timeout');
  const t0 = Date.now();
  const err = await l.acquire(key, 'waiter', { timeoutMs: 400 }).then(
    () => null,
    (e: unknown) => e,
  );
  const waited = Date.now() - t0;
  assert.ok(isDomainError(err, ErrorType.LockTimeout), `expected LockTimeout, got ${String(err)}`);
  assert.equal((err as DomainError).category, 'conflict');
  assert.ok(waited >= 380 && waited < 2_000, `waited ${waited} ms`);
  assert.equal(await histogramCount('timeout'), before + 1);
  assert.deepEqual(
    (await audit(key)).map((r) => [r.holder, r.event]),
    [
      ['owner', 'acquired'],
      ['waiter', 'timeout'],
    ],
  );
  assert.equal((await l.inspect(key))?.holder, 'owner', 'the holder keeps its lock');
  assert.ok(await l.release(key, 'owner', held.fencingToken));
});

test('a holder that died without releasing is taken over after its TTL (expired_takeover), and cannot touch the new lock', async () => {
  const key = 'push:crash#main';
  const l = lock();
  const dead = await l.acquire(key, 'crashed-worker', { ttlMs: 300 });
  const t0 = Date.now();
  const next = await l.acquire(key, 'survivor', { timeoutMs: 3_000 });
  const waited = Date.now() - t0;
  assert.ok(waited >= 250, `took over only after the TTL (waited ${waited} ms)`);
  assert.equal(next.tookOver, true);
  assert.ok(BigInt(next.fencingToken) > BigInt(dead.fencingToken));
  // the stale holder wakes up: its release and extend are refused
  assert.equal(await l.release(key, 'crashed-worker', dead.fencingToken), false);
  assert.equal(await l.extend(key, 'crashed-worker', dead.fencingToken), false);
  assert.equal((await l.inspect(key))?.holder, 'survivor');
  const rows = await audit(key);
  assert.deepEqual(
    rows.map((r) => r.event),
    ['acquired', 'expired_takeover'],
  );
  assert.equal(rows[1].previous_holder, 'crashed-worker');
  assert.ok(await l.release(key, 'survivor', next.fencingToken));
});

test('release by a non-holder or with a wrong token does nothing; releasing twice is harmless', async () => {
  const key = 'push:nonholder#main';
  const l = lock();
  const h = await l.acquire(key, 'owner');
  assert.equal(await l.release(key, 'intruder', h.fencingToken), false);
  assert.equal(await l.release(key, 'owner', String(BigInt(h.fencingToken) + 1000n)), false);
  assert.equal((await l.inspect(key))?.holder, 'owner');
  assert.equal(await l.release(key, 'owner', h.fencingToken), true);
  assert.equal(await l.release(key, 'owner', h.fencingToken), false);
  assert.deepEqual(
    (await audit(key)).map((r) => r.event),
    ['acquired', 'released'],
  );
});

test('acquiring twice as the same holder is idempotent (one row, a fresh token), other keys are independent', async () => {
  const key = 'push:idem#main';
  const l = lock();
  const a = await l.acquire(key, 'same');
  const b = await l.acquire(key, 'same', { timeoutMs: 100 });
  assert.notEqual(a.fencingToken, b.fencingToken);
  const { rows } = await t.db.query('SELECT count(*)::int AS n FROM push_locks WHERE lock_key = $1', [key]);
  assert.equal(rows[0].n, 1);
  const other = await l.acquire('push:idem#other', 'someone-else', { timeoutMs: 100 });
  assert.equal(await l.release(key, 'same', a.fencingToken), false, 'the first token was superseded');
  assert.ok(await l.release(key, 'same', b.fencingToken));
  assert.ok(await l.release('push:idem#other', 'someone-else', other.fencingToken));
});

test('a release wakes a waiter at once through NOTIFY (well before its 3 s poll)', async () => {
  const key = 'push:notify#main';
  const holder = lock();
  const waiterLock = lock({ pollMs: 3_000 });
  const h = await holder.acquire(key, 'first');
  const waiting = waiterLock.acquire(key, 'second', { timeoutMs: 5_000 });
  await sleep(300); // the waiter has tried once and is now sleeping on its poll
  const t0 = Date.now();
  await holder.release(key, 'first', h.fencingToken);
  const got = await waiting;
  assert.ok(Date.now() - t0 < 1_000, `woken after ${Date.now() - t0} ms`);
  assert.ok(await waiterLock.release(key, 'second', got.fencingToken));
});

test('withLock keeps a long holder alive past the TTL by extending, and releases when fn throws', async () => {
  const key = 'push:extend#main';
  const l = lock();
  const other = lock();
  let contenderErr: unknown;
  await l.withLock(
    key,
    'long-push',
    async () => {
      await sleep(400);
      contenderErr = await other.acquire(key, 'contender', { timeoutMs: 500 }).then(
        () => null,
        (e: unknown) => e,
      );
    },
    { ttlMs: 300 },
  );
  assert.ok(isDomainError(contenderErr, ErrorType.LockTimeout), 'the lock was extended, not taken over');
  await assert.rejects(
    l.withLock(key, 'thrower', async () => {
      throw new Error('push failed');
    }),
    /push failed/,
  );
  assert.equal(await l.inspect(key), null, 'released after the throw');
  assert.equal((await audit(key)).filter((r) => r.event === 'expired_takeover').length, 0);
});

test('in-process lock (approach 1): serialises per key in arrival order, times out, other keys run in parallel', async () => {
  const local = new LocalLock({ metrics });
  const order: number[] = [];
  let inside = 0;
  let maxInside = 0;
  await Promise.all(
    [1, 2, 3, 4, 5].map((i) =>
      local.withLock('k', async () => {
        inside++;
        maxInside = Math.max(maxInside, inside);
        order.push(i);
        await sleep(10);
        inside--;
      }),
    ),
  );
  assert.equal(maxInside, 1);
  assert.deepEqual(order, [1, 2, 3, 4, 5]);
  assert.equal(local.isLocked('k'), false);

  const release = await local.acquire('k');
  const timedOut = await local.acquire('k', { timeoutMs: 50 }).then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(isDomainError(timedOut, ErrorType.LockTimeout));
  assert.equal(local.waiting('k'), 0, 'a timed-out waiter leaves the queue');
  const otherKey = await local.acquire('other', { timeoutMs: 50 });
  otherKey();
  const queued = local.acquire('k', { timeoutMs: 1_000 });
  release();
  release(); // twice is harmless: it must not let two waiters in
  (await queued)();
  assert.equal(local.isLocked('k'), false);
});
