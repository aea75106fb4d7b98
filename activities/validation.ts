import { Context } from '@temporalio/activity';
import { defaultValidationConfig, type ValidationConfig } from '../lib/config/validation.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { sanitizeData } from '../lib/reports/markdown.js';
import type { Queryable } from '../lib/store/queryable.js';
import {
  createValidationDecisionRepository,
  createValidationRunRepository,
  createValidationSnapshotRepository,
} from '../lib/store/validation.js';
import type { ReportInput } from '../lib/store/reports.js';
import { collectDaySnapshot, type PromQuerier } from '../lib/validation/collect.js';
import type { DecisionResult } from '../lib/validation/decide.js';
import type { Forecast } from '../lib/validation/forecast.js';
import { renderValidationFinalReport, renderValidationWeeklyReport } from '../lib/validation/report.js';
import type { DaySnapshot, Decision, WeekSummary } from '../lib/validation/types.js';
import { withHeartbeat } from './support.js';

export interface ValidationActivityDeps {
  db: Queryable;
  /** the Prometheus the period watches (a PromClient) */
  prom: PromQuerier;
  /** every named query (config.queries: defaults merged with temporal.yaml overrides) */
  queries: Record<string, string>;
  /** stores a rendered report page (createReportActivities(...).writeReport) */
  writeReport: (input: ReportInput) => Promise<{ id: string }>;
  /** creates (idempotently) the quarterly re-evaluation Schedule of a period that decided STAY */
  scheduleReevaluation: (req: ScheduleReevaluationInput) => Promise<{ scheduleId: string; created: boolean }>;
  log: Logger;
}

export interface ScheduleReevaluationInput {
  runId: string;
  everyDays: number;
  /** the next period's input (validationPeriodWorkflow's, without backtest) */
  input: Record<string, unknown>;
}

export interface TakeDailySnapshotInput {
  /** the workflow id of the period */
  runId: string;
  /** 1-based day of the period */
  day: number;
  /** unix seconds, metric time: the day covers (dayStart, dayEnd] */
  dayStart: number;
  dayEnd: number;
  resolutionSeconds: number;
  subqueryStepSeconds: number;
  /** per-run PromQL overrides by query name (names must exist in `queries`) */
  queryOverrides?: Record<string, string>;
}

export interface StartRunInput {
  runId: string;
  mode: 'live' | 'backtest';
  /** the resolved input, for the record (sanitised before it is stored) */
  input: Record<string, unknown>;
  /** workflow time, epoch ms */
  at: number;
}

export interface FinishRunInput {
  runId: string;
  status: 'decided' | 'failed';
  decision?: 'STAY' | 'MIGRATE' | 'EXTEND';
  /** workflow time, epoch ms */
  at: number;
}

export interface RecordDecisionInput {
  runId: string;
  /** names the event: 'week-3', 'final', 'override-1', 'extend-2'; a retried write of the same key is a no-op */
  key: string;
  week: number;
  decision: Decision;
  /** what the rules said at that moment (defaults to `decision`) */
  ruleDecision?: Decision;
  reasons: string[];
  forced?: boolean;
  incomplete?: boolean;
  /** set together for an operator's override or extension (the audit) */
  overriddenBy?: string;
  overrideReason?: string;
  /** workflow time, epoch ms (passed in so a retry stores the same instant) */
  at: number;
}

interface ReportContextInput {
  runId: string;
  config: ValidationConfig;
  weeks: WeekSummary[];
  forecast: Forecast | null;
  backtest?: { start: number; end: number };
  notes?: string[];
}

export interface WriteWeeklyReportInput extends ReportContextInput {
  week: number;
  decision: DecisionResult;
}

export interface WriteFinalReportInput extends ReportContextInput {
  decision: DecisionResult;
  override?: { decision: string; reason: string; by?: string };
}

/** Report ids: stable per run and week, so a retried write replaces the page. */
export function weeklyReportId(runId: string, week: number): string {
  return `${runId}-week-${week}`;
}
export function finalReportId(runId: string): string {
  return `${runId}-final`;
}

/**
 * Heartbeats once per Prometheus call, so a worker that dies mid-day is noticed within the
 * heartbeat timeout and the day is retried elsewhere rather than after the whole start-to-close.
 */
function heartbeating(prom: PromQuerier): PromQuerier {
  const ctx = Context.current();
  return {
    query: (promql, time) => {
      ctx.heartbeat();
      return prom.query(promql, time);
    },
    queryRange: (promql, start, end, step) => {
      ctx.heartbeat();
      return prom.queryRange(promql, start, end, step);
    },
  };
}

/**
 * Activities of validationPeriodWorkflow (seed 000): daily snapshots from Prometheus into
 * Postgres, the decision audit, and the weekly and final report pages.
 *
 * Every write is idempotent, so Temporal may retry any of them: snapshots upsert by (run, day),
 * decisions insert once by (run, key), reports upsert by id. Failures are DomainErrors, typed
 * ApplicationFailures past the boundary interceptor: Prometheus unreachable → `PromUnavailable`
 * (retryable: the day is retried, never skipped); bad PromQL or an unknown query override →
 * `PromBadQuery` (non-retryable).
 */
