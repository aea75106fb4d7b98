import { performance } from 'node:perf_hooks';
import type { Db } from '../db/index.js';
import type { EncryptionKey } from '../crypto.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { Sandbox, SandboxProvider } from '../sandbox/types.js';
import {
  createSandboxRepository,
  PENDING_PREFIX,
  type Assignment,
  type SandboxRecord,
  type SandboxRepository,
} from '../store/sandboxes.js';

/**
 * Approach 2's warm sandbox pool (seed 004: min 3, max 10, TTL 1 h, health check on return,
 * replace unhealthy ones). The pool's state lives in `git_sandboxes`, not in memory: acquiring is
 * an atomic claim of a `ready` row (SKIP LOCKED) and creating is gated by a reservation under an
 * advisory lock, so several processes (API, workers) can share one pool without exceeding `max`
 * or handing one sandbox to two agents, and a restarted process finds its sandboxes again.
 *
 * Row lifecycle: initializing → ready (idle) → in_use → ready (returned healthy) | error → terminated.
 * "min" counts live sandboxes (idle + in use), as in the seed's diagram: pre-warm 3, one taken
 * leaves 2 idle + 1 in use.
 *
 * Ownership: every hand-out to an agent bumps the sandbox's lease generation and returns it;
 * release, the wipe and the health verdict act only for the generation they were given. Of two
 * releases of one lease (two DELETEs, an activity retried while its first attempt still runs)
 * exactly one wipes the sandbox; a release of a lease that is over does nothing and says so
 * (`stale`), so the next agent's sandbox is never wiped or handed to a third agent.
 */

export interface PoolSettings {
  min: number;
  max: number;
  /** sandboxes older than this are retired (idle: by cleanupExpired; in use: when returned) */
  ttlSeconds: number;
  /** how long acquire waits for a free slot before PoolExhausted */
  acquireTimeoutMs: number;
  /**
   * USD per sandbox-second (gitops_sandbox_cost_dollars_total{approach="pooled"}); default: the
   * provider's pricing hook for the size its sandboxes report (E2B: vCPUs and memory)
   */
  pricePerSecond?: number;
  /** provider lifetime given at create, on acquire and at each renewal (default: ttlSeconds) */
  sandboxTimeoutMs?: number;
  /**
   * The plan's maximum lifetime from a sandbox's start (default: the provider's; E2B Hobby 1 h).
   * No renewal reaches past it, so a sandbox older than maxLifetimeMs − minRemainingMs is retired
   * instead of being handed to an agent.
   */
  maxLifetimeMs?: number;
  /** life an acquired sandbox must have left (default 15 min, at most half the plan maximum) */
  minRemainingMs?: number;
  /** a provider sandbox with our labels but no live row, younger than this, is not an orphan yet (default 2 min) */
  orphanGraceMs?: number;
  /** plan limit shown as gitops_sandbox_limit */
  limit?: number;
  /** directory under the sandbox home holding workspaces; wiped on return (default 'ws') */
  workspaceRoot?: string;
  /** how often cost is accrued and gauges refreshed (default 15 s) */
  tickMs?: number;
  /** poll interval while waiting for a slot (default 50 ms); local releases wake waiters at once */
  pollMs?: number;
  /** an `initializing` row older than this is a crashed creation (default 2 min) */
  initializingGraceMs?: number;
  /**
   * a release that began this long ago and never finished is presumed dead: the next release of
   * that lease, or the cleanup, retires the sandbox instead of reusing it (default 5 min: the
   * wipe's 60 s command timeout and the release activity's 1 min, with room to spare)
   */
  releaseTakeoverMs?: number;
}

export interface PoolDeps {
  provider: SandboxProvider;
  db: Db;
  key: EncryptionKey;
  metrics?: Metrics;
  log?: Logger;
}

export interface Acquired {
  sandbox: Sandbox;
  /** the lease generation this agent holds: give it back with release(sandbox, lease) */
  lease: number;
  result: 'reused' | 'created';
  waitedMs: number;
}

