import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  BaselineActivities,
  FlagExpectation,
  LoadTarget,
  LoadWindowResult,
  PhasePlan,
  PreflightResult,
  TripInfo,
} from '../../activities/baseline.js';
import {
  DEFAULT_BREAKER_CHECK_EVERY_SECONDS,
  DEFAULT_SLIDING_BREAKER,
  evaluateBreaker,
  type BreakerDecision,
  type BreakerThresholds,
} from '../../lib/baseline/breaker.js';

export interface LiveBreakerSettings {
  /** judge the breaker on a sliding window while the load runs (seed 003: "stop immediately") */
  live: boolean;
  windowSeconds: number;
  checkEverySeconds: number;
  minRequests: number;
}
import type { CriteriaThresholds } from '../../lib/baseline/criteria.js';
import type { CsvProfile } from '../../lib/baseline/csv.js';
import type { RunOutcome } from '../../lib/baseline/report.js';
import type { SloOptions } from '../../lib/baseline/slo.js';
import { notifyEvent, phaseEvent } from '../notify.js';
import { ErrorType } from '../../lib/errors.js';
import { artifactRunId } from '../ids.js';
import { memoSummary } from '../memo.js';
import { sgcDecisionKey, sgcPhaseKey, sgcStageKey, sgcStatusKey } from '../search-attributes.js';
import { baselineSummary } from '../summary.js';
import {
  cancelSignal,
  statusQuery,
  type BaselineRunStatus,
  type BaselineStage,
  type BaselineStatus,
  type SamplePhase,
} from './messages.js';

export interface LoadStage {
  rps: number;
  connections: number;
}

/**
 * One baseline run, fully specified: the starter fills every field from temporal.yaml's
 * `baseline:` section (seed 003 defaults) plus per-run overrides, since workflow code cannot
 * read config. Durations in seconds; tests pass seconds where the seed has minutes and hours.
 */
export interface ProductionBaselineInput {
  target: LoadTarget;
  profile: CsvProfile;
  /** `$job` regex of the baseline queries: whose process metrics (CPU, RSS) count */
  job: string;
  /** seed 003: rate 20, concurrency 5, 10 min; sampled in windows of baseline.intervalSeconds; 0 skips it */
  warmup: LoadStage & { durationSeconds: number };
  /** seed 003: rate 80, concurrency 20, 12 samples × 10 min */
  baseline: LoadStage & { samples: number; intervalSeconds: number };
  /** seed 003 day 2: after `waitSeconds`, 4 samples × 15 min */
  day2: LoadStage & { enabled: boolean; waitSeconds: number; samples: number; intervalSeconds: number };
  /** seed 003's optional fallback scenario (cache misses counted as fallback), 2 × 15 min */
  fallbackScenario: LoadStage & { enabled: boolean; samples: number; intervalSeconds: number };
  /** seed 003: stop if error rate > 2% or effective fallback > 8% in the last window */
  /** thresholds, and how the breaker watches load live (absent in runs started before it existed) */
  breaker: BreakerThresholds & Partial<LiveBreakerSettings>;
  criteria: CriteriaThresholds;
  slo: SloOptions;
  load: { requestTimeoutMs: number; maxInFlight?: number };
  /** flag settings preflight insists on, e.g. { "git.push": { percent: 0 } } */
  expectedFlags: Record<string, FlagExpectation>;
  /** per-run PromQL overrides by name (`baseline.<column>`) */
  queryOverrides?: Record<string, string>;
}

export interface ProductionBaselineResult {
  runId: string;
  outcome: RunOutcome;
  /** go / no-go from the success criteria; tripped when the breaker stopped the run */
  decision: 'go' | 'no-go' | 'tripped';
  trip: TripInfo | null;
  reason: string | null;
  samples: Record<SamplePhase, number>;
  reportIds: string[];
  archive: { name: string; sha256: string; bytes: number } | null;
}