export function createValidationActivities(deps: ValidationActivityDeps) {
  const { db, log } = deps;
  const runs = createValidationRunRepository(db);
  const snapshots = createValidationSnapshotRepository(db);
  const decisions = createValidationDecisionRepository(db);

  return {
    /**
     * Collects one day (aggregates + hourly points), sanitises it, and upserts it by (run, day).
     * Returns the stored snapshot: the workflow summarises the week from it.
     */
    async takeDailySnapshot(input: TakeDailySnapshotInput): Promise<DaySnapshot> {
      const overrides = input.queryOverrides ?? {};
      for (const name of Object.keys(overrides)) {
        if (!(name in deps.queries)) {
          throw new DomainError(ErrorType.PromBadQuery, `query override ${name} names no known query`, {
            retryable: false,
            details: { name },
          });
        }
      }
      if (!(input.dayEnd > input.dayStart)) {
        throw new DomainError(ErrorType.Validation, `day ${input.day} ends before it starts`, { retryable: false });
      }
      const config = defaultValidationConfig({
        dayLengthSeconds: input.dayEnd - input.dayStart,
        resolutionSeconds: input.resolutionSeconds,
        subqueryStepSeconds: input.subqueryStepSeconds,
      });
      // heartbeats before each query and on a timer between: a worker lost mid-day is noticed
      // within the heartbeat timeout even while one slow query runs
      const collected = await withHeartbeat(log, () =>
        collectDaySnapshot(heartbeating(deps.prom), {
          day: input.day,
          start: input.dayStart,
          queries: { ...deps.queries, ...overrides },
          config,
        }),
      );
      // operation names are the only strings in a snapshot (collect.ts already folds odd ones
      // into "other"); sanitising the whole value keeps that true if the shape grows
      const snapshot = sanitizeData(collected);
      await snapshots.upsert(input.runId, { ...snapshot, day: input.day });
      const withData = snapshot.hourly.filter((p) => p.opsPerMin !== null).length;
      log.info(
        { runId: input.runId, day: input.day, hoursWithData: withData, hours: snapshot.hourly.length },
        'validation snapshot stored',
      );
      return snapshot;
    },

    /** The stored snapshots of days fromDay..toDay (inclusive), in day order. */
    async loadSnapshots(input: { runId: string; fromDay: number; toDay: number }): Promise<DaySnapshot[]> {
      return snapshots.list(input.runId, input.fromDay, input.toDay);
    },

    /** Registers the run (first call wins; a retry or a continued run changes nothing). */
    async startRun(input: StartRunInput): Promise<void> {
      await runs.start({ id: input.runId, mode: input.mode, input: sanitizeData(input.input), at: input.at });
    },

    async finishRun(input: FinishRunInput): Promise<void> {
      await runs.finish(input.runId, { status: input.status, decision: input.decision ?? null, at: input.at });
    },

    /** Appends a decision (checkpoint, final, override, extension) to the audit; once per key. */
    async recordDecision(input: RecordDecisionInput): Promise<{ recorded: boolean }> {
      if ((input.overriddenBy === undefined) !== (input.overrideReason === undefined)) {
        throw new DomainError(ErrorType.Validation, 'an override needs both who and why', { retryable: false });
      }
      const recorded = await decisions.append({
        runId: input.runId,
        key: input.key,
        week: input.week,
        decision: input.decision,
        ruleDecision: input.ruleDecision ?? input.decision,
        reasons: sanitizeData(input.reasons),
        forced: input.forced ?? false,
        incomplete: input.incomplete ?? false,
        overriddenBy: input.overriddenBy ?? null,
        overrideReason: input.overrideReason === undefined ? null : sanitizeData(input.overrideReason),
        at: input.at,
      });
      return { recorded };
    },

    /** Renders and stores the week's checkpoint report (seed 000 "Weekly aggregated reports"). */
    async writeWeeklyReport(input: WriteWeeklyReportInput): Promise<{ id: string }> {
      const r = renderValidationWeeklyReport({
        runId: input.runId,
        config: input.config,
        weeks: input.weeks,
        forecast: input.forecast,
        backtest: input.backtest,
        notes: input.notes,
        week: input.week,
        decision: input.decision,
      });
      return deps.writeReport({
        id: weeklyReportId(input.runId, input.week),
        kind: 'validation-weekly',
        runId: input.runId,
        title: r.title,
        markdown: r.markdown,
        charts: r.charts,
        data: r.data,
      });
    },

    /**
     * Seed 000: after STAY, re-evaluate quarterly — a Temporal Schedule starting a new live
     * period every `everyDays`. Idempotent (an existing Schedule is kept).
     */
    async scheduleReevaluation(input: ScheduleReevaluationInput): Promise<{ scheduleId: string; created: boolean }> {
      const r = await deps.scheduleReevaluation(input);
      deps.log.info(
        { runId: input.runId, scheduleId: r.scheduleId, created: r.created, everyDays: input.everyDays },
        'quarterly re-evaluation scheduled',
      );
      return r;
    },

    /** Renders and stores the migration readiness report (seed 000 week 4 summary). */
    async writeFinalReport(input: WriteFinalReportInput): Promise<{ id: string }> {
      const r = renderValidationFinalReport({
        runId: input.runId,
        config: input.config,
        weeks: input.weeks,
        forecast: input.forecast,
        backtest: input.backtest,
        notes: input.notes,
        decision: input.decision,
        override: input.override,
      });
      return deps.writeReport({
        id: finalReportId(input.runId),
        kind: 'validation-final',
        runId: input.runId,
        title: r.title,
        markdown: r.markdown,
        charts: r.charts,
        data: r.data,
      });
    },
  };
}

export type ValidationActivities = ReturnType<typeof createValidationActivities>;
