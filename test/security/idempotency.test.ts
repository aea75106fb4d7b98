/**
 * Issue 9 item 8: idempotency that neither locks in failures nor hides a changed request.
 * An `Idempotency-Key` is bound to a fingerprint of the request (method + route + body + caller):
 * the same key with another body is 422 naming `Idempotency-Key`, not the first result. A key
 * whose run failed with a retryable error (the 503s: lock timeout, pool exhausted) starts a new
 * attempt when the client retries, as the 503 told it to.
 *
 * The real stack: Temporal dev server + a git worker, a fresh Postgres database, the local
 * sandbox provider, a real bare repository; the push lock is held by "another process" through
 * its real table.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseConfig } from '../../lib/config/index.js';
import { pushLockKey } from '../../lib/lock/index.js';
import { createLogger } from '../../lib/log.js';
import { call as httpCall, startApiStack, type Res } from '../helpers/api-stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo } from '../helpers/git.js';
import { testEnv } from '../helpers/temporal.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });
const TOKENS = {
  a: `agent-a-${randomBytes(12).toString('hex')}`,
  b: `agent-b-${randomBytes(12).toString('hex')}`,
  admin: `admin-${randomBytes(12).toString('hex')}`,
};

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let sandboxRoot: string;
let repo: ReturnType<typeof createBareRepo>;
let url: string;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  [env, tdb] = await Promise.all([testEnv(), freshDb('idem')]);
  sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-idem-'));
  repo = createBareRepo();
  const config = parseConfig({
    service: { approach: 'pooled' },
    sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
    pool: { min: 0, max: 4 },
    // a held lock times out quickly, so the operation's five tries end within seconds
    lock: { acquireTimeoutMs: 300 },
    // a held workspace lease refuses quickly too (Busy, 409 + Retry-After)
    limits: { workspaceBusyWaitMs: 300 },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    git: { backoffBaseMs: 20, backoffMaxMs: 200, remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
    api: {
      tokens: [
        { name: 'agent-a', role: 'agent', agentId: 'agent-a', token: TOKENS.a },
        { name: 'agent-b', role: 'agent', agentId: 'agent-b', token: TOKENS.b },
        { name: 'root', role: 'admin', token: TOKENS.admin },
      ],
    },
  });
  const stack = await startApiStack({ env, db: tdb.db, config, log, queue: 'idem' });
  url = stack.url;
  cleanups.push(() => stack.close());
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await tdb?.drop();
  await env?.teardown();
  repo?.cleanup();
  rmSync(sandboxRoot, { recursive: true, force: true });
});

/** one request of agent or admin `token`, retried by a client with `key` as its Idempotency-Key */
const call = (method: string, path: string, opts: { token: string; body?: unknown; key?: string }): Promise<Res> =>
  httpCall(url, method, path, { token: opts.token, body: opts.body, idempotencyKey: opts.key });

