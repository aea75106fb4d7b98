/**
 * What a process holds in Postgres — the workspace operation lease (lib/service/ownership.ts),
 * the branch push lock (lib/lock/push-lock.ts) — against the real Postgres: a holder whose
 * release fails because the database is out of reach (a restart, a partition) gives it back as
 * soon as the database answers again, instead of leaving it held until its TTL (30 s). Without
 * that, the retry of the very push that held it found the workspace Busy or the branch locked
 * (issue 12's postgres-restart fault: attempt 4 met the lease attempt 3 could not release).
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { createDb, type Db } from '../../lib/db/index.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { PushLock } from '../../lib/lock/push-lock.js';
import { OP_LEASE_TTL_MS, WorkspaceOpLeases } from '../../lib/service/ownership.js';
import { createWorkspaceRepository } from '../../lib/store/workspaces.js';
import { startTcpProxy, type TcpProxy } from '../../scripts/testing/tcp-proxy.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { failure } from '../helpers/failure.js';

const log = createLogger({ level: 'silent' });
let t: TestDb;
let proxy: TcpProxy;
let cut: Db;

beforeAll(async () => {
  t = await freshDb('oplease');
  const u = new URL(t.url);
  proxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  u.hostname = proxy.host;
  u.port = String(proxy.port);
  // fail fast while cut off, as the service's pools do (only shorter)
  cut = createDb(u.toString(), { max: 2, connectTimeoutMs: 300, queryTimeoutMs: 500 });
});
afterAll(async () => {
  await cut?.end().catch(() => undefined);
  await proxy?.close();
  await t?.drop();
});

async function workspace(id: string): Promise<void> {
  await createWorkspaceRepository(t.db).insert({
    id,
    approach: 'simple',
    agentId: 'agent-1',
    taskId: 'task-1',
    repoUrl: 'file:///nowhere.git',
    baseBranch: 'main',
    agentBranch: 'agent/agent-1/task-1',
    sandboxId: `sb-${id}`,
    dir: '/tmp/nowhere',
  });
}

test('a lease its holder could not release (database cut off) is given back once the database answers, well before its TTL', async () => {
  const id = `ws-cut-${randomBytes(3).toString('hex')}`;
  await workspace(id);
  proxy.forward();
  const holder = new WorkspaceOpLeases({
    workspaces: createWorkspaceRepository(cut),
    approach: 'simple',
    log,
    waitMs: 1_000,
  });
  const err = await failure(
    holder.run(id, 'commitPush', async () => {
      proxy.drop(); // the database goes away while the operation runs ...
      throw new DomainError(ErrorType.Unavailable, 'database unavailable');
    }),
  );
  assert.ok(err instanceof DomainError && err.type === ErrorType.Unavailable, 'the operation fails as it did');
  // ... so its release failed; the row still names the holder
  const held = await t.db.query<{ op_name: string | null }>(`SELECT op_name FROM workspaces WHERE id = $1`, [id]);
  assert.equal(held.rows[0]?.op_name, 'commitPush');

  proxy.forward(); // the database is back
  const next = new WorkspaceOpLeases({
    workspaces: createWorkspaceRepository(t.db),
    approach: 'simple',
    log,
    waitMs: 10_000,
  });
  const started = performance.now();
  assert.equal(await next.run(id, 'commitPush', async () => 'ran'), 'ran');
  const waited = performance.now() - started;
  // without the retried release it waits 10 s and is refused Busy (the lease expires only at 30 s)
  assert.ok(waited < OP_LEASE_TTL_MS / 3, `the next operation waited ${Math.round(waited)} ms for the lease`);
});

test('a push lock its holder could not release (database cut off) is released once the database answers, well before its TTL', async () => {
  const key = `push:file:///r-${randomBytes(3).toString('hex')}.git#main`;
  proxy.forward();
  const holder = new PushLock({
    db: cut,
    defaults: { ttlMs: 30_000, timeoutMs: 1_000, pollMs: 20 },
    listen: false,
    log,
  });
  const next = new PushLock({ db: t.db, defaults: { ttlMs: 30_000, timeoutMs: 10_000, pollMs: 20 }, listen: false });
  try {
    const err = await failure(
      holder.withLock(key, 'worker-1', async () => {
        proxy.drop(); // the database goes away while the push runs
        throw new DomainError(ErrorType.Unavailable, 'database unavailable');
      }),
    );
    assert.ok(err instanceof DomainError && err.type === ErrorType.Unavailable, 'the push fails as it did');
    assert.equal((await next.inspect(key))?.holder, 'worker-1', 'its release failed: the lock is still held');

    proxy.forward(); // the database is back
    const started = performance.now();
    assert.equal(await next.withLock(key, 'worker-2', async () => 'pushed'), 'pushed');
    const waited = performance.now() - started;
    // without the retried release it waits 10 s and fails LockTimeout (the lock expires at 30 s)
    assert.ok(waited < 10_000, `the next push waited ${Math.round(waited)} ms for the lock`);
  } finally {
    await holder.close();
    await next.close();
  }
});
