/**
 * canaryRolloutWorkflow on the real stack: the Temporal dev server, a fresh Postgres database
 * (flags, audit, rollback events), a real Prometheus answering the analyses' PromQL, and a
 * FlagCache in this process standing in for an API process. Analyses are steered through query
 * overrides: constants (`vector(0.01)`) for healthy numbers, an absent metric for no data, and a
 * gauge on a tiny exporter that Prometheus scrapes every 500 ms when a test needs the error rate
 * to change between analyses.
 */
import { afterAll, beforeAll, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { promisify } from 'node:util';
import {
  ApplicationFailure,
  WorkflowUpdateFailedError,
  type WorkflowHandle,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { Gauge, Registry } from 'prom-client';
import { createCanaryActivities } from '../../activities/canary.js';
import type { CanaryStage } from '../../lib/canary/analysis.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { FlagCache } from '../../lib/flags/cache.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { PromClient } from '../../lib/prom/client.js';
import { decide } from '../../lib/router/router.js';
import {
  advanceSignal,
  advanceUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
  type CanaryStatus,
} from '../../workflows/canary-rollout/messages.js';
import { canaryRolloutWorkflow, type CanaryRolloutInput } from '../../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId } from '../../workflows/ids.js';
import { sgcPercentKey, sgcPhaseKey, sgcStageKey, sgcStatusKey } from '../../workflows/search-attributes.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { HEALTHY_CANARY_QUERIES as HEALTHY } from '../helpers/profiles.js';
import { recordHistory } from '../helpers/history.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { stackEnv } from '../helpers/stack.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { workerInterceptors } from '../../workers/interceptors.js';
import { createMetrics } from '../../lib/metrics.js';

const log = createLogger({ level: 'silent' });
// ERROR: these tests provoke rollbacks and failed attempts on purpose; their warnings are expected
Runtime.install({ logger: new DefaultLogger('ERROR') });
const run = promisify(execFile);

let env: TestWorkflowEnvironment;
let t: TestDb;
let store: FlagStore;
let cache: FlagCache;
let prom: PrometheusHandle;
let exporter: Server;
const registry = new Registry();
const injectedErrorRate = new Gauge({
  name: 'sgc_test_canary_error_rate',
  help: 'error rate the test injects',
  registers: [registry],
});
const injectedPoolReuse = new Gauge({
  name: 'sgc_test_canary_pool_reuse',
  help: 'pool reuse the test injects',
  registers: [registry],
});

const AGENTS = Array.from({ length: 200 }, (_, i) => `agent-${i}`);

beforeAll(async () => {
  env = await testEnv();
  t = await freshDb('canary');
  store = new FlagStore(t.db);
  cache = await FlagCache.start({ connectionString: t.url, processId: 'test-api-process', heartbeatMs: 500 });
  exporter = createServer((_req, res) => {
    void registry.metrics().then((body) => res.end(body));
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
  const port = (exporter.address() as { port: number }).port;
  prom = await startPrometheus({
    scrape: [{ job: 'canary-test', targets: [`127.0.0.1:${port}`], interval: '500ms' }],
    scrapeInterval: '1s',
  });
});

afterAll(async () => {
  await cache?.close();
  await prom?.stop();
  await new Promise((r) => exporter?.close(r));
  await t?.drop();
  await env?.teardown();
});

/** Approach 1's warmth as the probe answers it (lib/service/hot-backup.ts on the real worker). */
let hotBackup: { warm: boolean; detail: string } = { warm: true, detail: 'approach 1 (test) served a sandbox' };

function activities() {
  return createCanaryActivities({
    flags: store,
    prom: new PromClient({ url: prom.url }),
    queries: DEFAULT_QUERIES,
    db: t.db,
    probeHotBackup: async () => ({ ...hotBackup, ms: 5 }),
    log,
  });
}

async function worker(taskQueue: string, acts: object = activities()): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: acts,
    shutdownGraceTime: '1 second',
    interceptors: workerInterceptors({ log, metrics: createMetrics({ defaultMetrics: false }) }),
  });
}

async function resetFlags(): Promise<void> {
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 0, shadow: false })),
    { actor: 'test', reason: 'reset' },
  );
}

