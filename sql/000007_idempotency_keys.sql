-- Idempotency keys bound to the request they were first used for (issue 9 item 8). A retried
-- request with the same key must be the same request: the fingerprint is a SHA-256 over the
-- method, the path, the body and the caller. The same key with another fingerprint is refused
-- (422 naming Idempotency-Key) instead of silently returning the first request's result.
-- Keys are scoped to their caller (the token's name) and expire after limits.idempotencyKeyTtlSeconds.
CREATE TABLE idempotency_keys (
  caller      text        NOT NULL,
  key         text        NOT NULL,
  fingerprint text        NOT NULL,
  method      text        NOT NULL,
  path        text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (caller, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
