/**
 * `npm run record-histories [-- <filter>]`: records the workflow histories that
 * test/replay/replay.test.ts replays. It runs, on the real stack (jest's globalSetup starts it),
 * the workflow tests that exercise each workflow's main paths with shrunk durations; under
 * SGC_RECORD_HISTORIES=1 they save the runs they made (test/helpers/history.ts `recordHistory`).
 * A filter re-records only the histories whose name contains it:
 *
 *   npm run record-histories               # all of them (~5 minutes)
 *   npm run record-histories -- canary     # canaryRolloutWorkflow-*.json only
 *
 * Re-record only for a deliberate, versioned change to a workflow (README, "Changing a
 * workflow"), and commit the new files with that change: a history recorded from the new code
 * proves nothing about the runs the old code left in flight.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './stack.js';

interface Recorder {
  file: string;
  /** test names (a unique part of each) that record */
  tests: string[];
  /** the histories those tests write, test/replay/histories/<name>.json */
  histories: string[];
}

const RECORDERS: Recorder[] = [
  {
    file: 'test/workflows/canary-rollout.test.ts',
    tests: [
      'walks the seed-002 plan',
      'approach-2 error rate above 5% in two consecutive analyses',
      'continue-as-new forced by maxAnalysesPerRun',
      'Updates refuse with the reason',
    ],
    histories: [
      'canaryRolloutWorkflow-stage-advanced',
      'canaryRolloutWorkflow-seed002-dual-write',
      'canaryRolloutWorkflow-seed002-cutover',
      'canaryRolloutWorkflow-last-stage-completed',
      'canaryRolloutWorkflow-auto-rollback',
      'canaryRolloutWorkflow-continued-within-stage',
      'canaryRolloutWorkflow-updates-rolled-back',
    ],
  },
  {
    file: 'test/workflows/validation-backtest.test.ts',
    tests: ['all healthy: STAY at the planned week 4', 'extend moves the planned week'],
    histories: [
      'validationPeriodWorkflow-week-4-stay',
      'validationPeriodWorkflow-messages-first-run',
      'validationPeriodWorkflow-extended-decided-early',
    ],
  },
  {
    file: 'test/workflows/production-baseline.test.ts',
    tests: [
      'a baseline through real Prometheus produces every artifact',
      'the breaker trips when the target starts failing',
    ],
    histories: ['productionBaselineWorkflow-completed', 'productionBaselineWorkflow-breaker-tripped'],
  },
  {
    file: 'test/workflows/drift-review.test.ts',
    tests: ['one review of two processes'],
    histories: [
      'driftReviewWorkflow-first-run-continued',
      'driftReviewWorkflow-last-run-pass',
      'driftReviewWorkflow-fail',
    ],
  },
  {
    file: 'test/workflows/git-operation.test.ts',
    tests: [
      'create, commit + push and pull run through the workflow',
      'a conflict fails the workflow',
      'a worker killed during a push',
    ],
    histories: [
      'gitOperationWorkflow-create',
      'gitOperationWorkflow-commit-push',
      'gitOperationWorkflow-conflict-failed',
      'gitOperationWorkflow-push-retried-after-crash',
    ],
  },
  {
    file: 'test/workflows/pool-maintenance.test.ts',
    tests: ['poolMaintenanceWorkflow runs the chore its input names'],
    histories: ['poolMaintenanceWorkflow-cleanup'],
  },
  {
    file: 'test/workflows/merge-queue.test.ts',
    tests: ['N agents pushing one branch in queue mode all land exactly once'],
    histories: ['gitOperationWorkflow-push-queued', 'mergeQueueWorkflow-batches'],
  },
  {
    file: 'test/workflows/rollback-drill.test.ts',
    tests: [
      'the drill flips the flags on and off under load',
      'reconciliationWorkflow compares the dual-write records',
    ],
    histories: ['rollbackDrillWorkflow-pass', 'reconciliationWorkflow'],
  },
];

const HISTORIES = join(ROOT, 'test', 'replay', 'histories');
const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

function main(): number {
  const filter = process.argv[2];
  const chosen = RECORDERS.filter((r) => !filter || r.histories.some((h) => h.includes(filter)));
  if (chosen.length === 0) {
    process.stderr.write(
      `no history matches "${filter}"; known: ${RECORDERS.flatMap((r) => r.histories).join(', ')}\n`,
    );
    return 2;
  }
  const expected = chosen.flatMap((r) => r.histories);
  const started = Date.now();
  const args = [
    'test',
    '--',
    '--selectProjects',
    'workflows',
    ...chosen.map((r) => r.file),
    '-t',
    chosen
      .flatMap((r) => r.tests)
      .map(escape)
      .join('|'),
  ];
  process.stderr.write(`[record-histories] recording ${expected.length} histories: npm ${args.join(' ')}\n`);
  const run = spawnSync('npm', args, {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, SGC_RECORD_HISTORIES: '1' },
  });
  if (run.status !== 0) {
    process.stderr.write('[record-histories] the recording tests failed: no history is trustworthy until they pass\n');
    return run.status ?? 1;
  }
  const missing = expected.filter((h) => {
    try {
      return statSync(join(HISTORIES, `${h}.json`)).mtimeMs < started;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) {
    process.stderr.write(
      `[record-histories] not written (a recording test was renamed or skipped?): ${missing.join(', ')}\n`,
    );
    return 1;
  }
  const known = new Set(RECORDERS.flatMap((r) => r.histories).map((h) => `${h}.json`));
  const stray = readdirSync(HISTORIES).filter((f) => f.endsWith('.json') && !known.has(f));
  for (const h of expected) {
    const { size } = statSync(join(HISTORIES, `${h}.json`));
    process.stderr.write(`[record-histories] ${h}.json ${(size / 1024).toFixed(0)} KiB\n`);
  }
  if (stray.length > 0)
    process.stderr.write(
      `[record-histories] histories no recorder writes (kept; still replayed): ${stray.join(', ')}\n`,
    );
  process.stderr.write(
    '[record-histories] done: check `npm test -- test/replay`, then commit test/replay/histories with the workflow change\n',
  );
  return 0;
}

process.exit(main());
