/**
 * Dual-write reconciliation (seed 002, "Validation Query (Detect Divergence)"; issue 4 part 3).
 *
 * How dual-write is represented: `workspaces` (sql/000001_git_service.sql) holds one row per
 * workspace *per approach*, keyed by (approach, id). While `git.clone` has `shadow` on, the router
 * creates every new workspace of the agents in its shadow share (`shadowPercent`, sticky per
 * agent) on both approaches under the same id (the serving one first, the
 * copy after it), and both approaches keep their own row up to date (status, last_used_at,
 * released_at). A workspace created in such a dual-write window must therefore have two rows;
 * the periods come from the audit trail of the `git.clone` flag (or an explicit `since`).
 *
 * Checks, per workspace created in a dual-write window — the seed's two queries, kept apart:
 * - divergence ("Check for missing sandboxes"): a row on one side only (both directions; the seed
 *   checked approach 2 only), or the two sides in different states (active — initializing /
 *   ready / in_use — vs error vs terminated). Only these count against consistency;
 * - update lag ("Check for data lag"): how far apart the two sides' last updates (max of
 *   created_at, last_used_at, released_at) are — reported (`lag`), never divergence. The copy is
 *   written asynchronously, after the serving side and often by another process: a write that
 *   reaches it later is lag, not a lost row (issue 10 item 2: a healthy rollout rolled back at
 *   shadow on "consistency 98.6%" because lag counted as divergence).
 * A difference younger than `lagThresholdMs` is *pending* (the copy may simply not have caught
 * up yet), and counts neither as checked nor as divergent.
 */
import type { Db } from '../db/index.js';
import type { Approach } from '../service/types.js';
import { inShadowShare } from '../router/hash.js';
import { createFlagAuditRepository } from '../store/flag-audit.js';
import { createWorkspaceRepository } from '../store/workspaces.js';

export interface WorkspaceRecord {
  id: string;
  approach: Approach;
  agentId: string;
  taskId: string;
  status: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  releasedAt: Date | null;
}

export type ReconcileIssue =
  | { workspaceId: string; kind: 'missing'; presentOn: Approach; missingOn: Approach; ageMs: number }
  | { workspaceId: string; kind: 'status_mismatch'; simple: string; pooled: string }
  | { workspaceId: string; kind: 'lag'; behind: Approach; lagMs: number };

export interface ReconcileResult {
  /** workspaces whose comparison was settled */
  checked: number;
  /** checked workspaces missing on a side or in different states (lag does not count) */
  divergent: number;
  /** divergent / checked (0 when nothing was checked); the gauge's value */
  ratio: number;
  /** differences still within the lag threshold */
  pending: number;
  /** divergences (missing, status_mismatch), then the pairs lagging beyond the threshold (kind `lag`) */
  issues: ReconcileIssue[];
  /** the seed's second query: how far the two sides' last updates are apart, over the pairs present on both */
  lag: LagSummary;
}

export interface LagSummary {
  /** pairs present on both sides */
  pairs: number;
  avgMs: number;
  maxMs: number;
  /** pairs further apart than the lag threshold */
  beyondThreshold: number;
}

export interface ReconcileOptions {
  now: Date;
  lagThresholdMs: number;
}

function updatedAt(r: WorkspaceRecord): number {
  return Math.max(r.createdAt.getTime(), r.lastUsedAt?.getTime() ?? 0, r.releasedAt?.getTime() ?? 0);
}

function statusClass(s: string): string {
  return s === 'initializing' || s === 'ready' || s === 'in_use' ? 'active' : s;
}

/** Pure comparison of the records of workspaces that were expected on both approaches. */
export function reconcileRecords(records: WorkspaceRecord[], opts: ReconcileOptions): ReconcileResult {
  const now = opts.now.getTime();
  const threshold = opts.lagThresholdMs;
  const byId = new Map<string, Partial<Record<Approach, WorkspaceRecord>>>();
  for (const r of records) {
    const g = byId.get(r.id) ?? {};
    const prior = g[r.approach];
    if (prior === undefined || updatedAt(r) > updatedAt(prior)) g[r.approach] = r;
    byId.set(r.id, g);
  }
  let checked = 0;
  let divergent = 0;
  let pending = 0;
  const issues: ReconcileIssue[] = [];
  const lagging: ReconcileIssue[] = [];
  let pairs = 0;
  let lagSum = 0;
  let lagMax = 0;
  for (const [id, g] of [...byId].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const { simple, pooled } = g;
    if (simple === undefined || pooled === undefined) {
      const present = (simple ?? pooled)!;
      const ageMs = now - present.createdAt.getTime();
      if (ageMs <= threshold) {
        pending++;
        continue;
      }
      checked++;
      divergent++;
      issues.push({
        workspaceId: id,
        kind: 'missing',
        presentOn: present.approach,
        missingOn: present.approach === 'simple' ? 'pooled' : 'simple',
        ageMs,
      });
      continue;
    }
    const tS = updatedAt(simple);
    const tP = updatedAt(pooled);
    const found: ReconcileIssue[] = [];
    if (statusClass(simple.status) !== statusClass(pooled.status))
      found.push({ workspaceId: id, kind: 'status_mismatch', simple: simple.status, pooled: pooled.status });
    const gap = Math.abs(tS - tP);
    pairs++;
    lagSum += gap;
    lagMax = Math.max(lagMax, gap);
    if (gap > threshold)
      lagging.push({ workspaceId: id, kind: 'lag', behind: tS < tP ? 'simple' : 'pooled', lagMs: gap });
    if (found.length === 0) {
      checked++;
      continue;
    }
    const settled = now - Math.max(tS, tP) > threshold;
    if (!settled) {
      pending++;
      continue;
    }
    checked++;
    divergent++;
    issues.push(...found);
  }
  return {
    checked,
    divergent,
    pending,
    ratio: checked === 0 ? 0 : divergent / checked,
    issues: [...issues, ...lagging],
    lag: { pairs, avgMs: pairs === 0 ? 0 : lagSum / pairs, maxMs: lagMax, beyondThreshold: lagging.length },
  };
}

