/**
 * Where a workspace's sandbox comes from and where it goes back: the part in which approach 1
 * and approach 2 differ most.
 *
 * - fresh (approach 1, seed 000): a new sandbox per workspace, killed on release. Its sandboxes
 *   are recorded in git_sandboxes too (is_pooled = false), so a restarted process reconnects by
 *   id and cost and errors are comparable with approach 2.
 * - pool (approach 2, seed 004): a warm sandbox from the pool, returned to it on release
 *   (workspace wiped, health-checked).
 */
import type { Config } from '../config/schema.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { SandboxPool } from '../pool/pool.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import type { SandboxRepository } from '../store/sandboxes.js';

/** What a new workspace's sandbox is recorded for. */
export interface SandboxSpec {
  id: string;
  agentId: string;
  taskId: string;
  repoUrl: string;
  baseBranch: string;
  agentBranch: string;
}

/** A sandbox handed to one workspace, with the lease generation it holds it under. */
export interface HeldSandbox {
  sandbox: Sandbox;
  lease: number;
}

export interface SandboxSource {
  /** A sandbox for a new workspace; recorded in git_sandboxes as in use by this agent, under a new lease. */
  obtain(spec: SandboxSpec): Promise<HeldSandbox>;
  /** Called once the workspace is cloned in `sandboxId`. */
  ready(sandboxId: string): Promise<void>;
  /**
   * Gives the workspace's sandbox back (fresh: kill; pool: wipe and return to the pool) — only
   * while it is still at `lease`: a stale caller changes nothing.
   */
  giveBack(sandboxId: string, lease: number, handle: Sandbox | null): Promise<void>;
  /**
   * Takes a sandbox back from a holder that may still be running in it (a superseded create
   * attempt, a workspace released mid-create) and destroys it, so nothing it still runs ever
   * shares a sandbox with another agent. Only while it is still at `lease`.
   */
  revoke(sandboxId: string, lease: number): Promise<void>;
  /** The live handle of a recorded sandbox (reconnects by id after a restart). */
  connect(sandboxId: string): Promise<Sandbox>;
  /** Starts background work (cost accrual, pool pre-warm). */
  start(): Promise<void>;
  /** Stops background work; sandboxes stay (a restart finds them through their records). */
  close(): Promise<void>;
}

export interface FreshSandboxSourceDeps {
  config: Pick<Config, 'sandbox'>;
  provider: SandboxProvider;
  sandboxes: Pick<SandboxRepository, 'insert' | 'findById' | 'transition' | 'accrueCost'>;
  metrics: Metrics;
  log: Logger;
  /** cost accrual / gauge interval (default 15 s) */
  tickMs?: number;
}

/** Approach 1 hands each sandbox to one workspace, once: its lease generation is always 1. */
const FRESH_LEASE = 1;

