/**
 * Notifications end to end on the Temporal dev server: the real canary and validation workflows
 * and the real `notify` activity posting to HTTP receivers this test starts (node:http). The
 * phases' other activities are stand-ins (flags, Prometheus, reports are not what is tested
 * here): a canary whose analyses breach the error-rate trigger rolls back on its own, and a
 * validation period asked to decide at once decides. A dead receiver (a closed port) costs the
 * phase no more than its bounded attempts and is counted as failed.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import type { CanaryActivities, KillSwitchResult } from '../../activities/canary.js';
import { createNotifyActivities } from '../../activities/notify.js';
import type { AnalysisValues } from '../../lib/canary/analysis.js';
import { notifyConfigSchema, worstCaseMs } from '../../lib/config/notify.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';
import { rollbackUpdate } from '../../workflows/canary-rollout/messages.js';
import { canaryRolloutWorkflow, type CanaryRolloutInput } from '../../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId, validationWorkflowId } from '../../workflows/ids.js';
import { decideNowSignal } from '../../workflows/validation-period/messages.js';
import { validationPeriodWorkflow } from '../../workflows/validation-period/workflow.js';
import { workerInterceptors } from '../../workers/interceptors.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { until } from '../../scripts/testing/until.js';

const log = createLogger({ level: 'silent' });
Runtime.install({ logger: new DefaultLogger('ERROR') });

let env: TestWorkflowEnvironment;
let rx: Server;
let deadPort: number;
const got: { path: string; headers: IncomingMessage['headers']; body: Record<string, unknown> }[] = [];
const rxUrl = (path: string): string => `http://127.0.0.1:${(rx.address() as AddressInfo).port}${path}`;

beforeAll(async () => {
  env = await testEnv();
  rx = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((r) => rx.listen(0, '127.0.0.1', () => r()));
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
  deadPort = (probe.address() as AddressInfo).port;
  await new Promise((r) => probe.close(r));
});

afterAll(async () => {
  await new Promise((r) => rx?.close(r));
  await env?.teardown();
});

const value = (v: number) => ({ kind: 'value', value: v }) as const;
/** Analyses with an approach-2 error rate of 20% over 100 operations: the error-rate trigger breaches. */
const BREACHING: AnalysisValues = {
  errorRate: value(0.2),
  operations: value(100),
  p95PooledSeconds: value(0.2),
  p95SimpleSeconds: value(0.2),
  consistency: value(1),
};

/** Stand-ins for the canary's flag and Prometheus activities. */
function canaryStandIns(): Pick<CanaryActivities, 'applyStageFlags' | 'analyse' | 'killSwitch'> {
  return {
    async applyStageFlags() {
      return { changeId: 'c1', version: 1, changed: 6, alreadyApplied: false };
    },
    async analyse() {
      return BREACHING;
    },
    async killSwitch(): Promise<KillSwitchResult> {
      return {
        eventId: 7,
        changeId: 'kill-1',
        version: 2,
        decidedAt: new Date().toISOString(),
        changed: 6,
        switched: true,
        durationMs: 12,
        processes: 1,
        missing: [],
      };
    },
  };
}

/** Stand-ins for the validation period's Postgres and report activities. */
const validationStandIns = {
  async startRun() {},
  async finishRun() {},
  async recordDecision() {
    return { recorded: true };
  },
  async writeFinalReport() {
    return { id: 'report-1' };
  },
  async scheduleReevaluation() {
    return { scheduleId: 'sched-1', created: true };
  },
};

async function worker(taskQueue: string, webhooks: unknown[], metrics: Metrics, extra: Record<string, unknown> = {}) {
  const notify = notifyConfigSchema.parse({ webhooks, attempts: 3, backoffMs: 100, timeoutMs: 1000, ...extra });
  return {
    notify,
    worker: await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: {
        ...canaryStandIns(),
        ...validationStandIns,
        ...createNotifyActivities({
          notify,
          metrics,
          log,
          links: { uiUrl: 'http://ui.test:8233', namespace: 'default' },
        }),
      },
      shutdownGraceTime: '1 second',
      interceptors: workerInterceptors({ log, metrics }),
    }),
  };
}