describe('Idempotency-Key', () => {
  test('reusing a key with another body is 422 naming Idempotency-Key; the same body replays the first result', async () => {
    const key = `create-${randomBytes(4).toString('hex')}`;
    const first = await call('POST', '/v1/workspaces', {
      token: TOKENS.a,
      key,
      body: { repoUrl: repo.url, taskId: 'fp-1' },
    });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    const again = await call('POST', '/v1/workspaces', {
      token: TOKENS.a,
      key,
      body: { repoUrl: repo.url, taskId: 'fp-1' },
    });
    assert.equal(again.status, 201);
    assert.equal(again.body.id, first.body.id, 'the same request with the same key is the same workspace');

    const other = await call('POST', '/v1/workspaces', {
      token: TOKENS.a,
      key,
      body: { repoUrl: repo.url, taskId: 'fp-2' },
    });
    assert.equal(
      other.status,
      422,
      `another body under the same key must not return the first result: ${JSON.stringify(other.body)}`,
    );
    assert.equal(other.body.field, 'Idempotency-Key');
    // another route under the same key is another request too
    const pull = await call('POST', `/v1/workspaces/${String(first.body.id)}/pull`, { token: TOKENS.a, key });
    assert.equal(pull.status, 422, JSON.stringify(pull.body));
    assert.equal(pull.body.field, 'Idempotency-Key');
    // keys belong to their caller: agent b's request under the same key is its own
    const b = await call('POST', '/v1/workspaces', {
      token: TOKENS.b,
      key,
      body: { repoUrl: repo.url, taskId: 'fp-2' },
    });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    assert.notEqual(b.body.id, first.body.id);

    // a commit under a reused key with another message does not claim the first commit landed
    const id = String(first.body.id);
    assert.equal(
      (await call('PUT', `/v1/workspaces/${id}/files/a.txt`, { token: TOKENS.a, body: { content: 'a\n' } })).status,
      200,
    );
    const ckey = `commit-${randomBytes(4).toString('hex')}`;
    const c1 = await call('POST', `/v1/workspaces/${id}/commits`, {
      token: TOKENS.a,
      key: ckey,
      body: { message: 'first' },
    });
    assert.equal(c1.status, 201, JSON.stringify(c1.body));
    assert.equal(
      (await call('PUT', `/v1/workspaces/${id}/files/b.txt`, { token: TOKENS.a, body: { content: 'b\n' } })).status,
      200,
    );
    const c2 = await call('POST', `/v1/workspaces/${id}/commits`, {
      token: TOKENS.a,
      key: ckey,
      body: { message: 'second' },
    });
    assert.equal(c2.status, 422, JSON.stringify(c2.body));
    assert.equal(c2.body.field, 'Idempotency-Key');

    // the admin's kill switch takes a key too
    const k1 = await call('POST', '/v1/flags/kill', {
      token: TOKENS.admin,
      key: 'kill-a',
      body: { reason: 'incident 1' },
    });
    assert.equal(k1.status, 200, JSON.stringify(k1.body));
    const k2 = await call('POST', '/v1/flags/kill', {
      token: TOKENS.admin,
      key: 'kill-a',
      body: { reason: 'incident 2' },
    });
    assert.equal(k2.status, 422, JSON.stringify(k2.body));
  });

  test('a key whose run failed with a retryable error (lock timeout, 503) starts a new attempt on retry', async () => {
    const ws = await call('POST', '/v1/workspaces', {
      token: TOKENS.a,
      key: `c-${randomBytes(4).toString('hex')}`,
      body: { repoUrl: repo.url, taskId: 'retry-1' },
    });
    assert.equal(ws.status, 201, JSON.stringify(ws.body));
    const id = String(ws.body.id);
    assert.equal(
      (await call('PUT', `/v1/workspaces/${id}/files/retry.txt`, { token: TOKENS.a, body: { content: 'retry\n' } }))
        .status,
      200,
    );

    // another process holds the push lock of this branch for a long time
    const lockKey = pushLockKey(String(ws.body.repoUrl), String(ws.body.agentBranch));
    await tdb.db.query(
      `INSERT INTO push_locks (lock_key, holder, expires_at, fencing_token) VALUES ($1, 'another-process', now() + interval '1 hour', 1)`,
      [lockKey],
    );
    const key = `push-${randomBytes(4).toString('hex')}`;
    const failed = await call('POST', `/v1/workspaces/${id}/commits`, {
      token: TOKENS.a,
      key,
      body: { message: 'after the lock' },
    });
    assert.equal(failed.status, 503, JSON.stringify(failed.body));
    assert.equal(failed.body.reason, 'LockTimeout');
    assert.ok(failed.headers.get('retry-after'));

    // the lock is free again: the client retries as told, with the same key and body
    await tdb.db.query('DELETE FROM push_locks WHERE lock_key = $1', [lockKey]);
    const retried = await call('POST', `/v1/workspaces/${id}/commits`, {
      token: TOKENS.a,
      key,
      body: { message: 'after the lock' },
    });
    assert.equal(retried.status, 201, `the retry must run again, not replay the 503: ${JSON.stringify(retried.body)}`);
    assert.ok(cloneAndRead(repo.url, String(ws.body.agentBranch)).subjects.includes('after the lock'));
    // and from now on the key replays that success
    const replay = await call('POST', `/v1/workspaces/${id}/commits`, {
      token: TOKENS.a,
      key,
      body: { message: 'after the lock' },
    });
    assert.equal(replay.status, 201);
    assert.equal(replay.body.commit, retried.body.commit);
  });

  test('a key whose run failed Busy (409 + Retry-After) starts a new attempt on retry', async () => {
    // issue 12, found by the chaos suite: after a Postgres restart, leases an operation could not
    // give back made pushes fail Busy; every retry under the same key replayed that 409 (one
    // operation_log row, 100+ answers of 409 busy in two minutes) until the client gave up
    const ws = await call('POST', '/v1/workspaces', {
      token: TOKENS.a,
      key: `c-${randomBytes(4).toString('hex')}`,
      body: { repoUrl: repo.url, taskId: 'busy-1' },
    });
    assert.equal(ws.status, 201, JSON.stringify(ws.body));
    const id = String(ws.body.id);
    assert.equal(
      (await call('PUT', `/v1/workspaces/${id}/files/busy.txt`, { token: TOKENS.a, body: { content: 'busy\n' } }))
        .status,
      200,
    );

    // another process holds the workspace's operation lease (a write it has not given back)
    await tdb.db.query(
      `UPDATE workspaces SET op_token = gen_random_uuid(), op_name = 'write', op_expires_at = now() + interval '1 hour' WHERE id = $1`,
      [id],
    );
    const key = `push-${randomBytes(4).toString('hex')}`;
    const body = { message: 'after the lease' };
    const failed = await call('POST', `/v1/workspaces/${id}/commits`, { token: TOKENS.a, key, body });
    assert.equal(failed.status, 409, JSON.stringify(failed.body));
    assert.equal(failed.body.error, 'busy');
    assert.ok(failed.headers.get('retry-after'));

    // the lease is given back: the client retries as told, with the same key and body
    await tdb.db.query('UPDATE workspaces SET op_token = NULL, op_name = NULL, op_expires_at = NULL WHERE id = $1', [
      id,
    ]);
    const retried = await call('POST', `/v1/workspaces/${id}/commits`, { token: TOKENS.a, key, body });
    assert.equal(retried.status, 201, `the retry must run again, not replay the 409: ${JSON.stringify(retried.body)}`);
    assert.ok(cloneAndRead(repo.url, String(ws.body.agentBranch)).subjects.includes('after the lease'));
  }, 120_000);
});
