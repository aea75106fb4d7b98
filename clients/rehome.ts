/**
 * Starts rehomeWorkflow for a kill on the git task queue (the worker that hosts the pool). One
 * run per kill event: a retried kill attaches to the first run.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { rehomeWorkflowId } from '../workflows/ids.js';
import { rehomeWorkflow } from '../workflows/rehome/workflow.js';

const START_DEADLINE_MS = 5_000;

export async function startRehome(
  t: { client: Client; taskQueue: string },
  eventId: number,
  opts: { concurrency?: number } = {},
): Promise<string> {
  const workflowId = rehomeWorkflowId(eventId, t.taskQueue);
  try {
    await t.client.connection.withDeadline(Date.now() + START_DEADLINE_MS, () =>
      t.client.workflow.start(rehomeWorkflow, {
        taskQueue: t.taskQueue,
        workflowId,
        args: [{ eventId, ...(opts.concurrency !== undefined ? { concurrency: opts.concurrency } : {}) }],
        workflowExecutionTimeout: '30 minutes',
      }),
    );
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
  }
  return workflowId;
}
