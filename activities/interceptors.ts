/**
 * The Temporal boundary of every activity, in one place (an inbound interceptor registered by
 * each worker composition root through workers/interceptors.ts), so that an activity body is domain calls only:
 *
 * - a DomainError leaves as the ApplicationFailure workflows match on: `type` is the ErrorType,
 *   `nonRetryable` follows the error's own classification (a conflict is permanent, a network
 *   blip is not), the first detail carries the category and the error's details with secrets
 *   removed. A full disk (ENOSPC from the sandbox's filesystem) leaves as Unavailable, as the git
 *   commands' own full-disk failures do, and so does Postgres out of reach (a restart, a refused
 *   or dropped connection: the API answers 503 + Retry-After, not 500). Anything else leaves untouched: the SDK reports it as a
 *   retryable failure named after the error, and a cancellation stays a cancellation;
 * - the ids of the execution (workflow id and type, activity type, attempt) are bound for the
 *   execution's log lines (activities/support.ts `activityLogger`) and this module's own;
 * - `gitops_activity_duration_seconds{activity_type, outcome}` records every execution, the
 *   outcome being `ok`, `cancelled`, the failure's ErrorType, or `unexpected`.
 */
import { ApplicationFailure, CancelledFailure, type Context } from '@temporalio/activity';
import type { Next } from '@temporalio/common';
import type {
  ActivityExecuteInput,
  ActivityInboundCallsInterceptor,
  ActivityInterceptorsFactory,
} from '@temporalio/worker';
import {
  DomainError,
  databaseUnavailableError,
  diskFullError,
  isDatabaseUnavailable,
  isNoSpace,
} from '../lib/errors.js';
import { SECRET_FIELDS, type Logger } from '../lib/log.js';
import type { ActivityOutcome, Metrics } from '../lib/metrics.js';
import { sanitizeData, sanitizeText } from '../lib/reports/markdown.js';
import { runWithActivityFields, type ActivityLogFields } from './support.js';

export interface ActivityBoundaryDeps {
  /** the worker's logger; failures and completions are logged on it with the execution's ids */
  log: Logger;
  metrics: Pick<Metrics, 'activityDuration'>;
}

const SECRET_KEYS = new Set(SECRET_FIELDS.map((k) => k.toLowerCase()));

function withoutSecretFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutSecretFields);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>)
        .filter(([k]) => !SECRET_KEYS.has(k.toLowerCase()))
        .map(([k, v]) => [k, withoutSecretFields(v)]),
    );
  }
  return value;
}

/**
 * Error details fit for workflow history: fields named like a secret (token, password, apiKey…)
 * are dropped, and every string loses URL credentials and token-shaped values.
 */
export function safeDetails(details: Record<string, unknown>): Record<string, unknown> {
  return sanitizeData(withoutSecretFields(details) as Record<string, unknown>);
}

/** The ApplicationFailure a DomainError becomes at the boundary. */
export function toActivityFailure(e: DomainError): ApplicationFailure {
  return ApplicationFailure.create({
    type: e.type,
    message: sanitizeText(e.message),
    nonRetryable: !e.retryable,
    details: [{ category: e.category, ...safeDetails(e.details) }],
  });
}

function outcomeOf(e: unknown, ctx: Context): ActivityOutcome {
  if (e instanceof CancelledFailure || ctx.cancellationSignal.aborted) return 'cancelled';
  if (e instanceof DomainError) return e.type;
  return 'unexpected';
}

class ActivityBoundary implements ActivityInboundCallsInterceptor {
  constructor(
    private readonly ctx: Context,
    private readonly deps: ActivityBoundaryDeps,
  ) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const { info } = this.ctx;
    const fields: ActivityLogFields = {
      workflowId: info.workflowExecution?.workflowId,
      workflowType: info.workflowType,
      activityType: info.activityType,
      attempt: info.attempt,
    };
    const log = this.deps.log.child(fields);
    const started = performance.now();
    const finish = (outcome: ActivityOutcome): number => {
      const seconds = (performance.now() - started) / 1000;
      this.deps.metrics.activityDuration.labels(info.activityType, outcome).observe(seconds);
      return Math.round(seconds * 1000);
    };
    try {
      const result = await runWithActivityFields(fields, () => next(input)).catch((e: unknown) => {
        if (e instanceof DomainError) throw e;
        if (isNoSpace(e)) throw diskFullError({}, e);
        if (isDatabaseUnavailable(e)) throw databaseUnavailableError(e);
        throw e;
      });
      log.info({ ms: finish('ok') }, 'activity completed');
      return result;
    } catch (e) {
      const outcome = outcomeOf(e, this.ctx);
      const ms = finish(outcome);
      const err = sanitizeText(e instanceof Error ? e.message : String(e));
      if (outcome === 'cancelled') {
        log.info({ ms, err }, 'activity cancelled');
      } else {
        const retryable = e instanceof DomainError ? e.retryable : true;
        const type = outcome === 'unexpected' ? (e instanceof Error ? e.name : typeof e) : outcome;
        log.warn({ ms, type, retryable, err }, 'activity failed');
      }
      throw e instanceof DomainError ? toActivityFailure(e) : e;
    }
  }
}

/**
 * The boundary as an activity interceptor factory: workers register it through
 * workers/interceptors.ts; MockActivityEnvironment takes it too.
 */
export function createActivityBoundary(deps: ActivityBoundaryDeps): ActivityInterceptorsFactory {
  return (ctx) => ({ inbound: new ActivityBoundary(ctx, deps) });
}