/**
 * Bound on load windows per run, which bounds history: each window is about 6 events (activity
 * scheduled/started/completed + one workflow task), so 600 windows plus ~40 events of set-up,
 * reports and search attributes stay under the 4,096 events at which the server suggests
 * continue-as-new. Seed 003's defaults use 19 windows (1 warmup + 12 + 4 + 2), about 160 events.
 */
export const MAX_LOAD_WINDOWS = 600;

const setup = proxyActivities<BaselineActivities>({
  startToCloseTimeout: '2 minutes',
  // Prometheus, the target or Postgres blipping at start-up: back off for a few minutes, then
  // fail the run with the preflight's reason (a refused token or a flag mismatch is non-retryable).
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

const { preflight } = proxyActivities<BaselineActivities>({
  // creating the git mix's workspaces clones a repository per workspace
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 5 },
});

const reports = proxyActivities<BaselineActivities>({
  startToCloseTimeout: '5 minutes',
  // reports are the run's product: keep trying through a Postgres or disk hiccup
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

/** The load activity's options depend on the window length, so they are built per window. */
function loadActivity(windowSeconds: number, requestTimeoutMs: number) {
  return proxyActivities<BaselineActivities>({
    // the window, the drain of its last requests, and the sample's queries
    startToCloseTimeout: windowSeconds * 1000 + requestTimeoutMs + 120_000,
    // heartbeats (every second, throttled to 80% of this) carry cancellation to the load, and a
    // dead worker's window is retried elsewhere within this
    heartbeatTimeout: '10 seconds',
    // a cancelled run writes its partial summary only after the load has really stopped
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // a retry measures the window anew (or returns the row an earlier attempt stored)
    retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 5 },
  }).runLoadWindow;
}

interface PhaseRun extends PhasePlan {
  /** window lengths, seconds (warmup's last window may be shorter) */
  windows: number[];
  countCacheMissAsFallback: boolean;
}

function planPhases(input: ProductionBaselineInput): PhaseRun[] {
  const phases: PhaseRun[] = [];
  const interval = input.baseline.intervalSeconds;
  if (input.warmup.durationSeconds > 0) {
    const windows: number[] = [];
    for (let left = input.warmup.durationSeconds; left > 0; left -= interval) windows.push(Math.min(interval, left));
    phases.push({
      phase: 'warmup',
      rps: input.warmup.rps,
      connections: input.warmup.connections,
      intervalSeconds: interval,
      samples: windows.length,
      windows,
      countCacheMissAsFallback: false,
    });
  }
  const fixed = (
    phase: SamplePhase,
    s: LoadStage & { samples: number; intervalSeconds: number },
    countCacheMissAsFallback = false,
  ): PhaseRun => ({
    phase,
    rps: s.rps,
    connections: s.connections,
    intervalSeconds: s.intervalSeconds,
    samples: s.samples,
    windows: Array.from({ length: s.samples }, () => s.intervalSeconds),
    countCacheMissAsFallback,
  });
  phases.push(fixed('baseline', input.baseline));
  if (input.day2.enabled) phases.push(fixed('extended', input.day2));
  if (input.fallbackScenario.enabled) phases.push(fixed('fallback', input.fallbackScenario, true));
  return phases;
}

/**
 * The breaker's view of a window: the error rate is the worse of the service's (Prometheus) and
 * the load engine's (client side) — the client sees failures Prometheus has not scraped yet, and
 * failures the service never counts (a proxy's 502, a refused connection).
 */
function judge(r: LoadWindowResult, t: BreakerThresholds): BreakerDecision {
  const client = r.client.completed > 0 ? r.client.errorRate : null;
  const server = r.values.error_rate ?? null;
  const errorRate = client === null ? server : server === null ? client : Math.max(client, server);
  return evaluateBreaker(
    {
      sampleNum: r.sampleNum,
      timestamp: r.timestamp,
      values: { error_rate: errorRate, effective_fallback_ratio: r.values.effective_fallback_ratio ?? null },
    },
    t,
  );
}

function permanent(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

/** The run's own failure from an activity's last failure, keeping its type (Auth, Validation, …). */
function toRunFailure(err: ActivityFailure): ApplicationFailure {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure) return permanent(cause.type ?? ErrorType.Internal, cause.message);
  return permanent(ErrorType.Internal, `${err.activityType ?? 'activity'} failed: ${cause?.message ?? err.message}`);
}

/**
 * Seed 003's two-day production baseline: preflight → environment capture → warmup →
 * baseline samples under load → report + SLO draft → wait for day 2 → extended samples →
 * optional fallback scenario → finalisation + archive. Each sample is one load window (see
 * activities/baseline.ts); after every window the circuit breaker judges that window alone and
 * a trip ends the run as `tripped`, naming the rule and value. On a trip, a `cancel` signal or
 * workflow cancellation the run still writes a partial summary, metadata and archive.
 *
 * Listed in Temporal UI as SgcPhase=baseline, SgcStage=<stage>, SgcStatus, SgcDecision
 * (go / no-go / tripped). No continue-as-new: history is bounded by MAX_LOAD_WINDOWS (see
 * there); a run asking for more windows is rejected at start.
 */
export async function productionBaselineWorkflow(input: ProductionBaselineInput): Promise<ProductionBaselineResult> {
  const runId = artifactRunId(workflowInfo().workflowId);
  const phases = planPhases(input);
  const windows = phases.reduce((n, p) => n + p.windows.length, 0);
  const startedAt = Date.now() / 1000;
  const status: BaselineStatus = {
    runId,
    stage: 'preflight',
    status: 'running',
    phase: null,
    sampleNum: 0,
    samplesTotal: 0,
    lastSample: null,
    breaker: { state: 'na', reason: 'no sample yet' },
    decision: null,
    day2At: null,
    reportIds: [],
  };
  const counts: Record<SamplePhase, number> = { warmup: 0, baseline: 0, extended: 0, fallback: 0 };
  const work = new CancellationScope();
  let cancelReason: string | null = null;

  setHandler(statusQuery, () => status);
  setHandler(cancelSignal, (arg) => {
    if (cancelReason !== null) return;
    const r = typeof arg?.reason === 'string' ? arg.reason.trim().slice(0, 200) : '';
    cancelReason = r || 'cancelled by an operator';
    log.info('baseline cancel requested', { reason: cancelReason });
    work.cancel();
  });

  const memo = memoSummary();
  const setStage = (stage: BaselineStage): void => {
    status.stage = stage;
    upsertSearchAttributes([{ key: sgcStageKey, value: stage }]);
    memo(baselineSummary(status));
  };
  const setOutcome = (s: BaselineRunStatus, decision: string | null): void => {
    status.status = s;
    upsertSearchAttributes([
      { key: sgcStatusKey, value: s },
      ...(decision ? [{ key: sgcDecisionKey, value: decision }] : []),
    ]);
    memo(baselineSummary(status));
  };
  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'baseline' },
    { key: sgcStageKey, value: 'preflight' },
    { key: sgcStatusKey, value: 'running' },
  ]);

  if (windows > MAX_LOAD_WINDOWS) {
    throw permanent(
      ErrorType.Validation,
      `the run asks for ${windows} load windows; at most ${MAX_LOAD_WINDOWS} fit one workflow history`,
    );
  }

  const liveBreaker =
    input.breaker.live === false
      ? undefined
      : {
          errorRateMax: input.breaker.errorRateMax,
          effectiveFallbackMax: input.breaker.effectiveFallbackMax,
          windowSeconds: input.breaker.windowSeconds ?? DEFAULT_SLIDING_BREAKER.windowSeconds,
          minRequests: input.breaker.minRequests ?? DEFAULT_SLIDING_BREAKER.minRequests,
          checkEverySeconds: input.breaker.checkEverySeconds ?? DEFAULT_BREAKER_CHECK_EVERY_SECONDS,
        };

  /** Runs a phase's windows; returns the trip that stopped it, or null. */
  const runPhase = async (p: PhaseRun, target: LoadTarget): Promise<TripInfo | null> => {
    status.stage = p.phase;
    upsertSearchAttributes([{ key: sgcStageKey, value: p.phase }]);
    Object.assign(status, { phase: p.phase, sampleNum: 0, samplesTotal: p.windows.length });
    memo(baselineSummary(status));
    for (let i = 0; i < p.windows.length; i++) {
      const r = await loadActivity(
        p.windows[i],
        input.load.requestTimeoutMs,
      )({
        runId,
        phase: p.phase,
        sampleNum: i + 1,
        windowSeconds: p.windows[i],
        target,
        rps: p.rps,
        connections: p.connections,
        requestTimeoutMs: input.load.requestTimeoutMs,
        maxInFlight: input.load.maxInFlight,
        profile: input.profile,
        job: input.job,
        countCacheMissAsFallback: p.countCacheMissAsFallback,
        queryOverrides: input.queryOverrides,
        ...(liveBreaker ? { liveBreaker } : {}),
      });
      counts[p.phase] = i + 1;
      if (r.liveTrip) {
        const t = r.liveTrip;
        const after = Math.max(0, Math.round(t.detectedAt / 1000 - (r.timestamp - r.windowSeconds)));
        const reason = `${p.phase}: stopped during sample ${r.sampleNum}: ${t.reason}`;
        Object.assign(status, {
          sampleNum: i + 1,
          lastSample: { phase: p.phase, sampleNum: r.sampleNum, timestamp: r.timestamp, values: r.values },
          breaker: { state: 'tripped', reason, rule: t.rule, value: t.value, threshold: t.threshold },
        });
        log.warn('baseline circuit breaker stopped the load mid-window', {
          phase: p.phase,
          sampleNum: r.sampleNum,
          rule: t.rule,
          value: t.value,
          detectedAt: t.detectedAt,
          after,
        });
        return { phase: p.phase, sampleNum: r.sampleNum, rule: t.rule, value: t.value, threshold: t.threshold, reason };
      }
      const b = judge(r, input.breaker);
      Object.assign(status, {
        sampleNum: i + 1,
        lastSample: { phase: p.phase, sampleNum: r.sampleNum, timestamp: r.timestamp, values: r.values },
        breaker: { state: b.state, reason: b.reason, rule: b.rule, value: b.value, threshold: b.threshold },
      });
      memo(baselineSummary(status));
      if (b.tripped && b.rule !== undefined && b.value !== undefined && b.threshold !== undefined) {
        log.warn('baseline circuit breaker tripped', {
          phase: p.phase,
          sampleNum: r.sampleNum,
          rule: b.rule,
          value: b.value,
        });
        return {
          phase: p.phase,
          sampleNum: r.sampleNum,
          rule: b.rule,
          value: b.value,
          threshold: b.threshold,
          reason: `${p.phase}: ${b.reason}`,
        };
      }
    }
    return null;
  };

  let pre: PreflightResult | null = null;
  let trip: TripInfo | null = null;
  let outcome: RunOutcome = 'completed';
  let reason: string | null = null;
  let externalCancel: unknown = null;
  let failure: ApplicationFailure | null = null;

  try {
    await work.run(async () => {
      const parameters = { ...input } as unknown as Record<string, unknown>;
      const checked = await preflight({
        runId,
        startedAt,
        target: input.target,
        job: input.job,
        expectedFlags: input.expectedFlags,
        parameters,
      });
      pre = checked;
      setStage('environment');
      await setup.captureEnvironment({ runId, target: input.target, parameters });
      const target: LoadTarget =
        input.target.mix.kind === 'git'
          ? { ...input.target, mix: { ...input.target.mix, workspaceIds: checked.workspaceIds } }
          : input.target;

      for (const p of phases.filter((x) => x.phase === 'warmup' || x.phase === 'baseline')) {
        trip = await runPhase(p, target);
        if (trip) return;
      }
      setStage('report');
      const day1 = await reports.writeDay1Report({
        runId,
        profile: input.profile,
        criteria: input.criteria,
        breaker: input.breaker,
        slo: input.slo,
        baseline: phases.find((x) => x.phase === 'baseline')!,
      });
      status.decision = day1.decision;
      status.reportIds = day1.reportIds;
      upsertSearchAttributes([{ key: sgcDecisionKey, value: day1.decision }]);

      const extended = phases.find((x) => x.phase === 'extended');
      if (extended) {
        setStage('day2-wait');
        status.day2At = Date.now() / 1000 + input.day2.waitSeconds;
        await sleep(input.day2.waitSeconds * 1000);
        status.day2At = null;
        trip = await runPhase(extended, target);
        if (trip) return;
      }
      const fallback = phases.find((x) => x.phase === 'fallback');
      if (fallback) trip = await runPhase(fallback, target);
    });
  } catch (err) {
    if (isCancellation(err)) {
      outcome = 'cancelled';
      reason = cancelReason ?? 'the workflow was cancelled';
      // cancelled through Temporal (not our signal): end as Cancelled once the summary is written
      if (cancelReason === null) externalCancel = err;
    } else if (err instanceof ActivityFailure) {
      // any activity that exhausted its retries ends the run; it still gets its partial summary,
      // then fails with that activity's failure type (Auth, Validation, Unavailable, …)
      failure = toRunFailure(err);
      outcome = 'failed';
      reason = failure.message;
    } else {
      throw err;
    }
  }
  if (trip !== null) {
    outcome = 'tripped';
    reason = (trip as TripInfo).reason;
    await notifyEvent(
      'notify-breaker-trip',
      phaseEvent('breaker-trip', { kind: 'breaker_trip', runId, ...(trip as TripInfo) }),
    );
  }

  setStage('finalize');
  const finishedAt = Date.now() / 1000;
  const preflightDone = pre as PreflightResult | null;
  // the partial summary must be written even when the run itself was cancelled
  const fin = await CancellationScope.nonCancellable(() =>
    reports.finalizeArtifacts({
      runId,
      profile: input.profile,
      criteria: input.criteria,
      breaker: input.breaker,
      slo: input.slo,
      phases: phases.map(({ phase, rps, connections, intervalSeconds, samples }) => ({
        phase,
        rps,
        connections,
        intervalSeconds,
        samples,
      })),
      outcome,
      reason: reason ?? undefined,
      trip: trip ?? undefined,
      startedAt,
      finishedAt,
      release: preflightDone?.createdWorkspaces
        ? { target: input.target, workspaceIds: preflightDone.workspaceIds }
        : undefined,
    }),
  );

  const decision: ProductionBaselineResult['decision'] =
    outcome === 'tripped' ? 'tripped' : outcome === 'completed' ? fin.decision : 'no-go';
  const finalStatus: BaselineRunStatus = outcome === 'completed' ? 'done' : outcome;
  status.decision = decision;
  status.reportIds = fin.reportIds;
  if (trip !== null) status.breaker = { ...status.breaker, state: 'tripped' };
  setStage('done');
  setOutcome(finalStatus, decision);
  log.info('baseline finished', { outcome, decision });
  const done = { kind: 'baseline_done', runId, outcome, decision, reason, reportIds: fin.reportIds } as const;
  await notifyEvent('notify-baseline-done', phaseEvent('done', done));

  if (externalCancel !== null) throw externalCancel;
  if (failure !== null) throw failure;
  return { runId, outcome, decision, trip, reason, samples: counts, reportIds: fin.reportIds, archive: fin.archive };
}