async function start(
  taskQueue: string,
  o: Partial<CanaryRolloutInput> & { stages: CanaryStage[] },
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof canaryRolloutWorkflow>> {
  const rolloutId = uniqueId('r').slice(0, 40);
  return env.client.workflow.start(canaryRolloutWorkflow, {
    taskQueue,
    workflowId: canaryWorkflowId(rolloutId),
    args: [{ rolloutId, analysisIntervalSeconds: 1, queries: HEALTHY, ...o }],
  });
}

async function waitStatus(
  h: WorkflowHandle,
  what: string,
  pred: (s: CanaryStatus) => boolean,
  timeoutMs = 20_000,
): Promise<CanaryStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: CanaryStatus | undefined;
  for (;;) {
    last = await h.query(statusQuery);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last status: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function flagsAre(percent: number, shadow: boolean, shadowPercent?: number): Promise<void> {
  const flags = await store.list();
  assert.deepEqual(
    flags.map((f) => [f.operation, f.percent, f.shadow]),
    flags.map((f) => [f.operation, percent, shadow]),
  );
  if (shadowPercent !== undefined)
    assert.deepEqual(
      flags.map((f) => [f.operation, f.shadowPercent]),
      flags.map((f) => [f.operation, shadowPercent]),
    );
}

/** Every run of a workflow that continued as new, first to last (handles bound to each run). */
async function runsOf(h: WorkflowHandleWithFirstExecutionRunId): Promise<WorkflowHandle[]> {
  const runs: WorkflowHandle[] = [];
  let runId: string | undefined = h.firstExecutionRunId;
  while (runId !== undefined) {
    const run: WorkflowHandle = env.client.workflow.getHandle(h.workflowId, runId);
    runs.push(run);
    const events = (await run.fetchHistory()).events ?? [];
    const last = events[events.length - 1];
    runId = last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

async function auditRows(rolloutId: string): Promise<{ change_id: string; n: number }[]> {
  const { rows } = await t.db.query<{ change_id: string; n: string }>(
    `SELECT change_id, count(*) AS n FROM flag_audit WHERE change_id LIKE $1 GROUP BY change_id ORDER BY min(id)`,
    [`canary/${rolloutId}/%`],
  );
  return rows.map((r) => ({ change_id: r.change_id, n: Number(r.n) }));
}

const rolloutIdOf = (h: WorkflowHandle): string => h.workflowId.replace(/^canary-/, '');

test('walks the seed-002 plan on advance — shadow 10% read-only, dual-write 50%, cutover 100% with hot backup — then decommissions once stable, recording each go', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-walk');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [
        { name: 'shadow', mode: 'shadow', percent: 10, shadow: true, holdSeconds: 2 },
        { name: 'dual-write', mode: 'dual_write', percent: 50, shadow: true, holdSeconds: 2 },
        { name: 'cutover', mode: 'cutover', percent: 100, shadow: true, holdSeconds: 2 },
        { name: 'decommission', mode: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
      ],
    });
    // shadow serves nobody from approach 2 (flags 0% with shadow on for 10% of agents); the others
    // serve their percent with every agent shadowed (dual-write, approach 1 as the hot backup)
    for (const [name, percent, flagPercent, shadowShare] of [
      ['shadow', 10, 0, 10],
      ['dual-write', 50, 50, 100],
      ['cutover', 100, 100, 100],
    ] as const) {
      const s = await waitStatus(
        h,
        `${name} awaiting advance`,
        (x) => x.stage.name === name && x.status === 'awaiting_advance',
      );
      assert.equal(s.stage.percent, percent);
      assert.ok(s.lastAnalyses.at(-1)?.status === 'ok' && s.lastAnalyses.at(-1)?.stage === name);
      await flagsAre(flagPercent, true, shadowShare);
      const sa = (await h.describe()).typedSearchAttributes;
      assert.equal(sa.get(sgcPhaseKey), 'canary');
      assert.equal(sa.get(sgcStageKey), name);
      assert.equal(sa.get(sgcPercentKey), percent);
      assert.equal(sa.get(sgcStatusKey), 'awaiting_advance');
      // held at the stage's end until told: still there a second later
      await new Promise((r) => setTimeout(r, 1_200));
      assert.equal((await h.query(statusQuery)).stage.name, name);
      await h.signal(advanceSignal, { stage: name, actor: `lead-${name}` });
    }
    const result = await h.result();
    assert.equal(result.outcome, 'completed');
    assert.equal(result.stage, 'decommission');
    assert.equal(result.runs, 4, 'one run per stage (continue-as-new at every stage boundary)');
    await flagsAre(100, false, 0);
    const audit = await auditRows(rolloutIdOf(h));
    assert.deepEqual(
      audit.map((a) => [a.change_id.split('/').at(-1), a.n]),
      [
        ['stage-0-shadow', 8],
        ['stage-1-dual-write', 8],
        ['stage-2-cutover', 8],
        ['stage-3-decommission', 8],
      ],
    );
    // the flag change of each stage names who gave its go
    const { rows } = await t.db.query<{ actor: string }>(
      `SELECT DISTINCT actor FROM flag_audit WHERE change_id LIKE $1 AND change_id LIKE '%stage-3-decommission'`,
      [`canary/${rolloutIdOf(h)}/%`],
    );
    assert.deepEqual(
      rows.map((r) => r.actor),
      [`lead-cutover via canary ${rolloutIdOf(h)}`],
    );
    // go/no-go per week: who, when, on which analysis; decommission's go carries the stability verdict
    const end = await h.query(statusQuery);
    assert.deepEqual(
      end.goNoGo!.map((g) => [g.stage, g.decision, g.by]),
      [
        ['shadow', 'go', 'lead-shadow'],
        ['dual-write', 'go', 'lead-dual-write'],
        ['cutover', 'go', 'lead-cutover'],
        ['decommission', 'go', 'plan (last stage)'],
      ],
    );
    assert.ok(end.goNoGo!.slice(0, 3).every((g) => g.analysis?.status === 'ok' && g.approvedAt !== null));
    assert.deepEqual(
      end.goNoGo![2]!.stability!.map((c) => [c.criterion, c.ok]),
      [
        ['p90_push', true],
        ['pool_reuse', true],
        ['error_rate', true],
        ['rollback_triggers', true],
        ['hot_backup_warm', true],
      ],
    );
    assert.equal(end.hotBackup!.breachCount, 0);
    // every cutover analysis probed approach 1 (the hot backup) and recorded it warm
    assert.ok(end.hotBackup!.warmth!.probes >= 1 && end.hotBackup!.warmth!.cold === 0);
    const cutoverAnalyses = end.lastAnalyses.filter((a) => a.stage === 'cutover');
    assert.ok(cutoverAnalyses.length >= 1 && cutoverAnalyses.every((a) => a.hotBackup?.warm === true));
    assert.ok(end.lastAnalyses.filter((a) => a.stage !== 'cutover').every((a) => a.hotBackup === undefined));
    assert.ok(end.hotBackup!.analyses >= 4);
    assert.equal((await h.describe()).typedSearchAttributes.get(sgcStatusKey), 'done');
    // the seed-002 path, one history per run (issue 10 item 2): shadow → dual_write → cutover
    // (the stability check) → decommission; the runs from before the plan are *.pre-seed002.json
    const runs = await runsOf(h);
    assert.equal(runs.length, 4);
    await recordHistory('canaryRolloutWorkflow-stage-advanced', runs[0]!);
    await recordHistory('canaryRolloutWorkflow-seed002-dual-write', runs[1]!);
    await recordHistory('canaryRolloutWorkflow-seed002-cutover', runs[2]!);
    await recordHistory('canaryRolloutWorkflow-last-stage-completed', runs[3]!);
  });
});

