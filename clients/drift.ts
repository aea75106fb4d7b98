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
import { driftStatusQuery, type DriftStatus } from '../workflows/drift-review/messages.js';
import { driftReviewWorkflow, type DriftReviewInput, type DriftReviewResult } from '../workflows/drift-review/workflow.js';
import { runIdSchema, runView, type PhaseTemporal, type RunView } from './runs.js';

/** Overrides for one drift review. */
export const driftOverridesSchema = z.object({
  id: runIdSchema.optional().describe('review id (default: random); the workflow id is drift-<id>'),
  target: z.object({ job: z.string().min(1).max(200), instance: z.string().min(1).max(200).optional() }).optional()
    .describe('the process to review: Prometheus job and instance regex (default: the first of drift.targets)'),
  mode: z.enum(['short', 'full']).optional().describe('short soak (2 h) or full review (48 h)'),
  durationSeconds: z.number().int().positive().max(30 * 86_400).optional(),
  intervalSeconds: z.number().int().positive().max(86_400).optional(),
});
export type DriftOverrides = z.infer<typeof driftOverridesSchema>;

/** A full DriftReviewInput: seed 001 defaults from `config.drift`, then overrides. */
export function driftInputFromConfig(config: Pick<Config, 'drift'>, o: DriftOverrides = {}): DriftReviewInput {
  const d = config.drift;
  const first = d.targets[0];
  return {
    target: { job: o.target?.job ?? first.job, instance: o.target?.instance ?? (o.target ? '.+' : first.instance) },
    durationSeconds: o.durationSeconds ?? driftDurationSeconds({ ...d, mode: o.mode ?? d.mode }),
    intervalSeconds: o.intervalSeconds ?? d.intervalSeconds,
    thresholds: d.thresholds,
  };
}

export async function startDrift(t: PhaseTemporal, input: DriftReviewInput, id: string = randomUUID()): Promise<{ workflowId: string; runId: string }> {
  const workflowId = driftWorkflowId(id);
  try {
    const h = await t.client.workflow.start(driftReviewWorkflow, { taskQueue: t.taskQueue, workflowId, args: [input], workflowIdReusePolicy: 'REJECT_DUPLICATE' });
    return { workflowId, runId: h.firstExecutionRunId };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) throw new DomainError(ErrorType.Conflict, `drift review ${id} already exists`, { details: { workflowId } });
    throw e;
  }
}

export function driftStatus(client: Client, id: string): Promise<RunView<DriftStatus, DriftReviewResult>> {
  return runView(client, driftWorkflowId(id), driftStatusQuery);
}
