/**
 * The operation tracker: every GitService operation runs through `track`, which records the
 * contract metrics (duration, count by outcome/category, in-flight, recovery) and one
 * operation_log row, and stores a sandbox's error (encrypted) when the sandbox failed.
 *
 * Reads are the hot path (status polling) and are safe to repeat, so their rows are written in
 * batches a moment later instead of one INSERT per call (see `queueRead`).
 */
import { performance } from 'node:perf_hooks';
import { categoryOf, DomainError } from '../errors.js';
import { isClientFault } from './ownership.js';
import type { Logger } from '../log.js';
import { recordOperation, type Approach, type Metrics } from '../metrics.js';
import type { OperationEntry, OperationLogRepository } from '../store/operation-log.js';
import type { SandboxRepository } from '../store/sandboxes.js';

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

/** Read-only operations: their operation_log rows are written in batches, off the request path. */
export const READ_OPERATIONS: ReadonlySet<string> = new Set([OPERATIONS.status, OPERATIONS.diff, OPERATIONS.read]);
/** How long a batch of read rows waits before it is written, and the size that writes it at once. */
const READ_LOG_FLUSH_MS = 200;
const READ_LOG_BATCH = 200;
/** A read stamps last_used_at at most this often per workspace (per process); writes always do. */
const TOUCH_INTERVAL_MS = 10_000;

/** What an operation body can report to the tracker. */
export interface OpContext {
  /** call when an attempt inside the operation failed and will be retried */
  attemptFailed(): void;
  attempts: number;
  details: Record<string, unknown>;
}

/** Who the operation ran for. Getters are read after the body ran (it may learn them on the way). */
export interface TrackContext {
  workspaceId: string | null;
  agentId: string | null;
  sandboxId?: string | null;
  /** links retries of one operation across calls (Temporal activity retries) for the recovery metric */
  idempotencyKey?: string;
  /** stamp the workspace's last_used_at on success */
  touch?: boolean;
}

export interface OperationTrackerDeps {
  approach: Approach;
  metrics: Metrics;
  log: Logger;
  /** $ per sandbox-second, for the row's cost */
  pricePerSecond: number;
  operationLog: Pick<OperationLogRepository, 'append' | 'appendMany' | 'firstFailureSince'>;
  sandboxes: Pick<SandboxRepository, 'recordError'>;
}

export interface OperationTracker {
  track<T>(operation: string, ctx: TrackContext, fn: (op: OpContext) => Promise<T>): Promise<T>;
  /** Writes the queued read rows; resolves when they (and every earlier batch) are written. */
  flush(): Promise<void>;
  /** Stores a sandbox's error (encrypted, counted) outside `track` (a failed clone gives its sandbox back at once). */
  recordSandboxError(sandboxId: string, message: string, operation: string): Promise<void>;
  /** Forgets per-workspace state (a released workspace). */
  forget(workspaceId: string): void;
}