export interface DualWriteWindow {
  start: Date;
  /** null while dual-write is still on */
  end: Date | null;
  /**
   * the shadow share in the window: only workspaces of agents in it (lib/router/hash.ts
   * inShadowShare) are written on both sides — the seed's shadow week shadows 10 %
   */
  shadowPercent: number;
}

/**
 * Dual-write periods from the `git.clone` flag's audit trail, oldest first: a window opens when
 * `shadow` turns on and closes when it turns off (or the flag is deleted); a change of the shadow
 * share closes the window and opens one with the new share. An event without a share (audit rows
 * from before it existed) with shadow on is every agent (100).
 */
export function dualWriteWindows(
  events: { at: Date; shadow: boolean; shadowPercent?: number | null }[],
): DualWriteWindow[] {
  const windows: DualWriteWindow[] = [];
  let open: { start: Date; shadowPercent: number } | null = null;
  for (const e of [...events].sort((a, b) => a.at.getTime() - b.at.getTime())) {
    const share = e.shadow ? (e.shadowPercent ?? 100) : 0;
    if (open !== null && open.shadowPercent === share) continue;
    if (open !== null) windows.push({ start: open.start, end: e.at, shadowPercent: open.shadowPercent });
    open = share > 0 ? { start: e.at, shadowPercent: share } : null;
  }
  if (open !== null) windows.push({ start: open.start, end: null, shadowPercent: open.shadowPercent });
  return windows;
}

/**
 * Whether a workspace created at `createdAt` (by `agentId`, when given) was expected on both
 * sides: created in a window and, when the agent is given, the agent in the window's shadow share.
 * The first `switchGraceMs` of a window are left out: processes take up to that long to hear the
 * flag, and a workspace created meanwhile legitimately has one row.
 */
export function inWindows(
  createdAt: Date,
  windows: DualWriteWindow[],
  switchGraceMs: number,
  agentId?: string,
): boolean {
  const t = createdAt.getTime();
  return windows.some(
    (w) =>
      t >= w.start.getTime() + switchGraceMs &&
      (w.end === null || t <= w.end.getTime()) &&
      (agentId === undefined || inShadowShare(agentId, w.shadowPercent)),
  );
}

export interface RunReconciliationOptions extends ReconcileOptions {
  /** check workspaces created since then instead of the windows derived from the flag audit */
  since?: Date;
  /** with `since`: the shadow share of that window (only agents in it are expected on both sides); default 100 */
  shadowPercent?: number;
  /** see {@link inWindows}; default 5 s */
  switchGraceMs?: number;
  /** sets `gitops_reconciliation_divergence_ratio` (e.g. `(r) => metrics.reconciliationDivergence.set(r)`) */
  setDivergence?: (ratio: number) => void;
  /** issues returned (all are counted); default 100 */
  maxIssues?: number;
}

export interface RunReconciliationResult extends ReconcileResult {
  windows: DualWriteWindow[];
  /** issues found in total; `issues` holds at most maxIssues of them */
  issueCount: number;
}

/**
 * Reads the workspace records of the dual-write windows and reconciles them (pure comparison
 * above). Read-only apart from the gauge, so it is safe to run any number of times.
 */
export async function runReconciliation(db: Db, opts: RunReconciliationOptions): Promise<RunReconciliationResult> {
  const grace = opts.switchGraceMs ?? 5_000;
  let windows: DualWriteWindow[];
  if (opts.since !== undefined) {
    windows = [{ start: opts.since, end: null, shadowPercent: opts.shadowPercent ?? 100 }];
  } else {
    const rows = await createFlagAuditRepository(db).cloneShadowHistory(opts.now);
    windows = dualWriteWindows(
      rows.map((r) => ({ at: r.at, shadow: r.shadow === true, shadowPercent: r.shadowPercent })),
    );
  }
  const effectiveGrace = opts.since !== undefined ? 0 : grace;
  let records: WorkspaceRecord[] = [];
  if (windows.length > 0) {
    const from = new Date(Math.min(...windows.map((w) => w.start.getTime())));
    // every row of every workspace that has a row created in range: a pair is judged as a whole
    const rows = await createWorkspaceRepository(db).listPairsCreatedIn(from, opts.now);
    const all: WorkspaceRecord[] = rows.map((r) => ({
      id: r.id,
      approach: r.approach,
      agentId: r.agentId,
      taskId: r.taskId,
      status: r.status,
      createdAt: r.createdAt,
      lastUsedAt: r.lastUsedAt,
      releasedAt: r.releasedAt,
    }));
    const first = new Map<string, WorkspaceRecord>();
    for (const r of all) {
      const f = first.get(r.id);
      if (f === undefined || r.createdAt < f.createdAt) first.set(r.id, r);
    }
    // a workspace of an agent outside the window's shadow share has one row by design
    records = all.filter((r) => {
      const f = first.get(r.id)!;
      return inWindows(f.createdAt, windows, effectiveGrace, f.agentId);
    });
  }
  const result = reconcileRecords(records, opts);
  opts.setDivergence?.(result.ratio);
  const maxIssues = opts.maxIssues ?? 100;
  return { ...result, issues: result.issues.slice(0, maxIssues), issueCount: result.issues.length, windows };
}
