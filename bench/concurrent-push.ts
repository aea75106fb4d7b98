/**
 * Benchmark `concurrent-push`: N agents (default 100), each with its own workspace on approach 2
 * (pooled: pool max raised to agents + 1), each commit one file and push ONE shared branch at the
 * same moment, against a remote with real latency: a smart-HTTP git server
 * (scripts/testing/git-http.ts) that delays every request by BENCH_REMOTE_RTT_MS (default 100;
 * a fetch or a push is 2–3 requests, as over the network to a hosted git service).
 *
 * BENCH_MODE=lock (default, seed 004): `service.commitAndPush(id, { targetBranch })` under the
 * Postgres push lock; failed calls are retried like the git-operation workflow's Temporal retry
 * policy does (retryable DomainErrors such as LockTimeout: 500 ms initial interval, ×2, max 10 s,
 * 5 attempts, the same operationId so a retry lands once).
 * BENCH_MODE=queue (issue 13, push.mode queue): every agent's commitPush is a gitOperationWorkflow
 * started through clients/git-operations.ts as the API does, on a real git worker in this process
 * (workers/git-worker.ts): each commit is staged on a ref of its own in parallel, the branch's
 * mergeQueueWorkflow lands them in batches (push.maxBatch).
 *
 * Commits on the remote branch are counted from the bare repo; lost = agents − landed (an agent
 * whose commit is on the branch twice counts once and is reported as a duplicate). The rate is
 * compared with a serial loop of raw git (clone, commit, pull --rebase, push — one at a time,
 * through the same server with the same latency, own bare repo), run once before and once after
 * the concurrent run (the mean rate is used); the loop pushes min(agents, BENCH_SERIAL_MAX
 * (default 100)) commits, so 1,000 agents do not wait 2 × 1,000 serial round trips for a rate.
 * Goals: lock mode (rtt 0): landed = agents, lost = 0, serial_ratio ≥ 0.8; queue mode (rtt 100):
 * landed = agents, lost = 0, serial_ratio ≥ 5 at 100 agents, lost = 0 at 1,000.
 *
 * Env: BENCH_MODE (lock | queue), BENCH_REMOTE_RTT_MS (default 100), BENCH_AGENTS (default
 * "100"; a list such as "50,100" runs one round per count, the last on the BENCH line),
 * BENCH_SERIAL_MAX (default 100), BENCH_LOCK_POLL_MS (lock mode; default config lock.pollMs),
 * BENCH_DEADLINE_MIN (hard bound on the whole run, default 15; 1,000 agents on a loaded 2-core
 * machine need more), BENCH_REMOTE_INLINE=1 (the remote's HTTP server on this process's event loop,
 * as before 2026-12-02; by default it runs in a child process), BENCH_CPU_PROFILE (a CPU profile of the concurrent run, see startProfile).
 * The detail lines also give the CPU seconds the run took: this process, its children, the rest.
 * Prints one final line:
 * BENCH concurrent-push agents=<n> mode=<lock|queue> rtt_ms=<n> landed=<n> lost=<n> wall_s=<n> serial_ratio=<n>
 */
import { execFile } from 'node:child_process';
import * as inspector from 'node:inspector/promises';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { executeGitOperation, isStartTimeout } from '../clients/git-operations.js';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { parseConfig } from '../lib/config/index.js';
import { DomainError, ErrorType, type ErrorTypeName } from '../lib/errors.js';
import pino from 'pino';
import { pushLockKey } from '../lib/lock/index.js';
import { sanitizeUrl } from '../lib/log.js';
import { createMetrics, type Metrics } from '../lib/metrics.js';
import type { Db } from '../lib/db/index.js';
import { createGitService, type PooledGitService } from '../lib/service/index.js';
import { createLocalProvider } from '../lib/sandbox/local.js';
import type { Sandbox, SandboxProvider } from '../lib/sandbox/types.js';
import { createBareRepo } from '../scripts/testing/git.js';
import { startGitHttpServer } from '../scripts/testing/git-http.js';
import { startGitHttpServerProcess } from '../scripts/testing/git-http-process.js';
import { freshDb } from '../scripts/testing/db.js';
import { stackEnv } from '../scripts/testing/stack.js';
import { createGitWorker } from '../workers/git-worker.js';

