/**
 * Canary rollouts (issue 4 part 4), operator role: start one, read its `status` query, and steer
 * it through the workflow's Updates. The rollout's own validator decides: an action it takes
 * answers 200 with the status after it (a rollback once the kill switch has run); one it refuses
 * (advance while paused or at the last stage, resume when not paused, rollback after the end…)
 * answers 409 with the reason, and changes nothing.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { STAGE_MODES } from '../../lib/canary/analysis.js';
import { adminOnlyField } from '../../lib/canary/bounds.js';
import { canaryStageListSchema, canaryStageSchema, canaryThresholdsSchema } from '../../lib/config/canary.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { hasRole, requireRole } from '../auth.js';
import {
  ROLLOUT_ID,
  controlRollout,
  rolloutStatus,
  startRollout,
  type RolloutControlDeps,
} from '../../clients/canary.js';
import { errorResponses, errorSchema } from '../schemas.js';

export type RolloutRouteDeps = RolloutControlDeps;

const idParams = z.object({
  id: z.string().regex(ROLLOUT_ID, '1-64 letters, digits, ".", "_", "-"').describe('rollout id'),
});

const startBody = z
  .object({
    rolloutId: z
      .string()
      .regex(ROLLOUT_ID, '1-64 letters, digits, ".", "_", "-"')
      .optional()
      .describe('default: a random id'),
    stages: canaryStageListSchema
      .optional()
      .describe('default: config canary.stages; other stages need the admin role (at most 10, percents never falling)'),
    analysisIntervalSeconds: z.number().int().positive().optional(),
    analysisWindowSeconds: z.number().int().positive().optional(),
    consecutiveBreaches: z.number().int().min(1).optional(),
    autoAdvance: z.boolean().optional(),
    thresholds: canaryThresholdsSchema.partial().optional(),
  })
  .describe(
    'thresholds weaker than config canary.thresholds, more consecutiveBreaches, autoAdvance or slower analyses need the admin role',
  );

const conflict = { 409: errorSchema.describe('a rollout is already running, or this id exists') };
const refused = {
  409: errorSchema.describe('the rollout refused the action now; `message` says why (nothing changed)'),
};
const actorOf = (req: FastifyRequest): string => `api:${req.principal?.name ?? 'unknown'}`;

const reading = z.object({
  trigger: z.enum(['error_rate', 'p95_latency', 'consistency']),
  status: z.enum(['ok', 'breach', 'nodata', 'insufficient']),
  value: z.number().nullable(),
  threshold: z.number(),
  detail: z.string(),
});

/** The workflow's `status` query (workflows/canary-rollout/messages.ts CanaryStatus). */
const statusSchema = z.object({
  rolloutId: z.string(),
  status: z.enum(['running', 'paused', 'awaiting_advance', 'rolled_back', 'completed']),
  stage: z.object({
    index: z.number().int(),
    name: z.string(),
    percent: z.number().int(),
    shadow: z.boolean(),
    holdSeconds: z.number().int(),
    heldSeconds: z.number().int(),
    startedAt: z.string().nullable(),
    mode: z.enum(STAGE_MODES).nullable().optional(),
  }),
  stages: z.array(canaryStageSchema),
  paused: z
    .object({
      by: z.enum(['operator', 'inconclusive']),
      reason: z.string(),
      actor: z.string().nullable(),
      since: z.string(),
    })
    .nullable(),
  advanceApproved: z.boolean(),
  autoAdvance: z.boolean(),
  analysisIntervalSeconds: z.number(),
  analyses: z.object({ total: z.number().int(), inStage: z.number().int(), thisRun: z.number().int() }),
  lastAnalyses: z.array(
    z.object({
      at: z.string(),
      stage: z.string(),
      status: z.enum(['ok', 'breach', 'inconclusive', 'insufficient']),
      triggers: z.array(reading),
      windowSeconds: z.number().optional(),
    }),
  ),
  streaks: z.object({ error_rate: z.number().int(), p95_latency: z.number().int(), consistency: z.number().int() }),
  baselineP95Seconds: z.number().nullable(),
  rollback: z
    .object({
      source: z.enum(['rollback', 'auto', 'kill_switch']),
      reason: z.string(),
      actor: z.string(),
      trigger: z.enum(['error_rate', 'p95_latency', 'consistency']).nullable(),
      stage: z.string(),
      requestedAt: z.string(),
      eventId: z.number().int().nullable(),
      changeId: z.string().nullable(),
      decidedAt: z.string(),
      switched: z.boolean(),
      switchDurationMs: z.number().nullable().describe('decision → every flag-caching process switched'),
      missingProcesses: z.array(z.string()),
    })
    .nullable(),
  lastRejectedSignal: z.object({ signal: z.string(), reason: z.string(), at: z.string() }).nullable(),
  run: z.number().int(),
  analysisWindowSeconds: z
    .number()
    .optional()
    .describe('the window the next analysis measures (widened after too little data)'),
  goNoGo: z
    .array(
      z.object({
        stage: z.string(),
        mode: z.enum(STAGE_MODES).nullable(),
        next: z.string().nullable(),
        decision: z.enum(['go', 'no-go']),
        by: z.string(),
        approvedAt: z.string().nullable(),
        at: z.string(),
        heldSeconds: z.number().int(),
        analyses: z.number().int(),
        analysis: z.object({ at: z.string(), status: z.string(), summary: z.string() }).nullable(),
        why: z.string(),
        stability: z.array(z.object({ criterion: z.string(), ok: z.boolean(), detail: z.string() })).optional(),
      }),
    )
    .optional()
    .describe('the go/no-go audit: who advanced each stage, when, on which analysis'),
  hotBackup: z
    .object({
      since: z.number().nullable(),
      analyses: z.number().int(),
      breachCount: z.number().int(),
      breaches: z.array(z.object({ trigger: z.string(), stage: z.string(), at: z.string(), detail: z.string() })),
    })
    .optional(),
  stability: z
    .object({
      stable: z.boolean(),
      failing: z.string().nullable(),
      periodSeconds: z.number(),
      at: z.string(),
      checks: z.array(
        z.object({
          criterion: z.string(),
          ok: z.boolean(),
          value: z.number().nullable(),
          threshold: z.number(),
          detail: z.string(),
        }),
      ),
    })
    .nullable()
    .optional(),
  dataGaps: z
    .array(
      z.object({
        since: z.string(),
        until: z.string().nullable(),
        analyses: z.number().int(),
        stage: z.string(),
        reason: z.string(),
        resumed: z.boolean(),
      }),
    )
    .optional()
    .describe(
      'analyses Prometheus did not answer, as gaps: the rollout neither advanced nor rolled back on them, and a pause a gap caused lifted once an analysis judged again (resumed)',
    ),
});

