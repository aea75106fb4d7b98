/**
 * Load with the circuit breaker watching it live (seed 003: "stop immediately if error rate > 2%
 * or effective fallback > 8%"): every progress tick feeds a SlidingBreaker with the requests
 * completed and failed since the last tick, an optional server-side reading (Prometheus) is
 * checked every few seconds, and a breach aborts the load at once. The sample window that was
 * running keeps what it measured up to the stop.
 */
import {
  startLoad,
  type LoadOptions,
  type LoadResult,
  type LoadRun,
  type LoadSnapshot,
  type StatusCounts,
} from '../load/engine.js';
import { SlidingBreaker, type LiveTrip, type SlidingBreakerOptions } from './breaker.js';

export interface ServerCheck {
  everyMs: number;
  /** the service's error rate and effective fallback over the breaker's span; throw or null = no data */
  read(): Promise<{ error_rate?: number | null; effective_fallback_ratio?: number | null }>;
}

export interface GuardedLoadOptions {
  load: LoadOptions;
  breaker: SlidingBreakerOptions;
  server?: ServerCheck;
  /** epoch ms; injectable for tests */
  now?: () => number;
}

export interface GuardedLoadResult {
  result: LoadResult;
  /** the live trip that stopped the load, or null when it ran its course */
  trip: LiveTrip | null;
  /** epoch ms the load had stopped (all requests ended), when it was tripped */
  stoppedAt: number | null;
}

const failedOf = (s: StatusCounts): number => s['4xx'] + s['5xx'] + s.errors;
const totalOf = (s: StatusCounts): number => s['2xx'] + s['3xx'] + s['4xx'] + s['5xx'] + s.other + s.errors;

export function startGuardedLoad(o: GuardedLoadOptions): { run: LoadRun; done: Promise<GuardedLoadResult> } {
  const now = o.now ?? Date.now;
  const breaker = new SlidingBreaker(o.breaker);
  let prev = { total: 0, failed: 0, at: now() };
  // set once the load has started; a trip before that cannot happen (no tick yet)
  const started: { run?: LoadRun } = {};
  const trip = (t: LiveTrip | null): void => {
    if (t) started.run?.abort();
  };
  const onProgress = (p: LoadSnapshot): void => {
    const at = now();
    const total = totalOf(p.status);
    const failed = failedOf(p.status);
    const newFailed = failed - prev.failed;
    // the first failure of this tick happened after the previous tick at the earliest
    trip(breaker.observeRequests(at, total - prev.total, newFailed, newFailed > 0 ? prev.at : null));
    prev = { total, failed, at };
    o.load.onProgress?.(p);
  };
  const run = startLoad({ ...o.load, onProgress, progressIntervalMs: o.load.progressIntervalMs ?? 1000 });
  started.run = run;
  let timer: NodeJS.Timeout | undefined;
  if (o.server) {
    const server = o.server;
    let busy = false;
    timer = setInterval(() => {
      if (busy || breaker.tripped) return;
      busy = true;
      server
        .read()
        .then(
          (v) => trip(breaker.observeServer(now(), v)),
          () => undefined,
        )
        .finally(() => {
          busy = false;
        });
    }, server.everyMs);
  }
  const done = run.done.then((result) => {
    if (timer) clearInterval(timer);
    const t = breaker.tripped;
    return { result, trip: t, stoppedAt: t ? now() : null };
  });
  return { run, done };
}
