/**
 * Error vocabulary shared by the whole system. Vendor errors (git exit codes, E2B, Prometheus,
 * Postgres) are translated once into a DomainError carrying a category — the same categories
 * the metrics use (`error_category` label) — and a stable `type` that activities turn into an
 * ApplicationFailure type and workflows match on.
 */
/**
 * `client` is the caller's own bad request (a missing file, nothing to commit, a refused branch):
 * not a service failure, so rollback triggers and error rates leave it out (issue 9 item 9).
 */
export const ERROR_CATEGORIES = [
  'none',
  'network',
  'timeout',
  'conflict',
  'auth',
  'rate_limit',
  'client',
  'other',
] as const;
export type ErrorCategory = (typeof ERROR_CATEGORIES)[number];

/** Stable failure types; workflows match `ApplicationFailure.type` against these. */
export const ErrorType = {
  Validation: 'ValidationError',
  NotFound: 'NotFound',
  Forbidden: 'Forbidden',
  Conflict: 'GitConflict',
  ConflictEscalated: 'GitConflictEscalated',
  PushRejected: 'GitPushRejected',
  /** a request the current state does not allow (e.g. advancing a paused rollout); 409 with the reason */
  Refused: 'Refused',
  LockTimeout: 'LockTimeout',
  PoolExhausted: 'PoolExhausted',
  Network: 'NetworkError',
  Timeout: 'TimeoutError',
  Auth: 'AuthError',
  RateLimit: 'RateLimitError',
  SandboxGone: 'SandboxGone',
  PromBadQuery: 'PromBadQuery',
  PromUnavailable: 'PromUnavailable',
  NoData: 'NoData',
  Unavailable: 'Unavailable',
  /** a flag write refused: the kill switch latched the flags (or was pulled during a drill) */
  FlagsLatched: 'FlagsLatched',
  /** the caller passed limits.requestsPerMinute */
  TooManyRequests: 'TooManyRequests',
  /** an Idempotency-Key sent again with another request (method, path, body) */
  IdempotencyKeyReused: 'IdempotencyKeyReused',
  /** another mutating operation holds the workspace (after the bounded wait): retry shortly */
  Busy: 'WorkspaceBusy',
  /** a command's output, a diff or a file read passed its cap (`details.limit` names it) */
  OutputTooLarge: 'OutputTooLarge',
  /** a workspace's disk or file quota, or an agent's open workspaces, would be passed (`details.limit`) */
  QuotaExceeded: 'QuotaExceeded',
  Internal: 'InternalError',
} as const;
export type ErrorTypeName = (typeof ErrorType)[keyof typeof ErrorType];

