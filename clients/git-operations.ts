/**
 * The API's one Temporal helper for agent git operations: start gitOperationWorkflow on the git
 * task queue and wait for its result. The workflow id carries the caller's idempotency key, so a
 * retried HTTP request attaches to the running operation or reads the finished one's result
 * instead of running the operation twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { gitOperationWorkflowId } from '../workflows/ids.js';
import {
  gitOperationWorkflow, type GitOperationInput, type GitOperationResult,
} from '../workflows/git-operation/workflow.js';

export interface TemporalDeps {
  client: Client;
  /** config temporal.taskQueues.git */
  taskQueue: string;
}

/** Bounds how long an HTTP caller can be kept waiting by one operation (all retries included). */
const OPERATION_TIMEOUT = '10 minutes';
const START_DEADLINE_MS = 5_000;

type ResultOf<Op extends GitOperationInput['op']> = Extract<GitOperationResult, { op: Op }>;

/** Runs one operation to completion; a failed workflow throws WorkflowFailedError (api/errors.ts maps it). */
export async function executeGitOperation<I extends GitOperationInput>(
  temporal: TemporalDeps, input: I, requestId: string = randomUUID(),
): Promise<ResultOf<I['op']>> {
  const workflowId = gitOperationWorkflowId(input.workspaceId, input.op, requestId);
  const { client } = temporal;
  // Starting must answer fast (Temporal down → 503 within seconds, not after the client's
  // retries); waiting for the result is bounded by the workflow's own execution timeout.
  const handle = await client.connection.withDeadline(Date.now() + START_DEADLINE_MS, async () => {
    try {
      return await client.workflow.start(gitOperationWorkflow, {
        taskQueue: temporal.taskQueue,
        workflowId,
        args: [input],
        workflowExecutionTimeout: OPERATION_TIMEOUT,
        // same key while running → attach; same key after it finished → read that run's result
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    } catch (e) {
      if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
      return client.workflow.getHandle<typeof gitOperationWorkflow>(workflowId);
    }
  });
  const result = await handle.result();
  if (result.op !== input.op) throw new Error(`workflow ${workflowId} returned ${result.op} for ${input.op}`);
  return result as ResultOf<I['op']>;
}

/**
 * Workspace id for a create: derived from (agent, idempotency key) when the caller sent one, so
 * a retried POST names the same workspace (and the same workflow); random otherwise.
 */
export function newWorkspaceId(agentId: string, idempotencyKey?: string): string {
  if (idempotencyKey === undefined) return randomUUID();
  const h = createHash('sha256').update(`${agentId}\0${idempotencyKey}`).digest('hex');
  // UUID-shaped (version 8: custom) so every workspace id looks alike
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-8${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
