import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  log,
  proxyActivities,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DrillActivities, FlagSnapshot } from '../../activities/drill.js';
import type { createReportActivities } from '../../activities/reports.js';
import {
  judgeDrill,
  renderDrillReport,
  type DrillInvariants,
  type DrillJudgement,
  type FlagSetting,
  type FlipResult,
  type LoadSummary,
} from '../../lib/canary/drill.js';
import { DEFAULT_DRILL, DEFAULT_SWITCH_TIMEOUT_MS } from '../../lib/canary/defaults.js';
import { ErrorType } from '../../lib/errors.js';
import { sgcDecisionKey, sgcPhaseKey } from '../search-attributes.js';

export interface RollbackDrillInput {
  /** names the drill and its report; default derived from the workflow id */
  drillId?: string;
  /** seed 002 step 5: every 30 s … */
  flipEverySeconds?: number;
  /** … for 5 minutes */
  durationSeconds?: number;
  /** issue 4: every flip must reach every process in < 1 s */
  switchBoundMs?: number;
  /** "on" when every flag is off before the drill: this percent, with shadow (default 10) */
  onPercent?: number;
  /** flags flipped; default every flag */
  operations?: string[];
  /** synthetic agents routed during the drill (default 200) */
  agents?: number;
  /** a sandbox in use without activity for longer is stuck (default 3600 s, the pool TTL) */
  stuckInUseSeconds?: number;
  /** how long one flip waits for every process (default 5000 ms) */
  switchTimeoutMs?: number;
}

export interface RollbackDrillResult extends DrillJudgement {
  drillId: string;
  flips: FlipResult[];
  load: LoadSummary;
  invariants: DrillInvariants;
  /** the pre-drill flags were written back (false when a kill switch was pulled meanwhile) */
  restored: boolean;
  /** why nothing was restored; null when restored */
  restoreSkipped: string | null;
  reportId: string;
}

const { flipFlags, setFlagsOnce, snapshotFlags, checkDrillInvariants } = proxyActivities<DrillActivities>({
  startToCloseTimeout: '30 seconds',
  // Flips are idempotent on their change id; a flip that cannot land is a drill failure worth
  // failing loudly, so retries stop after a few quick tries.
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '2 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [ErrorType.Validation],
  },
});

const { writeReport } = proxyActivities<ReturnType<typeof createReportActivities>>({ startToCloseTimeout: '1 minute' });

const SAFE = /[^A-Za-z0-9._-]+/g;

/** The refusal of an "on" flip because the kill switch was pulled during the drill, else null. */
function killedDuringDrill(err: unknown): string | null {
  if (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === ErrorType.FlagsLatched
  )
    return err.cause.message;
  return null;
}

/**
 * The "on" values: during a rollout, where the rollout stands (and the flags start on); before
 * one, the drill's own percent with shadow (and the flags start off).
 */
function onTargets(
  snapshot: FlagSetting[],
  operations: string[] | undefined,
  onPercent: number,
): { targets: FlagSetting[]; startsOn: boolean } {
  const chosen = operations === undefined ? snapshot : snapshot.filter((f) => operations.includes(f.operation));
  const startsOn = chosen.some((f) => f.percent > 0 || f.shadow);
  return {
    targets: chosen.map((f) => (startsOn ? { ...f } : { operation: f.operation, percent: onPercent, shadow: true })),
    startsOn,
  };
}

/**
 * The kill-switch drill (seed 002 step 5; issue 4 part 6), weekly on a Schedule and on demand:
 * flips the flags on and off every `flipEverySeconds` for `durationSeconds` while a synthetic
 * agent load routes through the worker's flag cache — "off" is the real kill switch, recorded as
 * a `drill` rollback event — then restores the flags as they were, checks that no push lock is
 * held past its expiry and no sandbox is stuck in use, and that every flip reached every
 * flag-caching process within the bound. Writes a report; SgcDecision = pass | fail | aborted.
 *
 * The restore runs in a `finally` (a failed flip or a cancel never leaves flags half-way) and
 * never over a kill: once the kill switch is pulled (issue 9 item 5) the drill stops flipping,
 * restores nothing, says so in its result and report, and ends `aborted`.
 *
 * It moves real traffic: during a rollout, "on" is the rollout's own flags and "off" sends every
 * agent to approach 1 for the off half-periods. Schedule it in a quiet hour (03:00 Monday).
 */
