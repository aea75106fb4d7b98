import { randomUUID } from 'node:crypto';
import { DomainError, ErrorType } from '../errors.js';
import { decryptText, encryptText, type EncryptionKey } from '../crypto.js';
import { inTransaction, type Queryable } from './queryable.js';
import type { Db } from '../db/index.js';
import { defineRepository } from './repository.js';

/** Repository for `git_sandboxes` (seed 004): one row per sandbox either approach created. */

export const SANDBOX_STATUSES = ['initializing', 'ready', 'in_use', 'error', 'terminated'] as const;
export type SandboxStatus = (typeof SANDBOX_STATUSES)[number];

/**
 * The lifecycle (seed 004): initializing → ready → in_use → ready (returned healthy) or error →
 * terminated. Anything may be terminated; terminated is final. A transition to the current state
 * is a no-op, so retried steps are idempotent.
 */
export const ALLOWED_TRANSITIONS: Record<SandboxStatus, readonly SandboxStatus[]> = {
  initializing: ['ready', 'in_use', 'error', 'terminated'],
  ready: ['in_use', 'error', 'terminated'],
  in_use: ['ready', 'error', 'terminated'],
  error: ['terminated'],
  terminated: [],
};

/** Sandbox ids of rows reserved before the provider returned the real id. */
export const PENDING_PREFIX = 'pending:';

export interface SandboxRecord {
  id: number;
  sandboxId: string;
  agentId: string;
  taskId: string;
  repoUrl: string;
  branch: string;
  agentBranch: string | null;
  status: SandboxStatus;
  lastOperation: string | null;
  createdAt: Date;
  lastUsedAt: Date | null;
  terminatedAt: Date | null;
  errorCount: number;
  hasError: boolean;
  config: Record<string, unknown>;
  isPooled: boolean;
  poolSize: number;
  provider: 'local' | 'e2b';
  expiresAt: Date | null;
  /** lease generation: bumped each time the sandbox is handed to an agent */
  lease: number;
  /** a release of the current lease has begun (and not finished) */
  releasingAt: Date | null;
}

interface Row {
  id: number;
  sandbox_id: string;
  agent_id: string;
  task_id: string;
  repo_url: string;
  branch: string;
  agent_branch: string | null;
  status: SandboxStatus;
  last_operation: string | null;
  created_at: Date;
  last_used_at: Date | null;
  terminated_at: Date | null;
  error_count: number;
  last_error: Buffer | null;
  config: Record<string, unknown>;
  is_pooled: boolean;
  pool_size: number;
  provider: 'local' | 'e2b';
  expires_at: Date | null;
  lease: string;
  releasing_at: Date | null;
}

const COLUMNS = `id, sandbox_id, agent_id, task_id, repo_url, branch, agent_branch, status, last_operation, created_at,
  last_used_at, terminated_at, error_count, last_error, config, is_pooled, pool_size, provider, expires_at, lease, releasing_at`;
const G_COLUMNS = COLUMNS.split(',')
  .map((c) => `g.${c.trim()}`)
  .join(', ');

function toRecord(r: Row): SandboxRecord {
  return {
    id: r.id,
    sandboxId: r.sandbox_id,
    agentId: r.agent_id,
    taskId: r.task_id,
    repoUrl: r.repo_url,
    branch: r.branch,
    agentBranch: r.agent_branch,
    status: r.status,
    lastOperation: r.last_operation,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    terminatedAt: r.terminated_at,
    errorCount: r.error_count,
    hasError: r.last_error !== null,
    config: r.config,
    isPooled: r.is_pooled,
    poolSize: r.pool_size,
    provider: r.provider,
    expiresAt: r.expires_at,
    lease: Number(r.lease),
    releasingAt: r.releasing_at,
  };
}

export interface NewSandbox {
  sandboxId: string;
  provider: 'local' | 'e2b';
  isPooled: boolean;
  status?: SandboxStatus;
  agentId?: string;
  taskId?: string;
  /** must already be sanitised */
  repoUrl?: string;
  branch?: string;
  agentBranch?: string | null;
  /** lifetime from now (pool TTL, or the sandbox timeout for approach 1) */
  expiresInMs?: number;
  config?: Record<string, unknown>;
  poolSize?: number;
  /** lease generation to start at (approach 1 hands its sandbox to one agent: 1) */
  lease?: number;
}

