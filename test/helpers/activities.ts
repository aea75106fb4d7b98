import type { Info } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivityBoundary } from '../../activities/interceptors.js';
import { createLogger, type Logger } from '../../lib/log.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';

/** The SDK's own activity logger, silenced: failures are often the point of these tests. */
const QUIET = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/**
 * A MockActivityEnvironment with the activity boundary the workers register
 * (activities/interceptors.ts), so a test sees what a workflow sees: DomainErrors arrive as typed
 * ApplicationFailures.
 */
export function boundaryEnv(
  opts: { log?: Logger; metrics?: Pick<Metrics, 'activityDuration'>; info?: Partial<Info> } = {},
): MockActivityEnvironment {
  const log = opts.log ?? createLogger({ level: 'silent' });
  const metrics = opts.metrics ?? createMetrics({ defaultMetrics: false });
  return new MockActivityEnvironment(opts.info, {
    logger: QUIET,
    interceptors: [createActivityBoundary({ log, metrics })],
  });
}
