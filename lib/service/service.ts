/**
 * The GitService operations, written once over three parts (ARCHITECTURE.md "The git service by
 * composition"):
 *
 * - an operation tracker (tracker.ts): metrics + operation_log rows for every operation
 * - a sandbox source (sandbox-source.ts): fresh sandbox per workspace, or the warm pool
 * - a push serializer (push-serializer.ts): in-process lock, or the Postgres lock
 *
 * Approach 1 and approach 2 are two compositions of these parts (index.ts), not subclasses.
 * Workspace records live in the `workspaces` repository; credentials come from config and are
 * passed to git per command (never stored).
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import {
  cloneWorkspace, commitAndPush, gitDiff, stageCommit, gitStatus, pullRebase, readWorkspaceFile, writeWorkspaceFile, type GitCredentials,
} from '../git/index.js';
import { agentBranchName, validateId, validateRepoUrl } from '../git/validate.js';
import { pushLockKey } from '../lock/index.js';
import { pushModeFor } from './push-mode.js';
import { sanitizeUrl, type Logger } from '../log.js';
import type { Approach } from '../metrics.js';
import type { Sandbox } from '../sandbox/types.js';
import type { WorkspaceRecord, WorkspaceRepository } from '../store/workspaces.js';
import type { PushSerializer } from './push-serializer.js';
import type { SandboxSource } from './sandbox-source.js';
import { OPERATIONS, type OperationTracker, type OpContext } from './tracker.js';
import type {
  CommitPushInput, CommitPushResult, CreateWorkspaceInput, GitService, GitStatus, Progress, PullResult, Workspace, WorkspaceRef,
} from './types.js';
import { bindWorkspace, boundRecord, refId } from './workspace-ref.js';

/** The workspace's checkout inside its sandbox, relative to the sandbox home. */
export const WORKSPACE_ROOT = 'ws';
export const workspaceDirFor = (workspaceId: string): string => `${WORKSPACE_ROOT}/${workspaceId}`;

/** The parts one approach is composed of. */
export interface GitServiceParts<A extends Approach = Approach> {
  approach: A;
  config: Pick<Config, 'git' | 'push'>;
  workspaces: WorkspaceRepository;
  tracker: OperationTracker;
  sandboxes: SandboxSource;
  pushes: PushSerializer;
  log: Logger;
}

/** A GitService of one approach, with its lifecycle. */
export interface ComposedGitService<A extends Approach = Approach> extends GitService {
  readonly approach: A;
  /** `pull --rebase` from `opts.branch` (default: the workspace's agent branch) */
  pull(ws: WorkspaceRef, progress?: Progress, opts?: { branch?: string }): Promise<PullResult>;
  /** Starts background work (cost accrual, pool pre-warm). */
  start(): Promise<void>;
  /** Writes pending log rows and stops background work; sandboxes stay for a restart. */
  close(): Promise<void>;
}

