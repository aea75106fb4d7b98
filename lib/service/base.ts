import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Config } from '../config/schema.js';
import type { Db } from '../db/index.js';
import type { EncryptionKey } from '../crypto.js';
import { categoryOf, DomainError, ErrorType, isDomainError } from '../errors.js';
import {
  cloneWorkspace, commitAndPush, gitDiff, gitStatus, pullRebase, readWorkspaceFile, writeWorkspaceFile, type GitCredentials,
} from '../git/index.js';
import { agentBranchName, validateId, validateRepoUrl } from '../git/validate.js';
import { sanitizeUrl, type Logger } from '../log.js';
import { recordOperation, type Approach, type Metrics } from '../metrics.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import { appendOperation, appendOperations, firstFailureSince, type OperationEntry } from '../store/operation-log.js';
import { recordSandboxError } from '../store/sandboxes.js';
import {
  getWorkspace, insertWorkspace, releaseWorkspace, setWorkspaceStatus, type WorkspaceRecord,
} from '../store/workspaces.js';
import { pushLockKey } from '../lock/index.js';
import type {
  CommitPushInput, CommitPushResult, CreateWorkspaceInput, GitService, GitStatus, Progress, PullResult, Workspace,
} from './types.js';

/** What both approaches are built from (one set per process, built in the composition root). */
export interface GitServiceDeps {
  config: Pick<Config, 'git' | 'sandbox' | 'pool' | 'lock'>;
  db: Db;
  provider: SandboxProvider;
  metrics: Metrics;
  log: Logger;
  /** encrypts last_error (lib/crypto.ts loadEncryptionKey) */
  key: EncryptionKey;
}

/** Operation names on the metrics' `operation` label and in operation_log (flags use git.<name>). */
export const OPERATIONS = {
  create: 'clone',
  status: 'status',
  diff: 'diff',
  read: 'read',
  write: 'write',
  push: 'push',
  pull: 'pull',
  release: 'release',
} as const;

/** The workspace's checkout inside its sandbox, relative to the sandbox home. */
export const WORKSPACE_ROOT = 'ws';
export const workspaceDirFor = (workspaceId: string): string => `${WORKSPACE_ROOT}/${workspaceId}`;

/** Read-only operations: their operation_log rows are written in batches, off the request path. */
const READ_OPERATIONS: ReadonlySet<string> = new Set([OPERATIONS.status, OPERATIONS.diff, OPERATIONS.read]);
/** How long a batch of read rows waits before it is written, and the size that writes it at once. */
const READ_LOG_FLUSH_MS = 200;
const READ_LOG_BATCH = 200;
/** A read stamps last_used_at at most this often per workspace (per process); writes always do. */
const TOUCH_INTERVAL_MS = 10_000;
/**
 * A record read by getWorkspace() (the route's ownership check) may be used once by the next
 * operation on the same id within this window, instead of a second identical lookup. The window
 * is no wider than the gap that always exists between a lookup and the git command it guards.
 */
const HANDOFF_MS = 250;

interface OpContext {
  /** call when an attempt inside the operation failed and will be retried */
  attemptFailed(): void;
  attempts: number;
  details: Record<string, unknown>;
}

function toWorkspace(r: WorkspaceRecord): Workspace {
  return {
    id: r.id, agentId: r.agentId, taskId: r.taskId, repoUrl: r.repoUrl, baseBranch: r.baseBranch, agentBranch: r.agentBranch,
    approach: r.approach, sandboxId: r.sandboxId, status: r.status, createdAt: r.createdAt, lastUsedAt: r.lastUsedAt,
  };
}

/**
 * The parts approach 1 and approach 2 share: workspace records, operation_log rows, the
 * contract metrics on every operation, encrypted last_error, credentials from config passed to
 * git per command (never stored). Subclasses decide where sandboxes come from, how they go
 * back, and which lock serialises pushes.
 */
export abstract class BaseGitService implements GitService {
  abstract readonly approach: Approach;
  protected readonly handles = new Map<string, Sandbox>();
  /** read rows not yet written; bounded: the read that fills a batch waits for its write */
  private pendingReads: { entry: OperationEntry; touch: boolean }[] = [];
  private readFlushTimer: NodeJS.Timeout | null = null;
  private readFlushing: Promise<void> = Promise.resolve();
  /** workspace id → when a read last stamped its last_used_at (ms since epoch) */
  private readonly touchedAt = new Map<string, number>();
  /** workspace id → a record getWorkspace() just read (see HANDOFF_MS) */
  private readonly handoff = new Map<string, { rec: WorkspaceRecord; at: number }>();