/** Approach 1's source: a fresh sandbox per workspace, killed on release. */
export function createFreshSandboxSource(deps: FreshSandboxSourceDeps): SandboxSource {
  const { config, provider, sandboxes, metrics, log } = deps;
  if (config.sandbox.timeoutMs <= 0) {
    throw new DomainError(ErrorType.Validation, 'sandbox.timeoutMs must be positive', {
      details: { field: 'sandbox.timeoutMs' },
    });
  }
  const tickMs = deps.tickMs ?? 15_000;
  const handles = new Map<string, Sandbox>();
  let timer: NodeJS.Timeout | null = null;

  const addCost = (seconds: number): void => {
    if (seconds > 0) metrics.sandboxCost.labels('simple').inc(seconds * config.sandbox.pricePerSecond);
  };
  const accrue = async (): Promise<void> => {
    const s = await sandboxes.accrueCost({ pooled: false, provider: provider.name });
    addCost(s.simple);
  };
  const tick = async (): Promise<void> => {
    try {
      await accrue();
      metrics.sandboxesRunning.labels(provider.name).set(await provider.running());
      metrics.sandboxLimit.labels(provider.name).set(config.sandbox.planConcurrencyLimit);
    } catch (e) {
      log.warn({ err: (e as Error).message }, 'simple service tick failed');
    }
  };

  return {
    async obtain(ws) {
      const timeoutMs = config.sandbox.timeoutMs;
      const sb = await provider.create({
        metadata: { sgcApproach: 'simple', agentId: ws.agentId, taskId: ws.taskId, workspaceId: ws.id },
        timeoutMs,
      });
      try {
        await sandboxes.insert({
          sandboxId: sb.id,
          provider: provider.name,
          isPooled: false,
          status: 'initializing',
          agentId: ws.agentId,
          taskId: ws.taskId,
          repoUrl: ws.repoUrl,
          branch: ws.baseBranch,
          agentBranch: ws.agentBranch,
          expiresInMs: timeoutMs,
          config: { workspaceId: ws.id },
          lease: FRESH_LEASE,
        });
      } catch (e) {
        await sb.kill().catch(() => undefined);
        throw e;
      }
      handles.set(sb.id, sb);
      return { sandbox: sb, lease: FRESH_LEASE };
    },

    async ready(sandboxId) {
      await sandboxes.transition(sandboxId, 'in_use', { lastOperation: 'clone', touch: true });
    },

    async giveBack(sandboxId, lease, handle) {
      // only the holder's lease (a record written before leases existed has 0 on both sides)
      const rec = await sandboxes.findById(sandboxId);
      if (rec && rec.lease !== lease) {
        log.info({ sandboxId, lease, current: rec.lease }, "giving back skipped: the lease is not this caller's");
        return;
      }
      try {
        const sb = handle ?? (await provider.connect(sandboxId));
        await sb.kill();
      } catch (e) {
        if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
      }
      handles.delete(sandboxId);
      try {
        const t = await sandboxes.transition(sandboxId, 'terminated', { lastOperation: 'release' });
        addCost(t.accruedSeconds);
      } catch (e) {
        if (!isDomainError(e, ErrorType.NotFound)) throw e;
      }
    },

    // approach 1 never reuses a sandbox: killing it is all a revocation takes
    revoke(sandboxId, lease) {
      return this.giveBack(sandboxId, lease, null);
    },

    async connect(sandboxId) {
      const cached = handles.get(sandboxId);
      if (cached) return cached;
      const sb = await provider.connect(sandboxId);
      handles.set(sandboxId, sb);
      return sb;
    },

    async start() {
      if (timer) return;
      await tick();
      timer = setInterval(() => void tick(), tickMs);
      timer.unref();
    },

    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      await accrue().catch(() => undefined);
    },
  };
}

/** Approach 2's source: warm sandboxes from `pool`, returned to it on release. */
export function createPoolSandboxSource(pool: SandboxPool, log?: Logger): SandboxSource {
  return {
    async obtain(ws) {
      const { sandbox, lease } = await pool.acquire({
        agentId: ws.agentId,
        taskId: ws.taskId,
        repoUrl: ws.repoUrl,
        branch: ws.baseBranch,
        agentBranch: ws.agentBranch,
      });
      return { sandbox, lease };
    },
    // the pool marked it in use when it handed it out
    ready: async () => undefined,
    async giveBack(sandboxId, lease, handle) {
      const r = await pool.release(handle ?? sandboxId, lease);
      if (r.stale)
        log?.info(
          { sandboxId, lease, inProgress: r.inProgress === true },
          "giving back skipped: the lease is not this caller's any more",
        );
    },
    async revoke(sandboxId, lease) {
      await pool.revoke(sandboxId, lease);
    },
    connect: (sandboxId) => pool.connect(sandboxId),
    /** Reconnects to recorded sandboxes and pre-warms the pool to its minimum. */
    start: async () => {
      await pool.start();
    },
    /** Stops the pool's ticker; idle sandboxes stay warm for a restart. */
    close: () => pool.stop(),
  };
}
