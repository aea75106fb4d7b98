/**
 * `sgc drift …`: drift reviews (seed 001) from a terminal, through the same Temporal helpers as
 * the API (clients/drift.ts). Register with `program.addCommand(driftCommand())`.
 *
 *   drift start [--id d1] [--job sgc-worker [--instance regex]] [--mode short|full] [--duration 7200] [--interval 300]
 *
 * Without --job a review covers every process of drift.targets (the API and the worker).
 *   drift status d1 [--json]
 */
import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { driftInputFromConfig, driftOverridesSchema, driftStatus, startDrift } from '../../clients/drift.js';
import { createTemporalClient } from '../../clients/temporal.js';
import type { DriftStatus } from '../../workflows/drift-review/messages.js';
import type { DriftReviewResult } from '../../workflows/drift-review/workflow.js';
import { driftSummary } from '../../workflows/summary.js';
import { waitWithProgress } from './wait.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

/** One screen for people; `--json` prints the answer as is. */
export function formatDrift(id: string, state: string, s: DriftStatus | null, r: DriftReviewResult | null): string {
  if (r) {
    // results of reviews from before `processes` carry one process's fields only
    const processes = r.processes ?? [];
    return [
      `drift review ${id}: ${state} — ${r.passed ? 'PASS' : 'FAIL'}${r.mode ? ` (${r.mode})` : ''}`,
      ...(r.failedProcesses?.length ? [`  failed processes: ${r.failedProcesses.join(', ')}`] : []),
      ...processes.map(
        (p) =>
          `  ${p.passed ? 'pass' : 'FAIL'} ${p.name} (job ${p.job}): ${p.summary}${p.failed.length ? `; failed: ${p.failed.join(', ')}` : ''}${p.missing.length ? `; no data: ${p.missing.join(', ')}` : ''}`,
      ),
      ...(processes.length === 0 ? [`  ${r.summary}`] : []),
      `  report: ${r.reportId}`,
    ].join('\n');
  }
  if (!s) return `drift review ${id}: ${state}`;
  const lines = [
    `drift review ${id}: ${s.stage}, sample ${s.sampleNum} of ${s.samplesTotal}${s.t0At ? `, T0 ${new Date(s.t0At * 1000).toISOString()}` : ''}`,
  ];
  for (const [name, v] of Object.entries(s.lastSample?.targets ?? {})) {
    const rss = typeof v.rssBytes === 'number' ? `${(v.rssBytes / 1048576).toFixed(1)} MB` : 'NA';
    lines.push(`  ${name}: RSS ${rss}, CPU ${typeof v.cpuPercent === 'number' ? v.cpuPercent.toFixed(2) : 'NA'}%`);
  }
  return lines.join('\n');
}

export function driftCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cmd = new Command('drift').description('drift reviews / soaks of a process (driftReviewWorkflow, seed 001)');

  const withTemporal = async <T>(
    fn: (config: Config, client: Awaited<ReturnType<typeof createTemporalClient>>) => Promise<T>,
  ): Promise<T> => {
    const config = loadCfg();
    const client = await createTemporalClient(config.temporal);
    try {
      return await fn(config, client);
    } finally {
      await client.connection.close();
    }
  };

  cmd
    .command('start')
    .description('start a review (temporal.yaml drift: defaults under the flags)')
    .option('--id <id>', 'review id (default: random)')
    .option('--job <job>', 'review only this Prometheus job (default: every process of drift.targets)')
    .option('--instance <regex>', 'instance regex (default: all instances of the job)')
    .addOption(new Option('--mode <mode>', 'short soak (2 h) or full review (48 h)').choices(['short', 'full']))
    .option('--duration <seconds>', 'soak duration (overrides --mode)', positiveInt)
    .option('--interval <seconds>', 'sample interval', positiveInt)
    .option('--wait', 'wait for the verdict, printing sample n of N as the review goes')
    .action(
      async (o: {
        id?: string;
        job?: string;
        instance?: string;
        mode?: 'short' | 'full';
        duration?: number;
        interval?: number;
        wait?: boolean;
      }) => {
        const parsed = driftOverridesSchema.safeParse({
          id: o.id,
          mode: o.mode,
          durationSeconds: o.duration,
          intervalSeconds: o.interval,
          ...(o.job ? { target: { job: o.job, ...(o.instance ? { instance: o.instance } : {}) } } : {}),
        });
        if (!parsed.success)
          throw new InvalidArgumentError(
            parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          );
        const { id = randomUUID(), ...overrides } = parsed.data;
        await withTemporal(async (config, client) => {
          const r = await startDrift(
            { client, taskQueue: config.temporal.taskQueues.phases },
            driftInputFromConfig(config, overrides),
            id,
          );
          out(`started drift review ${id} (workflow ${r.workflowId}, run ${r.runId})`);
          if (!o.wait) return;
          await waitWithProgress({
            out,
            poll: async () => {
              const v = await driftStatus(client, id);
              if (v.state === 'RUNNING' && v.status) return { done: false, line: driftSummary(v.status) };
              return { done: v.state !== 'RUNNING', line: formatDrift(id, v.state, v.status, v.result) };
            },
          });
        });
      },
    );

  cmd
    .command('status <id>')
    .description("the review's status query, or its verdict once finished")
    .option('--json', 'print the raw answer')
    .action(async (id: string, o: { json?: boolean }) => {
      const v = await withTemporal((_config, client) => driftStatus(client, id));
      out(o.json ? JSON.stringify(v, null, 2) : formatDrift(id, v.state, v.status, v.result));
    });
  return cmd;
}
