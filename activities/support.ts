/**
 * What activity bodies share: the ids of the running activity (set by the boundary interceptor,
 * activities/interceptors.ts) for their log lines, and heartbeating around a long service call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { Context } from '@temporalio/activity';
import { withContextFields, type Logger } from '../lib/log.js';
import type { Progress } from '../lib/service/types.js';

/** The ids every log line of an activity carries. No secrets, no inputs: ids only. */
export interface ActivityLogFields {
  workflowId: string | undefined;
  workflowType: string | undefined;
  activityType: string;
  attempt: number;
}

const running = new AsyncLocalStorage<ActivityLogFields>();

/** Runs `fn` (one activity execution) with `fields` as the current activity's ids. */
export function runWithActivityFields<T>(fields: ActivityLogFields, fn: () => Promise<T>): Promise<T> {
  return running.run(fields, fn);
}

/** The ids of the activity running in this async context; undefined outside one. */
export function currentActivityFields(): ActivityLogFields | undefined {
  return running.getStore();
}

/**
 * `log` whose lines, when written inside an intercepted activity, carry workflowId,
 * workflowType, activityType and attempt (outside one, it is `log` unchanged). The worker's
 * composition root wraps its logger once and hands it to the activity factories, so a body
 * logs `log.info({ stage }, 'canary stage applied')` and the line names its workflow.
 */
export function activityLogger(log: Logger): Logger {
  return withContextFields(log, () => running.getStore() as Record<string, unknown> | undefined);
}

/**
 * Runs one service call with heartbeats: every progress report from the service is sent at once,
 * and the last one is repeated on a timer so a long clone or push between reports doesn't trip
 * the heartbeat timeout. Returns early with CancelledFailure when Temporal cancels the attempt
 * (heartbeat timeout seen by the server, worker shutdown); the service call itself is left to
 * finish and is safe to repeat, since the next attempt is idempotent (workspace id, operation id).
 * Failures are the interceptor's to translate and log.
 */
export async function withHeartbeat<T>(log: Logger, fn: (progress: Progress) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  let last: Record<string, unknown> = { step: 'start' };
  const progress: Progress = (detail) => {
    last = detail;
    ctx.heartbeat(detail);
  };
  const everyMs = Math.max(1_000, Math.floor((ctx.info.heartbeatTimeoutMs ?? 30_000) / 3));
  const timer = setInterval(() => ctx.heartbeat(last), everyMs);
  try {
    progress(last);
    const work = fn(progress);
    // when cancellation wins the race, the abandoned call must not become an unhandled rejection
    work.catch((err: unknown) => log.debug({ err: (err as Error).message }, 'abandoned activity call failed'));
    return await Promise.race([work, ctx.cancelled]);
  } finally {
    clearInterval(timer);
  }
}
