import { log, proxyActivities, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { DrillActivities } from '../../activities/drill.js';
import type { createReportActivities } from '../../activities/reports.js';
import {
  judgeDrill, renderDrillReport, type DrillInvariants, type DrillJudgement, type FlagSetting, type FlipResult, type LoadSummary,
} from '../../lib/canary/drill.js';
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
  restored: boolean;
  reportId: string;
}

const { flipFlags, setFlagsOnce, snapshotFlags, checkDrillInvariants } = proxyActivities<DrillActivities>({
  startToCloseTimeout: '30 seconds',
  // Flips are idempotent on their change id; a flip that cannot land is a drill failure worth
  // failing loudly, so retries stop after a few quick tries.
  retry: { initialInterval: '200 milliseconds', backoffCoefficient: 2, maximumInterval: '2 seconds', maximumAttempts: 5, nonRetryableErrorTypes: [ErrorType.Validation] },
});

const { writeReport } = proxyActivities<ReturnType<typeof createReportActivities>>({ startToCloseTimeout: '1 minute' });

const SAFE = /[^A-Za-z0-9._-]+/g;

/**
 * The "on" values: during a rollout, where the rollout stands (and the flags start on); before
 * one, the drill's own percent with shadow (and the flags start off).
 */
function onTargets(snapshot: FlagSetting[], operations: string[] | undefined, onPercent: number): { targets: FlagSetting[]; startsOn: boolean } {
  const chosen = operations === undefined ? snapshot : snapshot.filter((f) => operations.includes(f.operation));
  const startsOn = chosen.some((f) => f.percent > 0 || f.shadow);
  return { targets: chosen.map((f) => (startsOn ? { ...f } : { operation: f.operation, percent: onPercent, shadow: true })), startsOn };
}

/**
 * The kill-switch drill (seed 002 step 5; issue 4 part 6), weekly on a Schedule and on demand:
 * flips the flags on and off every `flipEverySeconds` for `durationSeconds` while a synthetic
 * agent load routes through the worker's flag cache — "off" is the real kill switch, recorded as
 * a `drill` rollback event — then restores the flags as they were, checks that no push lock is
 * held past its expiry and no sandbox is stuck in use, and that every flip reached every
 * flag-caching process within the bound. Writes a report; SgcDecision = pass | fail.
 *
 * It moves real traffic: during a rollout, "on" is the rollout's own flags and "off" sends every
 * agent to approach 1 for the off half-periods. Schedule it in a quiet hour (03:00 Monday).
 */
export async function rollbackDrillWorkflow(input: RollbackDrillInput = {}): Promise<RollbackDrillResult> {
  const info = workflowInfo();
  const drillId = (input.drillId ?? info.workflowId).replace(SAFE, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 100) || 'drill';
  const every = input.flipEverySeconds ?? 30;
  const duration = input.durationSeconds ?? 300;
  const boundMs = input.switchBoundMs ?? 1_000;
  const flipsPlanned = Math.max(1, Math.floor(duration / every));
  upsertSearchAttributes([{ key: sgcPhaseKey, value: 'drill' }]);

  const startedAt = Date.now();
  const snapshot = await snapshotFlags();
  const { targets: on, startsOn } = onTargets(snapshot, input.operations, input.onPercent ?? 10);
  const actor = `rollback drill ${drillId}`;

  const { runSyntheticLoad } = proxyActivities<DrillActivities>({
    startToCloseTimeout: (duration + 60) * 1000,
    heartbeatTimeout: '30 seconds',
    // the load is an instrument, not the subject: one retry after a worker restart is enough
    retry: { maximumAttempts: 2 },
  });
  const loadDone = runSyntheticLoad({ drillId, durationMs: duration * 1000, agents: input.agents ?? 200, operations: input.operations });

  const flips: FlipResult[] = [];
  for (let k = 0; k < flipsPlanned; k++) {
    const due = startedAt + k * every * 1000 - Date.now();
    if (due > 0) await sleep(due);
    // alternate, starting away from where the flags are
    const direction = (k % 2 === 0) === startsOn ? 'off' : 'on';
    flips.push(await flipFlags({
      drillId, flip: k + 1, direction, targets: on, changeId: `drill/${drillId}/flip-${k + 1}`, actor, timeoutMs: input.switchTimeoutMs ?? 5_000,
    }));
  }
  const load = await loadDone;

  // put back what the drill found (a no-op when the last flip already did)
  const restore = input.operations === undefined ? snapshot : snapshot.filter((f) => input.operations!.includes(f.operation));
  await setFlagsOnce({ targets: restore, changeId: `drill/${drillId}/restore`, actor, reason: `rollback drill ${drillId}: restore pre-drill flags` });

  const finishedAt = Date.now();
  const invariants = await checkDrillInvariants({
    since: new Date(startedAt).toISOString(), at: new Date(finishedAt).toISOString(), stuckInUseSeconds: input.stuckInUseSeconds ?? 3_600,
  });
  const judgement = judgeDrill(flips, load, invariants, boundMs);
  const reportId = `rollback-drill-${drillId}`.slice(0, 128);
  const markdown = renderDrillReport({
    drillId, startedAt: new Date(startedAt).toISOString(), finishedAt: new Date(finishedAt).toISOString(), flipEverySeconds: every,
    durationSeconds: duration, switchBoundMs: boundMs, flips, load, invariants, judgement, restored: true,
  });
  await writeReport({
    id: reportId, kind: 'rollback-drill', runId: drillId, title: `Rollback drill ${drillId}: ${judgement.verdict}`, markdown,
    data: { judgement, flips, load, invariants },
  });
  upsertSearchAttributes([{ key: sgcDecisionKey, value: judgement.verdict }]);
  log.info('rollback drill done', { drillId, verdict: judgement.verdict, failures: judgement.failures.length });
  return { drillId, ...judgement, flips, load, invariants, restored: true, reportId };
}
