/**
 * Enqueues a staged commit on the merge queue of its repository + branch (push.mode queue):
 * signal-with-start of mergeQueueWorkflow, so the first commit starts the queue and the rest join
 * it. Called by the staging activity (with the worker's client) on the worker's task queue.
 */
import type { Client } from '@temporalio/client';
import type { StagedPush } from '../lib/git/types.js';
import { mergeQueueWorkflowId } from '../workflows/ids.js';
import { enqueueSignal, mergeQueueWorkflow } from '../workflows/merge-queue/workflow.js';

export async function enqueueStaged(
  client: Client,
  taskQueue: string,
  staged: StagedPush,
  opts: { maxBatch?: number; idleMs?: number } = {},
): Promise<void> {
  await client.workflow.signalWithStart(mergeQueueWorkflow, {
    workflowId: mergeQueueWorkflowId(staged.repoUrl, staged.branch),
    taskQueue,
    args: [{ repoUrl: staged.repoUrl, branch: staged.branch, maxBatch: opts.maxBatch, idleMs: opts.idleMs }],
    signal: enqueueSignal,
    signalArgs: [staged],
  });
}
