import {
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { DriftActivities, DriftReportResult, DriftTargetInput } from '../../activities/drift.js';
import { targetName, toSampleSet, type DriftSampleSet, type DriftStoredSample } from '../../lib/drift/review.js';
import type { DriftThresholds } from '../../lib/drift/verdict.js';
import { artifactRunId } from '../ids.js';
import { memoSummary } from '../memo.js';
import { notifyEvent, phaseEvent } from '../notify.js';
import { sgcDecisionKey, sgcPhaseKey, sgcStageKey, sgcStatusKey } from '../search-attributes.js';
import { driftSummary } from '../summary.js';
import { driftStatusQuery, type DriftStage, type DriftStatus } from './messages.js';

/** Where a review continued-as-new left off. */
export interface DriftCarry {
  /** T0, unix seconds */
  t0At: number;
  /** the next periodic sample to take (1-based) */
  nextSample: number;
  /** a sample set (runs before reviews covered several processes carried one process's sample) */
  lastSample: DriftStoredSample | null;
}

/**
 * One drift review, fully specified by the starter from temporal.yaml's `drift:` section (seed
 * 001: short soak 2 h, full 48 h, a sample every 5 min, the API and the worker) plus overrides.
 * Seconds throughout.
 */
export interface DriftReviewInput {
  /** the reviewed processes, each with a verdict of its own (default: every drift.targets entry) */
  targets?: DriftTargetInput[];
  /** @deprecated the one process of reviews started before `targets`; read as a list of one */
  target?: DriftTargetInput;
  durationSeconds: number;
  intervalSeconds: number;
  thresholds: DriftThresholds;
  /** shortest review reported as `full` (drift.fullReviewMinSeconds, seed 001: 48 h); shorter ones are `provisional` */
  fullReviewMinSeconds?: number;
  /** per-review PromQL overrides by name (`drift.<quantity>`) */
  queryOverrides?: Record<string, string>;
  /** continue-as-new after this many samples in one run (default 300); tests lower it to force the boundary */
  samplesPerRun?: number;
  /** set by continue-as-new, absent when a review starts */
  carry?: DriftCarry;
}

/** The report's verdict (activities/drift.ts), returned as it is with the review's id. */
export interface DriftReviewResult extends DriftReportResult {
  reviewId: string;
}

/**
 * About 11 history events per sample (timer, activity, two workflow tasks), so 300 samples stay
 * under the 4,096 events at which the server suggests continue-as-new. A 48 h review at one
 * sample a minute (2,880 samples) spans ten runs.
 */
const DEFAULT_SAMPLES_PER_RUN = 300;

const acts = proxyActivities<DriftActivities>({
  startToCloseTimeout: '1 minute',
  // A sample asks Prometheus about a fixed instant, so a late retry reads the same data: keep
  // retrying through a Prometheus restart rather than lose the sample.
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 20 },
});

const report = proxyActivities<DriftActivities>({
  startToCloseTimeout: '5 minutes',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
});

/**
 * Seed 001's drift review / soak of every reviewed process (the API and the worker by default):
 * a T0 capture, a sample every interval up to T+duration (sample k is due at T0 + k·interval, the
 * last exactly at T+duration, so timer latency never accumulates), each sample one activity that
 * measures every process at the same instant, then the verdict over all stored samples — per
 * process the T0 / T+N / Delta resource table and seven criteria, "N/7 criteria met"; overall PASS
 * only when every process meets 7/7, `provisional` for a short soak and `full` only from
 * fullReviewMinSeconds (48 h). Samples live in Postgres, not in history; the workflow
 * continues-as-new every `samplesPerRun` samples (or when the server suggests it) carrying only
 * T0 and its position. Listed in Temporal UI as SgcPhase=drift, SgcStage, SgcDecision pass/fail.
 */