function canaryInput(o: Partial<CanaryRolloutInput> = {}): CanaryRolloutInput {
  return {
    rolloutId: uniqueId('n').slice(0, 30),
    stages: [{ name: 'canary-10', percent: 10, shadow: true, holdSeconds: 3600 }],
    analysisIntervalSeconds: 1,
    consecutiveBreaches: 2,
    ...o,
  };
}

async function counts(metrics: Metrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await metrics.notifications.get()).values) out[`${v.labels.kind}/${v.labels.outcome}`] = v.value;
  return out;
}

test('a receiver sees the canary stage and its automatic rollback with the trigger and values; Slack gets text and blocks', async () => {
  got.length = 0;
  const taskQueue = uniqueQueue('notify-canary');
  const metrics = createMetrics({ defaultMetrics: false });
  const { worker: w } = await worker(
    taskQueue,
    [
      { name: 'ops', url: rxUrl('/ops') },
      { name: 'chat', url: rxUrl('/services/T0/B0/secret'), format: 'slack', events: ['rollback'] },
    ],
    metrics,
  );
  const input = canaryInput();
  const result = await w.runUntil(
    env.client.workflow.execute(canaryRolloutWorkflow, {
      taskQueue,
      workflowId: canaryWorkflowId(input.rolloutId),
      args: [input],
      workflowExecutionTimeout: '2 minutes',
    }),
  );
  expect(result).toMatchObject({ outcome: 'rolled_back', rollback: { source: 'auto', trigger: 'error_rate' } });

  const ops = got.filter((g) => g.path === '/ops').map((g) => g.body);
  expect(ops.map((b) => b.kind)).toEqual(['canary_stage', 'rollback']);
  expect(ops[0]).toMatchObject({
    rolloutId: input.rolloutId,
    stage: 'canary-10',
    percent: 10,
    shadow: true,
    stageIndex: 0,
    stages: 1,
    workflowId: canaryWorkflowId(input.rolloutId),
    workflowUrl: `http://ui.test:8233/namespaces/default/workflows/${canaryWorkflowId(input.rolloutId)}`,
  });
  expect(ops[1]).toMatchObject({
    source: 'auto',
    trigger: 'error_rate',
    stage: 'canary-10',
    switched: true,
    switchDurationMs: 12,
    values: expect.arrayContaining([
      expect.objectContaining({ name: 'error_rate', value: 0.2, threshold: 0.05, status: 'breach' }),
    ]),
  });
  const slack = got.filter((g) => g.path.startsWith('/services/'));
  expect(slack).toHaveLength(1);
  expect(slack[0]!.body.text).toMatch(/rolled back \(auto\) at canary-10: trigger error_rate/);
  expect(JSON.stringify(slack[0]!.body.blocks)).toContain('*error_rate*\\n0.2 (threshold 0.05)');
  expect(slack[0]!.headers['idempotency-key']).toBe(ops[1]!.id);
  expect(await counts(metrics)).toMatchObject({ 'canary_stage/sent': 1, 'rollback/sent': 2, 'rollback/failed': 0 });

  // the receivers' URLs are nowhere in the workflow's history
  const history = JSON.stringify(await env.client.workflow.getHandle(canaryWorkflowId(input.rolloutId)).fetchHistory());
  expect(history).not.toContain('/services/T0');
  expect(history).not.toContain(rxUrl(''));
});