const MODE = process.env.BENCH_MODE ?? 'lock';
if (MODE !== 'lock' && MODE !== 'queue') throw new Error(`BENCH_MODE must be lock or queue, not ${MODE}`);
const RTT_MS = Number(process.env.BENCH_REMOTE_RTT_MS ?? 100);
if (!Number.isFinite(RTT_MS) || RTT_MS < 0) throw new Error('BENCH_REMOTE_RTT_MS must be a number ≥ 0');
const SERIAL_MAX = Number(process.env.BENCH_SERIAL_MAX ?? 100);
const rounds = (process.env.BENCH_AGENTS ?? '100').split(',').map(Number);
const maxAgents = Math.max(...rounds);
const BRANCH = 'shared';
/** hard bound on the whole run */
const DEADLINE_MS = Number(process.env.BENCH_DEADLINE_MIN ?? 15) * 60_000;
const execFileP = promisify(execFile);

// the commitPush activity's retry policy (workflows/git-operation/workflow.ts)
const RETRY = { initialMs: 500, coefficient: 2, maxMs: 10_000, maxAttempts: 5 };
const PERMANENT: ErrorTypeName[] = [
  ErrorType.Validation,
  ErrorType.NotFound,
  ErrorType.Forbidden,
  ErrorType.Auth,
  ErrorType.Conflict,
  ErrorType.ConflictEscalated,
];

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'serial',
  GIT_AUTHOR_EMAIL: 'serial@example.test',
  GIT_COMMITTER_NAME: 'serial',
  GIT_COMMITTER_EMAIL: 'serial@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_TERMINAL_PROMPT: '0',
  HOME: tmpdir(),
};
const git = async (cwd: string, ...args: string[]): Promise<string> =>
  (await execFileP('git', args, { cwd, env: GIT_ENV })).stdout;

async function commitsOn(bare: string, branch: string): Promise<string[]> {
  const out = await git(bare, 'log', '--format=%s', `refs/heads/${branch}`).catch(() => '');
  return out.split('\n').filter(Boolean);
}

async function withRetry<T>(fn: () => Promise<T>, onRetry: (e: unknown) => void, startErrors = false): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      // startErrors: a workflow start that missed its deadline (gRPC DEADLINE_EXCEEDED / UNAVAILABLE,
      // the cause of the client's ServiceError: its own message says only "Failed to start Workflow")
      const startFailed = startErrors && isStartTimeout(e);
      const retryable = startFailed || (e instanceof DomainError && e.retryable && !PERMANENT.includes(e.type));
      if (!retryable || attempt >= RETRY.maxAttempts) throw e;
      onRetry(e);
      await sleep(Math.min(RETRY.maxMs, RETRY.initialMs * RETRY.coefficient ** (attempt - 1)));
    }
  }
}

async function counterSum(m: Metrics['lockWait'], outcome: string): Promise<number> {
  const v = (await m.get()).values.find((x) => x.labels.outcome === outcome && x.metricName?.endsWith('_count'));
  return v?.value ?? 0;
}

