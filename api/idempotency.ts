/**
 * Binds every `Idempotency-Key` to the request it was first sent with (issue 9 item 8): method,
 * path, body and caller, hashed. A retry under the same key must be that same request; another
 * request under a used key is refused (422 naming `Idempotency-Key`) instead of being answered
 * with the first request's result. Keys belong to their caller and expire after
 * `limits.idempotencyKeyTtlSeconds`. Which run a key maps to is clients/git-operations.ts's
 * business (a workflow id per key; a retryable failure is retried there).
 */
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { DomainError, ErrorType } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import { createIdempotencyKeyRepository } from '../lib/store/idempotency-keys.js';
import type { Queryable } from '../lib/store/queryable.js';
import { IDEMPOTENCY_KEY } from './schemas.js';

export interface IdempotencyDeps {
  db: Queryable;
  ttlSeconds: number;
  log: Pick<Logger, 'warn'>;
}

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const PRUNE_EVERY_MS = 3_600_000;

/** JSON with object keys sorted, so the same body always hashes the same. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/** SHA-256 (hex) of what makes two requests the same request. */
export function requestFingerprint(r: { method: string; path: string; body: unknown; caller: string }): string {
  return createHash('sha256')
    .update(canonical([r.method, r.path, r.body ?? null, r.caller]))
    .digest('hex');
}

/** preHandler (runs after auth and validation): refuses a key reused for another request. */
export function idempotencyGuard(deps: IdempotencyDeps) {
  const keys = createIdempotencyKeyRepository(deps.db);
  let lastPrune = 0;
  return async (req: FastifyRequest): Promise<void> => {
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || !MUTATING.has(req.method) || !IDEMPOTENCY_KEY.test(key) || req.principal === null)
      return;
    const caller = req.principal.name;
    const path = req.url;
    const fingerprint = requestFingerprint({ method: req.method, path, body: req.body, caller });
    const bound = await keys.claim({ caller, key, fingerprint, method: req.method, path, ttlSeconds: deps.ttlSeconds });
    if (Date.now() - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = Date.now();
      keys
        .prune(deps.ttlSeconds)
        .catch((e: Error) => deps.log.warn({ err: e.message }, 'pruning idempotency keys failed'));
    }
    if (bound.fingerprint !== fingerprint) {
      throw new DomainError(
        ErrorType.IdempotencyKeyReused,
        `Idempotency-Key: already used for another request (${bound.method} ${bound.path === path ? 'with another body' : bound.path}); send a new key for a new request`,
        { details: { field: 'Idempotency-Key' } },
      );
    }
  };
}
