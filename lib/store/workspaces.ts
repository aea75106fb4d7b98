import type pg from 'pg';
import { DomainError, ErrorType } from '../errors.js';
import type { Approach } from '../metrics.js';
import type { Workspace, WorkspaceStatus } from '../service/types.js';
import { inTransaction, type Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * Repository for `workspaces`. Both approaches write here (keyed by approach + id), so a
 * reconciliation can compare what each recorded for the same workspace during a rollout.
 */

export interface WorkspaceRecord extends Workspace {
  /** the checkout's directory inside the sandbox, relative to its home (e.g. ws/<id>) */
  dir: string;
  releasedAt: Date | null;
  /** lease generation of the sandbox this workspace holds (git_sandboxes.lease) */
  sandboxLease: number;
  /** the create attempt that owns the record; a retried create supersedes the one before */
  attempt: number;
  /** usage for the quota: bytes and files, measured after clone/pull and moved by writes */
  diskBytes: number;
  fileCount: number;
}

interface Row {
  id: string;
  approach: Approach;
  agent_id: string;
  task_id: string;
  repo_url: string;
  base_branch: string;
  agent_branch: string;
  sandbox_id: string;
  dir: string;
  status: WorkspaceStatus;
  created_at: Date;
  last_used_at: Date | null;
  released_at: Date | null;
  sandbox_lease: string;
  attempt: string;
  disk_bytes: string;
  file_count: string;
}

const COLUMN_LIST = [
  'id',
  'approach',
  'agent_id',
  'task_id',
  'repo_url',
  'base_branch',
  'agent_branch',
  'sandbox_id',
  'dir',
  'status',
  'created_at',
  'last_used_at',
  'released_at',
  'sandbox_lease',
  'attempt',
  'disk_bytes',
  'file_count',
];
const COLUMNS = COLUMN_LIST.join(', ');
const W_COLUMNS = COLUMN_LIST.map((c) => `w.${c}`).join(', ');

function toRecord(r: Row): WorkspaceRecord {
  return {
    id: r.id,
    approach: r.approach,
    agentId: r.agent_id,
    taskId: r.task_id,
    repoUrl: r.repo_url,
    baseBranch: r.base_branch,
    agentBranch: r.agent_branch,
    sandboxId: r.sandbox_id,
    dir: r.dir,
    status: r.status,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    releasedAt: r.released_at,
    sandboxLease: Number(r.sandbox_lease),
    attempt: Number(r.attempt),
    diskBytes: Number(r.disk_bytes),
    fileCount: Number(r.file_count),
  };
}

export interface NewWorkspace {
  id: string;
  approach: Approach;
  agentId: string;
  taskId: string;
  /** must already be sanitised */
  repoUrl: string;
  baseBranch: string;
  agentBranch: string;
  sandboxId: string;
  /** lease generation of that sandbox held for this workspace */
  sandboxLease?: number;
  dir: string;
  status?: WorkspaceStatus;
}

// Arbitrary constant namespacing the advisory lock that serialises one agent's workspace creates.
const AGENT_WORKSPACES_LOCK_NS = 4_242_102;

/**
 * Inserts the workspace unless (approach, id) exists; either way returns the stored row and
 * whether this call created it (a retried create finds the first one). With `maxOpenPerAgent`,
 * a new workspace is refused (QuotaExceeded naming limits.maxOpenWorkspacesPerAgent) when the
 * agent already has that many open (not released; a workspace recorded by both approaches
 * counts once), counted and inserted under one per-agent lock so concurrent creates cannot
 * pass it together.
 */
async function insertWorkspace(
  q: Queryable,
  w: NewWorkspace,
  opts: { maxOpenPerAgent?: number } = {},
): Promise<{ workspace: WorkspaceRecord; created: boolean }> {
  const insert = async (c: Queryable): Promise<WorkspaceRecord | null> => {
    const { rows } = await c.query<Row>(
      `INSERT INTO workspaces (id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir, status, sandbox_lease)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
       ON CONFLICT (approach, id) DO NOTHING
       RETURNING ${COLUMNS}`,
      [
        w.id,
        w.approach,
        w.agentId,
        w.taskId,
        w.repoUrl,
        w.baseBranch,
        w.agentBranch,
        w.sandboxId,
        w.dir,
        w.status ?? 'initializing',
        w.sandboxLease ?? 0,
      ],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  };
  const max = opts.maxOpenPerAgent;
  const inserted =
    max === undefined
      ? await insert(q)
      : await inTransaction(q as pg.Pool, async (c) => {
          await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [AGENT_WORKSPACES_LOCK_NS, w.agentId]);
          const open = await countOpenWorkspaces(c, w.agentId, w.id);
          if (open >= max) {
            throw new DomainError(
              ErrorType.QuotaExceeded,
              `agent ${w.agentId} already has ${open} open workspaces (limits.maxOpenWorkspacesPerAgent is ${max}); release one first`,
              {
                details: { limit: 'limits.maxOpenWorkspacesPerAgent', max, open },
              },
            );
          }
          return insert(c);
        });
  if (inserted) return { workspace: inserted, created: true };
  const existing = await getWorkspace(q, w.approach, w.id);
  if (!existing) throw new Error(`workspace ${w.id} vanished during insert`);
  return { workspace: existing, created: false };
}

/** Open (not released) workspaces of an agent, each id once whatever approaches recorded it. */
async function countOpenWorkspaces(q: Queryable, agentId: string, exceptId?: string): Promise<number> {
  const { rows } = await q.query<{ n: string }>(
    `SELECT count(DISTINCT id) AS n FROM workspaces WHERE agent_id = $1 AND status <> 'terminated' AND id IS DISTINCT FROM $2`,
    [agentId, exceptId ?? null],
  );
  return Number(rows[0].n);
}

export interface ClaimedAttempt {
  workspace: WorkspaceRecord;
  /** the sandbox (and its lease) the superseded attempt held: to be revoked */
  previous: { sandboxId: string; lease: number };
}

/**
 * A create attempt takes over a workspace that is still `initializing` or failed (`error`): the
 * attempt number goes up (every write of an older attempt is then refused), the record points at
 * this attempt's sandbox, and the sandbox of the attempt before is returned for the caller to
 * revoke. Null when the workspace is not claimable (ready, in use, released, or absent).
 */
async function claimCreateAttempt(
  q: Queryable,
  approach: Approach,
  id: string,
  sandbox: { sandboxId: string; lease: number },
): Promise<ClaimedAttempt | null> {
  const { rows } = await q.query<Row & { prev_sandbox_id: string; prev_sandbox_lease: string }>(
    `WITH prev AS (
       SELECT approach, id, sandbox_id, sandbox_lease FROM workspaces WHERE approach = $1 AND id = $2 FOR UPDATE
     )
     UPDATE workspaces w SET attempt = w.attempt + 1, status = 'initializing', sandbox_id = $3, sandbox_lease = $4,
       disk_bytes = 0, file_count = 0, op_token = NULL, op_name = NULL, op_expires_at = NULL
     FROM prev WHERE w.approach = prev.approach AND w.id = prev.id AND w.status IN ('initializing', 'error')
     RETURNING ${W_COLUMNS}, prev.sandbox_id AS prev_sandbox_id, prev.sandbox_lease AS prev_sandbox_lease`,
    [approach, id, sandbox.sandboxId, sandbox.lease],
  );
  const r = rows[0];
  return r
    ? { workspace: toRecord(r), previous: { sandboxId: r.prev_sandbox_id, lease: Number(r.prev_sandbox_lease) } }
    : null;
}

const GET_WORKSPACE_SQL = `SELECT ${COLUMNS} FROM workspaces WHERE approach = $1 AND id = $2`;

async function getWorkspace(q: Queryable, approach: Approach, id: string): Promise<WorkspaceRecord | null> {
  // named: prepared once per connection, it runs on every workspace request
  const { rows } = await q.query<Row>({ name: 'sgc_get_workspace', text: GET_WORKSPACE_SQL, values: [approach, id] });
  return rows[0] ? toRecord(rows[0]) : null;
}

const SERVING_SQL = `SELECT ${COLUMNS} FROM workspaces WHERE id = $1 AND status <> 'terminated' ORDER BY created_at, approach LIMIT 1`;

/**
 * The record that serves workspace `id`: its earliest-created record that is not terminated.
 * Dual-write keeps a row per approach under the same id; the router creates the shadow copy
 * only after the serving create returned, so the earliest live row is the serving one (a create
 * that fell back released its approach-2 attempt first). Null when no live record exists.
 */
async function findServingWorkspace(q: Queryable, id: string): Promise<WorkspaceRecord | null> {
  // named: prepared once per connection, it runs on every routed workspace request
  const { rows } = await q.query<Row>({ name: 'sgc_find_serving_workspace', text: SERVING_SQL, values: [id] });
  return rows[0] ? toRecord(rows[0]) : null;
}

async function listWorkspaces(
  q: Queryable,
  f: { approach?: Approach; agentId?: string; active?: boolean } = {},
): Promise<WorkspaceRecord[]> {
  const params: unknown[] = [];
  let where = 'true';
  if (f.approach !== undefined) {
    params.push(f.approach);
    where += ` AND approach = $${params.length}`;
  }
  if (f.agentId !== undefined) {
    params.push(f.agentId);
    where += ` AND agent_id = $${params.length}`;
  }
  if (f.active === true) where += ` AND status <> 'terminated'`;
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM workspaces WHERE ${where} ORDER BY created_at, id`,
    params,
  );
  return rows.map(toRecord);
}

/**
 * Every record (either approach) of every workspace that has a record created in [from, until],
 * created no later than `until`: reconciliation judges a dual-written pair as a whole.
 */
async function listPairsCreatedIn(q: Queryable, from: Date, until: Date): Promise<WorkspaceRecord[]> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM workspaces
      WHERE id IN (SELECT id FROM workspaces WHERE created_at >= $1 AND created_at <= $2)
        AND created_at <= $2`,
    [from, until],
  );
  return rows.map(toRecord);
}