  constructor(protected readonly deps: GitServiceDeps) {}

  /** A sandbox for a new workspace; recorded in git_sandboxes as in use by this agent. */
  protected abstract obtainSandbox(ws: { id: string; agentId: string; taskId: string; repoUrl: string; baseBranch: string; agentBranch: string }): Promise<Sandbox>;
  /** Gives the workspace's sandbox back (approach 1: kill; approach 2: return to the pool). */
  protected abstract giveBack(sandboxId: string, handle: Sandbox | null): Promise<void>;
  /** Serialises fetch → rebase → push per remote + branch. */
  protected abstract withPushLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  /** The live handle of a recorded sandbox (reconnects by id after a restart). */
  protected abstract connectSandbox(sandboxId: string): Promise<Sandbox>;

  /** Called once the workspace is cloned in `sandboxId` (approach 1 marks its sandbox in use). */
  protected async workspaceReady(_sandboxId: string): Promise<void> {}

  /** Starts background work (cost accrual, pool pre-warm). */
  abstract start(): Promise<void>;
  /** Stops background work; sandboxes stay (a restart finds them through their records). */
  abstract close(): Promise<void>;

  protected get creds(): GitCredentials | undefined {
    return this.deps.config.git.token ? { token: this.deps.config.git.token } : undefined;
  }

  protected get author(): { name: string; email: string } {
    return { name: this.deps.config.git.authorName, email: this.deps.config.git.authorEmail };
  }

  // -------------------------------------------------------------------------------------------
  // operation bookkeeping

  /**
   * Runs one operation with the contract metrics (duration, count by outcome/category,
   * in-flight, recovery) and an operation_log row. `idempotencyKey` links retries of the same
   * operation across calls (Temporal activity retries), so recovery is measured from the first
   * failure of the run to this success.
   */
  protected async track<T>(
    operation: string,
    ctx: { workspaceId: string | null; agentId: string | null; sandboxId?: string | null; idempotencyKey?: string; touch?: boolean },
    fn: (op: OpContext) => Promise<T>,
  ): Promise<T> {
    const { metrics, db, log } = this.deps;
    const startedAt = new Date();
    const t0 = performance.now();
    let firstFailure: number | null = null;
    const op: OpContext = {
      attempts: 1,
      details: {},
      attemptFailed: () => {
        firstFailure ??= performance.now();
      },
    };
    metrics.inFlight.labels(this.approach).inc();
    let error: unknown;
    let result: T | undefined;
    try {
      result = await fn(op);
    } catch (e) {
      error = e;
    } finally {
      metrics.inFlight.labels(this.approach).dec();
    }
    const ms = performance.now() - t0;
    const category = error === undefined ? undefined : categoryOf(error);
    recordOperation(metrics, { operation, approach: this.approach, seconds: ms / 1000, error: category });
    const details: Record<string, unknown> = { ...op.details };
    if (ctx.idempotencyKey) details.idempotencyKey = ctx.idempotencyKey;
    if (ctx.sandboxId) details.sandboxId = ctx.sandboxId;
    if (error !== undefined) details.errorType = error instanceof DomainError ? error.type : 'Internal';
    if (error === undefined) {
      let recoverySeconds: number | null = null;
      if (firstFailure !== null) recoverySeconds = (performance.now() - firstFailure) / 1000;
      else if (ctx.idempotencyKey) {
        const prior = await firstFailureSince(db, this.approach, operation, ctx.idempotencyKey).catch(() => null);
        if (prior) recoverySeconds = Math.max(0, (Date.now() - prior.getTime()) / 1000);
      }
      if (recoverySeconds !== null) {
        metrics.recovery.labels(operation).observe(recoverySeconds);
        details.recoverySeconds = recoverySeconds;
      }
    }
    const entry: OperationEntry = {
      workspaceId: ctx.workspaceId, agentId: ctx.agentId, operation, approach: this.approach,
      outcome: error === undefined ? 'success' : 'error', errorCategory: category ?? 'none',
      durationMs: ms, costDollars: (ms / 1000) * this.deps.config.sandbox.pricePerSecond, attempts: op.attempts,
      startedAt, details,
    };
    if (READ_OPERATIONS.has(operation)) {
      await this.queueRead(entry, ctx.touch === true && error === undefined);
    } else {
      try {
        // rows of earlier reads first, so the log keeps each workspace's order
        await this.flushReads();
        await appendOperation(db, entry, { touchWorkspace: ctx.touch === true && error === undefined });
      } catch (e) {
        log.warn({ operation, err: (e as Error).message }, 'operation log write failed');
      }
    }
    if (error !== undefined) {
      // client mistakes are not the sandbox's errors
      if (ctx.sandboxId && !isDomainError(error, ErrorType.Validation) && !isDomainError(error, ErrorType.NotFound)) {
        await recordSandboxError(db, this.deps.key, ctx.sandboxId, (error as Error).message ?? String(error), { operation })
          .catch((e: Error) => log.warn({ err: e.message }, 'recording sandbox error failed'));
      }
      throw error;
    }
    return result as T;
  }