test('a receiver sees the validation decision', async () => {
  got.length = 0;
  const taskQueue = uniqueQueue('notify-validation');
  const metrics = createMetrics({ defaultMetrics: false });
  const { worker: w } = await worker(
    taskQueue,
    [{ name: 'ops', url: rxUrl('/ops'), events: ['validation_decision'] }],
    metrics,
  );
  const workflowId = validationWorkflowId(uniqueId('n'));
  const result = await w.runUntil(async () => {
    const handle = await env.client.workflow.signalWithStart(validationPeriodWorkflow, {
      taskQueue,
      workflowId,
      args: [{ config: { daysPerWeek: 1 }, dayLengthSeconds: 3600 }],
      signal: decideNowSignal,
      signalArgs: [{ by: 'lead', reason: 'notification test' }],
      workflowExecutionTimeout: '2 minutes',
    });
    return handle.result();
  });
  expect(got.map((g) => g.body.kind)).toEqual(['validation_decision']);
  expect(got[0]!.body).toMatchObject({
    kind: 'validation_decision',
    id: `${workflowId}/decision`,
    runId: workflowId,
    mode: 'live',
    decision: result.decision,
    ruleDecision: result.ruleDecision,
    week: result.week,
    forced: result.forced,
    incomplete: result.incomplete,
  });
  expect((got[0]!.body.reasons as string[])[0]).toMatch(/decision requested early by lead/);
  expect(await counts(metrics)).toMatchObject({ 'validation_decision/sent': 1 });
});

test('a dead receiver neither fails nor holds up the rollout beyond its bounded attempts, and counts as failed', async () => {
  got.length = 0;
  const taskQueue = uniqueQueue('notify-dead');
  const metrics = createMetrics({ defaultMetrics: false });
  const { worker: w, notify } = await worker(
    taskQueue,
    [{ name: 'dead', url: `http://127.0.0.1:${deadPort}/hook` }],
    metrics,
  );
  const input = canaryInput({ analysisIntervalSeconds: 3600 });
  const workflowId = canaryWorkflowId(input.rolloutId);
  const { result, rollbackMs } = await w.runUntil(async () => {
    const handle = await env.client.workflow.start(canaryRolloutWorkflow, {
      taskQueue,
      workflowId,
      args: [input],
      workflowExecutionTimeout: '2 minutes',
    });
    // the rollback comes after the first stage was applied and announced: a rollback asked for
    // before that skips the stage (and its notification), which made this test flaky
    await until('the first stage announced', async () => (await counts(metrics))['canary_stage/failed'] === 1, 30_000);
    const t0 = Date.now();
    await handle.executeUpdate(rollbackUpdate, { args: [{ reason: 'operator test', actor: 'lead' }] });
    return { result: await handle.result(), rollbackMs: Date.now() - t0 };
  });
  expect(result).toMatchObject({ outcome: 'rolled_back', rollback: { source: 'rollback', actor: 'lead' } });
  expect(await counts(metrics)).toMatchObject({
    'canary_stage/failed': 1,
    'canary_stage/sent': 0,
    'rollback/failed': 1,
    'rollback/sent': 0,
  });
  // the notify activity completed (its receivers failed, it did not) and each took less than
  // the configured bound: 3 refused connections with 100 + 200 ms between them
  const events = (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const notifyScheduled = new Map<string, number>();
  const durations: number[] = [];
  for (const e of events) {
    const at = Number(e.eventTime?.seconds ?? 0) * 1000 + Math.floor((e.eventTime?.nanos ?? 0) / 1e6);
    const sched = e.activityTaskScheduledEventAttributes;
    if (sched?.activityType?.name === 'notify') notifyScheduled.set(String(e.eventId), at);
    const done = e.activityTaskCompletedEventAttributes;
    if (done && notifyScheduled.has(String(done.scheduledEventId)))
      durations.push(at - notifyScheduled.get(String(done.scheduledEventId))!);
    expect(e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes).toBeFalsy();
  }
  expect(durations).toHaveLength(2);
  for (const d of durations) expect(d).toBeLessThan(worstCaseMs(notify));
  expect(rollbackMs).toBeLessThan(worstCaseMs(notify) + 5_000);
});
