/**
 * The state of one canary rollout — one object, everything a run hands to the next through
 * continue-as-new — and the pure rules over it: how hold time accrues, when a stage may be left,
 * what the status says, and which operator actions the rollout takes now (the same rules for a
 * signal, which is ignored with the reason, and an Update, which is rejected with it).
 *
 * No Temporal import and no clock of its own: the workflow passes the workflow clock's `now`, so
 * test/unit/canary-state.test.ts pins these rules without a server. Times are epoch ms.
 */
import {
  DEFAULT_ANALYSIS_INTERVAL_SECONDS,
  DEFAULT_CONSECUTIVE_BREACHES,
  DEFAULT_INSUFFICIENT_DATA_PAUSE_SECONDS,
  DEFAULT_MAX_ANALYSES_PER_RUN,
  DEFAULT_STAGES,
  DEFAULT_THRESHOLDS,
  HOT_BACKUP_MODES,
  NO_STREAKS,
  approach1P95,
  evaluateAnalysis,
  nextState,
  stageMode,
  type StageMode,
  type AnalysisStatus,
  type AnalysisValues,
  type BreachStreaks,
  type CanaryStage,
  type CanaryThresholds,
  type NextAction,
  type TriggerName,
  type TriggerResult,
} from '../../lib/canary/analysis.js';
import {
  DEFAULT_STABILITY,
  MAX_BREACHES_KEPT,
  NO_HOT_BACKUP,
  triggerCheck,
  type HotBackupRecord,
  type HotBackupWarmth,
  type StabilityThresholds,
  type WarmthProbe,
  type StabilityVerdict,
} from '../../lib/canary/stability.js';
import type {
  AdvanceRequest,
  DataGap,
  GoNoGoRecord,
  AnalysisRecord,
  CanaryRunStatus,
  CanaryStatus,
  PauseInfo,
  PauseRequest,
  ResumeRequest,
  RollbackInfo,
  RollbackRequest,
} from './messages.js';
import type { CanaryRolloutInput } from './workflow.js';

/** The rollout's settings, resolved once per run from its input. */
export interface CanaryPlan {
  rolloutId: string;
  stages: CanaryStage[];
  intervalMs: number;
  /** PromQL windows are whole seconds (compressed benchmark runs use sub-second intervals) */
  windowSeconds: number;
  thresholds: CanaryThresholds;
  consecutiveBreaches: number;
  autoAdvance: boolean;
  maxAnalysesPerRun: number;
  /**
   * The seed-002 plan's rules (issue 10 item 2): stage modes, "not enough data yet" widening the
   * window, the stability gate before decommission, go/no-go records. False only when replaying
   * a run recorded before them (the workflow's `patched('canary-seed002-plan')`).
   */
  seed002: boolean;
  /**
   * Cutover analyses probe approach 1's warmth and decommission requires it warm (issue 10 item 2,
   * "approach 1 kept ready during the hot backup"). False when replaying a run recorded before
   * the probe (the workflow's `patched('canary-hot-backup-warmth')`).
   */
  hotBackupWarmth: boolean;
  /**
   * Analyses Prometheus did not answer are recorded as data gaps, and the pause such a gap caused
   * is lifted at the next analysis that can judge (issue 12 fault 4: Prometheus stopped for two
   * analysis intervals must neither advance nor roll back the rollout, nor strand it paused).
   * False when replaying a run recorded before it (the workflow's
   * `patched('canary-resume-after-data-gap')`): such a pause then held until `resume`.
   */
  resumeAfterGap: boolean;
  /**
   * The latency floor: a P95 over fewer than `thresholds.minLatencyOperations` operations is too
   * few to judge, and approach 1's does not become the carried baseline (a clean-clone smoke run's
   * first cutover analysis saw approach 1's P95 over a handful of calls at 0.90 s, a 4.39× "breach"
   * that kept decommission refused). False when replaying a run recorded before it (the
   * workflow's `patched('canary-latency-floor')`).
   */
  latencyFloor: boolean;
  /** not enough data for this long pauses the rollout */
  insufficientPauseMs: number;
  /** the widest a widened analysis window gets, seconds */
  maxWindowSeconds: number;
  stability: StabilityThresholds;
}

