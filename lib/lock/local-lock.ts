import { performance } from 'node:perf_hooks';
import { DomainError, ErrorType } from '../errors.js';
import type { Metrics } from '../metrics.js';

/**
 * Approach 1's push lock: a keyed async mutex inside one process (seed 000: "locks are
 * in-process"). Waiters are served first come, first served; a waiter that times out leaves the
 * queue without disturbing the others. It serialises pushes from this process only — that is
 * approach 1's known limit, which approach 2's Postgres lock removes.
 */
export interface LocalLockOptions {
  /** default acquire timeout; 0 or undefined waits forever */
  timeoutMs?: number;
  metrics?: Metrics;
}

interface Entry {
  queue: { grant: () => void }[];
}

export class LocalLock {
  private readonly entries = new Map<string, Entry>();
  private readonly timeoutMs?: number;
  private readonly metrics?: Metrics;

  constructor(opts: LocalLockOptions = {}) {
    this.timeoutMs = opts.timeoutMs;
    this.metrics = opts.metrics;
  }

  /** Resolves with a release function (calling it twice is harmless); LockTimeout on timeout. */
  async acquire(key: string, opts: { timeoutMs?: number } = {}): Promise<() => void> {
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const started = performance.now();
    const entry = this.entries.get(key);
    if (!entry) {
      this.entries.set(key, { queue: [] });
      this.metrics?.lockWait.labels('acquired').observe(0);
      return this.releaser(key);
    }
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const waiter = {
        grant: () => {
          if (timer) clearTimeout(timer);
          resolve();
        },
      };
      if (timeoutMs !== undefined && timeoutMs > 0) {
        timer = setTimeout(() => {
          const i = entry.queue.indexOf(waiter);
          if (i >= 0) entry.queue.splice(i, 1);
          const waited = performance.now() - started;
          this.metrics?.lockWait.labels('timeout').observe(waited / 1000);
          reject(
            new DomainError(ErrorType.LockTimeout, `in-process lock still held after ${Math.round(waited)} ms`, {
              details: { lockKey: key, waitedMs: Math.round(waited) },
            }),
          );
        }, timeoutMs);
      }
      entry.queue.push(waiter);
    });
    this.metrics?.lockWait.labels('acquired').observe((performance.now() - started) / 1000);
    return this.releaser(key);
  }

  private releaser(key: string): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const entry = this.entries.get(key);
      if (!entry) return;
      const next = entry.queue.shift();
      if (next) next.grant();
      else this.entries.delete(key);
    };
  }

  async withLock<T>(key: string, fn: () => Promise<T>, opts: { timeoutMs?: number } = {}): Promise<T> {
    const release = await this.acquire(key, opts);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  isLocked(key: string): boolean {
    return this.entries.has(key);
  }

  /** Number of callers waiting for `key` (not counting the holder). */
  waiting(key: string): number {
    return this.entries.get(key)?.queue.length ?? 0;
  }
}

export function createLocalLock(opts: LocalLockOptions = {}): LocalLock {
  return new LocalLock(opts);
}