/** Inserts a sandbox row; inserting the same sandbox id again returns the existing row. */
async function insertSandbox(q: Queryable, s: NewSandbox): Promise<SandboxRecord> {
  const { rows } = await q.query<Row>(
    `INSERT INTO git_sandboxes (sandbox_id, provider, is_pooled, status, agent_id, task_id, repo_url, branch, agent_branch,
       expires_at, config, pool_size, lease)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9,
       CASE WHEN $10::double precision IS NULL THEN NULL ELSE now() + $10::double precision * interval '1 millisecond' END, $11, $12, $13)
     ON CONFLICT (sandbox_id) DO NOTHING
     RETURNING ${COLUMNS}`,
    [
      s.sandboxId,
      s.provider,
      s.isPooled,
      s.status ?? 'initializing',
      s.agentId ?? '',
      s.taskId ?? '',
      s.repoUrl ?? '',
      s.branch ?? 'main',
      s.agentBranch ?? null,
      s.expiresInMs ?? null,
      JSON.stringify(s.config ?? {}),
      s.poolSize ?? 1,
      s.lease ?? 0,
    ],
  );
  if (rows[0]) return toRecord(rows[0]);
  const existing = await getSandbox(q, s.sandboxId);
  if (!existing)
    throw new DomainError(ErrorType.Internal, 'sandbox row vanished during insert', {
      details: { sandboxId: s.sandboxId },
    });
  return existing;
}

async function getSandbox(q: Queryable, sandboxId: string): Promise<SandboxRecord | null> {
  const { rows } = await q.query<Row>(`SELECT ${COLUMNS} FROM git_sandboxes WHERE sandbox_id = $1`, [sandboxId]);
  return rows[0] ? toRecord(rows[0]) : null;
}

export interface TransitionFields {
  agentId?: string;
  taskId?: string;
  repoUrl?: string;
  branch?: string;
  agentBranch?: string | null;
  lastOperation?: string;
  /** sets last_used_at = now() */
  touch?: boolean;
  /** only while the sandbox is at this lease generation (a stale caller changes nothing) */
  lease?: number;
  /** hands the sandbox to a new holder: lease + 1 */
  bumpLease?: boolean;
}

export interface TransitionResult {
  record: SandboxRecord;
  /** false when the row already was in the target state (idempotent repeat) */
  changed: boolean;
  /** sandbox-seconds not yet accrued, returned once when the sandbox is terminated */
  accruedSeconds: number;
}

/**
 * Moves a sandbox to `to` when ALLOWED_TRANSITIONS permits it (and, with `from`, only from those
 * states — used to claim a row against concurrent writers). Terminating also stamps
 * terminated_at and hands back the sandbox-seconds not yet accrued, exactly once.
 * Throws NotFound for an unknown id and Validation for a forbidden transition.
 */
