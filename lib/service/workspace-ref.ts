/**
 * The workspace binding a request carries. GitService.getWorkspace returns a Workspace object;
 * passing that object (instead of its id) to the next operation lets the service use the record
 * it was made from rather than reading it again, so one request looks the workspace up once.
 *
 * The record behind each object handed out is kept in a WeakMap keyed by the object itself: no
 * time window, no cache keyed by id, nothing to expire — the binding lives exactly as long as the
 * caller holds the object (a request). Any other object, or an id, is looked up afresh.
 */
import type { WorkspaceRecord } from '../store/workspaces.js';
import type { Approach, Workspace, WorkspaceRef } from './types.js';

const records = new WeakMap<Workspace, WorkspaceRecord>();

/** The public Workspace of a record, bound to it. */
export function bindWorkspace(r: WorkspaceRecord): Workspace {
  const w: Workspace = {
    id: r.id,
    agentId: r.agentId,
    taskId: r.taskId,
    repoUrl: r.repoUrl,
    baseBranch: r.baseBranch,
    agentBranch: r.agentBranch,
    approach: r.approach,
    sandboxId: r.sandboxId,
    status: r.status,
    createdAt: r.createdAt,
    lastUsedAt: r.lastUsedAt,
  };
  records.set(w, r);
  return w;
}

/** The record a bound object was made from, when it is `approach`'s record; else undefined. */
export function boundRecord(ref: WorkspaceRef, approach: Approach): WorkspaceRecord | undefined {
  if (typeof ref === 'string') return undefined;
  const r = records.get(ref);
  return r !== undefined && r.approach === approach ? r : undefined;
}

export function refId(ref: WorkspaceRef): string {
  return typeof ref === 'string' ? ref : ref.id;
}

/**
 * The serving workspace of an id across approaches (the router's lookup), bound: one query, and
 * the operation it is passed to reads nothing again.
 */
export function servingWorkspaceLookup(workspaces: { findServing(id: string): Promise<WorkspaceRecord | null> }) {
  return async (id: string): Promise<Workspace | null> => {
    const r = await workspaces.findServing(id);
    return r ? bindWorkspace(r) : null;
  };
}
