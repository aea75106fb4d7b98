/**
 * Validation periods (seed 000): start one (live or backtest), read its status, extend it, ask
 * for the decision now, or override the decision. Operator role. Each handler calls one helper
 * of clients/validation.ts; the caller's token name is passed on as `by` for the audit.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ValidationConfig } from '../../lib/config/validation.js';
import { requireRole } from '../auth.js';
import { errorResponses, errorSchema } from '../schemas.js';
import {
  VALIDATION_ID,
  buildValidationInput,
  decideValidationNow,
  extendValidationPeriod,
  getValidationPeriod,
  overrideValidationDecision,
  startValidationPeriod,
  type ValidationTemporalDeps,
} from '../../clients/validation.js';

export interface ValidationRouteDeps {
  temporal: ValidationTemporalDeps;
  /** config.validation: temporal.yaml's defaults, under each request's overrides */
  defaults: ValidationConfig;
  /** config.queries: the names a request may override */
  queries: Record<string, string>;
}

const time = z.union([z.number().int().nonnegative(), z.string().min(1)]).describe('unix seconds or ISO 8601');
const reason = z.string().trim().min(1, 'a non-empty reason is required').max(1000);

const startBody = z.object({
  id: z
    .string()
    .regex(VALIDATION_ID, '1-64 letters, digits, "-" or "_"')
    .optional()
    .describe('the workflow id is validation-<id>; generated when absent'),
  weeks: z.number().int().min(1).optional().describe('planned decision week (default 4)'),
  minWeeks: z.number().int().min(1).optional().describe('no decision before this week (default 2)'),
  maxWeeks: z.number().int().min(1).optional().describe('last week; the decision is forced there (default 6)'),
  dayLengthSeconds: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('live: the day (default 86400); backtest: wall seconds per simulated day (default 0)'),
  thresholds: z
    .object({
      concurrency: z.number().nonnegative().optional(),
      costPerOp: z.number().nonnegative().optional(),
      p95Seconds: z.number().nonnegative().optional(),
      errorRate: z.number().min(0).max(1).optional(),
      monthlyCost: z.number().nonnegative().optional(),
      throughputOpsPerMin: z.number().nonnegative().optional(),
    })
    .optional()
    .describe('migration triggers (seed 000 defaults)'),
  config: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('other rule settings (lib/config/validation.ts), e.g. resolutionSeconds, stability, goals'),
  queries: z
    .record(z.string(), z.string().min(1))
    .optional()
    .describe('PromQL overrides by validation.* query name for this run'),
  backtest: z.object({ start: time, end: time }).optional().describe('run over this past window instead of live'),
  settleSeconds: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('live: wait after a day ends before its snapshot (default 60)'),
});

const started = z.object({
  id: z.string(),
  workflowId: z.string(),
  runId: z.string(),
  mode: z.enum(['live', 'backtest']),
});
const view = z.looseObject({
  id: z.string(),
  workflowId: z.string(),
  execution: z.string(),
  startTime: z.string(),
  closeTime: z.string().nullable(),
  status: z
    .looseObject({})
    .nullable()
    .describe("the status query while running: week, day, this week's triggers, last decision"),
  result: z.looseObject({}).nullable().describe('decision, reasons, triggers table, forecast, incomplete, reportIds'),
});
const idParams = z.object({ id: z.string().describe('the period id (without the validation- prefix)') });
const accepted = z.object({ accepted: z.literal(true) });
const overrideResult = z.object({
  decision: z.enum(['STAY', 'MIGRATE', 'EXTEND']),
  ruleDecision: z.string(),
  week: z.number().int(),
  plannedWeeks: z.number().int(),
});
const notFound = { 404: errorSchema.describe('no such validation period, or it has finished') };

const by = (req: FastifyRequest): string | undefined => req.principal?.name;

export function validationRoutes({ temporal, defaults, queries }: ValidationRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireRole('operator'));

    app.post(
      '/validations',
      {
        schema: {
          summary: 'Start a validation period (live, or a backtest over a past window)',
          tags: ['validations'],
          body: startBody,
          response: { 201: started, ...errorResponses, 409: errorSchema.describe('the id is taken') },
        },
      },
      async (req, reply) => {
        const { id, ...rest } = req.body;
        const input = buildValidationInput(rest, defaults, queries, Math.floor(Date.now() / 1000));
        return reply.code(201).send(await startValidationPeriod(temporal, input, id));
      },
    );

    app.get(
      '/validations/:id',
      {
        schema: {
          summary: 'Status of a validation period (the status query, or the result)',
          tags: ['validations'],
          params: idParams,
          response: { 200: view, ...errorResponses, ...notFound },
        },
      },
      async (req) => {
        const v = await getValidationPeriod(temporal.client, req.params.id);
        // the query's and the result's shapes are the workflow's (workflows/validation-period/messages.ts): passed through as JSON
        return {
          ...v,
          status: v.status as unknown as Record<string, unknown> | null,
          result: v.result as unknown as Record<string, unknown> | null,
        };
      },
    );

    app.post(
      '/validations/:id/extend',
      {
        schema: {
          summary: 'Extend the period (signal extend)',
          tags: ['validations'],
          params: idParams,
          body: z.object({ reason, weeks: z.number().int().min(1).max(6).optional() }),
          response: { 202: accepted, ...errorResponses, ...notFound },
        },
      },
      async (req, reply) => {
        await extendValidationPeriod(temporal.client, req.params.id, { ...req.body, by: by(req) });
        return reply.code(202).send({ accepted: true });
      },
    );

    app.post(
      '/validations/:id/decide-now',
      {
        schema: {
          summary: 'Decide now with the data there is (signal decideNow)',
          tags: ['validations'],
          params: idParams,
          body: z.object({ reason: z.string().max(1000).optional() }).optional(),
          response: { 202: accepted, ...errorResponses, ...notFound },
        },
      },
      async (req, reply) => {
        await decideValidationNow(temporal.client, req.params.id, { ...(req.body ?? {}), by: by(req) });
        return reply.code(202).send({ accepted: true });
      },
    );

    app.post(
      '/validations/:id/override',
      {
        schema: {
          summary: 'Override the decision (update overrideDecision; a reason is required and audited)',
          tags: ['validations'],
          params: idParams,
          body: z.object({ decision: z.enum(['STAY', 'MIGRATE', 'EXTEND']), reason }),
          response: { 200: overrideResult, ...errorResponses, ...notFound },
        },
      },
      async (req) => overrideValidationDecision(temporal.client, req.params.id, { ...req.body, by: by(req) }),
    );
  };
}