/**
 * Sets status (and optionally re-points the sandbox) by compare-and-set: only from the states in
 * `from` (default: any but terminated) and, with `attempt`, only while that create attempt owns
 * the record. Never revives a released workspace. Returns null when nothing matched (absent,
 * released, in another state, or owned by a newer attempt): the caller is stale.
 */
export interface SetStatusOptions {
  /** re-point the record at this sandbox */
  sandboxId?: string;
  /** only from these states (compare-and-set) */
  from?: readonly Exclude<WorkspaceStatus, 'terminated'>[];
  /** only while this create attempt owns the record */
  attempt?: number;
  /** record a measured usage with it */
  usage?: { bytes: number; files: number };
}

async function setWorkspaceStatus(
  q: Queryable,
  approach: Approach,
  id: string,
  status: Exclude<WorkspaceStatus, 'terminated'>,
  opts: SetStatusOptions = {},
): Promise<WorkspaceRecord | null> {
  const { rows } = await q.query<Row>(
    `UPDATE workspaces SET status = $3, sandbox_id = coalesce($4, sandbox_id),
       disk_bytes = coalesce($7, disk_bytes), file_count = coalesce($8, file_count)
     WHERE approach = $1 AND id = $2 AND status <> 'terminated'
       AND ($5::text[] IS NULL OR status = ANY($5::text[])) AND ($6::bigint IS NULL OR attempt = $6::bigint)
     RETURNING ${COLUMNS}`,
    [
      approach,
      id,
      status,
      opts.sandboxId ?? null,
      opts.from ?? null,
      opts.attempt ?? null,
      opts.usage?.bytes ?? null,
      opts.usage?.files ?? null,
    ],
  );
  return rows[0] ? toRecord(rows[0]) : null;
}

