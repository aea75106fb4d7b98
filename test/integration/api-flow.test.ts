/**
 * The API over HTTP against the real stack: Temporal dev server + a git worker, a fresh Postgres
 * database, the local sandbox provider and real bare repositories. The API and the worker each
 * build their own GitService (as the two processes do), sharing the database and sandbox root.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { buildApp, type App } from '../../api/app.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { createDb } from '../../lib/db/index.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics, type Approach } from '../../lib/metrics.js';
import { createGitService } from '../../lib/service/index.js';
import { call as httpCall, startApiStack, type Res } from '../helpers/api-stack.js';
import { createTemporalClient } from '../../clients/temporal.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo, git } from '../helpers/git.js';
import { freePort } from '../../scripts/stack.js';
import { testEnv, uniqueQueue } from '../helpers/temporal.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });

const TOKENS = {
  agentA: `agent-a-${randomBytes(12).toString('hex')}`,
  agentB: `agent-b-${randomBytes(12).toString('hex')}`,
  operator: `operator-${randomBytes(12).toString('hex')}`,
};
const BODY_LIMIT = 64 * 1024;

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let sandboxRoot: string;
const cleanups: (() => Promise<unknown> | void)[] = [];

function testConfig(approach: Approach, overrides: Record<string, unknown> = {}): Config {
  return parseConfig({
    service: { approach },
    sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
    pool: { min: 1, max: 6 },
    security: { encryptionKey: KEY },
    // bare repositories live under the temp dir; the shared-branch case pushes to main
    git: {
      backoffBaseMs: 20,
      backoffMaxMs: 200,
      remotes: [{ scheme: 'file', pathPrefix: tmpdir() }],
      pushBranches: ['agent/{agentId}/**', 'main'],
    },
    api: {
      bodyLimitBytes: BODY_LIMIT,
      tokens: [
        { name: 'agent-a', role: 'agent', agentId: 'agent-a', token: TOKENS.agentA },
        { name: 'agent-b', role: 'agent', agentId: 'agent-b', token: TOKENS.agentB },
        { name: 'ops', role: 'operator', token: TOKENS.operator },
      ],
    },
    ...overrides,
  });
}
const KEY = randomBytes(32).toString('base64');

interface Stack {
  url: string;
  app: App;
}

/** A worker and an API for one approach, each with its own GitService (like two processes). */
async function startStack(approach: Approach): Promise<Stack> {
  const config = testConfig(approach);
  const stack = await startApiStack({ env, db: tdb.db, config, log, queue: `api-${approach}` });
  cleanups.push(() => stack.close());
  return { url: stack.url, app: stack.app };
}

const call = httpCall;

function expectStatus(res: Res, status: number): void {
  assert.equal(res.status, status, `expected ${status}, got ${res.status}: ${JSON.stringify(res.body)}`);
}

function bareRepo(files?: Record<string, string>) {
  const r = createBareRepo(files);
  cleanups.push(() => r.cleanup());
  return r;
}

