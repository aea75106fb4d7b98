/**
 * Issue 9, item 2 (pushing anywhere). The service pushes with its own token, so the branch an
 * agent names decides what that token writes: only branches matching `git.pushBranches`
 * (default `agent/{agentId}/**`) may be pushed, only `git.readBranches` may be read as a base.
 * Anything else is 403 naming the field, and the remote does not change. Through the whole path
 * (API → Temporal → worker → git) against a real bare repository.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { ErrorType, isDomainError, type DomainError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createLocalProvider } from '../../lib/sandbox/local.js';
import { createGitService } from '../../lib/service/index.js';
import { call, startApiStack, type ApiStack } from '../helpers/api-stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo, git } from '../helpers/git.js';
import { testEnv } from '../helpers/temporal.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });
const TOKENS = { a: `agent-a-${randomBytes(12).toString('hex')}`, b: `agent-b-${randomBytes(12).toString('hex')}` };

let t: TestDb;
let env: TestWorkflowEnvironment;
let repo: ReturnType<typeof createBareRepo>;
let root: string;
let stack: ApiStack;
let config: Config;

/** Branch → commit of every head on the remote. */
function heads(): string {
  return git(repo.bare, 'for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads');
}

beforeAll(async () => {
  t = await freshDb('secbranch');
  env = await testEnv();
  repo = createBareRepo({ 'README.md': '# branches\n' });
  // a branch of another agent on the remote, to try to read and overwrite
  const seed = mkdtempSync(join(tmpdir(), 'sgc-secbr-seed-'));
  git(seed, 'clone', '--quiet', repo.url, 'c');
  git(join(seed, 'c'), 'push', '--quiet', 'origin', 'main:refs/heads/agent/agent-b/secret');
  rmSync(seed, { recursive: true, force: true });
  root = mkdtempSync(join(tmpdir(), 'sgc-secbr-'));
  config = loadConfig({
    path: '/dev/null',
    env: {
      SGC_API_TOKENS: JSON.stringify([
        { name: 'a', role: 'agent', agentId: 'agent-a', token: TOKENS.a },
        { name: 'b', role: 'agent', agentId: 'agent-b', token: TOKENS.b },
      ]),
    },
    overrides: {
      'service.approach': 'simple',
      'sandbox.localRoot': root,
      'git.remotes': [{ scheme: 'file', pathPrefix: repo.root }],
      // bases an agent may start from: main, and its own branches
      'git.readBranches': ['main', 'agent/{agentId}/**'],
    },
  });
  stack = await startApiStack({ env, db: t.db, config, log });
});

afterAll(async () => {
  await stack?.close();
  await env?.teardown();
  repo?.cleanup();
  if (root) rmSync(root, { recursive: true, force: true });
  await t?.drop();
});