/** From lock_audit: how long each holder kept the push lock and how long it sat free in between. */
async function lockProfile(db: Db, key: string): Promise<string> {
  const { rows } = await db.query<{ acq: Date; rel: Date | null }>(
    `SELECT min(at) FILTER (WHERE event IN ('acquired', 'expired_takeover')) AS acq, min(at) FILTER (WHERE event = 'released') AS rel
       FROM lock_audit WHERE lock_key = $1 AND fencing_token IS NOT NULL GROUP BY fencing_token ORDER BY 1`,
    [key],
  );
  const held = rows
    .filter((r) => r.acq && r.rel)
    .map((r) => ({ acq: r.acq.getTime(), rel: (r.rel as Date).getTime() }));
  if (held.length === 0) return 'lock: no acquisitions';
  const holds = held.map((h) => h.rel - h.acq).sort((a, b) => a - b);
  const gaps = held
    .slice(1)
    .map((h, i) => Math.max(0, h.acq - held[i].rel))
    .sort((a, b) => a - b);
  const span = held[held.length - 1].rel - held[0].acq;
  const busy = holds.reduce((a, b) => a + b, 0);
  const med = (xs: number[]): number => xs[xs.length >> 1] ?? 0;
  return (
    `lock: acquisitions=${held.length} hold_p50_ms=${med(holds).toFixed(0)} hold_max_ms=${holds[holds.length - 1].toFixed(0)} ` +
    `handover_gap_p50_ms=${med(gaps).toFixed(0)} handover_gap_sum_s=${(gaps.reduce((a, b) => a + b, 0) / 1000).toFixed(2)} ` +
    `busy=${((100 * busy) / Math.max(1, span)).toFixed(0)}%_of_${(span / 1000).toFixed(2)}s`
  );
}

/** Per-command timings of everything the service runs in sandboxes (while `on`). */
class CommandTimings {
  on = false;
  private readonly byCmd = new Map<string, number[]>();

  wrap(provider: SandboxProvider): SandboxProvider {
    const wrapSb = (sb: Sandbox): Sandbox => ({
      ...sb,
      run: async (argv, opts) => {
        const t0 = performance.now();
        try {
          return await sb.run(argv, opts);
        } finally {
          if (this.on) this.add(argv, performance.now() - t0);
        }
      },
      writeFile: (p, c) => sb.writeFile(p, c),
      readFile: (p) => sb.readFile(p),
      setTimeout: (ms) => sb.setTimeout(ms),
      kill: () => sb.kill(),
      isHealthy: () => sb.isHealthy(),
    });
    return {
      ...provider,
      create: async (o) => wrapSb(await provider.create(o)),
      connect: async (id) => wrapSb(await provider.connect(id)),
      list: (f) => provider.list(f),
      running: () => provider.running(),
    };
  }

  private add(argv: string[], ms: number): void {
    // `git -c k=v … <subcommand>`: name it by the subcommand
    let i = 1;
    while (argv[0] === 'git' && argv[i] === '-c') i += 2;
    const name = argv[0] === 'git' ? `git ${argv[i]}` : argv[0];
    const xs = this.byCmd.get(name) ?? [];
    xs.push(ms);
    this.byCmd.set(name, xs);
  }

  /** "git fetch n=… p50_ms=… sum_s=…", biggest total first */
  report(): string {
    const rows = [...this.byCmd]
      .map(([k, xs]) => {
        const s = [...xs].sort((a, b) => a - b);
        return { k, n: xs.length, p50: s[s.length >> 1], sum: xs.reduce((a, b) => a + b, 0) };
      })
      .sort((a, b) => b.sum - a.sum);
    this.byCmd.clear();
    return rows.map((r) => `${r.k}: n=${r.n} p50_ms=${r.p50.toFixed(0)} sum_s=${(r.sum / 1000).toFixed(1)}`).join('; ');
  }
}

