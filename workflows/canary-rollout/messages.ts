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
  StageMode,
  TriggerName,
  TriggerResult,
} from '../../lib/canary/analysis.js';
import type { HotBackupRecord, StabilityCriterion, StabilityVerdict, WarmthProbe } from '../../lib/canary/stability.js';

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
  /** the window this analysis measured, seconds (wider than the plan's after too little data) */
  windowSeconds?: number;
  /** cutover analyses: was approach 1, the hot backup, warm (could it serve an operation)? */
  hotBackup?: WarmthProbe;
}

/**
 * One go/no-go decision of the plan (seed 002 step 8, "Define go/no-go criteria"): a stage left
 * (go) or decommission refused (no-go) — who approved, when, on which analysis.
 */
export interface GoNoGoRecord {
  stage: string;
  mode: StageMode | null;
  /** the stage it leads to; null at the last stage */
  next: string | null;
  decision: 'go' | 'no-go';
  /** the approver (`advance`'s actor), `autoAdvance`, or the plan itself at its last stage */
  by: string;
  /** when `advance` arrived, ISO; null without one */
  approvedAt: string | null;
  /** when the decision took effect, ISO */
  at: string;
  heldSeconds: number;
  analyses: number;
  /** the stage's last analysis the decision stood on */
  analysis: { at: string; status: AnalysisStatus; summary: string } | null;
  why: string;
  /** the stability criteria, for a decision about decommission */
  stability?: { criterion: StabilityCriterion; ok: boolean; detail: string }[];
}

export interface PauseInfo {
  by: 'operator' | 'inconclusive';
  reason: string;
  actor: string | null;
  since: string;
}

/**
 * A run of analyses that could not judge the rollout because Prometheus did not answer (or a
 * query failed): the rollout neither advances nor rolls back on it. It closes at the next
 * analysis with data enough to judge (ok or breach); a pause it caused is then lifted.
 */
export interface DataGap {
  /** the first analysis without an answer, ISO */
  since: string;
  /** the analysis that judged again, ISO; null while the gap is open */
  until: string | null;
  /** analyses that could not judge in it: no answer, or too little data once Prometheus was back */
  analyses: number;
  stage: string;
  /** the first failure, e.g. `PromUnavailable: …` */
  reason: string;
  /** the gap's pause was lifted when data came back (false: an operator had paused, or no pause) */
  resumed: boolean;
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
    /** shadow | dual_write | cutover | decommission; null for a stage without one */
    mode?: StageMode | null;
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
  /** the window the next analysis measures, seconds */
  analysisWindowSeconds?: number;
  /** every go/no-go so far, oldest first */
  goNoGo?: GoNoGoRecord[];
  /** the hot-backup period (dual_write and cutover stages): analyses and rollback-trigger breaches */
  hotBackup?: HotBackupRecord;
  /** the last stability check before decommission */
  stability?: (StabilityVerdict & { at: string }) | null;
  /** the analyses Prometheus did not answer, as gaps (oldest first, at most 20; the open one last) */
  dataGaps?: DataGap[];
}

export const statusQuery = defineQuery<CanaryStatus>('status');
