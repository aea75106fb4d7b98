/**
 * Postgres repository for drift reviews and their samples (sql/000004_baseline.sql). Writes are
 * upserts on natural keys, so the activities that call them may be retried.
 *
 * A review of several processes keeps one row per sample instant: `values` holds every process's
 * values by name (`{ targets: { api: {…}, worker: {…} } }`) and the review's `target` the list of
 * processes. Reviews written before that hold one process's values flat and one `{ job, instance }`
 * target; readers normalise both (lib/drift/review.ts `toSampleSet`).
 */
import type { DriftStoredSample, DriftTargetRef } from '../drift/review.js';
import type { Queryable } from './queryable.js';
import { bindQuery, defineRepository } from './repository.js';

export interface DriftReviewRow {
  id: string;
  status: 'running' | 'finished';
  target: DriftTargetRef | DriftTargetRef[];
  durationSeconds: number;
  intervalSeconds: number;
  startedAt: Date;
  finishedAt: Date | null;
  passed: boolean | null;
  met: number | null;
}

/** Creates the review row; a second call (retry, continue-as-new) leaves it as it is. */
async function upsertDriftReview(
  db: Queryable,
  r: {
    id: string;
    target: DriftTargetRef | DriftTargetRef[];
    durationSeconds: number;
    intervalSeconds: number;
    startedAt: Date;
  },
): Promise<void> {
  await db.query(
    `INSERT INTO drift_reviews (id, target, duration_seconds, interval_seconds, started_at)
     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [r.id, JSON.stringify(r.target), r.durationSeconds, r.intervalSeconds, r.startedAt],
  );
}

async function finishDriftReview(
  db: Queryable,
  id: string,
  f: { finishedAt: Date; verdict: { passed: boolean; met: number } },
): Promise<void> {
  await db.query(
    `UPDATE drift_reviews SET status = 'finished', finished_at = $2, passed = $3, met = $4, verdict = $5 WHERE id = $1`,
    [id, f.finishedAt, f.verdict.passed, f.verdict.met, JSON.stringify(f.verdict)],
  );
}

async function getDriftReview(db: Queryable, id: string): Promise<DriftReviewRow | null> {
  const { rows } = await db.query<{
    id: string;
    status: 'running' | 'finished';
    target: DriftTargetRef | DriftTargetRef[];
    duration_seconds: number;
    interval_seconds: number;
    started_at: Date;
    finished_at: Date | null;
    passed: boolean | null;
    met: number | null;
  }>(
    'SELECT id, status, target, duration_seconds, interval_seconds, started_at, finished_at, passed, met FROM drift_reviews WHERE id = $1',
    [id],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    status: r.status,
    target: r.target,
    durationSeconds: r.duration_seconds,
    intervalSeconds: r.interval_seconds,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    passed: r.passed,
    met: r.met,
  };
}

/** Stores sample `sampleNum` (0 = T0); a retried write of the same number keeps the first row. */
async function upsertDriftSample(
  db: Queryable,
  reviewId: string,
  sampleNum: number,
  s: DriftStoredSample,
): Promise<void> {
  const { at, ...values } = s;
  await db.query(
    `INSERT INTO drift_samples (review_id, sample_num, taken_at, values) VALUES ($1, $2, to_timestamp($3), $4)
     ON CONFLICT (review_id, sample_num) DO NOTHING`,
    [reviewId, sampleNum, at, JSON.stringify(values)],
  );
}

/** The review's samples in order, T0 first. */
async function listDriftSamples(
  db: Queryable,
  reviewId: string,
): Promise<(DriftStoredSample & { sampleNum: number })[]> {
  const { rows } = await db.query<{ sample_num: number; at: string; values: Omit<DriftStoredSample, 'at'> }>(
    `SELECT sample_num, extract(epoch FROM taken_at) AS at, values FROM drift_samples WHERE review_id = $1 ORDER BY sample_num`,
    [reviewId],
  );
  return rows.map((r) => ({ sampleNum: r.sample_num, at: Number(r.at), ...r.values }));
}

async function getDriftSample(db: Queryable, reviewId: string, sampleNum: number): Promise<DriftStoredSample | null> {
  const { rows } = await db.query<{ at: string; values: Omit<DriftStoredSample, 'at'> }>(
    `SELECT extract(epoch FROM taken_at) AS at, values FROM drift_samples WHERE review_id = $1 AND sample_num = $2`,
    [reviewId, sampleNum],
  );
  return rows[0] ? { at: Number(rows[0].at), ...rows[0].values } : null;
}

/** The `drift_reviews` table. */
export function createDriftReviewRepository(q: Queryable) {
  return defineRepository('drift_reviews', {
    upsert: bindQuery(q, upsertDriftReview),
    finish: bindQuery(q, finishDriftReview),
    findById: bindQuery(q, getDriftReview),
  });
}
export type DriftReviewRepository = ReturnType<typeof createDriftReviewRepository>;

/** The `drift_samples` table. */
export function createDriftSampleRepository(q: Queryable) {
  return defineRepository('drift_samples', {
    upsert: bindQuery(q, upsertDriftSample),
    find: bindQuery(q, getDriftSample),
    list: bindQuery(q, listDriftSamples),
  });
}
export type DriftSampleRepository = ReturnType<typeof createDriftSampleRepository>;
