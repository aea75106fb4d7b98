import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CanaryActivities } from '../../activities/canary.js';
import {
  stageFlags,
  stageMode,
  type AnalysisValues,
  type CanaryStage,
  type CanaryThresholds,
} from '../../lib/canary/analysis.js';
import { windowProblem } from '../../lib/canary/bounds.js';
import { evaluateStability, type StabilityThresholds, type WarmthProbe } from '../../lib/canary/stability.js';
import { ErrorType } from '../../lib/errors.js';
import { memoSummary } from '../memo.js';
import { canaryRollbackEvent, canaryStageEvent, notifyEvent } from '../notify.js';
import { sgcPercentKey, sgcPhaseKey, sgcStageKey, sgcStatusKey } from '../search-attributes.js';
import { canarySummary } from '../summary.js';
import {
  advanceSignal,
  advanceUpdate,
  pauseSignal,
  pauseUpdate,
  resumeSignal,
  resumeUpdate,
  rollbackSignal,
  rollbackUpdate,
  statusQuery,
  type CanaryStatus,
  type DataGap,
  type RollbackInfo,
} from './messages.js';
import {
  accrue,
  analysisWindow,
  apply,
  approved,
  beginRun,
  currentStage,
  gatesDecommission,
  recordGoNoGo,
  decide,
  held,
  holdRemainingMs,
  isLastStage,
  iso,
  nextRunState,
  planOf,
  recordAnalysis,
  runStatus,
  statusOf,
  takeAnalysisSlot,
  type ActionName,
  type CanaryPlan,
  type CanaryState,
  type Refusal,
} from './state.js';

export type { CanaryState } from './state.js';

export interface CanaryRolloutInput {
  /** names the rollout; the workflow id is canaryWorkflowId(rolloutId) */
  rolloutId: string;
  /** default: the seed-002 plan, shadow 10% → dual-write 50% → cutover 100% → decommission (lib/canary/analysis.ts) */
  stages?: CanaryStage[];
  /** default 300 (issue 4) */
  analysisIntervalSeconds?: number;
  /** the window each analysis measures; default = the interval */
  analysisWindowSeconds?: number;
  /**
   * Prometheus's scrape interval (config canary.scrapeIntervalSeconds); when given, a window
   * shorter than two of them is refused (it could never hold data)
   */
  scrapeIntervalSeconds?: number;
  /** analyses without enough approach-2 traffic widen the window for this long, then pause; default 1800 */
  insufficientDataPauseSeconds?: number;
  /** seed 004's success criteria judged over the hot-backup period before decommission */
  stability?: Partial<StabilityThresholds>;
  thresholds?: Partial<CanaryThresholds>;
  /** analyses in a row a trigger must breach to roll back; default 2 */
  consecutiveBreaches?: number;
  /** advance at a stage's end without waiting for `advance`; default false */
  autoAdvance?: boolean;
  /**
   * Analyses per run before continue-as-new within a stage (default 300, see
   * DEFAULT_MAX_ANALYSES_PER_RUN). Tests set it low to force the boundary.
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
  /** the analyses Prometheus did not answer, as gaps (status `dataGaps`; absent in runs recorded before) */
  dataGaps?: DataGap[];
}

const { applyStageFlags, killSwitch } = proxyActivities<CanaryActivities>({
  startToCloseTimeout: '30 seconds',
  // Flag changes must land: retry fast and without limit (each is idempotent on its change id);
  // only a rejected change (validation) is final.
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    nonRetryableErrorTypes: [ErrorType.Validation],
  },
});

const { probeHotBackup } = proxyActivities<CanaryActivities>({
  // the probe bounds itself (lib/service/hot-backup.ts, 20 s) and answers cold rather than fail;
  // a worker lost mid-probe is one retry, then the analysis records approach 1 as not known warm
  startToCloseTimeout: '60 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 2 },
});

// A late analysis is worth little: three quick tries, then the analysis is inconclusive (the
// rollout pauses and says why) and the next interval starts afresh.
const analysisRetry = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '5 seconds',
  maximumAttempts: 3,
} as const;
const { analyse } = proxyActivities<CanaryActivities>({
  startToCloseTimeout: '30 seconds',
  // analyse heartbeats on a timer while its queries run: a worker lost mid-analysis is retried
  // elsewhere after 10 s instead of the whole start-to-close (README "Failure modes")
  heartbeatTimeout: '10 seconds',
  retry: analysisRetry,
});
const { readStability } = proxyActivities<CanaryActivities>({
  startToCloseTimeout: '30 seconds',
  retry: analysisRetry,
});