/**
 * The default plan before stage modes (shadow 0 % 2 days, 10/50/100 %, decommission): what a run
 * recorded then, without stages in its input, replays with.
 */
export const LEGACY_DEFAULT_STAGES: CanaryStage[] = [
  { name: 'shadow', percent: 0, shadow: true, holdSeconds: 172_800 },
  { name: 'canary-10', percent: 10, shadow: true, holdSeconds: 432_000 },
  { name: 'dual-write-50', percent: 50, shadow: true, holdSeconds: 604_800 },
  { name: 'cutover-100', percent: 100, shadow: true, holdSeconds: 604_800 },
  { name: 'decommission', percent: 100, shadow: false, holdSeconds: 0 },
];

/** Widened windows grow to at most this many times the configured window. */
export const MAX_WINDOW_FACTOR = 16;

export function planOf(
  input: CanaryRolloutInput,
  seed002 = true,
  hotBackupWarmth = seed002,
  resumeAfterGap = seed002,
  latencyFloor = seed002,
): CanaryPlan {
  const interval = input.analysisIntervalSeconds ?? DEFAULT_ANALYSIS_INTERVAL_SECONDS;
  const windowSeconds = Math.max(1, Math.ceil(input.analysisWindowSeconds ?? interval));
  return {
    rolloutId: input.rolloutId,
    stages: input.stages && input.stages.length > 0 ? input.stages : seed002 ? DEFAULT_STAGES : LEGACY_DEFAULT_STAGES,
    intervalMs: interval * 1000,
    windowSeconds,
    thresholds: { ...DEFAULT_THRESHOLDS, ...input.thresholds },
    consecutiveBreaches: input.consecutiveBreaches ?? DEFAULT_CONSECUTIVE_BREACHES,
    autoAdvance: input.autoAdvance ?? false,
    maxAnalysesPerRun: input.maxAnalysesPerRun ?? DEFAULT_MAX_ANALYSES_PER_RUN,
    seed002,
    hotBackupWarmth: seed002 && hotBackupWarmth,
    resumeAfterGap: seed002 && resumeAfterGap,
    latencyFloor: seed002 && latencyFloor,
    insufficientPauseMs: (input.insufficientDataPauseSeconds ?? DEFAULT_INSUFFICIENT_DATA_PAUSE_SECONDS) * 1000,
    maxWindowSeconds: windowSeconds * MAX_WINDOW_FACTOR,
    stability: { ...DEFAULT_STABILITY, ...input.stability },
  };
}

/** Where the rollout is within its current stage. A new stage starts from {@link freshStage}. */
export interface StageProgress {
  index: number;
  /** the stage's flag change is written (a later run of the same stage does not write it again) */
  applied: boolean;
  startedAt: number | null;
  /** hold time served; paused time does not count */
  heldMs: number;
  analyses: number;
  /** status of the stage's latest analysis; null before its first */
  lastStatus: AnalysisStatus | null;
  streaks: BreachStreaks;
  /** `advance` arrived for this stage */
  advanceApproved: boolean;
  /** who sent it, and when (epoch ms); absent in states carried from runs before go/no-go records */
  advanceBy?: string | null;
  advanceAt?: number | null;
  /** the window the next analysis measures, seconds, when widened for lack of data; absent/null = the plan's */
  windowSeconds?: number | null;
  /** epoch ms since which every analysis had not enough data; null while data suffices */
  insufficientSince?: number | null;
  /** stage.analyses when decommission was last refused: no new check before the next analysis */
  refusedAtAnalysis?: number | null;
}

