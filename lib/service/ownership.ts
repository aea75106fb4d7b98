/**
 * Who may change a workspace, and how much it may hold (issue 9 items 3 and 4), kept apart from
 * the operations themselves:
 *
 * - `WorkspaceOpLeases`: one mutating operation per workspace at a time, across processes (the
 *   API writes files, workers pull and push). The lease lives on the workspace row (TTL, renewed
 *   while the operation runs, taken over when its holder died); reads never take it. A second
 *   mutating operation waits its turn for at most `limits.workspaceBusyWaitMs` and is then
 *   refused with Busy (HTTP 409 + Retry-After). Waiting, not failing at once, because agents and
 *   the load mix routinely send a write right behind a commit; the bound keeps a stuck holder
 *   from hanging callers.
 * - quota errors and the output-cap errors, each naming its `limits.*` key.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { releaseWhenReachable } from '../db/release-later.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Approach } from '../metrics.js';
import type { WorkspaceRecord, WorkspaceRepository } from '../store/workspaces.js';

/** A holder that stops renewing (its process died) loses the lease after this long. */
export const OP_LEASE_TTL_MS = 30_000;
const OP_RENEW_MS = OP_LEASE_TTL_MS / 3;
const OP_POLL_MS = 25;

export class WorkspaceOpLeases {
  /** per workspace: the tail of this process's queue for it (FIFO, so only its head polls) */
  private readonly queues = new Map<string, Promise<void>>();

  constructor(
    private readonly deps: {
      workspaces: Pick<WorkspaceRepository, 'acquireOp' | 'renewOp' | 'releaseOp'>;
      approach: Approach;
      log: Logger;
      waitMs: number;
    },
  ) {}

  /**
   * Runs `fn` holding workspace `id`'s operation lease; `fn` gets the row as read when the lease
   * was taken (this is the operation's lookup). NotFound for an unknown workspace; Busy when
   * another operation (`details.holder`) still holds it after the bounded wait.
   */
  async run<T>(id: string, operation: string, fn: (ws: WorkspaceRecord) => Promise<T>): Promise<T> {
    const { workspaces, approach, log, waitMs } = this.deps;
    const started = performance.now();
    const ahead = this.queues.get(id) ?? Promise.resolve();
    let leave!: () => void;
    const mine = new Promise<void>((r) => {
      leave = r;
    });
    // whoever queues after us waits for those ahead of us too, even if we give up early
    const tail = ahead.then(() => mine);
    this.queues.set(id, tail);
    const token = randomUUID();
    let held = false;
    let renew: NodeJS.Timeout | null = null;
    try {
      const ac = new AbortController();
      const turn = await Promise.race([
        ahead.then(() => true),
        delay(waitMs, false, { signal: ac.signal }).catch(() => false),
      ]);
      ac.abort();
      let holder: string | null = 'an operation of this process';
      if (!turn) throw busy(id, holder, performance.now() - started);
      let ws: WorkspaceRecord;
      for (;;) {
        const r = await workspaces.acquireOp(approach, id, operation, token, OP_LEASE_TTL_MS);
        if (r.acquired) {
          ws = r.workspace;
          break;
        }
        if (!r.workspace)
          throw new DomainError(ErrorType.NotFound, 'workspace not found', { details: { workspaceId: id } });
        holder = r.holder;
        const left = waitMs - (performance.now() - started);
        if (left <= 0) throw busy(id, holder, performance.now() - started);
        await delay(Math.min(OP_POLL_MS, left));
      }
      held = true;
      renew = setInterval(() => {
        workspaces
          .renewOp(approach, id, token, OP_LEASE_TTL_MS)
          .then((kept) => {
            if (!kept) log.warn({ workspaceId: id, operation }, 'workspace operation lease was lost');
          })
          .catch((e: Error) =>
            log.warn({ workspaceId: id, err: e.message }, 'renewing the workspace operation lease failed'),
          );
      }, OP_RENEW_MS);
      renew.unref();
      return await fn(ws);
    } finally {
      if (renew) clearInterval(renew);
      if (held) {
        await workspaces.releaseOp(approach, id, token).catch((e: Error) => {
          log.warn(
            { workspaceId: id, err: e.message },
            'releasing the workspace operation lease failed; retrying until the database answers',
          );
          // the retry of this very operation would wait behind it until it expires
          releaseWhenReachable(() => workspaces.releaseOp(approach, id, token), {
            giveUpAfterMs: OP_LEASE_TTL_MS,
            what: 'workspace operation lease',
            fields: { workspaceId: id },
            log,
          });
        });
      }
      leave();
      if (this.queues.get(id) === tail) this.queues.delete(id);
    }
  }
}