test('decommission is refused with the failing criterion while the hot backup is not stable, then goes once it is', async () => {
  await resetFlags();
  injectedPoolReuse.set(0.5);
  const taskQueue = uniqueQueue('canary-stable');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [
        { name: 'cutover', mode: 'cutover', percent: 100, shadow: true, holdSeconds: 2 },
        { name: 'decommission', mode: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
      ],
      queries: { ...HEALTHY, 'canary.stable.pool_reuse': 'max(sgc_test_canary_pool_reuse)' },
    });
    await waitStatus(h, 'cutover awaiting advance', (x) => x.status === 'awaiting_advance');
    await h.executeUpdate(advanceUpdate, { args: [{ actor: 'lead' }] });
    const refusedAt = await waitStatus(h, 'a no-go', (x) => (x.goNoGo ?? []).some((g) => g.decision === 'no-go'));
    const noGo = refusedAt.goNoGo!.find((g) => g.decision === 'no-go')!;
    assert.match(noGo.why, /decommission refused: pool_reuse: pool reuse 50\.0% ≤ 80\.0%/);
    assert.equal(noGo.by, 'lead');
    assert.equal(refusedAt.stage.name, 'cutover');
    await flagsAre(100, true); // approach 1 stays the hot backup
    await waitStatus(h, 'awaiting a new go', (x) => x.status === 'awaiting_advance' && !x.advanceApproved);
    injectedPoolReuse.set(0.95);
    await new Promise((r) => setTimeout(r, 1_500)); // scraped
    await h.executeUpdate(advanceUpdate, { args: [{ actor: 'lead' }] });
    const result = await h.result();
    assert.equal(result.outcome, 'completed');
    await flagsAre(100, false);
    const end = await h.query(statusQuery);
    assert.equal(end.stability!.stable, true);
  });
});

