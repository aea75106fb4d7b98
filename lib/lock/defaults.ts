/**
 * Approach 2's Postgres push lock defaults (seed 004), read by the config schema (`lock` in
 * temporal.yaml) and by PushLock when it is built without options, so both give the same value.
 */
export const PUSH_LOCK_DEFAULTS = {
  /** A crashed holder's lock expires after this. */
  ttlSeconds: 30,
  /** How long a push waits for the lock before it fails with LockTimeout (and Temporal retries it). */
  acquireTimeoutMs: 5_000,
  /** How often a waiter polls when no NOTIFY wakes it. */
  pollMs: 50,
} as const;
