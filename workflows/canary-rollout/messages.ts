/**
 * Messages of canaryRolloutWorkflow. Names are contract: Temporal UI, `temporal workflow signal
 * --name rollback --input '{"reason":"…"}'`, the API and the CLI use them. Callers import these
 * definitions, never the string names.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { AnalysisStatus, BreachStreaks, CanaryStage, TriggerName, TriggerResult } from '../../lib/canary/analysis.js';

export interface AdvanceSignalInput {
  /** the stage being approved; when given and the rollout is elsewhere, the signal is ignored (no double advance) */
  stage?: string;
  actor?: string;
}

export interface PauseSignalInput {
  reason?: string;
  actor?: string;
}

export interface ResumeSignalInput {
  actor?: string;
}

export interface RollbackSignalInput {
  /** required: the audit records why */
  reason: string;
  actor?: string;
}

/**
 * Approve moving on. Sent before the stage's hold has ended it is remembered: the rollout moves
 * on as soon as the hold ends with a healthy last analysis (and it is not paused).
 */
export const advanceSignal = defineSignal<[AdvanceSignalInput?]>('advance');
/** Hold the rollout where it is. Analyses go on (a breach still rolls back); hold time stops. */
export const pauseSignal = defineSignal<[PauseSignalInput?]>('pause');
/** Clear a pause (an operator's, or one caused by an inconclusive analysis). */
export const resumeSignal = defineSignal<[ResumeSignalInput?]>('resume');
/** The kill switch: every flag to 0%, the rollout ends as rolled back. `reason` is required. */
export const rollbackSignal = defineSignal<[RollbackSignalInput]>('rollback');

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
  /** 'rollback' when asked for (signal, API, CLI), 'auto' when a trigger fired */
  source: 'rollback' | 'auto';
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
  /** the last signal ignored for a bad payload or a wrong moment, and why */
  lastRejectedSignal: { signal: string; reason: string; at: string } | null;
  /** continue-as-new generation (1 = first run) */
  run: number;
}

export const statusQuery = defineQuery<CanaryStatus>('status');