/** How long the most recent holder of `key` kept the lock. */
async function lastHoldMs(db: Db, key: string): Promise<number> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT extract(epoch FROM max(at) FILTER (WHERE event = 'released') - min(at) FILTER (WHERE event IN ('acquired', 'expired_takeover')))::double precision * 1000 AS ms
       FROM lock_audit WHERE lock_key = $1 AND fencing_token = (SELECT max(fencing_token) FROM lock_audit WHERE lock_key = $1)`,
    [key],
  );
  return Number(rows[0]?.ms ?? NaN);
}

async function sqlTransactions(db: Db): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = current_database()',
  );
  return Number(rows[0].n);
}

/**
 * CPU seconds so far (Linux /proc): this process, its reaped children (the sandboxes' git, with
 * theirs; the remote's git-http-backend too with BENCH_REMOTE_INLINE=1), and the whole machine's
 * busy time — the rest of it is the remote's server process, the Temporal server, Postgres and
 * anything else running. Null where /proc is missing.
 */
function cpuSeconds(): { self: number; children: number; machine: number } | null {
  try {
    const tick = 100; // USER_HZ on Linux
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    // fields 14–17 of stat(5), counted from field 3 after the command name
    const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]];
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait
    const busy = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3] - cpu[4];
    return { self: (utime + stime) / tick, children: (cutime + cstime) / tick, machine: busy / tick };
  } catch {
    return null;
  }
}

/**
 * BENCH_CPU_PROFILE=<file>: a V8 CPU profile of this process over the concurrent run only (not the
 * setup or the serial loops), written as <file>.<round>.cpuprofile (Chrome DevTools opens it).
 */
async function startProfile(): Promise<{ stop(round: number): Promise<void> } | null> {
  const file = process.env.BENCH_CPU_PROFILE;
  if (!file) return null;
  const session = new inspector.Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(round) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(`${file}.${round}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
      process.stderr.write(`  cpu profile: ${file}.${round}.cpuprofile\n`);
    },
  };
}

function cpuSummary(a: ReturnType<typeof cpuSeconds>, b: ReturnType<typeof cpuSeconds>, wallS: number): string {
  if (!a || !b) return 'cpu_s=unknown';
  const self = b.self - a.self;
  const children = b.children - a.children;
  const machine = b.machine - a.machine;
  return (
    `cpu_s: bench_process=${self.toFixed(1)} its_children=${children.toFixed(1)} ` +
    `rest_of_machine=${(machine - self - children).toFixed(1)} machine_busy=${machine.toFixed(1)} ` +
    `of ${(wallS * cpus().length).toFixed(1)} (${cpus().length} cores × wall)`
  );
}

interface RoundResult {
  agents: number;
  landed: number;
  lost: number;
  failed: number;
  wallS: number;
  pushesPerS: number;
  serialPerS: number;
  ratio: number;
  retries: number;
  lockTimeouts: number;
  maxAttempts: number;
}

/** A bare repository served by the latency server: its http URL, the bare path, cleanup. */
type Remote = { url: string; bare: string; cleanup(): void };
let remoteBase = '';
function createRemote(files: Record<string, string>): Remote {
  const r = createBareRepo(files);
  // served from tmpdir(): <base>/<repo dir>/remote.git
  return { url: `${remoteBase}/${basename(r.root)}/remote.git`, bare: r.bare, cleanup: r.cleanup };
}

