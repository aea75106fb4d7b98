import { performance } from 'node:perf_hooks';
import type { Logger } from '../log.js';

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2_000;

/**
 * Gives back something a process holds in Postgres — a workspace operation lease, a branch push
 * lock — whose release failed because the database was out of reach (a restart, a partition):
 * retries `release` with backoff (250 ms doubling to 2 s) until it succeeds or `giveUpAfterMs`
 * has passed (by then the row has expired anyway). Without it the row stayed held for its whole
 * TTL after the database came back, and the retry of the very operation that held it waited
 * behind it and failed (Busy, LockTimeout). `release` must be safe to repeat and must only free
 * the caller's own hold (by token), so a late retry never frees what someone has taken since.
 * Runs in the background on unref'd timers: the operation has already ended.
 */
export function releaseWhenReachable(
  release: () => Promise<unknown>,
  opts: { giveUpAfterMs: number; what: string; fields: Record<string, unknown>; log?: Logger },
): void {
  const giveUpAt = performance.now() + opts.giveUpAfterMs;
  let wait = FIRST_RETRY_MS;
  const attempt = (): void => {
    release().then(
      () => opts.log?.info(opts.fields, `${opts.what} released after the database came back`),
      () => {
        if (performance.now() + wait >= giveUpAt) return;
        setTimeout(attempt, wait).unref();
        wait = Math.min(wait * 2, MAX_RETRY_MS);
      },
    );
  };
  setTimeout(attempt, wait).unref();
}
