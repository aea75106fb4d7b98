/** zod schemas shared by routes: inputs reuse lib/git/validate.ts, so the API and the service agree. */
import { z } from 'zod';
import { DomainError } from '../lib/errors.js';
import { validateBranchName, validateCommitMessage, validateId, validateRepoUrl } from '../lib/git/validate.js';

/** A string checked by one of lib/git/validate.ts's validators (the issue lands on the field). */
export function validated(check: (v: string) => unknown) {
  return z.string().superRefine((v, ctx) => {
    try {
      check(v);
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: e instanceof DomainError ? e.message : 'invalid value' });
    }
  });
}

export const workspaceIdSchema = validated((v) => validateId(v, 'id')).describe('workspace id');

/** An Idempotency-Key's shape. */
export const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{1,128}$/;

export const idempotencyHeaders = z.looseObject({
  'idempotency-key': z
    .string()
    .regex(IDEMPOTENCY_KEY, 'must be 1-128 characters of letters, digits, ".", "_", ":", "-"')
    .optional()
    .describe(
      'retrying the same request with the same key returns the first result instead of repeating the operation (a run that failed with a retryable error runs again); another request under a used key is 422',
    ),
});

export const createWorkspaceBody = z.object({
  repoUrl: validated((v) => validateRepoUrl(v, 'repoUrl')).describe(
    'remote to clone (credentials come from the server, never the URL)',
  ),
  taskId: validated((v) => validateId(v, 'taskId')).describe('the agent branch is agent/<agentId>/<taskId>'),
  baseBranch: validated((v) => validateBranchName(v, 'baseBranch'))
    .optional()
    .describe('branch to start from (default: the remote HEAD)'),
});

export const commitBody = z.object({
  message: validated((v) => validateCommitMessage(v, 'message')).describe('commit message, committed literally'),
  branch: validated((v) => validateBranchName(v, 'branch'))
    .optional()
    .describe('branch to rebase onto and push to (default: the agent branch)'),
});

export const fileBody = z.object({
  content: z.string().describe('UTF-8 file content'),
});

export const workspaceSchema = z.object({
  id: z.string(),
  agentId: z.string(),
  taskId: z.string(),
  repoUrl: z.string(),
  baseBranch: z.string(),
  agentBranch: z.string(),
  approach: z.enum(['simple', 'pooled']),
  sandboxId: z.string(),
  status: z.enum(['initializing', 'ready', 'in_use', 'error', 'terminated']),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});

export const gitStatusSchema = z.object({
  branch: z.string().nullable(),
  upstream: z.string().nullable(),
  ahead: z.number().int(),
  behind: z.number().int(),
  entries: z.array(
    z.object({
      path: z.string(),
      index: z.string(),
      worktree: z.string(),
      kind: z.enum(['changed', 'renamed', 'unmerged', 'untracked', 'ignored']),
      origPath: z.string().optional(),
    }),
  ),
  clean: z.boolean(),
});

export const commitResultSchema = z.object({
  commit: z.string(),
  branch: z.string(),
  attempts: z.number().int(),
  alreadyLanded: z.boolean(),
});

export const pullResultSchema = z.object({ head: z.string(), updated: z.boolean() });

/** Error bodies (api/errors.ts); loose so details such as `files` pass through. */
export const errorSchema = z.looseObject({ error: z.string(), message: z.string() });

export const errorResponses = {
  400: errorSchema.describe('invalid input; `field` names it'),
  401: errorSchema.describe('no or unknown bearer token'),
  403: errorSchema.describe(
    'the token lacks the role, or the policy refuses the branch (`field` names it: branch, baseBranch)',
  ),
  404: errorSchema.describe('no such workspace for this agent'),
  503: errorSchema.describe('Postgres, Temporal, the push lock or the pool is unavailable; see Retry-After'),
} as const;
