/**
 * Both approaches (simple, pooled) through one GitService contract, on real local sandboxes,
 * real bare repositories, the real Postgres — verified by a fresh `git clone` of the remote.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDb, type TestDb } from '../helpers/db.js';
import { cloneAndRead, createBareRepo, git } from '../helpers/git.js';
import { startGitHttpServer } from '../helpers/git-http.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { createLocalProvider, type LocalSandboxProvider } from '../../lib/sandbox/local.js';
import { createMetrics, type Approach, type Metrics } from '../../lib/metrics.js';
import { createLogger } from '../../lib/log.js';
import { DomainError, ErrorType, isDomainError } from '../../lib/errors.js';
import { createGitService, type PooledGitService, type SimpleGitService } from '../../lib/service/index.js';
import { createSandboxRepository } from '../../lib/store/sandboxes.js';
import { createOperationLogRepository } from '../../lib/store/operation-log.js';
import { failure } from '../helpers/failure.js';

const operationLogRepo = () => createOperationLogRepository(t.db);
const sandboxRepo = () => createSandboxRepository(t.db, { key });

let t: TestDb;
const key = randomBytes(32);
const log = createLogger({ level: 'silent' });
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  t = await freshDb('gitsvc');
});
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
  await t?.drop();
});

function repo(
  files: Record<string, string> = { 'README.md': '# demo\n', 'shared.txt': 'line one\nline two\n' },
): ReturnType<typeof createBareRepo> {
  const r = createBareRepo(files);
  cleanups.push(() => r.cleanup());
  return r;
}

interface Harness {
  service: SimpleGitService | PooledGitService;
  provider: LocalSandboxProvider;
  metrics: Metrics;
  config: Config;
}

async function harness(approach: Approach, overrides: { remotes?: unknown[] } = {}): Promise<Harness> {
  const root = mkdtempSync(join(tmpdir(), `sgc-svc-${approach}-`));
  const config = parseConfig({
    sandbox: { localRoot: root, pricePerSecond: 0.01 },
    pool: { min: 1, max: 8, acquireTimeoutMs: 5_000 },
    git: {
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      // the bare repositories of these tests live under the temp dir
      remotes: overrides.remotes ?? [{ scheme: 'file', pathPrefix: tmpdir() }],
      // shared-branch contention is part of what these tests exercise
      pushBranches: ['agent/{agentId}/**', 'main'],
    },
    service: { approach },
  });
  const provider = createLocalProvider({ root, defaultTimeoutMs: config.sandbox.timeoutMs });
  const metrics = createMetrics({ defaultMetrics: false });
  const service = createGitService({ config, db: t.db, metrics, log, provider, key });
  await service.start();
  cleanups.push(async () => {
    await service.close();
    provider.close();
    rmSync(root, { recursive: true, force: true });
  });
  return { service, provider, metrics, config };
}

async function opCount(m: Metrics, labels: Record<string, string>): Promise<number> {
  const v = (await m.operations.get()).values.filter((x) =>
    Object.entries(labels).every(([k, val]) => (x.labels as Record<string, unknown>)[k] === val),
  );
  return v.reduce((s, x) => s + x.value, 0);
}

for (const approach of ['simple', 'pooled'] as const) {
  describe(`approach ${approach}`, () => {
    let h: Harness;
    beforeAll(async () => {
      h = await harness(approach);
    });

    test('create → write → commit+push → status → diff → pull → release, checked by a real clone', async () => {
      const r = repo();
      const id = randomUUID();
      const input = { agentId: 'agent-1', taskId: 'task-1', repoUrl: r.url, workspaceId: id };
      const ws = await h.service.createWorkspace(input);
      assert.equal(ws.id, id);
      assert.equal(ws.approach, approach);
      assert.equal(ws.agentBranch, 'agent/agent-1/task-1');
      assert.equal(ws.status, 'ready');
      assert.equal(ws.repoUrl, r.url);

      // run it twice: the same workspace, no second sandbox
      const running = await h.provider.running();
      const again = await h.service.createWorkspace(input);
      assert.equal(again.sandboxId, ws.sandboxId);
      assert.equal(await h.provider.running(), running);
      assert.equal((await t.db.query('SELECT count(*)::int AS n FROM workspaces WHERE id = $1', [id])).rows[0].n, 1);

      await h.service.writeFile(id, 'src/hello.txt', 'hello from the agent\n');
      assert.equal(await h.service.readFile(id, 'src/hello.txt'), 'hello from the agent\n');
      const dirty = await h.service.status(id);
      assert.equal(dirty.clean, false);
      assert.equal(dirty.branch, 'agent/agent-1/task-1');
      assert.ok(dirty.entries.some((e) => e.path === 'src/hello.txt' && e.kind === 'untracked'));
      assert.match(await h.service.diff(id), /\+hello from the agent/);

      const pushed = await h.service.commitAndPush(id, { message: 'add hello', operationId: `op-${id}` });
      assert.equal(pushed.branch, 'agent/agent-1/task-1');
      assert.equal(pushed.alreadyLanded, false);
      const remote = cloneAndRead(r.url, 'agent/agent-1/task-1');
      assert.equal(remote.subjects[0], 'add hello');
      assert.equal(remote.read('src/hello.txt'), 'hello from the agent\n');
      assert.equal(git(remote.dir, 'rev-parse', 'HEAD').trim(), pushed.commit);
      // run it twice (a retried activity): lands once
      const retried = await h.service.commitAndPush(id, { message: 'add hello', operationId: `op-${id}` });
      assert.equal(retried.alreadyLanded, true);
      assert.equal(retried.commit, pushed.commit);
      assert.equal(cloneAndRead(r.url, 'agent/agent-1/task-1').subjects.filter((s) => s === 'add hello').length, 1);

      const clean = await h.service.status(id);
      assert.equal(clean.clean, true);
      assert.equal(await h.service.diff(id), '');

      // someone else pushes to the agent branch; pull brings it in
      const other = cloneAndRead(r.url, 'agent/agent-1/task-1');
      git(other.dir, 'checkout', '-q', 'agent/agent-1/task-1');
      git(
        other.dir,
        '-c',
        'user.name=o',
        '-c',
        'user.email=o@x',
        'commit',
        '-q',
        '--allow-empty',
        '-m',
        'reviewer note',
      );
      git(other.dir, 'push', '-q', 'origin', 'agent/agent-1/task-1');
      const pulled = await h.service.pull(id);
      assert.equal(pulled.updated, true);
      assert.equal(pulled.head, git(other.dir, 'rev-parse', 'HEAD').trim());
      assert.equal((await h.service.pull(id)).updated, false, 'pulling again changes nothing');

      const sandboxId = ws.sandboxId;
      await h.service.release(id);
      await h.service.release(id); // twice is harmless
      assert.equal((await h.service.getWorkspace(id))?.status, 'terminated');
      const rec = await sandboxRepo().findById(sandboxId);
      if (approach === 'simple') {
        assert.equal(rec?.status, 'terminated');
        await assert.rejects(h.provider.connect(sandboxId), (e: unknown) => isDomainError(e, ErrorType.SandboxGone));
      } else {
        assert.equal(rec?.status, 'ready', 'returned to the pool');
        assert.equal(
          (await (await h.provider.connect(sandboxId)).run(['sh', '-c', 'ls ws 2>/dev/null | wc -l'])).stdout.trim(),
          '0',
        );
      }
      const gone = await failure(h.service.status(id));
      assert.ok(isDomainError(gone, ErrorType.NotFound));

      // contract metrics and the operation log, labelled with the approach
      for (const op of ['clone', 'write', 'read', 'status', 'diff', 'push', 'pull', 'release']) {
        assert.ok(
          (await opCount(h.metrics, { operation: op, approach, outcome: 'success', error_category: 'none' })) >= 1,
          `${op} counted`,
        );
      }
      const hist = (await h.metrics.operationDuration.get()).values.find(
        (v) =>
          v.metricName === 'gitops_operation_duration_seconds_count' &&
          v.labels.operation === 'push' &&
          v.labels.approach === approach,
      );
      assert.equal(hist?.value, 2);
      assert.equal((await h.metrics.inFlight.get()).values.find((v) => v.labels.approach === approach)?.value, 0);
      const ops = await operationLogRepo().list({ workspaceId: id, approach });
      assert.deepEqual(
        new Set(ops.map((o) => o.operation)),
        new Set(['clone', 'write', 'read', 'status', 'diff', 'push', 'pull', 'release']),
      );
      const pushRow = ops.find((o) => o.operation === 'push' && o.details.alreadyLanded === false);
      assert.equal(pushRow?.details.commit, pushed.commit);
      assert.equal(pushRow?.agentId, 'agent-1');
      assert.ok(ops.every((o) => o.costDollars >= 0 && o.durationMs >= 0));
    });

    test('two agents editing the same line of one branch: one lands, the other gets Conflict naming the file; last_error is encrypted', async () => {
      const r = repo();
      const a = await h.service.createWorkspace({ agentId: 'alice', taskId: 't1', repoUrl: r.url });
      const b = await h.service.createWorkspace({ agentId: 'bob', taskId: 't1', repoUrl: r.url });
      await h.service.writeFile(a.id, 'shared.txt', 'line one by alice\nline two\n');
      await h.service.writeFile(b.id, 'shared.txt', 'line one by bob\nline two\n');
      await h.service.commitAndPush(a.id, { message: 'alice edits', targetBranch: 'main' });
      const err = await failure(h.service.commitAndPush(b.id, { message: 'bob edits', targetBranch: 'main' }));
      assert.ok(isDomainError(err, ErrorType.Conflict), `expected Conflict, got ${String(err)}`);
      assert.deepEqual((err as DomainError).details.files, ['shared.txt']);
      assert.equal(cloneAndRead(r.url, 'main').read('shared.txt'), 'line one by alice\nline two\n');
      assert.ok(
        (await opCount(h.metrics, { operation: 'push', approach, outcome: 'error', error_category: 'conflict' })) >= 1,
      );

      const { rows } = await t.db.query<{ last_error: Buffer; error_count: number }>(
        'SELECT last_error, error_count FROM git_sandboxes WHERE sandbox_id = $1',
        [b.sandboxId],
      );
      assert.ok(rows[0].last_error, 'an error was recorded');
      assert.ok(rows[0].error_count >= 1);
      const raw = rows[0].last_error.toString('latin1');
      assert.ok(!raw.includes('shared.txt') && !/conflict/i.test(raw), 'the raw column holds ciphertext only');
      assert.match((await sandboxRepo().readLastError(b.sandboxId)) ?? '', /conflict/i);
      const logged = (await operationLogRepo().list({ workspaceId: b.id })).find((o) => o.outcome === 'error');
      assert.equal(logged?.errorCategory, 'conflict');
      assert.equal(logged?.details.errorType, ErrorType.Conflict);
      await h.service.release(a.id);
      await h.service.release(b.id);
    });

    test('several agents pushing one branch at once: every commit lands (the push lock serialises them)', async () => {
      const r = repo();
      const wss = await Promise.all(
        [1, 2, 3, 4].map((n) => h.service.createWorkspace({ agentId: `crowd-${n}`, taskId: 'x', repoUrl: r.url })),
      );
      await Promise.all(wss.map((w, i) => h.service.writeFile(w.id, `file-${i}.txt`, `${i}\n`)));
      const results = await Promise.all(
        wss.map((w, i) => h.service.commitAndPush(w.id, { message: `crowd ${i}`, targetBranch: 'main' })),
      );
      const subjects = cloneAndRead(r.url, 'main').subjects;
      for (let i = 0; i < wss.length; i++) assert.ok(subjects.includes(`crowd ${i}`), `crowd ${i} landed`);
      assert.ok(
        results.every((x) => x.attempts === 1),
        'under the lock no push is rejected',
      );
      const waits = (await h.metrics.lockWait.get()).values.find(
        (v) => v.metricName === 'gitops_lock_wait_seconds_count' && v.labels.outcome === 'acquired',
      );
      assert.ok((waits?.value ?? 0) >= 4);
      await Promise.all(wss.map((w) => h.service.release(w.id)));
    });

    test('a create that failed is resumed by its retry, and the recovery time is measured', async () => {
      const r = repo();
      const later = join(r.root, 'later.git');
      const id = randomUUID();
      const input = { agentId: 'agent-r', taskId: 'task-r', repoUrl: `file://${later}`, workspaceId: id };
      const err = await failure(h.service.createWorkspace(input));
      assert.ok(err instanceof DomainError);
      assert.equal((await h.service.getWorkspace(id))?.status, 'error');
      git(r.root, 'clone', '-q', '--bare', r.bare, later);
      const ws = await h.service.createWorkspace(input);
      assert.equal(ws.status, 'ready');
      assert.equal(await h.service.readFile(id, 'README.md'), '# demo\n');
      const rec = (await h.metrics.recovery.get()).values.find(
        (v) => v.metricName === 'gitops_recovery_seconds_count' && v.labels.operation === 'clone',
      );
      assert.equal(rec?.value, 1);
      await h.service.release(id);
    });

    test('unknown workspaces are NotFound; a reused workspaceId with other inputs is rejected; bad input is Validation', async () => {
      for (const call of [
        () => h.service.status('nope'),
        () => h.service.release('nope'),
        () => h.service.commitAndPush('nope', { message: 'm' }),
      ]) {
        assert.ok(isDomainError(await failure(call()), ErrorType.NotFound));
      }
      assert.equal(await h.service.getWorkspace('nope'), null);
      const r = repo();
      const id = randomUUID();
      await h.service.createWorkspace({ agentId: 'a1', taskId: 't', repoUrl: r.url, workspaceId: id });
      const clash = await failure(
        h.service.createWorkspace({ agentId: 'a2', taskId: 't', repoUrl: r.url, workspaceId: id }),
      );
      assert.ok(isDomainError(clash, ErrorType.Validation));
      const bad = await failure(h.service.createWorkspace({ agentId: 'a;rm -rf /', taskId: 't', repoUrl: r.url }));
      assert.ok(isDomainError(bad, ErrorType.Validation));
      const traversal = await failure(h.service.writeFile(id, '../escape.txt', 'x'));
      assert.ok(isDomainError(traversal, ErrorType.Validation));
      await h.service.release(id);
    });

    test('a workspace is found again after a restart (new service and provider over the same records)', async () => {
      const r = repo();
      const ws = await h.service.createWorkspace({ agentId: 'agent-z', taskId: 't', repoUrl: r.url });
      await h.service.writeFile(ws.id, 'note.txt', 'before restart\n');
      const provider2 = createLocalProvider({ root: h.provider.root, defaultTimeoutMs: h.config.sandbox.timeoutMs });
      const service2 = createGitService({
        config: h.config,
        db: t.db,
        metrics: h.metrics,
        log,
        provider: provider2,
        key,
        approach,
      });
      cleanups.push(async () => {
        await service2.close();
        provider2.close();
      });
      await service2.start();
      assert.equal(await service2.readFile(ws.id, 'note.txt'), 'before restart\n');
      await service2.commitAndPush(ws.id, { message: 'after restart' });
      assert.equal(cloneAndRead(r.url, ws.agentBranch).subjects[0], 'after restart');
      await service2.release(ws.id);
    });
  });
}

test("credentials come from the remote's git.remotes entry, reach the remote, and are never stored", async () => {
  const token = `tok_${randomBytes(12).toString('hex')}`;
  const r = repo();
  const server = await startGitHttpServer({ projectRoot: r.root, username: 'x-access-token', password: token });
  cleanups.push(() => server.close());
  for (const approach of ['simple', 'pooled'] as const) {
    const h = await harness(approach, { remotes: [{ scheme: 'http', host: new URL(server.url).host, token }] });
    const ws = await h.service.createWorkspace({
      agentId: `cred-${approach}`,
      taskId: 't',
      repoUrl: `${server.url}/remote.git`,
    });
    await h.service.writeFile(ws.id, `${approach}.txt`, 'x\n');
    await h.service.commitAndPush(ws.id, { message: `auth push ${approach}` });
    assert.equal(cloneAndRead(r.url, ws.agentBranch).subjects[0], `auth push ${approach}`);
    await h.service.release(ws.id);
  }
  assert.ok(server.seenAuth.length > 0, 'the token reached the server');
  const dump = await t.db.query(`SELECT
      (SELECT coalesce(string_agg(row_to_json(g)::text, ''), '') FROM git_sandboxes g) ||
      (SELECT coalesce(string_agg(row_to_json(w)::text, ''), '') FROM workspaces w) ||
      (SELECT coalesce(string_agg(row_to_json(o)::text, ''), '') FROM operation_log o) AS all_rows`);
  assert.ok(!String(dump.rows[0].all_rows).includes(token), 'no table holds the token');
});
