/**
 * The interceptors every worker registers: today the activity boundary (activities/interceptors.ts:
 * DomainError → typed ApplicationFailure, ids on log lines, gitops_activity_duration_seconds).
 * Composition roots pass `interceptors: workerInterceptors({ log, metrics })` to Worker.create;
 * test and bench workers do the same, so they see failures as production does.
 */
import type { WorkerInterceptors } from '@temporalio/worker';
import { createActivityBoundary, type ActivityBoundaryDeps } from '../activities/interceptors.js';

export function workerInterceptors(deps: ActivityBoundaryDeps): WorkerInterceptors {
  return { activity: [createActivityBoundary(deps)] };
}
