/**
 * The Temporal runtime of a worker process, logging into the process's pino logger. Workflow
 * code logs through `log` from @temporalio/workflow; the SDK carries those calls out of the
 * workflow sandbox through its logger sink (skipping them on replay) to `Runtime.logger`, with
 * the workflow's ids attached (workflowId, runId, workflowType, namespace, taskQueue).
 */
import { DefaultLogger, Runtime, type LogLevel, type Logger as TemporalLogger } from '@temporalio/worker';
import type { Logger } from '../lib/log.js';

const PINO_LEVEL = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const satisfies Record<LogLevel, string>;
const RANK: Record<LogLevel, number> = { TRACE: 0, DEBUG: 1, INFO: 2, WARN: 3, ERROR: 4 };

/**
 * A Temporal Logger over pino. Lines from workflow (and `Context.log` activity) code keep their
 * level, so pino's level decides, and carry `component: workflow` plus the workflow's ids; the
 * SDK's own lines (worker, core) pass only from `sdkMinLevel` up (default WARN: its per-task
 * debug chatter stays out).
 */
export function temporalLogger(log: Logger, opts: { sdkMinLevel?: LogLevel } = {}): TemporalLogger {
  const appLogs = { workflow: log.child({ component: 'workflow' }), activity: log.child({ component: 'activity' }) };
  const sdkLog = log.child({ component: 'temporal-sdk' });
  const sdkMin = RANK[opts.sdkMinLevel ?? 'WARN'];
  return new DefaultLogger('TRACE', ({ level, message, meta }) => {
    const { sdkComponent, error, ...fields } = (meta ?? {}) as Record<string, unknown>;
    // pino serializes `err` (message, stack); a bare Error under another key would print as {}
    if (error !== undefined) fields.err = error;
    if (sdkComponent === 'workflow' || sdkComponent === 'activity') {
      appLogs[sdkComponent][PINO_LEVEL[level]](fields, message);
    } else if (RANK[level] >= sdkMin) {
      sdkLog[PINO_LEVEL[level]]({ sdkComponent, ...fields }, message);
    }
  });
}

/** Installs the process's Temporal runtime (once, before the first worker or connection). */
export function installRuntime(log: Logger): void {
  Runtime.install({
    logger: temporalLogger(log),
    // Worker.run() resolves after these signals drain the worker
    shutdownSignals: ['SIGINT', 'SIGTERM'],
  });
}