/** A rollback asked for (operator or trigger) and not yet carried out. */
export interface PendingRollback {
  source: RollbackInfo['source'];
  reason: string;
  actor: string;
  trigger: TriggerName | null;
  at: number;
}

export interface CanaryState {
  /** first run's id: makes flag change ids unique even if a rollout id is reused */
  executionKey: string;
  /** continue-as-new generation (1 = first run) */
  run: number;
  stage: StageProgress;
  /** hold time is accrued up to here */
  lastTickAt: number;
  nextAnalysisAt: number;
  analysesTotal: number;
  analysesThisRun: number;
  /** newest last, at most {@link RECENT_ANALYSES} */
  recent: AnalysisRecord[];
  /** the last approach-1 P95 measured: the latency baseline when approach 1 has no traffic */
  baselineP95Seconds: number | null;
  paused: PauseInfo | null;
  lastRejectedSignal: CanaryStatus['lastRejectedSignal'];
  /** set by `rollback` or a trigger; a rollback ends the rollout in the run that heard it */
  rollbackPending: PendingRollback | null;
  rollback: RollbackInfo | null;
  completed: boolean;
  /** the hot-backup period (dual_write and cutover stages) as the analyses saw it; absent in older states */
  hotBackup?: HotBackupRecord;
  /** one go or no-go per stage decision, oldest first; absent in older states */
  goNoGo?: GoNoGoRecord[];
  /** the last stability check before decommission; absent/null before one */
  stability?: (StabilityVerdict & { at: string }) | null;
  /** analyses Prometheus did not answer, as gaps (oldest first, the open one last); absent in older states */
  dataGaps?: DataGap[];
}

export const RECENT_ANALYSES = 10;
/** Data gaps kept in the state (the newest; an outage is one gap however long it lasts). */
export const DATA_GAPS_KEPT = 20;
/** Go/no-go records kept (a plan has at most 10 stages; refusals may repeat). */
export const GO_NO_GO_KEPT = 30;

export function freshStage(index: number): StageProgress {
  return {
    index,
    applied: false,
    startedAt: null,
    heldMs: 0,
    analyses: 0,
    lastStatus: null,
    streaks: { ...NO_STREAKS },
    advanceApproved: false,
    advanceBy: null,
    advanceAt: null,
    windowSeconds: null,
    insufficientSince: null,
    refusedAtAnalysis: null,
  };
}

export function initialState(executionKey: string, now: number): CanaryState {
  return {
    executionKey,
    run: 1,
    stage: freshStage(0),
    lastTickAt: now,
    nextAnalysisAt: now,
    analysesTotal: 0,
    analysesThisRun: 0,
    recent: [],
    baselineP95Seconds: null,
    paused: null,
    lastRejectedSignal: null,
    rollbackPending: null,
    rollback: null,
    completed: false,
    hotBackup: { ...NO_HOT_BACKUP, breaches: [] },
    goNoGo: [],
    stability: null,
  };
}

/**
 * The state a run starts from: the carried one (or a new one), with hold time counted from this
 * run's start — the gap between two runs is not time held.
 */
export function beginRun(carried: CanaryState | undefined, executionKey: string, now: number): CanaryState {
  const s = carried ?? initialState(executionKey, now);
  return { ...s, lastTickAt: now, analysesThisRun: 0 };
}

/** The state handed to the next run: the same stage, or the next one when `advance` is set. */
export function nextRunState(s: CanaryState, advance: boolean): CanaryState {
  return { ...s, run: s.run + 1, ...(advance ? { stage: freshStage(s.stage.index + 1) } : {}) };
}

export const currentStage = (plan: CanaryPlan, s: CanaryState): CanaryStage => plan.stages[s.stage.index]!;
export const isLastStage = (plan: CanaryPlan, s: CanaryState): boolean => s.stage.index === plan.stages.length - 1;

