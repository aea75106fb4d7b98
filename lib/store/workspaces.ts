import type { Approach } from '../metrics.js';
import type { Workspace, WorkspaceStatus } from '../service/types.js';
import type { Queryable } from './queryable.js';
import { defineRepository } from './repository.js';

/**
 * Repository for `workspaces`. Both approaches write here (keyed by approach + id), so a
 * reconciliation can compare what each recorded for the same workspace during a rollout.
 */

export interface WorkspaceRecord extends Workspace {
  /** the checkout's directory inside the sandbox, relative to its home (e.g. ws/<id>) */
  dir: string;
  releasedAt: Date | null;
}

interface Row {
  id: string; approach: Approach; agent_id: string; task_id: string; repo_url: string; base_branch: string;
  agent_branch: string; sandbox_id: string; dir: string; status: WorkspaceStatus; created_at: Date;
  last_used_at: Date | null; released_at: Date | null;
}

const COLUMNS = 'id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir, status, created_at, last_used_at, released_at';

function toRecord(r: Row): WorkspaceRecord {
  return {
    id: r.id, approach: r.approach, agentId: r.agent_id, taskId: r.task_id, repoUrl: r.repo_url, baseBranch: r.base_branch,
    agentBranch: r.agent_branch, sandboxId: r.sandbox_id, dir: r.dir, status: r.status, createdAt: r.created_at,
    lastUsedAt: r.last_used_at, releasedAt: r.released_at,
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
  dir: string;
  status?: WorkspaceStatus;
}

/**
 * Inserts the workspace unless (approach, id) exists; either way returns the stored row and
 * whether this call created it (a retried create finds the first one).
 */
async function insertWorkspace(q: Queryable, w: NewWorkspace): Promise<{ workspace: WorkspaceRecord; created: boolean }> {
  const { rows } = await q.query<Row>(
    `INSERT INTO workspaces (id, approach, agent_id, task_id, repo_url, base_branch, agent_branch, sandbox_id, dir, status)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (approach, id) DO NOTHING
     RETURNING ${COLUMNS}`,
    [w.id, w.approach, w.agentId, w.taskId, w.repoUrl, w.baseBranch, w.agentBranch, w.sandboxId, w.dir, w.status ?? 'initializing'],
  );
  if (rows[0]) return { workspace: toRecord(rows[0]), created: true };
  const existing = await getWorkspace(q, w.approach, w.id);
  if (!existing) throw new Error(`workspace ${w.id} vanished during insert`);
  return { workspace: existing, created: false };
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
  q: Queryable, f: { approach?: Approach; agentId?: string; active?: boolean } = {},
): Promise<WorkspaceRecord[]> {
  const params: unknown[] = [];
  let where = 'true';
  if (f.approach !== undefined) { params.push(f.approach); where += ` AND approach = $${params.length}`; }
  if (f.agentId !== undefined) { params.push(f.agentId); where += ` AND agent_id = $${params.length}`; }
  if (f.active === true) where += ` AND status <> 'terminated'`;
  const { rows } = await q.query<Row>(`SELECT ${COLUMNS} FROM workspaces WHERE ${where} ORDER BY created_at, id`, params);
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
    [from, until]);
  return rows.map(toRecord);
}

/**
 * Sets status (and optionally re-points the sandbox, e.g. after a failed create is retried in a
 * new one). Never revives a released workspace. Returns null when absent or already released.
 */
async function setWorkspaceStatus(
  q: Queryable, approach: Approach, id: string, status: Exclude<WorkspaceStatus, 'terminated'>, opts: { sandboxId?: string } = {},
): Promise<WorkspaceRecord | null> {
  const { rows } = await q.query<Row>(
    `UPDATE workspaces SET status = $3, sandbox_id = coalesce($4, sandbox_id)
     WHERE approach = $1 AND id = $2 AND status <> 'terminated' RETURNING ${COLUMNS}`,
    [approach, id, status, opts.sandboxId ?? null],
  );
  return rows[0] ? toRecord(rows[0]) : null;
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
    insert: (w: NewWorkspace) => insertWorkspace(q, w),
    findById: (approach: Approach, id: string) => getWorkspace(q, approach, id),
    findServing: (id: string) => findServingWorkspace(q, id),
    list: (f: { approach?: Approach; agentId?: string; active?: boolean } = {}) => listWorkspaces(q, f),
    listPairsCreatedIn: (from: Date, until: Date) => listPairsCreatedIn(q, from, until),
    setStatus: (approach: Approach, id: string, status: Exclude<WorkspaceStatus, 'terminated'>, opts: { sandboxId?: string } = {}) =>
      setWorkspaceStatus(q, approach, id, status, opts),
    markUsed: (approach: Approach, id: string) => markWorkspaceUsed(q, approach, id),
    release: (approach: Approach, id: string) => releaseWorkspace(q, approach, id),
  });
}
export type WorkspaceRepository = ReturnType<typeof createWorkspaceRepository>;