test('approach 1 cold in a cutover analysis refuses decommission, naming hot_backup_warm; the analyses record each probe', async () => {
  await resetFlags();
  hotBackup = { warm: false, detail: 'approach 1 (local) is cold: sandbox quota exhausted' };
  const taskQueue = uniqueQueue('canary-cold');
  const w = await worker(taskQueue);
  try {
    await w.runUntil(async () => {
      const h = await start(taskQueue, {
        stages: [
          { name: 'cutover', mode: 'cutover', percent: 100, shadow: true, holdSeconds: 3 },
          { name: 'decommission', mode: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
        ],
        queries: HEALTHY,
      });
      const cold = await waitStatus(h, 'a cold probe', (x) => (x.hotBackup!.warmth?.cold ?? 0) > 0);
      assert.match(cold.hotBackup!.warmth!.firstCold!.detail, /sandbox quota exhausted/);
      assert.equal(cold.lastAnalyses.at(-1)!.hotBackup!.warm, false);
      assert.equal(cold.lastAnalyses.at(-1)!.status, 'ok', 'a cold hot backup is not a rollback trigger');
      // approach 1 recovers: still refused, the cutover was not warm throughout
      hotBackup = { warm: true, detail: 'approach 1 (local) served a sandbox' };
      await waitStatus(h, 'cutover awaiting advance', (x) => x.status === 'awaiting_advance');
      await h.executeUpdate(advanceUpdate, { args: [{ actor: 'lead' }] });
      const s = await waitStatus(h, 'a no-go', (x) => (x.goNoGo ?? []).some((g) => g.decision === 'no-go'));
      assert.equal(s.stage.name, 'cutover');
      const noGo = s.goNoGo!.find((g) => g.decision === 'no-go')!;
      assert.match(
        noGo.why,
        /^decommission refused: hot_backup_warm: approach 1 was cold at \S+ in cutover \(approach 1 \(local\) is cold: sandbox quota exhausted\)/,
      );
      assert.equal(noGo.by, 'lead');
      assert.deepEqual(
        noGo.stability!.map((c) => [c.criterion, c.ok]),
        [
          ['p90_push', true],
          ['pool_reuse', true],
          ['error_rate', true],
          ['rollback_triggers', true],
          ['hot_backup_warm', false],
        ],
        'the no-go names approach 1 not warm, and only that',
      );
      assert.equal(s.stability!.stable, false);
      await flagsAre(100, true, 100); // approach 1 stays the hot backup
      await h.signal(rollbackSignal, { reason: 'test over' });
      assert.equal((await h.result()).outcome, 'rolled_back');
    });
  } finally {
    hotBackup = { warm: true, detail: 'approach 1 (test) served a sandbox' };
  }
});

test('a rollback trigger breached in the hot backup refuses the advance into decommission with the trigger named', async () => {
  await resetFlags();
  injectedErrorRate.set(0.2);
  const taskQueue = uniqueQueue('canary-breached');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [
        { name: 'cutover', mode: 'cutover', percent: 100, shadow: true, holdSeconds: 3 },
        { name: 'decommission', mode: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
      ],
      consecutiveBreaches: 10,
      queries: { ...HEALTHY, 'canary.error_rate': 'max(sgc_test_canary_error_rate)' },
    });
    await waitStatus(h, 'a breach', (x) => x.hotBackup!.breachCount > 0);
    injectedErrorRate.set(0.01);
    await waitStatus(h, 'cutover awaiting advance', (x) => x.status === 'awaiting_advance');
    await assert.rejects(
      h.executeUpdate(advanceUpdate, { args: [{ actor: 'lead' }] }),
      (e: unknown) =>
        e instanceof WorkflowUpdateFailedError &&
        /decommission refused: rollback_triggers: rollback trigger error_rate breached at/.test(
          (e.cause as Error).message,
        ),
    );
    await h.signal(rollbackSignal, { reason: 'test over' });
    await h.result();
  });
});