export async function driftReviewWorkflow(input: DriftReviewInput): Promise<DriftReviewResult> {
  const reviewId = artifactRunId(workflowInfo().workflowId);
  const targets = input.targets ?? (input.target ? [input.target] : []);
  // results replayed from runs before `targets` are one process's flat sample
  const asSet = (s: DriftStoredSample): DriftSampleSet =>
    toSampleSet(s, targets.length > 0 ? targetName(targets[0]) : 'target');
  const total = Math.ceil(input.durationSeconds / input.intervalSeconds);
  const perRun = Math.max(1, input.samplesPerRun ?? DEFAULT_SAMPLES_PER_RUN);
  const status: DriftStatus = {
    reviewId,
    stage: input.carry ? 'sampling' : 't0',
    t0At: input.carry?.t0At ?? null,
    sampleNum: input.carry ? input.carry.nextSample - 1 : 0,
    samplesTotal: total,
    lastSample: input.carry?.lastSample ? asSet(input.carry.lastSample) : null,
    verdict: null,
  };
  setHandler(driftStatusQuery, () => status);
  const memo = memoSummary();
  const setStage = (stage: DriftStage): void => {
    status.stage = stage;
    upsertSearchAttributes([{ key: sgcStageKey, value: stage }]);
    memo(driftSummary(status));
  };
  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'drift' },
    { key: sgcStageKey, value: status.stage },
    { key: sgcStatusKey, value: 'running' },
  ]);

  const sampleInput = (sampleNum: number, at: number) => ({
    reviewId,
    sampleNum,
    at,
    targets,
    intervalSeconds: input.intervalSeconds,
    queryOverrides: input.queryOverrides,
  });

  let carry = input.carry;
  if (!carry) {
    const t0At = Date.now() / 1000;
    await acts.beginDriftReview({
      reviewId,
      targets,
      durationSeconds: input.durationSeconds,
      intervalSeconds: input.intervalSeconds,
      startedAt: t0At,
    });
    const t0 = asSet(await acts.sampleDrift(sampleInput(0, t0At)));
    carry = { t0At, nextSample: 1, lastSample: t0 };
    Object.assign(status, { t0At, lastSample: t0 });
    setStage('sampling');
  }

  let takenThisRun = 0;
  for (let k = carry.nextSample; k <= total; k++) {
    if (takenThisRun >= perRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof driftReviewWorkflow>({
        ...input,
        carry: { t0At: carry.t0At, nextSample: k, lastSample: status.lastSample },
      });
    }
    const due = carry.t0At + Math.min(k * input.intervalSeconds, input.durationSeconds);
    const waitMs = due * 1000 - Date.now();
    if (waitMs > 0) await sleep(waitMs);
    // "now" once per sample: a retried activity asks Prometheus about the same instant
    const s = asSet(await acts.sampleDrift(sampleInput(k, Date.now() / 1000)));
    takenThisRun++;
    Object.assign(status, { sampleNum: k, lastSample: s });
    memo(driftSummary(status));
  }

  setStage('verdict');
  const v = await report.writeDriftReport({
    reviewId,
    targets,
    durationSeconds: input.durationSeconds,
    intervalSeconds: input.intervalSeconds,
    thresholds: input.thresholds,
    fullReviewMinSeconds: input.fullReviewMinSeconds,
    finishedAt: Date.now() / 1000,
  });
  // a history from before `processes` replays the old activity result: one process's fields only
  status.verdict = {
    passed: v.passed,
    mode: v.mode ?? 'provisional',
    summary: v.summary,
    failed: v.failed,
    missing: v.missing,
    failedProcesses: v.failedProcesses ?? [],
    processes: (v.processes ?? []).map((p) => ({ name: p.name, passed: p.passed, summary: p.summary })),
  };
  setStage('done');
  upsertSearchAttributes([
    { key: sgcStatusKey, value: 'done' },
    { key: sgcDecisionKey, value: v.passed ? 'pass' : 'fail' },
  ]);
  const { passed, mode, summary, failedProcesses } = status.verdict;
  await notifyEvent(
    'notify-drift-verdict',
    phaseEvent('verdict', { kind: 'drift_verdict', reviewId, passed, mode, summary, failedProcesses }),
  );
  return { reviewId, ...v };
}
