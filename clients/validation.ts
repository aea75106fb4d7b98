/**
 * The one Temporal helper for validation periods (seed 000), shared by the API routes and the
 * CLI: build and check the workflow input (temporal.yaml's defaults under the request's
 * overrides), start the period, read its status, signal it, override its decision.
 */
import { randomBytes } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import type { ValidationConfig } from '../lib/config/validation.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import { scheduleId, validationWorkflowId } from '../workflows/ids.js';
import { sgcPhaseKey, sgcStatusKey } from '../workflows/search-attributes.js';
import { startMemo } from '../workflows/summary.js';
import {
  decideNowProblem,
  decideNowSignal,
  extendProblem,
  extendSignal,
  overrideDecisionUpdate,
  overrideProblem,
  statusQuery,
  type DecideNowRequest,
  type ExtendRequest,
  type OverrideDecisionRequest,
  type OverrideDecisionResult,
  type ValidationStatus,
} from '../workflows/validation-period/messages.js';
import {
  resolveValidationInput,
  validationPeriodWorkflow,
  type ValidationConfigOverrides,
  type ValidationPeriodInput,
  type ValidationPeriodResult,
} from '../workflows/validation-period/workflow.js';

export interface ValidationTemporalDeps {
  client: Client;
  /** config.temporal.taskQueues.phases */
  taskQueue: string;
}

/** A point in time as a caller writes it: unix seconds, or an ISO 8601 string. */
export type TimeInput = number | string;

export interface StartValidationRequest {
  /** short id (letters, digits, '-', '_'); the workflow id is `validation-<id>`; generated when absent */
  id?: string;
  weeks?: number;
  minWeeks?: number;
  maxWeeks?: number;
  dayLengthSeconds?: number;
  thresholds?: ValidationConfigOverrides['thresholds'];
  config?: Record<string, unknown>;
  queries?: Record<string, string>;
  backtest?: { start: TimeInput; end: TimeInput };
  settleSeconds?: number;
}

export interface StartedValidation {
  id: string;
  workflowId: string;
  /** the first run's id (later runs follow by continue-as-new) */
  runId: string;
  mode: 'live' | 'backtest';
}

export interface ValidationView {
  id: string;
  workflowId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, TERMINATED … */
  execution: string;
  startTime: string;
  closeTime: string | null;
  /** the `status` query, while running */
  status: ValidationStatus | null;
  /** the result, once completed */
  result: ValidationPeriodResult | null;
}

export const VALIDATION_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

function invalid(message: string, field?: string): DomainError {
  return new DomainError(ErrorType.Validation, message, { details: field ? { field } : {} });
}

function toUnixSeconds(v: TimeInput, field: string): number {
  const ms = typeof v === 'number' ? v * 1000 : Date.parse(v);
  if (!Number.isFinite(ms)) throw invalid(`${field} must be unix seconds or an ISO 8601 time`, field);
  return Math.floor(ms / 1000);
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/** `base` with `over` laid on top, one level deep (thresholds, stability, goals … merge key by key). */
function mergeConfig(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = isPlainObject(v) && isPlainObject(base[k]) ? { ...base[k], ...v } : v;
  return out;
}

/**
 * The workflow input for a start request, checked the way the workflow will check it.
 * `defaults` is config.validation (temporal.yaml); `knownQueries` is config.queries — an
 * override must name one of its `validation.*` queries. Throws a Validation DomainError (400).
 */
export function buildValidationInput(
  req: StartValidationRequest,
  defaults: ValidationConfig,
  knownQueries: Record<string, string>,
  nowSeconds: number,
): ValidationPeriodInput {
  for (const name of Object.keys(req.queries ?? {})) {
    if (!name.startsWith('validation.') || !(name in knownQueries))
      throw invalid(`queries: ${name} is not a known validation query`, `queries.${name}`);
  }
  const input: ValidationPeriodInput = {
    config: mergeConfig(defaults as unknown as Record<string, unknown>, req.config ?? {}) as ValidationConfigOverrides,
    ...(req.weeks !== undefined ? { weeks: req.weeks } : {}),
    ...(req.minWeeks !== undefined ? { minWeeks: req.minWeeks } : {}),
    ...(req.maxWeeks !== undefined ? { maxWeeks: req.maxWeeks } : {}),
    ...(req.dayLengthSeconds !== undefined ? { dayLengthSeconds: req.dayLengthSeconds } : {}),
    ...(req.thresholds !== undefined ? { thresholds: req.thresholds } : {}),
    ...(req.settleSeconds !== undefined ? { settleSeconds: req.settleSeconds } : {}),
    ...(req.queries && Object.keys(req.queries).length > 0 ? { queryOverrides: req.queries } : {}),
    ...(req.backtest
      ? {
          backtest: {
            start: toUnixSeconds(req.backtest.start, 'backtest.start'),
            end: toUnixSeconds(req.backtest.end, 'backtest.end'),
          },
        }
      : {}),
  };
  const checked = resolveValidationInput(input, nowSeconds);
  if (!checked.ok) throw invalid(checked.problem);
  return input;
}

/** A fresh period id: the date and 8 random hex characters (`2026-11-23-3f9a0c1e`). */
export function newValidationId(now = new Date()): string {
  return `${now.toISOString().slice(0, 10)}-${randomBytes(4).toString('hex')}`;
}

function defaultsWeeks(input: ValidationPeriodInput): number {
  const w = (input.config as { weeks?: unknown } | undefined)?.weeks;
  return typeof w === 'number' ? w : 4;
}

/** Starts a period; an id already in use is a 409 (Conflict). */
export async function startValidationPeriod(
  deps: ValidationTemporalDeps,
  input: ValidationPeriodInput,
  id = newValidationId(),
): Promise<StartedValidation> {
  if (!VALIDATION_ID.test(id)) throw invalid('id must be 1-64 letters, digits, "-" or "_"', 'id');
  const workflowId = validationWorkflowId(id);
  try {
    const handle = await deps.client.workflow.start(validationPeriodWorkflow, {
      taskQueue: deps.taskQueue,
      workflowId,
      args: [input],
      // listed under SgcPhase=validation in Temporal UI from the first moment
      typedSearchAttributes: [
        { key: sgcPhaseKey, value: 'validation' },
        { key: sgcStatusKey, value: 'running' },
      ],
      // a one-line summary for Temporal UI's list; the workflow keeps it current
      memo: startMemo(
        input.backtest
          ? `backtest validation starting over ${new Date(input.backtest.start * 1000).toISOString().slice(0, 10)} → ${new Date(input.backtest.end * 1000).toISOString().slice(0, 10)}`
          : `live validation starting (decision planned at week ${input.weeks ?? defaultsWeeks(input)})`,
      ),
      workflowIdReusePolicy: 'REJECT_DUPLICATE',
    });
    return { id, workflowId, runId: handle.firstExecutionRunId, mode: input.backtest ? 'backtest' : 'live' };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError)
      throw new DomainError(ErrorType.Conflict, `validation period ${id} already exists`, { details: { files: [] } });
    throw e;
  }
}

