/**
 * Messages of canaryRolloutWorkflow. Names are contract: Temporal UI, `temporal workflow signal
 * --name rollback --input '{"reason":"…"}'`, `temporal workflow update execute --name rollback`,
 * the API and the CLI use them. Callers import these definitions, never the string names.
 *
 * Each action exists twice, under the same name:
 *   - a signal, for operators (Temporal UI, `temporal workflow signal`): fire and forget; one the
 *     rollout cannot take is ignored and named in the status (`lastRejectedSignal`);
 *   - an Update with a validator, for callers that need an answer (the API, the CLI): one the
 *     rollout cannot take is rejected with the reason (never written to history), an accepted one
 *     answers with the rollout's status after it.
 * The rules are the same for both (state.ts `refusal`).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  AnalysisStatus,
  BreachStreaks,
  CanaryStage,
  TriggerName,
  TriggerResult,
} from '../../lib/canary/analysis.js';

export interface AdvanceRequest {
  /** the stage being approved; when given and the rollout is elsewhere, the request is refused (no double advance) */
  stage?: string;
  actor?: string;
}

export interface PauseRequest {
  reason?: string;
  actor?: string;
}

export interface ResumeRequest {
  actor?: string;
}

export interface RollbackRequest {
  /** required: the audit records why */
  reason: string;
  actor?: string;
}

/**
 * Approve moving on. Sent before the stage's hold has ended it is remembered: the rollout moves
 * on as soon as the hold ends with a healthy last analysis (and it is not paused).
 */
export const advanceSignal = defineSignal<[AdvanceRequest?]>('advance');
/** Hold the rollout where it is. Analyses go on (a breach still rolls back); hold time stops. */
export const pauseSignal = defineSignal<[PauseRequest?]>('pause');
/** Clear a pause (an operator's, or one caused by an inconclusive analysis). */
export const resumeSignal = defineSignal<[ResumeRequest?]>('resume');
/** The kill switch: every flag to 0%, the rollout ends as rolled back. `reason` is required. */
export const rollbackSignal = defineSignal<[RollbackRequest]>('rollback');

/** `advance` as an Update: refused while paused, rolling back, or at the last stage; answers the status. */
export const advanceUpdate = defineUpdate<CanaryStatus, [AdvanceRequest]>('advance');
/** `pause` as an Update: refused when already paused or rolling back; answers the status. */
export const pauseUpdate = defineUpdate<CanaryStatus, [PauseRequest]>('pause');
/** `resume` as an Update: refused when not paused; answers the status. */
export const resumeUpdate = defineUpdate<CanaryStatus, [ResumeRequest]>('resume');
/**
 * `rollback` as an Update: refused without a reason, when a rollback is under way or done, or
 * after completion; once accepted it answers when the kill switch has run, with the status
 * (`rollback` says whether and how fast every process switched).
 */
export const rollbackUpdate = defineUpdate<CanaryStatus, [RollbackRequest]>('rollback');

export type CanaryRunStatus = 'running' | 'paused' | 'awaiting_advance' | 'rolled_back' | 'completed';

export interface AnalysisRecord {
  /** ISO time of the analysis (the end of its window) */
  at: string;
  stage: string;
  status: AnalysisStatus;
  triggers: TriggerResult[];
}

export interface PauseInfo {
  by: 'operator' | 'inconclusive';
  reason: string;
  actor: string | null;
  since: string;
}

export interface RollbackInfo {
  /**
   * 'rollback' when asked for (signal, API, CLI), 'auto' when a trigger fired, 'kill_switch' when
   * the kill switch latched the flags while the rollout ran (issue 9 item 5)
   */
  source: 'rollback' | 'auto' | 'kill_switch';
  reason: string;
  actor: string;
  trigger: TriggerName | null;
  stage: string;
  requestedAt: string;
  /** rollback_events row; null when every flag was already off */
  eventId: number | null;
  changeId: string | null;
  /** database time the flags were set to 0 */
  decidedAt: string;
  /** every flag-caching process acknowledged within the wait */
  switched: boolean;
  /** decision → every process switched, ms (also on the rollback_events row) */
  switchDurationMs: number | null;
  missingProcesses: string[];
}

export interface CanaryStatus {
  rolloutId: string;
  status: CanaryRunStatus;
  stage: {
    index: number;
    name: string;
    percent: number;
    shadow: boolean;
    holdSeconds: number;
    /** hold time served so far (paused time does not count) */
    heldSeconds: number;
    /** null until the stage's flags are applied */
    startedAt: string | null;
  };
  stages: CanaryStage[];
  paused: PauseInfo | null;
  advanceApproved: boolean;
  autoAdvance: boolean;
  analysisIntervalSeconds: number;
  analyses: { total: number; inStage: number; thisRun: number };
  /** newest last, at most 10 */
  lastAnalyses: AnalysisRecord[];
  streaks: BreachStreaks;
  baselineP95Seconds: number | null;
  rollback: RollbackInfo | null;
  /** the last signal ignored for a bad payload or a wrong moment, and why (a refused Update answers its caller instead) */
  lastRejectedSignal: { signal: string; reason: string; at: string } | null;
  /** continue-as-new generation (1 = first run) */
  run: number;
}

export const statusQuery = defineQuery<CanaryStatus>('status');
