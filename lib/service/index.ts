import type { Config } from '../config/schema.js';
import { loadEncryptionKey, type EncryptionKey } from '../crypto.js';
import type { Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { Approach, Metrics } from '../metrics.js';
import { createProvider } from '../sandbox/index.js';
import type { SandboxProvider } from '../sandbox/types.js';
import { createPooledGitService, type PooledGitService, type PooledServiceOptions } from './pooled.js';
import { createSimpleGitService, type SimpleGitService, type SimpleServiceOptions } from './simple.js';

export * from './types.js';
export { BaseGitService, OPERATIONS, WORKSPACE_ROOT, workspaceDirFor, type GitServiceDeps } from './base.js';
export { SimpleGitService, createSimpleGitService } from './simple.js';
export { PooledGitService, createPooledGitService } from './pooled.js';

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
 * `close()` on shutdown.
 */
export function createGitService(deps: CreateGitServiceDeps & { approach: 'simple' }): SimpleGitService;
export function createGitService(deps: CreateGitServiceDeps & { approach: 'pooled' }): PooledGitService;
export function createGitService(deps: CreateGitServiceDeps): SimpleGitService | PooledGitService;
export function createGitService(deps: CreateGitServiceDeps): SimpleGitService | PooledGitService {
  const base = {
    config: deps.config,
    db: deps.db,
    metrics: deps.metrics,
    log: deps.log.child({ component: 'git-service' }),
    provider: deps.provider ?? createProvider(deps.config.sandbox),
    key: deps.key ?? loadEncryptionKey({ configured: deps.config.security.encryptionKey }),
  };
  const approach = deps.approach ?? (deps.config.service.approach === 'pooled' ? 'pooled' : 'simple');
  return approach === 'pooled' ? createPooledGitService(base, deps.pooled) : createSimpleGitService(base, deps.simple);
}