  /**
   * Queues a read's operation_log row. Reads are the hot path (status polling) and are safe to
   * repeat, so their rows are written in batches a moment later instead of one INSERT per call:
   * metrics are recorded at once, the row within READ_LOG_FLUSH_MS, before the row of any later
   * write operation of this service, and on close(). The queue is bounded by backpressure rather
   * than by dropping: the read that fills a batch waits for it to be written. last_used_at is
   * stamped by the same statement, at most once per TOUCH_INTERVAL_MS per workspace.
   */
  private async queueRead(entry: OperationEntry, touch: boolean): Promise<void> {
    this.pendingReads.push({ entry, touch });
    if (this.pendingReads.length >= READ_LOG_BATCH) {
      await this.flushReads();
    } else if (!this.readFlushTimer) {
      this.readFlushTimer = setTimeout(() => void this.flushReads(), READ_LOG_FLUSH_MS);
      this.readFlushTimer.unref();
    }
  }

  /** Writes the queued read rows (one statement); failures are logged, as for any log row. */
  protected flushReads(): Promise<void> {
    if (this.readFlushTimer) {
      clearTimeout(this.readFlushTimer);
      this.readFlushTimer = null;
    }
    const batch = this.pendingReads;
    if (batch.length === 0) return this.readFlushing;
    this.pendingReads = [];
    const now = Date.now();
    if (this.touchedAt.size > 10_000) this.touchedAt.clear();
    const touch = new Set<string>();
    for (const { entry, touch: wants } of batch) {
      const id = entry.workspaceId;
      if (!wants || id === null) continue;
      const last = this.touchedAt.get(id);
      if (last === undefined || now - last >= TOUCH_INTERVAL_MS) {
        touch.add(id);
        this.touchedAt.set(id, now);
      }
    }
    const entries = batch.map((b) => b.entry);
    // chained: batches are written in order, and a caller awaiting this one awaits the earlier ones
    this.readFlushing = this.readFlushing
      .then(() => appendOperations(this.deps.db, entries, { approach: this.approach, touchWorkspaceIds: [...touch] }))
      .catch((e: Error) => this.deps.log.warn({ rows: batch.length, err: e.message }, 'operation log write failed'));
    return this.readFlushing;
  }

  /** The workspace and its live sandbox; NotFound when unknown or released. */
  protected async open(id: string, opts: { handoff?: boolean } = {}): Promise<{ ws: WorkspaceRecord; sb: Sandbox }> {
    const handed = this.handoff.get(id);
    this.handoff.delete(id);
    const fresh = opts.handoff === true && handed !== undefined && performance.now() - handed.at <= HANDOFF_MS;
    const ws = fresh ? handed.rec : await getWorkspace(this.deps.db, this.approach, id);
    if (!ws || ws.status === 'terminated') {
      throw new DomainError(ErrorType.NotFound, ws ? 'workspace was released' : 'workspace not found', { details: { workspaceId: id } });
    }
    if (ws.status !== 'ready' && ws.status !== 'in_use') {
      throw new DomainError(ErrorType.Unavailable, `workspace is ${ws.status}`, { details: { workspaceId: id, status: ws.status }, retryable: ws.status === 'initializing' });
    }
    try {
      return { ws, sb: await this.connectSandbox(ws.sandboxId) };
    } catch (e) {
      if (isDomainError(e, ErrorType.SandboxGone)) {
        this.handoff.delete(id);
        await setWorkspaceStatus(this.deps.db, this.approach, id, 'error').catch(() => undefined);
      }
      throw e;
    }
  }

