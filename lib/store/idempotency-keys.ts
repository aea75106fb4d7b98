import type { Queryable } from './queryable.js';
import { bindQuery, defineRepository } from './repository.js';

export interface KeyClaim {
  /** the fingerprint the key is bound to: the caller's own when `fresh` */
  fingerprint: string;
  /** the request that first used the key (for the refusal's message) */
  method: string;
  path: string;
}

/**
 * Binds `caller`'s `key` to a request fingerprint and returns the binding: this request's when
 * the key is new, else the one it already has (the caller compares). A
 * binding older than `ttlSeconds` is replaced (the key may be used for a new request). One
 * statement, so two concurrent first uses agree on one binding.
 */
async function claimIdempotencyKey(
  q: Queryable,
  c: { caller: string; key: string; fingerprint: string; method: string; path: string; ttlSeconds: number },
): Promise<KeyClaim> {
  const { rows } = await q.query<{ fingerprint: string; method: string; path: string }>(
    `INSERT INTO idempotency_keys AS k (caller, key, fingerprint, method, path) VALUES ($1, $2, $3, $4, $5)
     ON CONFLICT (caller, key) DO UPDATE
       SET fingerprint = CASE WHEN k.created_at < now() - make_interval(secs => $6) THEN EXCLUDED.fingerprint ELSE k.fingerprint END,
           method      = CASE WHEN k.created_at < now() - make_interval(secs => $6) THEN EXCLUDED.method ELSE k.method END,
           path        = CASE WHEN k.created_at < now() - make_interval(secs => $6) THEN EXCLUDED.path ELSE k.path END,
           created_at  = CASE WHEN k.created_at < now() - make_interval(secs => $6) THEN now() ELSE k.created_at END
     RETURNING fingerprint, method, path`,
    [c.caller, c.key, c.fingerprint, c.method, c.path, c.ttlSeconds],
  );
  const r = rows[0]!;
  return { fingerprint: r.fingerprint, method: r.method, path: r.path };
}

/** Deletes bindings older than `ttlSeconds`; returns how many. */
async function pruneIdempotencyKeys(q: Queryable, ttlSeconds: number): Promise<number> {
  const r = await q.query('DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)', [
    ttlSeconds,
  ]);
  return r.rowCount ?? 0;
}

/** The `idempotency_keys` table: an API caller's Idempotency-Key bound to its first request. */
export function createIdempotencyKeyRepository(q: Queryable) {
  return defineRepository('idempotency_keys', {
    claim: bindQuery(q, claimIdempotencyKey),
    prune: bindQuery(q, pruneIdempotencyKeys),
  });
}
export type IdempotencyKeyRepository = ReturnType<typeof createIdempotencyKeyRepository>;