test('too little approach-2 traffic is "not enough data yet": the window widens, and the rollout pauses only after insufficientDataPauseSeconds', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-few');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [{ name: 'shadow', mode: 'shadow', percent: 10, shadow: true, holdSeconds: 60 }],
      analysisIntervalSeconds: 1,
      insufficientDataPauseSeconds: 4,
      queries: { ...HEALTHY, 'canary.operations': 'vector(3)' },
    });
    const widened = await waitStatus(h, 'a widened window', (x) => (x.analysisWindowSeconds ?? 0) >= 4);
    assert.equal(widened.status, 'running');
    assert.equal(widened.lastAnalyses.at(-1)!.status, 'insufficient');
    assert.match(widened.lastAnalyses.at(-1)!.triggers[0]!.detail, /not enough data yet/);
    const paused = await waitStatus(h, 'paused', (x) => x.status === 'paused');
    assert.match(paused.paused!.reason, /not enough data for \d+ s \(canary.insufficientDataPauseSeconds 4 s\)/);
    await h.signal(rollbackSignal, { reason: 'test over' });
    await h.result();
  });
});

test('an analysis interval shorter than two scrape intervals fails the workflow at once, naming the scrape interval', async () => {
  const taskQueue = uniqueQueue('canary-interval');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [{ name: 'shadow', mode: 'shadow', percent: 10, shadow: true, holdSeconds: 60 }],
      analysisIntervalSeconds: 5,
      scrapeIntervalSeconds: 5,
    });
    await assert.rejects(h.result(), (e: unknown) =>
      /analysisIntervalSeconds 5 s is shorter than two Prometheus scrape intervals \(scrape interval 5 s/.test(
        String((e as { cause?: Error }).cause?.message),
      ),
    );
  });
});

test('a rollback signalled with the temporal CLI returns every flag to 0 and the next decision to approach 1', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-cli');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [{ name: 'dual-write-50', percent: 50, shadow: true, holdSeconds: 3_600 }],
    });
    await waitStatus(h, 'stage applied', (s) => s.stage.startedAt !== null);
    await waitStatusOfCache(() => cache.get('git.push')?.percent === 50);
    assert.ok(
      AGENTS.some((a) => decide(cache.get('git.push'), a, 'git.push').approach === 'pooled'),
      'some agents on approach 2 at 50%',
    );

    const cli = (input: string) =>
      run(stackEnv('SGC_TEMPORAL_BIN'), [
        'workflow',
        'signal',
        '--address',
        stackEnv('SGC_TEST_TEMPORAL_ADDRESS'),
        '--namespace',
        'default',
        '--workflow-id',
        h.workflowId,
        '--name',
        'rollback',
        '--input',
        input,
      ]);
    // a rollback without a reason is ignored (and says so), never fails the workflow task
    await cli('{}');
    const rejected = await waitStatus(h, 'rejected signal', (s) => s.lastRejectedSignal !== null);
    assert.equal(rejected.lastRejectedSignal?.signal, 'rollback');
    assert.equal(rejected.status, 'running');

    await cli('{"reason":"test: approach 2 misbehaves"}');
    const result = await h.result();
    assert.equal(result.outcome, 'rolled_back');
    assert.equal(result.rollback?.source, 'rollback');
    assert.equal(result.rollback?.reason, 'test: approach 2 misbehaves');
    assert.equal(result.rollback?.switched, true);
    assert.ok(
      typeof result.rollback?.switchDurationMs === 'number' && result.rollback.switchDurationMs < 1_000,
      `switch took ${result.rollback?.switchDurationMs} ms`,
    );
    await flagsAre(0, false);
    // the API process's cache already holds the kill: its next decisions all go to approach 1
    for (const op of FLAG_OPERATIONS)
      assert.deepEqual(cache.get(op) && { percent: cache.get(op)!.percent, shadow: cache.get(op)!.shadow }, {
        percent: 0,
        shadow: false,
      });
    assert.ok(AGENTS.every((a) => decide(cache.get('git.push'), a, 'git.push').approach === 'simple'));
    const ev = await store.rollbackEvents({ limit: 1 });
    assert.equal(ev[0]?.source, 'rollback');
    assert.equal(ev[0]?.id, result.rollback?.eventId);
    assert.ok(
      ev[0]?.durationMs !== null && ev[0]?.switchedAt['test-api-process'] !== undefined,
      'the measured switch is recorded on the rollback event',
    );
    const audit = await store.audit({ changeId: result.rollback!.changeId!, limit: 100 });
    assert.equal(audit.length, 8);
    assert.match(audit[0]!.reason, /test: approach 2 misbehaves/);
    assert.equal((await h.describe()).typedSearchAttributes.get(sgcStatusKey), 'rolled_back');
  });
});

