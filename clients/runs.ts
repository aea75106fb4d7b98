/**
 * What the phase clients (clients/baseline.ts, clients/drift.ts) share: the Temporal deps of a
 * phase, the run id a caller may choose, and the view of one run (its execution state, the live
 * status query while it runs, the result once it completed).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { DomainError, ErrorType } from '../lib/errors.js';

/** A caller-chosen run id: becomes part of the workflow id, file names and report ids. */
export const runIdSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
    'must be 1-64 letters, digits, ".", "_", "-", starting with a letter or digit',
  );

export interface PhaseTemporal {
  client: Client;
  /** config temporal.taskQueues.phases */
  taskQueue: string;
}

export interface RunView<S, R> {
  workflowId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, … */
  state: string;
  /** the live status query (running runs) */
  status: S | null;
  /** the result (completed runs) */
  result: R | null;
}

/** The view of run `workflowId`, asking it `query` while it runs; a missing run is NotFound. */
export async function runView<S, R>(
  client: Client,
  workflowId: string,
  query: Parameters<ReturnType<Client['workflow']['getHandle']>['query']>[0],
): Promise<RunView<S, R>> {
  const handle = client.workflow.getHandle(workflowId);
  let state: string;
  try {
    state = (await handle.describe()).status.name;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new DomainError(ErrorType.NotFound, `no run ${workflowId}`);
    throw e;
  }
  if (state === 'RUNNING') return { workflowId, state, status: (await handle.query(query)) as S, result: null };
  if (state === 'COMPLETED') return { workflowId, state, status: null, result: (await handle.result()) as R };
  return { workflowId, state, status: null, result: null };
}