async function serialLoop(n: number): Promise<{ wallS: number; landed: number }> {
  const repo = createRemote({ 'README.md': '# serial\n' });
  const work = mkdtempSync(join(tmpdir(), 'sgc-bench-serial-'));
  try {
    // the branch exists before the loop, as `shared` does after the first concurrent push
    await git(repo.bare, 'branch', BRANCH, 'main');
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const dir = join(work, `c${i}`);
      await git(work, 'clone', '--quiet', '--branch', BRANCH, repo.url, dir);
      writeFileSync(join(dir, `serial-${i}.txt`), `serial ${i}\n`);
      await git(dir, 'add', '--all');
      await git(dir, 'commit', '--quiet', '-m', `serial ${i}`);
      await git(dir, 'pull', '--quiet', '--rebase', 'origin', BRANCH);
      await git(dir, 'push', '--quiet', 'origin', `HEAD:refs/heads/${BRANCH}`);
    }
    const wallS = (performance.now() - t0) / 1000;
    const landed = (await commitsOn(repo.bare, BRANCH)).filter((s) => s.startsWith('serial ')).length;
    return { wallS, landed };
  } finally {
    rmSync(work, { recursive: true, force: true });
    repo.cleanup();
  }
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    process.stderr.write(`concurrent-push bench exceeded ${DEADLINE_MS / 60_000} min\n`);
    process.exit(2);
  }, DEADLINE_MS);
  watchdog.unref();

  // the remote in a process of its own, as a hosted remote is on a machine of its own (see
  // scripts/testing/git-http-process.ts); BENCH_REMOTE_INLINE=1: on this process's event loop, as before
  const server = await (process.env.BENCH_REMOTE_INLINE === '1' ? startGitHttpServer : startGitHttpServerProcess)({
    projectRoot: tmpdir(),
    delayMs: RTT_MS,
  });
  remoteBase = server.url;
  const t = await freshDb('bench_push');
  const sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-bench-push-'));
  const provider = createLocalProvider({ root: sandboxRoot, defaultTimeoutMs: 1_800_000 });
  const metrics = createMetrics({ defaultMetrics: false });
  const results: RoundResult[] = [];
  let service: PooledGitService | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  try {
    // approach 2 with the seed's lock settings (TTL 30 s, acquire timeout 5 s) and the service's
    // own push retries (3 attempts); only the pool's max is raised to hold one sandbox per agent
    const config = parseConfig({
      service: { approach: 'pooled' },
      sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 1_800_000, planConcurrencyLimit: maxAgents + 1 },
      pool: { min: 0, max: maxAgents + 1, acquireTimeoutMs: 30_000 },
      ...(process.env.BENCH_LOCK_POLL_MS ? { lock: { pollMs: Number(process.env.BENCH_LOCK_POLL_MS) } } : {}),
      security: { encryptionKey: randomBytes(32).toString('base64') },
      // the bench's bare repositories behind the latency server; every agent pushes the one shared branch
      git: { remotes: [{ scheme: 'http', host: new URL(server.url).host }], pushBranches: [BRANCH] },
      push: { mode: MODE },
    });
    const timings = new CommandTimings();
    const svc = createGitService({
      config,
      db: t.db,
      metrics,
      log: pino({ level: 'silent' }),
      provider: timings.wrap(provider),
      approach: 'pooled',
    }) as PooledGitService;
    service = svc;
    await svc.start();

    // queue mode: a real git worker (as workers/main.ts builds it) and the API's client helper
    let temporal: { client: Client; taskQueue: string } | undefined;
    if (MODE === 'queue') {
      Runtime.install({ logger: new DefaultLogger('ERROR') });
      const address = stackEnv('SGC_TEST_TEMPORAL_ADDRESS');
      const taskQueue = `bench-push-${randomBytes(4).toString('hex')}`;
      const nativeConnection = await NativeConnection.connect({ address });
      const worker = await createGitWorker({
        connection: nativeConnection,
        namespace: 'default',
        taskQueue,
        service: svc,
        log: pino({ level: 'silent' }),
        metrics,
        workflows: { workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)) },
        shutdownGraceTime: '2 seconds',
        queue: {
          root: join(sandboxRoot, 'merge-queue'),
          metrics,
          maxBatch: config.push.maxBatch,
          committer: { name: config.git.authorName, email: config.git.authorEmail },
        },
      });
      const running = worker.run();
      closers.push(async () => {
        worker.shutdown();
        await running.catch(() => undefined);
        await nativeConnection.close();
      });
      const connection = await Connection.connect({ address });
      closers.push(() => connection.close());
      temporal = { client: new Client({ connection, namespace: 'default' }), taskQueue };
    }

    for (const [r, agents] of rounds.entries()) {
      const repo = createRemote({ 'README.md': '# shared\n' });
      // the branch exists before the run, as in the serial loop (the merge queue lands onto an
      // existing branch; the lock mode's first push would create it)
      await git(repo.bare, 'branch', BRANCH, 'main');
      const ids: string[] = [];
      let soloId: string | null = null;
      try {
        // setup, not measured: one workspace per agent, a few at a time
        for (let i = 0; i < agents; i += 10) {
          const batch = Array.from({ length: Math.min(10, agents - i) }, (_, k) => i + k);
          ids.push(
            ...(await Promise.all(
              batch.map(async (a) => {
                const ws = await svc.createWorkspace({ agentId: `agent-${a}`, taskId: `push-${r}`, repoUrl: repo.url });
                await svc.writeFile(ws.id, `agents/agent-${a}.txt`, `agent ${a} round ${r}\n`);
                return ws.id;
              }),
            )),
          );
        }
        const serialN = Math.min(agents, SERIAL_MAX);
        const serialBefore = await serialLoop(serialN);
        if (serialBefore.landed !== serialN) throw new Error(`serial loop landed ${serialBefore.landed} of ${serialN}`);
        const lockTimeoutsBefore = await counterSum(metrics.lockWait, 'timeout');
        await sleep(1_000); // pg_stat_database is flushed at most once a second
        const xactsBefore = await sqlTransactions(t.db);
        let retries = 0;
        let maxAttempts = 0;
        timings.report(); // drop what setup ran
        timings.on = true;
        const profiler = await startProfile();
        const cpu0 = cpuSeconds();
        const t0 = performance.now();
        const settled = await Promise.allSettled(
          ids.map((id, a) => {
            if (temporal) {
              // as an HTTP client retries a 503 (Temporal slow to accept the start): the same
              // request id attaches to the same operation
              return withRetry(
                () =>
                  executeGitOperation(
                    temporal,
                    {
                      op: 'commitPush',
                      agentId: `agent-${a}`,
                      workspaceId: id,
                      message: `agent ${a} round ${r}`,
                      targetBranch: BRANCH,
                    },
                    `bench-${r}-${a}`,
                  ),
                () => {
                  retries++;
                },
                true,
              );
            }
            let attempts = 0;
            return withRetry(
              () => {
                attempts++;
                maxAttempts = Math.max(maxAttempts, attempts);
                return svc.commitAndPush(id, {
                  message: `agent ${a} round ${r}`,
                  targetBranch: BRANCH,
                  operationId: `bench-${r}-${a}`,
                });
              },
              () => {
                retries++;
              },
            );
          }),
        );
        const wallS = (performance.now() - t0) / 1000;
        const cpuReport = cpuSummary(cpu0, cpuSeconds(), wallS);
        await profiler?.stop(r);
        timings.on = false;
        const commandReport = timings.report();
        await sleep(1_000);
        const xacts = (await sqlTransactions(t.db)) - xactsBefore;
        const key = pushLockKey(sanitizeUrl(repo.url), BRANCH);
        let detail: string;
        if (temporal) {
          detail = `queue: ${await histogramSummary(metrics.queueBatchSize, 'batch_size')} ${await histogramSummary(metrics.queueWait, 'wait_s')}`;
        } else {
          const contended = await lockProfile(t.db, key);
          // one more workspace, cloned now, pushes alone: the uncontended cost of a push
          const solo = await svc.createWorkspace({ agentId: 'agent-solo', taskId: `push-${r}`, repoUrl: repo.url });
          soloId = solo.id;
          await svc.writeFile(solo.id, 'agents/solo.txt', `solo round ${r}\n`);
          const s0 = performance.now();
          await svc.commitAndPush(solo.id, {
            message: `solo round ${r}`,
            targetBranch: BRANCH,
            operationId: `bench-${r}-solo`,
          });
          const soloMs = performance.now() - s0;
          const soloHoldMs = await lastHoldMs(t.db, key);
          detail = `${contended} | solo commitAndPush_ms=${soloMs.toFixed(0)} solo_hold_ms=${soloHoldMs.toFixed(0)}`;
        }
        const failures = settled.filter((s): s is PromiseRejectedResult => s.status === 'rejected');
        const subjects = await commitsOn(repo.bare, BRANCH);
        const landed = new Set(subjects.filter((s) => /^agent \d+ round \d+$/.test(s))).size;
        const duplicates = subjects.filter((s) => /^agent \d+ round \d+$/.test(s)).length - landed;
        const lockTimeouts = (await counterSum(metrics.lockWait, 'timeout')) - lockTimeoutsBefore;
        const serialAfter = await serialLoop(serialN);
        if (serialAfter.landed !== serialN) throw new Error(`serial loop landed ${serialAfter.landed} of ${serialN}`);
        // the serial rate is the mean of one loop before and one after the concurrent run, so a
        // busy moment on the machine does not land on one side only
        const serial = { wallS: (serialBefore.wallS + serialAfter.wallS) / 2 };
        const pushesPerS = landed / wallS;
        const serialPerS = serialN / serial.wallS;
        const res: RoundResult = {
          agents,
          landed,
          lost: agents - landed,
          failed: failures.length,
          wallS,
          pushesPerS,
          serialPerS,
          ratio: pushesPerS / serialPerS,
          retries,
          lockTimeouts,
          maxAttempts,
        };
        results.push(res);
        const errs = new Map<string, number>();
        for (const f of failures) {
          const reason = f.reason as { type?: string; cause?: { type?: string; message?: string }; message?: string };
          const k =
            f.reason instanceof DomainError
              ? f.reason.type
              : (reason.cause?.type ?? reason.cause?.message ?? reason.message ?? String(f.reason));
          errs.set(k, (errs.get(k) ?? 0) + 1);
        }
        process.stderr.write(
          `mode=${MODE} rtt_ms=${RTT_MS} agents=${agents} landed=${landed} lost=${res.lost} failed_calls=${failures.length}${errs.size ? ` (${[...errs].map(([k, v]) => `${k}:${v}`).join(' ')})` : ''} ` +
            `duplicates=${duplicates} wall_s=${wallS.toFixed(2)} pushes_per_s=${pushesPerS.toFixed(2)} ` +
            `serial_pushes=${serialN} serial_wall_s=${serialBefore.wallS.toFixed(2)}/${serialAfter.wallS.toFixed(2)} serial_pushes_per_s=${serialPerS.toFixed(2)} serial_ratio=${res.ratio.toFixed(2)} ` +
            `activity_retries=${retries} lock_timeouts=${lockTimeouts} max_attempts=${maxAttempts}\n` +
            `  ${detail} sql_transactions=${xacts} serial_iteration_ms=${((1000 * serial.wallS) / serialN).toFixed(0)}\n` +
            `  sandbox commands during the concurrent run: ${commandReport}\n` +
            `  ${cpuReport}\n`,
        );
      } finally {
        for (const id of soloId ? [...ids, soloId] : ids) await svc.release(id).catch(() => undefined);
        repo.cleanup();
      }
    }
    const last = results[results.length - 1];
    console.log(
      `BENCH concurrent-push agents=${last.agents} mode=${MODE} rtt_ms=${RTT_MS} landed=${last.landed} lost=${last.lost} ` +
        `wall_s=${last.wallS.toFixed(2)} serial_ratio=${last.ratio.toFixed(2)}`,
    );
  } finally {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await service?.pool.stop({ terminateIdle: true }).catch(() => undefined);
    await service?.close().catch(() => undefined);
    provider.close();
    rmSync(sandboxRoot, { recursive: true, force: true });
    await t.drop();
    await server.close();
    clearTimeout(watchdog);
  }
}

/** "name_n=… name_p50=… name_max=…" of a histogram (all label sets together), from its buckets. */
async function histogramSummary(h: Metrics['queueBatchSize'] | Metrics['queueWait'], name: string): Promise<string> {
  const values = (await h.get()).values;
  const count = values.filter((v) => v.metricName?.endsWith('_count')).reduce((a, v) => a + v.value, 0);
  const sum = values.filter((v) => v.metricName?.endsWith('_sum')).reduce((a, v) => a + v.value, 0);
  const buckets = new Map<number, number>();
  for (const v of values) {
    if (!v.metricName?.endsWith('_bucket')) continue;
    const le = Number((v.labels as Record<string, string | number>).le);
    buckets.set(le, (buckets.get(le) ?? 0) + v.value);
  }
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const q = (p: number): string => {
    const hit = sorted.find(([, c]) => c >= p * count);
    return hit ? `≤${hit[0]}` : '?';
  };
  return `${name}_n=${count} ${name}_mean=${count ? (sum / count).toFixed(2) : '0'} ${name}_p50=${q(0.5)} ${name}_p95=${q(0.95)}`;
}

main().catch((e: unknown) => {
  process.stderr.write(`concurrent-push bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