async function waitStatusOfCache(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('the flag cache did not see the change');
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('one bad analysis does not roll back; approach-2 error rate above 5% in two consecutive analyses does', async () => {
  await resetFlags();
  injectedErrorRate.set(0.01);
  const taskQueue = uniqueQueue('canary-auto');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [{ name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3_600 }],
      analysisIntervalSeconds: 3,
      queries: { ...HEALTHY, 'canary.error_rate': 'max(sgc_test_canary_error_rate)' },
    });
    await waitStatus(h, 'stage applied', (s) => s.stage.startedAt !== null);
    // after each analysis, set what the next one will read (Prometheus scrapes every 500 ms; analyses are 3 s apart)
    const plan = [0.09, 0.01, 0.09, 0.01, 0.09, 0.09];
    for (let k = 1; k <= plan.length; k++) {
      await waitStatus(h, `analysis ${k}`, (s) => s.analyses.total >= k, 15_000);
      injectedErrorRate.set(plan[k - 1]!);
    }
    const result = await h.result();
    const s = await h.query(statusQuery);
    assert.deepEqual(
      s.lastAnalyses.map((a) => a.status),
      ['ok', 'breach', 'ok', 'breach', 'ok', 'breach', 'breach'],
    );
    assert.equal(result.outcome, 'rolled_back');
    assert.equal(result.analyses, 7, 'rolled back at the second breach in a row, not at the first');
    assert.equal(result.rollback?.source, 'auto');
    assert.equal(result.rollback?.trigger, 'error_rate');
    assert.match(
      result.rollback!.reason,
      /error_rate breached in 2 consecutive analyses: approach-2 error rate 9\.0% > 5\.0%/,
    );
    assert.equal(result.rollback?.switched, true);
    await flagsAre(0, false);
    assert.equal((await store.rollbackEvents({ limit: 1 }))[0]?.source, 'auto');
    await recordHistory('canaryRolloutWorkflow-auto-rollback', h);
  });
});

test('a failing query (Prometheus refusing it) pauses the rollout at once with the reason; hold time stops until resumed', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-nodata');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [
        { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 4 },
        { name: 'done', percent: 10, shadow: false, holdSeconds: 0 },
      ],
      autoAdvance: true,
      // absent data is "not enough data yet" (the widening test); a query Prometheus fails is not
      queries: { ...HEALTHY, 'canary.consistency': '1 - max((' },
    });
    try {
      const s = await waitStatus(h, 'paused', (x) => x.status === 'paused');
      assert.equal(s.paused?.by, 'inconclusive');
      assert.match(s.paused!.reason, /^inconclusive analysis: error_rate: no data for .*PromBadQuery/);
      assert.equal(s.lastAnalyses.at(-1)?.status, 'inconclusive');
      await flagsAre(10, true); // paused, not rolled back
      const held = s.stage.heldSeconds;
      await new Promise((r) => setTimeout(r, 5_000)); // longer than the hold: a paused stage never passes
      const later = await h.query(statusQuery);
      assert.equal(later.status, 'paused');
      assert.equal(later.stage.name, 'canary-10');
      assert.equal(later.stage.heldSeconds, held);
      assert.ok(later.analyses.total > s.analyses.total, 'analyses go on while paused');
      assert.equal((await h.describe()).typedSearchAttributes.get(sgcStatusKey), 'paused');
      await h.signal(resumeSignal, { actor: 'test' });
      await waitStatus(
        h,
        'paused again by the next analysis',
        (x) => x.status === 'paused' && x.analyses.total > later.analyses.total,
      );
    } finally {
      await h.signal(rollbackSignal, { reason: 'test cleanup' });
      await h.result();
    }
  });
});

