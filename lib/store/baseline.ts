/**
 * Postgres repository for production baseline runs and their samples (sql/000004_baseline.sql).
 * Every write is an upsert on a natural key, so activities that call these may be retried.
 */
import type { BaselineSample, SampleValue } from '../baseline/csv.js';
import type { Queryable } from './queryable.js';
import { bindQuery, defineRepository } from './repository.js';

export const BASELINE_SAMPLE_PHASES = ['warmup', 'baseline', 'extended', 'fallback'] as const;
export type BaselineSamplePhase = (typeof BASELINE_SAMPLE_PHASES)[number];

export type BaselineRunOutcome = 'ok' | 'tripped' | 'cancelled' | 'failed';

export interface BaselineRunRow {
  id: string;
  status: 'running' | 'finished';
  phase: string;
  config: Record<string, unknown>;
  environment: Record<string, unknown>;
  configDigest: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: BaselineRunOutcome | null;
  decision: string | null;
  tripReason: string | null;
}

export interface StoredBaselineSample extends BaselineSample {
  phase: BaselineSamplePhase;
  windowSeconds: number;
  loadStats: Record<string, unknown>;
}

/** Creates the run row at the start of a run; a second call (a retried preflight) changes nothing. */
async function createBaselineRun(db: Queryable, run: { id: string; startedAt: Date; config: unknown }): Promise<void> {
  await db.query(`INSERT INTO baseline_runs (id, config, started_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`, [
    run.id,
    JSON.stringify(run.config),
    run.startedAt,
  ]);
}

/** Records the environment captured at the start of a run (idempotent: the same capture overwrites itself). */
async function setBaselineEnvironment(
  db: Queryable,
  id: string,
  environment: unknown,
  configDigest: string,
): Promise<void> {
  await db.query(`UPDATE baseline_runs SET environment = $2, config_digest = $3 WHERE id = $1`, [
    id,
    JSON.stringify(environment),
    configDigest,
  ]);
}

async function setBaselinePhase(db: Queryable, id: string, phase: string): Promise<void> {
  await db.query(`UPDATE baseline_runs SET phase = $2 WHERE id = $1 AND status = 'running'`, [id, phase]);
}

async function finishBaselineRun(
  db: Queryable,
  id: string,
  f: {
    finishedAt: Date;
    outcome: BaselineRunOutcome;
    decision: string;
    tripReason?: string | null;
  },
): Promise<void> {
  await db.query(
    `UPDATE baseline_runs SET status = 'finished', phase = 'done', finished_at = $2, outcome = $3, decision = $4, trip_reason = $5
     WHERE id = $1`,
    [id, f.finishedAt, f.outcome, f.decision, f.tripReason ?? null],
  );
}

async function getBaselineRun(db: Queryable, id: string): Promise<BaselineRunRow | null> {
  const { rows } = await db.query<{
    id: string;
    status: 'running' | 'finished';
    phase: string;
    config: Record<string, unknown>;
    environment: Record<string, unknown>;
    config_digest: string | null;
    started_at: Date;
    finished_at: Date | null;
    outcome: BaselineRunOutcome | null;
    decision: string | null;
    trip_reason: string | null;
  }>('SELECT * FROM baseline_runs WHERE id = $1', [id]);
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    status: r.status,
    phase: r.phase,
    config: r.config,
    environment: r.environment,
    configDigest: r.config_digest,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    outcome: r.outcome,
    decision: r.decision,
    tripReason: r.trip_reason,
  };
}

/**
 * Stores one sample window. A retried write of the same (run, phase, sample_num) replaces the
 * row rather than adding one; `keepExisting` leaves a row already there untouched instead (the
 * first attempt's window is the one that was measured).
 */
async function upsertBaselineSample(
  db: Queryable,
  runId: string,
  s: StoredBaselineSample,
  opts: { keepExisting?: boolean } = {},
): Promise<void> {
  await db.query(
    `INSERT INTO baseline_samples (run_id, phase, sample_num, taken_at, window_seconds, values, load_stats)
     VALUES ($1, $2, $3, to_timestamp($4), $5, $6, $7)
     ON CONFLICT (run_id, phase, sample_num) DO ${
       opts.keepExisting
         ? 'NOTHING'
         : `UPDATE SET taken_at = EXCLUDED.taken_at,
       window_seconds = EXCLUDED.window_seconds, values = EXCLUDED.values, load_stats = EXCLUDED.load_stats`
     }`,
    [runId, s.phase, s.sampleNum, s.timestamp, s.windowSeconds, JSON.stringify(s.values), JSON.stringify(s.loadStats)],
  );
}

interface SampleDbRow {
  phase: BaselineSamplePhase;
  sample_num: number;
  taken_at_s: number;
  window_seconds: number;
  values: Record<string, SampleValue>;
  load_stats: Record<string, unknown>;
}

function toSample(r: SampleDbRow): StoredBaselineSample {
  return {
    phase: r.phase,
    sampleNum: r.sample_num,
    timestamp: Number(r.taken_at_s),
    windowSeconds: r.window_seconds,
    values: r.values,
    loadStats: r.load_stats,
  };
}

/** One stored sample, or null. */
async function getBaselineSample(
  db: Queryable,
  runId: string,
  phase: BaselineSamplePhase,
  sampleNum: number,
): Promise<StoredBaselineSample | null> {
  const { rows } = await db.query<SampleDbRow>(
    `SELECT phase, sample_num, extract(epoch FROM taken_at) AS taken_at_s, window_seconds, values, load_stats
     FROM baseline_samples WHERE run_id = $1 AND phase = $2 AND sample_num = $3`,
    [runId, phase, sampleNum],
  );
  return rows[0] ? toSample(rows[0]) : null;
}

/** A run's samples in order (phase, then sample number); optionally one phase only. */
async function listBaselineSamples(
  db: Queryable,
  runId: string,
  phase?: BaselineSamplePhase,
): Promise<StoredBaselineSample[]> {
  const { rows } = await db.query<SampleDbRow>(
    `SELECT phase, sample_num, extract(epoch FROM taken_at) AS taken_at_s, window_seconds, values, load_stats
     FROM baseline_samples WHERE run_id = $1 AND ($2::text IS NULL OR phase = $2)
     ORDER BY array_position(ARRAY['warmup','baseline','extended','fallback'], phase), sample_num`,
    [runId, phase ?? null],
  );
  return rows.map(toSample);
}

/** The `baseline_runs` table: one row per production-baseline run. */
export function createBaselineRunRepository(q: Queryable) {
  return defineRepository('baseline_runs', {
    create: bindQuery(q, createBaselineRun),
    setEnvironment: bindQuery(q, setBaselineEnvironment),
    setPhase: bindQuery(q, setBaselinePhase),
    finish: bindQuery(q, finishBaselineRun),
    findById: bindQuery(q, getBaselineRun),
  });
}
export type BaselineRunRepository = ReturnType<typeof createBaselineRunRepository>;

/** The `baseline_samples` table: one row per sample of a run's phase. */
export function createBaselineSampleRepository(q: Queryable) {
  return defineRepository('baseline_samples', {
    upsert: bindQuery(q, upsertBaselineSample),
    find: bindQuery(q, getBaselineSample),
    list: bindQuery(q, listBaselineSamples),
  });
}
export type BaselineSampleRepository = ReturnType<typeof createBaselineSampleRepository>;
