import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import {
  WorkflowFailedError,
  WorkflowUpdateFailedError,
  type WorkflowHandleWithFirstExecutionRunId,
} from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { createValidationActivities, type ValidationActivities } from '../../activities/validation.js';
import { createReportActivities } from '../../activities/reports.js';
import { createLogger } from '../../lib/log.js';
import { PromClient } from '../../lib/prom/client.js';
import { openMetricsText, type HourContext, type ProfilePoint } from '../../lib/prom/openmetrics.js';
import { createReportRepository } from '../../lib/store/reports.js';
import type { PromQuerier } from '../../lib/validation/collect.js';
import { VALIDATION_QUERIES } from '../../lib/validation/queries.js';
import {
  validationPeriodWorkflow,
  type ValidationPeriodInput,
  type ValidationPeriodResult,
} from '../../workflows/validation-period/workflow.js';
import {
  decideNowSignal,
  extendSignal,
  overrideDecisionUpdate,
  statusQuery,
} from '../../workflows/validation-period/messages.js';
import { validationWorkflowId } from '../../workflows/ids.js';
import { sgcDecisionKey, sgcPhaseKey, sgcStatusKey, sgcWeekKey } from '../../workflows/search-attributes.js';
import { validationActivities } from '../../workers/phases-validation.js';
import { ensureReevaluationSchedule } from '../../clients/validation.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { healthyApproach1 as healthy } from '../helpers/profiles.js';
import { backfillWindow, freePort, startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueId, uniqueQueue, workflowBundle } from '../helpers/temporal.js';
import { recordHistory } from '../helpers/history.js';
import { boundaryEnv } from '../helpers/activities.js';
import { testWorker } from '../helpers/worker.js';

const reportRepo = () => createReportRepository(tdb.db);

// Metric histories for every scenario live in ONE throwaway Prometheus, told apart by a
// `scenario` label; each run overrides the validation queries to select its scenario. Weeks are
// shrunk to 2 days (daysPerWeek is a workflow input), so 6 weeks are 12 days of hourly points.
const DAYS_PER_WEEK = 2;
const WEEKS_OF_DATA = 6;
const window = backfillWindow(WEEKS_OF_DATA * DAYS_PER_WEEK * 24);
const SCENARIOS = ['healthy', 'migrate', 'spike', 'unstable', 'gap'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** 1-based week of the (shrunk) period an hour falls in. */
const weekOfHour = (h: HourContext): number => Math.floor(h.day / DAYS_PER_WEEK) + 1;

const PROFILES: Record<Scenario, (h: HourContext) => ProfilePoint | null> = {
  healthy,
  // concurrency above 10 in working hours from week 2 on
  migrate: (h) => {
    const p = healthy(h);
    return weekOfHour(h) >= 2 && p.concurrency === 6 ? { ...p, concurrency: 14 } : p;
  },
  // P95 of 3 s in working hours of week 2 only
  spike: (h) => {
    const p = healthy(h);
    return weekOfHour(h) === 2 && p.p95Seconds === 1.2 ? { ...p, p95Seconds: 3 } : p;
  },
  // cost per operation swings 30 % week over week (band: ±10 %)
  unstable: (h) => ({ ...healthy(h), costPerOp: weekOfHour(h) % 2 === 0 ? 0.0065 : 0.005 }),
  // no samples at all on day 8, the second day of week 4 (the planned decision week)
  gap: (h) => (h.day === 7 ? null : healthy(h)),
};

/** Adds `scenario="<name>"` to every sample and merges the scenarios family by family (promtool wants a family's samples together). */
function mergeScenarios(texts: Record<string, string>): string {
  const families = new Map<string, string[]>();
  for (const [scenario, text] of Object.entries(texts)) {
    let header = '';
    for (const line of text.split('\n')) {
      if (line === '' || line === '# EOF') continue;
      if (line.startsWith('# HELP')) {
        header = line;
      } else if (line.startsWith('# TYPE')) {
        header = `${header}\n${line}`;
        if (!families.has(header)) families.set(header, []);
      } else {
        // every generated series has labels, so every sample line has a '{'
        (families.get(header) as string[]).push(line.replace('{', `{scenario="${scenario}",`));
      }
    }
  }
  return [...families].map(([h, lines]) => `${h}\n${lines.join('\n')}`).join('\n') + '\n# EOF\n';
}

/** The validation queries narrowed to one scenario's series (the per-run query profile). */
function queriesFor(scenario: Scenario): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, promql] of Object.entries(VALIDATION_QUERIES)) {
    out[name] = promql.replace(
      /\b(gitops_[a-z_]+)(\{([^}]*)\})?/g,
      (_m, metric: string, _b, labels: string | undefined) =>
        `${metric}{scenario="${scenario}"${labels ? `,${labels}` : ''}}`,
    );
  }
  return out;
}

