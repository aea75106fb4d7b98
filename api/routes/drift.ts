/**
 * Drift reviews (seed 001), operator role: start a review of every reviewed process (the API and
 * the worker by default; short soak 2 h, full 48 h) and read its status or verdict — per process
 * "N/7 criteria met", overall PASS/FAIL, provisional or full. Each handler calls one helper of
 * clients/drift.ts (shared with the CLI).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Config } from '../../lib/config/index.js';
import { driftInputFromConfig, driftOverridesSchema, driftStatus, startDrift } from '../../clients/drift.js';
import { runIdSchema, type PhaseTemporal } from '../../clients/runs.js';
import { requireRole } from '../auth.js';
import { errorResponses, errorSchema } from '../schemas.js';

export interface DriftRouteDeps {
  /** the client and config temporal.taskQueues.phases */
  temporal: PhaseTemporal;
  /** config.drift: seed 001 defaults under each request's overrides */
  config: Pick<Config, 'drift'>;
}

const idParams = z.object({ id: runIdSchema.describe('review id (without the drift- prefix)') });
const started = z.object({ id: z.string(), workflowId: z.string(), runId: z.string() });
const view = z.object({
  workflowId: z.string(),
  state: z.string().describe('RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, …'),
  status: z
    .looseObject({})
    .nullable()
    .describe('while running: stage, T0, sample n of N, every process at the last sample'),
  result: z
    .looseObject({})
    .nullable()
    .describe(
      'once completed: overall passed and mode (provisional | full), failed processes, per process "N/7 criteria met" with failed and missing criteria, report id',
    ),
});

export function driftRoutes({ temporal, config }: DriftRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireRole('operator'));

    app.post(
      '/drift-reviews',
      {
        schema: {
          summary:
            'Start a drift review of the reviewed processes (seed 001: short soak 2 h, full 48 h; default: every drift.targets entry)',
          tags: ['drift'],
          body: driftOverridesSchema,
          response: { 201: started, ...errorResponses, 409: errorSchema.describe('the id is taken') },
        },
      },
      async (req, reply) => {
        const { id = randomUUID(), ...overrides } = req.body;
        return reply
          .code(201)
          .send({ id, ...(await startDrift(temporal, driftInputFromConfig(config, overrides), id)) });
      },
    );

    app.get(
      '/drift-reviews/:id',
      {
        schema: {
          summary: 'A drift review: its status query while running, its verdict once done',
          tags: ['drift'],
          params: idParams,
          response: { 200: view, ...errorResponses, 404: errorSchema.describe('no such review') },
        },
      },
      async (req) => {
        const v = await driftStatus(temporal.client, req.params.id);
        return {
          ...v,
          status: v.status as unknown as Record<string, unknown> | null,
          result: v.result as unknown as Record<string, unknown> | null,
        };
      },
    );
  };
}
