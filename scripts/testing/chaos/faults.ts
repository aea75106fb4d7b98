/**
 * The faults of issue 12, each injected into a ChaosStack under a fresh agent workload, and the
 * run that measures one: warm up until pushes land, inject, hold, heal, let every client get its
 * answer, stop the load, check the records (check.ts). Recovery is measured from the fault's end
 * (process back and listening, server back, partition healed) until the first push acknowledged
 * after it; every client waiting at that moment must get its answer too (how long the last one
 * waited is noted: under load it includes that push's own duration).
 */
import { closeSync, cpSync, mkdirSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { until as untilHolds } from '../until.js';
import type { ChaosStack } from './stack.js';
import { checkRecords, landedOperations, type Verdict } from './check.js';
import { startWorkload, type Workload, type WorkloadOptions } from './workload.js';

export interface FaultContext {
  stack: ChaosStack;
  load: Workload;
  say(msg: string): void;
}

export interface Fault {
  name: string;
  /** injects the fault, holds it, heals it; returns when the fault is over (the recovery clock starts) */
  run(ctx: FaultContext): Promise<FaultNotes>;
}

/** What the fault saw while it lasted. */
export interface FaultNotes {
  /** answers with status 503 and Retry-After seen from the API during the fault */
  saw503?: number;
  [k: string]: unknown;
}

export interface FaultResult {
  name: string;
  verdict: Verdict;
  recoveryS: number;
  notes: FaultNotes;
  faultS: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `pred` holds (polling every 100 ms), or throws. */
export const until = (what: string, pred: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> =>
  untilHolds(what, pred, timeoutMs, 100);

/** Runs one fault under a fresh workload and checks the records afterwards. */
export async function runFault(
  stack: ChaosStack,
  fault: Fault,
  o: { say?: (m: string) => void; warmAcks?: number; afterAcks?: number; workload?: Partial<WorkloadOptions> } = {},
): Promise<FaultResult> {
  const say = o.say ?? (() => undefined);
  const load = startWorkload({
    apiUrls: stack.service.apiUrls,
    agents: stack.agents,
    branches: stack.branches,
    repoUrl: stack.remote.url,
    ...o.workload,
  });
  let stopped = false;
  try {
    await load.acked(o.warmAcks ?? 5, 180_000);
    say(`${fault.name}: load running (${load.pushes.length} pushes so far); injecting`);
    const t0 = load.now();
    const notes = await fault.run({ stack, load, say });
    const healedAt = load.now();
    say(`${fault.name}: healed after ${((healedAt - t0) / 1000).toFixed(1)} s`);
    // the clients waiting at the heal, and the load going on after it
    const waiting = load.pushes.filter((p) => p.endedAt === undefined);
    await load.acked(o.afterAcks ?? 5, 180_000);
    await until(
      'every client waiting at the heal answered',
      () => waiting.every((p) => p.endedAt !== undefined),
      180_000,
    );
    // recovery: the first push acknowledged after the heal (the service serves again); how long
    // the clients caught by the fault waited is a note (under load it includes a push's own time)
    const firstAck = load.pushes
      .filter((p) => p.outcome === 'acked' && p.endedAt !== undefined && p.endedAt >= healedAt)
      .reduce((m, p) => Math.min(m, p.endedAt!), Infinity);
    const recoveryS = (firstAck - healedAt) / 1000;
    const waitedS = (Math.max(healedAt, ...waiting.map((p) => p.endedAt ?? healedAt)) - healedAt) / 1000;
    await load.stop();
    stopped = true;
    notes.waitingClients = waiting.length;
    notes.lastWaitingAnsweredS = Number(waitedS.toFixed(1));
    notes.saw503 = load.responses.filter(
      (r) => r.at >= t0 && r.at <= healedAt && r.status === 503 && r.retryAfter,
    ).length;
    // nothing runs now: every client was answered; give releases in flight a moment
    await sleep(1_000);
    const verdict = await checkRecords({
      bare: stack.remote.bare,
      db: stack.db,
      pushes: load.pushes,
      responses: load.responses,
    });
    if (process.env.SGC_CHAOS_EVIDENCE) await writeEvidence(process.env.SGC_CHAOS_EVIDENCE, fault.name, stack, load);
    return { name: fault.name, verdict, recoveryS, notes, faultS: (healedAt - t0) / 1000 };
  } catch (e) {
    // a fault that stalls the load: keep what there is (the processes' logs first) for the post-mortem
    if (process.env.SGC_CHAOS_EVIDENCE) {
      await writeEvidence(process.env.SGC_CHAOS_EVIDENCE, `${fault.name}-failed`, stack, load).catch((err: unknown) =>
        say(`${fault.name}: evidence not written in full: ${(err as Error).message}`),
      );
    }
    throw e;
  } finally {
    if (!stopped) await load.stop().catch(() => undefined);
  }
}

/**
 * SGC_CHAOS_EVIDENCE=<dir>: the records a verdict is read from, kept for a post-mortem — what
 * each client was told, the remote's operation trailers (with their commits and refs), and the
 * push rows of operation_log.
 */
async function writeEvidence(dir: string, name: string, stack: ChaosStack, load: Workload): Promise<void> {
  mkdirSync(dir, { recursive: true });
  cpSync(join(stack.dir, 'logs'), join(dir, `${name}-logs`), { recursive: true });
  const { rows } = await stack.db.query(
    `SELECT id, workspace_id, agent_id, outcome, error_category, attempts, started_at, details
       FROM operation_log WHERE operation = 'push' ORDER BY id`,
  );
  const { rows: workspaces } = await stack.db.query(
    `SELECT id, agent_id, status, sandbox_id, created_at, released_at FROM workspaces ORDER BY created_at`,
  );
  const { rows: sandboxes } = await stack.db.query(
    `SELECT id, status, agent_id, created_at, terminated_at FROM git_sandboxes ORDER BY created_at`,
  );
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify(
      {
        pushes: load.pushes,
        responses: load.responses,
        landed: Object.fromEntries(landedOperations(stack.remote.bare)),
        operationLog: rows,
        workspaces,
        sandboxes,
      },
      null,
      1,
    ),
  );
}

/** Waits until at least `n` pushes are in flight (sent, not yet answered). */
async function inFlight(load: Workload, n: number): Promise<void> {
  await until(`${n} pushes in flight`, () => load.pushes.filter((p) => p.endedAt === undefined).length >= n, 30_000);
}

/** (6) An API process SIGKILLed with requests in flight; clients retry with their Idempotency-Key. */
export const apiKill: Fault = {
  name: 'api-sigkill',
  async run({ stack, load, say }) {
    const api = stack.service.apis[0];
    await inFlight(load, 3);
    const inflight = load.pushes.filter((p) => p.endedAt === undefined).length;
    await api.kill();
    say(`api-sigkill: ${api.name} killed with ${inflight} pushes in flight`);
    await sleep(2_000);
    await api.start();
    return { inflight };
  },
};

/** (2) A worker SIGKILLed mid-load (activities mid-push, workflows mid-task) and restarted. */
export const workerKill: Fault = {
  name: 'worker-sigkill',
  async run({ stack, load, say }) {
    const worker = stack.service.workers[0];
    await inFlight(load, 3);
    await worker.kill();
    say(`worker-sigkill: ${worker.name} killed`);
    await sleep(2_000);
    await worker.start();
    return {};
  },
};

/** (1) The suite's own Postgres stopped and started again mid-load, twice. */
export const postgresRestart: Fault = {
  name: 'postgres-restart',
  async run({ stack, load, say }) {
    for (let i = 1; i <= 2; i++) {
      await inFlight(load, 2);
      await stack.pg.stop();
      say(`postgres-restart: stopped (${i}/2)`);
      await sleep(3_000);
      await stack.pg.start();
      say(`postgres-restart: started (${i}/2)`);
      if (i === 1) await load.acked(5, 120_000);
    }
    return {};
  },
};

/** (3) The Temporal dev server stopped and started again on its state file mid-load. */
export const temporalRestart: Fault = {
  name: 'temporal-restart',
  async run({ stack, load, say }) {
    await inFlight(load, 2);
    await stack.temporal.stop();
    say('temporal-restart: stopped');
    await sleep(3_000);
    await stack.temporal.start();
    say('temporal-restart: started');
    return {};
  },
};

/**
 * (5) A silent partition (packets dropped, no RST) between one API process and Postgres while
 * an admin changes flags through another API; held `holdMs`.
 */
export function partition(holdMs = 12_000): Fault {
  return {
    name: 'postgres-partition',
    async run({ stack, say }) {
      const admin = stack.service.apis.find((a) => a !== stack.partitionedApi)!;
      stack.proxy.drop();
      say(`postgres-partition: ${stack.partitionedApi.name} cut off from Postgres`);
      const t0 = performance.now();
      const changes: number[] = [];
      let i = 0;
      while (performance.now() - t0 < holdMs) {
        const percent = [10, 50, 0][i++ % 3];
        const res = await fetch(`${admin.url}/v1/flags/git.status`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${stack.admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ percent, reason: `chaos partition change ${i}` }),
          signal: AbortSignal.timeout(10_000),
        }).catch(() => null);
        if (res?.ok) changes.push(percent);
        await sleep(2_000);
      }
      stack.proxy.forward();
      // wall clock (as Postgres's): flag staleness is measured against the heal (chaos/flags.ts)
      return { flagChanges: changes.length, lastPercent: changes.at(-1), healedAt: Date.now() };
    },
  };
}

