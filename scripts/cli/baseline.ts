/**
 * `sgc baseline …`: production baselines (seed 003) and their Schedules from a terminal, through
 * the same Temporal helpers as the API (clients/baseline.ts). Register with
 * `program.addCommand(baselineCommand())`.
 *
 *   baseline start [--id b1] [--target URL] [--token-ref SGC_BASELINE_TOKEN] [--repo-url URL | --workspace-ids a,b]
 *                  [--rate 80] [--concurrency 20] [--samples 12] [--interval 600] [--warmup 600]
 *                  [--day2-wait 61200] [--no-day2] [--fallback] [--overrides overrides.json]
 *   baseline status b1 [--json]
 *   baseline cancel b1 [--reason "…"]
 *   baseline schedule create weekly (--cron "0 9 * * 1" | --every 7d) [--paused] [--overrides overrides.json]
 *   baseline schedule list [--json]
 *   baseline schedule pause|unpause|trigger weekly
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, type Config } from '../../lib/config/index.js';
import {
  baselineInputFromConfig,
  baselineOverridesSchema,
  baselineStatus,
  cancelBaseline,
  controlBaselineSchedule,
  createBaselineSchedule,
  listBaselineSchedules,
  startBaseline,
  type BaselineOverrides,
} from '../../clients/baseline.js';
import type { PhaseTemporal } from '../../clients/runs.js';
import { createTemporalClient } from '../../clients/temporal.js';
import type { BaselineStatus } from '../../workflows/production-baseline/messages.js';
import { baselineSummary } from '../../workflows/summary.js';
import { waitWithProgress } from './wait.js';
import type { ProductionBaselineResult } from '../../workflows/production-baseline/workflow.js';

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

function nonNegativeInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a whole number ≥ 0');
  return n;
}

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

async function withTemporal<T>(
  loadCfg: () => Config,
  fn: (t: PhaseTemporal, config: Config) => Promise<T>,
): Promise<T> {
  const config = loadCfg();
  const client = await createTemporalClient(config.temporal);
  try {
    return await fn({ client, taskQueue: config.temporal.taskQueues.phases }, config);
  } finally {
    await client.connection.close();
  }
}

interface StartFlags {
  id?: string;
  target?: string;
  tokenRef?: string;
  repoUrl?: string;
  workspaceIds?: string;
  job?: string;
  rate?: number;
  concurrency?: number;
  samples?: number;
  interval?: number;
  warmup?: number;
  day2Wait?: number;
  day2?: boolean;
  fallback?: boolean;
  overrides?: string;
}

/** Overrides from `--overrides file.json`, with the flags on top; validated like the API's body. */
export function overridesFromFlags(o: StartFlags): BaselineOverrides {
  const file = o.overrides ? (JSON.parse(readFileSync(o.overrides, 'utf8')) as Record<string, unknown>) : {};
  const parsed = baselineOverridesSchema.safeParse(file);
  if (!parsed.success)
    throw new InvalidArgumentError(
      `--overrides: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  const b: BaselineOverrides = parsed.data;
  const mix =
    o.repoUrl || o.workspaceIds
      ? {
          kind: 'git' as const,
          ...(o.repoUrl ? { repoUrl: o.repoUrl } : {}),
          ...(o.workspaceIds ? { workspaceIds: o.workspaceIds.split(',').filter(Boolean) } : {}),
        }
      : b.target?.mix;
  const load = { ...(o.rate ? { rps: o.rate } : {}), ...(o.concurrency ? { connections: o.concurrency } : {}) };
  const merged: BaselineOverrides = {
    ...b,
    ...(o.id ? { id: o.id } : {}),
    target: {
      ...b.target,
      ...(o.target ? { baseUrl: o.target } : {}),
      ...(o.tokenRef ? { tokenRef: o.tokenRef } : {}),
      ...(mix ? { mix } : {}),
    },
    ...(o.job ? { job: o.job } : {}),
    warmup: { ...b.warmup, ...(o.warmup !== undefined ? { durationSeconds: o.warmup } : {}) },
    baseline: {
      ...b.baseline,
      ...load,
      ...(o.samples ? { samples: o.samples } : {}),
      ...(o.interval ? { intervalSeconds: o.interval } : {}),
    },
    day2: {
      ...b.day2,
      ...load,
      ...(o.day2Wait !== undefined ? { waitSeconds: o.day2Wait } : {}),
      ...(o.day2 === false ? { enabled: false } : {}),
    },
    fallbackScenario: { ...b.fallbackScenario, ...load, ...(o.fallback ? { enabled: true } : {}) },
  };
  const again = baselineOverridesSchema.safeParse(merged);
  if (!again.success)
    throw new InvalidArgumentError(again.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  return again.data;
}

/** One screen of status for people; `--json` prints the answer as is. */
export function formatBaseline(
  id: string,
  state: string,
  s: BaselineStatus | null,
  r: ProductionBaselineResult | null,
): string {
  if (r) {
    const lines = [
      `baseline ${id}: ${state} — ${r.outcome}, decision ${r.decision.toUpperCase()}`,
      `  samples: ${
        Object.entries(r.samples)
          .filter(([, n]) => n > 0)
          .map(([p, n]) => `${p} ${n}`)
          .join(', ') || 'none'
      }`,
    ];
    if (r.trip) lines.push(`  breaker tripped in ${r.trip.phase} sample ${r.trip.sampleNum}: ${r.trip.reason}`);
    if (r.reason && !r.trip) lines.push(`  reason: ${r.reason}`);
    lines.push(`  reports: ${r.reportIds.join(', ')}`);
    if (r.archive)
      lines.push(`  archive: ${r.archive.name} (sha256 ${r.archive.sha256.slice(0, 16)}…, ${r.archive.bytes} bytes)`);
    return lines.join('\n');
  }
  if (!s) return `baseline ${id}: ${state}`;
  const lines = [
    `baseline ${id}: ${s.status}, stage ${s.stage}${s.phase ? ` — ${s.phase} sample ${s.sampleNum} of ${s.samplesTotal}` : ''}`,
    `  breaker: ${s.breaker.state} (${s.breaker.reason})`,
  ];
  if (s.day2At) lines.push(`  day 2 starts ${new Date(s.day2At * 1000).toISOString()}`);
  if (s.lastSample) {
    const v = s.lastSample.values;
    const pct = (x: number | null | undefined): string => (typeof x === 'number' ? `${(x * 100).toFixed(2)}%` : 'NA');
    lines.push(
      `  last sample (${s.lastSample.phase} ${s.lastSample.sampleNum}): errors ${pct(v.error_rate)}, P95 ${v.p95_latency ?? 'NA'} ms, RSS ${v.rss_mb ?? 'NA'} MB`,
    );
  }
  if (s.decision) lines.push(`  decision so far: ${s.decision.toUpperCase()}`);
  return lines.join('\n');
}

export function baselineCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cmd = new Command('baseline').description(
    'production baselines (productionBaselineWorkflow, seed 003) and their Schedules',
  );

  const withRunFlags = (c: Command): Command =>
    c
      .option('--target <url>', 'base URL of the load target (default: our API)')
      .option('--token-ref <name>', 'worker environment variable holding the load token (SGC_…TOKEN)')
      .option('--repo-url <url>', 'git mix: create the load workspaces from this repository')
      .option('--workspace-ids <ids>', 'git mix: comma-separated existing workspace ids')
      .option('--job <regex>', 'Prometheus job regex whose process metrics count')
      .option('--rate <rps>', 'requests per second of the baseline and day 2', positiveNumber)
      .option('--concurrency <n>', 'connections of the baseline and day 2', positiveInt)
      .option('--samples <n>', 'baseline samples (seed: 12)', positiveInt)
      .option('--interval <seconds>', 'baseline sample interval (seed: 600)', positiveInt)
      .option('--warmup <seconds>', 'warmup duration, 0 to skip (seed: 600)', nonNegativeInt)
      .option('--day2-wait <seconds>', 'wait before day 2 (default 61200)', nonNegativeInt)
      .option('--no-day2', 'skip day 2 (extended validation)')
      .option('--fallback', 'run the optional fallback scenario')
      .option('--overrides <file>', 'JSON file with overrides (same shape as POST /v1/baselines)');

  withRunFlags(cmd.command('start').description('start a baseline (temporal.yaml baseline: defaults under the flags)'))
    .option('--id <id>', 'run id (default: random)')
    .option('--wait', 'wait until the baseline ends, printing its stage and sample n of N as it goes')
    .action(async (o: StartFlags & { wait?: boolean }) => {
      const { id = randomUUID(), ...overrides } = overridesFromFlags(o);
      await withTemporal(loadCfg, async (t, config) => {
        const r = await startBaseline(t, baselineInputFromConfig(config, overrides), id);
        out(`started baseline ${id} (workflow ${r.workflowId}, run ${r.runId})`);
        if (!o.wait) return;
        await waitWithProgress({
          out,
          poll: async () => {
            const v = await baselineStatus(t.client, id);
            if (v.state === 'RUNNING' && v.status) return { done: false, line: baselineSummary(v.status) };
            return { done: v.state !== 'RUNNING', line: formatBaseline(id, v.state, v.status, v.result) };
          },
        });
      });
    });

  cmd
    .command('status <id>')
    .description("the baseline's status query, or its result once finished")
    .option('--json', 'print the raw answer')
    .action(async (id: string, o: { json?: boolean }) => {
      const v = await withTemporal(loadCfg, (t) => baselineStatus(t.client, id));
      out(o.json ? JSON.stringify(v, null, 2) : formatBaseline(id, v.state, v.status, v.result));
    });

  cmd
    .command('cancel <id>')
    .description('stop a baseline: the load stops and a partial summary is written')
    .option('--reason <text>', 'why (kept in the partial summary)')
    .action(async (id: string, o: { reason?: string }) => {
      await withTemporal(loadCfg, (t) =>
        cancelBaseline(t.client, id, o.reason ?? `cancelled from the CLI by ${cliUser()}`),
      );
      out(`asked baseline ${id} to stop`);
    });

  const sched = cmd.command('schedule').description('baselines on Temporal Schedules');
  withRunFlags(sched.command('create <name>').description('create a Schedule that starts a baseline'))
    .option('--cron <expr>', 'cron expression, UTC (e.g. "0 9 * * 1")')
    .option('--every <duration>', 'interval (e.g. 7d)')
    .option('--paused', 'create it paused')
    .action(async (name: string, o: StartFlags & { cron?: string; every?: string; paused?: boolean }) => {
      const { id: _ignored, ...overrides } = overridesFromFlags(o);
      const r = await withTemporal(loadCfg, (t, config) =>
        createBaselineSchedule(
          t,
          { name, cron: o.cron, every: o.every, paused: o.paused },
          baselineInputFromConfig(config, overrides),
        ),
      );
      out(`created schedule ${r.scheduleId}`);
    });

  sched
    .command('list')
    .description('baseline Schedules')
    .option('--json', 'print the raw answer')
    .action(async (o: { json?: boolean }) => {
      const list = await withTemporal(loadCfg, (t) => listBaselineSchedules(t.client));
      if (o.json) {
        out(JSON.stringify(list, null, 2));
        return;
      }
      if (list.length === 0) out('no baseline schedules');
      for (const s of list)
        out(
          `${s.name}\t${s.paused ? 'paused' : 'active'}\t${s.spec}\tnext ${s.nextRuns[0] ?? '—'}\tlast ${s.recentRuns[s.recentRuns.length - 1]?.workflowId ?? '—'}`,
        );
    });

  for (const action of ['pause', 'unpause', 'trigger'] as const) {
    sched
      .command(`${action} <name>`)
      .description(
        action === 'trigger'
          ? 'start the scheduled baseline now (skipped while one runs)'
          : `${action} a baseline Schedule`,
      )
      .action(async (name: string) => {
        await withTemporal(loadCfg, (t) =>
          controlBaselineSchedule(t.client, name, action, `${action} from the CLI by ${cliUser()}`),
        );
        out(`${action === 'trigger' ? 'triggered' : `${action}d`} schedule ${name}`);
      });
  }
  return cmd;
}

function cliUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'unknown';
  }
}