/** Counts hold time up to `now` unless paused, ended, or before the stage's flags are in place. */
export function accrue(s: CanaryState, now: number): void {
  if (s.stage.applied && s.paused === null && s.rollback === null && !s.completed)
    s.stage.heldMs += Math.max(0, now - s.lastTickAt);
  s.lastTickAt = now;
}

export function holdServed(plan: CanaryPlan, s: CanaryState): boolean {
  return s.stage.applied && s.stage.heldMs >= currentStage(plan, s).holdSeconds * 1000;
}

/** A stage is left only on a healthy last analysis; a stage held 0 s needs none. */
export function healthy(plan: CanaryPlan, s: CanaryState): boolean {
  return s.stage.lastStatus === 'ok' || (s.stage.lastStatus === null && currentStage(plan, s).holdSeconds === 0);
}

/** Step 2 is done: the hold is served, not paused, and the last analysis healthy. */
export function held(plan: CanaryPlan, s: CanaryState): boolean {
  return holdServed(plan, s) && s.paused === null && healthy(plan, s);
}

/**
 * Step 3 is done: held, and approved (`advance`, autoAdvance, or nothing left to approve: the last
 * stage). After a refused decommission, not before the next analysis (no re-check in a loop).
 */
export function approved(plan: CanaryPlan, s: CanaryState): boolean {
  if (plan.seed002 && s.stage.refusedAtAnalysis != null && s.stage.refusedAtAnalysis === s.stage.analyses) return false;
  return held(plan, s) && (plan.autoAdvance || s.stage.advanceApproved || isLastStage(plan, s));
}

/** The mode of the stage after the current one; null at the last stage or for a stage without a mode. */
export function nextStageMode(plan: CanaryPlan, s: CanaryState): StageMode | null {
  const next = plan.stages[s.stage.index + 1];
  return next === undefined ? null : stageMode(next);
}

/** Leaving this stage enters decommission, which waits for a stable hot-backup period (seed002 rules). */
export function gatesDecommission(plan: CanaryPlan, s: CanaryState): boolean {
  return plan.seed002 && nextStageMode(plan, s) === 'decommission';
}

/** The window the next analysis measures, seconds: the plan's, or a wider one after too little data. */
export function analysisWindow(plan: CanaryPlan, s: CanaryState): number {
  return s.stage.windowSeconds ?? plan.windowSeconds;
}

/** Records a go or a no-go for the current stage (the `advance` audit: who, when, which analysis). */
export function recordGoNoGo(
  plan: CanaryPlan,
  s: CanaryState,
  decision: 'go' | 'no-go',
  now: number,
  why: string,
  stability?: StabilityVerdict,
): GoNoGoRecord {
  const stage = currentStage(plan, s);
  const last = [...s.recent].reverse().find((a) => a.stage === stage.name) ?? null;
  const by = plan.autoAdvance && !s.stage.advanceApproved ? 'autoAdvance' : (s.stage.advanceBy ?? 'signal');
  const rec: GoNoGoRecord = {
    stage: stage.name,
    mode: stageMode(stage),
    next: plan.stages[s.stage.index + 1]?.name ?? null,
    decision,
    by: isLastStage(plan, s) ? 'plan (last stage)' : by,
    approvedAt: s.stage.advanceAt != null ? iso(s.stage.advanceAt) : null,
    at: iso(now),
    heldSeconds: Math.floor(s.stage.heldMs / 1000),
    analyses: s.stage.analyses,
    analysis: last === null ? null : { at: last.at, status: last.status, summary: summariseTriggers(last.triggers) },
    why,
    ...(stability
      ? { stability: stability.checks.map((c) => ({ criterion: c.criterion, ok: c.ok, detail: c.detail })) }
      : {}),
  };
  s.goNoGo = [...(s.goNoGo ?? []), rec].slice(-GO_NO_GO_KEPT);
  return rec;
}

function summariseTriggers(ts: { trigger: string; status: string; detail: string }[]): string {
  return ts.map((t) => `${t.trigger} ${t.status}: ${t.detail}`).join('; ');
}

