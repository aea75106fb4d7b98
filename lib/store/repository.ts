/**
 * What every repository in lib/store shares: driver errors leave wrapped with the operation's
 * name (`workspaces.findById: <driver message>`), so a log line says which statement failed.
 *
 * The wrapper keeps what callers classify by: the driver's `code` (SQLSTATE or socket code, which
 * api/errors.ts maps to 503 when Postgres is unreachable) is copied onto it and the original is
 * its `cause`. DomainErrors a repository raises on purpose (NotFound, Validation) pass unchanged.
 */
import { DomainError } from '../errors.js';

export class StoreError extends Error {
  /** `<table>.<method>` */
  readonly operation: string;
  /** the driver's code (SQLSTATE like '23505', or a socket code like 'ECONNREFUSED') */
  readonly code?: string;

  constructor(operation: string, cause: unknown) {
    const message = cause instanceof Error ? cause.message : String(cause);
    super(`${operation}: ${message}`, { cause });
    this.name = 'StoreError';
    this.operation = operation;
    const code = (cause as { code?: unknown } | null)?.code;
    if (typeof code === 'string') this.code = code;
  }
}

/** `cause` wrapped with the operation name; DomainErrors and already wrapped errors unchanged. */
export function storeError(operation: string, cause: unknown): unknown {
  if (cause instanceof DomainError || cause instanceof StoreError) return cause;
  return new StoreError(operation, cause);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AsyncMethods = Record<string, (...args: any[]) => Promise<unknown>>;

/**
 * Wraps each method of a repository so its driver errors name `<table>.<method>`. The methods
 * themselves hold the SQL; this adds one try/catch per call and nothing else.
 */
export function defineRepository<T extends AsyncMethods>(table: string, methods: T): T {
  const out = {} as Record<string, unknown>;
  for (const [name, fn] of Object.entries(methods)) {
    const operation = `${table}.${name}`;
    out[name] = async (...args: unknown[]) => {
      try {
        return await fn(...args);
      } catch (e) {
        throw storeError(operation, e);
      }
    };
  }
  return out as T;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Rest<F> = F extends (q: any, ...rest: infer R) => any ? R : never;

/** `fn` with its first argument (the connection) bound to `q`: how a repository exposes a query. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function bindQuery<Q, F extends (q: Q, ...rest: any[]) => Promise<unknown>>(
  q: Q,
  fn: F,
): (...args: Rest<F>) => ReturnType<F> {
  return (...args) => fn(q, ...args) as ReturnType<F>;
}
