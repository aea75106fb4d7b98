import { randomUUID } from 'node:crypto';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Approach, CommitPushInput, GitService, GitStatus, Workspace, WorkspaceRef } from '../service/types.js';
import { inShadowShare, routeBucket } from './hash.js';

export { inShadowShare, routeBucket, SHADOW_BUCKET_KEY } from './hash.js';

export type RouteMode = 'primary' | 'shadow';

export interface FlagValue {
  percent: number;
  shadow: boolean;
  /**
   * The share of agents (0..100, sticky per agent) that get the shadow run while `shadow` is on;
   * undefined = every agent (a flag value written before the share existed).
   */
  shadowPercent?: number;
}

/**
 * Whether this agent's calls get a shadow run under the flag: `shadow` on and the agent's shadow
 * bucket (lib/router/hash.ts {@link inShadowShare}: one per agent, the same for every operation)
 * below the flag's shadow share. Sticky and monotonic like the percent: raising the
 * share only adds agents.
 */
export function shadowed(flag: FlagValue | undefined, agentId: string): boolean {
  if (flag?.shadow !== true) return false;
  return flag.shadowPercent === undefined || inShadowShare(agentId, flag.shadowPercent);
}

export interface Decision {
  /** the approach that serves the caller */
  approach: Approach;
  /** 'shadow': the other approach runs beside for comparison; its result is never served */
  mode: RouteMode;
  bucket: number;
}

/** GitService method → flag operation. */
export const ROUTED_OPERATIONS = {
  createWorkspace: 'git.clone',
  status: 'git.status',
  diff: 'git.diff',
  readFile: 'git.read',
  writeFile: 'git.write',
  commitAndPush: 'git.push',
  pull: 'git.pull',
  release: 'git.release',
} as const;

/**
 * The routing rule (pure): the agent goes to approach 2 (pooled) when its bucket for this
 * operation is below the flag's percent — sticky per agent and operation, and monotonic: raising
 * the percent only adds agents, so nobody moves back and forth during a rollout. An unknown flag
 * routes to approach 1. With `shadow` on, the other approach runs beside the serving one — for the
 * agents in the flag's shadow share ({@link shadowed}; the seed's shadow week shadows 10 %): for
 * agents on approach 1 that is approach 2 under comparison (the seed's shadow mode, percent 0);
 * for agents on approach 2 it is approach 1 as the hot backup (the seed's week 3). Either way
 * every workspace is then written on both sides (dual-write) and reconciliation compares them.
 */
export function decide(flag: FlagValue | undefined, agentId: string, operation: string): Decision {
  const bucket = routeBucket(agentId, operation);
  const percent = flag === undefined || !Number.isFinite(flag.percent) ? 0 : Math.min(100, Math.max(0, flag.percent));
  return {
    approach: bucket < percent ? 'pooled' : 'simple',
    mode: shadowed(flag, agentId) ? 'shadow' : 'primary',
    bucket,
  };
}

/**
 * `gitops_fallback_total` reason when an approach-2 failure is infrastructure (network, timeout,
 * rate limit, pool exhausted, sandbox gone) and approach 1 may serve instead; null for anything
 * the caller caused or approach 1 would hit the same way (conflicts, lock timeouts, validation,
 * auth, not found) and for untranslated errors.
 */
export function fallbackReason(e: unknown): string | null {
  if (!(e instanceof DomainError)) return null;
  if (e.type === ErrorType.PoolExhausted) return 'pool_exhausted';
  if (e.type === ErrorType.SandboxGone) return 'sandbox_gone';
  if (e.type === ErrorType.Validation || e.type === ErrorType.NotFound || e.type === ErrorType.Forbidden) return null;
  return e.category === 'network' || e.category === 'timeout' || e.category === 'rate_limit' ? e.category : null;
}

/**
 * Optional extension of a GitService: the dry-run equivalent of commitAndPush (commit in the
 * workspace, `git push --dry-run`; nothing reaches the remote). Shadow mode uses it when the
 * shadow approach's service has it.
 */
export interface GitServiceDryRun {
  commitAndPushDryRun(id: string, input: CommitPushInput): Promise<{ branch: string }>;
}

function hasDryRun(s: GitService): s is GitService & GitServiceDryRun {
  return typeof (s as Partial<GitServiceDryRun>).commitAndPushDryRun === 'function';
}

// --- normalisation for shadow comparisons ------------------------------------------------------

