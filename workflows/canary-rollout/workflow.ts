import {
  ActivityFailure, ApplicationFailure, TimeoutFailure, allHandlersFinished, condition, continueAsNew, log, proxyActivities,
  setHandler, upsertSearchAttributes, workflowInfo,
} from '@temporalio/workflow';
import type { AnalyseInput, CanaryActivities } from '../../activities/canary.js';
import {
  DEFAULT_ANALYSIS_INTERVAL_SECONDS, DEFAULT_CONSECUTIVE_BREACHES, DEFAULT_MAX_ANALYSES_PER_RUN, DEFAULT_STAGES, DEFAULT_THRESHOLDS,
  NO_STREAKS, evaluateAnalysis, nextState,
  type AnalysisValues, type BreachStreaks, type CanaryStage, type CanaryThresholds, type TriggerName,
} from '../../lib/canary/analysis.js';
import { ErrorType } from '../../lib/errors.js';
import { sgcPercentKey, sgcPhaseKey, sgcStageKey, sgcStatusKey } from '../search-attributes.js';
import {
  advanceSignal, pauseSignal, resumeSignal, rollbackSignal, statusQuery,
  type AnalysisRecord, type CanaryRunStatus, type CanaryStatus, type PauseInfo, type RollbackInfo,
} from './messages.js';

export interface CanaryRolloutInput {
  /** names the rollout; the workflow id is canaryWorkflowId(rolloutId) */
  rolloutId: string;
  /** default: shadow → 10% → 50% → 100% → decommission (lib/canary/analysis.ts) */
  stages?: CanaryStage[];
  /** default 300 (issue 4) */
  analysisIntervalSeconds?: number;
  /** the window each analysis measures; default = the interval */
  analysisWindowSeconds?: number;
  thresholds?: Partial<CanaryThresholds>;
  /** analyses in a row a trigger must breach to roll back; default 2 */
  consecutiveBreaches?: number;
  /** advance at a stage's end without waiting for the `advance` signal; default false */
  autoAdvance?: boolean;
  /**
   * Analyses per run before continue-as-new (default 300, see DEFAULT_MAX_ANALYSES_PER_RUN).
   * Tests set it low to force the boundary.
   */
  maxAnalysesPerRun?: number;
  /** per-rollout PromQL overrides, by query name (`canary.error_rate` …) */
  queries?: Record<string, string>;
  /** how long a rollback waits for every process to acknowledge the kill; default 5000 */
  switchTimeoutMs?: number;
  /** who started it (API principal, CLI user): the actor on the stages' flag changes */
  startedBy?: string;
  /** carried across continue-as-new; callers leave it out */
  state?: CanaryState;
}

export interface CanaryRolloutResult {
  rolloutId: string;
  outcome: 'completed' | 'rolled_back';
  /** the stage the rollout ended in */
  stage: string;
  percent: number;
  rollback: RollbackInfo | null;
  analyses: number;
  /** workflow runs the rollout took (continue-as-new generations) */
  runs: number;
}

/** Everything a run hands to the next one. Times are workflow-clock epoch ms. */
export interface CanaryState {
  /** first run's id: makes flag change ids unique even if a rollout id is reused */
  executionKey: string;
  run: number;
  stageIndex: number;
  stageApplied: boolean;
  stageStartedAt: number | null;
  heldMs: number;
  lastTickAt: number;
  nextAnalysisAt: number;
  analysesTotal: number;
  analysesInStage: number;
  /** status of the stage's latest analysis; null before its first */
  lastStatusInStage: AnalysisRecord['status'] | null;
  recent: AnalysisRecord[];
  streaks: BreachStreaks;
  baselineP95Seconds: number | null;
  paused: PauseInfo | null;
  advanceApproved: boolean;
  lastRejectedSignal: CanaryStatus['lastRejectedSignal'];
}

const RECENT_ANALYSES = 10;