/**
 * Moves traffic from approach 1 to approach 2 stage by stage (seed 004 step 10, seed 002), one
 * stage per workflow run:
 *
 *   1. apply the stage's flags (one audited change, once per stage);
 *   2. hold and analyse: an analysis every interval until the stage's hold is served with a
 *      healthy last analysis. A trigger that breaches in `consecutiveBreaches` analyses in a row
 *      rolls back through the kill switch; an inconclusive analysis (no data, Prometheus down)
 *      pauses with the reason, and paused time does not count; the analyses Prometheus did not
 *      answer are kept as a data gap, and the gap's pause lifts at the next analysis that judges;
 *   3. await approval: `advance` (or `autoAdvance`; the last stage needs none), analyses going on;
 *   4. continue-as-new into the next stage, or complete after the last one.
 *
 * Operators steer it with `advance`, `pause`, `resume` and `rollback`, each a signal (Temporal UI,
 * `temporal workflow signal`) and an Update with a validator (API, CLI: a refusal answers with
 * the reason); `status` is the query. All state is one {@link CanaryState} carried in the input.
 * A long stage also continues as new within itself after `maxAnalysesPerRun` analyses or when
 * the server suggests it, so no run's history grows with the rollout's length. Listed in
 * Temporal UI as SgcPhase=canary with SgcStage, SgcPercent and SgcStatus.
 */
export async function canaryRolloutWorkflow(input: CanaryRolloutInput): Promise<CanaryRolloutResult> {
  // issue 10 item 2 (stage modes, "not enough data yet", the decommission gate, go/no-go records):
  // runs recorded before it replay with the rules they were recorded with
  const seed002 = patched('canary-seed002-plan');
  // issue 10 item 2, "approach 1 kept ready during the hot backup": cutover analyses probe approach
  // 1's warmth (an activity more per analysis) and decommission requires it warm
  const warmth = seed002 && patched('canary-hot-backup-warmth');
  // issue 12 fault 4 (Prometheus stopped mid-analysis): the analyses it did not answer are data
  // gaps, and the pause a gap caused lifts once an analysis judges again; runs recorded before
  // replay with the pause held until `resume`
  const resumeAfterGap = seed002 && patched('canary-resume-after-data-gap');
  // the latency floor (the clean-clone smoke run's first cutover analysis: approach 1's P95 over a
  // handful of calls, 4.39×, a breach that kept decommission refused): a P95 over fewer than
  // thresholds.minLatencyOperations operations is too few to judge and never the carried
  // baseline; runs recorded before judge it as a ratio
  const latencyFloor = seed002 && patched('canary-latency-floor');
  if (seed002 && input.scrapeIntervalSeconds !== undefined) {
    const window = input.analysisWindowSeconds ?? input.analysisIntervalSeconds;
    const problem =
      window === undefined
        ? null
        : windowProblem(window, input.scrapeIntervalSeconds, {
            field: input.analysisWindowSeconds === undefined ? 'analysisIntervalSeconds' : 'analysisWindowSeconds',
          });
    if (problem !== null) throw ApplicationFailure.nonRetryable(problem, ErrorType.Validation);
  }
  const r: Run = {
    input,
    plan: planOf(input, seed002, warmth, resumeAfterGap, latencyFloor),
    s: beginRun(input.state, workflowInfo().runId, Date.now()),
    changes: 0,
    shown: '',
    memo: memoSummary(),
  };
  registerMessages(r);
  showInUi(r);

  // 1. apply the stage's flags (a later run of the same stage finds them applied)
  if (!r.s.stage.applied && r.s.rollbackPending === null) await applyStage(r);

  // 2. hold and analyse
  let step = await analyseUntil(r, () => held(r.plan, r.s));
  // 3. await approval (and, before decommission, a stable hot-backup period)
  if (step.kind === 'done') step = await analyseUntil(r, () => approved(r.plan, r.s));
  while (step.kind === 'done' && gatesDecommission(r.plan, r.s) && !(await stableForDecommission(r)))
    step = await analyseUntil(r, () => approved(r.plan, r.s));

  if (step.kind === 'rollback') return rollBack(r);
  if (step.kind === 'run-full') return continueAsNewInto(r, 'same stage', step.why);
  // 4. the next stage in a new run, or the end
  if (isLastStage(r.plan, r.s)) return complete(r);
  return continueAsNewInto(r, 'next stage', 'stage boundary');
}

