import type { Workspace } from './types.js';

/**
 * A workspace as it crosses a boundary (a Temporal payload, an HTTP response): JSON-safe, dates
 * as ISO strings. The git activities return it and the API's GET /v1/workspaces/:id answers it.
 */
export interface WorkspaceSummary extends Omit<Workspace, 'createdAt' | 'lastUsedAt'> {
  createdAt: string;
  lastUsedAt: string | null;
}

export function toWorkspaceSummary(w: Workspace): WorkspaceSummary {
  return { ...w, createdAt: w.createdAt.toISOString(), lastUsedAt: w.lastUsedAt?.toISOString() ?? null };
}