/** Temporal's "no such workflow" as our NotFound (404). */
async function found<T>(id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError)
      throw new DomainError(ErrorType.NotFound, `validation period ${id} not found or no longer running`);
    throw e;
  }
}

function handleOf(client: Client, id: string) {
  if (!VALIDATION_ID.test(id)) throw new DomainError(ErrorType.NotFound, `validation period ${id} not found`);
  return client.workflow.getHandle<typeof validationPeriodWorkflow>(validationWorkflowId(id));
}

/** Execution status, plus the `status` query while running or the result once completed. */
export async function getValidationPeriod(client: Client, id: string): Promise<ValidationView> {
  const handle = handleOf(client, id);
  const desc = await found(id, () => handle.describe());
  const execution = desc.status.name;
  const status = execution === 'RUNNING' ? await handle.query(statusQuery) : null;
  const result = execution === 'COMPLETED' ? await handle.result() : null;
  return {
    id,
    workflowId: handle.workflowId,
    execution,
    startTime: desc.startTime.toISOString(),
    closeTime: desc.closeTime?.toISOString() ?? null,
    status,
    result,
  };
}

export async function extendValidationPeriod(client: Client, id: string, req: ExtendRequest): Promise<void> {
  const problem = extendProblem(req);
  if (problem) throw invalid(problem);
  const handle = handleOf(client, id);
  await found(id, () => handle.signal(extendSignal, req));
}

export async function decideValidationNow(client: Client, id: string, req: DecideNowRequest = {}): Promise<void> {
  const problem = decideNowProblem(req);
  if (problem) throw invalid(problem);
  const handle = handleOf(client, id);
  await found(id, () => handle.signal(decideNowSignal, req));
}

/** Runs the `overrideDecision` update; the workflow's validator refusing it is a 400 with its reason. */
export async function overrideValidationDecision(
  client: Client,
  id: string,
  req: OverrideDecisionRequest,
): Promise<OverrideDecisionResult> {
  const problem = overrideProblem(req);
  if (problem) throw invalid(problem);
  const handle = handleOf(client, id);
  try {
    return await found(id, () => handle.executeUpdate(overrideDecisionUpdate, { args: [req] }));
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError)
      throw invalid(`override refused: ${(e.cause as Error | undefined)?.message ?? e.message}`);
    throw e;
  }
}

/** The Schedule that re-runs a period after a STAY (seed 000: re-evaluate quarterly). */
export function reevaluationScheduleId(runId: string): string {
  return scheduleId(`validation-reevaluation-${runId}`);
}

export interface ReevaluationRequest {
  /** the period that decided STAY (its workflow id) */
  runId: string;
  everyDays: number;
  /** the next period's input: the same rules, live */
  input: ValidationPeriodInput;
}

/**
 * Creates the quarterly re-evaluation Schedule of a period that decided STAY: every `everyDays`
 * it starts a new live validationPeriodWorkflow with the same rules. Idempotent: a retried
 * activity (or a replayed decision) finds the Schedule already there and leaves it as it is.
 */
export async function ensureReevaluationSchedule(
  deps: ValidationTemporalDeps,
  req: ReevaluationRequest,
): Promise<{ scheduleId: string; created: boolean }> {
  const id = reevaluationScheduleId(req.runId);
  try {
    await deps.client.schedule.create({
      scheduleId: id,
      spec: { intervals: [{ every: `${req.everyDays}d` }] },
      action: {
        type: 'startWorkflow',
        workflowType: validationPeriodWorkflow,
        taskQueue: deps.taskQueue,
        // the Schedule appends the fire time, so each quarter gets its own workflow id
        workflowId: `${req.runId}-reevaluation`,
        args: [{ ...req.input, backtest: undefined, carry: undefined }],
        typedSearchAttributes: [
          { key: sgcPhaseKey, value: 'validation' },
          { key: sgcStatusKey, value: 'running' },
        ],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
      memo: { summary: `Quarterly re-evaluation of validation ${req.runId} (decided STAY)` },
    });
    return { scheduleId: id, created: true };
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) return { scheduleId: id, created: false };
    throw e;
  }
}