/** One run's working set: the input, its resolved plan, the state, and a message counter that wakes waits. */
interface Run {
  input: CanaryRolloutInput;
  plan: CanaryPlan;
  s: CanaryState;
  changes: number;
  /** the search attributes last upserted */
  shown: string;
  /** sets the run's memo summary (Temporal UI's list) when it changes */
  memo: (summary: string) => void;
}

type Step = { kind: 'done' } | { kind: 'rollback' } | { kind: 'run-full'; why: string };

async function applyStage(r: Run): Promise<void> {
  const { input, s } = r;
  const stage = currentStage(r.plan, s);
  // a stage's mode decides its flags (shadow mode serves nobody from approach 2)
  const flags = r.plan.seed002 ? stageFlags(stage) : { percent: stage.percent, shadow: stage.shadow };
  // the flag audit names who approved the stage (the go of the stage before), else who started the rollout
  const go = r.plan.seed002 ? (s.goNoGo ?? []).filter((g) => g.decision === 'go').at(-1) : undefined;
  const who = go && go.next === stage.name ? go.by : input.startedBy;
  let applied;
  try {
    applied = await applyStageFlags({
      rolloutId: input.rolloutId,
      stage: stage.name,
      percent: flags.percent,
      shadow: flags.shadow,
      // the shadow share (seed 002's shadow week: 10 % of agents): an activity argument, no new command
      ...('shadowPercent' in flags ? { shadowPercent: flags.shadowPercent } : {}),
      operations: stage.operations,
      changeId: `canary/${input.rolloutId}/${s.executionKey}/stage-${s.stage.index}-${stage.name}`,
      actor: who ? `${who} via canary ${input.rolloutId}` : `canary ${input.rolloutId}`,
    });
  } catch (err) {
    // the kill switch holds the flags: the rollout ends rolled back instead of failing (replay-
    // safe: a run that never met the latch never took this branch, and it issues no new command)
    const latched = latchRefusal(err);
    if (latched === null) throw err;
    s.rollbackPending = { source: 'kill_switch', reason: latched, actor: 'kill switch', trigger: null, at: Date.now() };
    return;
  }
  const now = Date.now();
  Object.assign(s.stage, { applied: true, startedAt: now });
  s.lastTickAt = now;
  s.nextAnalysisAt = now + r.plan.intervalMs;
  log.info('canary stage applied', {
    stage: stage.name,
    percent: stage.percent,
    shadow: stage.shadow,
    changed: applied.changed,
    alreadyApplied: applied.alreadyApplied,
  });
  const id = `canary/${input.rolloutId}/${s.executionKey}/stage-${s.stage.index}-${stage.name}`;
  const stages = r.plan.stages.length;
  await notifyEvent(
    'notify-canary-stage',
    canaryStageEvent({ id, rolloutId: input.rolloutId, stage, stageIndex: s.stage.index, stages }),
  );
}

/**
 * Analyses every interval until `done` holds, a rollback is asked for, or this run has done its
 * share of analyses. Sleeps until the next analysis, the end of the hold, or a message.
 */
