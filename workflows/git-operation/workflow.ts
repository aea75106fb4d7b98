import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  condition,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { pushAnswerSignal, type QueueAnswer } from '../merge-queue/messages.js';
import type { GitActivities } from '../../activities/git.js';
import type { WorkspaceSummary } from '../../lib/service/workspace-summary.js';
import { ErrorType, type ErrorTypeName } from '../../lib/errors.js';
import type { CommitPushResult, PullResult } from '../../lib/service/types.js';
import { sgcAgentIdKey, sgcOperationKey, sgcPhaseKey } from '../search-attributes.js';

export type GitOperation = 'create' | 'pull' | 'commitPush' | 'release';

/** One agent git operation. `agentId` is the caller the API authenticated. */
export type GitOperationInput =
  | { op: 'create'; agentId: string; workspaceId: string; taskId: string; repoUrl: string; baseBranch?: string }
  | { op: 'pull'; agentId: string; workspaceId: string }
  | { op: 'commitPush'; agentId: string; workspaceId: string; message: string; targetBranch?: string }
  | { op: 'release'; agentId: string; workspaceId: string };

export type GitOperationResult =
  | { op: 'create'; workspace: WorkspaceSummary }
  | { op: 'pull'; pull: PullResult }
  | { op: 'commitPush'; push: CommitPushResult }
  | { op: 'release' };

/** Faults a retry cannot fix: bad input stays bad, and a real conflict needs the agent. */
const PERMANENT: ErrorTypeName[] = [
  ErrorType.Validation,
  ErrorType.NotFound,
  ErrorType.Forbidden,
  ErrorType.Auth,
  ErrorType.Conflict,
  ErrorType.ConflictEscalated,
];

const { createWorkspace } = proxyActivities<GitActivities>({
  // sandbox start + clone of the whole repo: the slowest operation an agent asks for
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  // Sandbox creation meets provider rate limits (E2B: 1/s Hobby) and network blips: back off to
  // 30 s, and stop after 5 tries so the caller waiting on the API hears back within minutes.
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: PERMANENT,
  },
});

const { pull, commitPush } = proxyActivities<GitActivities>({
  startToCloseTimeout: '2 minutes',
  // short, so a push whose worker died is retried elsewhere within seconds
  heartbeatTimeout: '10 seconds',
  // The service already retries a rejected push with backoff (seed 004: 3 attempts, then
  // ConflictEscalated). These retries cover what it cannot: lock timeouts under contention,
  // network errors, a worker that died mid-push (the retry is safe: it lands once per workflow id).
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: PERMANENT,
  },
});

const { release } = proxyActivities<GitActivities>({
  startToCloseTimeout: '1 minute',
  // An unreleased sandbox keeps costing money: keep trying for a few minutes; the cleanup
  // schedule reaps whatever still escapes.
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: PERMANENT,
  },
});

const KNOWN_TYPES = new Set<string>(Object.values(ErrorType));

/**
 * One agent git operation — create a workspace, pull, commit + push, or release — as a short
 * workflow the API starts and waits on, so retries, backoff and crash recovery are durable and
 * each operation is listed in Temporal UI (SgcPhase=gitop, SgcAgentId, SgcOperation).
 *
 * Fails with an ApplicationFailure whose `type` is the ErrorType of the activity's last failure
 * (GitConflict carries `{ files }` in its first detail), or TimeoutError when every attempt
 * timed out.
 */
export async function gitOperationWorkflow(input: GitOperationInput): Promise<GitOperationResult> {
  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'gitop' },
    { key: sgcAgentIdKey, value: input.agentId },
    { key: sgcOperationKey, value: input.op },
  ]);
  try {
    switch (input.op) {
      case 'create': {
        const workspace = await createWorkspace({
          workspaceId: input.workspaceId,
          agentId: input.agentId,
          taskId: input.taskId,
          repoUrl: input.repoUrl,
          baseBranch: input.baseBranch,
        });
        return { op: 'create', workspace };
      }
      case 'pull':
        return { op: 'pull', pull: await pull({ workspaceId: input.workspaceId }) };
      case 'commitPush': {
        // the workflow id is the operation id: a retried attempt finds its commit already landed
        const operationId = workflowInfo().workflowId;
        // push.mode queue: the activity stages the commit and enqueues it; the merge queue answers
        // by signal (handled before the activity's completion when both arrive together)
        let answer: QueueAnswer | undefined;
        // addressed by workflow id: whatever arrives here answers this operation
        setHandler(pushAnswerSignal, (a) => {
          answer = a;
        });
        for (let staging = 1; ; staging++) {
          answer = undefined;
          const push = await commitPush({
            workspaceId: input.workspaceId,
            message: input.message,
            targetBranch: input.targetBranch,
            operationId,
            allowQueue: true,
          });
          if (!push.staged) return { op: 'commitPush', push };
          await condition(() => answer !== undefined);
          const a = answer as QueueAnswer | undefined;
          if (!a) continue;
          const branch = push.branch;
          if (a.status === 'landed')
            return {
              op: 'commitPush',
              push: { commit: a.commit, branch, attempts: staging, alreadyLanded: a.alreadyLanded },
            };
          if (a.status === 'conflict') {
            throw ApplicationFailure.create({
              type: ErrorType.Conflict,
              message: `commit conflicts with ${branch} (merge queue)`,
              nonRetryable: true,
              details: [{ category: 'conflict', files: a.files, branch, upstream: `refs/remotes/origin/${branch}` }],
            });
          }
          if (a.status === 'error') {
            throw ApplicationFailure.create({
              type: a.errorType,
              message: a.message,
              nonRetryable: true,
              details: [{ category: a.errorType === ErrorType.Validation ? 'validation' : 'conflict' }],
            });
          }
          // 'missing': the staged ref vanished before the queue applied it: stage again
          if (staging >= 3) {
            throw ApplicationFailure.create({
              type: ErrorType.Unavailable,
              message: 'staged commit vanished from the remote three times',
              nonRetryable: true,
              details: [{ category: 'network' }],
            });
          }
        }
      }
      case 'release':
        await release({ workspaceId: input.workspaceId });
        return { op: 'release' };
    }
  } catch (err) {
    throw toOperationFailure(input.op, err);
  }
}

/**
 * Lifts a known activity failure to the workflow's own failure so callers match one
 * ApplicationFailure type instead of digging through ActivityFailure. Anything else is rethrown.
 */
function toOperationFailure(op: GitOperation, err: unknown): unknown {
  if (!(err instanceof ActivityFailure)) return err;
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && KNOWN_TYPES.has(cause.type)) {
    log.warn('git operation failed', { op, type: cause.type });
    return ApplicationFailure.create({
      type: cause.type,
      message: cause.message,
      details: cause.details ?? undefined,
      nonRetryable: true,
    });
  }
  if (cause instanceof TimeoutFailure) {
    log.warn('git operation timed out', { op, timeoutType: cause.timeoutType });
    return ApplicationFailure.create({
      type: ErrorType.Timeout,
      message: `${op} timed out`,
      details: [{ category: 'timeout' }],
      nonRetryable: true,
    });
  }
  return err;
}
