/**
 * Activity options of gitOperationWorkflow's pull and commit + push, apart so their retry budget
 * can be checked against what it must outlast (test/unit/git-operation-options.test.ts).
 */
import type { ActivityOptions } from '@temporalio/workflow';
import { ErrorType, type ErrorTypeName } from '../../lib/errors.js';

/** Faults a retry cannot fix: bad input stays bad, and a real conflict needs the agent. */
export const PERMANENT: ErrorTypeName[] = [
  ErrorType.Validation,
  ErrorType.NotFound,
  ErrorType.Forbidden,
  ErrorType.Auth,
  ErrorType.Conflict,
  ErrorType.ConflictEscalated,
];

export const PUSH_PULL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  // short, so a push whose worker died is retried elsewhere within seconds
  heartbeatTimeout: '10 seconds',
  // The service already retries a rejected push with backoff (seed 004: 3 attempts, then
  // ConflictEscalated). These retries cover what it cannot: lock timeouts under contention,
  // network errors, a worker that died mid-push (the retry is safe: it lands once per workflow id).
  // Ten attempts: their backoffs (0.5 + 1 + 2 + 4 + 8 + 4 × 10 = 55.5 s) outlast a Postgres
  // restart plus the 30 s workspace lease an attempt cut off from Postgres leaves held (issue 12's
  // chaos suite: with five, 7.5 s, the last attempts met that lease or timed out and the push
  // answered 504 while the restart's effects still lasted).
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '10 seconds',
    maximumAttempts: 10,
    nonRetryableErrorTypes: PERMANENT,
  },
};