async function transitionSandbox(
  q: Queryable,
  sandboxId: string,
  to: SandboxStatus,
  opts: TransitionFields & { from?: readonly SandboxStatus[] } = {},
): Promise<TransitionResult> {
  const allowedFrom = SANDBOX_STATUSES.filter(
    (s) => ALLOWED_TRANSITIONS[s].includes(to) && (opts.from === undefined || opts.from.includes(s)),
  );
  // the CTE locks the row first, so the accrual mark it reads is the latest committed one
  const { rows } = await q.query<Row & { accrued_seconds: number }>(
    `WITH cur AS (
       SELECT id, status, cost_accrued_until, lease FROM git_sandboxes WHERE sandbox_id = $1 FOR UPDATE
     )
     UPDATE git_sandboxes g SET
       status = $2,
       agent_id = coalesce($4, g.agent_id),
       task_id = coalesce($5, g.task_id),
       repo_url = coalesce($6, g.repo_url),
       branch = coalesce($7, g.branch),
       agent_branch = CASE WHEN $8::boolean THEN $9 ELSE g.agent_branch END,
       last_operation = coalesce($10, g.last_operation),
       last_used_at = CASE WHEN $11::boolean THEN now() ELSE g.last_used_at END,
       terminated_at = CASE WHEN $2 = 'terminated' THEN coalesce(g.terminated_at, now()) ELSE g.terminated_at END,
       cost_accrued_until = CASE WHEN $2 = 'terminated' THEN greatest(g.cost_accrued_until, now()) ELSE g.cost_accrued_until END,
       lease = CASE WHEN $13::boolean THEN g.lease + 1 ELSE g.lease END,
       releasing_at = CASE WHEN $2 = 'in_use' AND g.status <> 'in_use' THEN NULL ELSE g.releasing_at END
     FROM cur
     WHERE g.id = cur.id AND cur.status = ANY($3::text[]) AND ($12::bigint IS NULL OR cur.lease = $12::bigint)
     RETURNING ${G_COLUMNS},
       CASE WHEN $2 = 'terminated' THEN greatest(0, extract(epoch FROM now() - cur.cost_accrued_until))::double precision ELSE 0 END AS accrued_seconds`,
    [
      sandboxId,
      to,
      allowedFrom,
      opts.agentId ?? null,
      opts.taskId ?? null,
      opts.repoUrl ?? null,
      opts.branch ?? null,
      opts.agentBranch !== undefined,
      opts.agentBranch ?? null,
      opts.lastOperation ?? null,
      opts.touch === true,
      opts.lease ?? null,
      opts.bumpLease === true,
    ],
  );
  if (rows[0]) return { record: toRecord(rows[0]), changed: true, accruedSeconds: Number(rows[0].accrued_seconds) };
  const current = await getSandbox(q, sandboxId);
  if (!current) throw new DomainError(ErrorType.NotFound, 'sandbox not recorded', { details: { sandboxId } });
  if (opts.lease !== undefined && current.lease !== opts.lease) {
    throw new DomainError(
      ErrorType.Validation,
      `sandbox lease is ${current.lease}, not ${opts.lease}: a stale caller changes nothing`,
      {
        details: { sandboxId, lease: current.lease, expected: opts.lease, stale: true },
      },
    );
  }
  if (current.status === to) return { record: current, changed: false, accruedSeconds: 0 };
  throw new DomainError(ErrorType.Validation, `sandbox cannot go from ${current.status} to ${to}`, {
    details: { sandboxId, from: current.status, to },
  });
}

/** Defence in depth before encryption: credentials in URLs never get stored even as ciphertext. */
export function redactSecrets(message: string): string {
  return message
    .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, '$1')
    .replace(/(authorization:\s*(?:bearer|basic)\s+)\S+/gi, '$1[redacted]');
}

/** Stores the error encrypted and counts it; does not change the status (callers transition). */
async function recordSandboxError(
  q: Queryable,
  key: EncryptionKey,
  sandboxId: string,
  message: string,
  opts: { operation?: string } = {},
): Promise<boolean> {
  const blob = encryptText(key, redactSecrets(message).slice(0, 8_000));
  const { rowCount } = await q.query(
    `UPDATE git_sandboxes SET last_error = $2, error_count = error_count + 1, last_operation = coalesce($3, last_operation)
     WHERE sandbox_id = $1`,
    [sandboxId, blob, opts.operation ?? null],
  );
  return (rowCount ?? 0) > 0;
}

/** Decrypts last_error (for operators and tests); null when none was recorded. */
async function readLastError(q: Queryable, key: EncryptionKey, sandboxId: string): Promise<string | null> {
  const { rows } = await q.query<{ last_error: Buffer | null }>(
    'SELECT last_error FROM git_sandboxes WHERE sandbox_id = $1',
    [sandboxId],
  );
  const blob = rows[0]?.last_error;
  return blob ? decryptText(key, blob) : null;
}

export interface SandboxFilter {
  pooled?: boolean;
  provider?: 'local' | 'e2b';
}

function filterSql(f: SandboxFilter, params: unknown[]): string {
  let sql = '';
  if (f.pooled !== undefined) {
    params.push(f.pooled);
    sql += ` AND is_pooled = $${params.length}`;
  }
  if (f.provider !== undefined) {
    params.push(f.provider);
    sql += ` AND provider = $${params.length}`;
  }
  return sql;
}

async function listSandboxesByStatus(
  q: Queryable,
  statuses: readonly SandboxStatus[],
  f: SandboxFilter = {},
): Promise<SandboxRecord[]> {
  const params: unknown[] = [statuses];
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM git_sandboxes WHERE status = ANY($1::text[])${filterSql(f, params)} ORDER BY id`,
    params,
  );
  return rows.map(toRecord);
}

/** Live sandboxes (in the given states) whose expires_at has passed. */
async function listExpiredSandboxes(
  q: Queryable,
  f: SandboxFilter & { statuses?: readonly SandboxStatus[] } = {},
): Promise<SandboxRecord[]> {
  const params: unknown[] = [f.statuses ?? ['initializing', 'ready', 'in_use', 'error']];
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM git_sandboxes WHERE status = ANY($1::text[]) AND expires_at IS NOT NULL AND expires_at < now()${filterSql(f, params)} ORDER BY id`,
    params,
  );
  return rows.map(toRecord);
}

