/**
 * Builds the GitService a process serves, shared by the worker and the API so both route the
 * same way. With `service.approach: routed` (the default) it is the router over approach 1 and
 * approach 2, reading this process's FlagCache (LISTEN/NOTIFY: a kill switch reaches it at once);
 * with `simple` or `pooled` it is that approach alone.
 */
import type { Config } from '../config/index.js';
import type { Db } from '../db/index.js';
import { FlagCache } from '../flags/cache.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { createRoutedGitService } from '../router/router.js';
import type { PooledGitService, SimpleGitService } from './index.js';
import { createGitService, servingWorkspaceLookup } from './index.js';
import type { GitService } from './types.js';
import { createProvider } from '../sandbox/index.js';
import { createWorkspaceRepository } from '../store/workspaces.js';
import { probeApproach1, type HotBackupProbe } from './hot-backup.js';
import { rehomeDeps, type RehomeDeps } from './rehome.js';

export interface ComposedService {
  service: GitService;
  /** approach 2's pool, when this process runs approach 2 */
  pool?: PooledGitService['pool'];
  /** the process's flag cache (routed mode) */
  flags?: FlagCache;
  /** re-homing approach-2 workspaces to approach 1 after a kill (routed mode) */
  rehome?: RehomeDeps;
  /** is approach 1 warm (lib/service/hot-backup.ts)? The canary's cutover analyses ask (routed mode) */
  probeHotBackup?: () => Promise<HotBackupProbe>;
  /** pre-warm and reconnect (the process that hosts the pool: the worker) */
  start(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `waitForFlags: false` (the API): start even when Postgres is unreachable; the flag cache
 * connects in the background and every agent is on approach 1 until it has the flags.
 */
export async function composeGitService(deps: {
  config: Config;
  db: Db;
  metrics: Metrics;
  log: Logger;
  processName: string;
  waitForFlags?: boolean;
}): Promise<ComposedService> {
  const { config, db, metrics, log } = deps;
  if (config.service.approach !== 'routed') {
    const single = createGitService({ config, db, metrics, log });
    return {
      service: single,
      pool: single.approach === 'pooled' ? single.pool : undefined,
      start: () => single.start(),
      close: () => single.close(),
    };
  }
  // one provider for both approaches: one TTL reaper, one view of running sandboxes
  const provider = createProvider(config.sandbox, {
    onRateLimited: () => metrics.providerRateLimited.labels(config.sandbox.provider).inc(),
    limits: config.limits,
  });
  const simple: SimpleGitService = createGitService({ config, db, metrics, log, provider, approach: 'simple' });
  const pooled: PooledGitService = createGitService({ config, db, metrics, log, provider, approach: 'pooled' });
  if (!config.postgres.url) throw new Error('postgres.url is not set');
  const flags = await FlagCache.start({
    connectionString: config.postgres.url,
    processId: `${deps.processName}-${process.pid}`,
    log: log.child({ component: 'flag-cache' }),
    ...config.service.flagCache,
    waitForConnection: deps.waitForFlags ?? true,
  });
  const routed = createRoutedGitService({
    simple,
    pooled,
    flags,
    metrics,
    log: log.child({ component: 'router' }),
    findWorkspace: servingWorkspaceLookup(createWorkspaceRepository(db)),
  });
  const rehome = rehomeDeps({ simple, pooled, provider, db, log: log.child({ component: 'rehome' }) });
  return {
    service: routed,
    pool: pooled.pool,
    flags,
    rehome,
    probeHotBackup: () => probeApproach1(provider),
    start: async () => {
      await simple.start();
      await pooled.start();
    },
    close: async () => {
      await routed.drain().catch(() => undefined);
      await flags.close().catch(() => undefined);
      await pooled.close().catch(() => undefined);
      await simple.close().catch(() => undefined);
    },
  };
}