const log = createLogger({ level: 'silent' });
let env: TestWorkflowEnvironment;
let tdb: TestDb;
let prom: PrometheusHandle;
let client: PromClient;
let reportsDir: string;
const restarted: ChildProcess[] = [];

beforeAll(async () => {
  const texts = Object.fromEntries(
    SCENARIOS.map((s) => [
      s,
      openMetricsText({ start: window.start, end: window.end, profile: PROFILES[s], stepSeconds: 900 }),
    ]),
  );
  [env, tdb, prom] = await Promise.all([
    testEnv(),
    freshDb('validation'),
    startPrometheus({ openMetrics: mergeScenarios(texts), maxBlockDuration: '168h' }),
  ]);
  client = new PromClient({ url: prom.url, timeoutMs: 10_000 });
  reportsDir = mkdtempSync(join(tmpdir(), 'sgc-reports-'));
});

afterAll(async () => {
  for (const c of restarted) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await once(c, 'exit');
    }
  }
  await prom?.stop();
  await tdb?.drop();
  await env?.teardown();
  if (reportsDir) rmSync(reportsDir, { recursive: true, force: true });
});

/** A Prometheus querier that counts the calls that failed (Prometheus down). */
function countingProm(): PromQuerier & { failures: number } {
  const c = {
    failures: 0,
    async query(promql: string, time?: number) {
      try {
        return await client.query(promql, time);
      } catch (e) {
        c.failures++;
        throw e;
      }
    },
    async queryRange(promql: string, start: number, end: number, step: number) {
      try {
        return await client.queryRange(promql, start, end, step);
      } catch (e) {
        c.failures++;
        throw e;
      }
    },
  };
  return c;
}

async function newWorker(
  taskQueue: string,
  promq: PromQuerier = client,
  options: Partial<WorkerOptions> = {},
): Promise<Worker> {
  const activities = validationActivities({
    db: tdb.db,
    prom: promq,
    queries: VALIDATION_QUERIES,
    reportsDir,
    log,
    temporal: { client: env.client, taskQueue },
  });
  return testWorker(env, { taskQueue, activities, log }, options);
}

function backtestInput(scenario: Scenario, extra: Partial<ValidationPeriodInput> = {}): ValidationPeriodInput {
  return {
    backtest: { start: window.start, end: window.end },
    dayLengthSeconds: 0,
    config: { daysPerWeek: DAYS_PER_WEEK },
    queryOverrides: queriesFor(scenario),
    ...extra,
  };
}

async function start(
  taskQueue: string,
  input: ValidationPeriodInput,
): Promise<WorkflowHandleWithFirstExecutionRunId<typeof validationPeriodWorkflow>> {
  return env.client.workflow.start(validationPeriodWorkflow, {
    taskQueue,
    workflowId: validationWorkflowId(uniqueId('t')),
    args: [input],
    workflowExecutionTimeout: '3 minutes',
  });
}

async function runBacktest(
  scenario: Scenario,
  extra: Partial<ValidationPeriodInput> = {},
): Promise<{
  r: ValidationPeriodResult;
  handle: WorkflowHandleWithFirstExecutionRunId<typeof validationPeriodWorkflow>;
}> {
  const taskQueue = uniqueQueue('validation');
  const worker = await newWorker(taskQueue);
  return worker.runUntil(async () => {
    const handle = await start(taskQueue, backtestInput(scenario, extra));
    return { r: await handle.result(), handle };
  });
}

