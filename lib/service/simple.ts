import { createLocalLock, type LocalLock } from '../lock/local-lock.js';
import { DomainError, ErrorType, isDomainError } from '../errors.js';
import type { Sandbox } from '../sandbox/types.js';
import { accrueCost, insertSandbox, transitionSandbox } from '../store/sandboxes.js';
import { BaseGitService, type GitServiceDeps } from './base.js';

export interface SimpleServiceOptions {
  /** shared in-process lock (several services in one process serialise together) */
  lock?: LocalLock;
  /** cost accrual / gauge interval (default 15 s) */
  tickMs?: number;
}

/**
 * Approach 1, "simple" (seed 000): every workspace gets a fresh sandbox, pushes are serialised by
 * an in-process lock, the sandbox is killed on release. Its sandboxes are recorded in
 * git_sandboxes too (is_pooled = false), so a restarted process reconnects by id and cost and
 * errors are comparable with approach 2.
 */
export class SimpleGitService extends BaseGitService {
  readonly approach = 'simple' as const;
  readonly lock: LocalLock;
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;

  constructor(deps: GitServiceDeps, opts: SimpleServiceOptions = {}) {
    super(deps);
    // no acquire timeout: approach 1 queues pushes in arrival order; the activity's own
    // start-to-close timeout bounds the wait
    this.lock = opts.lock ?? createLocalLock({ metrics: deps.metrics });
    this.tickMs = opts.tickMs ?? 15_000;
  }

  protected async obtainSandbox(ws: { id: string; agentId: string; taskId: string; repoUrl: string; baseBranch: string; agentBranch: string }): Promise<Sandbox> {
    const timeoutMs = this.deps.config.sandbox.timeoutMs;
    const sb = await this.deps.provider.create({
      metadata: { sgcApproach: 'simple', agentId: ws.agentId, taskId: ws.taskId, workspaceId: ws.id },
      timeoutMs,
    });
    try {
      await insertSandbox(this.deps.db, {
        sandboxId: sb.id, provider: this.deps.provider.name, isPooled: false, status: 'initializing',
        agentId: ws.agentId, taskId: ws.taskId, repoUrl: ws.repoUrl, branch: ws.baseBranch, agentBranch: ws.agentBranch,
        expiresInMs: timeoutMs, config: { workspaceId: ws.id },
      });
    } catch (e) {
      await sb.kill().catch(() => undefined);
      throw e;
    }
    this.handles.set(sb.id, sb);
    return sb;
  }

  protected override async workspaceReady(sandboxId: string): Promise<void> {
    await transitionSandbox(this.deps.db, sandboxId, 'in_use', { lastOperation: 'clone', touch: true });
  }

  /** Kill on release (approach 1 keeps nothing warm). */
  protected async giveBack(sandboxId: string, handle: Sandbox | null): Promise<void> {
    try {
      const sb = handle ?? await this.deps.provider.connect(sandboxId);
      await sb.kill();
    } catch (e) {
      if (!isDomainError(e, ErrorType.SandboxGone)) throw e;
    }
    this.handles.delete(sandboxId);
    try {
      const t = await transitionSandbox(this.deps.db, sandboxId, 'terminated', { lastOperation: 'release' });
      this.addCost(t.accruedSeconds);
    } catch (e) {
      if (!isDomainError(e, ErrorType.NotFound)) throw e;
    }
  }

  protected withPushLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.lock.withLock(key, fn);
  }

  protected async connectSandbox(sandboxId: string): Promise<Sandbox> {
    const cached = this.handles.get(sandboxId);
    if (cached) return cached;
    const sb = await this.deps.provider.connect(sandboxId);
    this.handles.set(sandboxId, sb);
    return sb;
  }

  async start(): Promise<void> {
    if (this.timer) return;
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.accrue().catch(() => undefined);
    await this.flushReads();
  }

  private addCost(seconds: number): void {
    if (seconds > 0) this.deps.metrics.sandboxCost.labels('simple').inc(seconds * this.deps.config.sandbox.pricePerSecond);
  }

  private async accrue(): Promise<void> {
    const s = await accrueCost(this.deps.db, { pooled: false, provider: this.deps.provider.name });
    this.addCost(s.simple);
  }

  private async tick(): Promise<void> {
    try {
      await this.accrue();
      const { metrics, provider, config } = this.deps;
      metrics.sandboxesRunning.labels(provider.name).set(await provider.running());
      metrics.sandboxLimit.labels(provider.name).set(config.sandbox.limit);
    } catch (e) {
      this.deps.log.warn({ err: (e as Error).message }, 'simple service tick failed');
    }
  }
}

export function createSimpleGitService(deps: GitServiceDeps, opts: SimpleServiceOptions = {}): SimpleGitService {
  if (deps.config.sandbox.timeoutMs <= 0) {
    throw new DomainError(ErrorType.Validation, 'sandbox.timeoutMs must be positive', { details: { field: 'sandbox.timeoutMs' } });
  }
  return new SimpleGitService(deps, opts);
}
