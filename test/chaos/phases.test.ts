/**
 * Issue 12, fault 2 mid-phase: the worker (the real workers/main.ts, an OS process of its own)
 * SIGKILLed in the middle of each phase and restarted, and the phase checked from its records
 * against a fault-free run of the same phase over the same data, run in the same test:
 *   - canary rollout: killed while an analysis activity is inside a Prometheus query;
 *   - production baseline: a window measured and stored, its completion cut off on the way to
 *     Temporal, the worker killed before the next window — the retry must not add a row;
 *   - validation period: the same during a daily snapshot.
 * The records are the workflow results, the Postgres rows (flag audit, samples, snapshots,
 * decisions) and the baseline's CSV; never logs. test/chaos/phase-stack.ts has the stack. Runs
 * under `npm run chaos` (minutes per phase: the kill is noticed by Temporal's activity timeouts).
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { WorkflowHandle } from '@temporalio/client';
import pg from 'pg';
import { baselineInputFromConfig } from '../../clients/baseline.js';
import { parseSamples } from '../../lib/baseline/csv.js';
import { parseConfig } from '../../lib/config/index.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { statusQuery as canaryStatusQuery } from '../../workflows/canary-rollout/messages.js';
import { canaryRolloutWorkflow, type CanaryRolloutResult } from '../../workflows/canary-rollout/workflow.js';
import { artifactRunId, canaryWorkflowId, validationWorkflowId } from '../../workflows/ids.js';
import {
  productionBaselineWorkflow,
  type ProductionBaselineResult,
} from '../../workflows/production-baseline/workflow.js';
import { validationPeriodWorkflow, type ValidationPeriodResult } from '../../workflows/validation-period/workflow.js';
import { uniqueId } from '../helpers/temporal.js';
import { HEALTHY_CANARY_QUERIES as HEALTHY } from '../helpers/profiles.js';
import { BACKFILL_WEEKS, DAYS_PER_WEEK, startPhaseStack, until, type PhaseStack } from './phase-stack.js';

const say = (m: string): void => void process.stderr.write(`[chaos] ${m}\n`);
/** every Prometheus answer to the worker this late: a query is wide enough to kill the worker inside it */
const PROM_DELAY_MS = 400;
let s: PhaseStack;

beforeAll(async () => {
  s = await startPhaseStack({ delayMs: PROM_DELAY_MS, say });
}, 300_000);

afterAll(async () => {
  await s?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const secondsSince = (t0: number): number => Number(((performance.now() - t0) / 1000).toFixed(1));

/** Activity attempts started in a run's history: `name` → the attempt numbers seen. */
async function attempts(h: WorkflowHandle, name: string): Promise<number[]> {
  const history = await h.fetchHistory();
  const scheduled = new Map<string, string>();
  const out: number[] = [];
  for (const e of history.events ?? []) {
    const sch = e.activityTaskScheduledEventAttributes;
    if (sch) scheduled.set(String(e.eventId), sch.activityType?.name ?? '');
    const st = e.activityTaskStartedEventAttributes;
    if (st && scheduled.get(String(st.scheduledEventId)) === name) out.push(st.attempt ?? 1);
  }
  return out;
}

/** The activity types the server holds as started right now. */
async function pendingActivities(h: WorkflowHandle): Promise<{ type: string; attempt: number }[]> {
  const d = await h.describe();
  return (d.raw.pendingActivities ?? []).map((a) => ({ type: a.activityType?.name ?? '', attempt: a.attempt ?? 1 }));
}

/** What one mid-phase kill looked like, for the report. */
interface KillNote {
  /** the activity the server held as running when the worker died */
  killedIn: string;
  /** kill → the phase records its next result (the interrupted step done again or reused) */
  recoveryS: number;
  [k: string]: unknown;
}

// ---------------------------------------------------------------------------------------------
// canary rollout

const ANALYSIS_QUERIES = new Set(
  ['canary.error_rate', 'canary.operations', 'canary.p95_pooled_seconds', 'canary.p95_simple_seconds'].map(
    (k) => HEALTHY[k]!,
  ),
);

interface CanaryRecord {
  result: CanaryRolloutResult;
  goNoGo: [string, string | null, string, string][];
  analysisStatuses: string[];
  /** flag_audit rows of the rollout: change (its stage; the prefix names the rollout), operation, old → new */
  audit: string[];
  flags: string[];
  note: KillNote | null;
}

async function resetFlags(): Promise<void> {
  await new FlagStore(s.tdb.db).setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 0, shadow: false })),
    { actor: 'chaos test', reason: 'reset between rollouts' },
  );
}

