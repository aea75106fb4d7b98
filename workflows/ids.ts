/**
 * Workflow and Schedule IDs. Every ID comes from here so it is predictable in Temporal UI
 * (`temporal workflow describe -w <id>`) and idempotent on restart: starting the same logical
 * run twice hits the same ID instead of creating a duplicate.
 */
import type { GitOperation } from './git-operation/workflow.js';

/**
 * One agent git operation. `requestId` is the caller's idempotency key (the API's
 * Idempotency-Key header, or a fresh UUID), so a retried HTTP request attaches to the same run.
 */
export function gitOperationWorkflowId(workspaceId: string, op: GitOperation, requestId: string): string {
  return `gitop-${workspaceId}-${op}-${requestId}`;
}

/**
 * Issue 13: the merge queue of one repository + branch (push.mode queue). Stable across
 * continue-as-new and restarts; the key is hashed so any URL and branch make a valid, short id.
 */
export function mergeQueueWorkflowId(repoUrl: string, branch: string): string {
  // FNV-1a 64 over `repoUrl \0 branch` (deterministic, no Node built-ins: workflows import this)
  let h = 0xcbf29ce484222325n;
  for (const ch of `${repoUrl}\0${branch}`) {
    h ^= BigInt(ch.codePointAt(0)!);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  const tail = branch.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 60);
  return `merge-queue-${h.toString(16).padStart(16, '0')}-${tail}`;
}

/** A Temporal Schedule owned by this product (`sgc-pool-health-check`). */
export function scheduleId(name: string): string {
  return `sgc-${name}`;
}

/** Seed 000: one validation period of approach 1. */
export function validationWorkflowId(id: string): string {
  return `validation-${id}`;
}

/** Seeds 002/004: one canary rollout of approach 2 (stable across continue-as-new). */
export function canaryWorkflowId(rolloutId: string): string {
  return `canary-${rolloutId}`;
}

/** Seed 003: one production baseline run. */
export function baselineWorkflowId(id: string): string {
  return `baseline-${id}`;
}

/** Seed 001: one drift review / soak. */
export function driftWorkflowId(id: string): string {
  return `drift-${id}`;
}

/**
 * The id a run's rows, reports and artifact directory go by: the workflow id with every
 * character outside [A-Za-z0-9._-] replaced (a Schedule appends an ISO timestamp with colons),
 * capped so that report ids built from it stay within 128 characters.
 */
export function artifactRunId(workflowId: string): string {
  const safe = workflowId.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return (safe || 'run').slice(0, 96);
}

/** Issue 10 section 3: the re-home of live approach-2 workspaces after kill `eventId` (one per kill). */
export function rehomeWorkflowId(eventId: number, taskQueue: string): string {
  // kill event ids count per database: the task queue keeps two deployments (or test files)
  // sharing one Temporal namespace from answering each other's kill with an old run
  return `rehome-kill-${taskQueue}-${eventId}`;
}