async function countByStatus(q: Queryable, f: SandboxFilter = {}): Promise<Record<SandboxStatus, number>> {
  const params: unknown[] = [];
  const { rows } = await q.query<{ status: SandboxStatus; n: string }>(
    `SELECT status, count(*) AS n FROM git_sandboxes WHERE true${filterSql(f, params)} GROUP BY status`,
    params,
  );
  const out = { initializing: 0, ready: 0, in_use: 0, error: 0, terminated: 0 };
  for (const r of rows) out[r.status] = Number(r.n);
  return out;
}

// Arbitrary constant namespacing the pool's advisory lock (reservations are serialised per provider).
const POOL_LOCK_NS = 4_242_101;

/**
 * Reserves a pooled-sandbox slot when fewer than `limit` pooled sandboxes are live
 * (initializing, ready, in_use). The row carries a placeholder id (`pending:<uuid>`) until
 * `bindReservation` stores the provider's id. Serialised by an advisory lock, so processes
 * sharing the database never exceed `limit` together. Returns the placeholder, or null when full.
 */
async function reservePooledSlot(
  db: Db,
  opts: { provider: 'local' | 'e2b'; limit: number; expiresInMs: number; config?: Record<string, unknown> },
): Promise<string | null> {
  return inTransaction(db, async (c) => {
    await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [POOL_LOCK_NS, opts.provider]);
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) AS n FROM git_sandboxes WHERE is_pooled AND provider = $1 AND status IN ('initializing', 'ready', 'in_use')`,
      [opts.provider],
    );
    if (Number(rows[0].n) >= opts.limit) return null;
    const placeholder = `${PENDING_PREFIX}${randomUUID()}`;
    await insertSandbox(c, {
      sandboxId: placeholder,
      provider: opts.provider,
      isPooled: true,
      status: 'initializing',
      expiresInMs: opts.expiresInMs,
      config: { ...opts.config, reservation: placeholder },
    });
    return placeholder;
  });
}

/** Replaces a reservation's placeholder id with the provider's sandbox id. */
async function bindReservation(q: Queryable, placeholder: string, sandboxId: string): Promise<void> {
  const { rowCount } = await q.query(
    `UPDATE git_sandboxes SET sandbox_id = $2, cost_accrued_until = now() WHERE sandbox_id = $1 AND status = 'initializing'`,
    [placeholder, sandboxId],
  );
  if (!rowCount) throw new DomainError(ErrorType.NotFound, 'pool reservation is gone', { details: { placeholder } });
}

/** Drops a reservation whose sandbox could not be created (it never existed, so nothing to keep). */
async function cancelReservation(q: Queryable, placeholder: string): Promise<void> {
  await q.query(`DELETE FROM git_sandboxes WHERE sandbox_id = $1 AND status = 'initializing'`, [placeholder]);
}

export interface Assignment {
  agentId: string;
  taskId: string;
  repoUrl?: string;
  branch?: string;
  agentBranch?: string | null;
}

/**
 * Atomically claims one warm, unexpired pooled sandbox (ready → in_use) for an agent.
 * SKIP LOCKED lets concurrent acquirers (in any process) take different sandboxes.
 */
async function claimIdleSandbox(q: Queryable, provider: 'local' | 'e2b', a: Assignment): Promise<SandboxRecord | null> {
  const { rows } = await q.query<Row>(
    `WITH c AS (
       SELECT id FROM git_sandboxes
        WHERE is_pooled AND provider = $1 AND status = 'ready' AND (expires_at IS NULL OR expires_at > now())
          AND sandbox_id NOT LIKE 'pending:%'
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
     )
     UPDATE git_sandboxes g SET status = 'in_use', agent_id = $2, task_id = $3, repo_url = $4, branch = $5,
       agent_branch = $6, last_used_at = now(), last_operation = 'acquire', lease = g.lease + 1, releasing_at = NULL
     FROM c WHERE g.id = c.id
     RETURNING ${G_COLUMNS}`,
    [provider, a.agentId, a.taskId, a.repoUrl ?? '', a.branch ?? 'main', a.agentBranch ?? null],
  );
  return rows[0] ? toRecord(rows[0]) : null;
}

/**
 * Advances the cost mark of live sandboxes to now and returns the sandbox-seconds accrued per
 * approach. Each second is handed out once across all processes (rows are locked; the mark only
 * moves forward), so summing every process's counter gives the true cost.
 */
async function accrueCost(q: Queryable, f: SandboxFilter = {}): Promise<{ pooled: number; simple: number }> {
  const params: unknown[] = [];
  const { rows } = await q.query<{ is_pooled: boolean; seconds: number }>(
    `WITH due AS (
       SELECT id, cost_accrued_until AS prev FROM git_sandboxes
        WHERE status <> 'terminated' AND sandbox_id NOT LIKE 'pending:%'${filterSql(f, params)}
        FOR UPDATE SKIP LOCKED
     )
     UPDATE git_sandboxes g SET cost_accrued_until = greatest(g.cost_accrued_until, now())
     FROM due WHERE g.id = due.id
     RETURNING g.is_pooled, greatest(0, extract(epoch FROM now() - due.prev))::double precision AS seconds`,
    params,
  );
  const out = { pooled: 0, simple: 0 };
  for (const r of rows) out[r.is_pooled ? 'pooled' : 'simple'] += Number(r.seconds);
  return out;
}

/** Sandboxes in use with no activity for `seconds` before `at` (first 20, and how many). */
async function stuckInUse(
  q: Queryable,
  at: Date,
  seconds: number,
): Promise<{ sandboxes: { sandboxId: string; agentId: string; lastActivity: Date }[]; total: number }> {
  const { rows } = await q.query<{ sandbox_id: string; agent_id: string; last_activity: Date; n: string }>(
    `SELECT sandbox_id, agent_id, coalesce(last_used_at, created_at) AS last_activity, count(*) OVER () AS n FROM git_sandboxes
      WHERE status = 'in_use' AND coalesce(last_used_at, created_at) < $1::timestamptz - make_interval(secs => $2)
      ORDER BY last_activity LIMIT 20`,
    [at, seconds],
  );
  return {
    sandboxes: rows.map((r) => ({ sandboxId: r.sandbox_id, agentId: r.agent_id, lastActivity: r.last_activity })),
    total: Number(rows[0]?.n ?? 0),
  };
}

/** in_use sandboxes whose release began more than `olderThanMs` ago and never finished. */
async function listAbandonedReleases(
  q: Queryable,
  f: SandboxFilter & { olderThanMs: number },
): Promise<SandboxRecord[]> {
  const params: unknown[] = [f.olderThanMs];
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM git_sandboxes WHERE status = 'in_use' AND releasing_at IS NOT NULL
       AND releasing_at < clock_timestamp() - $1::double precision * interval '1 millisecond'${filterSql(f, params)} ORDER BY id`,
    params,
  );
  return rows.map(toRecord);
}