/** (4) Prometheus stopped for `holdMs` (two analysis intervals) and started again. */
export function prometheusStop(holdMs = 20_000): Fault {
  return {
    name: 'prometheus-stop',
    async run({ stack, say }) {
      await stack.prometheus.stop();
      say('prometheus-stop: stopped');
      await sleep(holdMs);
      await stack.prometheus.start();
      return {};
    },
  };
}

/** Writes zeros into `file` until the filesystem is full; returns the bytes written. */
function fillDisk(file: string): number {
  const fd = openSync(file, 'w');
  let written = 0;
  try {
    for (const size of [1 << 20, 64 << 10, 4 << 10, 512]) {
      const chunk = Buffer.alloc(size);
      for (;;) {
        try {
          written += writeSync(fd, chunk);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
          throw e;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/**
 * (7) The sandboxes' disk full (a tmpfs: startChaosStack's sandboxTmpfsBytes) for `holdMs`, so
 * clones (agents re-creating workspaces) and pushes (commits, rebases) hit ENOSPC; then freed.
 */
export function diskFull(holdMs = 15_000): Fault {
  return {
    name: 'disk-full',
    async run({ stack, say }) {
      const filler = join(stack.sandboxRoot, 'chaos-filler');
      const bytes = fillDisk(filler);
      say(`disk-full: ${bytes} bytes of filler; the sandboxes' disk is full`);
      await sleep(holdMs);
      rmSync(filler, { force: true });
      return { fillerBytes: bytes };
    },
  };
}