const actionDone = z.object({
  rolloutId: z.string(),
  action: z.enum(['advance', 'pause', 'resume', 'rollback']),
  status: statusSchema,
});

export function rolloutRoutes(deps: RolloutRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireRole('operator'));

    app.post(
      '/rollouts',
      {
        schema: {
          summary: 'Start a canary rollout of approach 2 (canaryRolloutWorkflow)',
          tags: ['rollouts'],
          body: startBody,
          response: {
            201: z.object({ rolloutId: z.string(), workflowId: z.string(), runId: z.string() }),
            ...errorResponses,
            ...conflict,
          },
        },
      },
      async (req, reply) => {
        // the configured plan is an operator's to run; loosening it is admin work (issue 9 item 7)
        const loosened = adminOnlyField(req.body, deps.defaults);
        if (loosened !== null && !hasRole(req.principal!.role, 'admin')) {
          throw new DomainError(ErrorType.Forbidden, `${loosened.field}: ${loosened.why} requires the admin role`, {
            details: { field: loosened.field },
          });
        }
        return reply.code(201).send(await startRollout(deps, req.body, actorOf(req)));
      },
    );

    app.get(
      '/rollouts/:id',
      {
        schema: {
          summary: "A rollout's status: stage, percent, last analyses, why paused, rollback",
          tags: ['rollouts'],
          params: idParams,
          response: { 200: statusSchema, ...errorResponses },
        },
      },
      async (req) => rolloutStatus(deps, req.params.id),
    );

    app.post(
      '/rollouts/:id/advance',
      {
        schema: {
          summary: "Approve the next stage (the rollout moves on when the current stage's hold ends healthy)",
          tags: ['rollouts'],
          params: idParams,
          body: z
            .object({
              stage: z
                .string()
                .max(63)
                .optional()
                .describe('the stage being approved; refused if the rollout is elsewhere'),
            })
            .nullish(),
          response: { 200: actionDone, ...errorResponses, ...refused },
        },
      },
      async (req) => {
        const status = await controlRollout(deps, req.params.id, {
          name: 'advance',
          ...(req.body?.stage ? { stage: req.body.stage } : {}),
          actor: actorOf(req),
        });
        return { rolloutId: req.params.id, action: 'advance' as const, status };
      },
    );

    app.post(
      '/rollouts/:id/pause',
      {
        schema: {
          summary: 'Pause: hold time stops, analyses (and automatic rollback) go on',
          tags: ['rollouts'],
          params: idParams,
          body: z.object({ reason: z.string().trim().min(1).max(500).optional() }).nullish(),
          response: { 200: actionDone, ...errorResponses, ...refused },
        },
      },
      async (req) => {
        const status = await controlRollout(deps, req.params.id, {
          name: 'pause',
          ...(req.body?.reason ? { reason: req.body.reason } : {}),
          actor: actorOf(req),
        });
        return { rolloutId: req.params.id, action: 'pause' as const, status };
      },
    );

    app.post(
      '/rollouts/:id/resume',
      {
        schema: {
          summary: 'Resume a paused rollout',
          tags: ['rollouts'],
          params: idParams,
          response: { 200: actionDone, ...errorResponses, ...refused },
        },
      },
      async (req) => {
        const status = await controlRollout(deps, req.params.id, { name: 'resume', actor: actorOf(req) });
        return { rolloutId: req.params.id, action: 'resume' as const, status };
      },
    );

    app.post(
      '/rollouts/:id/rollback',
      {
        schema: {
          summary:
            'Roll back: the kill switch (every flag to 0%); answers once every process has switched (or the wait ended)',
          tags: ['rollouts'],
          params: idParams,
          body: z.object({ reason: z.string().trim().min(1, 'is required (the audit records why)').max(500) }),
          response: { 200: actionDone, ...errorResponses, ...refused },
        },
      },
      async (req) => {
        const status = await controlRollout(deps, req.params.id, {
          name: 'rollback',
          reason: req.body.reason,
          actor: actorOf(req),
        });
        return { rolloutId: req.params.id, action: 'rollback' as const, status };
      },
    );
  };
}
