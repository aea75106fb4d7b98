/**
 * The one error handler. Every failure leaves as `{ error, message, ...safe details }`: no stack
 * traces, no vendor messages that could quote a remote URL or a credential. Status codes:
 * validation 400 (naming the field), 401/403 from auth and policy (403 names the field), NotFound
 * 404, conflicts 409 with the files, a busy workspace 409 + Retry-After, a quota 409 naming the
 * limit, an action the current state refuses (a rollout's validator) 409 `refused` with the
 * reason, a flag write while the kill latch is set 409 `latched` with the reason, an
 * Idempotency-Key reused for another request 422, body or output too large 413 (naming the
 * limit), dependencies down (Postgres, Temporal, lock, pool) 503 + Retry-After.
 */
import { ApplicationFailure, NamespaceNotFoundError, TimeoutFailure, WorkflowFailedError } from '@temporalio/client';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DomainError, ErrorType, causeChain, isDatabaseUnavailable, type ErrorTypeName } from '../lib/errors.js';

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 5;

export interface ErrorBody {
  error: string;
  message: string;
  [k: string]: unknown;
}

const KNOWN_TYPES = new Set<string>(Object.values(ErrorType));

// gRPC status codes from the Temporal frontend: 4 DEADLINE_EXCEEDED, 8 RESOURCE_EXHAUSTED (its
// rate limits), 14 UNAVAILABLE
const GRPC_UNAVAILABLE = new Set([4, 8, 14]);

/** True when an error (or one of its causes) says Postgres or Temporal cannot be reached. */
export function isDependencyUnavailable(err: unknown): boolean {
  // Postgres (lib/errors.ts: its codes, node-postgres's messages for a dead or silent connection)
  if (isDatabaseUnavailable(err)) return true;
  for (const e of causeChain(err)) {
    // the frontend does not serve the namespace (yet): a server starting on its state, or one too
    // loaded to read its namespace registry (issue 12's chaos suite saw minutes of it). A retry
    // under the same key is right; a 500 let a client take a push for failed that then landed
    if (e instanceof NamespaceNotFoundError) return true;
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'number' && GRPC_UNAVAILABLE.has(code) && 'metadata' in (e as object)) return true;
    if (typeof message === 'string' && /Failed to connect before the deadline|tcp connect error/i.test(message))
      return true;
  }
  return false;
}

/**
 * A failed gitOperationWorkflow carries the activity's typed failure (workflow.ts lifts it):
 * turn it back into the DomainError it started as, so HTTP mapping lives in one place.
 */
export function fromWorkflowFailure(err: WorkflowFailedError): DomainError | null {
  const cause = err.cause;
  if (cause instanceof ApplicationFailure && cause.type && KNOWN_TYPES.has(cause.type)) {
    const first = cause.details?.[0];
    const details = first && typeof first === 'object' ? { ...(first as Record<string, unknown>) } : {};
    delete details.category;
    return new DomainError(cause.type as ErrorTypeName, cause.message, { details });
  }
  if (cause instanceof TimeoutFailure) return new DomainError(ErrorType.Timeout, 'the operation timed out');
  return null;
}

interface Mapped {
  status: number;
  body: ErrorBody;
  retryAfter?: boolean;
  /** Retry-After when not RETRY_AFTER_SECONDS */
  retryAfterSeconds?: number;
}

/** A busy workspace is free again as soon as the operation before finishes: retry soon. */
export const BUSY_RETRY_AFTER_SECONDS = 1;

function pick(details: Record<string, unknown>, ...keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (details[k] !== undefined) out[k] = details[k];
  return out;
}

