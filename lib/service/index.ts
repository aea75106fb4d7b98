/**
 * The git service: approach 1 ("simple") and approach 2 ("pooled") as two compositions of the
 * same parts (service.ts), chosen by config `service.approach` or by the caller.
 *
 * | part              | approach 1 (seed 000)          | approach 2 (seed 004)                      |
 * |-------------------|--------------------------------|--------------------------------------------|
 * | operation tracker | metrics + operation_log        | the same                                   |
 * | sandbox source    | fresh sandbox, killed on release | warm pool, returned wiped + health-checked |
 * | push serializer   | in-process lock                | Postgres lock (TTL 30 s, acquire 5 s)      |
 */
import type { Config } from '../config/schema.js';
import { loadEncryptionKey, type EncryptionKey } from '../crypto.js';
import type { Db } from '../db/index.js';
import { createLocalLock, type LocalLock } from '../lock/local-lock.js';
import { createPushLock, type PushLock } from '../lock/push-lock.js';
import type { Logger } from '../log.js';
import type { Approach, Metrics } from '../metrics.js';
import { createSandboxPool, type SandboxPool } from '../pool/pool.js';
import { createProvider } from '../sandbox/index.js';
import type { SandboxProvider } from '../sandbox/types.js';
import { createOperationLogRepository } from '../store/operation-log.js';
import { createSandboxRepository } from '../store/sandboxes.js';
import { createWorkspaceRepository } from '../store/workspaces.js';
import { createLocalPushSerializer, createPostgresPushSerializer } from './push-serializer.js';
import { createFreshSandboxSource, createPoolSandboxSource } from './sandbox-source.js';
import { composeGitService, WORKSPACE_ROOT, type ComposedGitService } from './service.js';
import { createOperationTracker } from './tracker.js';

export * from './types.js';
export {
  composeGitService,
  WORKSPACE_ROOT,
  workspaceDirFor,
  type ComposedGitService,
  type GitServiceParts,
} from './service.js';
export { OPERATIONS, createOperationTracker, type OperationTracker } from './tracker.js';
export {
  createFreshSandboxSource,
  createPoolSandboxSource,
  type HeldSandbox,
  type SandboxSource,
} from './sandbox-source.js';
export { createLocalPushSerializer, createPostgresPushSerializer, type PushSerializer } from './push-serializer.js';
export { bindWorkspace, servingWorkspaceLookup } from './workspace-ref.js';

/** What both approaches are built from (one set per process, built in the composition root). */
export interface GitServiceDeps {
  config: Pick<Config, 'git' | 'push' | 'sandbox' | 'pool' | 'lock' | 'limits'>;
  db: Db;
  provider: SandboxProvider;
  metrics: Metrics;
  log: Logger;
  /** encrypts last_error (lib/crypto.ts loadEncryptionKey) */
  key: EncryptionKey;
}

/** Approach 1: fresh sandboxes + the in-process push lock. */
export interface SimpleGitService extends ComposedGitService<'simple'> {
  readonly lock: LocalLock;
}

/** Approach 2: the warm pool + the Postgres push lock. */
export interface PooledGitService extends ComposedGitService<'pooled'> {
  readonly pool: SandboxPool;
  readonly pushLock: PushLock;
}

/**
 * `s instanceof SimpleGitService` / `s instanceof PooledGitService` keep working for callers that
 * narrow that way: the approaches are compositions, not classes, so these test the shape.
 */
export const SimpleGitService = {
  [Symbol.hasInstance](v: unknown): v is SimpleGitService {
    return typeof v === 'object' && v !== null && (v as { approach?: unknown }).approach === 'simple' && 'lock' in v;
  },
};
export const PooledGitService = {
  [Symbol.hasInstance](v: unknown): v is PooledGitService {
    return typeof v === 'object' && v !== null && (v as { approach?: unknown }).approach === 'pooled' && 'pool' in v;
  },
};

export interface SimpleServiceOptions {
  /** shared in-process lock (several services in one process serialise together) */
  lock?: LocalLock;
  /** cost accrual / gauge interval (default 15 s) */
  tickMs?: number;
}

export interface PooledServiceOptions {
  /** an existing pool (tests, or a worker that also runs the maintenance chores on it) */
  pool?: SandboxPool;
  pushLock?: PushLock;
}

function trackerFor(approach: Approach, deps: GitServiceDeps) {
  return createOperationTracker({
    approach,
    metrics: deps.metrics,
    log: deps.log,
    pricePerSecond: deps.config.sandbox.pricePerSecond,
    operationLog: createOperationLogRepository(deps.db),
    sandboxes: createSandboxRepository(deps.db, { key: deps.key }),
  });
}

/**
 * Approach 1, "simple" (seed 000): every workspace gets a fresh sandbox, pushes are serialised by
 * an in-process lock, the sandbox is killed on release.
 */