/** ms until the hold is served if nothing pauses it; null when paused, served, or not started. */
export function holdRemainingMs(plan: CanaryPlan, s: CanaryState): number | null {
  if (!s.stage.applied || s.paused !== null || holdServed(plan, s)) return null;
  return currentStage(plan, s).holdSeconds * 1000 - s.stage.heldMs;
}

/**
 * Takes the analysis slot that is due at `now`. Fixed rate: windows tile without gaps (a late
 * timer does not push every later analysis back); after a long outage (worker down) the cadence
 * restarts from now instead of bursting through the missed analyses.
 */
export function takeAnalysisSlot(plan: CanaryPlan, s: CanaryState, now: number): void {
  s.nextAnalysisAt += plan.intervalMs;
  if (s.nextAnalysisAt <= now) s.nextAnalysisAt = now + plan.intervalMs;
}

/**
 * Judges one analysis (taken at `at`, returned at `end`) and records it: streaks, the stage's
 * last status, the recent list, the approach-1 baseline. A trigger confirmed in
 * `consecutiveBreaches` analyses in a row asks for a rollback; an inconclusive analysis pauses.
 */
export function recordAnalysis(
  plan: CanaryPlan,
  s: CanaryState,
  values: AnalysisValues,
  at: number,
  end: number,
  warmth?: WarmthProbe,
): NextAction {
  s.analysesThisRun++;
  s.analysesTotal++;
  s.stage.analyses++;
  const stage = currentStage(plan, s);
  const measured = analysisWindow(plan, s);
  const verdict = evaluateAnalysis(values, plan.thresholds, {
    baselineP95Seconds: s.baselineP95Seconds,
    insufficient: plan.seed002,
    latencyFloor: plan.latencyFloor,
  });
  // approach 1's P95 becomes the baseline only when it was measured (with the floor: over enough calls)
  const baseline = approach1P95(values, plan.thresholds, plan.latencyFloor);
  if (baseline !== null) s.baselineP95Seconds = baseline;
  let insufficientFor: { ms: number; pauseAfterMs: number } | undefined;
  if (plan.seed002) {
    if (verdict.status === 'insufficient') {
      s.stage.insufficientSince ??= at - measured * 1000;
      insufficientFor = { ms: end - s.stage.insufficientSince, pauseAfterMs: plan.insufficientPauseMs };
    } else if (verdict.status !== 'inconclusive') {
      s.stage.insufficientSince = null;
    }
    recordHotBackup(plan, s, verdict.triggers, at, warmth);
  }
  const next = nextState(s.stage.streaks, verdict, plan.consecutiveBreaches, insufficientFor);
  s.stage.streaks = next.streaks;
  s.stage.lastStatus = verdict.status;
  if (plan.seed002) {
    // too little traffic: the next window looks further back; enough data: back to the plan's window
    s.stage.windowSeconds = next.action === 'widen' ? Math.min(plan.maxWindowSeconds, measured * 2) : null;
  }
  s.recent = [
    ...s.recent,
    {
      at: iso(at),
      stage: stage.name,
      status: verdict.status,
      triggers: verdict.triggers,
      ...(plan.seed002 ? { windowSeconds: measured } : {}),
      ...(warmth ? { hotBackup: warmth } : {}),
    },
  ].slice(-RECENT_ANALYSES);
  if (next.action === 'rollback' && s.rollbackPending === null) {
    s.rollbackPending = {
      source: 'auto',
      reason: next.reason,
      actor: `canary ${plan.rolloutId}`,
      trigger: next.trigger,
      at,
    };
  } else if (next.action === 'pause' && s.paused === null) {
    accrue(s, end);
    s.paused = { by: 'inconclusive', reason: next.reason, actor: null, since: iso(at) };
  }
  if (plan.resumeAfterGap) recordGap(plan, s, verdict.status, verdict.triggers, at, end);
  return next;
}

