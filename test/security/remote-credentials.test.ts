/**
 * Issue 9, item 1 (token theft). An agent chooses the remote of its workspace; the service holds
 * the git token. Only remotes listed in `git.remotes` may be cloned, and the credential helper
 * hands a token only to the host (and path) it belongs to: a foreign host — asked directly, or
 * reached through a redirect from the token's own host — receives no Authorization header.
 * Real git against real HTTP servers on 127.0.0.1 that record every Authorization header.
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
import { isDomainError, ErrorType, type DomainError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics, type Approach } from '../../lib/metrics.js';
import { createLocalProvider } from '../../lib/sandbox/local.js';
import { createGitService } from '../../lib/service/index.js';
import { call, startApiStack } from '../helpers/api-stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo } from '../helpers/git.js';
import {
  startGitHttpServer,
  startRecordingServer,
  type GitHttpServer,
  type RecordingServer,
} from '../helpers/git-http.js';
import { testEnv } from '../helpers/temporal.js';
import { failure } from '../helpers/failure.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });
const key = randomBytes(32);
const TOKEN = `ghs_${randomBytes(16).toString('hex')}`;
const AGENT_TOKEN = `agent-${randomBytes(12).toString('hex')}`;

let t: TestDb;
let repo: ReturnType<typeof createBareRepo>;
/** the token's host: serves the repo, and redirects /moved.git/* to `foreign` */
let trusted: GitHttpServer;
/** listed in git.remotes, but the token is not its */
let foreign: RecordingServer;
/** not listed at all */
let unlisted: RecordingServer;
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  t = await freshDb('secremote');
  repo = createBareRepo({ 'README.md': '# trusted\n' });
  foreign = await startRecordingServer();
  unlisted = await startRecordingServer();
  trusted = await startGitHttpServer({
    projectRoot: repo.root,
    username: 'x-access-token',
    password: TOKEN,
    redirect: (p) =>
      p.startsWith('/moved.git/') ? `${foreign.url}/remote.git/${p.slice('/moved.git/'.length)}` : undefined,
  });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await trusted?.close();
  await foreign?.close();
  await unlisted?.close();
  repo?.cleanup();
  await t?.drop();
});

/**
 * Config as an operator writes it: the token in the environment (GIT_TOKEN), temporal.yaml
 * naming which remote it belongs to. Loaded like a process loads it (file + environment).
 */
function operatorConfig(approach: Approach, root: string, extra: Record<string, unknown> = {}): Config {
  const trustedHost = new URL(trusted.url).host;
  return loadConfig({
    path: '/dev/null',
    env: {
      GIT_TOKEN: TOKEN,
      SGC_API_TOKENS: JSON.stringify([{ name: 'a', role: 'agent', agentId: 'agent-a', token: AGENT_TOKEN }]),
    },
    overrides: {
      'service.approach': approach,
      'sandbox.localRoot': root,
      'pool.min': 0,
      'git.remotes': [
        { scheme: 'http', host: trustedHost, tokenEnv: 'GIT_TOKEN' },
        { scheme: 'http', host: foreign.host },
      ],
      ...extra,
    },
  });
}

async function service(approach: Approach, extra: Record<string, unknown> = {}) {
  const root = mkdtempSync(join(tmpdir(), `sgc-secrem-${approach}-`));
  const config = operatorConfig(approach, root, extra);
  const provider = createLocalProvider({ root, defaultTimeoutMs: config.sandbox.timeoutMs });
  const svc = createGitService({
    config,
    db: t.db,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
    provider,
    key,
  });
  await svc.start();
  cleanups.push(async () => {
    await svc.close();
    provider.close();
    rmSync(root, { recursive: true, force: true });
  });
  return svc;
}