/**
 * Status as compared: branch and working-tree entries (sorted). Upstream and ahead/behind are left
 * out: they depend on when each side last fetched and on whether a push really happened or was a
 * dry run, not on whether the approaches agree about the workspace.
 */
export function normaliseStatus(s: GitStatus): string {
  const entries = [...s.entries]
    .map((e) => ({ path: e.path, index: e.index, worktree: e.worktree, kind: e.kind, origPath: e.origPath ?? null }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0));
  return JSON.stringify({ branch: s.branch, entries });
}

/**
 * Diff as compared: `index <sha>..<sha>` lines dropped (git abbreviates object ids to a length that
 * grows with the repository's object count, so two clones can print the same blob differently),
 * CRLF → LF, trailing whitespace at the end trimmed.
 */
export function normaliseDiff(d: string): string {
  return d
    .replace(/\r\n/g, '\n')
    .split('\n')
    .filter((l) => !l.startsWith('index '))
    .join('\n')
    .trimEnd();
}

function statusClass(s: string): string {
  return s === 'initializing' || s === 'ready' || s === 'in_use' ? 'active' : s;
}

/** Workspace as compared: identity fields and a coarse status (sandbox ids and times differ by design). */
export function normaliseWorkspace(w: Workspace): string {
  return JSON.stringify({
    agentId: w.agentId,
    taskId: w.taskId,
    repoUrl: w.repoUrl,
    baseBranch: w.baseBranch,
    agentBranch: w.agentBranch,
    status: statusClass(w.status),
  });
}

// --- the routed service ----------------------------------------------------------------------------

export interface RoutedGitServiceDeps {
  simple: GitService;
  pooled: GitService;
  flags: { get(operation: string): FlagValue | undefined };
  metrics: Pick<Metrics, 'routerDecisions' | 'fallbacks' | 'shadowComparisons'>;
  log: Pick<Logger, 'warn' | 'debug'>;
  /**
   * The serving record of an existing workspace — its earliest-created live record, whose
   * `approach` serves it for its whole life — or null (lib/service servingWorkspaceLookup over
   * the workspaces repository). The object it returns is passed on to the serving approach, so a
   * routed call reads the workspace once.
   */
  findWorkspace: (workspaceId: string) => Promise<Workspace | null>;
  /** id for a new workspace when the caller gave none (both approaches use the same id) */
  newWorkspaceId?: () => string;
  /** shadow operations queued per workspace before its shadow copy is given up on (default 32) */
  maxShadowQueue?: number;
  /**
   * How long a shadow operation waits for a copy that is still being written (default 120 s,
   * counted from the serving workspace's creation; under load a clone takes tens of seconds). The copy is created after the serving
   * workspace, possibly by another process (the worker runs creates, the API runs writes and
   * reads), so an edit may reach the copy's side before the copy exists: it waits for it instead
   * of being lost.
   */
  copyWaitMs?: number;
  /** sleeps between looks for a copy in flight (tests) */
  sleep?: (ms: number) => Promise<void>;
}

export interface RoutedGitService extends GitService {
  /** resolves when every shadow operation started so far has finished (tests, graceful shutdown) */
  drain(): Promise<void>;
}

/**
 * A GitService that routes every call between approach 1 (`simple`) and approach 2 (`pooled`).
 *
 * - New workspaces (`git.clone`) go where {@link decide} says for the agent; the workspace then
 *   stays on that approach for its life (looked up with `findWorkspace`), because moving a live
 *   checkout would lose its working tree. So a kill switch sends every *new* workspace and every
 *   shadow run to approach 1 at once, while workspaces already on approach 2 finish there (or
 *   fall back to their approach-1 copy for reads, below). `approach` of this object is 'simple',
 *   the approach that serves when every flag is off.
 * - `gitops_router_decisions_total{operation,approach,mode}` counts every routed call.
 * - Shadow (the operation's flag has `shadow` on and the agent is in its shadow share): the other approach runs beside the serving one
 *   on its copy of the workspace (same workspace id) and only the serving result is returned.
 *   Reads (status, diff, readFile) run concurrently and are compared after normalisation →
 *   `gitops_shadow_comparisons_total{operation,result}`; a shadow failure other than "no copy"
 *   counts as a mismatch. Clone creates the copy after the serving clone succeeded and compares
 *   the two workspaces. writeFile and pull only change the sandbox's own checkout (nothing
 *   reaches the remote), so they are mirrored to keep the copy comparable; they are not counted.
 *   commitAndPush reaches the remote, so the shadow side runs only its dry-run equivalent, and
 *   only if its service implements {@link GitServiceDryRun} (compared by target branch);
 *   otherwise nothing runs and nothing is counted, and the copy — now behind the served side —
 *   is excluded from further comparisons in this process. Shadow work is queued per workspace so
 *   the copy sees operations in the same order as the served side.
 * - Fallback: an approach-2 infrastructure failure ({@link fallbackReason}) of a clone creates the
 *   workspace on approach 1 instead (the failed attempt is released first);
 *   of a read on an approach-2 workspace it is served from the workspace's approach-1 copy when
 *   one exists (dual-write). Either way `gitops_fallback_total{reason}` counts it. Writes on an
 *   existing approach-2 workspace do not fall back: the approach-1 copy would take a change the
 *   serving copy never sees, and a push that timed out may already have landed.
 * - release also releases the other approach's copy, whatever the flags say now, so a copy made
 *   while shadow was on never leaks a sandbox.
 */