const { applyStageFlags, killSwitch } = proxyActivities<CanaryActivities>({
  startToCloseTimeout: '30 seconds',
  // Flag changes must land: retry fast and without limit (each is idempotent on its change id);
  // only a rejected change (validation) is final.
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '5 seconds', nonRetryableErrorTypes: [ErrorType.Validation] },
});

const { analyse } = proxyActivities<CanaryActivities>({
  startToCloseTimeout: '30 seconds',
  // A late analysis is worth little: three quick tries, then the analysis is inconclusive (the
  // rollout pauses and says why) and the next interval starts afresh.
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '5 seconds', maximumAttempts: 3 },
});

/** Failures that make an analysis inconclusive instead of failing the rollout. */
const INCONCLUSIVE_TYPES = new Set<string>([ErrorType.PromUnavailable, ErrorType.PromBadQuery, ErrorType.NoData]);

function inconclusiveCause(err: unknown): string | null {
  if (!(err instanceof ActivityFailure)) return null;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && INCONCLUSIVE_TYPES.has(cause.type)) return `${cause.type}: ${cause.message}`;
  if (cause instanceof TimeoutFailure) return `analysis timed out (${cause.timeoutType})`;
  return null;
}

function allNoData(reason: string): AnalysisValues {
  const r = { kind: 'nodata', reason } as const;
  return { errorRate: r, operations: r, p95PooledSeconds: r, p95SimpleSeconds: r, consistency: r };
}

const iso = (ms: number): string => new Date(ms).toISOString();

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** An optional string field of a signal payload: the value, undefined when absent, null when malformed. */
function optionalText(payload: unknown, field: string, max = 500): string | undefined | null {
  if (payload === undefined || payload === null) return undefined;
  if (!isObject(payload)) return null;
  const v = payload[field];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length > max) return null;
  return v.trim() === '' ? undefined : v.trim();
}

/**
 * Moves traffic from approach 1 to approach 2 stage by stage (seed 004 step 10, seed 002):
 * each stage sets its flags (one audited change), then analyses every interval; a trigger that
 * breaches in `consecutiveBreaches` analyses in a row rolls back through the kill switch; an
 * inconclusive analysis (no data, Prometheus down) pauses with the reason. At a stage's end the
 * rollout advances on its own (`autoAdvance`) or waits for `advance`.
 *
 * History stays small for weeks: each stage starts a new run (continue-as-new at the stage
 * boundary), and a run also continues as new after `maxAnalysesPerRun` analyses or when the
 * server suggests it — always after every signal handler has finished, carrying the state.
 * Listed in Temporal UI as SgcPhase=canary with SgcStage, SgcPercent and SgcStatus.
 */
