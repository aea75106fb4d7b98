/**
 * The Temporal client of production baselines (seed 003), shared by the API routes and the CLI:
 * build a run's full input from `config.baseline` + overrides (workflow code cannot read config),
 * start it, read its status, cancel it, and manage baseline Schedules. Client-only (no worker).
 */
import { randomUUID } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { z } from 'zod';
import type { LoadMix, LoadTarget } from '../activities/baseline.js';
import type { Config } from '../lib/config/index.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import { baselineWorkflowId, scheduleId } from '../workflows/ids.js';
import { sgcPhaseKey } from '../workflows/search-attributes.js';
import { startMemo } from '../workflows/summary.js';
import { cancelSignal, statusQuery, type BaselineStatus } from '../workflows/production-baseline/messages.js';
import {
  MAX_LOAD_WINDOWS,
  productionBaselineWorkflow,
  type ProductionBaselineInput,
  type ProductionBaselineResult,
} from '../workflows/production-baseline/workflow.js';
import { runIdSchema, runView, type PhaseTemporal, type RunView } from './runs.js';

import { OPERATION_DURATION_BUCKETS_SECONDS } from '../lib/metrics.js';
import { CSV_PROFILES, isCsvProfile, type CsvProfile } from '../lib/baseline/csv.js';

const stage = {
  rps: z.number().positive().max(10_000).optional(),
  connections: z.number().int().min(1).max(1_000).optional(),
};
const seconds = z
  .number()
  .int()
  .positive()
  .max(30 * 86_400);
const fraction = z.number().min(0).max(1);

const mixSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('git'),
    workspaceIds: z.array(runIdSchema).max(1_000).optional(),
    repoUrl: z.string().min(1).optional(),
    workspaces: z.number().int().min(1).max(1_000).optional(),
    weights: z
      .object({
        status: z.number().nonnegative().optional(),
        diff: z.number().nonnegative().optional(),
        edit: z.number().nonnegative().optional(),
      })
      .optional(),
  }),
  z.object({
    kind: z.literal('requests'),
    requests: z
      .array(
        z.object({
          name: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/),
          weight: z.number().nonnegative(),
          method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']),
          path: z
            .string()
            .regex(/^\/[^\s]*$/, 'must start with "/" and contain no spaces')
            .max(2_000),
          body: z.string().max(65_536).optional(),
          contentType: z.string().max(100).optional(),
        }),
      )
      .min(1)
      .max(50),
  }),
]);

/** Overrides a caller may give for one baseline (POST /v1/baselines, `cli baseline start`, a Schedule). */
export const baselineOverridesSchema = z.object({
  id: runIdSchema.optional().describe('run id (default: random); the workflow id is baseline-<id>'),
  target: z
    .object({
      baseUrl: z
        .string()
        .url()
        .refine((u) => {
          const x = new URL(u);
          return (x.protocol === 'http:' || x.protocol === 'https:') && !x.username && !x.password;
        }, 'must be http(s) without credentials')
        .optional(),
      tokenRef: z
        .string()
        .regex(/^SGC_[A-Z0-9_]*TOKEN$/, 'must name an SGC_…TOKEN variable of the worker')
        .optional()
        .describe('name of the worker environment variable holding the load token (never the token)'),
      healthPath: z
        .string()
        .regex(/^\/[^\s]*$/)
        .optional(),
      authCheckPath: z
        .string()
        .regex(/^\/[^\s]*$/)
        .optional(),
      mix: mixSchema.optional(),
    })
    .optional(),
  profile: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,60}$/)
    .optional()
    .describe('CSV profile: default, seed-v3, or a profile declared under baseline.profiles in temporal.yaml'),
  job: z.string().min(1).max(200).optional(),
  warmup: z
    .object({
      ...stage,
      durationSeconds: z
        .number()
        .int()
        .nonnegative()
        .max(30 * 86_400)
        .optional(),
    })
    .optional(),
  baseline: z
    .object({ ...stage, samples: z.number().int().min(1).max(1_000).optional(), intervalSeconds: seconds.optional() })
    .optional(),
  day2: z
    .object({
      ...stage,
      enabled: z.boolean().optional(),
      waitSeconds: z
        .number()
        .int()
        .nonnegative()
        .max(30 * 86_400)
        .optional(),
      samples: z.number().int().min(1).max(1_000).optional(),
      intervalSeconds: seconds.optional(),
    })
    .optional(),
  fallbackScenario: z
    .object({
      ...stage,
      enabled: z.boolean().optional(),
      samples: z.number().int().min(1).max(1_000).optional(),
      intervalSeconds: seconds.optional(),
    })
    .optional(),
  breaker: z
    .object({
      errorRateMax: fraction.optional(),
      effectiveFallbackMax: fraction.optional(),
      live: z.boolean().optional(),
      windowSeconds: z.number().int().min(5).max(3_600).optional(),
      checkEverySeconds: z.number().int().min(1).max(300).optional(),
      minRequests: z.number().int().min(1).max(100_000).optional(),
    })
    .optional(),
  expectedFlags: z
    .record(
      z.string(),
      z.object({ percent: z.number().int().min(0).max(100).optional(), shadow: z.boolean().optional() }),
    )
    .optional(),
});
export type BaselineOverrides = z.infer<typeof baselineOverridesSchema>;

