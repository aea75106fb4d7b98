/**
 * Benchmark `chaos` (issue 12): every fault of the chaos suite, one after another, on one
 * scaled-out stack (two workers, two API processes, its own Postgres and Temporal dev server,
 * Prometheus scraping them all) under 20 agents pushing on four shared branches over REST with
 * Idempotency-Key retries — then the records are checked (scripts/testing/chaos/check.ts).
 *
 *   faults          faults injected
 *   acknowledged    pushes acknowledged to a client (201)
 *   lost            acknowledged but not on the remote
 *   duplicated      on the remote more than once (operation trailer)
 *   double_held     sandboxes held by two live workspaces
 *   leaked_locks    push locks / workspace leases still held once nothing runs
 *   recovery_p95_s  p95 over the faults of: fault over → the first push acknowledged after it
 *                   (how long the clients caught by a fault waited is each fault's note on stderr)
 *
 * The disk-full fault mounts a tmpfs for the sandboxes: it runs as root only (faults=7, else 6).
 *
 * Goal: the four counts 0, recovery_p95_s < 30. Per-fault lines go to stderr.
 * Prints: BENCH chaos faults=<n> acknowledged=<n> lost=0 duplicated=0 double_held=0 leaked_locks=0 recovery_p95_s=<n>
 */
import { describeVerdict } from '../scripts/testing/chaos/check.js';
import {
  apiKill,
  diskFull,
  partition,
  postgresRestart,
  prometheusStop,
  runFault,
  temporalRestart,
  workerKill,
  type FaultResult,
} from '../scripts/testing/chaos/faults.js';
import { startChaosStack } from '../scripts/testing/chaos/stack.js';
import { stackEnv } from '../scripts/testing/stack.js';

const say = (m: string): void => void process.stderr.write(`[bench chaos] ${m}\n`);

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.95 * s.length) - 1)] ?? 0;
}

async function main(): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) say('not root: no tmpfs to fill, the disk-full fault is left out');
  const stack = await startChaosStack({
    workers: 2,
    apis: 2,
    agents: 20,
    branches: 4,
    temporalBin: stackEnv('SGC_TEMPORAL_BIN'),
    prometheusBin: stackEnv('SGC_PROMETHEUS_BIN'),
    say,
    // the disk-full fault fills this tmpfs (mounting needs root)
    sandboxTmpfsBytes: asRoot ? 128 << 20 : undefined,
  });
  const results: FaultResult[] = [];
  try {
    for (const fault of [
      apiKill,
      workerKill,
      postgresRestart,
      partition(12_000),
      temporalRestart,
      prometheusStop(20_000),
      ...(asRoot ? [diskFull(15_000)] : []),
    ]) {
      const r = await runFault(stack, fault, { say });
      say(
        `${r.name}: fault ${r.faultS.toFixed(1)} s, recovery ${r.recoveryS.toFixed(1)} s, ${describeVerdict(r.verdict)} notes ${JSON.stringify(r.notes)}`,
      );
      results.push(r);
    }
  } finally {
    await stack.close();
  }
  const sum = (f: (r: FaultResult) => number): number => results.reduce((a, r) => a + f(r), 0);
  const lost = sum((r) => r.verdict.lost.length + r.verdict.failedButLanded.length);
  console.log(
    `BENCH chaos faults=${results.length} acknowledged=${sum((r) => r.verdict.acknowledged)} lost=${lost} duplicated=${sum((r) => r.verdict.duplicated.length)} double_held=${sum((r) => r.verdict.doubleHeld.length)} leaked_locks=${sum((r) => r.verdict.leakedLocks.length)} recovery_p95_s=${p95(results.map((r) => r.recoveryS)).toFixed(1)}`,
  );
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`[bench chaos] ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
