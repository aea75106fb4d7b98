/**
 * The GitService operations, written once over three parts (ARCHITECTURE.md "The git service by
 * composition"):
 *
 * - an operation tracker (tracker.ts): metrics + operation_log rows for every operation
 * - a sandbox source (sandbox-source.ts): fresh sandbox per workspace, or the warm pool
 * - a push serializer (push-serializer.ts): in-process lock, or the Postgres lock
 *
 * Approach 1 and approach 2 are two compositions of these parts (index.ts), not subclasses.
 * Workspace records live in the `workspaces` repository; credentials come from the remotes
 * policy (config `git.remotes`) and are passed to git per command (never stored). What an agent
 * may do — which remotes, which branches, how much — is enforced here for every caller (REST,
 * MCP, workflows): lib/policy and ownership.ts.
 */
import { randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import {
  cloneWorkspace,
  commitAndPush,
  gitDiff,
  stageCommit,
  gitStatus,
  pullRebase,
  readWorkspaceFile,
  workspaceUsage,
  writeWorkspaceFile,
  type GitCredentials,
} from '../git/index.js';
import { agentBranchName, validateBranchName, validateId } from '../git/validate.js';
import { pushLockKey } from '../lock/index.js';
import { pushModeFor } from './push-mode.js';
import { sanitizeUrl, type Logger } from '../log.js';
import type { Approach } from '../metrics.js';
import { createGitPolicy } from '../policy/index.js';
import type { Sandbox } from '../sandbox/types.js';
import type { WorkspaceRecord, WorkspaceRepository } from '../store/workspaces.js';
import { isClientFault, namingLimit, usageOverQuota, WorkspaceOpLeases, writeOverQuota } from './ownership.js';
import type { PushSerializer } from './push-serializer.js';
import type { SandboxSource } from './sandbox-source.js';
import { OPERATIONS, type OperationTracker, type OpContext } from './tracker.js';
import type {
  CommitPushInput,
  CommitPushResult,
  CreateWorkspaceInput,
  GitService,
  GitStatus,
  Progress,
  PullResult,
  Workspace,
  WorkspaceRef,
} from './types.js';
import { bindWorkspace, boundRecord, refId } from './workspace-ref.js';

/** The workspace's checkout inside its sandbox, relative to the sandbox home. */
export const WORKSPACE_ROOT = 'ws';
export const workspaceDirFor = (workspaceId: string): string => `${WORKSPACE_ROOT}/${workspaceId}`;

/** The parts one approach is composed of. */
export interface GitServiceParts<A extends Approach = Approach> {
  approach: A;
  config: Pick<Config, 'git' | 'push' | 'limits'>;
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
  const limits = config.limits;
  /** remotes and branches an agent may use (config `git`) */
  const policy = createGitPolicy(config.git);
  /** one mutating operation per workspace at a time */
  const opLeases = new WorkspaceOpLeases({ workspaces, approach, log, waitMs: limits.workspaceBusyWaitMs });
  /**
   * The credentials for a workspace's remote: the token of the git.remotes entry it matches,
   * bound to that entry's scheme, host and path. Validation (repoUrl) when the remote is not
   * listed (any more).
   */
  const credsFor = (repoUrl: string): GitCredentials | undefined => policy.remotes.check(repoUrl).credentials;
  const author = (): { name: string; email: string } => ({
    name: config.git.authorName,
    email: config.git.authorEmail,
  });

  /**
   * The workspace and its live sandbox; NotFound when unknown or released. `record`: the row as
   * the operation lease just read it (mutating operations never use an earlier lookup).
   */
  async function open(ref: WorkspaceRef, record?: WorkspaceRecord): Promise<{ ws: WorkspaceRecord; sb: Sandbox }> {
    const id = refId(ref);
    // a record this request already read (passed as the Workspace object) stands in for a lookup
    const ws = record ?? boundRecord(ref, approach) ?? (await workspaces.findById(approach, id));
    if (!ws || ws.status === 'terminated') {
      throw new DomainError(ErrorType.NotFound, ws ? 'workspace was released' : 'workspace not found', {
        details: { workspaceId: id },
      });
    }
    if (ws.status !== 'ready' && ws.status !== 'in_use') {
      throw new DomainError(ErrorType.Unavailable, `workspace is ${ws.status}`, {
        details: { workspaceId: id, status: ws.status },
        retryable: ws.status === 'initializing',
      });
    }
    try {
      return { ws, sb: await sandboxes.connect(ws.sandboxId) };
    } catch (e) {
      if (isDomainError(e, ErrorType.SandboxGone)) {
        // only the sandbox this record was read with: a retried create may have moved it on
        await workspaces
          .setStatus(approach, id, 'error', { from: ['ready', 'in_use'], sandboxId: ws.sandboxId, attempt: ws.attempt })
          .catch(() => undefined);
      }
      throw e;
    }
  }

  /**
   * One operation on a live workspace. Mutating ones (`mutating`) hold the workspace's operation
   * lease for their whole run (one at a time per workspace; reads run beside them).
   */
  function withWorkspace<T>(
    operation: string,
    ref: WorkspaceRef,
    fn: (ws: WorkspaceRecord, sb: Sandbox, op: OpContext) => Promise<T>,
    opts: { idempotencyKey?: string; mutating?: boolean } = {},
  ): Promise<T> {
    let ws: WorkspaceRecord | null = null;
    let sandboxId: string | null = null;
    return tracker.track(
      operation,
      {
        workspaceId: refId(ref),
        get agentId() {
          return ws?.agentId ?? null;
        },
        get sandboxId() {
          return sandboxId;
        },
        idempotencyKey: opts.idempotencyKey,
        touch: true,
      },
      async (op) => {
        const body = async (record?: WorkspaceRecord): Promise<T> => {
          const o = await open(ref, record);
          ws = o.ws;
          sandboxId = o.ws.sandboxId;
          try {
            return await fn(o.ws, o.sb, op);
          } catch (e) {
            throw namingLimit(e, 'limits.commandOutputMaxBytes');
          }
        };
        return opts.mutating ? opLeases.run(refId(ref), operation, body) : body();
      },
    );
  }

  return {
    approach,

    /**
     * Sandbox + clone + agent branch `agent/<agentId>/<taskId>`. The remote must be listed in
     * git.remotes and the base branch allowed by git.readBranches. Idempotent on `workspaceId`: a
     * repeat returns the recorded workspace. A repeat of a create that failed, or that is still
     * running elsewhere (an activity retried after a timeout), supersedes it: it takes the record
     * over (a new attempt number), revokes the sandbox the earlier attempt holds — whatever that
     * attempt still runs stops there and never touches this one's — and clones into a new sandbox.
     * The earlier attempt then changes nothing: every write it makes is compare-and-set on its
     * attempt number.
     */
    async createWorkspace(input: CreateWorkspaceInput, progress?: Progress): Promise<Workspace> {
      const id = validateId(input.workspaceId ?? randomUUID(), 'workspaceId');
      let sandboxId: string | null = null;
      return tracker.track(
        OPERATIONS.create,
        {
          workspaceId: id,
          agentId: input.agentId ?? null,
          get sandboxId() {
            return sandboxId;
          },
          idempotencyKey: id,
        },
        async (op) => {
          const agentBranch = agentBranchName(input.agentId, input.taskId);
          const remote = policy.remotes.check(input.repoUrl, 'repoUrl');
          const baseBranch = validateBranchName(input.baseBranch ?? 'main', 'baseBranch');
          policy.branches.assertRead(input.agentId, baseBranch, 'baseBranch');
          const repoUrl = sanitizeUrl(input.repoUrl);
          let existing = await workspaces.findById(approach, id);
          if (
            existing &&
            (existing.agentId !== input.agentId || existing.taskId !== input.taskId || existing.repoUrl !== repoUrl)
          ) {
            throw new DomainError(ErrorType.Validation, 'workspaceId: already names a different workspace', {
              details: { field: 'workspaceId' },
            });
          }
          if (existing && existing.status !== 'initializing' && existing.status !== 'error') {
            op.details.resumed = false;
            op.details.existing = true;
            return bindWorkspace(existing);
          }
          const spec = { id, agentId: input.agentId, taskId: input.taskId, repoUrl, baseBranch, agentBranch };
          progress?.({ step: 'sandbox' });
          const held = await sandboxes.obtain(spec);
          const sb = held.sandbox;
          sandboxId = sb.id;
          const dir = workspaceDirFor(id);
          let attempt = 0;
          try {
            if (!existing) {
              const ins = await workspaces.insert(
                { ...spec, approach, sandboxId: sb.id, sandboxLease: held.lease, dir },
                {
                  maxOpenPerAgent: limits.maxOpenWorkspacesPerAgent,
                },
              );
              // a concurrent attempt of the same create inserted first: supersede it below
              if (ins.created) attempt = ins.workspace.attempt;
              else existing = ins.workspace;
            }
            if (existing) {
              const claim = await workspaces.claimCreateAttempt(approach, id, { sandboxId: sb.id, lease: held.lease });
              if (!claim) {
                // done (ready) or released meanwhile: nothing left for this attempt to do
                const now = await workspaces.findById(approach, id);
                if (!now)
                  throw new DomainError(ErrorType.NotFound, 'workspace not found', { details: { workspaceId: id } });
                await sandboxes.giveBack(sb.id, held.lease, sb);
                sandboxId = null;
                op.details.existing = true;
                return bindWorkspace(now);
              }
              attempt = claim.workspace.attempt;
              op.details.resumed = true;
              op.details.attempt = attempt;
              if (claim.previous.sandboxId !== sb.id) {
                await sandboxes
                  .revoke(claim.previous.sandboxId, claim.previous.lease)
                  .catch((e: Error) =>
                    log.warn(
                      { workspaceId: id, sandboxId: claim.previous.sandboxId, err: e.message },
                      "revoking a superseded create attempt's sandbox failed",
                    ),
                  );
              }
            }
          } catch (e) {
            sandboxId = null;
            await sandboxes
              .giveBack(sb.id, held.lease, sb)
              .catch((err: Error) => log.warn({ err: err.message }, 'giving back a sandbox failed'));
            throw e;
          }
          progress?.({ step: 'clone', sandboxId: sb.id });
          try {
            await cloneWorkspace(sb, {
              repoUrl: input.repoUrl,
              baseBranch,
              agentBranch,
              dir,
              creds: remote.credentials,
              author: author(),
            });
            const usage = await workspaceUsage(sb, dir);
            const over = usageOverQuota(limits, usage, 'after the clone');
            if (over) throw over;
            await sandboxes.ready(sb.id);
            const ready = await workspaces.setStatus(approach, id, 'ready', { from: ['initializing'], attempt, usage });
            if (!ready) {
              throw new DomainError(
                ErrorType.Busy,
                'a newer attempt of this create took the workspace over; this one changed nothing',
                {
                  details: { workspaceId: id, attempt, superseded: true },
                },
              );
            }
            progress?.({ step: 'ready' });
            op.details.agentBranch = agentBranch;
            return bindWorkspace(ready);
          } catch (e) {
            // compare-and-set on this attempt: a superseded attempt leaves the record alone
            const marked = await workspaces
              .setStatus(approach, id, 'error', { from: ['initializing'], attempt })
              .catch(() => null);
            if (marked && !isClientFault(e))
              await tracker.recordSandboxError(sb.id, (e as Error).message, OPERATIONS.create).catch(() => undefined);
            sandboxId = null; // recorded (or not the sandbox's fault)
            // this attempt's own sandbox under its own lease: if a newer attempt revoked it, nothing happens
            await sandboxes
              .giveBack(sb.id, held.lease, sb)
              .catch((err: Error) => log.warn({ err: err.message }, 'giving back a sandbox failed'));
            throw e;
          }
        },
      );
    },

    async getWorkspace(id: string): Promise<Workspace | null> {
      const ws = await workspaces.findById(approach, id);
      return ws ? bindWorkspace(ws) : null;
    },

    status: (ref: WorkspaceRef): Promise<GitStatus> =>
      withWorkspace(OPERATIONS.status, ref, (ws, sb) => gitStatus(sb, ws.dir)),

    diff: (ref: WorkspaceRef, opts: { staged?: boolean; path?: string } = {}): Promise<string> =>
      withWorkspace(OPERATIONS.diff, ref, async (ws, sb) => {
        try {
          return await gitDiff(sb, ws.dir, { ...opts, maxBytes: limits.diffMaxBytes });
        } catch (e) {
          throw namingLimit(e, 'limits.diffMaxBytes');
        }
      }),

    writeFile: (ref: WorkspaceRef, path: string, content: string): Promise<void> =>
      withWorkspace(
        OPERATIONS.write,
        ref,
        async (ws, sb, op) => {
          await writeWorkspaceFile(sb, ws.dir, path, content, {
            reserve: async (delta) => {
              const over = await workspaces.reserveUsage(approach, ws.id, delta, {
                bytes: limits.workspaceDiskMaxBytes,
                files: limits.workspaceMaxFiles,
              });
              if (over) throw writeOverQuota(limits, over);
            },
          });
          op.details.bytes = Buffer.byteLength(content, 'utf8');
        },
        { mutating: true },
      ),

    readFile: (ref: WorkspaceRef, path: string): Promise<string> =>
      withWorkspace(OPERATIONS.read, ref, async (ws, sb) => {
        try {
          return await readWorkspaceFile(sb, ws.dir, path, { maxBytes: limits.fileReadMaxBytes });
        } catch (e) {
          throw namingLimit(e, 'limits.fileReadMaxBytes');
        }
      }),

    /**
     * Stage, commit, `pull --rebase`, push to `targetBranch` (default: the agent branch) under the
     * approach's push serializer, with backoff retries on rejected pushes. Lands once per operationId.
     */
    commitAndPush(ref: WorkspaceRef, input: CommitPushInput, progress?: Progress): Promise<CommitPushResult> {
      const id = refId(ref);
      return withWorkspace(
        OPERATIONS.push,
        ref,
        async (ws, sb, op) => {
          const branch = validateBranchName(input.targetBranch ?? ws.agentBranch, 'branch');
          policy.branches.assertPush(ws.agentId, branch, 'branch');
          const creds = credsFor(ws.repoUrl);
          if (input.allowQueue && input.operationId && pushModeFor(config.push, ws.repoUrl, branch) === 'queue') {
            // push.mode queue: stage on the operation's own ref, no lock; the merge queue lands it
            progress?.({ step: 'stage' });
            const staged = await stageCommit(sb, ws.dir, {
              message: input.message,
              branch,
              operationId: input.operationId,
              repoUrl: ws.repoUrl,
              creds,
            });
            op.attempts = 1;
            Object.assign(op.details, {
              branch,
              commit: staged.commit,
              staged: staged.ref,
              operationId: input.operationId,
            });
            return { commit: staged.commit, branch, attempts: 1, alreadyLanded: false, staged };
          }
          const key = pushLockKey(ws.repoUrl, branch);
          const g = config.git;
          const res = await commitAndPush(sb, ws.dir, {
            message: input.message,
            branch,
            operationId: input.operationId,
            creds,
            maxAttempts: g.maxPushAttempts,
            backoffBaseMs: g.backoffBaseMs,
            backoffMaxMs: g.backoffMaxMs,
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
        },
        { idempotencyKey: input.operationId ? `push:${id}:${input.operationId}` : undefined, mutating: true },
      );
    },

    /**
     * `pull --rebase` from `branch` (default: the workspace's agent branch, which is where its
     * pushes go); uncommitted changes are carried along; a conflict leaves the workspace as it was.
     */
    pull: (ref: WorkspaceRef, progress?: Progress, opts: { branch?: string } = {}): Promise<PullResult> =>
      withWorkspace(
        OPERATIONS.pull,
        ref,
        async (ws, sb, op) => {
          const branch = validateBranchName(opts.branch ?? ws.agentBranch, 'branch');
          policy.branches.assertRead(ws.agentId, branch, 'branch');
          progress?.({ step: 'pull', branch });
          const res = await pullRebase(sb, ws.dir, { branch, creds: credsFor(ws.repoUrl) });
          Object.assign(op.details, { branch, head: res.head, updated: res.updated });
          // what the pull brought in counts against the quota (the pull stays: it is the remote's state)
          const usage = await workspaceUsage(sb, ws.dir);
          await workspaces.setUsage(approach, ws.id, usage);
          const over = usageOverQuota(limits, usage, 'after the pull');
          if (over) throw over;
          return res;
        },
        { mutating: true },
      ),

    /**
     * Gives the sandbox back and marks the workspace terminated. Releasing twice is harmless (the
     * second waits for the first, then finds it released). A workspace still being created is
     * released by revoking its sandbox, not recycling it: the create may still run in there.
     */
    async release(ref: WorkspaceRef): Promise<void> {
      const id = refId(ref);
      let ws: WorkspaceRecord | null = null;
      await tracker.track(
        OPERATIONS.release,
        {
          workspaceId: id,
          get agentId() {
            return ws?.agentId ?? null;
          },
        },
        async (op) => {
          // the operation lease reads the record afresh: releasing acts on it as it is now
          await opLeases.run(id, OPERATIONS.release, async (rec) => {
            ws = rec;
            if (rec.status === 'terminated') {
              op.details.alreadyReleased = true;
              return;
            }
            if (rec.status === 'initializing') {
              await sandboxes.revoke(rec.sandboxId, rec.sandboxLease);
            } else {
              let handle: Sandbox | null = null;
              try {
                handle = await sandboxes.connect(rec.sandboxId);
              } catch (e) {
                if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
              }
              await sandboxes.giveBack(rec.sandboxId, rec.sandboxLease, handle);
            }
            await workspaces.release(approach, id);
            tracker.forget(id);
          });
        },
      );
    },

    start: () => sandboxes.start(),

    async close() {
      await tracker.flush();
      await sandboxes.close();
      await pushes.close();
    },
  };
}