/**
 * Keeps the data gaps: an analysis Prometheus did not answer opens one (or extends the open one);
 * the next analysis that judges (ok or breach) closes it and lifts the pause the gap caused, so
 * the rollout goes on as it would have without the outage — the gap's time is not held, and its
 * analyses neither fed a rollback nor reset a breach streak. An analysis with too little data
 * (the first windows after a restart hold few samples) is counted in the gap and neither closes
 * it nor lifts the pause. A pause taken
 * before the gap (an operator's, or one for too little data) is left alone.
 */
function recordGap(
  plan: CanaryPlan,
  s: CanaryState,
  status: AnalysisStatus,
  triggers: TriggerResult[],
  at: number,
  end: number,
): void {
  const gaps = s.dataGaps ?? [];
  const open = gaps.at(-1)?.until === null ? gaps.at(-1)! : null;
  if (status === 'inconclusive') {
    if (open !== null) open.analyses++;
    else {
      const failed = triggers.find((t) => t.status === 'nodata');
      gaps.push({
        since: iso(at),
        until: null,
        analyses: 1,
        stage: currentStage(plan, s).name,
        reason: failed?.detail ?? 'no data',
        resumed: false,
      });
    }
    s.dataGaps = gaps.slice(-DATA_GAPS_KEPT);
    return;
  }
  if (open === null) return;
  if (status !== 'ok' && status !== 'breach') {
    // too little data right after the outage: still no judgement, still the gap
    open.analyses++;
    return;
  }
  open.until = iso(at);
  if (s.paused?.by === 'inconclusive' && Date.parse(s.paused.since) >= Date.parse(open.since)) {
    accrue(s, end);
    s.paused = null;
    open.resumed = true;
  }
  s.dataGaps = gaps;
}

/** Counts an analysis of a hot-backup stage (dual_write, cutover) and keeps its breaches. */
function recordHotBackup(
  plan: CanaryPlan,
  s: CanaryState,
  triggers: TriggerResult[],
  at: number,
  warmth?: WarmthProbe,
): void {
  const stage = currentStage(plan, s);
  const mode = stageMode(stage);
  if (mode === null || !HOT_BACKUP_MODES.includes(mode)) return;
  const hot: HotBackupRecord = s.hotBackup ?? { ...NO_HOT_BACKUP, breaches: [] };
  const breaches = triggers.filter((t) => t.status === 'breach');
  s.hotBackup = {
    since: hot.since ?? s.stage.startedAt ?? at,
    analyses: hot.analyses + 1,
    breachCount: hot.breachCount + breaches.length,
    breaches: [
      ...hot.breaches,
      ...breaches.map((t) => ({ trigger: t.trigger, stage: stage.name, at: iso(at), detail: t.detail })),
    ].slice(0, MAX_BREACHES_KEPT),
    ...(hot.warmth || warmth ? { warmth: nextWarmth(hot.warmth, warmth, stage.name, at) } : {}),
  };
}

/** Counts one warmth probe (none: the record as it was). */
function nextWarmth(
  w: HotBackupWarmth | undefined,
  probe: WarmthProbe | undefined,
  stage: string,
  at: number,
): HotBackupWarmth {
  const cur = w ?? { probes: 0, cold: 0, firstCold: null, last: null };
  if (probe === undefined) return cur;
  return {
    probes: cur.probes + 1,
    cold: cur.cold + (probe.warm ? 0 : 1),
    firstCold: cur.firstCold ?? (probe.warm ? null : { at: iso(at), stage, detail: probe.detail }),
    last: { ...probe, at: iso(at) },
  };
}

export function runStatus(plan: CanaryPlan, s: CanaryState): CanaryRunStatus {
  if (s.rollback !== null) return 'rolled_back';
  if (s.completed) return 'completed';
  if (s.paused !== null) return 'paused';
  if (holdServed(plan, s) && !plan.autoAdvance && !s.stage.advanceApproved && !isLastStage(plan, s))
    return 'awaiting_advance';
  return 'running';
}