/** Records a measured usage (after a clone or a pull). */
async function setWorkspaceUsage(
  q: Queryable,
  approach: Approach,
  id: string,
  usage: { bytes: number; files: number },
): Promise<void> {
  await q.query(`UPDATE workspaces SET disk_bytes = $3, file_count = $4 WHERE approach = $1 AND id = $2`, [
    approach,
    id,
    usage.bytes,
    usage.files,
  ]);
}

/**
 * Moves the usage by a write's delta when the result stays within the quota (a delta that only
 * frees room always passes). Returns null on success, else which limit would be passed.
 */
async function reserveWorkspaceUsage(
  q: Queryable,
  approach: Approach,
  id: string,
  delta: { bytes: number; files: number },
  max: { bytes: number; files: number },
): Promise<null | 'bytes' | 'files'> {
  const { rows } = await q.query<{ disk_bytes: string; file_count: string; ok: boolean }>(
    `WITH cur AS (SELECT approach, id, disk_bytes, file_count FROM workspaces WHERE approach = $1 AND id = $2 FOR UPDATE)
     UPDATE workspaces w SET
       disk_bytes = CASE WHEN ok THEN w.disk_bytes + $3 ELSE w.disk_bytes END,
       file_count = CASE WHEN ok THEN w.file_count + $4 ELSE w.file_count END
     FROM (SELECT cur.*, ($3 <= 0 OR cur.disk_bytes + $3 <= $5) AND ($4 <= 0 OR cur.file_count + $4 <= $6) AS ok FROM cur) c
     WHERE w.approach = c.approach AND w.id = c.id
     RETURNING c.disk_bytes, c.file_count, c.ok`,
    [approach, id, delta.bytes, delta.files, max.bytes, max.files],
  );
  const r = rows[0];
  if (!r || r.ok) return null;
  return delta.bytes > 0 && Number(r.disk_bytes) + delta.bytes > max.bytes ? 'bytes' : 'files';
}