async function snapshotDays(runId: string): Promise<number[]> {
  const { rows } = await tdb.db.query<{ day: number }>(
    'SELECT day FROM validation_snapshots WHERE run_id = $1 ORDER BY day',
    [runId],
  );
  return rows.map((r) => r.day);
}

interface DecisionRow {
  key: string;
  week: number;
  decision: string;
  rule_decision: string;
  reasons: string[];
  forced: boolean;
  incomplete: boolean;
  overridden_by: string | null;
  override_reason: string | null;
}
async function decisions(runId: string): Promise<DecisionRow[]> {
  const { rows } = await tdb.db.query<DecisionRow>(
    'SELECT key, week, decision, rule_decision, reasons, forced, incomplete, overridden_by, override_reason FROM validation_decisions WHERE run_id = $1 ORDER BY id',
    [runId],
  );
  return rows;
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('validationPeriodWorkflow as a backtest over a backfilled Prometheus', () => {
  test('all healthy: STAY at the planned week 4, complete, with four weekly reports and the readiness report', async () => {
    const { r, handle } = await runBacktest('healthy');
    assert.equal(r.decision, 'STAY');
    assert.equal(r.ruleDecision, 'STAY');
    assert.equal(r.week, 4);
    assert.equal(r.incomplete, false);
    assert.equal(r.forced, false);
    assert.equal(r.days, 8);
    for (const row of r.triggersTable.rows)
      assert.deepEqual(
        row.cells.map((c) => c.status),
        ['ok', 'ok', 'ok', 'ok'],
        row.trigger,
      );
    assert.deepEqual(r.reportIds, [1, 2, 3, 4].map((w) => `${r.runId}-week-${w}`).concat(`${r.runId}-final`));
    assert.deepEqual(await snapshotDays(r.runId), range(8));
    const d = await decisions(r.runId);
    assert.deepEqual(
      d.map((x) => [x.key, x.decision]),
      [
        ['week-1', 'CONTINUE'],
        ['week-2', 'CONTINUE'],
        ['week-3', 'CONTINUE'],
        ['week-4', 'STAY'],
        ['final', 'STAY'],
      ],
    );
    const final = await reportRepo().findById(`${r.runId}-final`);
    assert.ok(final?.html.includes('<svg'), 'the readiness page has charts');
    assert.match(final?.markdown ?? '', /## Decision: \*\*STAY\*\*/);
    assert.ok(r.forecast.points.length === 3 && r.forecast.crossesTrigger === false);
    const run = await tdb.db.query<{ status: string; decision: string; mode: string }>(
      'SELECT status, decision, mode FROM validation_runs WHERE id = $1',
      [r.runId],
    );
    assert.deepEqual(run.rows[0], { status: 'decided', decision: 'STAY', mode: 'backtest' });
    // Temporal UI: listed as a decided validation at week 4
    const desc = await handle.describe();
    const sa = desc.typedSearchAttributes;
    assert.deepEqual(
      [sa.get(sgcPhaseKey), sa.get(sgcWeekKey), sa.get(sgcDecisionKey), sa.get(sgcStatusKey)],
      ['validation', 4, 'STAY', 'decided'],
    );
    // continued-as-new at each week boundary: the run that decided is not the first
    assert.notEqual(desc.runId, handle.firstExecutionRunId);
    await recordHistory('validationPeriodWorkflow-week-4-stay', handle);
  });

  test('concurrency above 10 from week 2 on: MIGRATE as soon as it is sustained (week 3)', async () => {
    const { r } = await runBacktest('migrate');
    assert.equal(r.decision, 'MIGRATE');
    assert.equal(r.week, 3);
    const conc = r.triggersTable.rows.find((x) => x.trigger === 'concurrency');
    assert.deepEqual(
      conc?.cells.map((c) => c.status),
      ['ok', 'exceeded', 'exceeded'],
    );
    assert.deepEqual(conc?.sustainedWeeks, [2, 3]);
    assert.ok(
      r.reasons.some((x) => /Concurrency.*weeks 2 and 3/.test(x)),
      r.reasons.join(' | '),
    );
    assert.deepEqual(
      (await decisions(r.runId)).map((x) => x.decision),
      ['CONTINUE', 'CONTINUE', 'MIGRATE', 'MIGRATE'],
    );
  });

  test('a P95 spike in one week only is not a sustained breach: STAY', async () => {
    const { r } = await runBacktest('spike');
    assert.equal(r.decision, 'STAY');
    assert.equal(r.week, 4);
    const p95 = r.triggersTable.rows.find((x) => x.trigger === 'p95Latency');
    assert.deepEqual(
      p95?.cells.map((c) => c.status),
      ['ok', 'exceeded', 'ok', 'ok'],
    );
    assert.equal(p95?.sustainedWeeks, null);
  });

  test('unstable cost per operation: EXTEND at weeks 4 and 5, then a forced decision at week 6 flagged incomplete', async () => {
    const { r } = await runBacktest('unstable');
    assert.equal(r.week, 6);
    assert.equal(r.decision, 'STAY');
    assert.equal(r.forced, true);
    assert.equal(r.incomplete, true);
    const d = await decisions(r.runId);
    assert.deepEqual(
      d.map((x) => [x.key, x.decision]),
      [
        ['week-1', 'CONTINUE'],
        ['week-2', 'CONTINUE'],
        ['week-3', 'CONTINUE'],
        ['week-4', 'EXTEND'],
        ['week-5', 'EXTEND'],
        ['week-6', 'STAY'],
        ['final', 'STAY'],
      ],
    );
    assert.ok(
      d[3].reasons.some((x) => /Cost per operation unstable/.test(x)),
      d[3].reasons.join(' | '),
    );
    assert.deepEqual(await snapshotDays(r.runId), range(12));
  });

  test('a day with no data in the decision week is inconclusive, never a pass: EXTEND, then STAY a week later flagged incomplete', async () => {
    const { r } = await runBacktest('gap');
    const d = await decisions(r.runId);
    const week4 = d.find((x) => x.key === 'week-4');
    assert.equal(week4?.decision, 'EXTEND');
    assert.ok(
      week4?.reasons.some((x) => /missing data.*day.*8/.test(x)),
      week4?.reasons.join(' | '),
    );
    assert.equal(r.decision, 'STAY');
    assert.equal(r.week, 5);
    assert.equal(r.incomplete, true);
    // the empty day is stored (it was looked at) but holds no data
    const { rows } = await tdb.db.query<{ ops: number | null }>(
      `SELECT (aggregates->>'operations')::float AS ops FROM validation_snapshots WHERE run_id = $1 AND day = 8`,
      [r.runId],
    );
    assert.equal(rows[0].ops, null);
  });

  test('Prometheus stopped mid-run: the day is retried and no day is lost or stored twice', async () => {
    const taskQueue = uniqueQueue('validation');
    const promq = countingProm();
    const worker = await newWorker(taskQueue, promq);
    const r = await worker.runUntil(async () => {
      const handle = await start(
        taskQueue,
        backtestInput('healthy', { weeks: 2, minWeeks: 2, maxWeeks: 3, dayLengthSeconds: 1 }),
      );
      await waitFor('day 1', async () => ((await snapshotDays(handle.workflowId)).length >= 1 ? true : undefined));
      const bin = prom.child.spawnfile;
      const args = prom.child.spawnargs.slice(1);
      const current = restarted.at(-1) ?? prom.child;
      current.kill('SIGTERM');
      await once(current, 'exit');
      await waitFor('a failed snapshot attempt', async () => (promq.failures > 0 ? true : undefined), 20_000);
      const daysWhileDown = await snapshotDays(handle.workflowId);
      // the same binary, data directory and port: the history comes back as it was
      restarted.push(spawn(bin, args, { stdio: 'ignore', cwd: prom.dir }));
      await waitFor('prometheus ready', async () =>
        (await fetch(`${prom.url}/-/ready`).then(
          (x) => x.ok,
          () => false,
        ))
          ? true
          : undefined,
      );
      const result = await handle.result();
      assert.ok(daysWhileDown.length < 4, 'Prometheus was down before the last day');
      return result;
    });
    assert.ok(promq.failures > 0);
    assert.equal(r.decision, 'STAY');
    assert.equal(r.incomplete, false);
    assert.deepEqual(await snapshotDays(r.runId), range(4));
  });

  test('a worker restart mid-period: the run resumes where it was, with no day taken twice', async () => {
    const taskQueue = uniqueQueue('validation');
    // maxDaysPerRun 1 also continues-as-new inside a week, so a run reloads its week's first day from Postgres
    const input = backtestInput('healthy', {
      weeks: 2,
      minWeeks: 2,
      maxWeeks: 3,
      dayLengthSeconds: 2,
      maxDaysPerRun: 1,
    });
    // the stopped worker's sticky queue hands the next workflow task on after 1 s instead of 10 s
    const first = await newWorker(taskQueue, client, { stickyQueueScheduleToStartTimeout: '1 second' });
    const handle = await start(taskQueue, input);
    // stop it while the period waits for day 3 (where a live period spends its life)
    await first.runUntil(
      waitFor('the wait for day 3', async () => {
        const s = await handle.query(statusQuery);
        return s.day === 3 && s.phase === 'waiting' ? true : undefined;
      }),
    );
    const stoppedAt = new Date();
    assert.deepEqual(await snapshotDays(handle.workflowId), [1, 2]);
    const second = await newWorker(taskQueue);
    const r = await second.runUntil(handle.result());
    assert.equal(r.decision, 'STAY');
    assert.equal(r.week, 2);
    assert.equal(r.days, 4);
    assert.equal(r.incomplete, false);
    assert.deepEqual(await snapshotDays(r.runId), range(4));
    const { rows } = await tdb.db.query<{ day: number }>(
      'SELECT day FROM validation_snapshots WHERE run_id = $1 AND taken_at > $2 ORDER BY day',
      [r.runId, stoppedAt],
    );
    assert.deepEqual(
      rows.map((x) => x.day),
      [3, 4],
      'the new worker took the remaining days, and only those',
    );
  });

  test('a query override that is not valid PromQL fails the period at once (non-retryable) and marks the run failed', async () => {
    const taskQueue = uniqueQueue('validation');
    const worker = await newWorker(taskQueue);
    const handle = await start(
      taskQueue,
      backtestInput('healthy', { queryOverrides: { ...queriesFor('healthy'), 'validation.operations': 'sum(rate(' } }),
    );
    const err = await worker.runUntil(
      handle.result().then(
        () => null,
        (e: unknown) => e,
      ),
    );
    assert.ok(err instanceof WorkflowFailedError);
    assert.ok(err.cause instanceof ApplicationFailure);
    assert.equal(err.cause.type, 'PromBadQuery');
    const run = await tdb.db.query<{ status: string }>('SELECT status FROM validation_runs WHERE id = $1', [
      handle.workflowId,
    ]);
    assert.equal(run.rows[0].status, 'failed');
  });
});

describe('validationPeriodWorkflow messages', () => {
  test('extend moves the planned week; an override without a reason is rejected; decideNow decides at once', async () => {
    const taskQueue = uniqueQueue('validation');
    const worker = await newWorker(taskQueue);
    const r = await worker.runUntil(async () => {
      const handle = await start(taskQueue, backtestInput('healthy', { dayLengthSeconds: 2 }));
      const s1 = await waitFor('week 2', async () => {
        const s = await handle.query(statusQuery);
        return s.week >= 2 ? s : undefined;
      });
      assert.equal(s1.lastDecision?.decision, 'CONTINUE');
      assert.equal(s1.plannedWeeks, 4);

      await assert.rejects(
        handle.executeUpdate(overrideDecisionUpdate, { args: [{ decision: 'MIGRATE', reason: '  ' }] }),
        (e: unknown) =>
          e instanceof WorkflowUpdateFailedError && /reason/.test(String((e.cause as Error | undefined)?.message)),
      );
      await assert.rejects(
        handle.executeUpdate(overrideDecisionUpdate, { args: [{ decision: 'MAYBE' as 'STAY', reason: 'why not' }] }),
        WorkflowUpdateFailedError,
      );

      await handle.signal(extendSignal, { reason: '', weeks: 1 });
      await handle.signal(extendSignal, {
        reason: 'holiday traffic is not representative',
        weeks: 1,
        by: 'test-operator',
      });
      const s2 = await waitFor('the extension', async () => {
        const s = await handle.query(statusQuery);
        return s.extensions.length > 0 ? s : undefined;
      });
      assert.equal(s2.plannedWeeks, 5);
      assert.equal(s2.extensions.length, 1, 'the extension without a reason was ignored');

      await handle.signal(decideNowSignal, { reason: 'the board meets today', by: 'test-operator' });
      const result = await handle.result();
      // the stored history (signals, a rejected and no accepted update, the decision) replays deterministically
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, await handle.fetchHistory());
      await recordHistory(
        'validationPeriodWorkflow-messages-first-run',
        env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId),
      );
      await recordHistory('validationPeriodWorkflow-extended-decided-early', handle);
      return result;
    });
    assert.equal(r.forced, true);
    assert.equal(r.incomplete, true);
    assert.equal(r.decision, 'STAY');
    assert.match(r.reasons[0], /decision requested early by test-operator: the board meets today/);
    assert.equal(r.extensions[0].plannedWeeks, 5);
    const d = await decisions(r.runId);
    assert.ok(!d.some((x) => x.key.startsWith('override-')), 'rejected overrides leave no audit row');
    const ext = d.find((x) => x.key.startsWith('extend-'));
    assert.equal(ext?.overridden_by, 'test-operator');
    assert.equal(ext?.override_reason, 'holiday traffic is not representative');
    assert.ok(
      d.some((x) => x.key === 'final'),
      'the final decision is recorded',
    );
  });

  test('overrideDecision with a reason ends the period with the operator decision, audited beside the rules decision', async () => {
    const taskQueue = uniqueQueue('validation');
    const worker = await newWorker(taskQueue);
    const { r, answer } = await worker.runUntil(async () => {
      // a simulated day lasts an hour: the override arrives long before any data
      const handle = await start(taskQueue, backtestInput('healthy', { dayLengthSeconds: 3600 }));
      const answer = await handle.executeUpdate(overrideDecisionUpdate, {
        args: [{ decision: 'MIGRATE', reason: 'capacity plan for Q3', by: 'alice' }],
      });
      return { r: await handle.result(), answer };
    });
    assert.deepEqual(answer, { decision: 'MIGRATE', ruleDecision: 'CONTINUE', week: 1, plannedWeeks: 4 });
    assert.equal(r.decision, 'MIGRATE');
    assert.equal(r.ruleDecision, 'STAY');
    assert.deepEqual(r.override, { decision: 'MIGRATE', reason: 'capacity plan for Q3', by: 'alice' });
    const d = await decisions(r.runId);
    // the override's audit row and the final row are written by separate activities that may
    // run concurrently, so their insertion order is not part of the contract
    assert.deepEqual(d.map((x) => [x.key, x.decision, x.rule_decision, x.overridden_by, x.override_reason]).sort(), [
      ['final', 'MIGRATE', 'STAY', 'alice', 'capacity plan for Q3'],
      ['override-1', 'MIGRATE', 'CONTINUE', 'alice', 'capacity plan for Q3'],
    ]);
    const page = await reportRepo().findById(`${r.runId}-final`);
    assert.match(page?.markdown ?? '', /Overridden by an operator/);
  });
});

