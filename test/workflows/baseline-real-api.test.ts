/**
 * productionBaselineWorkflow against the REAL API (not the stand-in target): buildApp with the
 * real approach-1 GitService on a fresh database, the local sandbox provider, a real bare
 * repository and a git worker for the API's commit/create/release workflows; a throwaway
 * Prometheus scraping that API's /metrics every second; the phases worker with the real baseline
 * activities. Windows are seconds long and the rate low, so a 2-core machine keeps up.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { buildApp, type App } from '../../api/app.js';
import { header, parseSamples } from '../../lib/baseline/csv.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import { createGitService, type SimpleGitService } from '../../lib/service/index.js';
import { createBaselineRunRepository, createBaselineSampleRepository } from '../../lib/store/baseline.js';
import { baselineInputFromConfig } from '../../clients/baseline.js';
import { createGitWorker } from '../../workers/git-worker.js';
import { artifactRunId } from '../../workflows/ids.js';
import { productionBaselineWorkflow } from '../../workflows/production-baseline/workflow.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createBareRepo, git } from '../helpers/git.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { baselineWorker } from '../helpers/baseline-worker.js';
import { assertBaselineArtifacts } from '../helpers/baseline-artifacts.js';

const baselineRunRepo = () => createBaselineRunRepository(tdb.db);
const baselineSampleRepo = () => createBaselineSampleRepository(tdb.db);

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });

const TOKEN_REF = 'SGC_BASELINE_TOKEN';
const TOKEN = `agent-load-${randomBytes(16).toString('hex')}`;
const JOB = 'sgc-api';

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let sandboxRoot: string;
let reportsDir: string;
let remote: ReturnType<typeof createBareRepo>;
let config: Config;
let apiUrl: string;
let prometheus: PrometheusHandle;
const cleanups: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  [env, tdb, sandboxRoot, reportsDir] = await Promise.all([
    testEnv(),
    freshDb('bl_api'),
    mkdtemp(join(tmpdir(), 'sgc-bl-api-sb-')),
    mkdtemp(join(tmpdir(), 'sgc-bl-api-reports-')),
  ]);
  remote = createBareRepo({ 'README.md': '# baseline target\n' });
  config = parseConfig({
    service: { approach: 'simple' },
    sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    git: { backoffBaseMs: 20, backoffMaxMs: 200, remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
    api: { tokens: [{ name: 'load-agent', role: 'agent', agentId: 'load-agent', token: TOKEN }] },
  });

  // one registry, as one process: the API's reads and the worker's pushes both reach /metrics
  const metrics = createMetrics();
  const gitQueue = uniqueQueue('bl-api-git');
  const bundle = await workflowBundle();
  const workerService: SimpleGitService = createGitService({ config, db: tdb.db, metrics, log, approach: 'simple' });
  await workerService.start();
  const gitWorker = await createGitWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue: gitQueue,
    service: workerService,
    log,
    metrics: createMetrics({ defaultMetrics: false }),
    workflows: { workflowBundle: bundle },
    shutdownGraceTime: '1 second',
  });
  const gitRunning = gitWorker.run();
  const apiService = createGitService({ config, db: tdb.db, metrics, log, approach: 'simple' });
  const app: App = await buildApp({
    config,
    service: apiService,
    temporal: { client: env.client, taskQueue: gitQueue },
    metrics,
    db: tdb.db,
    log,
  });
  apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await app.close();
    gitWorker.shutdown();
    await gitRunning;
    await apiService.close();
    await workerService.close();
  });

  prometheus = await startPrometheus({ scrapeInterval: '1s', scrape: [{ job: JOB, targets: [new URL(apiUrl).host] }] });
  cleanups.push(() => prometheus.stop());
  // the first scrape has landed before the run starts
  const prom = new PromClient({ url: prometheus.url });
  for (let i = 0; i < 100; i++) {
    const up = await prom.query(`up{job="${JOB}"} == 1`);
    if (up.series.length > 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
});

afterAll(async () => {
  for (const c of cleanups.reverse())
    await Promise.resolve()
      .then(c)
      .catch(() => undefined);
  await Promise.allSettled([tdb?.drop(), env?.teardown()]);
  remote?.cleanup();
  await Promise.allSettled(
    [sandboxRoot, reportsDir].filter(Boolean).map((d) => rm(d, { recursive: true, force: true })),
  );
});

test('a baseline with seconds-long samples against the real API produces every artifact and a CSV whose header and row count are right', async () => {
  const taskQueue = uniqueQueue('bl-api-phases');
  const workflowId = uniqueId('baseline-real-api');
  const runId = artifactRunId(workflowId);
  const headsBefore = git(remote.bare, 'for-each-ref', '--format=%(refname)', 'refs/heads').trim().split('\n');

  const worker = await baselineWorker({
    env,
    taskQueue,
    db: tdb.db,
    promUrl: prometheus.url,
    reportsDir,
    log,
    // the worker resolves the reference from its environment, as in production
    tokenEnv: { ...process.env, [TOKEN_REF]: TOKEN },
  });
  const input = baselineInputFromConfig(config, {
    // the default git mix; preflight creates its workspaces from the repo URL
    target: { baseUrl: apiUrl, tokenRef: TOKEN_REF, mix: { kind: 'git', repoUrl: remote.url, workspaces: 2 } },
    job: JOB,
    warmup: { rps: 5, connections: 2, durationSeconds: 3 },
    baseline: { rps: 5, connections: 2, samples: 3, intervalSeconds: 4 },
    day2: { enabled: true, waitSeconds: 0, rps: 5, connections: 2, samples: 1, intervalSeconds: 3 },
    fallbackScenario: { enabled: false },
  });
  assert.equal(
    input.target.mix.kind === 'git' && input.target.mix.workspaceIds,
    undefined,
    'no workspaces given: preflight creates them',
  );

  const result = await worker.runUntil(async () => {
    const handle = await env.client.workflow.start(productionBaselineWorkflow, {
      taskQueue,
      workflowId,
      args: [input],
    });
    return handle.result();
  });

  const stored = await baselineSampleRepo().list(runId);
  const diag = JSON.stringify({
    result,
    windows: stored.map((s) => ({ phase: s.phase, n: s.sampleNum, stats: s.loadStats })),
  });
  assert.equal(result.outcome, 'completed', diag);
  assert.equal(result.trip, null, diag);
  assert.ok(result.decision === 'go' || result.decision === 'no-go');
  assert.deepEqual(result.samples, { warmup: 1, baseline: 3, extended: 1, fallback: 0 });

  // every window really loaded the API, and the API answered
  for (const s of stored) {
    const client = (s.loadStats as { client: { completed: number; errorRate: number | null } }).client;
    assert.ok(client.completed > 0, `${s.phase} ${s.sampleNum}: no requests completed`);
    assert.equal(client.errorRate, 0, `${s.phase} ${s.sampleNum}: client errors ${diag}`);
  }

  const dir = join(reportsDir, runId);
  // every artifact, vouched for by the manifest, and the agent token in none
  await assertBaselineArtifacts(dir, runId, {
    samples: 3,
    fallback: false,
    archiveSha256: result.archive?.sha256,
    token: TOKEN,
  });

  const csv = await readFile(join(dir, 'metrics.csv'), 'utf8');
  const lines = csv.split('\n').filter((l) => l !== '');
  assert.equal(lines[0], header('default'));
  assert.equal(lines.length, 1 + 3, 'header + one row per baseline sample');
  const rows = parseSamples(csv);
  assert.deepEqual(
    rows.map((r) => r.sampleNum),
    [1, 2, 3],
  );
  for (const r of rows) {
    const v = r.values.http_success_rate;
    assert.ok(typeof v === 'number' && v >= 0 && v <= 1, `sample ${r.sampleNum}: http_success_rate ${String(v)}`);
  }
  // rss comes only from Prometheus' scrape of the API process
  assert.ok(
    rows.every((r) => typeof r.values.rss_mb === 'number' && r.values.rss_mb > 10),
    'rss_mb from Prometheus in every row',
  );
  assert.equal(parseSamples(await readFile(join(dir, 'metrics-extended.csv'), 'utf8')).length, 1);
  assert.equal(parseSamples(await readFile(join(dir, 'metrics-warmup.csv'), 'utf8')).length, 1);

  // nor in the run record
  const run = await baselineRunRepo().findById(runId);
  assert.equal(run?.outcome, 'ok');
  assert.ok(!JSON.stringify(run).includes(TOKEN));

  // the load's commits really landed on the remote, on the load workspaces' agent branches
  const heads = git(remote.bare, 'for-each-ref', '--format=%(refname)', 'refs/heads').trim().split('\n');
  const newHeads = heads.filter((h) => !headsBefore.includes(h));
  assert.equal(newHeads.length, 2, `one agent branch per load workspace: ${heads.join(', ')}`);
  assert.ok(
    newHeads.every((h) => h.startsWith('refs/heads/agent/load-agent/')),
    newHeads.join(', '),
  );
  const subjects = git(remote.bare, 'log', '--format=%s', ...newHeads)
    .trim()
    .split('\n');
  const loadCommits = subjects.filter((s) => /^load bl-[0-9a-f]{8}/.test(s));
  assert.ok(loadCommits.length >= 5, `load commits on the remote: ${subjects.join(' | ')}`);

  // finalisation released the workspaces it created
  const { rows: live } = await tdb.db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM workspaces WHERE agent_id = 'load-agent' AND status <> 'terminated'`,
  );
  assert.equal(live[0].n, 0);
});