export function statusOf(plan: CanaryPlan, s: CanaryState): CanaryStatus {
  const st = currentStage(plan, s);
  const off = s.rollback !== null;
  return {
    rolloutId: plan.rolloutId,
    status: runStatus(plan, s),
    stage: {
      index: s.stage.index,
      name: st.name,
      percent: off ? 0 : st.percent,
      shadow: off ? false : st.shadow,
      holdSeconds: st.holdSeconds,
      heldSeconds: Math.floor(s.stage.heldMs / 1000),
      startedAt: s.stage.startedAt === null ? null : iso(s.stage.startedAt),
      mode: stageMode(st),
    },
    stages: plan.stages,
    paused: s.paused,
    advanceApproved: s.stage.advanceApproved,
    autoAdvance: plan.autoAdvance,
    analysisIntervalSeconds: plan.intervalMs / 1000,
    analyses: { total: s.analysesTotal, inStage: s.stage.analyses, thisRun: s.analysesThisRun },
    lastAnalyses: s.recent,
    streaks: s.stage.streaks,
    baselineP95Seconds: s.baselineP95Seconds,
    rollback: s.rollback,
    lastRejectedSignal: s.lastRejectedSignal,
    run: s.run,
    analysisWindowSeconds: analysisWindow(plan, s),
    goNoGo: s.goNoGo ?? [],
    hotBackup: s.hotBackup ?? { ...NO_HOT_BACKUP, breaches: [] },
    stability: s.stability ?? null,
    dataGaps: s.dataGaps ?? [],
  };
}

export const iso = (ms: number): string => new Date(ms).toISOString();

// ---- operator actions: parse the payload, decide, apply --------------------------------------

export type ActionName = 'advance' | 'pause' | 'resume' | 'rollback';

export interface ActionRequests {
  advance: AdvanceRequest;
  pause: PauseRequest;
  resume: ResumeRequest;
  rollback: RollbackRequest;
}

/** Why an action is not taken: a malformed payload (the caller's mistake) or the rollout's state. */
export interface Refusal {
  kind: 'invalid' | 'refused';
  /** the field at fault, for `invalid` */
  field?: string;
  reason: string;
}

export type Decision<A extends ActionName> = { ok: true; request: ActionRequests[A] } | { ok: false; refusal: Refusal };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional string field of a payload: the value, undefined when absent or blank, null when malformed. */
function optionalText(payload: unknown, field: string, max = 500): string | undefined | null {
  if (payload === undefined || payload === null) return undefined;
  if (!isObject(payload)) return null;
  const v = payload[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) return null;
  return v.trim() === '' ? undefined : v.trim();
}

/** Reads a payload's optional text fields, or names the first malformed one. */
function fields<K extends string>(
  payload: unknown,
  spec: Record<K, number>,
): { ok: true; value: Partial<Record<K, string>> } | { ok: false; refusal: Refusal } {
  if (payload !== undefined && payload !== null && !isObject(payload))
    return { ok: false, refusal: { kind: 'invalid', field: 'payload', reason: 'payload must be an object' } };
  const value: Partial<Record<K, string>> = {};
  for (const [k, max] of Object.entries(spec) as [K, number][]) {
    const v = optionalText(payload, k, max);
    if (v === null)
      return {
        ok: false,
        refusal: { kind: 'invalid', field: k, reason: `${k} must be a string of at most ${max} characters` },
      };
    if (v !== undefined) value[k] = v;
  }
  return { ok: true, value };
}

const refused = (reason: string): { ok: false; refusal: Refusal } => ({
  ok: false,
  refusal: { kind: 'refused', reason },
});

/** Refusals every action shares: a rollout that is rolling back, rolled back or complete takes no more. */
function ended(s: CanaryState): string | null {
  if (s.rollback !== null) return `the rollout was rolled back (${s.rollback.reason})`;
  if (s.rollbackPending !== null) return 'the rollout is rolling back';
  if (s.completed) return 'the rollout has completed';
  return null;
}