export interface ReleaseResult {
  /** back in the pool as idle */
  returned: boolean;
  /** retired (unhealthy, expired, gone, or its release was abandoned) */
  retired: boolean;
  reason?: 'unhealthy' | 'expired' | 'gone' | 'abandoned';
  /** sandboxes created to keep the minimum */
  created: number;
  /**
   * nothing was done: the lease is over (already released, or the sandbox went on to another
   * agent), or another release of it is running (`inProgress`)
   */
  stale?: boolean;
  inProgress?: boolean;
}

/** Metadata label marking sandboxes this pool created (searchable on E2B, no secrets). */
export const POOL_METADATA = { sgcApproach: 'pooled' } as const;
/** The approaches whose sandboxes the orphan sweep looks for (approach 1 labels its own `simple`). */
const SWEPT_APPROACHES = ['pooled', 'simple'] as const;
/**
 * The pool gauges are refreshed at most this often after acquisitions and releases (trailing: the
 * last change is always reflected). A refresh is a count query plus the provider's list of live
 * sandboxes (a directory scan locally, a paginated API call on E2B): once per acquire and per
 * release it competed with the next claim on a loaded machine.
 */
const GAUGE_REFRESH_MS = 1_000;

type ResolvedSettings = Required<Omit<PoolSettings, 'pricePerSecond' | 'maxLifetimeMs'>> &
  Pick<PoolSettings, 'pricePerSecond' | 'maxLifetimeMs'>;

export class SandboxPool {
  readonly settings: ResolvedSettings;
  /** when idle sandboxes are retired: the pool TTL, or earlier when the plan's cap leaves too little */
  private readonly retireAfterMs: number;
  /** USD per sandbox-second from the provider's pricing hook and the size sandboxes report */
  private observedPricePerSecond: number;
  private readonly capWarned = new Set<string>();
  private ticking = false;
  private readonly provider: SandboxProvider;
  /** git_sandboxes: the pool's state */
  private readonly sandboxes: SandboxRepository;
  private readonly metrics?: Metrics;
  private readonly log?: Logger;
  private readonly handles = new Map<string, Sandbox>();
  private readonly waiters = new Set<() => void>();
  private timer: NodeJS.Timeout | null = null;
  private gaugeRefresh: Promise<void> | null = null;
  /** a refresh waiting for GAUGE_REFRESH_MS since the last one (trailing) */
  private gaugeTimer: NodeJS.Timeout | null = null;
  /** acquisitions or releases since the last refresh read the counts */
  private gaugeDirty = false;
  private lastGaugeRefresh = 0;
  private started = false;

  constructor(deps: PoolDeps, settings: PoolSettings) {
    if (settings.min > settings.max)
      throw new DomainError(ErrorType.Validation, 'pool.min must not exceed pool.max', {
        details: { field: 'pool.min' },
      });
    this.provider = deps.provider;
    this.sandboxes = createSandboxRepository(deps.db, { key: deps.key });
    this.metrics = deps.metrics;
    this.log = deps.log;
    const maxLifetimeMs = settings.maxLifetimeMs ?? deps.provider.maxLifetimeMs;
    const defaults = {
      sandboxTimeoutMs: settings.ttlSeconds * 1000,
      limit: settings.max,
      workspaceRoot: 'ws',
      tickMs: 15_000,
      pollMs: 50,
      initializingGraceMs: 120_000,
      minRemainingMs: Math.min(900_000, (maxLifetimeMs ?? Infinity) / 2),
      orphanGraceMs: 120_000,
      releaseTakeoverMs: 300_000,
    };
    this.settings = { ...defaults, ...settings, maxLifetimeMs };
    const { minRemainingMs, ttlSeconds } = this.settings;
    if (maxLifetimeMs !== undefined && minRemainingMs >= maxLifetimeMs) {
      throw new DomainError(
        ErrorType.Validation,
        "pool.minRemainingSeconds must be below the plan's maximum sandbox lifetime",
        {
          details: { field: 'pool.minRemainingSeconds', maxLifetimeMs },
        },
      );
    }
    this.retireAfterMs = Math.min(
      ttlSeconds * 1000,
      maxLifetimeMs === undefined ? Infinity : maxLifetimeMs - minRemainingMs,
    );
    this.observedPricePerSecond = deps.provider.costPerSecond();
  }