/** An operation tracker for one approach (one per GitService). */
export function createOperationTracker(deps: OperationTrackerDeps): OperationTracker {
  const { approach, metrics, log, operationLog } = deps;
  /** read rows not yet written; bounded: the read that fills a batch waits for its write */
  let pendingReads: { entry: OperationEntry; touch: boolean }[] = [];
  let readFlushTimer: NodeJS.Timeout | null = null;
  let readFlushing: Promise<void> = Promise.resolve();
  /** workspace id → when a read last stamped its last_used_at (ms since epoch) */
  const touchedAt = new Map<string, number>();

  /**
   * Queues a read's operation_log row: metrics are recorded at once, the row within
   * READ_LOG_FLUSH_MS, before the row of any later write operation of this service, and on
   * close. The queue is bounded by backpressure rather than by dropping: the read that fills a
   * batch waits for it to be written. last_used_at is stamped by the same statement, at most
   * once per TOUCH_INTERVAL_MS per workspace.
   */
  async function queueRead(entry: OperationEntry, touch: boolean): Promise<void> {
    pendingReads.push({ entry, touch });
    if (pendingReads.length >= READ_LOG_BATCH) {
      await flush();
    } else if (!readFlushTimer) {
      readFlushTimer = setTimeout(() => void flush(), READ_LOG_FLUSH_MS);
      readFlushTimer.unref();
    }
  }

  /** Writes the queued read rows (one statement); failures are logged, as for any log row. */
  function flush(): Promise<void> {
    if (readFlushTimer) {
      clearTimeout(readFlushTimer);
      readFlushTimer = null;
    }
    const batch = pendingReads;
    if (batch.length === 0) return readFlushing;
    pendingReads = [];
    const now = Date.now();
    if (touchedAt.size > 10_000) touchedAt.clear();
    const touch = new Set<string>();
    for (const { entry, touch: wants } of batch) {
      const id = entry.workspaceId;
      if (!wants || id === null) continue;
      const last = touchedAt.get(id);
      if (last === undefined || now - last >= TOUCH_INTERVAL_MS) {
        touch.add(id);
        touchedAt.set(id, now);
      }
    }
    const entries = batch.map((b) => b.entry);
    // chained: batches are written in order, and a caller awaiting this one awaits the earlier ones
    readFlushing = readFlushing
      .then(() => operationLog.appendMany(entries, { approach, touchWorkspaceIds: [...touch] }))
      .catch((e: Error) => log.warn({ rows: batch.length, err: e.message }, 'operation log write failed'));
    return readFlushing;
  }

  /**
   * Runs one operation with the contract metrics and an operation_log row. `idempotencyKey`
   * links retries of the same operation across calls, so recovery is measured from the first
   * failure of the run to this success.
   */
  async function track<T>(operation: string, ctx: TrackContext, fn: (op: OpContext) => Promise<T>): Promise<T> {
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
    metrics.inFlight.labels(approach).inc();
    let error: unknown;
    let result: T | undefined;
    try {
      result = await fn(op);
    } catch (e) {
      error = e;
    } finally {
      metrics.inFlight.labels(approach).dec();
    }
    const ms = performance.now() - t0;
    const category = error === undefined ? undefined : categoryOf(error);
    recordOperation(metrics, { operation, approach, seconds: ms / 1000, error: category });
    const details: Record<string, unknown> = { ...op.details };
    if (ctx.idempotencyKey) details.idempotencyKey = ctx.idempotencyKey;
    if (ctx.sandboxId) details.sandboxId = ctx.sandboxId;
    if (error !== undefined) details.errorType = error instanceof DomainError ? error.type : 'Internal';
    if (error === undefined) {
      let recoverySeconds: number | null = null;
      if (firstFailure !== null) recoverySeconds = (performance.now() - firstFailure) / 1000;
      else if (ctx.idempotencyKey) {
        const prior = await operationLog.firstFailureSince(approach, operation, ctx.idempotencyKey).catch(() => null);
        if (prior) recoverySeconds = Math.max(0, (Date.now() - prior.getTime()) / 1000);
      }
      if (recoverySeconds !== null) {
        metrics.recovery.labels(operation).observe(recoverySeconds);
        details.recoverySeconds = recoverySeconds;
      }
    }
    const entry: OperationEntry = {
      workspaceId: ctx.workspaceId,
      agentId: ctx.agentId,
      operation,
      approach,
      outcome: error === undefined ? 'success' : 'error',
      errorCategory: category ?? 'none',
      durationMs: ms,
      costDollars: (ms / 1000) * deps.pricePerSecond,
      attempts: op.attempts,
      startedAt,
      details,
    };
    if (READ_OPERATIONS.has(operation)) {
      await queueRead(entry, ctx.touch === true && error === undefined);
    } else {
      try {
        // rows of earlier reads first, so the log keeps each workspace's order
        await flush();
        await operationLog.append(entry, { touchWorkspace: ctx.touch === true && error === undefined });
      } catch (e) {
        log.warn({ operation, err: (e as Error).message }, 'operation log write failed');
      }
    }
    if (error !== undefined) {
      // client mistakes (bad input, policy, limits) are not the sandbox's errors
      if (ctx.sandboxId && !isClientFault(error)) {
        await deps.sandboxes
          .recordError(ctx.sandboxId, (error as Error).message ?? String(error), { operation })
          .catch((e: Error) => log.warn({ err: e.message }, 'recording sandbox error failed'));
      }
      throw error;
    }
    return result as T;
  }

  return {
    track,
    flush,
    recordSandboxError: async (sandboxId, message, operation) => {
      await deps.sandboxes.recordError(sandboxId, message, { operation });
    },
    forget: (workspaceId) => {
      touchedAt.delete(workspaceId);
    },
  };
}