const strip = <T extends object>(o: T | undefined): Partial<T> =>
  Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;

/**
 * The run's CSV profile: a built-in by name, or a declared profile carried whole in the input (so a
 * later change to temporal.yaml never changes a running baseline's columns). Unknown: a clear
 * error naming `profile`.
 */
export function csvProfileFromConfig(b: Pick<Config['baseline'], 'profiles'>, name: string): CsvProfile {
  if (isCsvProfile(name)) return name;
  const spec = b.profiles[name];
  if (!spec) {
    const declared = Object.keys(b.profiles);
    throw new DomainError(
      ErrorType.Validation,
      `unknown CSV profile "${name}": built-in ${CSV_PROFILES.join(', ')}${declared.length ? `, or declared ${declared.join(', ')}` : ''}`,
      { details: { field: 'profile' } },
    );
  }
  return {
    name,
    columns: spec.columns.map((c) => ({ ...c })),
    ...(spec.operations
      ? {
          operations: spec.operations.map((op) => ({
            ...op,
            successColumns: [...op.successColumns],
            failureColumns: [...op.failureColumns],
          })),
        }
      : {}),
  };
}

/** The load windows an input asks for (warmup windows are baseline.intervalSeconds long). */
export function loadWindows(input: ProductionBaselineInput): number {
  return (
    Math.ceil(input.warmup.durationSeconds / input.baseline.intervalSeconds) +
    input.baseline.samples +
    (input.day2.enabled ? input.day2.samples : 0) +
    (input.fallbackScenario.enabled ? input.fallbackScenario.samples : 0)
  );
}

/**
 * A full ProductionBaselineInput: seed 003 defaults from `config.baseline`, then overrides. The
 * default target is our own API with the git mix (its workspaces created from `repoUrl`, or
 * listed), authenticated with the token the worker finds in SGC_BASELINE_TOKEN.
 */
