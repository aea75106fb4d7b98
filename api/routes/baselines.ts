/**
 * Production baselines (seed 003), operator role: start one, read its `status` query (or its
 * result once finished), cancel it, and keep baselines on Temporal Schedules. Each handler calls
 * one helper of clients/baseline.ts (shared with the CLI).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../lib/config/index.js';
import {
  baselineInputFromConfig,
  baselineOverridesSchema,
  baselineStatus,
  cancelBaseline,
  controlBaselineSchedule,
  createBaselineSchedule,
  listBaselineSchedules,
  scheduleNameSchema,
  startBaseline,
} from '../../clients/baseline.js';
import { runIdSchema, type PhaseTemporal } from '../../clients/runs.js';
import { requireRole } from '../auth.js';
import { errorResponses, errorSchema } from '../schemas.js';

export interface BaselineRouteDeps {
  /** the client and config temporal.taskQueues.phases */
  temporal: PhaseTemporal;
  /** config.baseline (seed 003 defaults under each request's overrides) and config.api (the default target) */
  config: Pick<Config, 'baseline' | 'api'>;
}

const idParams = z.object({ id: runIdSchema.describe('run id (without the baseline- prefix)') });
const nameParams = z.object({ name: scheduleNameSchema.describe('schedule name (without the sgc-baseline- prefix)') });
const started = z.object({ id: z.string(), workflowId: z.string(), runId: z.string() });
const accepted = z.object({ accepted: z.literal(true) });
const view = z.object({
  workflowId: z.string(),
  state: z.string().describe('RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, …'),
  status: z
    .looseObject({})
    .nullable()
    .describe('while running: stage, phase, sample n of N, last sample, breaker state'),
  result: z
    .looseObject({})
    .nullable()
    .describe('once completed: outcome, decision, trip, samples per phase, report ids, archive'),
});
const scheduleView = z.object({
  name: z.string(),
  scheduleId: z.string(),
  spec: z.string(),
  paused: z.boolean(),
  nextRuns: z.array(z.string()),
  recentRuns: z.array(z.object({ workflowId: z.string(), at: z.string() })),
});
const scheduleBody = z
  .object({
    name: scheduleNameSchema,
    cron: z
      .string()
      .regex(/^\S+(\s+\S+){4}$/, 'five cron fields (UTC)')
      .optional()
      .describe('e.g. "0 9 * * 1": Mondays 09:00 UTC'),
    every: z
      .string()
      .regex(/^\d+[smhd]$/, 'a number and s, m, h or d')
      .optional()
      .describe('e.g. "7d"'),
    paused: z.boolean().optional(),
    baseline: baselineOverridesSchema
      .omit({ id: true })
      .optional()
      .describe('the run every firing starts (config defaults under these overrides)'),
  })
  .refine((b) => (b.cron === undefined) !== (b.every === undefined), {
    message: 'give exactly one of cron or every',
    path: ['cron'],
  });
const notFound = { 404: errorSchema.describe('no such baseline or schedule') };
const conflict = { 409: errorSchema.describe('the id or name is taken') };

export function baselineRoutes({ temporal, config }: BaselineRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireRole('operator'));

    app.post(
      '/baselines',
      {
        schema: {
          summary:
            'Start a production baseline (seed 003 defaults; every duration, rate and the target can be overridden)',
          tags: ['baselines'],
          body: baselineOverridesSchema,
          response: { 201: started, ...errorResponses, ...conflict },
        },
      },
      async (req, reply) => {
        const { id = randomUUID(), ...overrides } = req.body;
        const input = baselineInputFromConfig(config, overrides);
        return reply.code(201).send({ id, ...(await startBaseline(temporal, input, id)) });
      },
    );

    app.get(
      '/baselines/:id',
      {
        schema: {
          summary: 'A baseline: its status query while running, its result once done',
          tags: ['baselines'],
          params: idParams,
          response: { 200: view, ...errorResponses, ...notFound },
        },
      },
      async (req) => {
        const v = await baselineStatus(temporal.client, req.params.id);
        // shapes are the workflow's (workflows/production-baseline): passed through as JSON
        return {
          ...v,
          status: v.status as unknown as Record<string, unknown> | null,
          result: v.result as unknown as Record<string, unknown> | null,
        };
      },
    );

    app.post(
      '/baselines/:id/cancel',
      {
        schema: {
          summary: 'Stop a baseline: the load stops, a partial summary is written, the run ends as cancelled',
          tags: ['baselines'],
          params: idParams,
          body: z.object({ reason: z.string().trim().max(200).optional() }).optional(),
          response: { 202: accepted, ...errorResponses, ...notFound },
        },
      },
      async (req, reply) => {
        await cancelBaseline(
          temporal.client,
          req.params.id,
          req.body?.reason || `cancelled via the API by ${req.principal?.name ?? 'unknown'}`,
        );
        return reply.code(202).send({ accepted: true });
      },
    );

    app.post(
      '/baseline-schedules',
      {
        schema: {
          summary: 'Put a baseline on a Temporal Schedule (cron or interval; runs never overlap)',
          tags: ['baselines'],
          body: scheduleBody,
          response: { 201: z.object({ name: z.string(), scheduleId: z.string() }), ...errorResponses, ...conflict },
        },
      },
      async (req, reply) => {
        const { name, cron, every, paused, baseline } = req.body;
        const { scheduleId } = await createBaselineSchedule(
          temporal,
          { name, cron, every, paused },
          baselineInputFromConfig(config, baseline ?? {}),
        );
        return reply.code(201).send({ name, scheduleId });
      },
    );

    app.get(
      '/baseline-schedules',
      {
        schema: {
          summary: 'Baseline Schedules (listing is eventually consistent)',
          tags: ['baselines'],
          response: { 200: z.object({ schedules: z.array(scheduleView) }), ...errorResponses },
        },
      },
      async () => ({ schedules: await listBaselineSchedules(temporal.client) }),
    );

    for (const action of ['pause', 'unpause', 'trigger'] as const) {
      app.post(
        `/baseline-schedules/:name/${action}`,
        {
          schema: {
            summary:
              action === 'trigger'
                ? 'Start the scheduled baseline now (skipped while one runs)'
                : `${action[0].toUpperCase()}${action.slice(1)} a baseline Schedule`,
            tags: ['baselines'],
            params: nameParams,
            response: { 202: accepted, ...errorResponses, ...notFound },
          },
        },
        async (req, reply) => {
          await controlBaselineSchedule(
            temporal.client,
            req.params.name,
            action,
            `${action} via the API by ${req.principal?.name ?? 'unknown'}`,
          );
          return reply.code(202).send({ accepted: true });
        },
      );
    }
  };
}
