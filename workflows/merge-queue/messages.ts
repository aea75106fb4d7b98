/**
 * Messages of the merge queue (push.mode queue, issue 13): the staging side enqueues with
 * signal-with-start; the queue answers each operation with a signal to its gitOperationWorkflow
 * (whose workflow id is the operation id).
 */
import { defineSignal } from '@temporalio/workflow';
import type { QueueOutcome, StagedPush } from '../../lib/git/types.js';
import type { ErrorTypeName } from '../../lib/errors.js';

export interface MergeQueueInput {
  /** sanitised */
  repoUrl: string;
  branch: string;
  /** most staged commits one batch applies */
  maxBatch?: number;
  /** an idle queue ends after this long (ms; default 5 minutes) */
  idleMs?: number;
  /** carried over continue-as-new: staged, not yet applied, in arrival order */
  pending?: StagedPush[];
}

/** A queue outcome, or the batch failed for good (its error type and message). */
export type QueueAnswer =
  QueueOutcome | { operationId: string; status: 'error'; errorType: ErrorTypeName | string; message: string };

/** Staged commit → the queue of its repository + branch (signal-with-start). */
export const enqueueSignal = defineSignal<[StagedPush]>('mergeQueueEnqueue');

/** The queue's answer → the operation's gitOperationWorkflow. */
export const pushAnswerSignal = defineSignal<[QueueAnswer]>('gitopPushAnswer');