/** Composes one approach's GitService from its parts. */
export function composeGitService<A extends Approach>(parts: GitServiceParts<A>): ComposedGitService<A> {
  const { approach, config, workspaces, tracker, sandboxes, pushes, log } = parts;
  const creds = (): GitCredentials | undefined => (config.git.token ? { token: config.git.token } : undefined);
  const author = (): { name: string; email: string } => ({ name: config.git.authorName, email: config.git.authorEmail });

  /** The workspace and its live sandbox; NotFound when unknown or released. */
  async function open(ref: WorkspaceRef): Promise<{ ws: WorkspaceRecord; sb: Sandbox }> {
    const id = refId(ref);
    // a record this request already read (passed as the Workspace object) stands in for a lookup
    const ws = boundRecord(ref, approach) ?? await workspaces.findById(approach, id);
    if (!ws || ws.status === 'terminated') {
      throw new DomainError(ErrorType.NotFound, ws ? 'workspace was released' : 'workspace not found', { details: { workspaceId: id } });
    }
    if (ws.status !== 'ready' && ws.status !== 'in_use') {
      throw new DomainError(ErrorType.Unavailable, `workspace is ${ws.status}`, { details: { workspaceId: id, status: ws.status }, retryable: ws.status === 'initializing' });
    }
    try {
      return { ws, sb: await sandboxes.connect(ws.sandboxId) };
    } catch (e) {
      if (isDomainError(e, ErrorType.SandboxGone)) {
        await workspaces.setStatus(approach, id, 'error').catch(() => undefined);
      }
      throw e;
    }
  }

  function withWorkspace<T>(
    operation: string, ref: WorkspaceRef, fn: (ws: WorkspaceRecord, sb: Sandbox, op: OpContext) => Promise<T>,
    opts: { idempotencyKey?: string } = {},
  ): Promise<T> {
    let ws: WorkspaceRecord | null = null;
    let sandboxId: string | null = null;
    return tracker.track(operation, {
      workspaceId: refId(ref),
      get agentId() { return ws?.agentId ?? null; },
      get sandboxId() { return sandboxId; },
      idempotencyKey: opts.idempotencyKey,
      touch: true,
    }, async (op) => {
      const o = await open(ref);
      ws = o.ws;
      sandboxId = o.ws.sandboxId;
      return fn(o.ws, o.sb, op);
    });
  }

  return {
    approach,

    /**
     * Sandbox + clone + agent branch `agent/<agentId>/<taskId>`. Idempotent on `workspaceId`: a
     * repeat returns the recorded workspace; a repeat after a failed or interrupted create resumes
     * it (in the recorded sandbox while it lives, else in a new one).
     */
    async createWorkspace(input: CreateWorkspaceInput, progress?: Progress): Promise<Workspace> {
      const id = validateId(input.workspaceId ?? randomUUID(), 'workspaceId');
      let sandboxId: string | null = null;
      return tracker.track(OPERATIONS.create, {
        workspaceId: id, agentId: input.agentId ?? null,
        get sandboxId() { return sandboxId; },
        idempotencyKey: id,
      }, async (op) => {
        const agentBranch = agentBranchName(input.agentId, input.taskId);
        validateRepoUrl(input.repoUrl);
        const baseBranch = input.baseBranch ?? 'main';
        const repoUrl = sanitizeUrl(input.repoUrl);
        const existing = await workspaces.findById(approach, id);
        if (existing && (existing.agentId !== input.agentId || existing.taskId !== input.taskId || existing.repoUrl !== repoUrl)) {
          throw new DomainError(ErrorType.Validation, 'workspaceId: already names a different workspace', { details: { field: 'workspaceId' } });
        }
        if (existing && existing.status !== 'initializing' && existing.status !== 'error') {
          op.details.resumed = false;
          op.details.existing = true;
          return bindWorkspace(existing);
        }
        const spec = { id, agentId: input.agentId, taskId: input.taskId, repoUrl, baseBranch, agentBranch };

        // a sandbox: the recorded one when a previous attempt got that far and it still lives
        let sb: Sandbox | null = null;
        if (existing) {
          sb = await sandboxes.connect(existing.sandboxId).catch((e: unknown) => {
            if (isDomainError(e, ErrorType.SandboxGone)) return null;
            throw e;
          });
          if (sb && existing.status === 'error') {
            // the failed attempt gave its sandbox back; it may serve someone else by now
            sb = null;
          }
          op.details.resumed = true;
        }
        if (!sb) {
          progress?.({ step: 'sandbox' });
          sb = await sandboxes.obtain(spec);
          op.details.newSandbox = true;
        }
        sandboxId = sb.id;
        const dir = workspaceDirFor(id);
        let ws: WorkspaceRecord;
        if (existing) {
          const updated = await workspaces.setStatus(approach, id, 'initializing', { sandboxId: sb.id });
          if (!updated) throw new DomainError(ErrorType.NotFound, 'workspace was released', { details: { workspaceId: id } });
          ws = updated;
        } else {
          const ins = await workspaces.insert({ ...spec, approach, sandboxId: sb.id, dir });
          if (!ins.created && ins.workspace.sandboxId !== sb.id) {
            // a concurrent create of the same id won the insert: give ours back, answer with theirs
            await sandboxes.giveBack(sb.id, sb);
            return bindWorkspace(ins.workspace);
          }
          ws = ins.workspace;
        }
        progress?.({ step: 'clone', sandboxId: sb.id });
        try {
          await cloneWorkspace(sb, { repoUrl: input.repoUrl, baseBranch, agentBranch, dir, creds: creds(), author: author() });
        } catch (e) {
          await workspaces.setStatus(approach, id, 'error').catch(() => undefined);
          await tracker.recordSandboxError(sb.id, (e as Error).message, OPERATIONS.create).catch(() => undefined);
          sandboxId = null; // already recorded
          await sandboxes.giveBack(sb.id, sb).catch((err: Error) => log.warn({ err: err.message }, 'giving back a sandbox failed'));
          throw e;
        }
        await sandboxes.ready(sb.id);
        const ready = await workspaces.setStatus(approach, id, 'ready', { sandboxId: sb.id });
        progress?.({ step: 'ready' });
        op.details.agentBranch = agentBranch;
        return bindWorkspace(ready ?? ws);
      });
    },

    async getWorkspace(id: string): Promise<Workspace | null> {
      const ws = await workspaces.findById(approach, id);
      return ws ? bindWorkspace(ws) : null;
    },

    status: (ref: WorkspaceRef): Promise<GitStatus> => withWorkspace(OPERATIONS.status, ref, (ws, sb) => gitStatus(sb, ws.dir)),

    diff: (ref: WorkspaceRef, opts: { staged?: boolean; path?: string } = {}): Promise<string> =>
      withWorkspace(OPERATIONS.diff, ref, (ws, sb) => gitDiff(sb, ws.dir, opts)),

    writeFile: (ref: WorkspaceRef, path: string, content: string): Promise<void> =>
      withWorkspace(OPERATIONS.write, ref, async (ws, sb, op) => {
        await writeWorkspaceFile(sb, ws.dir, path, content);
        op.details.bytes = Buffer.byteLength(content, 'utf8');
      }),

    readFile: (ref: WorkspaceRef, path: string): Promise<string> =>
      withWorkspace(OPERATIONS.read, ref, (ws, sb) => readWorkspaceFile(sb, ws.dir, path)),

    /**
     * Stage, commit, `pull --rebase`, push to `targetBranch` (default: the agent branch) under the
     * approach's push serializer, with backoff retries on rejected pushes. Lands once per operationId.
     */
    commitAndPush(ref: WorkspaceRef, input: CommitPushInput, progress?: Progress): Promise<CommitPushResult> {
      const id = refId(ref);
      return withWorkspace(OPERATIONS.push, ref, async (ws, sb, op) => {
        const branch = input.targetBranch ?? ws.agentBranch;
        if (input.allowQueue && input.operationId && pushModeFor(config.push, ws.repoUrl, branch) === 'queue') {
          // push.mode queue: stage on the operation's own ref, no lock; the merge queue lands it
          progress?.({ step: 'stage' });
          const staged = await stageCommit(sb, ws.dir, { message: input.message, branch, operationId: input.operationId, repoUrl: ws.repoUrl, creds: creds() });
          op.attempts = 1;
          Object.assign(op.details, { branch, commit: staged.commit, staged: staged.ref, operationId: input.operationId });
          return { commit: staged.commit, branch, attempts: 1, alreadyLanded: false, staged };
        }
        const key = pushLockKey(ws.repoUrl, branch);
        const g = config.git;
        const res = await commitAndPush(sb, ws.dir, {
          message: input.message, branch, operationId: input.operationId, creds: creds(),
          maxAttempts: g.maxPushAttempts, backoffBaseMs: g.backoffBaseMs, backoffMaxMs: g.backoffMaxMs,
          withLock: async (fn) => {
            try {
              return await pushes.withLock(key, fn);
            } catch (e) {
              if (isDomainError(e, ErrorType.PushRejected)) op.attemptFailed();
              throw e;
            }
          },
          onAttempt: (attempt) => {
            op.attempts = attempt;
            progress?.({ step: 'push', attempt });
          },
        });
        Object.assign(op.details, { branch: res.branch, commit: res.commit, alreadyLanded: res.alreadyLanded });
        if (input.operationId) op.details.operationId = input.operationId;
        return res;
      }, { idempotencyKey: input.operationId ? `push:${id}:${input.operationId}` : undefined });
    },

    /**
     * `pull --rebase` from `branch` (default: the workspace's agent branch, which is where its
     * pushes go); uncommitted changes are carried along; a conflict leaves the workspace as it was.
     */
    pull: (ref: WorkspaceRef, progress?: Progress, opts: { branch?: string } = {}): Promise<PullResult> =>
      withWorkspace(OPERATIONS.pull, ref, async (ws, sb, op) => {
        const branch = opts.branch ?? ws.agentBranch;
        progress?.({ step: 'pull', branch });
        const res = await pullRebase(sb, ws.dir, { branch, creds: creds() });
        Object.assign(op.details, { branch, head: res.head, updated: res.updated });
        return res;
      }),

    /** Gives the sandbox back and marks the workspace terminated. Releasing twice is harmless. */
    async release(ref: WorkspaceRef): Promise<void> {
      const id = refId(ref);
      let ws: WorkspaceRecord | null = null;
      await tracker.track(OPERATIONS.release, {
        workspaceId: id,
        get agentId() { return ws?.agentId ?? null; },
      }, async (op) => {
        // always read afresh: releasing acts on the record as it is now, released or not
        ws = await workspaces.findById(approach, id);
        if (!ws) throw new DomainError(ErrorType.NotFound, 'workspace not found', { details: { workspaceId: id } });
        if (ws.status === 'terminated') {
          op.details.alreadyReleased = true;
          return;
        }
        let handle: Sandbox | null = null;
        try {
          handle = await sandboxes.connect(ws.sandboxId);
        } catch (e) {
          if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
        }
        await sandboxes.giveBack(ws.sandboxId, handle);
        await workspaces.release(approach, id);
        tracker.forget(id);
      });
    },

    start: () => sandboxes.start(),

    async close() {
      await tracker.flush();
      await sandboxes.close();
      await pushes.close();
    },
  };
}