export function createRoutedGitService(deps: RoutedGitServiceDeps): RoutedGitService {
  const { simple, pooled, flags, metrics, log } = deps;
  const newId = deps.newWorkspaceId ?? randomUUID;
  const maxQueue = deps.maxShadowQueue ?? 32;
  const svc = (a: Approach): GitService => (a === 'pooled' ? pooled : simple);
  const other = (a: Approach): Approach => (a === 'pooled' ? 'simple' : 'pooled');

  const copyWaitMs = deps.copyWaitMs ?? 120_000;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));

  /** workspaces whose shadow copy no longer mirrors the served one (or has none) */
  const diverged = new Set<string>();
  /** workspaces being released here: shadow work waiting for their copy stops */
  const releasing = new Set<string>();

  /**
   * Runs a shadow operation on the copy once the copy is there: not written yet (no record, while
   * the serving workspace is younger than copyWaitMs) or still cloning (`initializing`), it waits
   * by looking the record up — never by calling the operation, since every call on a service is an
   * operation its metrics count, and a copy polled through them showed up as approach-2 errors
   * (a healthy canary rolled back at shadow). A released copy, or one that never came, then
   * fails as before.
   */
  async function onCopy<T>(b: Workspace, copySvc: GitService, fn: () => Promise<T>): Promise<T> {
    const until = b.createdAt.getTime() + copyWaitMs;
    for (let delay = 100; !releasing.has(b.id) && Date.now() + delay <= until; delay = Math.min(1_000, delay * 2)) {
      const copy = await copySvc.getWorkspace(b.id).catch(() => null);
      if (copy !== null && copy.status !== 'initializing') break;
      await sleep(delay);
    }
    return fn();
  }
  const queues = new Map<string, { tail: Promise<void>; length: number }>();
  const inflight = new Set<Promise<void>>();

  function enqueue(id: string, operation: string, task: () => Promise<void>): Promise<void> {
    const q = queues.get(id) ?? { tail: Promise.resolve(), length: 0 };
    if (q.length >= maxQueue) {
      diverged.add(id);
      log.warn({ workspaceId: id, operation }, 'shadow queue full; shadow copy no longer compared');
      return Promise.resolve();
    }
    q.length++;
    const p: Promise<void> = q.tail
      .then(task)
      .catch((e: unknown) => log.warn({ workspaceId: id, operation, err: (e as Error).message }, 'shadow task failed'))
      .finally(() => {
        q.length--;
        if (q.length === 0 && queues.get(id) === q) queues.delete(id);
        inflight.delete(p);
      });
    q.tail = p;
    queues.set(id, q);
    inflight.add(p);
    return p;
  }

  // metrics use the short operation names of the services' own metrics (`push`, not `git.push`),
  // so one `operation` label value means the same thing on every gitops_* series
  const metricOp = (flag: string): string => (flag.startsWith('git.') ? flag.slice(4) : flag);

  function count(operation: string, match: boolean): void {
    metrics.shadowComparisons.labels(metricOp(operation), match ? 'match' : 'mismatch').inc();
  }

  function decided(operation: string, approach: Approach, mode: RouteMode): void {
    metrics.routerDecisions.labels(metricOp(operation), approach, mode).inc();
  }

  /**
   * The workspace binding: the caller's Workspace object (from getWorkspace earlier in the same
   * request) as it is, or the serving record looked up once by id.
   */
  async function bound(ref: WorkspaceRef): Promise<Workspace> {
    if (typeof ref !== 'string') return ref;
    const b = await deps.findWorkspace(ref);
    if (b === null)
      throw new DomainError(ErrorType.NotFound, `workspace ${ref} not found`, { details: { workspaceId: ref } });
    return b;
  }

  async function read<T>(
    operation: string,
    ref: WorkspaceRef,
    call: (s: GitService, b: Workspace) => Promise<T>,
    normalise: (t: T) => string,
  ): Promise<T> {
    const b = await bound(ref);
    const id = b.id;
    const shadow = shadowed(flags.get(operation), b.agentId);
    decided(operation, b.approach, shadow ? 'shadow' : 'primary');
    const served = call(svc(b.approach), b);
    if (shadow && !diverged.has(id)) {
      const shadowSvc = svc(other(b.approach));
      void enqueue(id, operation, async () => {
        if (diverged.has(id)) return;
        let theirs: T;
        try {
          theirs = await onCopy(b, shadowSvc, () => call(shadowSvc, b));
        } catch (e) {
          if (isDomainError(e, ErrorType.NotFound)) {
            diverged.add(id); // no copy on the other side: nothing to compare
            return;
          }
          count(operation, false);
          log.warn(
            { workspaceId: id, operation, errorType: isDomainError(e) ? e.type : 'untranslated' },
            'shadow operation failed',
          );
          return;
        }
        const ours = await served.then(
          (v) => ({ ok: true as const, v }),
          () => ({ ok: false as const }),
        );
        if (!ours.ok) return; // the served call failed: nothing to compare against
        const match = normalise(ours.v) === normalise(theirs);
        count(operation, match);
        if (!match)
          log.warn({ workspaceId: id, operation, shadowApproach: shadowSvc.approach }, 'shadow result differs');
      });
    }
    try {
      return await served;
    } catch (e) {
      const reason = b.approach === 'pooled' ? fallbackReason(e) : null;
      if (reason === null) throw e;
      try {
        const v = await call(simple, b);
        metrics.fallbacks.labels(reason).inc();
        log.warn({ workspaceId: id, operation, reason }, 'approach 2 failed; served by approach 1 copy');
        return v;
      } catch (e2) {
        if (isDomainError(e2, ErrorType.NotFound)) throw e; // no approach-1 copy: the original failure stands
        metrics.fallbacks.labels(reason).inc();
        throw e2;
      }
    }
  }

  /** A sandbox-local write: served side first; mirrored to the copy in shadow mode (not counted). */
  async function localWrite<T>(
    operation: string,
    ref: WorkspaceRef,
    call: (s: GitService, b: Workspace, served: boolean) => Promise<T>,
  ): Promise<T> {
    const b = await bound(ref);
    const id = b.id;
    const shadow = shadowed(flags.get(operation), b.agentId);
    decided(operation, b.approach, shadow ? 'shadow' : 'primary');
    const result = await call(svc(b.approach), b, true);
    if (shadow && !diverged.has(id)) {
      const shadowSvc = svc(other(b.approach));
      void enqueue(id, operation, async () => {
        if (diverged.has(id)) return;
        try {
          await onCopy(b, shadowSvc, () => call(shadowSvc, b, false));
        } catch (e) {
          diverged.add(id);
          log.warn(
            { workspaceId: id, operation, errorType: isDomainError(e) ? e.type : 'untranslated' },
            'shadow mirror failed; copy no longer compared',
          );
        }
      });
    }
    return result;
  }

  const service: RoutedGitService = {
    approach: 'simple',

    async createWorkspace(input, progress) {
      const operation = ROUTED_OPERATIONS.createWorkspace;
      if (input.workspaceId !== undefined) {
        // a retried create: stay where the first attempt landed (the service returns the same workspace)
        const existing = await deps.findWorkspace(input.workspaceId);
        if (existing !== null) {
          decided(operation, existing.approach, 'primary');
          return svc(existing.approach).createWorkspace(input, progress);
        }
      }
      const inp = { ...input, workspaceId: input.workspaceId ?? newId() };
      const id = inp.workspaceId;
      const d = decide(flags.get(operation), input.agentId, operation);
      decided(operation, d.approach, d.mode);
      let ws: Workspace;
      try {
        ws = await svc(d.approach).createWorkspace(inp, progress);
      } catch (e) {
        const reason = d.approach === 'pooled' ? fallbackReason(e) : null;
        if (reason === null) throw e;
        metrics.fallbacks.labels(reason).inc();
        log.warn(
          { workspaceId: id, operation, reason },
          'approach 2 failed to create the workspace; creating it on approach 1',
        );
        await pooled.release(id).catch(() => undefined); // leave no half-made approach-2 workspace behind
        return simple.createWorkspace(inp, progress);
      }
      if (d.mode === 'shadow') {
        const shadowSvc = svc(other(d.approach));
        void enqueue(id, operation, async () => {
          try {
            const copy = await shadowSvc.createWorkspace(inp);
            const match = normaliseWorkspace(copy) === normaliseWorkspace(ws);
            count(operation, match);
            if (!match)
              log.warn({ workspaceId: id, operation, shadowApproach: shadowSvc.approach }, 'shadow workspace differs');
          } catch (e) {
            diverged.add(id);
            count(operation, false);
            log.warn(
              { workspaceId: id, operation, errorType: isDomainError(e) ? e.type : 'untranslated' },
              'shadow clone failed',
            );
          }
        });
      }
      return ws;
    },

    // one query: the serving record, which is also the binding later operations are given
    getWorkspace: (id) => deps.findWorkspace(id),

    status: (ref) => read(ROUTED_OPERATIONS.status, ref, (s, b) => s.status(b), normaliseStatus),
    diff: (ref, opts) => read(ROUTED_OPERATIONS.diff, ref, (s, b) => s.diff(b, opts), normaliseDiff),
    readFile: (ref, path) =>
      read(
        ROUTED_OPERATIONS.readFile,
        ref,
        (s, b) => s.readFile(b, path),
        (c) => c,
      ),
    writeFile: (ref, path, content) =>
      localWrite(ROUTED_OPERATIONS.writeFile, ref, (s, b) => s.writeFile(b, path, content)),
    pull: (ref, progress) =>
      localWrite(ROUTED_OPERATIONS.pull, ref, (s, b, served) => s.pull(b, served ? progress : undefined)),

    async commitAndPush(ref, input, progress) {
      const operation = ROUTED_OPERATIONS.commitAndPush;
      const b = await bound(ref);
      const id = b.id;
      const shadow = shadowed(flags.get(operation), b.agentId);
      decided(operation, b.approach, shadow ? 'shadow' : 'primary');
      const result = await svc(b.approach).commitAndPush(b, input, progress);
      if (shadow && !diverged.has(id)) {
        const shadowSvc = svc(other(b.approach));
        if (hasDryRun(shadowSvc)) {
          void enqueue(id, operation, async () => {
            if (diverged.has(id)) return;
            try {
              const dry = await onCopy(b, shadowSvc, () => shadowSvc.commitAndPushDryRun(id, input));
              count(operation, dry.branch === result.branch);
            } catch (e) {
              if (isDomainError(e, ErrorType.NotFound)) {
                diverged.add(id);
                return;
              }
              count(operation, false);
              log.warn(
                { workspaceId: id, operation, errorType: isDomainError(e) ? e.type : 'untranslated' },
                'shadow push dry-run failed',
              );
            }
          });
        } else {
          // no dry run: the copy keeps the changes the served side just committed; comparing it
          // from here on would only report that
          diverged.add(id);
          log.debug(
            { workspaceId: id, operation, shadowApproach: shadowSvc.approach },
            'shadow has no push dry-run; not compared',
          );
        }
      }
      return result;
    },

    async release(ref) {
      const operation = ROUTED_OPERATIONS.release;
      const b = await bound(ref);
      const id = b.id;
      decided(operation, b.approach, shadowed(flags.get(operation), b.agentId) ? 'shadow' : 'primary');
      releasing.add(id);
      await svc(b.approach).release(b);
      const copyOwner = svc(other(b.approach));
      await enqueue(id, operation, async () => {
        // only a copy that exists: a release of nothing is a NotFound its service counts as an error
        const copy = await copyOwner.getWorkspace(id).catch(() => undefined);
        if (copy === null || copy?.status === 'terminated') return;
        await copyOwner.release(id).catch((e: unknown) => {
          if (!isDomainError(e, ErrorType.NotFound))
            log.warn(
              { workspaceId: id, operation, errorType: isDomainError(e) ? e.type : 'untranslated' },
              'releasing the shadow copy failed',
            );
        });
      });
      diverged.delete(id);
      releasing.delete(id);
    },

    async drain() {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
  return service;
}