/**
 * Whether the rollout takes `action` with this payload now. Pure and synchronous: it is the
 * Update validator (which must not change state) and the first half of the signal handler.
 */
export function decide<A extends ActionName>(
  action: A,
  plan: CanaryPlan,
  s: CanaryState,
  payload: unknown,
): Decision<A> {
  const stage = currentStage(plan, s);
  switch (action) {
    case 'advance': {
      const p = fields(payload, { stage: 63, actor: 500 });
      if (!p.ok) return p;
      const end = ended(s);
      if (end) return refused(end);
      if (p.value.stage !== undefined && p.value.stage !== stage.name)
        return refused(`advance was for stage ${p.value.stage}, the rollout is at ${stage.name}`);
      if (isLastStage(plan, s))
        return refused(
          `${stage.name} is the last stage: nothing to advance to (the rollout completes when its hold ends)`,
        );
      if (s.paused !== null) return refused(`the rollout is paused (${s.paused.reason}); resume it first`);
      if (gatesDecommission(plan, s)) {
        // seed 002: decommission only after the hot-backup period was stable; a breach is known here already
        const triggers = triggerCheck(s.hotBackup ?? NO_HOT_BACKUP);
        if (!triggers.ok) return refused(`decommission refused: ${triggers.criterion}: ${triggers.detail}`);
      }
      return { ok: true, request: p.value as AdvanceRequest } as Decision<A>;
    }
    case 'pause': {
      const p = fields(payload, { reason: 500, actor: 500 });
      if (!p.ok) return p;
      const end = ended(s);
      if (end) return refused(end);
      if (s.paused !== null)
        return refused(`the rollout is already paused since ${s.paused.since} (${s.paused.reason})`);
      return { ok: true, request: p.value as PauseRequest } as Decision<A>;
    }
    case 'resume': {
      const p = fields(payload, { actor: 500 });
      if (!p.ok) return p;
      const end = ended(s);
      if (end) return refused(end);
      if (s.paused === null) return refused('the rollout is not paused');
      return { ok: true, request: p.value as ResumeRequest } as Decision<A>;
    }
    case 'rollback': {
      const p = fields(payload, { reason: 500, actor: 500 });
      if (!p.ok) return p;
      if (p.value.reason === undefined)
        return {
          ok: false,
          refusal: { kind: 'invalid', field: 'reason', reason: 'reason is required (the audit records why)' },
        };
      if (s.rollback !== null || s.rollbackPending !== null) return refused('a rollback is already under way or done');
      if (s.completed) return refused('the rollout has completed; use the kill switch (POST /v1/flags/kill)');
      return { ok: true, request: p.value as RollbackRequest } as Decision<A>;
    }
  }
  throw new TypeError(`unknown action ${String(action)}`);
}

/** Carries out an action {@link decide} allowed. */
export function apply<A extends ActionName>(action: A, s: CanaryState, request: ActionRequests[A], now: number): void {
  switch (action) {
    case 'advance': {
      const r = request as AdvanceRequest;
      s.stage.advanceApproved = true;
      s.stage.advanceBy = r.actor ?? 'signal';
      s.stage.advanceAt = now;
      return;
    }
    case 'pause': {
      const r = request as PauseRequest;
      accrue(s, now);
      s.paused = {
        by: 'operator',
        reason: r.reason ?? 'paused by an operator',
        actor: r.actor ?? null,
        since: iso(now),
      };
      return;
    }
    case 'resume':
      accrue(s, now);
      s.paused = null;
      return;
    case 'rollback': {
      const r = request as RollbackRequest;
      s.rollbackPending = { source: 'rollback', reason: r.reason, actor: r.actor ?? 'signal', trigger: null, at: now };
      return;
    }
  }
}