export type WorkspaceOpLease =
  | { acquired: true; workspace: WorkspaceRecord }
  | { acquired: false; workspace: WorkspaceRecord | null; holder: string | null };

/**
 * Takes the workspace's operation lease for one mutating operation (`op`), for `ttlMs` unless
 * renewed; an expired lease (its holder died) is taken over. The row comes back with it, so this
 * is also the operation's lookup. When another operation holds it: `acquired: false` with the
 * record (null when the workspace does not exist) and the holder's operation name.
 */
async function acquireWorkspaceOp(
  q: Queryable,
  approach: Approach,
  id: string,
  op: string,
  token: string,
  ttlMs: number,
): Promise<WorkspaceOpLease> {
  const { rows } = await q.query<Row>(
    `UPDATE workspaces SET op_token = $3, op_name = $4, op_expires_at = clock_timestamp() + $5::double precision * interval '1 millisecond'
     WHERE approach = $1 AND id = $2 AND (op_token IS NULL OR op_token = $3 OR op_expires_at < clock_timestamp())
     RETURNING ${COLUMNS}`,
    [approach, id, token, op, ttlMs],
  );
  if (rows[0]) return { acquired: true, workspace: toRecord(rows[0]) };
  const cur = await q.query<Row & { op_name: string | null }>(
    `SELECT ${COLUMNS}, op_name FROM workspaces WHERE approach = $1 AND id = $2`,
    [approach, id],
  );
  return {
    acquired: false,
    workspace: cur.rows[0] ? toRecord(cur.rows[0]) : null,
    holder: cur.rows[0]?.op_name ?? null,
  };
}