test('a worker shut down mid-stage and a flag change retried after its commit resume with no duplicate flag change', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-restart');
  const real = activities();
  let crashedOnce = false;
  // the first attempt of stage 2's change commits and then "dies" before reporting back
  const flaky = {
    ...real,
    async applyStageFlags(input: Parameters<typeof real.applyStageFlags>[0]) {
      const r = await real.applyStageFlags(input);
      if (input.stage === 'stage-20' && !crashedOnce) {
        crashedOnce = true;
        throw new Error('worker lost after the commit');
      }
      return r;
    },
  };
  const stages: CanaryStage[] = [
    { name: 'stage-10', percent: 10, shadow: true, holdSeconds: 3 },
    { name: 'stage-20', percent: 20, shadow: true, holdSeconds: 1 },
    { name: 'end', percent: 20, shadow: false, holdSeconds: 0 },
  ];
  let h!: WorkflowHandle<typeof canaryRolloutWorkflow>;
  const first = await worker(taskQueue, flaky);
  await first.runUntil(async () => {
    h = await start(taskQueue, { stages, autoAdvance: true });
    await waitStatus(h, 'first analysis in stage-10', (s) => s.stage.name === 'stage-10' && s.analyses.inStage >= 1);
  });
  // no worker for a while: timers fire, tasks wait on the queue
  await new Promise((r) => setTimeout(r, 2_500));
  const second = await worker(taskQueue, flaky);
  const result = await second.runUntil(h.result());
  assert.equal(result.outcome, 'completed');
  assert.ok(crashedOnce);
  await flagsAre(20, false);
  const audit = await auditRows(rolloutIdOf(h));
  assert.deepEqual(
    audit.map((a) => [a.change_id.split('/').at(-1), a.n]),
    [
      ['stage-0-stage-10', 8],
      ['stage-1-stage-20', 8],
      ['stage-2-end', 8],
    ],
  );
});

test('continue-as-new forced by maxAnalysesPerRun keeps stage, analyses, pause and flags', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-can');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [{ name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3_600 }],
      maxAnalysesPerRun: 2,
    });
    try {
      const firstRunId = (await h.describe()).runId;
      await waitStatus(h, 'second run', (s) => s.run >= 2);
      await h.signal(pauseSignal, { reason: 'operator looks at a dashboard', actor: 'test' });
      const s = await waitStatus(h, 'fourth run', (x) => x.run >= 4, 30_000);
      assert.equal(s.stage.name, 'canary-10');
      assert.ok(s.analyses.total >= 6 && s.analyses.thisRun <= 2, JSON.stringify(s.analyses));
      assert.ok(s.lastAnalyses.length >= 6, 'recent analyses are carried across runs');
      assert.deepEqual(s.paused && { by: s.paused.by, reason: s.paused.reason }, {
        by: 'operator',
        reason: 'operator looks at a dashboard',
      });
      assert.notEqual((await h.describe()).runId, firstRunId);
      await flagsAre(10, true);
      assert.deepEqual(
        (await auditRows(rolloutIdOf(h))).map((a) => a.n),
        [8],
        'the stage was applied once across runs',
      );
      let events = 0;
      for (const _ of (await env.client.workflow.getHandle(h.workflowId, firstRunId).fetchHistory()).events ?? [])
        events++;
      assert.ok(events < 60, `first run has ${events} events`);
    } finally {
      await h.signal(rollbackSignal, { reason: 'test cleanup' });
      await h.result();
    }
    await recordHistory(
      'canaryRolloutWorkflow-continued-within-stage',
      env.client.workflow.getHandle(h.workflowId, h.firstExecutionRunId),
    );
  });
});

/** The failure a rejected Update carries (the validator's reason), or a failed assertion if it was accepted. */
async function refusal(p: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof WorkflowUpdateFailedError, String(e));
    assert.ok(e.cause instanceof ApplicationFailure, String(e.cause));
    return e.cause;
  }
  assert.fail('the update was accepted');
}