async function analyseUntil(r: Run, done: () => boolean): Promise<Step> {
  const { plan, s } = r;
  for (;;) {
    const now = Date.now();
    accrue(s, now);
    if (s.rollbackPending !== null) return { kind: 'rollback' };
    if (done()) return { kind: 'done' };
    showInUi(r);
    if (s.analysesThisRun >= plan.maxAnalysesPerRun)
      return { kind: 'run-full', why: `${s.analysesThisRun} analyses in this run` };
    if (workflowInfo().continueAsNewSuggested) return { kind: 'run-full', why: 'suggested by the server' };
    const wait = Math.min(s.nextAnalysisAt - now, holdRemainingMs(plan, s) ?? Infinity);
    if (wait > 0) {
      const seen = r.changes;
      await condition(() => r.changes !== seen, wait);
      continue;
    }
    takeAnalysisSlot(plan, s, now);
    let values: AnalysisValues;
    try {
      const answer = await analyse({
        at: now / 1000,
        windowSeconds: plan.seed002 ? analysisWindow(plan, s) : plan.windowSeconds,
        queries: r.input.queries,
      });
      if (answer.killLatch) {
        // the kill switch latched the flags (issue 9 item 5): end rolled back at this tick
        if (s.rollbackPending === null)
          s.rollbackPending = {
            source: 'kill_switch',
            reason: answer.killLatch.reason,
            actor: answer.killLatch.actor,
            trigger: null,
            at: now,
          };
        continue;
      }
      values = answer;
    } catch (err) {
      const why = inconclusiveCause(err);
      if (why === null) throw err;
      values = allNoData(why);
    }
    // the cutover week: is approach 1, the hot backup, warm (could a kill switch land on it now)?
    const probe =
      plan.hotBackupWarmth && stageMode(currentStage(plan, s)) === 'cutover' ? await probeWarmth() : undefined;
    const next = recordAnalysis(plan, s, values, now, Date.now(), probe);
    if (next.action === 'pause' && s.paused?.by === 'inconclusive')
      log.warn('canary paused: inconclusive analysis', { stage: currentStage(plan, s).name, reason: next.reason });
    if (next.action === 'widen')
      log.info('canary: not enough data yet; widening the next window', {
        stage: currentStage(plan, s).name,
        windowSeconds: analysisWindow(plan, s),
      });
  }
}

/**
 * Seed 002: approach 1 is decommissioned only once it has been stable — seed 004's success
 * criteria over the hot-backup period (the dual_write and cutover stages) and no rollback trigger
 * breached in it. A refusal is a no-go with the failing criterion: the approval is spent, the
 * stage goes on being analysed, and the check runs again at the next go (autoAdvance: after the
 * next analysis).
 */
async function stableForDecommission(r: Run): Promise<boolean> {
  const { plan, s } = r;
  const now = Date.now();
  const since = s.hotBackup?.since ?? null;
  const periodSeconds = since === null ? 0 : Math.max(1, Math.ceil((now - since) / 1000));
  let values;
  if (since === null) {
    const x = { kind: 'nodata', reason: 'no dual_write or cutover stage was analysed' } as const;
    values = { p90PushSeconds: x, poolReuse: x, errorRate: x };
  } else {
    try {
      values = await readStability({ at: now / 1000, windowSeconds: periodSeconds, queries: r.input.queries });
    } catch (err) {
      const why = inconclusiveCause(err);
      if (why === null) throw err;
      const x = { kind: 'nodata', reason: why, failed: true } as const;
      values = { p90PushSeconds: x, poolReuse: x, errorRate: x };
    }
  }
  const verdict = evaluateStability(
    values,
    plan.stability,
    s.hotBackup ?? { since: null, analyses: 0, breaches: [], breachCount: 0 },
    periodSeconds,
    { warmth: plan.hotBackupWarmth },
  );
  const at = Date.now();
  s.stability = { ...verdict, at: iso(at) };
  if (verdict.stable) return true;
  recordGoNoGo(plan, s, 'no-go', at, `decommission refused: ${verdict.failing}`, verdict);
  s.stage.advanceApproved = false;
  s.stage.refusedAtAnalysis = s.stage.analyses;
  log.warn('canary: decommission refused', { stage: currentStage(plan, s).name, failing: verdict.failing });
  showInUi(r);
  return false;
}

/** Approach 1's warmth now; a probe that could not run at all is not warm, with the reason. */
async function probeWarmth(): Promise<WarmthProbe> {
  try {
    return await probeHotBackup();
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    const cause = err.cause instanceof Error ? err.cause.message : err.message;
    return { warm: false, ms: 0, detail: `the warmth probe did not answer: ${cause}` };
  }
}

/** The refusal of a flag change because the kill switch latched the flags (its message), else null. */
function latchRefusal(err: unknown): string | null {
  if (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === ErrorType.FlagsLatched
  )
    return err.cause.message;
  return null;
}

