/**
 * The service's own processes — N workers and N API processes on one Temporal and one Postgres
 * (issue 12, "Run it scaled out") — for `npm start -- --workers 2 --apis 2` and the chaos suite.
 * Each process gets its own port (API: `API_PORT`; worker: `/metrics` on `metrics.workerPort`),
 * everything else is shared: the pool, the push locks, the flags and the workspaces live in
 * Postgres; Temporal spreads the task queues' work over the workers. With more than one worker
 * the workflow bundle is built once (workers/build-bundle.ts) and every worker loads it, so they
 * run byte-identical workflow code and none spends a minute in webpack at start.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR, ROOT, freePort, portOpen, spawnManaged, waitFor, type ManagedProcess, type Say } from './stack.js';

export type ServiceRole = 'worker' | 'api';

/** One worker or API process that can be killed and started again on the same port. */
export interface ServiceProcess {
  name: string;
  role: ServiceRole;
  port: number;
  /** API: its base URL; worker: its /metrics URL */
  url: string;
  current(): ManagedProcess;
  /** SIGTERM (graceful drain), SIGKILL after 10 s */
  stop(): Promise<void>;
  /** a crash: SIGKILL, no drain */
  kill(): Promise<void>;
  /** spawns it again (same port, same environment) and waits until it answers */
  start(): Promise<void>;
}

/** A port per process: `api[i]` is API i's `API_PORT`, `worker[i]` worker i's `metrics.workerPort`. */
export interface ServicePorts {
  api: number[];
  worker: number[];
}

export interface ServiceProcessesOptions {
  /** from planServicePorts: how many processes of each role, and their ports */
  ports: ServicePorts;
  /** the environment every process shares (TEMPORAL_ADDRESS, DATABASE_URL, tokens, SGC__ keys) */
  env: NodeJS.ProcessEnv;
  /** extra environment for the workers only (e.g. SGC_BASELINE_TOKEN) */
  workerEnv?: NodeJS.ProcessEnv;
  /** per-process environment overrides (the chaos suite points one API at a proxy) */
  envFor?: (name: string) => NodeJS.ProcessEnv | undefined;
  logDir: string;
  ownProcessGroup?: boolean;
  say?: Say;
  /** how long a worker may take to serve /metrics (migrations, bundling) */
  readyTimeoutMs?: number;
  /**
   * an API counts as started once it listens, even while /healthz answers 503 (a dependency
   * down: the chaos suite restarts processes during faults); default: /healthz must answer 200
   */
  apiReadyWhenListening?: boolean;
}

export interface ServiceProcesses {
  workers: ServiceProcess[];
  apis: ServiceProcess[];
  apiUrls: string[];
  /** host:port of every process's /metrics, for Prometheus */
  targets: { api: string[]; worker: string[] };
  /** APIs first, then workers (the APIs' requests need the workers) */
  stop(): Promise<void>;
  stopApis(): Promise<void>;
  stopWorkers(): Promise<void>;
}

async function pickPort(wanted: number | undefined, taken: Set<number>): Promise<number> {
  if (wanted !== undefined && wanted > 0 && !taken.has(wanted) && !(await portOpen(wanted))) return wanted;
  for (;;) {
    const p = await freePort();
    if (!taken.has(p)) return p;
  }
}

/**
 * Chooses a port for each of `workers` workers and `apis` APIs: the first of each as wanted when
 * it is free, every other one free (so Prometheus's config can be written before they start).
 */
export async function planServicePorts(o: {
  workers: number;
  apis: number;
  apiPort?: number;
  workerPort?: number;
}): Promise<ServicePorts> {
  if (!Number.isInteger(o.workers) || o.workers < 1) throw new Error('--workers: a whole number, at least 1');
  if (!Number.isInteger(o.apis) || o.apis < 1) throw new Error('--apis: a whole number, at least 1');
  const taken = new Set<number>();
  const pick = async (wanted: number | undefined): Promise<number> => {
    const p = await pickPort(wanted, taken);
    taken.add(p);
    return p;
  };
  const worker: number[] = [];
  for (let i = 0; i < o.workers; i++) worker.push(await pick(i === 0 ? o.workerPort : undefined));
  const api: number[] = [];
  for (let i = 0; i < o.apis; i++) api.push(await pick(i === 0 ? o.apiPort : undefined));
  return { api, worker };
}

/**
 * Builds the workflow bundle once into `out` (unless SGC_WORKFLOW_BUNDLE already names one) and
 * returns its path.
 */
export function buildWorkflowBundle(out: string, say?: Say): string {
  say?.(`workers: building the workflow bundle once into ${out}`);
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const r = spawnSync(tsx, [join(ROOT, 'workers', 'build-bundle.ts'), out], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0 || !existsSync(out)) throw new Error(`workflow bundle build failed: ${r.stderr.slice(-2000)}`);
  return out;
}

