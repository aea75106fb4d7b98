import type { Queryable } from './queryable.js';

/** Repository for `workspace_rehomes`: one row per workspace re-homed (or not) by one kill. */

export type RehomeState = 'started' | 'carried' | 'not_carried';

export interface RehomeRecord {
  eventId: number;
  workspaceId: string;
  state: RehomeState;
  reason: string | null;
  prevStatus: string;
  commits: number;
  files: number;
  durationMs: number | null;
  startedAt: Date;
  finishedAt: Date | null;
}

interface Row {
  event_id: string;
  workspace_id: string;
  state: RehomeState;
  reason: string | null;
  prev_status: string;
  commits: number;
  files: number;
  duration_ms: number | null;
  started_at: Date;
  finished_at: Date | null;
}

const COLUMNS =
  'event_id, workspace_id, state, reason, prev_status, commits, files, duration_ms, started_at, finished_at';

function toRecord(r: Row): RehomeRecord {
  return {
    eventId: Number(r.event_id),
    workspaceId: r.workspace_id,
    state: r.state,
    reason: r.reason,
    prevStatus: r.prev_status,
    commits: r.commits,
    files: r.files,
    durationMs: r.duration_ms,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

/** Records the start of a re-home; a retry finds the first row (and its prev_status) unchanged. */
export async function startRehome(
  q: Queryable,
  eventId: number,
  workspaceId: string,
  prevStatus: string,
): Promise<RehomeRecord> {
  await q.query(
    `INSERT INTO workspace_rehomes (event_id, workspace_id, state, prev_status) VALUES ($1, $2, 'started', $3)
     ON CONFLICT (event_id, workspace_id) DO NOTHING`,
    [eventId, workspaceId, prevStatus],
  );
  const r = await getRehome(q, eventId, workspaceId);
  if (!r) throw new Error(`rehome ${eventId}/${workspaceId} vanished`);
  return r;
}

export async function getRehome(q: Queryable, eventId: number, workspaceId: string): Promise<RehomeRecord | null> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM workspace_rehomes WHERE event_id = $1 AND workspace_id = $2`,
    [eventId, workspaceId],
  );
  return rows[0] ? toRecord(rows[0]) : null;
}

export async function finishRehome(
  q: Queryable,
  eventId: number,
  workspaceId: string,
  o: { state: Exclude<RehomeState, 'started'>; reason?: string; commits?: number; files?: number; durationMs: number },
): Promise<void> {
  await q.query(
    `UPDATE workspace_rehomes SET state = $3, reason = $4, commits = $5, files = $6, duration_ms = $7, finished_at = now()
     WHERE event_id = $1 AND workspace_id = $2`,
    [eventId, workspaceId, o.state, o.reason ?? null, o.commits ?? 0, o.files ?? 0, o.durationMs],
  );
}

export async function listRehomes(q: Queryable, eventId: number): Promise<RehomeRecord[]> {
  const { rows } = await q.query<Row>(
    `SELECT ${COLUMNS} FROM workspace_rehomes WHERE event_id = $1 ORDER BY workspace_id`,
    [eventId],
  );
  return rows.map(toRecord);
}

/** Live approach-2 workspaces not yet re-homed (the candidates of a kill). */
export async function listLivePooledWorkspaceIds(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM workspaces WHERE approach = 'pooled' AND status <> 'terminated' AND rehomed_at IS NULL ORDER BY created_at, id`,
  );
  return rows.map((r) => r.id);
}

/** The approach-2 row after a carried re-home: terminated and marked re-homed (the router then serves approach 1's row). */
export async function markRehomed(q: Queryable, workspaceId: string): Promise<void> {
  await q.query(
    `UPDATE workspaces SET status = 'terminated', released_at = coalesce(released_at, now()), rehomed_at = now()
     WHERE approach = 'pooled' AND id = $1`,
    [workspaceId],
  );
}

/** Sets the approach-2 row's status without the "never revive" guard's side effects (freeze / restore). */
export async function setPooledStatus(q: Queryable, workspaceId: string, status: string): Promise<void> {
  await q.query(`UPDATE workspaces SET status = $2 WHERE approach = 'pooled' AND id = $1 AND status <> 'terminated'`, [
    workspaceId,
    status,
  ]);
}

export function createRehomeRepository(q: Queryable) {
  return {
    start: (eventId: number, id: string, prevStatus: string) => startRehome(q, eventId, id, prevStatus),
    get: (eventId: number, id: string) => getRehome(q, eventId, id),
    finish: (eventId: number, id: string, o: Parameters<typeof finishRehome>[3]) => finishRehome(q, eventId, id, o),
    list: (eventId: number) => listRehomes(q, eventId),
    livePooled: () => listLivePooledWorkspaceIds(q),
    markRehomed: (id: string) => markRehomed(q, id),
    setPooledStatus: (id: string, status: string) => setPooledStatus(q, id, status),
  };
}
export type RehomeRepository = ReturnType<typeof createRehomeRepository>;