export async function canaryRolloutWorkflow(input: CanaryRolloutInput): Promise<CanaryRolloutResult> {
  const stages = input.stages && input.stages.length > 0 ? input.stages : DEFAULT_STAGES;
  const intervalMs = (input.analysisIntervalSeconds ?? DEFAULT_ANALYSIS_INTERVAL_SECONDS) * 1000;
  // PromQL windows are whole seconds (compressed benchmark runs use sub-second intervals)
  const windowSeconds = Math.max(1, Math.ceil(input.analysisWindowSeconds ?? input.analysisIntervalSeconds ?? DEFAULT_ANALYSIS_INTERVAL_SECONDS));
  const thresholds: CanaryThresholds = { ...DEFAULT_THRESHOLDS, ...input.thresholds };
  const consecutive = input.consecutiveBreaches ?? DEFAULT_CONSECUTIVE_BREACHES;
  const autoAdvance = input.autoAdvance ?? false;
  const maxPerRun = input.maxAnalysesPerRun ?? DEFAULT_MAX_ANALYSES_PER_RUN;
  const info = workflowInfo();
  const startedAt = Date.now();
  const state: CanaryState = input.state ?? {
    executionKey: info.runId, run: 1, stageIndex: 0, stageApplied: false, stageStartedAt: null, heldMs: 0, lastTickAt: startedAt,
    nextAnalysisAt: startedAt, analysesTotal: 0, analysesInStage: 0, lastStatusInStage: null, recent: [], streaks: { ...NO_STREAKS },
    baselineP95Seconds: null, paused: null, advanceApproved: false, lastRejectedSignal: null,
  };
  // hold time is counted from this run's start: the gap between runs is not workflow time held
  state.lastTickAt = startedAt;
  let analysesThisRun = 0;
  let wake = false;
  let requested: { source: RollbackInfo['source']; reason: string; actor: string; trigger: TriggerName | null; at: number } | null = null;
  let rollback: RollbackInfo | null = null;
  let finished = false;

  const stage = (): CanaryStage => stages[state.stageIndex]!;

  /** Counts hold time up to `now` unless paused (or the stage's flags are not in place yet). */
  const accrue = (now: number): void => {
    if (state.stageApplied && state.paused === null && !finished) state.heldMs += Math.max(0, now - state.lastTickAt);
    state.lastTickAt = now;
  };
  const holdDone = (): boolean => state.stageApplied && state.heldMs >= stage().holdSeconds * 1000;
  /** A stage is left only on a healthy last analysis; a stage held 0 s needs none. */
  const healthy = (): boolean => (stage().holdSeconds === 0 && state.lastStatusInStage === null) || state.lastStatusInStage === 'ok';
  const reject = (signal: string, reason: string): void => {
    state.lastRejectedSignal = { signal, reason, at: iso(Date.now()) };
    log.warn('signal ignored', { signal, reason });
  };

  const runStatus = (): CanaryRunStatus => {
    if (rollback !== null) return 'rolled_back';
    if (finished) return 'completed';
    if (state.paused !== null) return 'paused';
    if (holdDone() && !autoAdvance && !state.advanceApproved) return 'awaiting_advance';
    return 'running';
  };

  // Handlers are registered before the first await. A signal handler that throws fails the
  // workflow task over and over (FACTS.md), so bad payloads are logged and ignored, never thrown.
  setHandler(advanceSignal, (payload) => {
    const forStage = optionalText(payload, 'stage', 63);
    if (optionalText(payload, 'actor') === null || forStage === null) return reject('advance', 'payload must be {} or { "stage"?: string, "actor"?: string }');
    if (requested !== null || rollback !== null) return reject('advance', 'the rollout is rolling back');
    if (forStage !== undefined && forStage !== stage().name) return reject('advance', `advance was for stage ${forStage}, the rollout is at ${stage().name}`);
    state.advanceApproved = true;
    wake = true;
  });
  setHandler(pauseSignal, (payload) => {
    const reason = optionalText(payload, 'reason');
    const actor = optionalText(payload, 'actor');
    if (reason === null || actor === null) return reject('pause', 'payload must be {} or { "reason"?: string, "actor"?: string }');
    const now = Date.now();
    accrue(now);
    state.paused = { by: 'operator', reason: reason ?? 'paused by an operator', actor: actor ?? null, since: iso(now) };
    wake = true;
  });
  setHandler(resumeSignal, (payload) => {
    if (optionalText(payload, 'actor') === null) return reject('resume', 'payload must be {} or { "actor": string }');
    if (state.paused === null) return reject('resume', 'the rollout is not paused');
    accrue(Date.now());
    state.paused = null;
    wake = true;
  });
  setHandler(rollbackSignal, (payload) => {
    const reason = optionalText(payload, 'reason');
    const actor = optionalText(payload, 'actor');
    if (reason === null || actor === null || reason === undefined) return reject('rollback', 'payload must be { "reason": string (required), "actor"?: string }');
    if (requested !== null || rollback !== null) return reject('rollback', 'a rollback is already under way');
    if (finished) return reject('rollback', 'the rollout has completed; use the kill switch (POST /v1/flags/kill)');
    requested = { source: 'rollback', reason, actor: actor ?? 'signal', trigger: null, at: Date.now() };
    wake = true;
  });
  setHandler(statusQuery, (): CanaryStatus => {
    const s = stage();
    return {
      rolloutId: input.rolloutId,
      status: runStatus(),
      stage: {
        index: state.stageIndex, name: s.name, percent: rollback !== null ? 0 : s.percent, shadow: rollback !== null ? false : s.shadow,
        holdSeconds: s.holdSeconds, heldSeconds: Math.floor(state.heldMs / 1000), startedAt: state.stageStartedAt === null ? null : iso(state.stageStartedAt),
      },
      stages,
      paused: state.paused,
      advanceApproved: state.advanceApproved,
      autoAdvance,
      analysisIntervalSeconds: intervalMs / 1000,
      analyses: { total: state.analysesTotal, inStage: state.analysesInStage, thisRun: analysesThisRun },
      lastAnalyses: state.recent,
      streaks: state.streaks,
      baselineP95Seconds: state.baselineP95Seconds,
      rollback,
      lastRejectedSignal: state.lastRejectedSignal,
      run: state.run,
    };
  });

  let shown = '';
  const showInUi = (): void => {
    const percent = rollback !== null ? 0 : stage().percent;
    const status = runStatus() === 'completed' ? 'done' : runStatus();
    const key = `${stage().name}|${percent}|${status}`;
    if (key === shown) return;
    shown = key;
    upsertSearchAttributes([
      { key: sgcPhaseKey, value: 'canary' },
      { key: sgcStageKey, value: stage().name },
      { key: sgcPercentKey, value: percent },
      { key: sgcStatusKey, value: status },
    ]);
  };

  const result = (outcome: CanaryRolloutResult['outcome']): CanaryRolloutResult => ({
    rolloutId: input.rolloutId, outcome, stage: stage().name, percent: rollback !== null ? 0 : stage().percent,
    rollback, analyses: state.analysesTotal, runs: state.run,
  });

  const continueAsNewWithState = async (why: string): Promise<never> => {
    // every signal that arrived is handled (its effect is in `state`) before the state is handed on
    await condition(allHandlersFinished);
    log.info('canary continuing as new', { why, stage: stage().name, analyses: state.analysesTotal, run: state.run });
    return continueAsNew<typeof canaryRolloutWorkflow>({ ...input, state: { ...state, run: state.run + 1 } });
  };

  showInUi();

  for (;;) {
    if (requested !== null) {
      // the rollback: kill switch (all flags 0), measured until every process has switched
      const req: { source: RollbackInfo['source']; reason: string; actor: string; trigger: TriggerName | null; at: number } = requested;
      const from = stage().name;
      const kill = await killSwitch({
        reason: `canary ${input.rolloutId} at ${from}: ${req.reason}`, actor: req.actor, source: req.source,
        changeId: `canary/${input.rolloutId}/${state.executionKey}/rollback`, timeoutMs: input.switchTimeoutMs,
      });
      accrue(Date.now());
      rollback = {
        source: req.source, reason: req.reason, actor: req.actor, trigger: req.trigger, stage: from, requestedAt: iso(req.at),
        eventId: kill.eventId, changeId: kill.changeId, decidedAt: kill.decidedAt, switched: kill.switched,
        switchDurationMs: kill.durationMs, missingProcesses: kill.missing,
      };
      log.warn('canary rolled back', { stage: from, source: req.source, trigger: req.trigger, switched: kill.switched, switchDurationMs: kill.durationMs });
      showInUi();
      await condition(allHandlersFinished);
      return result('rolled_back');
    }

    if (!state.stageApplied) {
      const s = stage();
      const applied = await applyStageFlags({
        rolloutId: input.rolloutId, stage: s.name, percent: s.percent, shadow: s.shadow, operations: s.operations,
        changeId: `canary/${input.rolloutId}/${state.executionKey}/stage-${state.stageIndex}-${s.name}`,
        actor: input.startedBy ? `${input.startedBy} via canary ${input.rolloutId}` : `canary ${input.rolloutId}`,
      });
      const now = Date.now();
      state.stageApplied = true;
      state.stageStartedAt = now;
      state.lastTickAt = now;
      state.nextAnalysisAt = now + intervalMs;
      log.info('canary stage applied', { stage: s.name, percent: s.percent, shadow: s.shadow, changed: applied.changed, alreadyApplied: applied.alreadyApplied });
      continue; // a rollback requested meanwhile goes first
    }

    const now = Date.now();
    accrue(now);
    if (holdDone() && state.paused === null && healthy()) {
      if (state.stageIndex === stages.length - 1) {
        finished = true;
        showInUi();
        log.info('canary rollout completed', { stage: stage().name, analyses: state.analysesTotal });
        await condition(allHandlersFinished);
        return result('completed');
      }
      if (autoAdvance || state.advanceApproved) {
        log.info('canary advancing', { from: stage().name, to: stages[state.stageIndex + 1]!.name });
        Object.assign(state, {
          stageIndex: state.stageIndex + 1, stageApplied: false, stageStartedAt: null, heldMs: 0, analysesInStage: 0,
          lastStatusInStage: null, streaks: { ...NO_STREAKS }, advanceApproved: false,
        });
        return continueAsNewWithState('stage boundary');
      }
    }
    showInUi();
    if (analysesThisRun >= maxPerRun) return continueAsNewWithState(`${analysesThisRun} analyses in this run`);
    if (workflowInfo().continueAsNewSuggested) return continueAsNewWithState('suggested by the server');

    // sleep until the next analysis, the end of the hold, or a signal
    let wakeAt = state.nextAnalysisAt;
    if (state.paused === null && !holdDone()) wakeAt = Math.min(wakeAt, now + stage().holdSeconds * 1000 - state.heldMs);
    if (wakeAt > now) {
      wake = false;
      await condition(() => wake, wakeAt - now);
      continue;
    }

    // one analysis over the window that ends now. Fixed rate: windows tile without gaps (a
    // late timer does not push every later analysis back); after a long outage (worker down)
    // the cadence restarts from now instead of bursting through the missed analyses.
    state.nextAnalysisAt += intervalMs;
    if (state.nextAnalysisAt <= now) state.nextAnalysisAt = now + intervalMs;
    const request: AnalyseInput = { at: now / 1000, windowSeconds, queries: input.queries };
    let values: AnalysisValues;
    try {
      values = await analyse(request);
    } catch (err) {
      const why = inconclusiveCause(err);
      if (why === null) throw err;
      values = allNoData(why);
    }
    analysesThisRun++;
    state.analysesTotal++;
    state.analysesInStage++;
    const verdict = evaluateAnalysis(values, thresholds, { baselineP95Seconds: state.baselineP95Seconds });
    if (values.p95SimpleSeconds.kind === 'value') state.baselineP95Seconds = values.p95SimpleSeconds.value;
    const next = nextState(state.streaks, verdict, consecutive);
    state.streaks = next.streaks;
    state.lastStatusInStage = verdict.status;
    state.recent = [...state.recent, { at: iso(now), stage: stage().name, status: verdict.status, triggers: verdict.triggers }].slice(-RECENT_ANALYSES);
    if (next.action === 'rollback') {
      if (requested === null) requested = { source: 'auto', reason: next.reason, actor: `canary ${input.rolloutId}`, trigger: next.trigger, at: now };
    } else if (next.action === 'pause') {
      if (state.paused === null) {
        accrue(Date.now());
        state.paused = { by: 'inconclusive', reason: next.reason, actor: null, since: iso(now) };
        log.warn('canary paused: inconclusive analysis', { stage: stage().name, reason: next.reason });
      }
    }
  }
}