function serviceProcess(
  role: ServiceRole,
  name: string,
  port: number,
  env: NodeJS.ProcessEnv,
  o: Pick<ServiceProcessesOptions, 'logDir' | 'ownProcessGroup' | 'readyTimeoutMs' | 'apiReadyWhenListening'>,
): ServiceProcess {
  const tsx = join(ROOT, 'node_modules', '.bin', 'tsx');
  const script = role === 'worker' ? 'workers/main.ts' : 'api/server.ts';
  const url = role === 'worker' ? `http://127.0.0.1:${port}/metrics` : `http://127.0.0.1:${port}`;
  const probe = role === 'worker' ? url : `${url}/healthz`;
  let proc: ManagedProcess | null = null;
  const sp: ServiceProcess = {
    name,
    role,
    port,
    url,
    current: () => {
      if (!proc) throw new Error(`${name} was never started`);
      return proc;
    },
    stop: async () => {
      await proc?.stop();
    },
    kill: async () => {
      const p = proc;
      if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
      const exited = new Promise<void>((r) => p.child.once('exit', () => r()));
      // tsx runs the program in a child of its own: only a process group kill reaches both
      if (o.ownProcessGroup && p.child.pid) process.kill(-p.child.pid, 'SIGKILL');
      else p.child.kill('SIGKILL');
      await exited;
    },
    start: async () => {
      proc = spawnManaged(tsx, [script], {
        env,
        logFile: join(o.logDir, `${name}.log`),
        ownProcessGroup: o.ownProcessGroup,
      });
      await waitFor(
        `${name} ${role === 'worker' ? '/metrics' : '/healthz'}`,
        async () => {
          const res = await fetch(probe, { signal: AbortSignal.timeout(2_000) });
          return res.ok || (role === 'api' && o.apiReadyWhenListening === true && res.status === 503);
        },
        o.readyTimeoutMs ?? 180_000,
        proc.child,
      );
    },
  };
  return sp;
}

/**
 * Starts `workers` worker processes, then `apis` API processes (a worker applies the migrations
 * before it serves /metrics; the APIs start after the first is up), each on its own port.
 */
export async function startServiceProcesses(o: ServiceProcessesOptions): Promise<ServiceProcesses> {
  const say = o.say ?? (() => undefined);
  const env: NodeJS.ProcessEnv = { ...o.env };
  if (o.ports.worker.length > 1 && !env.SGC_WORKFLOW_BUNDLE)
    env.SGC_WORKFLOW_BUNDLE = buildWorkflowBundle(join(DATA_DIR, 'workflow-bundle.js'), say);
  const name = (role: ServiceRole, i: number, n: number): string => (n === 1 ? role : `${role}-${i + 1}`);
  const workers = o.ports.worker.map((port, i, all) => {
    const n = name('worker', i, all.length);
    return serviceProcess(
      'worker',
      n,
      port,
      { ...env, ...o.workerEnv, ...o.envFor?.(n), SGC__metrics__workerPort: String(port) },
      o,
    );
  });
  const apis = o.ports.api.map((port, i, all) => {
    const n = name('api', i, all.length);
    return serviceProcess('api', n, port, { ...env, ...o.envFor?.(n), API_PORT: String(port) }, o);
  });
  const stopAll = async (ps: ServiceProcess[]): Promise<void> => {
    await Promise.all(ps.map((p) => p.stop().catch(() => undefined)));
  };
  const stopApis = (): Promise<void> => stopAll(apis);
  const stopWorkers = (): Promise<void> => stopAll(workers);
  const stop = async (): Promise<void> => {
    await stopApis();
    await stopWorkers();
  };
  try {
    // they apply the migrations under an advisory lock, so they may start side by side; the
    // APIs start once the workers serve /metrics (migrated, connected to Temporal)
    await Promise.all(workers.map((w) => w.start()));
    await Promise.all(apis.map((a) => a.start()));
    say(`service: ${workers.length} worker(s), ${apis.length} API process(es) up`);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    workers,
    apis,
    apiUrls: apis.map((a) => a.url),
    targets: {
      api: apis.map((a) => `127.0.0.1:${a.port}`),
      worker: workers.map((w) => `127.0.0.1:${w.port}`),
    },
    stop,
    stopApis,
    stopWorkers,
  };
}

/**
 * monitoring/prometheus.yml.tmpl with every API and every worker as a target of its job (a job
 * per role, an instance per process: `sum by (job)` adds the processes up).
 */
export function renderPrometheusConfig(
  template: string,
  o: { alertsFile: string; apiTargets: string[]; workerTargets: string[] },
): string {
  return template
    .replace('${ALERTS_FILE}', o.alertsFile)
    .replace(`['\${API_TARGET}']`, JSON.stringify(o.apiTargets))
    .replace(`['\${WORKER_TARGET}']`, JSON.stringify(o.workerTargets));
}