/** Extends a held operation lease; false when it was lost (expired and taken over). */
async function renewWorkspaceOp(
  q: Queryable,
  approach: Approach,
  id: string,
  token: string,
  ttlMs: number,
): Promise<boolean> {
  const { rowCount } = await q.query(
    `UPDATE workspaces SET op_expires_at = clock_timestamp() + $4::double precision * interval '1 millisecond'
     WHERE approach = $1 AND id = $2 AND op_token = $3`,
    [approach, id, token, ttlMs],
  );
  return (rowCount ?? 0) > 0;
}

/** Gives the operation lease back (only the holder's token does). */
async function releaseWorkspaceOp(q: Queryable, approach: Approach, id: string, token: string): Promise<void> {
  await q.query(
    `UPDATE workspaces SET op_token = NULL, op_name = NULL, op_expires_at = NULL WHERE approach = $1 AND id = $2 AND op_token = $3`,
    [approach, id, token],
  );
}

async function markWorkspaceUsed(q: Queryable, approach: Approach, id: string): Promise<void> {
  await q.query(`UPDATE workspaces SET last_used_at = now() WHERE approach = $1 AND id = $2`, [approach, id]);
}

/**
 * Marks the workspace terminated; the first release stamps released_at, repeats keep it.
 * Returns the row, or null when the workspace is unknown.
 */
async function releaseWorkspace(q: Queryable, approach: Approach, id: string): Promise<WorkspaceRecord | null> {
  const { rows } = await q.query<Row>(
    `UPDATE workspaces SET status = 'terminated', released_at = coalesce(released_at, now())
     WHERE approach = $1 AND id = $2 RETURNING ${COLUMNS}`,
    [approach, id],
  );
  return rows[0] ? toRecord(rows[0]) : null;
}

/** The `workspaces` table. */
export function createWorkspaceRepository(q: Queryable) {
  return defineRepository('workspaces', {
    insert: (w: NewWorkspace, opts: { maxOpenPerAgent?: number } = {}) => insertWorkspace(q, w, opts),
    findById: (approach: Approach, id: string) => getWorkspace(q, approach, id),
    findServing: (id: string) => findServingWorkspace(q, id),
    list: (f: { approach?: Approach; agentId?: string; active?: boolean } = {}) => listWorkspaces(q, f),
    listPairsCreatedIn: (from: Date, until: Date) => listPairsCreatedIn(q, from, until),
    setStatus: (
      approach: Approach,
      id: string,
      status: Exclude<WorkspaceStatus, 'terminated'>,
      opts: SetStatusOptions = {},
    ) => setWorkspaceStatus(q, approach, id, status, opts),
    markUsed: (approach: Approach, id: string) => markWorkspaceUsed(q, approach, id),
    release: (approach: Approach, id: string) => releaseWorkspace(q, approach, id),
    countOpen: (agentId: string, exceptId?: string) => countOpenWorkspaces(q, agentId, exceptId),
    claimCreateAttempt: (approach: Approach, id: string, sandbox: { sandboxId: string; lease: number }) =>
      claimCreateAttempt(q, approach, id, sandbox),
    setUsage: (approach: Approach, id: string, usage: { bytes: number; files: number }) =>
      setWorkspaceUsage(q, approach, id, usage),
    reserveUsage: (
      approach: Approach,
      id: string,
      delta: { bytes: number; files: number },
      max: { bytes: number; files: number },
    ) => reserveWorkspaceUsage(q, approach, id, delta, max),
    acquireOp: (approach: Approach, id: string, op: string, token: string, ttlMs: number) =>
      acquireWorkspaceOp(q, approach, id, op, token, ttlMs),
    renewOp: (approach: Approach, id: string, token: string, ttlMs: number) =>
      renewWorkspaceOp(q, approach, id, token, ttlMs),
    releaseOp: (approach: Approach, id: string, token: string) => releaseWorkspaceOp(q, approach, id, token),
  });
}
export type WorkspaceRepository = ReturnType<typeof createWorkspaceRepository>;
