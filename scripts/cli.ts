/**
 * `npm run cli -- <command>`: operate the phases from a terminal, straight against Temporal and
 * Postgres with the same config as the services (temporal.yaml + environment).
 *
 *   npm run cli -- validation start --backtest-start 2026-10-01 --backtest-end 2026-11-12
 *   npm run cli -- rollout start | status <id> | advance <id> | rollback <id> --reason "…"
 *   npm run cli -- flags list | set git.push 10 --reason "…" | kill --reason "…"
 *   npm run cli -- baseline start | status <id> | schedule create …
 *   npm run cli -- drift start | status <id>
 *   npm run cli -- runbook                      # the rollback runbook from the live configuration
 *   npm run cli -- dashboard                    # the Grafana dashboard JSON for the live configuration
 */
import { Command } from 'commander';
import { loadConfig, type Config } from '../lib/config/index.js';
import { cliEnv } from './local-stack.js';
import { baselineCommand } from './cli/baseline.js';
import { dashboardCommand } from './cli/dashboard.js';
import { driftCommand } from './cli/drift.js';
import { flagsCommand } from './cli/flags.js';
import { rolloutCommand } from './cli/rollout.js';
import { runbookCommand } from './cli/runbook.js';
import { validationCommand } from './cli/validation.js';

// the stack `npm start` runs (its .data/stack.json), under this terminal's own environment
const opts = { loadConfig: (): Config => loadConfig({ env: cliEnv() }) };

const program = new Command('sgc')
  .description('sandbox-git-control: validation periods, canary rollouts, flags, baselines, drift reviews')
  .addCommand(validationCommand(opts))
  .addCommand(rolloutCommand(opts))
  .addCommand(flagsCommand(opts))
  .addCommand(baselineCommand(opts))
  .addCommand(driftCommand(opts))
  .addCommand(runbookCommand(opts))
  .addCommand(dashboardCommand(opts));

program.parseAsync(process.argv).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(`sgc: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