export interface DomainErrorOptions {
  category?: ErrorCategory;
  retryable?: boolean;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class DomainError extends Error {
  readonly type: ErrorTypeName;
  readonly category: ErrorCategory;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(type: ErrorTypeName, message: string, opts: DomainErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = type;
    this.type = type;
    this.category = opts.category ?? defaultCategory(type);
    this.retryable = opts.retryable ?? defaultRetryable(type);
    this.details = opts.details ?? {};
  }
}

function defaultCategory(type: ErrorTypeName): ErrorCategory {
  switch (type) {
    case ErrorType.Conflict:
    case ErrorType.ConflictEscalated:
    case ErrorType.PushRejected:
    case ErrorType.LockTimeout:
    case ErrorType.FlagsLatched:
    case ErrorType.Refused:
    case ErrorType.Busy:
      return 'conflict';
    case ErrorType.Network:
    case ErrorType.PromUnavailable:
    case ErrorType.Unavailable:
      return 'network';
    case ErrorType.Timeout:
      return 'timeout';
    case ErrorType.Auth:
      return 'auth';
    case ErrorType.Validation:
    case ErrorType.NotFound:
    case ErrorType.Forbidden:
    case ErrorType.IdempotencyKeyReused:
    case ErrorType.TooManyRequests:
    case ErrorType.OutputTooLarge: // an agent past its own limits (output, quota): not a service failure
    case ErrorType.QuotaExceeded:
      return 'client';
    case ErrorType.RateLimit:
      return 'rate_limit';
    default:
      return 'other';
  }
}

function defaultRetryable(type: ErrorTypeName): boolean {
  const retryable: ErrorTypeName[] = [
    ErrorType.Network,
    ErrorType.Timeout,
    ErrorType.RateLimit,
    ErrorType.PushRejected,
    ErrorType.LockTimeout,
    ErrorType.PoolExhausted,
    ErrorType.PromUnavailable,
    ErrorType.Unavailable,
    ErrorType.Busy,
  ];
  return retryable.includes(type);
}

/**
 * What a full disk (or an exhausted quota) says: errno codes, and git's and the shell's words for
 * them (git's "… write error. Out of diskspace" on an object or index write).
 */
export const NO_SPACE = /No space left on device|Disk quota exceeded|Out of diskspace|\bENOSPC\b|\bEDQUOT\b/;

/** True when `e` (an errno error, or any error whose message says so) is a full disk. */
export function isNoSpace(e: unknown): boolean {
  const { code, message } = (e ?? {}) as { code?: unknown; message?: unknown };
  return code === 'ENOSPC' || code === 'EDQUOT' || (typeof message === 'string' && NO_SPACE.test(message));
}

/**
 * The sandbox's disk is full: the service's resource, not the caller's doing, and it passes once
 * space is freed — Unavailable (503 + Retry-After, retried), category `other`, never a 500.
 */
export function diskFullError(details: Record<string, unknown> = {}, cause?: unknown): DomainError {
  return new DomainError(ErrorType.Unavailable, "the sandbox's disk is full; retry later", {
    category: 'other',
    details: { reason: 'disk_full', ...details },
    cause,
  });
}

// Postgres and socket codes that mean "the database is not reachable right now" (class 08 =
// connection exception, 57P0x = shutting down / cannot connect now, 53300 = too many connections).
const DB_UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);

// node-postgres's own messages: a pool that cannot connect, a connection that died, and a query
// without an answer in query_timeout (a silent partition: the server may have run it, so the
// caller retries under its idempotency key, as after any 503)
const DB_UNAVAILABLE_MESSAGE =
  /timeout exceeded when trying to connect|Connection terminated unexpectedly|Connection terminated due to connection timeout|Query read timeout|Client has encountered a connection error/i;

/** Every error in `err`'s cause chain (AggregateError's errors included), each once. */
export function* causeChain(err: unknown): Generator<unknown> {
  const seen = new Set<unknown>();
  let cur: unknown = err;
  while (cur && typeof cur === 'object' && !seen.has(cur)) {
    seen.add(cur);
    yield cur;
    if (cur instanceof AggregateError) for (const e of cur.errors) yield e;
    cur = (cur as { cause?: unknown }).cause;
  }
}

/** True when one error of `err`'s cause chain says Postgres (or a socket to it) cannot be reached now. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of causeChain(err)) {
    const { code, message } = e as { code?: unknown; message?: unknown };
    if (typeof code === 'string' && DB_UNAVAILABLE_CODES.has(code)) return true;
    if (typeof message === 'string' && DB_UNAVAILABLE_MESSAGE.test(message)) return true;
  }
  return false;
}

/** Postgres is unreachable (restarting, refused, partitioned): Unavailable (503 + Retry-After, retried). */
export function databaseUnavailableError(cause?: unknown): DomainError {
  return new DomainError(
    ErrorType.Unavailable,
    'a dependency (Postgres, or a socket to one) is unreachable; retry later',
    {
      details: { reason: 'dependency_unavailable' },
      cause,
    },
  );
}

export function isDomainError(e: unknown, type?: ErrorTypeName): e is DomainError {
  return e instanceof DomainError && (type === undefined || e.type === type);
}

/** Category of any thrown value, for metrics. */
export function categoryOf(e: unknown): ErrorCategory {
  return e instanceof DomainError ? e.category : 'other';
}