/** The kill switch (every flag to 0), measured until every flag-caching process has switched. */
async function rollBack(r: Run): Promise<CanaryRolloutResult> {
  const { input, s } = r;
  const req = s.rollbackPending!;
  const from = currentStage(r.plan, s).name;
  const kill = await killSwitch({
    // after a latched kill the flags are already 0: this records nothing new ('kill' is its name in rollback_events)
    reason: `canary ${input.rolloutId} at ${from}: ${req.reason}`,
    actor: req.actor,
    source: req.source === 'kill_switch' ? 'kill' : req.source,
    changeId: `canary/${input.rolloutId}/${s.executionKey}/rollback`,
    timeoutMs: input.switchTimeoutMs,
  });
  accrue(s, Date.now());
  s.rollback = {
    source: req.source,
    reason: req.reason,
    actor: req.actor,
    trigger: req.trigger,
    stage: from,
    requestedAt: iso(req.at),
    eventId: kill.eventId,
    changeId: kill.changeId,
    decidedAt: kill.decidedAt,
    switched: kill.switched,
    switchDurationMs: kill.durationMs,
    missingProcesses: kill.missing,
  };
  s.rollbackPending = null;
  log.warn('canary rolled back', {
    stage: from,
    source: req.source,
    trigger: req.trigger,
    switched: kill.switched,
    switchDurationMs: kill.durationMs,
  });
  const id = `canary/${input.rolloutId}/${s.executionKey}/rollback`;
  const lastTriggers = s.recent.at(-1)?.triggers ?? [];
  showInUi(r);
  await notifyEvent(
    'notify-canary-rollback',
    canaryRollbackEvent({ id, rolloutId: input.rolloutId, rollback: s.rollback, lastTriggers }),
  );
  await condition(allHandlersFinished);
  return resultOf(r, 'rolled_back');
}

async function complete(r: Run): Promise<CanaryRolloutResult> {
  if (r.plan.seed002) recordGoNoGo(r.plan, r.s, 'go', Date.now(), 'last stage held: the rollout is complete');
  r.s.completed = true;
  showInUi(r);
  log.info('canary rollout completed', { stage: currentStage(r.plan, r.s).name, analyses: r.s.analysesTotal });
  await condition(allHandlersFinished);
  return resultOf(r, 'completed');
}

/**
 * Hands the state to a new run, after every message handler has finished (its effect is in the
 * state). A rollback asked for meanwhile is carried out here instead: the `rollback` Update
 * waits for it, so waiting for handlers first would wait forever.
 */
async function continueAsNewInto(r: Run, into: 'same stage' | 'next stage', why: string): Promise<CanaryRolloutResult> {
  await condition(() => allHandlersFinished() || r.s.rollbackPending !== null);
  if (r.s.rollbackPending !== null) return rollBack(r);
  if (into === 'next stage' && r.plan.seed002) {
    const stability = gatesDecommission(r.plan, r.s) && r.s.stability ? r.s.stability : undefined;
    recordGoNoGo(
      r.plan,
      r.s,
      'go',
      Date.now(),
      stability ? 'held healthy; hot-backup period stable' : 'held healthy',
      stability,
    );
  }
  const next = nextRunState(r.s, into === 'next stage');
  log.info('canary continuing as new', {
    why,
    from: currentStage(r.plan, r.s).name,
    to: r.plan.stages[next.stage.index]!.name,
    analyses: r.s.analysesTotal,
    run: r.s.run,
  });
  return continueAsNew<typeof canaryRolloutWorkflow>({ ...r.input, state: next });
}

function resultOf(r: Run, outcome: CanaryRolloutResult['outcome']): CanaryRolloutResult {
  const stage = currentStage(r.plan, r.s);
  return {
    rolloutId: r.input.rolloutId,
    outcome,
    stage: stage.name,
    percent: r.s.rollback !== null ? 0 : stage.percent,
    rollback: r.s.rollback,
    analyses: r.s.analysesTotal,
    runs: r.s.run,
    ...(r.plan.resumeAfterGap ? { dataGaps: r.s.dataGaps ?? [] } : {}),
  };
}

