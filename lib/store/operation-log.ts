import type { Approach } from '../metrics.js';
import type { ErrorCategory } from '../errors.js';
import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * Repository for `operation_log`: one row per agent operation on either approach (what ran,
 * outcome, category, duration, cost, attempts). `details` must hold no secrets — ids, branches,
 * commits, error types; never credentials, tokens or unsanitised URLs.
 */
export interface OperationEntry {
  workspaceId: string | null;
  agentId: string | null;
  operation: string;
  approach: Approach;
  outcome: 'success' | 'error';
  errorCategory: ErrorCategory;
  durationMs: number;
  costDollars: number;
  attempts: number;
  startedAt: Date;
  details?: Record<string, unknown>;
}

export interface OperationRecord extends OperationEntry {
  id: string;
  details: Record<string, unknown>;
}

/** The insert both appends share; entryParams gives one row's values in its column order. */
const INSERT_OPERATION = `INSERT INTO operation_log (workspace_id, agent_id, operation, approach, outcome, error_category, duration_ms, cost_dollars,
       attempts, started_at, details)`;

function entryParams(e: OperationEntry): unknown[] {
  return [
    e.workspaceId,
    e.agentId,
    e.operation,
    e.approach,
    e.outcome,
    e.errorCategory,
    Math.max(0, e.durationMs),
    Math.max(0, e.costDollars).toFixed(8),
    Math.max(0, e.attempts),
    e.startedAt,
    JSON.stringify(e.details ?? {}),
  ];
}

/**
 * Appends one entry. With `touchWorkspace`, the same statement also stamps the workspace's
 * last_used_at (one round trip on the hot read paths).
 */
async function appendOperation(
  q: Queryable,
  e: OperationEntry,
  opts: { touchWorkspace?: boolean } = {},
): Promise<string> {
  const touch = opts.touchWorkspace === true && e.workspaceId !== null;
  const { rows } = await q.query<{ id: string }>(
    `${touch ? `WITH touched AS (UPDATE workspaces SET last_used_at = now() WHERE approach = $4 AND id = $1 RETURNING 1) ` : ''}${INSERT_OPERATION}
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
    entryParams(e),
  );
  return rows[0].id;
}

/**
 * Appends several entries in one statement (the batched log of read operations); with
 * `touchWorkspaceIds`, the same statement also stamps those workspaces' last_used_at.
 */
async function appendOperations(
  q: Queryable,
  entries: readonly OperationEntry[],
  opts: { approach?: Approach; touchWorkspaceIds?: readonly string[] } = {},
): Promise<void> {
  if (entries.length === 0) return;
  const params: unknown[] = [];
  const values = entries.map((e) => {
    const at = params.length;
    const row = entryParams(e);
    params.push(...row);
    return `(${row.map((_, i) => `$${at + i + 1}`).join(', ')})`;
  });
  const touch = opts.approach !== undefined && (opts.touchWorkspaceIds?.length ?? 0) > 0;
  if (touch) params.push(opts.approach, opts.touchWorkspaceIds);
  await q.query(
    `${touch ? `WITH touched AS (UPDATE workspaces SET last_used_at = now() WHERE approach = $${params.length - 1} AND id = ANY($${params.length}::text[]) RETURNING 1) ` : ''}${INSERT_OPERATION}
     VALUES ${values.join(', ')}`,
    params,
  );
}

async function listOperations(
  q: Queryable,
  f: { workspaceId?: string; approach?: Approach; operation?: string } = {},
): Promise<OperationRecord[]> {
  const params: unknown[] = [];
  let where = 'true';
  if (f.workspaceId !== undefined) {
    params.push(f.workspaceId);
    where += ` AND workspace_id = $${params.length}`;
  }
  if (f.approach !== undefined) {
    params.push(f.approach);
    where += ` AND approach = $${params.length}`;
  }
  if (f.operation !== undefined) {
    params.push(f.operation);
    where += ` AND operation = $${params.length}`;
  }
  const { rows } = await q.query<{
    id: string;
    workspace_id: string | null;
    agent_id: string | null;
    operation: string;
    approach: Approach;
    outcome: 'success' | 'error';
    error_category: ErrorCategory;
    duration_ms: number;
    cost_dollars: string;
    attempts: number;
    started_at: Date;
    details: Record<string, unknown>;
  }>(`SELECT * FROM operation_log WHERE ${where} ORDER BY id`, params);
  return rows.map((r) => ({
    id: r.id,
    workspaceId: r.workspace_id,
    agentId: r.agent_id,
    operation: r.operation,
    approach: r.approach,
    outcome: r.outcome,
    errorCategory: r.error_category,
    durationMs: Number(r.duration_ms),
    costDollars: Number(r.cost_dollars),
    attempts: r.attempts,
    startedAt: r.started_at,
    details: r.details,
  }));
}

/**
 * When the earliest failure of the current run of retries ended: errors logged for this
 * operation + idempotency key since its last success. Null when there were none.
 */
async function firstFailureSince(
  q: Queryable,
  approach: Approach,
  operation: string,
  idempotencyKey: string,
): Promise<Date | null> {
  const { rows } = await q.query<{ first_failure: Date | null }>(
    `SELECT min(started_at + duration_ms * interval '1 millisecond') AS first_failure
       FROM operation_log
      WHERE details->>'idempotencyKey' = $3 AND operation = $2 AND approach = $1 AND outcome = 'error'
        AND id > coalesce((SELECT max(id) FROM operation_log
                            WHERE details->>'idempotencyKey' = $3 AND operation = $2 AND approach = $1 AND outcome = 'success'), 0)`,
    [approach, operation, idempotencyKey],
  );
  return rows[0]?.first_failure ?? null;
}

/** The `operation_log` table. */
export function createOperationLogRepository(q: Queryable) {
  return defineRepository('operation_log', {
    append: (e: OperationEntry, opts: { touchWorkspace?: boolean } = {}) => appendOperation(q, e, opts),
    appendMany: (
      entries: readonly OperationEntry[],
      opts: { approach?: Approach; touchWorkspaceIds?: readonly string[] } = {},
    ) => appendOperations(q, entries, opts),
    list: (f: { workspaceId?: string; approach?: Approach; operation?: string } = {}) => listOperations(q, f),
    firstFailureSince: (approach: Approach, operation: string, idempotencyKey: string) =>
      firstFailureSince(q, approach, operation, idempotencyKey),
  });
}
export type OperationLogRepository = ReturnType<typeof createOperationLogRepository>;