test('Updates refuse with the reason and change nothing; accepted ones answer with the status, a rollback after the kill switch', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-updates');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [
        { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3_600 },
        { name: 'end', percent: 10, shadow: false, holdSeconds: 0 },
      ],
      analysisIntervalSeconds: 3_600,
    });
    await waitStatus(h, 'stage applied', (s) => s.stage.startedAt !== null);

    let f = await refusal(h.executeUpdate(resumeUpdate, { args: [{ actor: 'test' }] }));
    assert.deepEqual([f.type, f.message], ['Refused', 'the rollout is not paused']);
    f = await refusal(h.executeUpdate(advanceUpdate, { args: [{ stage: 'end', actor: 'test' }] }));
    assert.deepEqual([f.type, f.message], ['Refused', 'advance was for stage end, the rollout is at canary-10']);

    const paused = await h.executeUpdate(pauseUpdate, { args: [{ reason: 'looking at dashboards', actor: 'test' }] });
    assert.equal(paused.status, 'paused');
    assert.deepEqual(paused.paused && [paused.paused.by, paused.paused.reason, paused.paused.actor], [
      'operator',
      'looking at dashboards',
      'test',
    ]);
    f = await refusal(h.executeUpdate(pauseUpdate, { args: [{ actor: 'test' }] }));
    assert.match(f.message, /^the rollout is already paused since .+ \(looking at dashboards\)$/);
    f = await refusal(h.executeUpdate(advanceUpdate, { args: [{ stage: 'canary-10', actor: 'test' }] }));
    assert.deepEqual(
      [f.type, f.message],
      ['Refused', 'the rollout is paused (looking at dashboards); resume it first'],
    );
    // the same rule for the signal: ignored, and the status says why
    await h.signal(advanceSignal, { stage: 'canary-10', actor: 'test' });
    const ignored = await waitStatus(h, 'advance signal ignored', (s) => s.lastRejectedSignal?.signal === 'advance');
    assert.match(ignored.lastRejectedSignal!.reason, /paused/);
    assert.equal(ignored.advanceApproved, false);

    f = await refusal(h.executeUpdate(rollbackUpdate, { args: [{ reason: '  ', actor: 'test' }] }));
    assert.deepEqual(
      [f.type, f.message, f.details?.[0]],
      ['ValidationError', 'reason is required (the audit records why)', { field: 'reason' }],
    );

    assert.equal((await h.executeUpdate(resumeUpdate, { args: [{ actor: 'test' }] })).status, 'running');
    const approved = await h.executeUpdate(advanceUpdate, { args: [{ stage: 'canary-10', actor: 'test' }] });
    assert.equal(approved.advanceApproved, true);
    assert.equal(
      approved.stage.name,
      'canary-10',
      'approval is remembered; the rollout moves on when the hold is served',
    );
    await flagsAre(10, true);

    const rolledBack = await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'test: stop here', actor: 'test' }] });
    assert.equal(rolledBack.status, 'rolled_back');
    assert.equal(rolledBack.rollback?.reason, 'test: stop here');
    assert.equal(rolledBack.rollback?.switched, true);
    assert.ok(typeof rolledBack.rollback?.switchDurationMs === 'number', JSON.stringify(rolledBack.rollback));
    await flagsAre(0, false);
    assert.equal((await h.result()).outcome, 'rolled_back');

    // a rejected Update leaves nothing in history: only the four accepted ones are there
    const events = (await h.fetchHistory()).events ?? [];
    const accepted = events
      .filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)
      .map((e) => e.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.input!.name);
    assert.deepEqual(accepted, ['pause', 'resume', 'advance', 'rollback']);
    await recordHistory('canaryRolloutWorkflow-updates-rolled-back', h);
  });
});

test('Updates sent while the rollout continues as new after every analysis are all answered', async () => {
  await resetFlags();
  const taskQueue = uniqueQueue('canary-update-can');
  const w = await worker(taskQueue);
  await w.runUntil(async () => {
    const h = await start(taskQueue, {
      stages: [{ name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3_600 }],
      maxAnalysesPerRun: 1,
    });
    await waitStatus(h, 'second run', (s) => s.run >= 2);
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await h.executeUpdate(pauseUpdate, { args: [{ reason: `look ${i}`, actor: 'test' }] })).status,
        'paused',
      );
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await h.executeUpdate(resumeUpdate, { args: [{ actor: 'test' }] })).status, 'running');
      await new Promise((r) => setTimeout(r, 300));
    }
    const s = await h.executeUpdate(rollbackUpdate, { args: [{ reason: 'test cleanup', actor: 'test' }] });
    assert.equal(s.status, 'rolled_back');
    assert.ok(s.run >= 4, `the updates spanned runs (ended in run ${s.run})`);
    assert.equal((await h.result()).outcome, 'rolled_back');
  });
});