for (const approach of ['simple', 'pooled'] as const) {
  describe(`approach ${approach}`, () => {
    test('the token reaches its own remote: clone and push work over Basic auth', async () => {
      const svc = await service(approach);
      const ws = await svc.createWorkspace({
        agentId: `own-${approach}`,
        taskId: 't',
        repoUrl: `${trusted.url}/remote.git`,
      });
      await svc.writeFile(ws.id, 'ok.txt', 'ok\n');
      await svc.commitAndPush(ws.id, { message: `pushed with the token (${approach})` });
      assert.equal(cloneAndRead(repo.url, ws.agentBranch).subjects[0], `pushed with the token (${approach})`);
      assert.ok(
        trusted.seenAuth.some((h) =>
          Buffer.from(h.replace(/^Basic /, ''), 'base64')
            .toString()
            .endsWith(`:${TOKEN}`),
        ),
      );
      await svc.release(ws.id);
    });

    test("a listed remote that is not the token's receives no Authorization header", async () => {
      const svc = await service(approach);
      const before = foreign.requests.length;
      const err = await failure(
        svc.createWorkspace({ agentId: `foreign-${approach}`, taskId: 't', repoUrl: `${foreign.url}/repo.git` }),
      );
      assert.ok(foreign.requests.length > before, 'git did talk to the foreign host (the remote is allowed)');
      assert.deepEqual(foreign.seenAuth, [], 'the foreign host got credentials');
      assert.ok(isDomainError(err, ErrorType.Auth), `expected an auth failure, got ${String(err)}`);
    });

    test("the token's own host redirecting to another host: that host receives nothing", async () => {
      const svc = await service(approach);
      const before = foreign.requests.length;
      await failure(
        svc.createWorkspace({ agentId: `redirect-${approach}`, taskId: 't', repoUrl: `${trusted.url}/moved.git` }),
      );
      assert.ok(foreign.requests.length > before, 'git followed the redirect to the other host');
      assert.deepEqual(foreign.seenAuth, [], 'the redirect target got credentials');
    });
  });
}

test('an unlisted remote is refused naming repoUrl before git contacts it', async () => {
  const svc = await service('simple');
  const err = await failure(
    svc.createWorkspace({ agentId: 'unlisted', taskId: 't', repoUrl: `${unlisted.url}/repo.git` }),
  );
  assert.ok(isDomainError(err, ErrorType.Validation), `expected a validation error, got ${String(err)}`);
  assert.equal((err as DomainError).details.field, 'repoUrl');
  assert.deepEqual(unlisted.requests, [], 'nothing reached the unlisted host');
});

test('file:// remotes are refused unless a file entry lists them', async () => {
  const svc = await service('simple');
  const err = await failure(svc.createWorkspace({ agentId: 'file-unlisted', taskId: 't', repoUrl: repo.url }));
  assert.ok(
    isDomainError(err, ErrorType.Validation) && (err as DomainError).details.field === 'repoUrl',
    `expected repoUrl refused, got ${String(err)}`,
  );

  const listed = await service('simple', {
    'git.remotes': [{ scheme: 'file', pathPrefix: repo.root }],
  });
  const ws = await listed.createWorkspace({ agentId: 'file-listed', taskId: 't', repoUrl: repo.url });
  assert.equal(ws.status, 'ready');
  await listed.release(ws.id);
});

describe('over the API', () => {
  let env: TestWorkflowEnvironment;
  let base: string;

  beforeAll(async () => {
    env = await testEnv();
    const root = mkdtempSync(join(tmpdir(), 'sgc-secrem-api-'));
    const stack = await startApiStack({ env, db: t.db, config: operatorConfig('simple', root), log });
    base = stack.url;
    cleanups.push(async () => {
      await stack.close();
      await env.teardown();
      rmSync(root, { recursive: true, force: true });
    });
  });

  test('POST /v1/workspaces with an unlisted remote is 400 naming repoUrl, and the remote hears nothing', async () => {
    const res = await call(base, 'POST', '/v1/workspaces', {
      token: AGENT_TOKEN,
      body: { repoUrl: `${unlisted.url}/evil.git`, taskId: 'steal' },
      timeoutMs: 60_000,
    });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.field, 'repoUrl');
    assert.deepEqual(unlisted.requests, []);
    assert.deepEqual(unlisted.seenAuth, []);
  });
});