export async function rollbackDrillWorkflow(input: RollbackDrillInput = {}): Promise<RollbackDrillResult> {
  const info = workflowInfo();
  const drillId =
    (input.drillId ?? info.workflowId)
      .replace(SAFE, '-')
      .replace(/^[^A-Za-z0-9]+/, '')
      .slice(0, 100) || 'drill';
  const every = input.flipEverySeconds ?? DEFAULT_DRILL.flipEverySeconds;
  const duration = input.durationSeconds ?? DEFAULT_DRILL.durationSeconds;
  const boundMs = input.switchBoundMs ?? DEFAULT_DRILL.switchBoundMs;
  const flipsPlanned = Math.max(1, Math.floor(duration / every));
  upsertSearchAttributes([{ key: sgcPhaseKey, value: 'drill' }]);

  const startedAt = Date.now();
  const snap: FlagSnapshot | FlagSetting[] = await snapshotFlags();
  // histories recorded before the kill latch carry a bare list (and no latch mark)
  const snapshot = Array.isArray(snap) ? snap : snap.flags;
  const notKilledAfter = Array.isArray(snap) ? undefined : snap.latchMark;
  const { targets: on, startsOn } = onTargets(snapshot, input.operations, input.onPercent ?? DEFAULT_DRILL.onPercent);
  const actor = `rollback drill ${drillId}`;

  const { runSyntheticLoad } = proxyActivities<DrillActivities>({
    startToCloseTimeout: (duration + 60) * 1000,
    heartbeatTimeout: '30 seconds',
    // the load is an instrument, not the subject: one retry after a worker restart is enough
    retry: { maximumAttempts: 2 },
  });
  const loadDone = runSyntheticLoad({
    drillId,
    durationMs: duration * 1000,
    agents: input.agents ?? DEFAULT_DRILL.agents,
    operations: input.operations,
  });
  // awaited below; when a flip fails first, the drill fails with that error, not this one
  loadDone.catch(() => undefined);

  const flips: FlipResult[] = [];
  let interruptedBy: string | null = null;
  let restoreSkipped: string | null = null;
  let load: LoadSummary;
  try {
    for (let k = 0; k < flipsPlanned; k++) {
      const due = startedAt + k * every * 1000 - Date.now();
      if (due > 0) await sleep(due);
      // alternate, starting away from where the flags are
      const direction = (k % 2 === 0) === startsOn ? 'off' : 'on';
      try {
        flips.push(
          await flipFlags({
            drillId,
            flip: k + 1,
            direction,
            targets: on,
            changeId: `drill/${drillId}/flip-${k + 1}`,
            actor,
            timeoutMs: input.switchTimeoutMs ?? DEFAULT_SWITCH_TIMEOUT_MS,
            notKilledAfter,
          }),
        );
      } catch (err) {
        // a real kill switch came: the drill stops turning flags on and leaves them killed
        interruptedBy = killedDuringDrill(err);
        if (interruptedBy === null) throw err;
        log.warn('rollback drill stopped by the kill switch', { drillId, flip: k + 1, reason: interruptedBy });
        break;
      }
    }
    load = await loadDone;
  } finally {
    // put back what the drill found (a no-op when the last flip already did) — also when a flip
    // failed or the drill was cancelled, so flags are never left half-way; never over a kill
    const restore =
      input.operations === undefined ? snapshot : snapshot.filter((f) => input.operations!.includes(f.operation));
    const restored = await CancellationScope.nonCancellable(() =>
      setFlagsOnce({
        targets: restore,
        changeId: `drill/${drillId}/restore`,
        actor,
        reason: `rollback drill ${drillId}: restore pre-drill flags`,
        notKilledAfter,
      }),
    );
    restoreSkipped = restored.skipped ?? null;
    if (restoreSkipped !== null)
      log.warn('rollback drill restored nothing: the kill switch was pulled', { drillId, reason: restoreSkipped });
  }

  const finishedAt = Date.now();
  const invariants = await checkDrillInvariants({
    since: new Date(startedAt).toISOString(),
    at: new Date(finishedAt).toISOString(),
    stuckInUseSeconds: input.stuckInUseSeconds ?? DEFAULT_DRILL.stuckInUseSeconds,
  });
  const judgement = judgeDrill(flips, load, invariants, boundMs, interruptedBy ?? restoreSkipped);
  const reportId = `rollback-drill-${drillId}`.slice(0, 128);
  const markdown = renderDrillReport({
    drillId,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    flipEverySeconds: every,
    durationSeconds: duration,
    switchBoundMs: boundMs,
    flips,
    load,
    invariants,
    judgement,
    restored: restoreSkipped === null,
    restoreSkipped,
  });
  await writeReport({
    id: reportId,
    kind: 'rollback-drill',
    runId: drillId,
    title: `Rollback drill ${drillId}: ${judgement.verdict}`,
    markdown,
    data: { judgement, flips, load, invariants },
  });
  upsertSearchAttributes([{ key: sgcDecisionKey, value: judgement.verdict }]);
  log.info('rollback drill done', { drillId, verdict: judgement.verdict, failures: judgement.failures.length });
  return {
    drillId,
    ...judgement,
    flips,
    load,
    invariants,
    restored: restoreSkipped === null,
    restoreSkipped,
    reportId,
  };
}
