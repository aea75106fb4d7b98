/**
 * The API's one Temporal helper for agent git operations: start gitOperationWorkflow on the git
 * task queue and wait for its result. The workflow id carries the caller's idempotency key, so a
 * retried HTTP request attaches to the running operation or reads the finished one's result
 * instead of running the operation twice — unless that run failed with a retryable error (the
 * 503s: lock timeout, pool exhausted, a dependency down; 409 busy): then the retry starts a new run under
 * the same id, as the 503 told the client to (issue 9 item 8). The operations are idempotent on
 * that id (workspace id, push operation id), so a new run never does the work twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApplicationFailure,
  TimeoutFailure,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { ErrorType } from '../lib/errors.js';
import { gitOperationWorkflowId } from '../workflows/ids.js';
import {
  gitOperationWorkflow,
  type GitOperationInput,
  type GitOperationResult,
} from '../workflows/git-operation/workflow.js';

export interface TemporalDeps {
  client: Client;
  /** config temporal.taskQueues.git */
  taskQueue: string;
}

/** Bounds how long an HTTP caller can be kept waiting by one operation (all retries included). */
const OPERATION_TIMEOUT = '10 minutes';
const START_DEADLINE_MS = 5_000;
/**
 * Starts tried on a frontend that missed the deadline or was unreachable (gRPC DEADLINE_EXCEEDED,
 * UNAVAILABLE): ~1,000 operations started at once queue up on a loaded frontend past one deadline
 * (issue 13's 1,000-agent run lost 49 that way). Safe: the workflow id is the operation's, so a
 * start the server did take is attached to (USE_EXISTING, or AlreadyStarted when it finished).
 */
const START_ATTEMPTS = 3;
const START_BACKOFF_MS = 250;
/**
 * All start attempts together end within this budget, so Temporal really down still answers 503
 * within seconds (each attempt's deadline is the smaller of START_DEADLINE_MS and what is left).
 */
const START_BUDGET_MS = 10_000;
/** An attempt with less time than this left is not made. */
const START_MIN_ATTEMPT_MS = 1_000;
const GRPC_RETRYABLE_START = new Set([4, 14]);

/** True for a start that missed its deadline or found the frontend unreachable (any cause). */
export function isStartTimeout(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (
    let cur: unknown = err;
    cur && typeof cur === 'object' && !seen.has(cur);
    cur = (cur as { cause?: unknown }).cause
  ) {
    seen.add(cur);
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'number' && GRPC_RETRYABLE_START.has(code) && 'metadata' in cur) return true;
  }
  return false;
}

type ResultOf<Op extends GitOperationInput['op']> = Extract<GitOperationResult, { op: Op }>;

/**
 * Failures the API answers with 503 or 504, or 409 busy — all with Retry-After ("retry later"):
 * a retry under the same key runs again. Busy included: replaying it made a workspace whose lease
 * outlived a Postgres restart refuse every retry of a push for minutes (the chaos suite, issue 12).
 */
const RETRYABLE_FAILURES = new Set<string>([
  ErrorType.Busy,
  ErrorType.LockTimeout,
  ErrorType.PoolExhausted,
  ErrorType.Unavailable,
  ErrorType.Network,
  ErrorType.RateLimit,
  ErrorType.Timeout,
]);

/** True when a finished run failed in a way the client was told to retry. */
export function isRetryableRunFailure(err: unknown): boolean {
  if (!(err instanceof WorkflowFailedError)) return false;
  if (err.cause instanceof TimeoutFailure) return true;
  return (
    err.cause instanceof ApplicationFailure &&
    typeof err.cause.type === 'string' &&
    RETRYABLE_FAILURES.has(err.cause.type)
  );
}

type Handle = WorkflowHandle<typeof gitOperationWorkflow>;

/** Runs one operation to completion; a failed workflow throws WorkflowFailedError (api/errors.ts maps it). */
export async function executeGitOperation<I extends GitOperationInput>(
  temporal: TemporalDeps,
  input: I,
  requestId: string = randomUUID(),
): Promise<ResultOf<I['op']>> {
  const workflowId = gitOperationWorkflowId(input.workspaceId, input.op, requestId);
  const { client } = temporal;
  // Starting must answer fast (Temporal down → 503 within seconds, not after the client's
  // retries); waiting for the result is bounded by the workflow's own execution timeout.
  const startOnce = (
    reuse: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE_FAILED_ONLY',
    by: number,
  ): Promise<{ handle: Handle; earlier: boolean }> =>
    client.connection.withDeadline(Math.min(Date.now() + START_DEADLINE_MS, by), async () => {
      try {
        const handle = await client.workflow.start(gitOperationWorkflow, {
          taskQueue: temporal.taskQueue,
          workflowId,
          args: [input],
          workflowExecutionTimeout: OPERATION_TIMEOUT,
          // same key while running → attach; same key after it finished → read that run's
          // result (REJECT_DUPLICATE), or run again after a failure (ALLOW_DUPLICATE_FAILED_ONLY)
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: reuse,
        });
        return { handle, earlier: false };
      } catch (e) {
        if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
        return { handle: client.workflow.getHandle<typeof gitOperationWorkflow>(workflowId), earlier: true };
      }
    });
  const start = async (
    reuse: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE_FAILED_ONLY',
  ): Promise<{ handle: Handle; earlier: boolean }> => {
    const by = Date.now() + START_BUDGET_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await startOnce(reuse, by);
      } catch (e) {
        const backoff = START_BACKOFF_MS * attempt;
        if (attempt >= START_ATTEMPTS || !isStartTimeout(e) || Date.now() + backoff + START_MIN_ATTEMPT_MS > by)
          throw e;
        await sleep(backoff);
      }
    }
  };
  const first = await start('REJECT_DUPLICATE');
  let result: GitOperationResult;
  try {
    result = await first.handle.result();
  } catch (e) {
    // a finished earlier run under this key failed with "retry later": this retry runs again
    // (concurrent retries attach to the one new run through USE_EXISTING)
    if (!first.earlier || !isRetryableRunFailure(e)) throw e;
    result = await (await start('ALLOW_DUPLICATE_FAILED_ONLY')).handle.result();
  }
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
