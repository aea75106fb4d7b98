/**
 * Tests on the real stack (servers, Prometheus scrapes, timers) are retried up to twice, with the
 * failure logged, so a timing flake on a loaded 2-core machine does not fail the run; a test that
 * fails three times in a row still fails it. Unit and replay tests are never retried.
 */
import { jest } from '@jest/globals';

jest.retryTimes(2, { logErrorsBeforeRetry: true });