/** Branch → commit of every head on the remote (to prove "nothing changed"). */
function heads(bare: string): string {
  return git(bare, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads');
}

beforeAll(async () => {
  env = await testEnv();
  tdb = await freshDb('api');
  sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-api-sb-'));
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await tdb?.drop();
  await env?.teardown();
  if (sandboxRoot) rmSync(sandboxRoot, { recursive: true, force: true });
});

for (const approach of ['simple', 'pooled'] as const) {
  describe(`approach ${approach}`, () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack(approach);
    });

    test(`the whole agent flow over HTTP on approach ${approach}: create, write, commit, status, diff, pull, release`, async () => {
      const remote = bareRepo({ 'README.md': '# demo\n' });
      const taskId = `task-${approach}`;
      const created = await call(stack.url, 'POST', '/v1/workspaces', {
        token: TOKENS.agentA,
        body: { repoUrl: remote.url, taskId },
      });
      expectStatus(created, 201);
      const ws = created.body as { id: string; agentBranch: string; approach: string; status: string };
      assert.equal(ws.agentBranch, `agent/agent-a/${taskId}`);
      assert.equal(ws.approach, approach);
      const base = `/v1/workspaces/${ws.id}`;

      expectStatus(await call(stack.url, 'GET', base, { token: TOKENS.agentA }), 200);
      expectStatus(
        await call(stack.url, 'PUT', `${base}/files/notes/hello.txt`, {
          token: TOKENS.agentA,
          body: { content: 'hello from the agent\n' },
        }),
        200,
      );
      expectStatus(
        await call(stack.url, 'PUT', `${base}/files/README.md`, {
          token: TOKENS.agentA,
          body: { content: '# demo\nmore\n' },
        }),
        200,
      );
      const read = await call(stack.url, 'GET', `${base}/files/notes/hello.txt`, { token: TOKENS.agentA });
      assert.equal(read.body.content, 'hello from the agent\n');

      const dirty = await call(stack.url, 'GET', `${base}/status`, { token: TOKENS.agentA });
      expectStatus(dirty, 200);
      assert.equal(dirty.body.clean, false);
      const paths = (dirty.body.entries as { path: string }[]).map((e) => e.path).sort();
      assert.deepEqual(paths, ['README.md', 'notes/hello.txt']);
      const diff = await call(stack.url, 'GET', `${base}/diff`, { token: TOKENS.agentA });
      assert.match(String(diff.body.diff), /^\+more$/m);

      const committed = await call(stack.url, 'POST', `${base}/commits`, {
        token: TOKENS.agentA,
        body: { message: 'agent adds hello' },
      });
      expectStatus(committed, 201);
      assert.equal(committed.body.branch, ws.agentBranch);
      const landed = cloneAndRead(remote.url, ws.agentBranch);
      assert.equal(landed.subjects[0], 'agent adds hello');
      assert.equal(landed.read('notes/hello.txt'), 'hello from the agent\n');
      assert.equal(landed.read('README.md'), '# demo\nmore\n');
      assert.equal((await call(stack.url, 'GET', `${base}/status`, { token: TOKENS.agentA })).body.clean, true);

      // someone else pushes to the agent branch; pull brings it in
      git(landed.dir, 'config', 'user.email', 'other@example.test');
      git(landed.dir, 'config', 'user.name', 'other');
      git(landed.dir, 'commit', '--allow-empty', '-m', 'from elsewhere');
      git(landed.dir, 'push', 'origin', ws.agentBranch);
      const pulled = await call(stack.url, 'POST', `${base}/pull`, { token: TOKENS.agentA });
      expectStatus(pulled, 200);
      assert.equal(pulled.body.updated, true);
      assert.equal(pulled.body.head, git(landed.dir, 'rev-parse', 'HEAD').trim());

      expectStatus(await call(stack.url, 'DELETE', base, { token: TOKENS.agentA }), 204);
      const after = await call(stack.url, 'GET', base, { token: TOKENS.agentA });
      assert.equal(after.body.status, 'terminated');
      expectStatus(await call(stack.url, 'GET', `${base}/status`, { token: TOKENS.agentA }), 404);
      // releasing again is harmless
      expectStatus(await call(stack.url, 'DELETE', base, { token: TOKENS.agentA }), 204);
    });

    test(`two agents editing the same line of a shared branch on approach ${approach}: the second gets 409 naming the file`, async () => {
      const remote = bareRepo({ 'shared.txt': 'alpha\nbeta\ngamma\n' });
      const a = await call(stack.url, 'POST', '/v1/workspaces', {
        token: TOKENS.agentA,
        body: { repoUrl: remote.url, taskId: `edit-${approach}` },
      });
      const b = await call(stack.url, 'POST', '/v1/workspaces', {
        token: TOKENS.agentB,
        body: { repoUrl: remote.url, taskId: `edit-${approach}` },
      });
      expectStatus(a, 201);
      expectStatus(b, 201);
      const wa = `/v1/workspaces/${String(a.body.id)}`;
      const wb = `/v1/workspaces/${String(b.body.id)}`;
      await call(stack.url, 'PUT', `${wa}/files/shared.txt`, {
        token: TOKENS.agentA,
        body: { content: 'alpha\nBETA (a)\ngamma\n' },
      });
      await call(stack.url, 'PUT', `${wb}/files/shared.txt`, {
        token: TOKENS.agentB,
        body: { content: 'alpha\nBETA (b)\ngamma\n' },
      });
      expectStatus(
        await call(stack.url, 'POST', `${wa}/commits`, {
          token: TOKENS.agentA,
          body: { message: 'a wins', branch: 'main' },
        }),
        201,
      );
      const lost = await call(stack.url, 'POST', `${wb}/commits`, {
        token: TOKENS.agentB,
        body: { message: 'b loses', branch: 'main' },
      });
      expectStatus(lost, 409);
      assert.equal(lost.body.error, 'conflict');
      assert.deepEqual(lost.body.files, ['shared.txt']);
      const main = cloneAndRead(remote.url, 'main');
      assert.equal(main.read('shared.txt'), 'alpha\nBETA (a)\ngamma\n');
      assert.ok(!main.subjects.includes('b loses'));
    });
  });
}

