import type { CommitPushResult, GitStatus, PullResult } from '../git/types.js';
import type { Approach } from '../metrics.js';

export type { Approach };
// the git result types live in lib/git (it imports nothing from here); re-exported for callers
export type { CommitPushResult, GitStatus, PullResult };

export type WorkspaceStatus = 'initializing' | 'ready' | 'in_use' | 'error' | 'terminated';

/** A workspace: one agent's checkout of a repo on its agent branch, inside a sandbox. */
export interface Workspace {
  id: string;
  agentId: string;
  taskId: string;
  /** sanitised: no userinfo or query (credentials never reach the database) */
  repoUrl: string;
  baseBranch: string;
  /** agent/<agentId>/<taskId> */
  agentBranch: string;
  approach: Approach;
  sandboxId: string;
  status: WorkspaceStatus;
  createdAt: Date;
  lastUsedAt: Date | null;
}

export interface CreateWorkspaceInput {
  agentId: string;
  taskId: string;
  repoUrl: string;
  baseBranch?: string;
  /** idempotency: a retried create with the same key returns the same workspace */
  workspaceId?: string;
}

export interface CommitPushInput {
  message: string;
  /** branch to rebase onto and push to; defaults to the workspace's agent branch. Several agents
   *  pushing one shared branch is what the push lock serialises. */
  targetBranch?: string;
  /** stable id of this operation (the workflow id): a retried push after a crash lands the commit once */
  operationId?: string;
  /**
   * The caller waits for the merge queue (gitOperationWorkflow): where `push.mode` is `queue` for
   * this repository + branch, the commit is staged (CommitPushResult.staged) instead of pushed.
   * Without it every push takes the lock path.
   */
  allowQueue?: boolean;
}

/**
 * A workspace as an operation's argument: its id, or the Workspace object `getWorkspace` returned
 * earlier in the same request — then the operation reuses that lookup instead of reading the
 * record again (see workspace-ref.ts).
 */
export type WorkspaceRef = string | Workspace;

/** Progress callback for long operations (activities heartbeat from it). */
export type Progress = (detail: Record<string, unknown>) => void;

/**
 * One interface over approach 1 (simple) and approach 2 (pooled). Errors are DomainErrors
 * (lib/errors.ts): Conflict names the files, ConflictEscalated after the last attempt,
 * NotFound for unknown workspaces, Validation for bad paths/branches.
 */
export interface GitService {
  readonly approach: Approach;
  createWorkspace(input: CreateWorkspaceInput, progress?: Progress): Promise<Workspace>;
  getWorkspace(id: string): Promise<Workspace | null>;
  status(ws: WorkspaceRef): Promise<GitStatus>;
  diff(ws: WorkspaceRef, opts?: { staged?: boolean; path?: string }): Promise<string>;
  writeFile(ws: WorkspaceRef, path: string, content: string): Promise<void>;
  readFile(ws: WorkspaceRef, path: string): Promise<string>;
  commitAndPush(ws: WorkspaceRef, input: CommitPushInput, progress?: Progress): Promise<CommitPushResult>;
  pull(ws: WorkspaceRef, progress?: Progress): Promise<PullResult>;
  release(ws: WorkspaceRef): Promise<void>;
}