  private async withWorkspace<T>(
    operation: string, id: string, fn: (ws: WorkspaceRecord, sb: Sandbox, op: OpContext) => Promise<T>,
    opts: { idempotencyKey?: string } = {},
  ): Promise<T> {
    let ws: WorkspaceRecord | null = null;
    let sandboxId: string | null = null;
    return this.track(operation, {
      workspaceId: id,
      get agentId() { return ws?.agentId ?? null; },
      get sandboxId() { return sandboxId; },
      idempotencyKey: opts.idempotencyKey,
      touch: true,
    }, async (op) => {
      // only the direct calls (reads, file writes) follow a route's lookup; pushes, pulls and
      // releases run later in a workflow and always read the record afresh
      const o = await this.open(id, { handoff: READ_OPERATIONS.has(operation) || operation === OPERATIONS.write });
      ws = o.ws;
      sandboxId = o.ws.sandboxId;
      return fn(o.ws, o.sb, op);
    });
  }

  // -------------------------------------------------------------------------------------------
  // GitService

  /**
   * Sandbox + clone + agent branch `agent/<agentId>/<taskId>`. Idempotent on `workspaceId`: a
   * repeat returns the recorded workspace; a repeat after a failed or interrupted create resumes
   * it (in the recorded sandbox while it lives, else in a new one).
   */
  async createWorkspace(input: CreateWorkspaceInput, progress?: Progress): Promise<Workspace> {
    const id = validateId(input.workspaceId ?? randomUUID(), 'workspaceId');
    let sandboxId: string | null = null;
    return this.track(OPERATIONS.create, {
      workspaceId: id, agentId: input.agentId ?? null,
      get sandboxId() { return sandboxId; },
      idempotencyKey: id,
    }, async (op) => {
      // this create changes the record: nothing read before it may stand in for a lookup
      this.handoff.delete(id);
      const agentBranch = agentBranchName(input.agentId, input.taskId);
      validateRepoUrl(input.repoUrl);
      const baseBranch = input.baseBranch ?? 'main';
      const repoUrl = sanitizeUrl(input.repoUrl);
      const existing = await getWorkspace(this.deps.db, this.approach, id);
      if (existing && (existing.agentId !== input.agentId || existing.taskId !== input.taskId || existing.repoUrl !== repoUrl)) {
        throw new DomainError(ErrorType.Validation, 'workspaceId: already names a different workspace', { details: { field: 'workspaceId' } });
      }
      if (existing && existing.status !== 'initializing' && existing.status !== 'error') {
        op.details.resumed = false;
        op.details.existing = true;
        return toWorkspace(existing);
      }
      const spec = { id, agentId: input.agentId, taskId: input.taskId, repoUrl, baseBranch, agentBranch };

      // a sandbox: the recorded one when a previous attempt got that far and it still lives
      let sb: Sandbox | null = null;
      if (existing) {
        sb = await this.connectSandbox(existing.sandboxId).catch((e: unknown) => {
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
        sb = await this.obtainSandbox(spec);
        op.details.newSandbox = true;
      }
      sandboxId = sb.id;
      const dir = workspaceDirFor(id);
      let ws: WorkspaceRecord;
      if (existing) {
        const updated = await setWorkspaceStatus(this.deps.db, this.approach, id, 'initializing', { sandboxId: sb.id });
        if (!updated) throw new DomainError(ErrorType.NotFound, 'workspace was released', { details: { workspaceId: id } });
        ws = updated;
      } else {
        const ins = await insertWorkspace(this.deps.db, { ...spec, approach: this.approach, sandboxId: sb.id, dir });
        if (!ins.created && ins.workspace.sandboxId !== sb.id) {
          // a concurrent create of the same id won the insert: give ours back, answer with theirs
          await this.giveBack(sb.id, sb);
          return toWorkspace(ins.workspace);
        }
        ws = ins.workspace;
      }
      progress?.({ step: 'clone', sandboxId: sb.id });
      try {
        await cloneWorkspace(sb, { repoUrl: input.repoUrl, baseBranch, agentBranch, dir, creds: this.creds, author: this.author });
      } catch (e) {
        await setWorkspaceStatus(this.deps.db, this.approach, id, 'error').catch(() => undefined);
        await recordSandboxError(this.deps.db, this.deps.key, sb.id, (e as Error).message, { operation: OPERATIONS.create }).catch(() => undefined);
        sandboxId = null; // already recorded
        await this.giveBack(sb.id, sb).catch((err: Error) => this.deps.log.warn({ err: err.message }, 'giving back a sandbox failed'));
        throw e;
      }
      await this.workspaceReady(sb.id);
      const ready = await setWorkspaceStatus(this.deps.db, this.approach, id, 'ready', { sandboxId: sb.id });
      progress?.({ step: 'ready' });
      op.details.agentBranch = agentBranch;
      return toWorkspace(ready ?? ws);
    });
  }

  async getWorkspace(id: string): Promise<Workspace | null> {
    const ws = await getWorkspace(this.deps.db, this.approach, id);
    // only a record an operation may run on; anything else is looked up again
    if (ws && (ws.status === 'ready' || ws.status === 'in_use')) {
      if (this.handoff.size > 1_000) this.handoff.clear();
      this.handoff.set(id, { rec: ws, at: performance.now() });
    } else {
      this.handoff.delete(id);
    }
    return ws ? toWorkspace(ws) : null;
  }

  async status(id: string): Promise<GitStatus> {
    return this.withWorkspace(OPERATIONS.status, id, (ws, sb) => gitStatus(sb, ws.dir));
  }

  async diff(id: string, opts: { staged?: boolean; path?: string } = {}): Promise<string> {
    return this.withWorkspace(OPERATIONS.diff, id, (ws, sb) => gitDiff(sb, ws.dir, opts));
  }

  async writeFile(id: string, path: string, content: string): Promise<void> {
    return this.withWorkspace(OPERATIONS.write, id, async (ws, sb, op) => {
      await writeWorkspaceFile(sb, ws.dir, path, content);
      op.details.bytes = Buffer.byteLength(content, 'utf8');
    });
  }

  async readFile(id: string, path: string): Promise<string> {
    return this.withWorkspace(OPERATIONS.read, id, (ws, sb) => readWorkspaceFile(sb, ws.dir, path));
  }

  /**
   * Stage, commit, `pull --rebase`, push to `targetBranch` (default: the agent branch) under the
   * approach's push lock, with backoff retries on rejected pushes. Lands once per operationId.
   */
  async commitAndPush(id: string, input: CommitPushInput, progress?: Progress): Promise<CommitPushResult> {
    return this.withWorkspace(OPERATIONS.push, id, async (ws, sb, op) => {
      const branch = input.targetBranch ?? ws.agentBranch;
      const key = pushLockKey(ws.repoUrl, branch);
      const g = this.deps.config.git;
      const res = await commitAndPush(sb, ws.dir, {
        message: input.message, branch, operationId: input.operationId, creds: this.creds,
        maxAttempts: g.maxPushAttempts, backoffBaseMs: g.backoffBaseMs, backoffMaxMs: g.backoffMaxMs,
        withLock: async (fn) => {
          try {
            return await this.withPushLock(key, fn);
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
  }

  /**
   * `pull --rebase` from `branch` (default: the workspace's agent branch, which is where its
   * pushes go); uncommitted changes are carried along; a conflict leaves the workspace as it was.
   */
  async pull(id: string, progress?: Progress, opts: { branch?: string } = {}): Promise<PullResult> {
    return this.withWorkspace(OPERATIONS.pull, id, async (ws, sb, op) => {
      const branch = opts.branch ?? ws.agentBranch;
      progress?.({ step: 'pull', branch });
      const res = await pullRebase(sb, ws.dir, { branch, creds: this.creds });
      Object.assign(op.details, { branch, head: res.head, updated: res.updated });
      return res;
    });
  }

  /** Gives the sandbox back and marks the workspace terminated. Releasing twice is harmless. */
  async release(id: string): Promise<void> {
    let ws: WorkspaceRecord | null = null;
    await this.track(OPERATIONS.release, {
      workspaceId: id,
      get agentId() { return ws?.agentId ?? null; },
    }, async (op) => {
      this.handoff.delete(id);
      ws = await getWorkspace(this.deps.db, this.approach, id);
      if (!ws) throw new DomainError(ErrorType.NotFound, 'workspace not found', { details: { workspaceId: id } });
      if (ws.status === 'terminated') {
        op.details.alreadyReleased = true;
        return;
      }
      let handle: Sandbox | null = null;
      try {
        handle = await this.connectSandbox(ws.sandboxId);
      } catch (e) {
        if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
      }
      await this.giveBack(ws.sandboxId, handle);
      this.handles.delete(ws.sandboxId);
      await releaseWorkspace(this.deps.db, this.approach, id);
      this.handoff.delete(id);
      this.touchedAt.delete(id);
    });
  }
}