export function createSimpleGitService(deps: GitServiceDeps, opts: SimpleServiceOptions = {}): SimpleGitService {
  // no acquire timeout: approach 1 queues pushes in arrival order; the activity's own
  // start-to-close timeout bounds the wait
  const lock = opts.lock ?? createLocalLock({ metrics: deps.metrics });
  const service = composeGitService({
    approach: 'simple',
    config: deps.config,
    workspaces: createWorkspaceRepository(deps.db),
    tracker: trackerFor('simple', deps),
    sandboxes: createFreshSandboxSource({
      config: deps.config,
      provider: deps.provider,
      sandboxes: createSandboxRepository(deps.db, { key: deps.key }),
      metrics: deps.metrics,
      log: deps.log,
      tickMs: opts.tickMs,
    }),
    pushes: createLocalPushSerializer(lock),
    log: deps.log,
  });
  return Object.assign(service, { lock });
}

/**
 * Approach 2, "pooled" (seed 004): sandboxes come from the warm pool and go back to it, pushes
 * are serialised across processes by the Postgres push lock keyed by sanitised remote + target
 * branch (TTL and acquire timeout from config `lock`), rejected pushes are retried with backoff
 * and `pull --rebase`.
 */
export function createPooledGitService(deps: GitServiceDeps, opts: PooledServiceOptions = {}): PooledGitService {
  const { pool: poolConfig, lock, sandbox } = deps.config;
  const pool =
    opts.pool ??
    createSandboxPool(
      {
        provider: deps.provider,
        db: deps.db,
        key: deps.key,
        metrics: deps.metrics,
        log: deps.log.child({ component: 'pool' }),
      },
      {
        min: poolConfig.min,
        max: poolConfig.max,
        ttlSeconds: poolConfig.ttlSeconds,
        acquireTimeoutMs: poolConfig.acquireTimeoutMs,
        // e2b: the provider's pricing hook prices the vCPUs and memory its sandboxes report
        pricePerSecond: deps.provider.name === 'e2b' ? undefined : sandbox.pricePerSecond,
        sandboxTimeoutMs: sandbox.timeoutMs,
        limit: sandbox.planConcurrencyLimit,
        workspaceRoot: WORKSPACE_ROOT,
        minRemainingMs: poolConfig.minRemainingSeconds * 1000,
      },
    );
  const pushLock =
    opts.pushLock ??
    createPushLock({
      db: deps.db,
      metrics: deps.metrics,
      log: deps.log.child({ component: 'push-lock' }),
      defaults: { ttlMs: lock.ttlSeconds * 1000, timeoutMs: lock.acquireTimeoutMs, pollMs: lock.pollMs },
    });
  const service = composeGitService({
    approach: 'pooled',
    config: deps.config,
    workspaces: createWorkspaceRepository(deps.db),
    tracker: trackerFor('pooled', deps),
    sandboxes: createPoolSandboxSource(pool, deps.log),
    pushes: createPostgresPushSerializer({ pushLock, metrics: deps.metrics, acquireTimeoutMs: lock.acquireTimeoutMs }),
    log: deps.log,
  });
  return Object.assign(service, { pool, pushLock });
}

export interface CreateGitServiceDeps {
  config: Config;
  db: Db;
  metrics: Metrics;
  log: Logger;
  /** default: createProvider(config.sandbox) */
  provider?: SandboxProvider;
  /** default: loadEncryptionKey({ configured: config.security.encryptionKey }) */
  key?: EncryptionKey;
  /** default: config.service.approach (the router builds one of each) */
  approach?: Approach;
  simple?: SimpleServiceOptions;
  pooled?: PooledServiceOptions;
}

/**
 * The GitService for config `service.approach` (or `approach`): approach 1 (simple) or
 * approach 2 (pooled). Call `start()` in the process that hosts the pool (the worker) and
 * `close()` on shutdown. Narrow the result on `approach` (`s.approach === 'pooled' ? s.pool : …`).
 */
export function createGitService(deps: CreateGitServiceDeps & { approach: 'simple' }): SimpleGitService;
export function createGitService(deps: CreateGitServiceDeps & { approach: 'pooled' }): PooledGitService;
export function createGitService(deps: CreateGitServiceDeps): SimpleGitService | PooledGitService;
export function createGitService(deps: CreateGitServiceDeps): SimpleGitService | PooledGitService {
  const base: GitServiceDeps = {
    config: deps.config,
    db: deps.db,
    metrics: deps.metrics,
    log: deps.log.child({ component: 'git-service' }),
    provider:
      deps.provider ??
      createProvider(deps.config.sandbox, {
        onRateLimited: () => deps.metrics.providerRateLimited.labels(deps.config.sandbox.provider).inc(),
        limits: deps.config.limits,
      }),
    key: deps.key ?? loadEncryptionKey({ configured: deps.config.security.encryptionKey }),
  };
  const approach = deps.approach ?? (deps.config.service.approach === 'pooled' ? 'pooled' : 'simple');
  return approach === 'pooled' ? createPooledGitService(base, deps.pooled) : createSimpleGitService(base, deps.simple);
}