async function workspace(
  token: string,
  taskId: string,
  baseBranch?: string,
): Promise<{ id: string; agentBranch: string }> {
  const res = await call(stack.url, 'POST', '/v1/workspaces', {
    token,
    body: { repoUrl: repo.url, taskId, ...(baseBranch ? { baseBranch } : {}) },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  return res.body as { id: string; agentBranch: string };
}

async function edit(token: string, id: string, name: string): Promise<void> {
  const res = await call(stack.url, 'PUT', `/v1/workspaces/${id}/files/${name}`, {
    token,
    body: { content: `${name}\n` },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
}

describe('push', () => {
  test("a push to main is 403 naming branch, and the remote's main is unchanged", async () => {
    const ws = await workspace(TOKENS.a, 'to-main');
    await edit(TOKENS.a, ws.id, 'main.txt');
    const before = heads();
    const res = await call(stack.url, 'POST', `/v1/workspaces/${ws.id}/commits`, {
      token: TOKENS.a,
      body: { message: 'straight to main', branch: 'main' },
    });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.field, 'branch');
    assert.equal(heads(), before, 'the remote changed');
    assert.deepEqual(cloneAndRead(repo.url, 'main').subjects, ['initial']);
  });

  test("a push to another agent's branch is 403 and that branch is unchanged", async () => {
    const ws = await workspace(TOKENS.a, 'to-b');
    await edit(TOKENS.a, ws.id, 'b.txt');
    const before = heads();
    const res = await call(stack.url, 'POST', `/v1/workspaces/${ws.id}/commits`, {
      token: TOKENS.a,
      body: { message: 'overwrite b', branch: 'agent/agent-b/secret' },
    });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.field, 'branch');
    assert.equal(heads(), before);
  });

  test("the agent's own branches are pushed: the default agent branch and another under agent/<agentId>/", async () => {
    const ws = await workspace(TOKENS.a, 'own');
    await edit(TOKENS.a, ws.id, 'own.txt');
    const first = await call(stack.url, 'POST', `/v1/workspaces/${ws.id}/commits`, {
      token: TOKENS.a,
      body: { message: 'own branch' },
    });
    assert.equal(first.status, 201, JSON.stringify(first.body));
    assert.equal(cloneAndRead(repo.url, ws.agentBranch).subjects[0], 'own branch');
    await edit(TOKENS.a, ws.id, 'own2.txt');
    const second = await call(stack.url, 'POST', `/v1/workspaces/${ws.id}/commits`, {
      token: TOKENS.a,
      body: { message: 'side branch', branch: 'agent/agent-a/side' },
    });
    assert.equal(second.status, 201, JSON.stringify(second.body));
    assert.equal(cloneAndRead(repo.url, 'agent/agent-a/side').subjects[0], 'side branch');
  });
});

describe('read', () => {
  test('a base branch outside git.readBranches is 403 naming baseBranch', async () => {
    const res = await call(stack.url, 'POST', '/v1/workspaces', {
      token: TOKENS.a,
      body: { repoUrl: repo.url, taskId: 'peek', baseBranch: 'agent/agent-b/secret' },
    });
    assert.equal(res.status, 403, JSON.stringify(res.body));
    assert.equal(res.body.field, 'baseBranch');
  });

  test('a base branch inside it is read', async () => {
    const ws = await workspace(TOKENS.b, 'from-own', 'agent/agent-b/secret');
    const st = await call(stack.url, 'GET', `/v1/workspaces/${ws.id}/status`, { token: TOKENS.b });
    assert.equal(st.status, 200, JSON.stringify(st.body));
  });
});

test('the service itself refuses, whoever calls it (MCP, CLI, a workflow)', async () => {
  const svcRoot = mkdtempSync(join(tmpdir(), 'sgc-secbr-svc-'));
  const provider = createLocalProvider({ root: svcRoot, defaultTimeoutMs: 600_000 });
  const svc = createGitService({
    config: { ...config, sandbox: { ...config.sandbox, localRoot: svcRoot } },
    db: t.db,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
    provider,
    key: randomBytes(32),
  });
  try {
    const ws = await svc.createWorkspace({ agentId: 'agent-a', taskId: 'svc', repoUrl: repo.url });
    await svc.writeFile(ws.id, 'svc.txt', 'x\n');
    const before = heads();
    const err = await svc.commitAndPush(ws.id, { message: 'to main', targetBranch: 'main' }).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(isDomainError(err, ErrorType.Forbidden), `expected Forbidden, got ${String(err)}`);
    assert.equal((err as DomainError).details.field, 'branch');
    assert.equal(heads(), before);
    const base = await svc
      .createWorkspace({ agentId: 'agent-a', taskId: 'svc2', repoUrl: repo.url, baseBranch: 'agent/agent-b/secret' })
      .then(
        () => null,
        (e: unknown) => e,
      );
    assert.ok(isDomainError(base, ErrorType.Forbidden), `expected Forbidden, got ${String(base)}`);
    assert.equal((base as DomainError).details.field, 'baseBranch');
    await svc.release(ws.id);
  } finally {
    await svc.close();
    provider.close();
    rmSync(svcRoot, { recursive: true, force: true });
  }
});
