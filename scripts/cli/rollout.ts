/**
 * `sgc rollout …`: start and steer canary rollouts from a terminal, through the same Temporal
 * helper as the API (clients/canary.ts): the actions are the workflow's Updates, so one the
 * rollout refuses fails with the reason (exit 1) instead of being sent and ignored.
 * Register with `program.addCommand(rolloutCommand())`.
 *
 *   rollout start [--id r1] [--interval 300] [--auto-advance] [--stages stages.json]
 *   rollout status r1 [--json]
 *   rollout advance r1 [--stage canary-10]
 *   rollout pause r1 [--reason "…"]     rollout resume r1
 *   rollout rollback r1 --reason "…"
 */
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import {
  controlRollout,
  rolloutStatus,
  rolloutInput,
  startRollout,
  validateRolloutInput,
  type RolloutAction,
  type RolloutControlDeps,
} from '../../clients/canary.js';
import { loadConfig, type Config } from '../../lib/config/index.js';
import { createTemporalClient } from '../../clients/temporal.js';
import type { CanaryStatus } from '../../workflows/canary-rollout/messages.js';
import { canarySummary } from '../../workflows/summary.js';
import { waitWithProgress } from './wait.js';

export function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive whole number');
  return n;
}

async function withControl<T>(loadCfg: () => Config, fn: (deps: RolloutControlDeps) => Promise<T>): Promise<T> {
  const config = loadCfg();
  const client = await createTemporalClient(config.temporal);
  try {
    return await fn({ client, taskQueue: config.temporal.taskQueues.phases, defaults: config.canary });
  } finally {
    await client.connection.close();
  }
}

/** One screen of status for people; `--json` prints the query's answer as is. */
export function formatStatus(s: CanaryStatus): string {
  const lines = [
    `rollout ${s.rolloutId}: ${s.status} — stage ${s.stage.index + 1}/${s.stages.length} ${s.stage.name} (${s.stage.percent}% to approach 2, shadow ${s.stage.shadow ? 'on' : 'off'})${s.stage.mode ? `, mode ${s.stage.mode}` : ''}`,
    `  held ${s.stage.heldSeconds}/${s.stage.holdSeconds} s; analyses ${s.analyses.total} (${s.analyses.inStage} in stage); advance ${s.autoAdvance ? 'automatic' : s.advanceApproved ? 'approved' : 'awaits `advance`'}`,
  ];
  if (s.paused) lines.push(`  paused (${s.paused.by}) since ${s.paused.since}: ${s.paused.reason}`);
  const last = s.lastAnalyses[s.lastAnalyses.length - 1];
  if (last)
    lines.push(
      `  last analysis ${last.at}: ${last.status}`,
      ...last.triggers.map((t) => `    ${t.trigger}: ${t.status} — ${t.detail}`),
    );
  if (s.rollback) {
    lines.push(
      `  rolled back (${s.rollback.source}) from ${s.rollback.stage}: ${s.rollback.reason}`,
      `    switched: ${s.rollback.switched ? 'yes' : 'no'} in ${s.rollback.switchDurationMs ?? '—'} ms${s.rollback.missingProcesses.length ? `; missing ${s.rollback.missingProcesses.join(', ')}` : ''}`,
    );
  }
  for (const g of s.goNoGo ?? [])
    lines.push(
      `  ${g.decision} ${g.stage}${g.next ? ` → ${g.next}` : ''} at ${g.at} by ${g.by}: ${g.why}${g.analysis ? ` (analysis ${g.analysis.at}: ${g.analysis.status})` : ''}`,
    );
  if (s.lastRejectedSignal)
    lines.push(`  last ignored signal: ${s.lastRejectedSignal.signal} (${s.lastRejectedSignal.reason})`);
  return lines.join('\n');
}

