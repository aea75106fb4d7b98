/**
 * Issue 10 section 3: after a kill, live approach-2 workspaces are re-homed to approach 1 with
 * their uncommitted changes (modified, staged, new and binary files) and their unpushed commit;
 * one whose pooled sandbox is gone is reported as not carried with the reason, its row intact.
 *
 * Real Postgres, real local sandboxes, real bare repositories; the router is the production one.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createBareRepo } from '../helpers/git.js';
import { parseConfig } from '../../lib/config/index.js';
import { createLocalProvider, type LocalSandboxProvider } from '../../lib/sandbox/local.js';
import { createMetrics } from '../../lib/metrics.js';
import { createLogger } from '../../lib/log.js';
import { createGitService, type PooledGitService, type SimpleGitService } from '../../lib/service/index.js';
import { servingWorkspaceLookup } from '../../lib/service/workspace-ref.js';
import {
  createRoutedGitService,
  normaliseDiff,
  normaliseStatus,
  type RoutedGitService,
} from '../../lib/router/router.js';
import { createWorkspaceRepository } from '../../lib/store/workspaces.js';
import { createRehomeRepository } from '../../lib/store/rehomes.js';
import { rehomeAll, rehomeDeps, type RehomeDeps } from '../../lib/service/rehome.js';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { flagRoutes } from '../../api/routes/flags.js';
import { startRehome } from '../../clients/rehome.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createGitWorker } from '../../workers/git-worker.js';
import { rehomeWorkflowId } from '../../workflows/ids.js';
import { recordHistory } from '../helpers/history.js';
import { testEnv, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { routeApp } from '../helpers/route-app.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const ADMIN = 'admin-token-0123456789abcdef012';

const log = createLogger({ level: 'silent' });
let t: TestDb;
let root: string;
let provider: LocalSandboxProvider;
let simple: SimpleGitService;
let pooled: PooledGitService;
let routed: RoutedGitService;
let deps: RehomeDeps;
const repos: { cleanup(): void }[] = [];

beforeAll(async () => {
  t = await freshDb('rehome');
  root = mkdtempSync(join(tmpdir(), 'sgc-rehome-'));
  const config = parseConfig({
    sandbox: { localRoot: root },
    pool: { min: 0, max: 8, acquireTimeoutMs: 5_000 },
    git: { remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
  });
  provider = createLocalProvider({ root, defaultTimeoutMs: config.sandbox.timeoutMs });
  const metrics = createMetrics({ defaultMetrics: false });
  const key = randomBytes(32);
  simple = createGitService({ config, db: t.db, metrics, log, provider, key, approach: 'simple' });
  pooled = createGitService({ config, db: t.db, metrics, log, provider, key, approach: 'pooled' });
  await simple.start();
  await pooled.start();
  const workspaces = createWorkspaceRepository(t.db);
  // every flag off: the state after a kill
  routed = createRoutedGitService({
    simple,
    pooled,
    flags: { get: () => undefined },
    metrics,
    log,
    findWorkspace: servingWorkspaceLookup(workspaces),
  });
  deps = rehomeDeps({ simple, pooled, provider, db: t.db, log });
});

afterAll(async () => {
  await routed?.drain();
  await pooled?.close();
  await simple?.close();
  provider?.close();
  for (const r of repos) r.cleanup();
  if (root) rmSync(root, { recursive: true, force: true });
  await t?.drop();
});

async function sh(sandboxId: string, dir: string, script: string): Promise<string> {
  const sb = await provider.connect(sandboxId);
  const r = await sb.run(['sh', '-c', script], { cwd: dir });
  if (r.exitCode !== 0) throw new Error(`${script}: ${r.stderr}`);
  return r.stdout;
}

/** A live approach-2 workspace with a local commit not pushed, then modified, staged, new and binary files. */
async function liveWorkspace(i: number): Promise<{ id: string; sandboxId: string }> {
  const r = createBareRepo({ 'README.md': '# demo\n', 'keep.txt': 'one\ntwo\n', 'gone.txt': 'bye\n' });
  repos.push(r);
  const id = randomUUID();
  // created while the flags sent this agent to approach 2
  const p = await pooled.createWorkspace({ agentId: `agent-${i}`, taskId: 'task', repoUrl: r.url, workspaceId: id });
  const dir = `ws/${p.id}`;
  await sh(
    p.sandboxId,
    dir,
    `echo local > committed.txt && git add committed.txt && git commit -q -m "local commit ${i}"`,
  );
  await pooled.writeFile(p.id, 'keep.txt', `one\ntwo changed ${i}\n`);
  await pooled.writeFile(p.id, 'new dir/new file.txt', `brand new ${i}\n`);
  await sh(
    p.sandboxId,
    dir,
    `head -c 2048 /dev/urandom > blob.bin && printf '\\000\\001\\377' > README.md && git add README.md && git rm -q gone.txt && echo staged-then-changed >> README.md`,
  );
  return { id: p.id, sandboxId: p.sandboxId };
}