/**
 * Registers every message before the first await. Each action has the same rules as a signal
 * and as an Update (state.ts `decide`): a signal that cannot be taken is ignored and named in
 * the status — a signal handler that throws would fail the workflow task over and over
 * (FACTS.md) — while an Update's validator rejects it with the reason, leaving no trace in
 * history.
 */
function registerMessages(r: Run): void {
  const { plan, s } = r;
  /** Carries out an action; for an Update the validator has already let it through. */
  const take = (action: ActionName, payload: unknown): void => {
    const d = decide(action, plan, s, payload);
    if (!d.ok) throw refusalFailure(d.refusal);
    apply(action, s, d.request, Date.now());
    r.changes++;
  };
  const signal =
    (action: ActionName) =>
    (payload?: unknown): void => {
      const d = decide(action, plan, s, payload);
      if (d.ok) return take(action, payload);
      s.lastRejectedSignal = { signal: action, reason: d.refusal.reason, at: iso(Date.now()) };
      log.warn('signal ignored', { signal: action, reason: d.refusal.reason });
    };
  const validator =
    (action: ActionName) =>
    (payload?: unknown): void => {
      const d = decide(action, plan, s, payload);
      if (!d.ok) throw refusalFailure(d.refusal);
    };
  const update =
    (action: Exclude<ActionName, 'rollback'>) =>
    (payload?: unknown): CanaryStatus => {
      take(action, payload);
      return statusOf(plan, s);
    };

  setHandler(advanceSignal, signal('advance'));
  setHandler(pauseSignal, signal('pause'));
  setHandler(resumeSignal, signal('resume'));
  setHandler(rollbackSignal, signal('rollback'));
  setHandler(advanceUpdate, update('advance'), { validator: validator('advance') });
  setHandler(pauseUpdate, update('pause'), { validator: validator('pause') });
  setHandler(resumeUpdate, update('resume'), { validator: validator('resume') });
  // answers once the kill switch has run, so the caller learns whether every process switched
  setHandler(
    rollbackUpdate,
    async (payload) => {
      take('rollback', payload);
      await condition(() => s.rollback !== null);
      return statusOf(plan, s);
    },
    { validator: validator('rollback') },
  );
  setHandler(statusQuery, () => statusOf(plan, s));
}

function refusalFailure(refusal: Refusal): ApplicationFailure {
  return ApplicationFailure.create({
    type: refusal.kind === 'invalid' ? ErrorType.Validation : ErrorType.Refused,
    message: refusal.reason,
    nonRetryable: true,
    details: refusal.field ? [{ field: refusal.field }] : undefined,
  });
}

/** Keeps SgcStage, SgcPercent and SgcStatus current in Temporal UI (upserted only on change). */
function showInUi(r: Run): void {
  const { plan, s } = r;
  const stage = currentStage(plan, s);
  const percent = s.rollback !== null ? 0 : stage.percent;
  const status = runStatus(plan, s) === 'completed' ? 'done' : runStatus(plan, s);
  r.memo(canarySummary(statusOf(plan, s)));
  const key = `${stage.name}|${percent}|${status}`;
  if (key === r.shown) return;
  r.shown = key;
  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'canary' },
    { key: sgcStageKey, value: stage.name },
    { key: sgcPercentKey, value: percent },
    { key: sgcStatusKey, value: status },
  ]);
}

/** Failures that make an analysis inconclusive instead of failing the rollout. */
const INCONCLUSIVE_TYPES = new Set<string>([ErrorType.PromUnavailable, ErrorType.PromBadQuery, ErrorType.NoData]);

function inconclusiveCause(err: unknown): string | null {
  if (!(err instanceof ActivityFailure)) return null;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && INCONCLUSIVE_TYPES.has(cause.type))
    return `${cause.type}: ${cause.message}`;
  if (cause instanceof TimeoutFailure) return `analysis timed out (${cause.timeoutType})`;
  return null;
}

function allNoData(reason: string): AnalysisValues {
  // a failed query, not an empty answer: the analysis is inconclusive and the rollout pauses
  const x = { kind: 'nodata', reason, failed: true } as const;
  return { errorRate: x, operations: x, p95PooledSeconds: x, p95SimpleSeconds: x, operationsSimple: x, consistency: x };
}