export type ReleaseStart =
  /** this caller releases the lease: it may wipe and return the sandbox */
  | { outcome: 'won'; record: SandboxRecord }
  /** a release of this lease began long ago and never finished: this caller retires the sandbox */
  | { outcome: 'taken_over'; record: SandboxRecord }
  /** another release of this lease is running: this caller does nothing */
  | { outcome: 'in_progress'; record: SandboxRecord }
  /** the lease is over (released, or the sandbox went on to another holder): nothing to do */
  | { outcome: 'stale'; record: SandboxRecord | null };

/**
 * The first step of giving back an in_use sandbox: claims the release of `lease`, so that of two
 * overlapping releases (two DELETEs, an activity retried while the first attempt still runs)
 * exactly one wipes the sandbox, and none touches it once it belongs to the next agent. A
 * release that started more than `takeoverAfterMs` ago is presumed dead and may be taken over.
 */
async function beginRelease(
  q: Queryable,
  sandboxId: string,
  lease: number,
  takeoverAfterMs: number,
): Promise<ReleaseStart> {
  const won = await q.query<Row>(
    `UPDATE git_sandboxes SET releasing_at = clock_timestamp()
      WHERE sandbox_id = $1 AND status = 'in_use' AND lease = $2 AND releasing_at IS NULL
      RETURNING ${COLUMNS}`,
    [sandboxId, lease],
  );
  if (won.rows[0]) return { outcome: 'won', record: toRecord(won.rows[0]) };
  const taken = await q.query<Row>(
    `UPDATE git_sandboxes SET releasing_at = clock_timestamp()
      WHERE sandbox_id = $1 AND status = 'in_use' AND lease = $2
        AND releasing_at < clock_timestamp() - $3::double precision * interval '1 millisecond'
      RETURNING ${COLUMNS}`,
    [sandboxId, lease, takeoverAfterMs],
  );
  if (taken.rows[0]) return { outcome: 'taken_over', record: toRecord(taken.rows[0]) };
  const current = await getSandbox(q, sandboxId);
  if (current && current.status === 'in_use' && current.lease === lease)
    return { outcome: 'in_progress', record: current };
  return { outcome: 'stale', record: current };
}