export function baselineInputFromConfig(
  config: Pick<Config, 'baseline' | 'api'>,
  overrides: BaselineOverrides = {},
): ProductionBaselineInput {
  const b = config.baseline;
  const o = overrides;
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  const given: LoadMix = o.target?.mix ?? { kind: 'git', workspaces: b.load.workspaces, weights: b.load.mix };
  // a git mix naming neither workspaces nor a repository loads the configured repository
  const mix: LoadMix =
    given.kind === 'git' && !given.workspaceIds?.length && !given.repoUrl && b.load.repoUrl
      ? { ...given, repoUrl: b.load.repoUrl }
      : given;
  const target: LoadTarget = {
    baseUrl: o.target?.baseUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.api.port}`,
    tokenRef: o.target?.tokenRef ?? 'SGC_BASELINE_TOKEN',
    healthPath: o.target?.healthPath ?? '/healthz',
    ...(o.target?.authCheckPath ? { authCheckPath: o.target.authCheckPath } : {}),
    mix:
      mix.kind === 'git'
        ? { ...mix, workspaces: mix.workspaces ?? b.load.workspaces, weights: { ...b.load.mix, ...mix.weights } }
        : mix,
  };
  const input: ProductionBaselineInput = {
    target,
    profile: csvProfileFromConfig(b, o.profile ?? b.profile),
    job: o.job ?? b.job,
    warmup: { ...b.warmup, ...strip(o.warmup) },
    baseline: { ...b.baseline, ...strip(o.baseline) },
    day2: { ...b.day2, ...strip(o.day2) },
    fallbackScenario: { ...b.fallbackScenario, ...strip(o.fallbackScenario) },
    breaker: { ...b.breaker, ...strip(o.breaker) },
    criteria: b.criteria,
    slo: {
      service: b.slo.service,
      latencyHeadroom: b.slo.latencyHeadroom,
      budgetHeadroom: b.slo.budgetHeadroom,
      periodDays: b.slo.periodDays,
      latencyBucketsSeconds: OPERATION_DURATION_BUCKETS_SECONDS,
    },
    load: {
      requestTimeoutMs: b.load.requestTimeoutMs,
      ...(b.load.maxInFlight ? { maxInFlight: b.load.maxInFlight } : {}),
    },
    expectedFlags: o.expectedFlags ?? b.preflight.expectedFlags,
  };
  if (target.mix.kind === 'git' && !target.mix.workspaceIds?.length && !target.mix.repoUrl) {
    throw new DomainError(
      ErrorType.Validation,
      'the git mix needs target.mix.workspaceIds or target.mix.repoUrl (or baseline.load.repoUrl in temporal.yaml)',
      { details: { field: 'target.mix' } },
    );
  }
  const windows = loadWindows(input);
  if (windows > MAX_LOAD_WINDOWS) {
    throw new DomainError(
      ErrorType.Validation,
      `the run asks for ${windows} load windows; at most ${MAX_LOAD_WINDOWS}`,
      { details: { field: 'baseline.samples' } },
    );
  }
  return input;
}

/** The memo a baseline starts with: its plan in one line. */
function baselineStartSummary(input: ProductionBaselineInput): string {
  return `baseline starting: ${input.baseline.samples} samples × ${input.baseline.intervalSeconds} s at ${input.baseline.rps} req/s against ${input.target.baseUrl}`;
}

/** Starts a baseline; a second start with the same id is a conflict, not a second run. */
export async function startBaseline(
  t: PhaseTemporal,
  input: ProductionBaselineInput,
  id: string = randomUUID(),
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = baselineWorkflowId(id);
  try {
    const h = await t.client.workflow.start(productionBaselineWorkflow, {
      taskQueue: t.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [{ key: sgcPhaseKey, value: 'baseline' }],
      memo: startMemo(baselineStartSummary(input)),
    });
    return { workflowId, runId: h.firstExecutionRunId };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError)
      throw new DomainError(ErrorType.Conflict, `baseline ${id} already exists`, { details: { workflowId } });
    throw e;
  }
}

export function baselineStatus(client: Client, id: string): Promise<RunView<BaselineStatus, ProductionBaselineResult>> {
  return runView(client, baselineWorkflowId(id), statusQuery);
}

/** Asks a running baseline to stop; it writes a partial summary and ends as `cancelled`. */
export async function cancelBaseline(client: Client, id: string, reason: string): Promise<void> {
  try {
    await client.workflow.getHandle(baselineWorkflowId(id)).signal(cancelSignal, { reason });
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new DomainError(ErrorType.NotFound, `no running baseline ${id}`);
    throw e;
  }
}

export const scheduleNameSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, 'must be 1-40 lowercase letters, digits or "-"');

export interface BaselineScheduleSpec {
  name: string;
  /** a cron expression (UTC), e.g. "0 9 * * 1" */
  cron?: string;
  /** or an interval, e.g. "7d" */
  every?: string;
  paused?: boolean;
}

/** Schedule id of a named baseline Schedule: sgc-baseline-<name>. */
export const baselineScheduleId = (name: string): string => scheduleId(`baseline-${name}`);

/**
 * A Schedule that starts productionBaselineWorkflow with `input` (fixed at creation). Runs never
 * overlap: a baseline loads the target for hours, a second one at once would double the load.
 */
export async function createBaselineSchedule(
  t: PhaseTemporal,
  spec: BaselineScheduleSpec,
  input: ProductionBaselineInput,
): Promise<{ scheduleId: string }> {
  if (!spec.cron === !spec.every)
    throw new DomainError(ErrorType.Validation, 'give exactly one of cron or every', { details: { field: 'cron' } });
  const id = baselineScheduleId(spec.name);
  try {
    await t.client.schedule.create({
      scheduleId: id,
      spec: spec.cron ? { cronExpressions: [spec.cron] } : { intervals: [{ every: spec.every as `${number}d` }] },
      action: {
        type: 'startWorkflow',
        workflowType: productionBaselineWorkflow,
        args: [input],
        taskQueue: t.taskQueue,
        typedSearchAttributes: [{ key: sgcPhaseKey, value: 'baseline' }],
        memo: startMemo(`scheduled ${baselineStartSummary(input)}`),
        // the Schedule appends the fire time, so each run's id is unique and names its Schedule
        workflowId: baselineWorkflowId(`sched-${spec.name}`),
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      state: { paused: spec.paused ?? false },
      memo: { spec: spec.cron ? `cron ${spec.cron}` : `every ${spec.every}` },
    });
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning)
      throw new DomainError(ErrorType.Conflict, `schedule ${spec.name} already exists`);
    throw e;
  }
  return { scheduleId: id };
}

export interface BaselineScheduleView {
  name: string;
  scheduleId: string;
  spec: string;
  paused: boolean;
  nextRuns: string[];
  recentRuns: { workflowId: string; at: string }[];
}

/** Every baseline Schedule (ids sgc-baseline-*). Listing is eventually consistent on the server. */
export async function listBaselineSchedules(client: Client): Promise<BaselineScheduleView[]> {
  const prefix = baselineScheduleId('');
  const out: BaselineScheduleView[] = [];
  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(prefix)) continue;
    out.push({
      name: s.scheduleId.slice(prefix.length),
      scheduleId: s.scheduleId,
      spec: typeof s.memo?.spec === 'string' ? s.memo.spec : '',
      paused: s.state.paused,
      nextRuns: s.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()),
      recentRuns: s.info.recentActions.map((a) => ({
        workflowId: a.action.workflow.workflowId,
        at: a.takenAt.toISOString(),
      })),
    });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** pause | unpause | trigger (run now) a named baseline Schedule. */
export async function controlBaselineSchedule(
  client: Client,
  name: string,
  action: 'pause' | 'unpause' | 'trigger',
  note?: string,
): Promise<void> {
  const handle = client.schedule.getHandle(baselineScheduleId(name));
  try {
    if (action === 'pause') await handle.pause(note ?? 'paused by an operator');
    else if (action === 'unpause') await handle.unpause(note ?? 'unpaused by an operator');
    // a manual trigger must not start a second baseline beside a running one either
    else await handle.trigger(ScheduleOverlapPolicy.SKIP);
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) throw new DomainError(ErrorType.NotFound, `no baseline schedule ${name}`);
    throw e;
  }
}
