/**
 * `sgc validation …`: start and steer validation periods (seed 000) from a terminal, through the
 * same Temporal helper as the API (clients/validation.ts). Register with
 * `program.addCommand(validationCommand())`.
 *
 *   validation start [--id v1] [--weeks 4] [--min-weeks 2] [--max-weeks 6]
 *                    [--backtest-start 2026-09-01T00:00:00Z --backtest-end 2026-10-13T00:00:00Z]
 *                    [--day-seconds 0] [--query validation.error_rate=<PromQL> …] [--wait]
 *   validation status v1 [--json]
 *   validation extend v1 --reason "…" [--weeks 1]
 *   validation decide-now v1 [--reason "…"]
 *   validation override v1 --decision STAY|MIGRATE|EXTEND --reason "…"
 */
import { userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { Command, InvalidArgumentError, Option } from 'commander';
import {
  buildValidationInput,
  decideValidationNow,
  extendValidationPeriod,
  getValidationPeriod,
  overrideValidationDecision,
  startValidationPeriod,
  type StartValidationRequest,
  type ValidationView,
} from '../../clients/validation.js';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { createTemporalClient } from '../../clients/temporal.js';
import type { validationPeriodWorkflow } from '../../workflows/validation-period/workflow.js';
import { validationSummary } from '../../workflows/summary.js';
import { waitWithProgress } from './wait.js';

function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

function wholeNumber(min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number ≥ ${min}`);
    return n;
  };
}

/** `--query name=promql`, repeatable. */
function queryOverride(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const eq = v.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError('expected name=PromQL');
  return { ...prev, [v.slice(0, eq).trim()]: v.slice(eq + 1) };
}

async function withClient<T>(loadCfg: () => Config, fn: (client: Client, config: Config) => Promise<T>): Promise<T> {
  const config = loadCfg();
  const client = await createTemporalClient(config.temporal);
  try {
    return await fn(client, config);
  } finally {
    await client.connection.close();
  }
}

const fmtTime = (unix: number): string => new Date(unix * 1000).toISOString().replace('.000Z', 'Z');

/** One screen for people; `--json` prints the view as is. */
export function formatValidation(v: ValidationView): string {
  const lines = [`validation ${v.id} (${v.workflowId}): ${v.execution}`];
  const s = v.status;
  if (s) {
    lines.push(
      `  ${s.mode}${s.backtest ? ` over ${fmtTime(s.backtest.start)} → ${fmtTime(s.backtest.end)}` : ''}; week ${s.week} (planned decision at week ${s.plannedWeeks}, max ${s.maxWeeks}), next day ${s.day}, ${s.phase}`,
      `  last decision: ${s.lastDecision ? `week ${s.lastDecision.week} ${s.lastDecision.decision}${s.provisional ? ` (if decided now: ${s.provisional})` : ''}` : 'none yet'}`,
      ...(s.lastDecision?.reasons ?? []).map((r) => `    - ${r}`),
    );
    if (s.currentWeekTriggers.length > 0) {
      lines.push(
        `  this week (days ${s.daysTakenThisWeek.join(', ')}):`,
        ...s.currentWeekTriggers.map(
          (t) =>
            `    ${t.trigger}: ${t.status}, ${t.breachHours} h above ${t.threshold}${t.max === null ? '' : `, max ${Number(t.max.toPrecision(4))}`}`,
        ),
      );
    }
    for (const e of s.extensions)
      lines.push(`  extended at week ${e.atWeek} to week ${e.plannedWeeks}${e.by ? ` by ${e.by}` : ''}: ${e.reason}`);
  }
  const r = v.result;
  if (r) {
    lines.push(
      `  decision: ${r.decision}${r.override ? ` (operator override of ${r.ruleDecision} by ${r.override.by ?? 'unknown'}: ${r.override.reason})` : ''} at week ${r.week}${r.incomplete ? ', with incomplete data' : ''}${r.forced ? ', forced' : ''}`,
      ...r.reasons.map((x) => `    - ${x}`),
      `  reports: ${r.reportIds.join(', ')}`,
    );
  }
  return lines.join('\n');
}

export function validationCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cmd = new Command('validation').description(
    'validation periods of approach 1 (validationPeriodWorkflow, seed 000)',
  );

  cmd
    .command('start')
    .description('start a validation period: live from now, or a backtest over a past window')
    .option('--id <id>', 'period id; the workflow id is validation-<id> (default: date + random)')
    .option('--weeks <n>', 'planned decision week (default 4)', wholeNumber(1))
    .option('--min-weeks <n>', 'no decision before this week (default 2)', wholeNumber(1))
    .option('--max-weeks <n>', 'last week; the decision is forced there (default 6)', wholeNumber(1))
    .option('--backtest-start <time>', 'backtest window start (ISO 8601 or unix seconds)')
    .option('--backtest-end <time>', 'backtest window end (ISO 8601 or unix seconds)')
    .option(
      '--day-seconds <n>',
      'live: the day length; backtest: wall seconds per simulated day (default 0)',
      wholeNumber(0),
    )
    .option('--query <name=promql>', 'override a validation.* query for this run (repeatable)', queryOverride)
    .addOption(
      new Option('--wait', 'wait for the decision, printing week/day and the last checkpoint as the period goes'),
    )
    .action(
      async (o: {
        id?: string;
        weeks?: number;
        minWeeks?: number;
        maxWeeks?: number;
        backtestStart?: string;
        backtestEnd?: string;
        daySeconds?: number;
        query?: Record<string, string>;
        wait?: boolean;
      }) => {
        if ((o.backtestStart === undefined) !== (o.backtestEnd === undefined))
          throw new InvalidArgumentError('--backtest-start and --backtest-end go together');
        const asTime = (v: string): string | number => (/^\d+$/.test(v) ? Number(v) : v);
        const req: StartValidationRequest = {
          weeks: o.weeks,
          minWeeks: o.minWeeks,
          maxWeeks: o.maxWeeks,
          dayLengthSeconds: o.daySeconds,
          queries: o.query,
          ...(o.backtestStart !== undefined && o.backtestEnd !== undefined
            ? { backtest: { start: asTime(o.backtestStart), end: asTime(o.backtestEnd) } }
            : {}),
        };
        await withClient(loadCfg, async (client, config) => {
          const input = buildValidationInput(req, config.validation, config.queries, Math.floor(Date.now() / 1000));
          const started = await startValidationPeriod(
            { client, taskQueue: config.temporal.taskQueues.phases },
            input,
            o.id,
          );
          out(
            `started ${started.mode} validation ${started.id} (workflow ${started.workflowId}, run ${started.runId})`,
          );
          if (o.wait) {
            await waitWithProgress({
              out,
              poll: async () => {
                const v = await getValidationPeriod(client, started.id);
                return {
                  done: v.execution !== 'RUNNING',
                  line: v.status ? validationSummary(v.status) : `validation ${started.id}: ${v.execution}`,
                };
              },
            });
            const r = await client.workflow.getHandle<typeof validationPeriodWorkflow>(started.workflowId).result();
            out(`decision: ${r.decision} at week ${r.week}${r.incomplete ? ' (incomplete data)' : ''}`);
            for (const x of r.reasons) out(`  - ${x}`);
            out(`reports: ${r.reportIds.join(', ')}`);
          }
        });
      },
    );

  cmd
    .command('status <id>')
    .description("the period's status query (or its result once decided)")
    .option('--json', 'print JSON')
    .action(async (id: string, o: { json?: boolean }) => {
      const v = await withClient(loadCfg, (client) => getValidationPeriod(client, id));
      out(o.json ? JSON.stringify(v, null, 2) : formatValidation(v));
    });

  cmd
    .command('extend <id>')
    .description('move the planned decision later (signal extend)')
    .requiredOption('--reason <text>', 'why (recorded in the audit and the reports)')
    .option('--weeks <n>', 'weeks to add (default 1)', wholeNumber(1))
    .action(async (id: string, o: { reason: string; weeks?: number }) => {
      await withClient(loadCfg, (client) =>
        extendValidationPeriod(client, id, { reason: o.reason, weeks: o.weeks, by: cliActor() }),
      );
      out(`asked validation ${id} to extend`);
    });

  cmd
    .command('decide-now <id>')
    .description('decide now with the data there is (signal decideNow)')
    .option('--reason <text>', 'why')
    .action(async (id: string, o: { reason?: string }) => {
      await withClient(loadCfg, (client) => decideValidationNow(client, id, { reason: o.reason, by: cliActor() }));
      out(`asked validation ${id} to decide now`);
    });

  cmd
    .command('override <id>')
    .description("replace the rules' decision (update overrideDecision; audited)")
    .addOption(
      new Option('--decision <decision>', 'the decision').choices(['STAY', 'MIGRATE', 'EXTEND']).makeOptionMandatory(),
    )
    .requiredOption('--reason <text>', 'why (required; recorded in the audit and the readiness report)')
    .action(async (id: string, o: { decision: 'STAY' | 'MIGRATE' | 'EXTEND'; reason: string }) => {
      const r = await withClient(loadCfg, (client) =>
        overrideValidationDecision(client, id, { decision: o.decision, reason: o.reason, by: cliActor() }),
      );
      out(`validation ${id}: ${r.decision} in force (the rules said ${r.ruleDecision} at week ${r.week})`);
    });

  return cmd;
}
