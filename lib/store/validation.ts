import type { DaySnapshot, Decision } from '../validation/types.js';
import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * The validation period's tables (sql/000005_validation.sql): `validation_runs` (one row per
 * run), `validation_snapshots` (one per run and metric day), `validation_decisions` (the
 * append-only audit of checkpoints, final decisions, overrides and extensions). Values arrive
 * already sanitised (activities/validation.ts): nothing here inspects them.
 */

/** `validation_runs`. Times are epoch ms (workflow time, so a retry stores the same instant). */
export function createValidationRunRepository(q: Queryable) {
  return defineRepository('validation_runs', {
    /** Registers the run; the first call wins (a retry or a continued run changes nothing). */
    async start(r: { id: string; mode: string; input: unknown; at: number }): Promise<void> {
      await q.query(
        `INSERT INTO validation_runs (id, mode, input, status, started_at) VALUES ($1, $2, $3, 'running', to_timestamp($4 / 1000.0))
         ON CONFLICT (id) DO NOTHING`,
        [r.id, r.mode, JSON.stringify(r.input), r.at],
      );
    },

    async finish(id: string, f: { status: string; decision: string | null; at: number }): Promise<void> {
      await q.query(
        `UPDATE validation_runs SET status = $2, decision = $3, finished_at = to_timestamp($4 / 1000.0) WHERE id = $1`,
        [id, f.status, f.decision, f.at],
      );
    },
  });
}
export type ValidationRunRepository = ReturnType<typeof createValidationRunRepository>;

interface SnapshotRow {
  day: number;
  metric_day_start: Date;
  metric_day_end: Date;
  aggregates: DaySnapshot['aggregates'];
  hourly: DaySnapshot['hourly'];
}

const toSnapshot = (r: SnapshotRow): DaySnapshot => ({
  day: r.day,
  start: Math.round(r.metric_day_start.getTime() / 1000),
  end: Math.round(r.metric_day_end.getTime() / 1000),
  aggregates: r.aggregates,
  hourly: r.hourly,
});

/** `validation_snapshots`. */
export function createValidationSnapshotRepository(q: Queryable) {
  return defineRepository('validation_snapshots', {
    /** Stores a day's snapshot; a re-taken day replaces the earlier one. */
    async upsert(runId: string, s: DaySnapshot): Promise<void> {
      await q.query(
        `INSERT INTO validation_snapshots (run_id, day, metric_day_start, metric_day_end, aggregates, hourly)
         VALUES ($1, $2, to_timestamp($3), to_timestamp($4), $5, $6)
         ON CONFLICT (run_id, day) DO UPDATE SET metric_day_start = EXCLUDED.metric_day_start,
           metric_day_end = EXCLUDED.metric_day_end, aggregates = EXCLUDED.aggregates, hourly = EXCLUDED.hourly, taken_at = now()`,
        [runId, s.day, s.start, s.end, JSON.stringify(s.aggregates), JSON.stringify(s.hourly)],
      );
    },

    /** Days fromDay..toDay (inclusive), in day order. */
    async list(runId: string, fromDay: number, toDay: number): Promise<DaySnapshot[]> {
      const { rows } = await q.query<SnapshotRow>(
        `SELECT day, metric_day_start, metric_day_end, aggregates, hourly FROM validation_snapshots
         WHERE run_id = $1 AND day BETWEEN $2 AND $3 ORDER BY day`,
        [runId, fromDay, toDay],
      );
      return rows.map(toSnapshot);
    },
  });
}
export type ValidationSnapshotRepository = ReturnType<typeof createValidationSnapshotRepository>;

export interface ValidationDecisionEntry {
  runId: string;
  key: string;
  week: number;
  decision: Decision;
  ruleDecision: Decision;
  reasons: unknown;
  forced: boolean;
  incomplete: boolean;
  overriddenBy: string | null;
  overrideReason: unknown;
  /** epoch ms */
  at: number;
}

/** `validation_decisions`. */
export function createValidationDecisionRepository(q: Queryable) {
  return defineRepository('validation_decisions', {
    /** Appends a decision once per (run, key); false when that key was already recorded. */
    async append(d: ValidationDecisionEntry): Promise<boolean> {
      const { rowCount } = await q.query(
        `INSERT INTO validation_decisions
           (run_id, key, week, decision, rule_decision, reasons, forced, incomplete, overridden_by, override_reason, at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, to_timestamp($11 / 1000.0))
         ON CONFLICT (run_id, key) DO NOTHING`,
        [
          d.runId,
          d.key,
          d.week,
          d.decision,
          d.ruleDecision,
          JSON.stringify(d.reasons),
          d.forced,
          d.incomplete,
          d.overriddenBy,
          d.overrideReason,
          d.at,
        ],
      );
      return rowCount === 1;
    },
  });
}
export type ValidationDecisionRepository = ReturnType<typeof createValidationDecisionRepository>;
