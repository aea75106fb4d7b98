/**
 * What serialises fetch → rebase → push per remote + target branch (the push lock).
 *
 * - local (approach 1, seed 000: "locks are in-process"): a keyed async mutex, first come first
 *   served, no acquire timeout (the activity's start-to-close timeout bounds the wait).
 * - postgres (approach 2): the Postgres push lock shared by every process (TTL and acquire
 *   timeout from config `lock`), behind a per-process FIFO queue per key.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { DomainError, ErrorType } from '../errors.js';
import type { LocalLock } from '../lock/local-lock.js';
import type { PushLock } from '../lock/push-lock.js';
import type { Metrics } from '../metrics.js';

export interface PushSerializer {
  /** Runs `fn` while holding the push lock for `key` (see lib/lock pushLockKey). */
  withLock<T>(key: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Approach 1: the in-process lock. */
export function createLocalPushSerializer(lock: LocalLock): PushSerializer {
  return {
    withLock: (key, fn) => lock.withLock(key, fn),
    close: async () => undefined,
  };
}

export interface PostgresPushSerializerDeps {
  pushLock: PushLock;
  metrics: Pick<Metrics, 'lockWait'>;
  /** bounds the whole wait, local queue included (config `lock.acquireTimeoutMs`) */
  acquireTimeoutMs: number;
}

/**
 * Approach 2: pushes of one process to one key queue here first (FIFO), so only the head of the
 * queue competes for the Postgres lock: a hundred local waiters would otherwise each poll it
 * every `pollMs`, and that load slows the holder down. Other processes still contend through the
 * Postgres lock. The acquire timeout bounds the whole wait, local queue included, and ends in the
 * same LockTimeout.
 */
export function createPostgresPushSerializer(deps: PostgresPushSerializerDeps): PushSerializer {
  const { pushLock, metrics, acquireTimeoutMs: timeoutMs } = deps;
  const holderPrefix = `${hostname()}:${process.pid}`;
  /** per lock key: the tail of this process's queue for it */
  const pushQueues = new Map<string, Promise<void>>();

  return {
    async withLock(key, fn) {
      const started = performance.now();
      const ahead = pushQueues.get(key) ?? Promise.resolve();
      let leave!: () => void;
      const mine = new Promise<void>((r) => {
        leave = r;
      });
      // whoever queues after us waits for those ahead of us too, even if we give up early
      const tail = ahead.then(() => mine);
      pushQueues.set(key, tail);
      try {
        const ac = new AbortController();
        const turn = await Promise.race([
          ahead.then(() => true),
          delay(timeoutMs, false, { signal: ac.signal }).catch(() => false),
        ]);
        ac.abort();
        const waited = performance.now() - started;
        if (!turn || waited >= timeoutMs) {
          metrics.lockWait.labels('timeout').observe(waited / 1000);
          throw new DomainError(ErrorType.LockTimeout, `push lock still held after ${Math.round(waited)} ms`, {
            details: { lockKey: key, waitedMs: Math.round(waited), queued: true },
          });
        }
        // what is left of the timeout after a wait in the queue (no wait: the lock's own default);
        // the holder is unique per acquisition: the lock treats a repeated holder as a re-acquire
        const lockOpts = waited >= 1 ? { timeoutMs: timeoutMs - waited } : {};
        return await pushLock.withLock(key, `${holderPrefix}:${randomUUID()}`, () => fn(), lockOpts);
      } finally {
        leave();
        if (pushQueues.get(key) === tail) pushQueues.delete(key);
      }
    },
    close: () => pushLock.close(),
  };
}