/** HTTP status and body of a DomainError. Messages of client-facing types are ours, so safe. */
export function mapDomainError(e: DomainError): Mapped {
  switch (e.type) {
    case ErrorType.Validation: {
      const field = typeof e.details.field === 'string' ? e.details.field : undefined;
      return { status: 400, body: { error: 'validation', ...(field ? { field } : {}), message: e.message } };
    }
    case ErrorType.NotFound:
      return { status: 404, body: { error: 'not_found', message: e.message } };
    case ErrorType.Forbidden:
      return { status: 403, body: { error: 'forbidden', message: e.message, ...pick(e.details, 'field') } };
    case ErrorType.Busy:
      // after the bounded wait (limits.workspaceBusyWaitMs): the operation before it still runs
      return {
        status: 409,
        retryAfter: true,
        retryAfterSeconds: BUSY_RETRY_AFTER_SECONDS,
        body: { error: 'busy', message: e.message },
      };
    case ErrorType.OutputTooLarge:
      return {
        status: 413,
        body: { error: 'too_large', message: e.message, ...pick(e.details, 'limit', 'limitBytes', 'field') },
      };
    case ErrorType.QuotaExceeded:
      return { status: 409, body: { error: 'quota_exceeded', message: e.message, ...pick(e.details, 'limit', 'max') } };
    case ErrorType.Conflict:
      return {
        status: 409,
        body: { error: 'conflict', message: e.message, files: e.details.files ?? [], ...pick(e.details, 'branch') },
      };
    case ErrorType.ConflictEscalated:
      return {
        status: 409,
        body: {
          error: 'conflict',
          escalated: true,
          message: e.message,
          files: e.details.files ?? [],
          ...pick(e.details, 'branch', 'attempts'),
        },
      };
    case ErrorType.Refused:
      return { status: 409, body: { error: 'refused', message: e.message } };
    case ErrorType.PushRejected:
      return {
        status: 409,
        body: {
          error: 'push_rejected',
          message: 'the remote rejected the push',
          ...pick(e.details, 'branch', 'attempts'),
        },
      };
    case ErrorType.TooManyRequests:
      // Retry-After is set by @fastify/rate-limit (seconds until the caller's window resets)
      return { status: 429, body: { error: 'rate_limited', message: e.message } };
    case ErrorType.IdempotencyKeyReused:
      return { status: 422, body: { error: 'idempotency_key_reused', field: 'Idempotency-Key', message: e.message } };
    case ErrorType.FlagsLatched:
      return { status: 409, body: { error: 'latched', message: e.message, ...pick(e.details, 'latch') } };
    case ErrorType.SandboxGone:
      return {
        status: 410,
        body: { error: 'gone', message: 'the workspace sandbox no longer exists; create a new workspace' },
      };
    case ErrorType.LockTimeout:
    case ErrorType.PoolExhausted:
    case ErrorType.RateLimit:
    case ErrorType.Network:
    case ErrorType.Unavailable:
      return {
        status: 503,
        retryAfter: true,
        body: { error: 'unavailable', reason: e.type, message: 'a dependency is busy or unreachable; retry later' },
      };
    case ErrorType.Auth:
      // the git remote refused our credentials: not the caller's token
      return {
        status: 502,
        body: { error: 'upstream_auth', message: 'the git remote rejected the configured credentials' },
      };
    case ErrorType.Timeout:
      return { status: 504, body: { error: 'timeout', message: 'the operation timed out' } };
    default:
      return { status: 500, body: { error: 'internal', message: 'internal error' } };
  }
}

/** Maps anything thrown by a handler (or by Fastify before it) to a safe response. */
export function mapError(err: unknown): Mapped {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const first = err.validation[0];
    const path = first.instancePath.replace(/^\//, '').split('/').filter(Boolean).join('.');
    const field = path || (err as FastifyError).validationContext || 'body';
    return { status: 400, body: { error: 'validation', field, message: first.message ?? 'invalid' } };
  }
  if (err instanceof WorkflowFailedError) {
    const domain = fromWorkflowFailure(err);
    if (domain) return mapDomainError(domain);
  }
  if (err instanceof DomainError) return mapDomainError(err);
  if (isDependencyUnavailable(err)) {
    return {
      status: 503,
      retryAfter: true,
      body: { error: 'unavailable', message: 'a dependency (Postgres or Temporal) is unreachable; retry later' },
    };
  }
  const fe = err as FastifyError;
  if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return { status: 413, body: { error: 'payload_too_large', message: 'request body exceeds the limit' } };
  // Fastify's own client errors (malformed JSON, unsupported content type…) carry safe messages
  if (
    typeof fe.statusCode === 'number' &&
    fe.statusCode >= 400 &&
    fe.statusCode < 500 &&
    typeof fe.code === 'string' &&
    fe.code.startsWith('FST_')
  ) {
    return { status: fe.statusCode, body: { error: 'bad_request', message: fe.message } };
  }
  return { status: 500, body: { error: 'internal', message: 'internal error' } };
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const mapped = mapError(err);
  if (mapped.status >= 500) req.log.error({ err, status: mapped.status }, 'request failed');
  else req.log.info({ status: mapped.status, error: mapped.body.error }, 'request rejected');
  if (mapped.retryAfter) reply.header('Retry-After', String(mapped.retryAfterSeconds ?? RETRY_AFTER_SECONDS));
  return reply.code(mapped.status).send(mapped.body);
}