describe('validation activities (real Postgres and Prometheus)', () => {
  const runId = validationWorkflowId(uniqueId('acts'));
  let acts: ValidationActivities;
  /** Runs `fn` inside a mock activity context (heartbeats, info), as a worker would. */
  // behind the workers' activity boundary: failures arrive as the workflow sees them
  const inActivity = <T>(fn: () => Promise<T>): Promise<T> => boundaryEnv({ log }).run(fn) as Promise<T>;
  const day2 = {
    runId,
    day: 2,
    dayStart: window.start + 86_400,
    dayEnd: window.start + 2 * 86_400,
    resolutionSeconds: 3600,
    subqueryStepSeconds: 60,
    queryOverrides: queriesFor('healthy'),
  };

  beforeAll(async () => {
    acts = createValidationActivities({
      db: tdb.db,
      prom: client,
      queries: VALIDATION_QUERIES,
      writeReport: createReportActivities({ db: tdb.db, reportsDir }).writeReport,
      log,
      scheduleReevaluation: (req) =>
        ensureReevaluationSchedule(
          { client: env.client, taskQueue: 'validation-reevaluation-test' },
          { ...req, input: req.input },
        ),
    });
    await inActivity(() => acts.startRun({ runId, mode: 'backtest', input: {}, at: Date.now() }));
  });

  test('takeDailySnapshot run twice stores the day once, with the same content', async () => {
    const a = await inActivity(() => acts.takeDailySnapshot(day2));
    const b = await inActivity(() => acts.takeDailySnapshot(day2));
    assert.deepEqual(a, b);
    assert.equal(a.hourly.length, 24);
    assert.ok(a.aggregates.operations !== null && a.aggregates.operations > 0);
    assert.deepEqual(await snapshotDays(runId), [2]);
    const [loaded] = await inActivity(() => acts.loadSnapshots({ runId, fromDay: 1, toDay: 7 }));
    assert.deepEqual(loaded, a);
  });

  test('scheduleReevaluation run twice leaves one quarterly Schedule that starts a live period with the same rules', async () => {
    const req = { runId: `${runId}-stay`, everyDays: 90, input: { weeks: 4, thresholds: { concurrency: 12 } } };
    const first = await inActivity(() => acts.scheduleReevaluation(req));
    const again = await inActivity(() => acts.scheduleReevaluation(req));
    assert.deepEqual([first.created, again.created], [true, false]);
    assert.equal(first.scheduleId, again.scheduleId);
    const handle = env.client.schedule.getHandle(first.scheduleId);
    try {
      const d = await handle.describe();
      assert.equal(d.action.type, 'startWorkflow');
      assert.equal(d.action.type === 'startWorkflow' ? d.action.workflowType : '', 'validationPeriodWorkflow');
      const every = d.spec.intervals?.[0]?.every;
      assert.equal(typeof every === 'number' ? every : Number(every), 90 * 86_400_000);
      const ids: string[] = [];
      for await (const s of env.client.schedule.list()) ids.push(s.scheduleId);
      assert.ok(ids.includes(first.scheduleId), 'listed like `temporal schedule list` shows it');
    } finally {
      await handle.delete();
    }
  });

  test('recordDecision run twice with the same key writes one audit row', async () => {
    const input = { runId, key: 'week-1', week: 1, decision: 'CONTINUE' as const, reasons: ['week 1'], at: Date.now() };
    assert.deepEqual(await inActivity(() => acts.recordDecision(input)), { recorded: true });
    assert.deepEqual(await inActivity(() => acts.recordDecision(input)), { recorded: false });
    assert.equal((await decisions(runId)).length, 1);
  });

  test('Prometheus unreachable is a retryable PromUnavailable; bad PromQL and unknown query names are non-retryable PromBadQuery', async () => {
    const down = createValidationActivities({
      db: tdb.db,
      prom: new PromClient({ url: `http://127.0.0.1:${await freePort()}`, timeoutMs: 2_000 }),
      queries: VALIDATION_QUERIES,
      writeReport: async () => ({ id: 'unused' }),
      log,
      scheduleReevaluation: async () => {
        throw new Error('not used here');
      },
    });
    const failure = async (p: Promise<unknown>): Promise<ApplicationFailure> => {
      const e = await p.then(
        () => null,
        (x: unknown) => x,
      );
      assert.ok(e instanceof ApplicationFailure, `expected an ApplicationFailure, got ${String(e)}`);
      return e;
    };
    const unreachable = await failure(inActivity(() => down.takeDailySnapshot({ ...day2, day: 3 })));
    assert.equal(unreachable.type, 'PromUnavailable');
    assert.equal(unreachable.nonRetryable, false);
    const bad = await failure(
      inActivity(() =>
        acts.takeDailySnapshot({ ...day2, day: 3, queryOverrides: { 'validation.operations': 'sum(rate(' } }),
      ),
    );
    assert.equal(bad.type, 'PromBadQuery');
    assert.equal(bad.nonRetryable, true);
    const unknown = await failure(
      inActivity(() =>
        acts.takeDailySnapshot({ ...day2, day: 3, queryOverrides: { 'validation.no_such_query': 'up' } }),
      ),
    );
    assert.equal(unknown.type, 'PromBadQuery');
    assert.equal(unknown.nonRetryable, true);
    assert.deepEqual(await snapshotDays(runId), [2], 'a failed day is never stored half-empty');
  });
});