export function rolloutCommand(opts: { loadConfig?: () => Config; out?: (line: string) => void } = {}): Command {
  const loadCfg = opts.loadConfig ?? (() => loadConfig());
  const out = opts.out ?? ((l: string) => process.stdout.write(`${l}\n`));
  const cmd = new Command('rollout').description('canary rollouts of approach 2 (canaryRolloutWorkflow)');

  cmd
    .command('start')
    .description('start a rollout with the configured stages (temporal.yaml canary:)')
    .option('--id <rolloutId>', 'rollout id (default: random)')
    .option('--interval <seconds>', 'analysis interval', positiveInt)
    .option('--auto-advance', 'advance at each stage end without waiting for `advance`')
    .option('--stages <file>', 'JSON file with the stage list')
    .option('--wait', 'wait until the rollout completes or rolls back, printing its stage and percent as it moves')
    .action(async (o: { id?: string; interval?: number; autoAdvance?: boolean; stages?: string; wait?: boolean }) => {
      const stages = o.stages ? (JSON.parse(readFileSync(o.stages, 'utf8')) as never) : undefined;
      // refused before anything connects: e.g. an interval shorter than two scrape intervals
      validateRolloutInput(rolloutInput(loadCfg().canary, { analysisIntervalSeconds: o.interval, stages }));
      await withControl(loadCfg, async (d) => {
        const r = await startRollout(
          d,
          { rolloutId: o.id, analysisIntervalSeconds: o.interval, autoAdvance: o.autoAdvance, stages },
          cliActor(),
        );
        out(`started rollout ${r.rolloutId} (workflow ${r.workflowId}, run ${r.runId})`);
        if (!o.wait) return;
        const end = await waitWithProgress({
          out,
          poll: async () => {
            const s = await rolloutStatus(d, r.rolloutId);
            return { done: s.status === 'completed' || s.status === 'rolled_back', line: canarySummary(s) };
          },
        });
        if (/rolled back/.test(end)) process.exitCode = 2;
      });
    });

  cmd
    .command('status <rolloutId>')
    .description("the rollout's status query")
    .option('--json', 'print the raw status')
    .action(async (id: string, o: { json?: boolean }) => {
      const s = await withControl(loadCfg, (d) => rolloutStatus(d, id));
      out(o.json ? JSON.stringify(s, null, 2) : formatStatus(s));
    });

  /** One line saying what the action did, from the status the rollout answered with. */
  const done = (name: RolloutAction['name'], id: string, s: CanaryStatus): string => {
    switch (name) {
      case 'advance':
        return `advance from ${s.stage.name} approved for rollout ${id} (held ${s.stage.heldSeconds}/${s.stage.holdSeconds} s; it moves on once the hold is served with a healthy analysis)`;
      case 'pause':
        return `paused rollout ${id} at ${s.stage.name}`;
      case 'resume':
        return `resumed rollout ${id} at ${s.stage.name}`;
      case 'rollback': {
        const rb = s.rollback;
        return `rolled back rollout ${id} from ${rb?.stage ?? s.stage.name}: ${rb?.switched ? `every process switched in ${rb.switchDurationMs ?? 0} ms` : `not every process acknowledged (missing: ${rb?.missingProcesses.join(', ') || 'unknown'})`}`;
      }
    }
  };

  const action = (name: RolloutAction['name'], description: string, extra?: (c: Command) => Command) => {
    let c = cmd.command(`${name} <rolloutId>`).description(description);
    if (extra) c = extra(c);
    c.action(async (id: string, o: { reason?: string; stage?: string }) => {
      const actor = cliActor();
      const a: RolloutAction =
        name === 'rollback'
          ? { name, reason: o.reason!, actor }
          : name === 'pause'
            ? { name, ...(o.reason ? { reason: o.reason } : {}), actor }
            : name === 'advance'
              ? { name, ...(o.stage ? { stage: o.stage } : {}), actor }
              : { name, actor };
      const status = await withControl(loadCfg, (d) => controlRollout(d, id, a));
      out(done(name, id, status));
    });
  };
  action('advance', 'approve the next stage (refused while paused or at the last stage)', (c) =>
    c.option('--stage <name>', 'the stage being approved (guards against a double advance)'),
  );
  action('pause', 'pause (analyses and automatic rollback go on)', (c) => c.option('--reason <text>', 'why'));
  action('resume', 'resume a paused rollout');
  action('rollback', 'roll back now: every flag to 0%', (c) =>
    c.requiredOption('--reason <text>', 'why (required: the audit records it)'),
  );
  return cmd;
}
