/**
 * Issue 12 fault 4: Prometheus stopped for two analysis intervals while a canary rollout analyses
 * and while a validation period takes its daily snapshots, then started again on its data.
 *
 * Two real Prometheus servers scrape one exporter whose metrics the test drives: the reference is
 * never stopped, the other one is (SIGTERM, then the same binary on the same data directory and
 * port). Each phase runs twice at once over the same data — once against each Prometheus, on a
 * worker (task queue, database) of its own — so the run without the fault is the yardstick, and
 * the verdict is read from the records: workflow results and status, the Postgres rows (flag
 * audit, rollback events, validation snapshots and decisions) and the stored reports. Compressed
 * time as in test/workflows: 1 s scrapes, a canary analysis every 3 s, a validation "day" of 24 s
 * with 4 s "hours". Under `npm run chaos` (about two minutes).
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { Gauge } from 'prom-client';
import { createCanaryActivities } from '../../activities/canary.js';
import { reevaluationScheduleId } from '../../clients/validation.js';
import type { CanaryStage } from '../../lib/canary/analysis.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient } from '../../lib/prom/client.js';
import type { HourlyPoint } from '../../lib/validation/types.js';
import { validationActivities } from '../../workers/phases-validation.js';
import { statusQuery, type CanaryStatus } from '../../workflows/canary-rollout/messages.js';
import { canaryRolloutWorkflow, type CanaryRolloutResult } from '../../workflows/canary-rollout/workflow.js';
import { canaryWorkflowId, validationWorkflowId } from '../../workflows/ids.js';
import { statusQuery as validationStatusQuery } from '../../workflows/validation-period/messages.js';
import {
  validationPeriodWorkflow,
  type ValidationPeriodInput,
  type ValidationPeriodResult,
} from '../../workflows/validation-period/workflow.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueId, uniqueQueue } from '../helpers/temporal.js';
import { testWorker } from '../helpers/worker.js';

const log = createLogger({ level: 'silent' });
// the stopped Prometheus makes activities fail on purpose: their warnings are expected
Runtime.install({ logger: new DefaultLogger('ERROR') });
const say = (m: string): void => void process.stderr.write(`[chaos] ${m}\n`);

const ANALYSIS_INTERVAL_S = 3;
/** "two analysis intervals" */
const OUTAGE_MS = 2 * ANALYSIS_INTERVAL_S * 1000;

