/**
 * Git operations on a workspace inside a sandbox — what the service layer (approach 1 and 2)
 * builds on.
 *
 * - `runner.ts`: argv through `sb.run`, classified failures, the workspace directory rule
 * - `credentials.ts`: the token via the environment and an inline credential helper, never argv
 * - `clone.ts`: clone / resume a workspace, fetch one branch
 * - `files.ts`: status, diff, confined reads and writes
 * - `sync.ts`: commit + push (retries, idempotency trailer), pull --rebase
 * - `scripts/*.sh`: the shell those modules run in the sandbox (read once by `scripts.ts`)
 * - `types.ts`, `porcelain.ts`, `classify.ts`, `validate.ts`: types, parser, error mapping, input rules
 */
export * from './types.js';
export { workspaceDir } from './runner.js';
export { cloneWorkspace, CLONE_TIMEOUT_MS } from './clone.js';
export { gitDiff, gitStatus, readWorkspaceFile, workspaceUsage, writeWorkspaceFile, type UsageDelta } from './files.js';
export { backoffDelay, commitAndPush, pullRebase, OPERATION_TRAILER, type CommitAndPushOptions } from './sync.js';
export { redact } from './classify.js';
export {
  applyQueueBatch,
  stageCommit,
  queueRefName,
  QUEUE_BRANCH_PREFIX,
  QUEUE_REF_PREFIX,
  type QueueBatchItem,
  type QueueBatchResult,
} from './queue.js';