describe('bad input is refused and changes nothing', () => {
  let stack: Stack;
  let remote: ReturnType<typeof bareRepo>;
  let wsPath: string;
  beforeAll(async () => {
    stack = await startStack('simple');
    remote = bareRepo({ 'README.md': '# demo\n' });
    const created = await call(stack.url, 'POST', '/v1/workspaces', {
      token: TOKENS.agentA,
      body: { repoUrl: remote.url, taskId: 'hostile' },
    });
    expectStatus(created, 201);
    wsPath = `/v1/workspaces/${String(created.body.id)}`;
  });

  async function assertClean(): Promise<void> {
    const st = await call(stack.url, 'GET', `${wsPath}/status`, { token: TOKENS.agentA });
    assert.equal(st.body.clean, true, JSON.stringify(st.body));
  }

  test('a path escaping the workspace is 400 naming "path"', async () => {
    for (const p of [
      encodeURIComponent('../escape.txt'),
      `sub/${encodeURIComponent('../../escape.txt')}`,
      `${encodeURIComponent('.git/config')}`,
    ]) {
      const res = await call(stack.url, 'PUT', `${wsPath}/files/${p}`, {
        token: TOKENS.agentA,
        body: { content: 'x' },
      });
      expectStatus(res, 400);
      assert.equal(res.body.field, 'path');
    }
    await assertClean();
    assert.equal(existsSync(join(sandboxRoot, 'escape.txt')), false);
  });

  test('shell metacharacters: a branch is rejected naming "branch"; a message is committed literally', async () => {
    const marker = join(tmpdir(), `sgc-pwned-${randomBytes(4).toString('hex')}`);
    const before = heads(remote.bare);
    await call(stack.url, 'PUT', `${wsPath}/files/a.txt`, { token: TOKENS.agentA, body: { content: 'a\n' } });
    const badBranch = await call(stack.url, 'POST', `${wsPath}/commits`, {
      token: TOKENS.agentA,
      body: { message: 'ok', branch: `main; touch ${marker}` },
    });
    expectStatus(badBranch, 400);
    assert.equal(badBranch.body.field, 'branch');
    assert.equal(heads(remote.bare), before);

    const message = `$(touch ${marker}) \`touch ${marker}\`; rm -rf / && echo "quoted" 'single' | cat > ${marker}`;
    const ok = await call(stack.url, 'POST', `${wsPath}/commits`, { token: TOKENS.agentA, body: { message } });
    expectStatus(ok, 201);
    assert.equal(cloneAndRead(remote.url, 'agent/agent-a/hostile').subjects[0], message);
    assert.equal(existsSync(marker), false);
  });

  test('a missing field or a bad repo URL is 400 naming the field, and no workspace is created', async () => {
    const missing = await call(stack.url, 'POST', '/v1/workspaces', {
      token: TOKENS.agentA,
      body: { repoUrl: remote.url },
    });
    expectStatus(missing, 400);
    assert.equal(missing.body.field, 'taskId');
    const ext = await call(stack.url, 'POST', '/v1/workspaces', {
      token: TOKENS.agentA,
      body: { repoUrl: `ext::sh -c touch% /tmp/x`, taskId: 't' },
    });
    expectStatus(ext, 400);
    assert.equal(ext.body.field, 'repoUrl');
    const { rows } = await tdb.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM workspaces WHERE task_id = 't'`);
    assert.equal(rows[0].n, 0);
  });

  test('an oversized body is 413 and the file is not written', async () => {
    const res = await call(stack.url, 'PUT', `${wsPath}/files/big.txt`, {
      token: TOKENS.agentA,
      body: { content: 'x'.repeat(BODY_LIMIT + 1) },
    });
    expectStatus(res, 413);
    expectStatus(await call(stack.url, 'GET', `${wsPath}/files/big.txt`, { token: TOKENS.agentA }), 404);
  });

  test("no token is 401, a wrong role is 403, another agent's workspace is 404 — and nothing changes", async () => {
    const before = heads(remote.bare);
    expectStatus(await call(stack.url, 'GET', wsPath), 401);
    expectStatus(
      await call(stack.url, 'POST', `${wsPath}/commits`, { token: 'not-a-real-token-at-all', body: { message: 'x' } }),
      401,
    );
    expectStatus(
      await call(stack.url, 'POST', '/v1/workspaces', {
        token: TOKENS.operator,
        body: { repoUrl: remote.url, taskId: 'ops' },
      }),
      403,
    );
    expectStatus(await call(stack.url, 'GET', wsPath, { token: TOKENS.agentB }), 404);
    expectStatus(
      await call(stack.url, 'PUT', `${wsPath}/files/b.txt`, { token: TOKENS.agentB, body: { content: 'b' } }),
      404,
    );
    expectStatus(
      await call(stack.url, 'POST', `${wsPath}/commits`, { token: TOKENS.agentB, body: { message: 'b' } }),
      404,
    );
    expectStatus(await call(stack.url, 'DELETE', wsPath, { token: TOKENS.agentB }), 404);
    assert.equal(heads(remote.bare), before);
    await assertClean();
    expectStatus(await call(stack.url, 'GET', `${wsPath}/files/b.txt`, { token: TOKENS.agentA }), 404);
  });

  test('a create or a commit retried with the same Idempotency-Key runs once', async () => {
    // one key per request: a key is bound to its request (test/security/idempotency.test.ts)
    const keys = {
      create: `retry-${randomBytes(4).toString('hex')}`,
      commit: `retry-${randomBytes(4).toString('hex')}`,
    };
    const post = (path: string, body: unknown, key: string) =>
      fetch(`${stack.url}${path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKENS.agentA}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify(body),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
    const first = await post('/v1/workspaces', { repoUrl: remote.url, taskId: 'retried' }, keys.create);
    const second = await post('/v1/workspaces', { repoUrl: remote.url, taskId: 'retried' }, keys.create);
    assert.equal(first.status, 201);
    assert.deepEqual(second, first);
    const { rows } = await tdb.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM workspaces WHERE task_id = 'retried'`,
    );
    assert.equal(rows[0].n, 1);

    const path = `/v1/workspaces/${String(first.body.id)}`;
    await call(stack.url, 'PUT', `${path}/files/once.txt`, { token: TOKENS.agentA, body: { content: 'once\n' } });
    const c1 = await post(`${path}/commits`, { message: 'exactly once' }, keys.commit);
    const c2 = await post(`${path}/commits`, { message: 'exactly once' }, keys.commit);
    assert.equal(c1.status, 201);
    assert.deepEqual(c2, c1);
    const subjects = cloneAndRead(remote.url, 'agent/agent-a/retried').subjects;
    assert.equal(subjects.filter((s) => s === 'exactly once').length, 1);
  });

  test('OpenAPI is served and documents the workspace routes', async () => {
    const res = await call(stack.url, 'GET', '/openapi.json');
    expectStatus(res, 200);
    const paths = Object.keys(res.body.paths as object);
    assert.ok(paths.includes('/v1/workspaces/{id}/commits'), paths.join(', '));
  });
});

describe('dependencies down', () => {
  test('Postgres unreachable: workspace reads and /healthz answer 503 with Retry-After', async () => {
    const port = await freePort();
    const deadDb = createDb(`postgres://postgres@127.0.0.1:${port}/nothing`, { max: 2 });
    cleanups.push(() => deadDb.end());
    const config = testConfig('simple');
    const service = createGitService({ config, db: deadDb, metrics: createMetrics({ defaultMetrics: false }), log });
    const app = await buildApp({
      config,
      service,
      temporal: { client: env.client, taskQueue: uniqueQueue('dead-pg') },
      metrics: createMetrics({ defaultMetrics: false }),
      db: deadDb,
      log,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const res = await call(url, 'GET', '/v1/workspaces/some-workspace', { token: TOKENS.agentA });
    expectStatus(res, 503);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    assert.doesNotMatch(JSON.stringify(res.body), /ECONNREFUSED|127\.0\.0\.1|stack/);
    const health = await call(url, 'GET', '/healthz');
    expectStatus(health, 503);
    assert.deepEqual(health.body, { status: 'unavailable', postgres: false, temporal: true });
    assert.ok(Number(health.headers.get('retry-after')) > 0);
  });

  test('Temporal unreachable: creating a workspace and /healthz answer 503 with Retry-After', async () => {
    const port = await freePort();
    const config = testConfig('simple', { temporal: { address: `127.0.0.1:${port}` } });
    const client = await createTemporalClient(config.temporal, { lazy: true });
    cleanups.push(() => client.connection.close());
    const service = createGitService({ config, db: tdb.db, metrics: createMetrics({ defaultMetrics: false }), log });
    const app = await buildApp({
      config,
      service,
      temporal: { client, taskQueue: 'nowhere' },
      metrics: createMetrics({ defaultMetrics: false }),
      db: tdb.db,
      log,
    });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    cleanups.push(() => app.close());
    const remote = bareRepo();
    const started = Date.now();
    const res = await call(url, 'POST', '/v1/workspaces', {
      token: TOKENS.agentA,
      body: { repoUrl: remote.url, taskId: 'no-temporal' },
    });
    expectStatus(res, 503);
    assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
    assert.ok(Number(res.headers.get('retry-after')) > 0);
    const health = await call(url, 'GET', '/healthz');
    expectStatus(health, 503);
    assert.deepEqual(health.body, { status: 'unavailable', postgres: true, temporal: false });
  });
});