/** A real Prometheus that can be stopped and started again on its data directory and port. */
class StoppablePrometheus {
  private current: ChildProcess;
  constructor(private readonly h: PrometheusHandle) {
    this.current = h.child;
  }
  get url(): string {
    return this.h.url;
  }
  async stop(): Promise<void> {
    const c = this.current;
    if (c.exitCode !== null || c.signalCode !== null) return;
    const exited = once(c, 'exit');
    c.kill('SIGTERM');
    await exited;
  }
  /** starts it again; resolves once it answers /-/ready (ms on the wall clock) */
  async start(): Promise<number> {
    this.current = spawn(this.h.child.spawnfile, this.h.child.spawnargs.slice(1), { cwd: this.h.dir, stdio: 'ignore' });
    for (const deadline = Date.now() + 60_000; ;) {
      const ready = await fetch(`${this.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return Date.now();
      if (this.current.exitCode !== null) throw new Error(`prometheus exited with ${this.current.exitCode} on restart`);
      if (Date.now() > deadline) throw new Error('prometheus not ready after a restart');
      await sleep(100);
    }
  }
  async close(): Promise<void> {
    await this.stop();
    await this.h.stop();
  }
}

// ---- the data: one registry the test drives, scraped by both servers every second ------------

const metrics = createMetrics({ defaultMetrics: false });
const canaryGauge = (name: string): Gauge<'scenario'> =>
  new Gauge({ name, help: `${name} (the test sets it)`, labelNames: ['scenario'], registers: [metrics.registry] });
const canaryData = {
  errorRate: canaryGauge('sgc_chaos_canary_error_rate'),
  operations: canaryGauge('sgc_chaos_canary_operations'),
  p95: canaryGauge('sgc_chaos_canary_p95_seconds'),
  consistency: canaryGauge('sgc_chaos_canary_consistency'),
};
const SCENARIOS = ['healthy', 'breach'] as const;
type Scenario = (typeof SCENARIOS)[number];

/** A rollout's PromQL: the scenario's gauges over the analysis window (no data while nothing was scraped). */
function canaryQueries(s: Scenario): Record<string, string> {
  const over = (metric: string): string => `max(max_over_time(${metric}{scenario="${s}"}[$window]))`;
  return {
    'canary.error_rate': over('sgc_chaos_canary_error_rate'),
    'canary.operations': over('sgc_chaos_canary_operations'),
    'canary.p95_pooled_seconds': over('sgc_chaos_canary_p95_seconds'),
    'canary.p95_simple_seconds': over('sgc_chaos_canary_p95_seconds'),
    'canary.consistency': over('sgc_chaos_canary_consistency'),
  };
}

/**
 * Approach 1 serving one push a second for the validation period: operations, latency, sandbox
 * cost, in-flight and headroom gauges, all comfortably below the seed's triggers.
 */
function approachOneLoad(): NodeJS.Timeout {
  const labels = { operation: 'push', approach: 'simple', outcome: 'ok' } as const;
  metrics.inFlight.set({ approach: 'simple' }, 3);
  metrics.sandboxesRunning.set({ provider: 'local' }, 3);
  metrics.sandboxLimit.set({ provider: 'local' }, 20);
  const t = setInterval(() => {
    metrics.operations.inc({ ...labels, error_category: 'none' });
    metrics.operationDuration.observe(labels, 0.8);
    metrics.sandboxCost.inc({ approach: 'simple' }, 0.0001);
  }, 1_000);
  t.unref();
  return t;
}

// ---- the two sides: reference (never stopped) and stopped ------------------------------------

type SideName = 'reference' | 'stopped';
interface Side {
  name: SideName;
  scenario: Scenario;
  prom: { url: string };
  db: TestDb;
  taskQueue: string;
  worker: Worker;
  running: Promise<void>;
}

let env: TestWorkflowEnvironment;
let exporter: Server;
let reference: StoppablePrometheus;
let stopped: StoppablePrometheus;
let load: NodeJS.Timeout;
const sides: Side[] = [];
const schedules: string[] = [];
let reportsDir: string;

const side = (name: SideName, scenario: Scenario): Side =>
  sides.find((s) => s.name === name && s.scenario === scenario)!;

beforeAll(async () => {
  exporter = createServer((_req, res) => {
    void metrics.registry.metrics().then((body) => res.end(body));
  });
  await new Promise<void>((r) => exporter.listen(0, '127.0.0.1', () => r()));
  const target = `127.0.0.1:${(exporter.address() as { port: number }).port}`;
  const scrape = { scrape: [{ job: 'phases', targets: [target], interval: '1s' }], scrapeInterval: '1s' };
  let ref: PrometheusHandle, other: PrometheusHandle;
  [env, ref, other] = await Promise.all([testEnv(), startPrometheus(scrape), startPrometheus(scrape)]);
  reference = new StoppablePrometheus(ref);
  stopped = new StoppablePrometheus(other);
  reportsDir = mkdtempSync(join(tmpdir(), 'sgc-chaos-reports-'));
  for (const s of SCENARIOS) {
    canaryData.errorRate.set({ scenario: s }, 0.01);
    canaryData.operations.set({ scenario: s }, 100);
    canaryData.p95.set({ scenario: s }, 0.2);
    canaryData.consistency.set({ scenario: s }, 1);
  }
  load = approachOneLoad();
  // one worker per side and scenario, each with a database of its own: a rollback's kill switch
  // latches the flags of its database only
  for (const scenario of SCENARIOS)
    for (const [name, p] of [
      ['reference', reference],
      ['stopped', stopped],
    ] as const) {
      const db = await freshDb(`chaos_prom_${name}`);
      const taskQueue = uniqueQueue(`chaos-prom-${name}-${scenario}`);
      const prom = new PromClient({ url: p.url, timeoutMs: 5_000 });
      const activities = {
        ...createCanaryActivities({ flags: new FlagStore(db.db), prom, queries: DEFAULT_QUERIES, db: db.db, log }),
        ...validationActivities({
          db: db.db,
          prom,
          queries: DEFAULT_QUERIES,
          reportsDir,
          log,
          temporal: { client: env.client, taskQueue },
        }),
      };
      const worker = await testWorker(env, { taskQueue, activities, log });
      sides.push({ name, scenario, prom: p, db, taskQueue, worker, running: worker.run() });
    }
  // both servers hold a few scrapes before anything is analysed
  await sleep(3_000);
}, 180_000);

afterAll(async () => {
  clearInterval(load);
  for (const s of sides) s.worker.shutdown();
  await Promise.all(sides.map((s) => s.running.catch(() => undefined)));
  for (const id of schedules)
    await env?.client.schedule
      .getHandle(id)
      .delete()
      .catch(() => undefined);
  await Promise.all([reference?.close(), stopped?.close()]);
  await new Promise((r) => exporter?.close(r));
  await Promise.all(sides.map((s) => s.db.drop()));
  await env?.teardown();
  if (reportsDir) rmSync(reportsDir, { recursive: true, force: true });
});

/** Polls `probe` until it answers something other than undefined. */
async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const STAGES: CanaryStage[] = [
  // long enough that the outage falls inside the hold, however slow the machine
  { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 45 },
  { name: 'done', percent: 10, shadow: false, holdSeconds: 0 },
];

describe('chaos: Prometheus stopped for two analysis intervals during a phase', () => {
  test('a canary rollout neither advances nor rolls back on the missing analyses, resumes once Prometheus is back, and ends as the run without the fault', async () => {
    const handles = new Map<Side, WorkflowHandle<typeof canaryRolloutWorkflow>>();
    for (const s of sides) {
      const rolloutId = uniqueId(`prom-${s.name}-${s.scenario}`).slice(0, 40);
      handles.set(
        s,
        await env.client.workflow.start(canaryRolloutWorkflow, {
          taskQueue: s.taskQueue,
          workflowId: canaryWorkflowId(rolloutId),
          args: [
            {
              rolloutId,
              stages: STAGES,
              analysisIntervalSeconds: ANALYSIS_INTERVAL_S,
              autoAdvance: true,
              queries: canaryQueries(s.scenario),
            },
          ],
          workflowExecutionTimeout: '4 minutes',
        }),
      );
    }
    const h = (name: SideName, scenario: Scenario): WorkflowHandle<typeof canaryRolloutWorkflow> =>
      handles.get(side(name, scenario))!;
    // every rollout analyses with data before the fault
    for (const hd of handles.values())
      await waitFor('two healthy analyses', async () => {
        const st = await hd.query(statusQuery);
        return st.lastAnalyses.filter((a) => a.status === 'ok').length >= 2 ? st : undefined;
      });

    // the breach scenario's approach 2 starts failing as Prometheus goes away
    canaryData.errorRate.set({ scenario: 'breach' }, 0.09);
    const stoppedAt = Date.now();
    await stopped.stop();
    say(`prometheus-phases canary: stopped ${stoppedAt}`);
    // while it is away: the stopped side's rollouts stay in their stage, paused, not rolled back,
    // and hold no time
    const seen: CanaryStatus[] = [];
    while (Date.now() - stoppedAt < OUTAGE_MS) {
      seen.push(await h('stopped', 'healthy').query(statusQuery));
      const b = await h('stopped', 'breach').query(statusQuery);
      assert.equal(b.rollback, null, 'no rollback on missing data');
      await sleep(250);
    }
    seen.push(await h('stopped', 'healthy').query(statusQuery));
    const readyAt = await stopped.start();
    say(`prometheus-phases canary: ready again after ${((readyAt - stoppedAt) / 1000).toFixed(1)} s`);
    assert.deepEqual(new Set(seen.map((x) => x.stage.name)), new Set(['canary-10']), 'no advance on missing data');
    const paused = seen.filter((x) => x.status === 'paused');
    assert.ok(paused.length > 0, 'paused while Prometheus was away');
    assert.equal(paused.at(-1)!.paused?.by, 'inconclusive');
    assert.equal(seen.at(-1)!.status, 'paused');
    assert.deepEqual(
      new Set(paused.map((x) => x.stage.heldSeconds)),
      new Set([paused[0]!.stage.heldSeconds]),
      'no hold time while Prometheus was away',
    );

    const results = new Map<Side, CanaryRolloutResult>();
    for (const [s, hd] of handles) results.set(s, await hd.result());
    const r = (name: SideName, scenario: Scenario): CanaryRolloutResult => results.get(side(name, scenario))!;
    for (const s of sides)
      say(
        `prometheus-phases canary ${s.name}/${s.scenario}: ${r(s.name, s.scenario).outcome} at ${r(s.name, s.scenario).stage}, ` +
          `${r(s.name, s.scenario).analyses} analyses, gaps ${JSON.stringify(r(s.name, s.scenario).dataGaps)}`,
      );

    // the same decisions as without the fault
    for (const scenario of SCENARIOS) {
      const [ref, got] = [r('reference', scenario), r('stopped', scenario)];
      assert.deepEqual(
        [got.outcome, got.stage, got.percent, got.rollback?.source ?? null, got.rollback?.trigger ?? null],
        [ref.outcome, ref.stage, ref.percent, ref.rollback?.source ?? null, ref.rollback?.trigger ?? null],
        `${scenario}: the stopped side decided as the reference`,
      );
      assert.deepEqual(ref.dataGaps, [], `${scenario}: the reference never missed an analysis`);
      // the missed analyses are recorded as one gap, closed once Prometheus answered again
      const gaps = got.dataGaps ?? [];
      assert.equal(gaps.length, 1, `${scenario}: ${JSON.stringify(gaps)}`);
      const gap = gaps[0]!;
      assert.ok(
        gap.analyses >= 2,
        `${scenario}: ${gap.analyses} analyses without a judgement in a ${OUTAGE_MS} ms outage`,
      );
      assert.match(gap.reason, /PromUnavailable/);
      assert.ok(Date.parse(gap.since) >= stoppedAt - 1_000, `${scenario}: gap since ${gap.since}`);
      assert.ok(gap.until !== null && Date.parse(gap.until) >= readyAt, `${scenario}: gap until ${gap.until}`);
    }
    assert.equal(r('reference', 'healthy').outcome, 'completed');
    assert.equal(r('stopped', 'healthy').dataGaps![0]!.resumed, true, 'the gap’s pause lifted on its own');
    assert.equal(r('reference', 'breach').outcome, 'rolled_back');
    assert.equal(r('reference', 'breach').rollback?.trigger, 'error_rate');
    // the stopped side rolled back on data it read after the restart, not on the gap
    assert.ok(Date.parse(r('stopped', 'breach').rollback!.requestedAt) >= readyAt);

    // the records: the same flag changes, each once; a rollback event only where the data breached
    for (const s of sides) {
      const { rows } = await s.db.db.query<{ change_id: string; n: string }>(
        `SELECT change_id, count(*) AS n FROM flag_audit WHERE change_id LIKE 'canary/%' GROUP BY change_id ORDER BY min(id)`,
      );
      const stages = rows.map((x) => x.change_id.replace(/^canary\/[^/]+\/[^/]+\//, ''));
      const counts = new Set(rows.filter((x) => !x.change_id.endsWith('/rollback')).map((x) => x.n));
      assert.ok(counts.size <= 1, `${s.name}/${s.scenario}: one audit row per flag per change ${JSON.stringify(rows)}`);
      const events = await s.db.db.query<{ source: string }>('SELECT source FROM rollback_events');
      if (s.scenario === 'healthy') {
        assert.deepEqual(stages, ['stage-0-canary-10', 'stage-1-done'], `${s.name}: ${JSON.stringify(rows)}`);
        assert.deepEqual(events.rows, []);
      } else {
        assert.deepEqual(stages, ['stage-0-canary-10', 'rollback'], `${s.name}: ${JSON.stringify(rows)}`);
        assert.deepEqual(
          events.rows.map((x) => x.source),
          ['auto'],
        );
      }
    }
  });

  test('a validation period records the snapshots Prometheus missed as reported gaps — no value made up, no row twice — and still decides', async () => {
    const DAY_S = 24;
    const RES_S = 4;
    const input: ValidationPeriodInput = {
      weeks: 2,
      minWeeks: 2,
      maxWeeks: 2,
      dayLengthSeconds: DAY_S,
      settleSeconds: 2,
      config: { daysPerWeek: 1, resolutionSeconds: RES_S, subqueryStepSeconds: 1 },
    };
    // both periods start on the same "hour": day 1 starts at the next multiple of RES_S
    await sleep(RES_S * 1000 - (Date.now() % (RES_S * 1000)) + 200);
    const runs = await Promise.all(
      (['reference', 'stopped'] as const).map(async (name) => {
        const s = side(name, 'healthy');
        const id = validationWorkflowId(uniqueId(`prom-${name}`));
        schedules.push(reevaluationScheduleId(id));
        return {
          s,
          h: await env.client.workflow.start(validationPeriodWorkflow, {
            taskQueue: s.taskQueue,
            workflowId: id,
            args: [input],
            workflowExecutionTimeout: '4 minutes',
          }),
        };
      }),
    );
    const [ref, got] = runs;
    // (the reference may start an "hour" later on a busy machine: it only has to see every day whole)
    const periodStart = await waitFor(
      'the period start',
      async () => (await got!.h.query(validationStatusQuery)).periodStart,
    );
    // stop Prometheus 4 s before day 1 ends, over the day's snapshot (due 2 s after it ends)
    const stopAtMs = (periodStart + DAY_S - RES_S) * 1000;
    await sleep(Math.max(0, stopAtMs - Date.now()));
    const stoppedAt = Date.now();
    await stopped.stop();
    await waitFor(
      'the day-1 snapshot due while Prometheus is away',
      async () => ((await got!.h.query(validationStatusQuery)).phase === 'collecting' ? true : undefined),
      20_000,
    );
    await sleep(Math.max(0, stoppedAt + 2 * RES_S * 1000 + 2_000 - Date.now()));
    assert.deepEqual(
      await snapshotDays(got!.s.db, got!.h.workflowId),
      [],
      'no snapshot stored while Prometheus is away',
    );
    const readyAt = await stopped.start();
    say(`prometheus-phases validation: stopped ${((readyAt - stoppedAt) / 1000).toFixed(1)} s over the day-1 snapshot`);
    const [a, b] = await Promise.all([ref!.h.result(), got!.h.result()]);
    say(`prometheus-phases validation reference: ${describeRun(a)}`);
    say(`prometheus-phases validation stopped:   ${describeRun(b)}`);

    // both decide at the planned week, the same decision; only the stopped side's is incomplete
    assert.equal(a.week, 2);
    assert.equal(b.week, 2);
    assert.equal(b.decision, a.decision);
    assert.equal(a.incomplete, false, `the reference had every day: ${a.reasons.join(' | ')}`);
    assert.equal(b.incomplete, true);
    assert.ok(
      b.reasons.some((x) => /missing data for day/.test(x) || /missing/.test(x)),
      `the gap is named in the reasons: ${b.reasons.join(' | ')}`,
    );

    // one row per day, each once; the stopped side's day 1 was taken after Prometheus came back
    for (const { s, h } of runs) assert.deepEqual(await snapshotDays(s.db, h.workflowId), [1, 2]);
    const takenAt = await s1TakenAt(got!.s.db, got!.h.workflowId);
    assert.ok(takenAt >= readyAt - 1_000, 'the day-1 snapshot was retried until Prometheus answered, not skipped');
    for (const { s, h } of runs) {
      const { rows } = await s.db.db.query<{ key: string; n: string }>(
        'SELECT key, count(*) AS n FROM validation_decisions WHERE run_id = $1 GROUP BY key ORDER BY key',
        [h.workflowId],
      );
      assert.deepEqual(
        rows.map((x) => [x.key, Number(x.n)]),
        [
          ['final', 1],
          ['week-1', 1],
          ['week-2', 1],
        ],
      );
    }

    // no value made up: every point whose whole window fell in the outage is null in the stopped
    // side's snapshots (the reference had data all along: complete); the gap is in the rows
    const outage = { from: stoppedAt / 1000, to: readyAt / 1000 };
    const gotPoints = await points(got!.s.db, got!.h.workflowId);
    const inOutage = gotPoints.filter((p) => p.t - RES_S >= outage.from + 1 && p.t <= outage.to - 1);
    say(
      `prometheus-phases validation: points without data at +${JSON.stringify(gotPoints.filter((p) => p.opsPerMin === null).map((p) => p.t - periodStart))} s, ` +
        `outage +${(outage.from - periodStart).toFixed(1)}..+${(outage.to - periodStart).toFixed(1)} s`,
    );
    assert.ok(inOutage.length >= 1, 'the outage covered at least one whole "hour"');
    for (const p of inOutage) {
      const fields = Object.entries(p).filter(([k, v]) => k !== 't' && v !== null);
      assert.deepEqual(fields, [], `values at +${p.t - periodStart} s, whose whole window fell in the outage`);
    }

    // reported as a gap: the final report says the data is incomplete and which days
    const { rows: reports } = await got!.s.db.db.query<{ markdown: string }>(
      'SELECT markdown FROM reports WHERE id = $1',
      [`${got!.h.workflowId}-final`],
    );
    assert.match(reports[0]?.markdown ?? '', /\*\*Data incomplete\.\*\*/);
    assert.match(reports[0]?.markdown ?? '', /missing data/);
  });
});

function describeRun(r: ValidationPeriodResult): string {
  return JSON.stringify({
    decision: r.decision,
    week: r.week,
    days: r.days,
    forced: r.forced,
    incomplete: r.incomplete,
    reasons: r.reasons,
  });
}

async function snapshotDays(db: TestDb, runId: string): Promise<number[]> {
  const { rows } = await db.db.query<{ day: number }>(
    'SELECT day FROM validation_snapshots WHERE run_id = $1 ORDER BY day',
    [runId],
  );
  return rows.map((x) => x.day);
}

async function s1TakenAt(db: TestDb, runId: string): Promise<number> {
  const { rows } = await db.db.query<{ taken_at: Date }>(
    'SELECT taken_at FROM validation_snapshots WHERE run_id = $1 AND day = 1',
    [runId],
  );
  return rows[0]!.taken_at.getTime();
}

/** Every hourly point of a run's snapshots, in time order. */
async function points(db: TestDb, runId: string): Promise<HourlyPoint[]> {
  const { rows } = await db.db.query<{ hourly: HourlyPoint[] }>(
    'SELECT hourly FROM validation_snapshots WHERE run_id = $1 ORDER BY day',
    [runId],
  );
  return rows.flatMap((x) => x.hourly);
}
