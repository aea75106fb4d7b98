/**
 * Messages of validationPeriodWorkflow. Callers (API, CLI, tests) use these definitions, never
 * the string names. The checks are pure and shared: the workflow runs them in its handlers and
 * the API runs them first, so a bad request is a 400 instead of a silently ignored signal.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { TriggersTable } from '../../lib/validation/decide.js';
import type { Decision, TriggerWeekResult } from '../../lib/validation/types.js';

/** Extends the period: the planned decision moves `weeks` (default 1) later, up to maxWeeks. */
export interface ExtendRequest {
  reason: string;
  weeks?: number;
  /** who asked (the API passes its principal's name) */
  by?: string;
}

/** Decide now with the data there is (seed 000: "make decision with incomplete data"). */
export interface DecideNowRequest {
  reason?: string;
  by?: string;
}

/** An operator's decision in place of the rules'; the reason is required and audited. */
export interface OverrideDecisionRequest {
  decision: 'STAY' | 'MIGRATE' | 'EXTEND';
  reason: string;
  by?: string;
}

export interface OverrideDecisionResult {
  /** the decision now in force */
  decision: 'STAY' | 'MIGRATE' | 'EXTEND';
  /** what the rules would decide at this moment */
  ruleDecision: Decision;
  /** the week the override was taken in */
  week: number;
  /** for EXTEND: the new planned decision week */
  plannedWeeks: number;
}

export interface Extension {
  reason: string;
  weeks: number;
  /** the week in progress when it was asked for */
  atWeek: number;
  /** the planned decision week after it */
  plannedWeeks: number;
  by?: string;
}

export interface LastDecision {
  week: number;
  decision: Decision;
  provisional: Exclude<Decision, 'CONTINUE'> | null;
  reasons: string[];
  incomplete: boolean;
}

export type ValidationPhase = 'waiting' | 'collecting' | 'checkpoint' | 'deciding' | 'decided';

/** What `status` answers: where the period is, this week's triggers, and the last decision. */
export interface ValidationStatus {
  runId: string;
  mode: 'live' | 'backtest';
  phase: ValidationPhase;
  /** the week in progress (1-based) */
  week: number;
  /** the next day to snapshot (1-based); after the decision, the last day taken + 1 */
  day: number;
  daysPerWeek: number;
  /** the planned decision week (seed: 4), moved by extensions */
  plannedWeeks: number;
  minWeeks: number;
  maxWeeks: number;
  /** unix seconds, metric time of day 1's start */
  periodStart: number;
  backtest: { start: number; end: number } | null;
  /** epoch ms (workflow clock) when the next snapshot is due, while waiting */
  nextSnapshotAt: number | null;
  /** days of the week in progress already snapshotted */
  daysTakenThisWeek: number[];
  /** the week in progress so far: trigger states on the hours collected (partial weeks read `no_data` until complete) */
  currentWeekTriggers: TriggerWeekResult[];
  /** triggers × weeks through the last checkpoint */
  triggersTable: TriggersTable;
  lastDecision: LastDecision | null;
  /** what the rules would decide if asked now (`provisional` of the last checkpoint) */
  provisional: Exclude<Decision, 'CONTINUE'> | null;
  extensions: Extension[];
  reportIds: string[];
  decideNowRequested: boolean;
  override: OverrideDecisionRequest | null;
  /** the final decision once taken */
  decision: 'STAY' | 'MIGRATE' | null;
}

export const extendSignal = defineSignal<[ExtendRequest]>('extend');
export const decideNowSignal = defineSignal<[DecideNowRequest?]>('decideNow');
export const overrideDecisionUpdate = defineUpdate<OverrideDecisionResult, [OverrideDecisionRequest]>(
  'overrideDecision',
);
export const statusQuery = defineQuery<ValidationStatus>('status');

export const OVERRIDE_DECISIONS = ['STAY', 'MIGRATE', 'EXTEND'] as const;
const MAX_REASON = 1000;

function reasonProblem(reason: unknown): string | null {
  if (typeof reason !== 'string' || reason.trim() === '') return 'a non-empty reason is required';
  if (reason.length > MAX_REASON) return `reason is longer than ${MAX_REASON} characters`;
  return null;
}

function byProblem(by: unknown): string | null {
  return by === undefined || (typeof by === 'string' && by.length <= 200)
    ? null
    : 'by must be a string of at most 200 characters';
}

/** Why an `extend` payload is unacceptable, or null. */
export function extendProblem(req: unknown, maxWeeks?: number): string | null {
  if (req === null || typeof req !== 'object') return 'payload must be an object { reason, weeks? }';
  const r = req as Partial<ExtendRequest>;
  const reason = reasonProblem(r.reason);
  if (reason) return reason;
  if (
    r.weeks !== undefined &&
    (!Number.isInteger(r.weeks) || r.weeks < 1 || (maxWeeks !== undefined && r.weeks > maxWeeks))
  ) {
    return `weeks must be a whole number from 1${maxWeeks !== undefined ? ` to ${maxWeeks}` : ''}`;
  }
  return byProblem(r.by);
}

/** Why a `decideNow` payload is unacceptable, or null (every field is optional). */
export function decideNowProblem(req: unknown): string | null {
  if (req === undefined) return null;
  if (req === null || typeof req !== 'object') return 'payload must be an object { reason? }';
  const r = req as DecideNowRequest;
  if (r.reason !== undefined && (typeof r.reason !== 'string' || r.reason.length > MAX_REASON))
    return `reason must be a string of at most ${MAX_REASON} characters`;
  return byProblem(r.by);
}

/** Why an `overrideDecision` request is unacceptable, or null: a valid decision and a non-empty reason. */
export function overrideProblem(req: unknown): string | null {
  if (req === null || typeof req !== 'object') return 'payload must be an object { decision, reason }';
  const r = req as Partial<OverrideDecisionRequest>;
  if (!OVERRIDE_DECISIONS.includes(r.decision as (typeof OVERRIDE_DECISIONS)[number])) {
    return `decision must be one of ${OVERRIDE_DECISIONS.join(', ')}`;
  }
  return reasonProblem(r.reason) ?? byProblem(r.by);
}