describe('re-home after a kill', () => {
  test('live approach-2 workspaces are carried to approach 1 with changes, binary and new files, and the unpushed commit; a gone sandbox is reported', async () => {
    const live = await Promise.all([0, 1, 2].map((i) => liveWorkspace(i)));
    const gone = await liveWorkspace(3);
    const before = new Map<string, { status: string; diff: string; staged: string; blob: string }>();
    for (const w of live) {
      expect((await routed.getWorkspace(w.id))?.approach).toBe('pooled');
      before.set(w.id, {
        status: normaliseStatus(await routed.status(w.id)),
        diff: normaliseDiff(await routed.diff(w.id)),
        staged: normaliseDiff(await routed.diff(w.id, { staged: true })),
        blob: (await sh(w.sandboxId, `ws/${w.id}`, 'git hash-object blob.bin')).trim(),
      });
    }
    const goneRow = await createWorkspaceRepository(t.db).findById('pooled', gone.id);
    await (await provider.connect(gone.sandboxId)).kill();

    const t0 = Date.now();
    const summary = await rehomeAll(deps, 42, { concurrency: 4 });
    const took = Date.now() - t0;
    expect(took).toBeLessThan(30_000);
    expect(summary.lost).toBe(0);
    expect(summary.carried).toBe(3);
    expect(summary.notCarried).toBe(1);
    const notCarried = summary.rehomed.find((o) => o.state === 'not_carried')!;
    expect(notCarried.workspaceId).toBe(gone.id);
    expect(notCarried.reason).toMatch(/^sandbox_gone: pooled sandbox /);

    for (const w of live) {
      const b = await routed.getWorkspace(w.id);
      expect(b?.approach).toBe('simple');
      const was = before.get(w.id)!;
      expect(normaliseStatus(await routed.status(w.id))).toBe(was.status);
      expect(normaliseDiff(await routed.diff(w.id))).toBe(was.diff);
      expect(normaliseDiff(await routed.diff(w.id, { staged: true })).length).toBeGreaterThan(0);
      expect(normaliseDiff(await routed.diff(w.id, { staged: true }))).toBe(was.staged);
      expect(await routed.readFile(w.id, 'new dir/new file.txt')).toMatch(/^brand new /);
      const dir = `ws/${w.id}`;
      expect((await sh(b!.sandboxId, dir, 'git hash-object blob.bin')).trim()).toBe(was.blob);
      expect(await sh(b!.sandboxId, dir, 'git log -1 --format=%s')).toMatch(/^local commit /);
      const status = await routed.status(w.id);
      expect(status.branch).toBe(`agent/${b!.agentId}/task`);
      const p = await createWorkspaceRepository(t.db).findById('pooled', w.id);
      expect(p?.status).toBe('terminated');
    }
    const { rows } = await t.db.query<{ n: string }>(
      `SELECT count(*) AS n FROM workspaces WHERE approach = 'pooled' AND rehomed_at IS NOT NULL`,
    );
    expect(Number(rows[0]!.n)).toBe(3);

    // the not-carried one: its approach-2 row as it was, no approach-1 row serving it
    const after = await createWorkspaceRepository(t.db).findById('pooled', gone.id);
    expect(after?.status).toBe(goneRow?.status);
    expect(after?.sandboxId).toBe(goneRow?.sandboxId);
    expect(await createWorkspaceRepository(t.db).findById('simple', gone.id)).toBeNull();
    const report = await createRehomeRepository(t.db).list(42);
    expect(report.map((r) => [r.workspaceId, r.state]).sort()).toEqual(
      [...live.map((w) => [w.id, 'carried']), [gone.id, 'not_carried']].sort(),
    );
    expect(report.find((r) => r.workspaceId === live[0]!.id)?.commits).toBe(1);

    // a second pass (a retried kill) changes nothing and reports the same
    const again = await rehomeAll(deps, 42, { ids: [...live.map((w) => w.id), gone.id] });
    expect(again.carried).toBe(3);
    expect(again.notCarried).toBe(1);
  }, 120_000);
});