function busy(id: string, holder: string | null, waitedMs: number): DomainError {
  return new DomainError(ErrorType.Busy, `workspace ${id} is busy (${holder ?? 'another operation'}); retry shortly`, {
    details: { workspaceId: id, holder, waitedMs: Math.round(waitedMs) },
  });
}

type Limits = Config['limits'];

/** QuotaExceeded naming the limit's key path. */
export function quotaExceeded(
  limit: string,
  max: number,
  message: string,
  extra: Record<string, unknown> = {},
): DomainError {
  return new DomainError(ErrorType.QuotaExceeded, message, { details: { limit, max, ...extra } });
}

/** The quota error for a measured usage (after a clone or a pull), or null when it fits. */
export function usageOverQuota(
  limits: Limits,
  usage: { bytes: number; files: number },
  when: string,
): DomainError | null {
  if (usage.bytes > limits.workspaceDiskMaxBytes) {
    return quotaExceeded(
      'limits.workspaceDiskMaxBytes',
      limits.workspaceDiskMaxBytes,
      `${when}, the workspace holds ${usage.bytes} bytes, more than limits.workspaceDiskMaxBytes (${limits.workspaceDiskMaxBytes})`,
      { bytes: usage.bytes },
    );
  }
  if (usage.files > limits.workspaceMaxFiles) {
    return quotaExceeded(
      'limits.workspaceMaxFiles',
      limits.workspaceMaxFiles,
      `${when}, the workspace holds ${usage.files} files, more than limits.workspaceMaxFiles (${limits.workspaceMaxFiles})`,
      { files: usage.files },
    );
  }
  return null;
}

/** The quota error for a write that would pass `which`. */
export function writeOverQuota(limits: Limits, which: 'bytes' | 'files'): DomainError {
  return which === 'bytes'
    ? quotaExceeded(
        'limits.workspaceDiskMaxBytes',
        limits.workspaceDiskMaxBytes,
        `the write would take the workspace past limits.workspaceDiskMaxBytes (${limits.workspaceDiskMaxBytes} bytes)`,
      )
    : quotaExceeded(
        'limits.workspaceMaxFiles',
        limits.workspaceMaxFiles,
        `the write would take the workspace past limits.workspaceMaxFiles (${limits.workspaceMaxFiles} files)`,
      );
}

/** Names the `limits.*` key on an OutputTooLarge that does not name one yet; anything else passes. */
export function namingLimit(e: unknown, limit: string): unknown {
  if (isDomainError(e, ErrorType.OutputTooLarge) && e.details.limit === undefined) e.details.limit = limit;
  return e;
}

/** The agent's own doing (bad input, policy, limits): not the sandbox's fault, so not recorded against it. */
export function isClientFault(e: unknown): boolean {
  return (
    isDomainError(e) &&
    (e.type === ErrorType.Validation ||
      e.type === ErrorType.NotFound ||
      e.type === ErrorType.Forbidden ||
      e.type === ErrorType.Busy ||
      e.type === ErrorType.QuotaExceeded ||
      e.type === ErrorType.OutputTooLarge)
  );
}