  /** The provider lifetime to ask for: the configured one, never more than the plan allows. */
  private get leaseMs(): number {
    return Math.min(this.settings.sandboxTimeoutMs, this.settings.maxLifetimeMs ?? Infinity);
  }

  /**
   * Reconnects to the sandboxes recorded as live (after a restart), retires those that are gone
   * or were left half-made, pre-warms to `min`, and starts the cost/gauge ticker. Safe to call
   * again.
   */
  async start(): Promise<{ reconnected: number; retired: number; created: number }> {
    const { reconnected, retired } = await this.reconcile();
    const created = await this.ensureMin();
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.settings.tickMs);
      this.timer.unref();
    }
    this.started = true;
    await this.refreshGauges();
    this.log?.info(
      { reconnected, retired, created, min: this.settings.min, max: this.settings.max },
      'sandbox pool started',
    );
    return { reconnected, retired, created };
  }

  /**
   * A sandbox for an agent: a warm idle one (`reused`), else a new one while fewer than `max`
   * are live (`created`), else waits up to acquireTimeoutMs → DomainError(PoolExhausted).
   */
  async acquire(a: Assignment): Promise<Acquired> {
    const started = performance.now();
    const deadline = started + this.settings.acquireTimeoutMs;
    for (;;) {
      const rec = await this.sandboxes.claimIdle(this.provider.name, a);
      if (rec) {
        const sb = await this.adoptClaimed(rec);
        if (sb) {
          this.metrics?.poolAcquisitions.labels('reused').inc();
          this.scheduleGaugeRefresh();
          return { sandbox: sb, lease: rec.lease, result: 'reused', waitedMs: performance.now() - started };
        }
        continue;
      }
      const placeholder = await this.sandboxes.reservePooledSlot({
        provider: this.provider.name,
        limit: this.settings.max,
        expiresInMs: this.retireAfterMs,
      });
      if (placeholder) {
        const { sandbox: sb, lease } = await this.createReserved(placeholder, a);
        this.metrics?.poolAcquisitions.labels('created').inc();
        this.scheduleGaugeRefresh();
        return { sandbox: sb, lease, result: 'created', waitedMs: performance.now() - started };
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) {
        this.scheduleGaugeRefresh();
        throw new DomainError(
          ErrorType.PoolExhausted,
          `no sandbox free within ${this.settings.acquireTimeoutMs} ms (max ${this.settings.max})`,
          {
            details: { max: this.settings.max, waitedMs: Math.round(performance.now() - started) },
          },
        );
      }
      await this.waitForSlot(Math.min(this.settings.pollMs, remaining));
    }
  }

  /**
   * A claimed row's handle, lifetime renewed; null (row retired) when the sandbox is gone or the
   * plan's cap leaves it less than minRemainingMs.
   */
  private async adoptClaimed(rec: SandboxRecord): Promise<Sandbox | null> {
    let endAt: Date;
    let sb: Sandbox;
    try {
      sb = await this.connect(rec.sandboxId);
      // the workspace gets a full lifetime from now, however long the sandbox sat idle — as far
      // as the plan allows: the provider reports the end it really set
      endAt = await sb.setTimeout(this.leaseMs);
    } catch (e) {
      if (!isDomainError(e, ErrorType.SandboxGone)) {
        // could not verify it: put it back for the health check to judge, and fail this acquire
        await this.sandboxes
          .transition(rec.sandboxId, 'error', { from: ['in_use'], lease: rec.lease, lastOperation: 'acquire' })
          .catch(() => undefined);
        await this.sandboxes
          .recordError(rec.sandboxId, (e as Error).message, { operation: 'acquire' })
          .catch(() => undefined);
        await this.retire(rec.sandboxId, 'acquire failed');
        throw e;
      }
      await this.retire(rec.sandboxId, 'gone');
      return null;
    }
    // capped: the plan's maximum lifetime leaves less than an agent session needs
    if (endAt.getTime() - Date.now() < Math.min(this.settings.minRemainingMs, this.leaseMs * 0.9)) {
      await this.retire(rec.sandboxId, 'lifetime cap');
      void this.ensureMin().catch(() => undefined);
      return null;
    }
    return sb;
  }

  /** Creates the sandbox for a reservation; ready (pre-warm) or in_use for `a` (with its lease). */
  private async createReserved(placeholder: string, a?: Assignment): Promise<{ sandbox: Sandbox; lease: number }> {
    let sb: Sandbox;
    try {
      sb = await this.provider.create({
        metadata: { ...POOL_METADATA, sgcReservation: placeholder },
        timeoutMs: this.leaseMs,
      });
    } catch (e) {
      await this.sandboxes.cancelReservation(placeholder).catch(() => undefined);
      this.wake();
      throw e;
    }
    try {
      await this.sandboxes.bindReservation(placeholder, sb.id);
      this.handles.set(sb.id, sb);
      if (a) {
        const t = await this.sandboxes.transition(sb.id, 'in_use', {
          from: ['initializing'],
          agentId: a.agentId,
          taskId: a.taskId,
          repoUrl: a.repoUrl ?? '',
          branch: a.branch ?? 'main',
          agentBranch: a.agentBranch ?? null,
          lastOperation: 'acquire',
          touch: true,
          bumpLease: true,
        });
        return { sandbox: sb, lease: t.record.lease };
      }
      await this.sandboxes.transition(sb.id, 'ready', { from: ['initializing'], lastOperation: 'prewarm' });
      this.wake();
      return { sandbox: sb, lease: 0 };
    } catch (e) {
      this.handles.delete(sb.id);
      await sb.kill().catch(() => undefined);
      await this.sandboxes.cancelReservation(placeholder).catch(() => undefined);
      await this.retire(sb.id, 'create failed').catch(() => undefined);
      throw e;
    }
  }

  /** The live handle for a recorded sandbox (cached; reconnects by id after a restart). */
  async connect(sandboxId: string): Promise<Sandbox> {
    const cached = this.handles.get(sandboxId);
    if (cached) return cached;
    const sb = await this.provider.connect(sandboxId);
    this.handles.set(sandboxId, sb);
    return sb;
  }

  /**
   * Returns the sandbox an agent holds under `lease`: its workspaces are wiped and it is
   * health-checked. Healthy and within its TTL → idle again; otherwise it is killed, recorded
   * terminated (unhealthy ones via `error`, with the reason encrypted in last_error) and replaced
   * to keep `min`. Only one release of a lease does this: releasing again, releasing a lease that
   * is over (the sandbox belongs to the next agent by now) or an unknown sandbox changes nothing
   * and answers `stale`. A release of this lease that started long ago and never finished
   * (`releaseTakeoverMs`) is presumed dead: the sandbox is then retired, never reused.
   */
  async release(sandbox: Sandbox | string, lease: number): Promise<ReleaseResult> {
    const id = typeof sandbox === 'string' ? sandbox : sandbox.id;
    const start = await this.sandboxes.beginRelease(id, lease, this.settings.releaseTakeoverMs);
    if (start.outcome === 'stale' || start.outcome === 'in_progress') {
      const cur = start.record;
      this.log?.info(
        { sandboxId: id, lease, current: cur?.lease, status: cur?.status, outcome: start.outcome },
        "sandbox release skipped: not this lease's to do",
      );
      const mine = cur?.lease === lease;
      return {
        returned: mine && cur?.status === 'ready',
        retired: mine && cur?.status === 'terminated',
        created: 0,
        stale: true,
        ...(start.outcome === 'in_progress' ? { inProgress: true } : {}),
      };
    }
    if (start.outcome === 'taken_over') {
      await this.retire(id, 'release abandoned');
      const created = await this.ensureMin();
      this.scheduleGaugeRefresh();
      return { returned: false, retired: true, reason: 'abandoned', created };
    }
    const rec = start.record;
    let sb: Sandbox | null = typeof sandbox === 'string' ? null : sandbox;
    if (!sb) {
      try {
        sb = await this.connect(id);
      } catch (e) {
        if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
      }
    }
    let reason: ReleaseResult['reason'];
    if (!sb) {
      reason = 'gone';
    } else if (rec.expiresAt !== null && rec.expiresAt.getTime() <= Date.now()) {
      reason = 'expired';
    } else if (!(await this.wipeAndCheck(sb))) {
      reason = 'unhealthy';
    }
    if (reason === undefined) {
      const returned = await this.sandboxes.finishRelease(id, lease, 'ready');
      this.wake();
      this.scheduleGaugeRefresh();
      return { returned, retired: false, created: 0 };
    }
    if (reason === 'unhealthy') {
      await this.sandboxes.recordError(id, 'health check failed when the sandbox was returned', {
        operation: 'release',
      });
      await this.sandboxes.finishRelease(id, lease, 'error');
    }
    await this.retire(id, reason);
    const created = await this.ensureMin();
    this.scheduleGaugeRefresh();
    return { returned: false, retired: true, reason, created };
  }

  /**
   * Takes back the sandbox of a superseded holder (a create attempt a retry replaced) and
   * retires it: whatever that holder still runs in it stops, and nobody else ever gets it. Only
   * while the sandbox is still at `lease`; otherwise (it moved on) nothing happens.
   */
  async revoke(sandboxId: string, lease: number): Promise<{ retired: boolean }> {
    const start = await this.sandboxes.beginRelease(sandboxId, lease, 0);
    if (start.outcome !== 'won' && start.outcome !== 'taken_over') return { retired: false };
    await this.retire(sandboxId, 'revoked');
    await this.ensureMin();
    this.scheduleGaugeRefresh();
    return { retired: true };
  }

  /** Wipes the workspace root and probes the sandbox; false on any failure. */
  private async wipeAndCheck(sb: Sandbox): Promise<boolean> {
    try {
      const r = await sb.run(['rm', '-rf', '--', this.settings.workspaceRoot], { timeoutMs: 60_000 });
      if (r.exitCode !== 0) return false;
      return await sb.isHealthy();
    } catch {
      return false;
    }
  }

  /**
   * Probes every idle sandbox; an unhealthy one is taken out (ready → error, reason encrypted),
   * killed and terminated, and the pool is topped up to `min`. Running it twice in a row finds
   * the pool healthy the second time.
   */
  async healthCheck(): Promise<{ checked: number; unhealthy: number; created: number }> {
    const idle = await this.sandboxes.listByStatus(['ready'], { pooled: true, provider: this.provider.name });
    let unhealthy = 0;
    await Promise.all(
      idle
        .filter((r) => !r.sandboxId.startsWith(PENDING_PREFIX))
        .map(async (r) => {
          let ok = false;
          try {
            ok = await (await this.connect(r.sandboxId)).isHealthy();
          } catch {
            ok = false;
          }
          if (ok) return;
          try {
            // only if still idle at the lease probed: an agent may have claimed it meanwhile (then
            // its release checks it), or claimed and returned it (a new lease: this verdict is stale)
            await this.sandboxes.transition(r.sandboxId, 'error', {
              from: ['ready'],
              lease: r.lease,
              lastOperation: 'health_check',
            });
          } catch (e) {
            if (isDomainError(e, ErrorType.Validation)) {
              this.log?.info(
                { sandboxId: r.sandboxId, lease: r.lease },
                'stale health verdict ignored: the sandbox changed hands',
              );
              return;
            }
            throw e;
          }
          unhealthy++;
          await this.sandboxes.recordError(r.sandboxId, 'health check failed', { operation: 'health_check' });
          await this.retire(r.sandboxId, 'unhealthy');
        }),
    );
    const created = await this.ensureMin();
    await this.refreshGauges();
    if (unhealthy > 0)
      this.log?.warn({ checked: idle.length, unhealthy, created }, 'pool health check replaced sandboxes');
    return { checked: idle.length, unhealthy, created };
  }

  /**
   * Retires idle sandboxes past their TTL, sandboxes left in `error`, and creations that never
   * finished; reaps records of sandboxes that no longer exist; tops up to `min`.
   */
  async cleanupExpired(): Promise<{
    expired: number;
    errored: number;
    stale: number;
    reaped: number;
    orphans: number;
    created: number;
  }> {
    const filter = { pooled: true, provider: this.provider.name };
    // acquire never claims an expired row, so killing before the status change is race-free
    const expired = await this.sandboxes.listExpired({ ...filter, statuses: ['ready'] });
    for (const r of expired) await this.retire(r.sandboxId, 'expired');
    const errored = await this.sandboxes.listByStatus(['error'], filter);
    for (const r of errored) await this.retire(r.sandboxId, 'error');
    const stale = await this.retireStaleInitializing();
    // releases that began and never finished (their process died, and no retry came)
    for (const r of await this.sandboxes.listAbandonedReleases({
      ...filter,
      olderThanMs: this.settings.releaseTakeoverMs,
    })) {
      const start = await this.sandboxes.beginRelease(r.sandboxId, r.lease, this.settings.releaseTakeoverMs);
      if (start.outcome === 'taken_over') await this.retire(r.sandboxId, 'release abandoned');
    }
    // rows first, then the provider's list: a sandbox recorded before the list was taken and
    // missing from it is really gone
    const live = await this.sandboxes.listByStatus(['ready', 'in_use'], filter);
    const alive = new Set((await this.provider.list({ metadata: { ...POOL_METADATA } })).map((s) => s.id));
    let reaped = 0;
    for (const r of live) {
      if (alive.has(r.sandboxId)) continue;
      try {
        // by id, without connecting (a connect could extend or resume it)
        await this.provider.info(r.sandboxId);
        continue; // listed lazily (or labelled differently) but alive
      } catch (e) {
        if (!isDomainError(e, ErrorType.SandboxGone)) continue;
      }
      await this.retire(r.sandboxId, 'gone');
      reaped++;
    }
    const orphans = await this.sweepOrphans();
    const created = await this.ensureMin();
    await this.refreshGauges();
    return { expired: expired.length, errored: errored.length, stale, reaped, orphans, created };
  }

  /**
   * Kills the provider's sandboxes that carry our labels (either approach) but have no live row:
   * a create that timed out on our side but succeeded at the provider, a kill that failed when the
   * row was terminated, a process that died between creating and recording. Kills are by id —
   * nothing is connected, so nothing is resumed or extended. Sandboxes younger than orphanGraceMs
   * and those whose reservation is still open are being created right now and are left alone.
   */
  async sweepOrphans(): Promise<number> {
    const rows = await this.sandboxes.listByStatus(['initializing', 'ready', 'in_use', 'error'], {
      provider: this.provider.name,
    });
    const live = new Set(rows.map((r) => r.sandboxId));
    const listed = (
      await Promise.all(SWEPT_APPROACHES.map((a) => this.provider.list({ metadata: { sgcApproach: a } })))
    ).flat();
    let killed = 0;
    for (const s of listed) {
      if (live.has(s.id) || (s.metadata.sgcReservation && live.has(s.metadata.sgcReservation))) continue;
      if (Date.now() - s.startedAt.getTime() < this.settings.orphanGraceMs) continue;
      // recorded since the rows were read?
      const rec = await this.sandboxes.findById(s.id);
      if (rec && rec.status !== 'terminated') continue;
      try {
        if (await this.provider.kill(s.id)) killed++;
        this.handles.delete(s.id);
      } catch (e) {
        this.log?.warn({ sandboxId: s.id, err: (e as Error).message }, 'orphan sandbox kill failed');
      }
    }
    if (killed > 0) this.log?.warn({ killed }, 'orphan sandboxes killed');
    return killed;
  }

  /**
   * Renews the provider lifetime of live pooled sandboxes (idle and in use) whose end is less than
   * half a lease away, so an agent's long session is not cut at the lease: the provider's plan
   * cap (start + maximum) is the only end. Runs on every tick. Also learns the size sandboxes
   * really have, for the pricing hook.
   */
  async renewLeases(): Promise<{ renewed: number; capped: number }> {
    const rows = (
      await this.sandboxes.listByStatus(['ready', 'in_use'], { pooled: true, provider: this.provider.name })
    ).filter((r) => !r.sandboxId.startsWith(PENDING_PREFIX));
    if (rows.length === 0) return { renewed: 0, capped: 0 };
    const infos = new Map((await this.provider.list({ metadata: { ...POOL_METADATA } })).map((i) => [i.id, i]));
    const sized = [...infos.values()].find((i) => i.cpuCount !== undefined || i.memoryMB !== undefined);
    if (sized) this.observedPricePerSecond = this.provider.costPerSecond(sized);
    const renewBelowMs = this.leaseMs / 2;
    let renewed = 0;
    let capped = 0;
    for (const r of rows) {
      const info = infos.get(r.sandboxId);
      if (!info || info.endAt.getTime() - Date.now() > renewBelowMs) continue; // gone (cleanup reaps it) or fine
      try {
        const endAt = await (await this.connect(r.sandboxId)).setTimeout(this.leaseMs);
        renewed++;
        if (endAt.getTime() - Date.now() < renewBelowMs) {
          capped++;
          if (!this.capWarned.has(r.sandboxId)) {
            this.capWarned.add(r.sandboxId);
            this.log?.warn(
              { sandboxId: r.sandboxId, status: r.status, endAt },
              "pooled sandbox reaches the plan's lifetime cap",
            );
          }
        }
      } catch (e) {
        this.log?.warn({ sandboxId: r.sandboxId, err: (e as Error).message }, 'pooled sandbox lease renewal failed');
      }
    }
    return { renewed, capped };
  }

  /**
   * Stops the ticker and accrues the last cost slice. Sandboxes stay up (a restart reconnects to
   * them) unless `terminateIdle`, which retires the idle ones.
   */
  async stop(opts: { terminateIdle?: boolean } = {}): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.started = false;
    for (const wake of [...this.waiters]) wake();
    if (opts.terminateIdle) {
      const idle = await this.sandboxes.listByStatus(['ready', 'error'], {
        pooled: true,
        provider: this.provider.name,
      });
      for (const r of idle) await this.retire(r.sandboxId, 'pool stopped');
    }
    if (this.gaugeTimer) clearTimeout(this.gaugeTimer);
    this.gaugeTimer = null;
    await this.gaugeRefresh?.catch(() => undefined);
    await this.accrue().catch(() => undefined);
  }

  /** Counts of pooled sandboxes by state, from the database (all processes). */
  async stats(): Promise<{ idle: number; inUse: number; initializing: number; unhealthy: number; live: number }> {
    const c = await this.sandboxes.countByStatus({ pooled: true, provider: this.provider.name });
    return {
      idle: c.ready,
      inUse: c.in_use,
      initializing: c.initializing,
      unhealthy: c.error,
      live: c.ready + c.in_use + c.initializing,
    };
  }

  get isStarted(): boolean {
    return this.started;
  }

  /** Kills (best effort) and records terminated, accruing the sandbox's last cost slice. */
  async retire(sandboxId: string, reason: string): Promise<void> {
    if (!sandboxId.startsWith(PENDING_PREFIX)) {
      try {
        // by id when there is no handle: connecting first could extend or resume it
        const sb = this.handles.get(sandboxId);
        if (sb) await sb.kill();
        else await this.provider.kill(sandboxId);
      } catch (e) {
        if (!isDomainError(e, ErrorType.SandboxGone))
          this.log?.warn({ sandboxId, err: (e as Error).message }, 'sandbox kill failed');
      }
    }
    this.handles.delete(sandboxId);
    this.capWarned.delete(sandboxId);
    try {
      const t = await this.sandboxes.transition(sandboxId, 'terminated', { lastOperation: reason });
      this.addCost(t.accruedSeconds);
    } catch (e) {
      if (!isDomainError(e, ErrorType.NotFound)) throw e;
    }
    this.log?.info({ sandboxId, reason }, 'pooled sandbox retired');
    this.wake();
  }

  /** Creates sandboxes (in parallel) until `min` are live. Returns how many it created. */
  async ensureMin(): Promise<number> {
    const placeholders: string[] = [];
    for (;;) {
      const p = await this.sandboxes.reservePooledSlot({
        provider: this.provider.name,
        limit: this.settings.min,
        expiresInMs: this.retireAfterMs,
      });
      if (!p) break;
      placeholders.push(p);
    }
    const results = await Promise.allSettled(placeholders.map((p) => this.createReserved(p)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed.length > 0)
      this.log?.warn(
        { failed: failed.length, err: (failed[0].reason as Error).message },
        'pre-warming sandboxes failed',
      );
    return results.length - failed.length;
  }

  private async reconcile(): Promise<{ reconnected: number; retired: number }> {
    const filter = { pooled: true, provider: this.provider.name };
    let reconnected = 0;
    let retired = 0;
    for (const r of await this.sandboxes.listByStatus(['ready', 'in_use'], filter)) {
      try {
        await this.connect(r.sandboxId);
        reconnected++;
      } catch (e) {
        if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
        await this.retire(r.sandboxId, 'gone after restart');
        retired++;
      }
    }
    for (const r of await this.sandboxes.listByStatus(['error'], filter)) {
      await this.retire(r.sandboxId, 'error');
      retired++;
    }
    retired += await this.retireStaleInitializing();
    return { reconnected, retired };
  }

  /** Creations a crashed process left half-made: kill what the provider made and drop the rows. */
  private async retireStaleInitializing(): Promise<number> {
    const rows = await this.sandboxes.listByStatus(['initializing'], { pooled: true, provider: this.provider.name });
    const stale = rows.filter((r) => Date.now() - r.createdAt.getTime() > this.settings.initializingGraceMs);
    for (const r of stale) {
      if (r.sandboxId.startsWith(PENDING_PREFIX)) {
        for (const s of await this.provider.list({ metadata: { sgcReservation: r.sandboxId } })) {
          await this.provider.kill(s.id).catch(() => undefined);
        }
      }
      await this.retire(r.sandboxId, 'creation never finished');
    }
    return stale.length;
  }

  private addCost(seconds: number): void {
    if (seconds > 0)
      this.metrics?.sandboxCost
        .labels('pooled')
        .inc(seconds * (this.settings.pricePerSecond ?? this.observedPricePerSecond));
  }

  private async accrue(): Promise<void> {
    const s = await this.sandboxes.accrueCost({ pooled: true, provider: this.provider.name });
    this.addCost(s.pooled);
  }

  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      await this.renewLeases();
      await this.accrue();
      await this.refreshGauges();
    } catch (e) {
      this.log?.warn({ err: (e as Error).message }, 'pool tick failed');
    } finally {
      this.ticking = false;
    }
  }

  /** Sets gitops_pool_sandboxes{state}, gitops_sandboxes_running and gitops_sandbox_limit. */
  async refreshGauges(): Promise<void> {
    if (!this.metrics) return;
    const s = await this.stats();
    this.metrics.poolSandboxes.labels('idle').set(s.idle);
    this.metrics.poolSandboxes.labels('in_use').set(s.inUse);
    this.metrics.poolSandboxes.labels('unhealthy').set(s.unhealthy);
    this.metrics.sandboxesRunning.labels(this.provider.name).set(await this.provider.running());
    this.metrics.sandboxLimit.labels(this.provider.name).set(this.settings.limit);
  }

  /**
   * Off the hot path: after acquire/release the gauges are refreshed at most every
   * GAUGE_REFRESH_MS (a change during a refresh schedules one more).
   */
  private scheduleGaugeRefresh(): void {
    if (!this.metrics) return;
    this.gaugeDirty = true;
    if (this.gaugeRefresh || this.gaugeTimer) return;
    const wait = Math.max(0, this.lastGaugeRefresh + GAUGE_REFRESH_MS - Date.now());
    this.gaugeTimer = setTimeout(() => {
      this.gaugeTimer = null;
      this.gaugeDirty = false;
      this.lastGaugeRefresh = Date.now();
      this.gaugeRefresh = this.refreshGauges()
        .catch((e: Error) => this.log?.debug({ err: e.message }, 'pool gauge refresh failed'))
        .finally(() => {
          this.gaugeRefresh = null;
          if (this.gaugeDirty && this.started) this.scheduleGaugeRefresh();
        });
    }, wait);
    this.gaugeTimer.unref();
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitForSlot(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(t);
        this.waiters.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }
}

export function createSandboxPool(deps: PoolDeps, settings: PoolSettings): SandboxPool {
  return new SandboxPool(deps, settings);
}