describe('the kill route starts the re-home (rehomeWorkflow on the git worker)', () => {
  let taskQueue = '';
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  let app: FastifyInstance;

  beforeAll(async () => {
    env = await testEnv();
    taskQueue = uniqueQueue('rehome');
    worker = await createGitWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
      service: routed,
      log,
      metrics: createMetrics({ defaultMetrics: false }),
      rehome: deps,
      workflows: { workflowBundle: await workflowBundle() },
    });
    running = worker.run();
    const f = routeApp([{ name: 'root', role: 'admin', token: ADMIN }]);
    const rehomes = createRehomeRepository(t.db);
    await f.register(
      flagRoutes({
        flags: new FlagStore(t.db),
        switchTimeoutMs: 2_000,
        rehome: {
          start: (eventId) => startRehome({ client: env.client, taskQueue }, eventId, { concurrency: 4 }),
          list: (eventId) => rehomes.list(eventId),
        },
      }),
      { prefix: '/v1' },
    );
    app = f as unknown as FastifyInstance;
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  test('POST /v1/flags/kill answers at once; within 30 s every live workspace is served by approach 1 and the report lists them', async () => {
    const live = await Promise.all([10, 11].map((i) => liveWorkspace(i)));
    const before = new Map<string, string>();
    for (const w of live)
      before.set(w.id, normaliseStatus(await routed.status(w.id)) + normaliseDiff(await routed.diff(w.id)));
    await new FlagStore(t.db).setMany(
      FLAG_OPERATIONS.map((operation) => ({ operation, percent: 100, shadow: false })),
      { actor: 'test', reason: 'rollout' },
    );

    const t0 = Date.now();
    const res = await app.inject({
      method: 'POST',
      url: '/v1/flags/kill',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { reason: 'incident' },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { eventId: number; rehome: { workflowId: string | null; error: string | null } };
    expect(body.rehome).toEqual({ workflowId: rehomeWorkflowId(body.eventId, taskQueue), error: null });

    const handle = env.client.workflow.getHandle(body.rehome.workflowId!);
    const result = await handle.result();
    expect(Date.now() - t0).toBeLessThan(30_000);
    await recordHistory('rehomeWorkflow', handle);
    expect(result.lost).toBe(0);
    expect(result.carried).toBe(2);
    for (const w of live) {
      expect((await routed.getWorkspace(w.id))?.approach).toBe('simple');
      expect(normaliseStatus(await routed.status(w.id)) + normaliseDiff(await routed.diff(w.id))).toBe(
        before.get(w.id),
      );
    }
    const report = await app.inject({
      method: 'GET',
      url: `/v1/flags/kill/${body.eventId}/rehome`,
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(report.statusCode).toBe(200);
    const r = report.json() as {
      carried: { workspaceId: string; commits: number }[];
      notCarried: unknown[];
      inProgress: unknown[];
    };
    expect(r.carried.map((c) => c.workspaceId).sort()).toEqual(live.map((w) => w.id).sort());
    expect(r.carried.every((c) => c.commits === 1)).toBe(true);
    expect(r.inProgress).toEqual([]);
  }, 120_000);
});