/**
 * Ends a release this caller won: the sandbox goes idle (`ready`, unassigned) or to `error`,
 * only while it is still at `lease`. False when it is not (nothing changed).
 */
async function finishRelease(q: Queryable, sandboxId: string, lease: number, to: 'ready' | 'error'): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE git_sandboxes SET status = $3, releasing_at = NULL, last_operation = 'release', last_used_at = now(),
       agent_id = CASE WHEN $3 = 'ready' THEN '' ELSE agent_id END,
       task_id = CASE WHEN $3 = 'ready' THEN '' ELSE task_id END,
       repo_url = CASE WHEN $3 = 'ready' THEN '' ELSE repo_url END,
       agent_branch = CASE WHEN $3 = 'ready' THEN NULL ELSE agent_branch END,
       branch = CASE WHEN $3 = 'ready' THEN 'main' ELSE branch END
      WHERE sandbox_id = $1 AND status = 'in_use' AND lease = $2`,
    [sandboxId, lease, to],
  );
  return (rowCount ?? 0) > 0;
}

/**
 * The `git_sandboxes` table. `key` encrypts and decrypts last_error (lib/crypto.ts); without it
 * recordError and readLastError refuse.
 */
export function createSandboxRepository(db: Db, opts: { key?: EncryptionKey } = {}) {
  const key = (): EncryptionKey => {
    if (!opts.key) throw new DomainError(ErrorType.Internal, 'git_sandboxes: no encryption key for last_error');
    return opts.key;
  };
  return defineRepository('git_sandboxes', {
    insert: (s: NewSandbox) => insertSandbox(db, s),
    findById: (sandboxId: string) => getSandbox(db, sandboxId),
    transition: (
      sandboxId: string,
      to: SandboxStatus,
      t: TransitionFields & { from?: readonly SandboxStatus[] } = {},
    ) => transitionSandbox(db, sandboxId, to, t),
    recordError: (sandboxId: string, message: string, o: { operation?: string } = {}) =>
      recordSandboxError(db, key(), sandboxId, message, o),
    readLastError: (sandboxId: string) => readLastError(db, key(), sandboxId),
    listByStatus: (statuses: readonly SandboxStatus[], f: SandboxFilter = {}) => listSandboxesByStatus(db, statuses, f),
    listExpired: (f: SandboxFilter & { statuses?: readonly SandboxStatus[] } = {}) => listExpiredSandboxes(db, f),
    countByStatus: (f: SandboxFilter = {}) => countByStatus(db, f),
    reservePooledSlot: (o: {
      provider: 'local' | 'e2b';
      limit: number;
      expiresInMs: number;
      config?: Record<string, unknown>;
    }) => reservePooledSlot(db, o),
    bindReservation: (placeholder: string, sandboxId: string) => bindReservation(db, placeholder, sandboxId),
    cancelReservation: (placeholder: string) => cancelReservation(db, placeholder),
    claimIdle: (provider: 'local' | 'e2b', a: Assignment) => claimIdleSandbox(db, provider, a),
    accrueCost: (f: SandboxFilter = {}) => accrueCost(db, f),
    stuckInUse: (at: Date, seconds: number) => stuckInUse(db, at, seconds),
    beginRelease: (sandboxId: string, lease: number, takeoverAfterMs: number) =>
      beginRelease(db, sandboxId, lease, takeoverAfterMs),
    finishRelease: (sandboxId: string, lease: number, to: 'ready' | 'error') => finishRelease(db, sandboxId, lease, to),
    listAbandonedReleases: (f: SandboxFilter & { olderThanMs: number }) => listAbandonedReleases(db, f),
  });
}
export type SandboxRepository = ReturnType<typeof createSandboxRepository>;