async function runCanary(kill: boolean): Promise<CanaryRecord> {
  await resetFlags();
  const rolloutId = uniqueId('chaos').slice(0, 40);
  const h = await s.env.client.workflow.start(canaryRolloutWorkflow, {
    taskQueue: s.queues.phases,
    workflowId: canaryWorkflowId(rolloutId),
    args: [
      {
        rolloutId,
        analysisIntervalSeconds: 1,
        queries: HEALTHY,
        autoAdvance: true,
        stages: [
          { name: 'shadow', mode: 'shadow', percent: 10, shadow: true, holdSeconds: 4 },
          { name: 'dual-write', mode: 'dual_write', percent: 50, shadow: true, holdSeconds: 4 },
        ],
      },
    ],
  });
  let note: KillNote | null = null;
  if (kill) {
    // in the first stage, after an analysis has been recorded: the next one is killed mid-query
    await until(
      'a first analysis',
      async () => (await h.query(canaryStatusQuery)).analyses.total >= 1 || undefined,
      60_000,
    );
    await s.slowProm.next((q) => ANALYSIS_QUERIES.has(q), 30_000);
    const before = (await h.query(canaryStatusQuery)).analyses.total;
    const t0 = performance.now();
    await s.kill();
    const pending = await pendingActivities(h);
    const running = pending.find((a) => a.type === 'analyse');
    assert.ok(running, `an analysis was running when the worker died: ${JSON.stringify(pending)}`);
    const runId = (await h.describe()).runId;
    say(`canary: worker killed inside an analysis (attempt ${running.attempt}), ${before} analyses recorded`);
    // the next stage's flag change will wait behind this lock (taken while nothing runs), so the
    // worker can be cut off from Temporal inside it
    const blocker = new pg.Client({ connectionString: s.tdb.url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT operation FROM flags FOR UPDATE');
    await sleep(1_000);
    await s.restart();
    const restartedS = secondsSince(t0);
    await until(
      'the interrupted analysis recorded',
      async () => (await h.query(canaryStatusQuery)).analyses.total > before || undefined,
      120_000,
    );
    note = { killedIn: 'analyse', recoveryS: secondsSince(t0), restartedS };
    const run = s.env.client.workflow.getHandle(h.workflowId, runId);
    const tried = await until(
      'the analysis retried',
      async () => {
        const a = await attempts(run, 'analyse');
        return a.some((n) => n >= 2) ? a : undefined;
      },
      60_000,
    );
    note.analyseAttempts = Math.max(...tried);

    // second kill: the dual-write stage's flag change stored, its completion cut off from Temporal
    await until(
      'the dual-write flag change waiting on the lock',
      async () => {
        const { rows } = await s.tdb.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE '%flags%'`,
        );
        return rows[0]!.n > 0 || undefined;
      },
      60_000,
    );
    const run2 = s.env.client.workflow.getHandle(h.workflowId, (await h.describe()).runId);
    const applying = await pendingActivities(run2);
    assert.ok(
      applying.some((a) => a.type === 'applyStageFlags'),
      `the stage's flag change was running: ${JSON.stringify(applying)}`,
    );
    s.temporalLink.drop();
    await blocker.query('COMMIT');
    await blocker.end();
    await until(
      'the dual-write flag change stored while cut off',
      async () => {
        const { rows } = await s.tdb.db.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM flag_audit WHERE change_id LIKE $1`,
          [`canary/${rolloutId}/%/stage-1-dual-write`],
        );
        return rows[0]!.n === FLAG_OPERATIONS.length || undefined;
      },
      30_000,
    );
    const t1 = performance.now();
    await s.kill();
    say('canary: dual-write flags stored, their completion cut off, worker killed');
    await sleep(1_000);
    await s.restart();
    await until(
      'the dual-write stage applied',
      async () => {
        const st = await h.query(canaryStatusQuery);
        return (
          (st.stage.name === 'dual-write' && st.stage.startedAt !== null) || st.status === 'completed' || undefined
        );
      },
      120_000,
    );
    note.flagChangeRecoveryS = secondsSince(t1);
    note.applyAttempts = Math.max(...(await attempts(run2, 'applyStageFlags')));
  }
  const result = await h.result();
  const status = await h.query(canaryStatusQuery);
  const prefix = `canary/${rolloutId}/`;
  const { rows: audit } = await s.tdb.db.query<{ change_id: string; operation: string; old: unknown; new: unknown }>(
    `SELECT change_id, operation, old, new FROM flag_audit WHERE change_id LIKE $1 ORDER BY id`,
    [`${prefix}%`],
  );
  const { rows: flags } = await s.tdb.db.query<{ operation: string; percent: number; shadow: boolean }>(
    'SELECT operation, percent, shadow FROM flags ORDER BY operation',
  );
  return {
    result,
    goNoGo: (status.goNoGo ?? []).map((g) => [g.stage, g.next, g.decision, g.by]),
    analysisStatuses: [...new Set(status.lastAnalyses.map((a) => a.status))],
    audit: audit.map(
      (r) => `${r.change_id.split('/').at(-1)} ${r.operation} ${JSON.stringify(r.old)} → ${JSON.stringify(r.new)}`,
    ),
    flags: flags.map((f) => `${f.operation}=${f.percent}${f.shadow ? '+shadow' : ''}`),
    note,
  };
}

// ---------------------------------------------------------------------------------------------
// production baseline

const SAMPLES = 5;
const INTERVAL_S = 3;

interface BaselineRecord {
  result: ProductionBaselineResult;
  /** baseline_samples rows: phase, sample_num, how many rows */
  rows: { phase: string; sample_num: number; n: number }[];
  csv: ReturnType<typeof parseSamples>;
  /** seconds from one window's end to the next's end */
  spacing: number[];
  /** the production report's line naming the unmeasured pauses between windows, if any */
  gapLine: string | null;
  note: KillNote | null;
}

async function sampleCount(runId: string, sampleNum: number): Promise<number> {
  const { rows } = await s.tdb.db.query<{ n: string }>(
    `SELECT count(*) AS n FROM baseline_samples WHERE run_id = $1 AND phase = 'baseline' AND sample_num = $2`,
    [runId, sampleNum],
  );
  return Number(rows[0]!.n);
}

async function runBaseline(kill: boolean): Promise<BaselineRecord> {
  const workflowId = uniqueId('chaos-baseline');
  const runId = artifactRunId(workflowId);
  const input = baselineInputFromConfig(parseConfig({}), {
    target: {
      baseUrl: s.target.url,
      tokenRef: 'SGC_CHAOS_LOAD_TOKEN',
      mix: { kind: 'git', repoUrl: 'https://git.example/repo.git', workspaces: 2 },
    },
    job: 'sgc-target',
    warmup: { rps: 10, connections: 2, durationSeconds: 0 },
    baseline: { rps: 20, connections: 4, samples: SAMPLES, intervalSeconds: INTERVAL_S },
    day2: { enabled: false },
    fallbackScenario: { enabled: false },
  });
  const h = await s.env.client.workflow.start(productionBaselineWorkflow, {
    taskQueue: s.queues.phases,
    workflowId,
    args: [input],
  });
  let note: KillNote | null = null;
  if (kill) {
    // window 2 is running once sample 1 is stored; let it measure, then cut the worker off from
    // Temporal: the window ends and stores its row, but its completion never reaches the server
    await until('sample 1 stored', async () => (await sampleCount(runId, 1)) === 1 || undefined, 120_000);
    await sleep(1_000);
    s.temporalLink.drop();
    await until('sample 2 stored while cut off', async () => (await sampleCount(runId, 2)) === 1 || undefined, 60_000);
    // between windows: sample 2 is stored, sample 3 has not started (the workflow never heard of 2)
    const t0 = performance.now();
    await s.kill();
    const pending = await pendingActivities(h);
    assert.ok(
      pending.some((a) => a.type === 'runLoadWindow'),
      `window 2 was still running for the server: ${JSON.stringify(pending)}`,
    );
    say('baseline: sample 2 stored, its completion cut off, worker killed');
    await sleep(1_000);
    await s.restart();
    const restartedS = secondsSince(t0);
    await until('sample 3 stored', async () => (await sampleCount(runId, 3)) >= 1 || undefined, 120_000);
    // sample 3 is one window long: recovery is until window 3 started
    note = { killedIn: 'runLoadWindow', recoveryS: Number((secondsSince(t0) - INTERVAL_S).toFixed(1)), restartedS };
    note.windowAttempts = Math.max(...(await attempts(h, 'runLoadWindow')));
  }
  const result = await h.result();
  const { rows } = await s.tdb.db.query<{ phase: string; sample_num: number; n: string }>(
    `SELECT phase, sample_num, count(*) AS n FROM baseline_samples WHERE run_id = $1
      GROUP BY phase, sample_num ORDER BY phase, sample_num`,
    [runId],
  );
  const csv = parseSamples(await readFile(join(s.reportsDir, runId, 'metrics.csv'), 'utf8'));
  const spacing = csv.slice(1).map((r, i) => Number((r.timestamp - csv[i]!.timestamp).toFixed(1)));
  const report = await readFile(join(s.reportsDir, runId, `${runId}-production.md`), 'utf8');
  const gapLine = report.split('\n').find((l) => l.includes('Gaps between windows')) ?? null;
  return { result, rows: rows.map((r) => ({ ...r, n: Number(r.n) })), csv, spacing, gapLine, note };
}

// ---------------------------------------------------------------------------------------------
// validation period

interface ValidationRecord {
  result: ValidationPeriodResult;
  snapshots: { day: number; n: number; aggregates: unknown; hourly: unknown }[];
  decisions: unknown[];
  note: KillNote | null;
}

async function snapshotCount(runId: string, day: number): Promise<number> {
  const { rows } = await s.tdb.db.query<{ n: string }>(
    'SELECT count(*) AS n FROM validation_snapshots WHERE run_id = $1 AND day = $2',
    [runId, day],
  );
  return Number(rows[0]!.n);
}

async function runValidation(kill: boolean): Promise<ValidationRecord> {
  const runId = validationWorkflowId(uniqueId('chaos'));
  const h = await s.env.client.workflow.start(validationPeriodWorkflow, {
    taskQueue: s.queues.phases,
    workflowId: runId,
    args: [{ backtest: s.history, dayLengthSeconds: 0, config: { daysPerWeek: DAYS_PER_WEEK } }],
  });
  let note: KillNote | null = null;
  if (kill) {
    // day 2's snapshot is under way once day 1 is stored and a query arrives; cut the worker off
    // from Temporal inside it, let it store the day, then kill the worker
    await until('day 1 stored', async () => (await snapshotCount(runId, 1)) === 1 || undefined, 120_000);
    await s.slowProm.next(() => true, 30_000);
    s.temporalLink.drop();
    // the run holding day 2 (the period continues as new at each week's end)
    const run = s.env.client.workflow.getHandle(h.workflowId, (await h.describe()).runId);
    const pending = await pendingActivities(run);
    assert.ok(
      pending.some((a) => a.type === 'takeDailySnapshot'),
      `a snapshot was running when the worker was cut off: ${JSON.stringify(pending)}`,
    );
    await until('day 2 stored while cut off', async () => (await snapshotCount(runId, 2)) === 1 || undefined, 60_000);
    const t0 = performance.now();
    await s.kill();
    say('validation: day 2 stored, its completion cut off, worker killed');
    await sleep(1_000);
    await s.restart();
    const restartedS = secondsSince(t0);
    await until('day 3 stored', async () => (await snapshotCount(runId, 3)) >= 1 || undefined, 180_000);
    note = { killedIn: 'takeDailySnapshot', recoveryS: secondsSince(t0), restartedS };
    note.snapshotAttempts = Math.max(...(await attempts(run, 'takeDailySnapshot')));
  }
  const result = await h.result();
  const { rows: snaps } = await s.tdb.db.query<{ day: number; n: string; aggregates: unknown; hourly: unknown }>(
    `SELECT day, count(*) OVER (PARTITION BY day) AS n, aggregates, hourly
       FROM validation_snapshots WHERE run_id = $1 ORDER BY day`,
    [runId],
  );
  const { rows: decisions } = await s.tdb.db.query(
    `SELECT key, week, decision, rule_decision, reasons, forced, incomplete
       FROM validation_decisions WHERE run_id = $1 ORDER BY id`,
    [runId],
  );
  return { result, snapshots: snaps.map((r) => ({ ...r, n: Number(r.n) })), decisions, note };
}

describe('chaos: the worker SIGKILLed mid-phase and restarted', () => {
  test('canary rollout: killed during an analysis and after a stage flag change, the rollout ends with the same stage decisions, final flags and no duplicate flag change', async () => {
    const clean = await runCanary(false);
    const faulted = await runCanary(true);
    say(
      `canary: ${JSON.stringify(faulted.note)}; clean ${clean.result.analyses} analyses, faulted ${faulted.result.analyses}`,
    );
    assert.equal(faulted.result.outcome, 'completed');
    assert.deepEqual(
      { ...faulted.result, analyses: 0, rolloutId: '' },
      { ...clean.result, analyses: 0, rolloutId: '' },
      'same outcome, stage, percent and runs',
    );
    assert.deepEqual(faulted.goNoGo, clean.goNoGo, 'same go/no-go per stage');
    assert.deepEqual(faulted.analysisStatuses, ['ok'], 'the interrupted analysis was retried, not left inconclusive');
    assert.deepEqual(clean.analysisStatuses, ['ok']);
    // one audited change per stage and flag, the same as without the fault
    assert.equal(
      new Set(faulted.audit).size,
      faulted.audit.length,
      `duplicate flag changes: ${faulted.audit.join('\n')}`,
    );
    assert.deepEqual(faulted.audit, clean.audit);
    assert.equal(faulted.audit.length, 2 * FLAG_OPERATIONS.length);
    assert.deepEqual(faulted.flags, clean.flags);
    assert.ok(Number(faulted.note!.analyseAttempts) >= 2, 'the killed analysis was attempted again');
    assert.ok(Number(faulted.note!.applyAttempts) >= 2, 'the cut-off flag change was attempted again');
    await resetFlags();
  }, 600_000);

  test('production baseline: killed between sampling windows, the CSV has every window once, in order, and the same verdict', async () => {
    const clean = await runBaseline(false);
    const faulted = await runBaseline(true);
    say(
      `baseline: ${JSON.stringify(faulted.note)}; verdict clean ${clean.result.decision}, faulted ${faulted.result.decision}; window spacing clean ${clean.spacing.join(' ')} s, faulted ${faulted.spacing.join(' ')} s; report: ${faulted.gapLine}`,
    );
    assert.ok(Number(faulted.note!.windowAttempts) >= 2, 'the cut-off window was attempted again');
    const expected = Array.from({ length: SAMPLES }, (_, i) => ({ phase: 'baseline', sample_num: i + 1, n: 1 }));
    assert.deepEqual(faulted.rows, expected, 'one row per window, none twice, none missing');
    assert.deepEqual(clean.rows, expected);
    assert.deepEqual(
      faulted.csv.map((r) => r.sampleNum),
      expected.map((r) => r.sample_num),
      'the CSV holds every window once, in order',
    );
    assert.ok(
      faulted.spacing.every((d) => d > 0),
      `timestamps increase: ${faulted.spacing.join(' ')}`,
    );
    // the columns with no value (NA) are the same as without the fault: the kill left no hole in a row
    const na = (r: BaselineRecord): string[][] =>
      r.csv.map((row) =>
        Object.keys(row.values)
          .filter((k) => row.values[k] === null)
          .sort(),
      );
    assert.deepEqual(na(faulted), na(clean));
    // the pause the kill left between windows 2 and 3 (nothing measured) is reported as a gap
    assert.equal(clean.gapLine, null, `no gap without the fault: ${clean.gapLine}`);
    assert.match(faulted.gapLine ?? '', /Gaps between windows.*: [\d.]+ s after sample 2 —/);
    assert.equal(faulted.result.outcome, clean.result.outcome);
    assert.equal(faulted.result.decision, clean.result.decision, 'same verdict');
    assert.deepEqual(faulted.result.samples, clean.result.samples);
  }, 600_000);

  test('validation period: killed during a daily snapshot, no snapshot twice, the same snapshots and checkpoint decisions', async () => {
    const clean = await runValidation(false);
    const faulted = await runValidation(true);
    say(
      `validation: ${JSON.stringify(faulted.note)}; decision clean ${clean.result.decision}, faulted ${faulted.result.decision}`,
    );
    assert.ok(Number(faulted.note!.snapshotAttempts) >= 2, 'the cut-off snapshot was taken again');
    const days = Array.from({ length: BACKFILL_WEEKS * DAYS_PER_WEEK }, (_, i) => i + 1);
    assert.deepEqual(
      faulted.snapshots.map((r) => [r.day, r.n]),
      days.map((d) => [d, 1]),
      'one snapshot row per day, none twice, none missing',
    );
    // a backtest reads the same past window: the very same snapshots, day by day
    assert.deepEqual(
      faulted.snapshots.map((r) => [r.aggregates, r.hourly]),
      clean.snapshots.map((r) => [r.aggregates, r.hourly]),
    );
    assert.deepEqual(faulted.decisions, clean.decisions, 'the same checkpoint and final decisions');
    assert.equal(faulted.result.decision, clean.result.decision);
    assert.deepEqual(faulted.result.reasons, clean.result.reasons);
    assert.equal(faulted.result.days, clean.result.days);
  }, 600_000);
});
