/**
 * The Temporal client of drift reviews (seed 001), shared by the API routes and the CLI: build a
 * review's full input from `config.drift` + overrides (workflow code cannot read config), start
 * it, read its status. Client-only (no worker).
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { Config } from '../lib/config/index.js';
import { driftDurationSeconds } from '../lib/config/drift.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import { driftWorkflowId } from '../workflows/ids.js';
import { sgcPhaseKey } from '../workflows/search-attributes.js';
import { startMemo } from '../workflows/summary.js';
import { driftStatusQuery, type DriftStatus } from '../workflows/drift-review/messages.js';
import {
  driftReviewWorkflow,
  type DriftReviewInput,
  type DriftReviewResult,
} from '../workflows/drift-review/workflow.js';
import type { DriftTargetRef as DriftTargetInput } from '../lib/drift/review.js';
import { runIdSchema, runView, type PhaseTemporal, type RunView } from './runs.js';

const targetSchema = z.object({
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,60}$/, 'letters, digits, ".", "_" or "-" (at most 60)')
    .optional()
    .describe('name in the verdict (default: the job)'),
  job: z.string().min(1).max(200),
  instance: z.string().min(1).max(200).optional(),
});

/** Overrides for one drift review. */
export const driftOverridesSchema = z
  .object({
    id: runIdSchema.optional().describe('review id (default: random); the workflow id is drift-<id>'),
    target: targetSchema
      .optional()
      .describe(
        'review this one process only: Prometheus job and instance regex (default: every process of drift.targets)',
      ),
    targets: z
      .array(targetSchema)
      .min(1)
      .max(20)
      .optional()
      .refine(
        (ts) => ts === undefined || new Set(ts.map((t) => t.name ?? t.job)).size === ts.length,
        'target names must be unique (set name when two targets share a job)',
      )
      .describe(
        'the processes to review, each with a verdict of its own (default: drift.targets, the API and the worker)',
      ),
    mode: z.enum(['short', 'full']).optional().describe('short soak (2 h) or full review (48 h)'),
    durationSeconds: z
      .number()
      .int()
      .positive()
      .max(30 * 86_400)
      .optional(),
    intervalSeconds: z.number().int().positive().max(86_400).optional(),
  })
  .refine((o) => !(o.target && o.targets), { message: 'give target or targets, not both', path: ['targets'] });
export type DriftOverrides = z.infer<typeof driftOverridesSchema>;

const asTarget = (t: z.infer<typeof targetSchema>): DriftTargetInput => ({
  name: t.name ?? t.job,
  job: t.job,
  instance: t.instance ?? '.+',
});

/**
 * A full DriftReviewInput: seed 001 defaults from `config.drift` (every target in one review),
 * then overrides.
 */
export function driftInputFromConfig(config: Pick<Config, 'drift'>, o: DriftOverrides = {}): DriftReviewInput {
  const d = config.drift;
  const targets = o.targets
    ? o.targets.map(asTarget)
    : o.target
      ? [asTarget(o.target)]
      : d.targets.map((t) => ({ name: t.name, job: t.job, instance: t.instance }));
  return {
    targets,
    durationSeconds: o.durationSeconds ?? driftDurationSeconds({ ...d, mode: o.mode ?? d.mode }),
    intervalSeconds: o.intervalSeconds ?? d.intervalSeconds,
    thresholds: d.thresholds,
    fullReviewMinSeconds: d.fullReviewMinSeconds,
  };
}

export async function startDrift(
  t: PhaseTemporal,
  input: DriftReviewInput,
  id: string = randomUUID(),
): Promise<{ workflowId: string; runId: string }> {
  const workflowId = driftWorkflowId(id);
  try {
    const h = await t.client.workflow.start(driftReviewWorkflow, {
      taskQueue: t.taskQueue,
      workflowId,
      args: [input],
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
      typedSearchAttributes: [{ key: sgcPhaseKey, value: 'drift' }],
      memo: startMemo(
        `drift review starting: ${(input.targets ?? (input.target ? [input.target] : [])).map((x) => x.name ?? x.job).join(', ')}, ${Math.ceil(input.durationSeconds / input.intervalSeconds)} samples every ${input.intervalSeconds} s`,
      ),
    });
    return { workflowId, runId: h.firstExecutionRunId };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError)
      throw new DomainError(ErrorType.Conflict, `drift review ${id} already exists`, { details: { workflowId } });
    throw e;
  }
}

export function driftStatus(client: Client, id: string): Promise<RunView<DriftStatus, DriftReviewResult>> {
  return runView(client, driftWorkflowId(id), driftStatusQuery);
}
