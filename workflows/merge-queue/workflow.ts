import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { MergeQueueActivities } from '../../activities/merge-queue.js';
import type { StagedPush } from '../../lib/git/types.js';
import { ErrorType } from '../../lib/errors.js';
import { enqueueSignal, pushAnswerSignal, type MergeQueueInput, type QueueAnswer } from './messages.js';

export * from './messages.js';

const { applyQueueBatch } = proxyActivities<MergeQueueActivities>({
  startToCloseTimeout: '5 minutes',
  // short: a batch whose worker died is taken up by another worker within seconds (re-applying
  // it is safe: trailers already on the branch are skipped)
  heartbeatTimeout: '15 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: [ErrorType.Validation, ErrorType.NotFound, ErrorType.Forbidden, ErrorType.Auth],
  },
});

/** An idle queue ends (ms); the next signal-with-start begins a new run under the same id. */
const IDLE_MS = 5 * 60_000;
/** batches per run before continue-as-new (or sooner when Temporal suggests it) */
const BATCHES_PER_RUN = 50;

/**
 * The merge queue of one repository + branch (push.mode queue). Staged commits arrive by signal
 * (signal-with-start from the staging activity), in arrival order; each batch is one activity
 * that applies them onto the branch tip in one checkout and pushes once (atomic, staged refs
 * deleted); every operation is answered by a signal to its gitOperationWorkflow.
 */
export async function mergeQueueWorkflow(input: MergeQueueInput): Promise<void> {
  const pending: StagedPush[] = [...(input.pending ?? [])];
  const queued = new Set(pending.map((p) => p.operationId));
  setHandler(enqueueSignal, (item) => {
    // a retried staging activity enqueues again: one place in the queue per operation
    if (queued.has(item.operationId)) return;
    queued.add(item.operationId);
    pending.push(item);
  });
  const maxBatch = input.maxBatch ?? 200;

  for (let batches = 0; ; batches++) {
    if (batches >= BATCHES_PER_RUN || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof mergeQueueWorkflow>({ ...input, pending });
    }
    if (!(await condition(() => pending.length > 0, input.idleMs ?? IDLE_MS))) return;
    const batch = pending.splice(0, maxBatch);
    let answers: QueueAnswer[];
    try {
      const res = await applyQueueBatch({
        repoUrl: input.repoUrl,
        branch: input.branch,
        items: batch.map((b) => ({ operationId: b.operationId, ref: b.ref, stagedAt: b.stagedAt })),
      });
      answers = res.outcomes;
    } catch (err) {
      const cause = err instanceof ActivityFailure ? err.cause : err;
      const errorType = cause instanceof ApplicationFailure && cause.type ? cause.type : ErrorType.Unavailable;
      const message = cause instanceof Error ? cause.message : String(cause);
      log.warn('merge queue batch failed', { branch: input.branch, size: batch.length, errorType });
      answers = batch.map((b) => ({ operationId: b.operationId, status: 'error', errorType, message }));
    }
    await Promise.all(
      answers.map(async (a) => {
        queued.delete(a.operationId);
        try {
          await getExternalWorkflowHandle(a.operationId).signal(pushAnswerSignal, a);
        } catch {
          // the operation's workflow is gone (terminated, timed out): nobody to tell
        }
      }),
    );
  }
}
