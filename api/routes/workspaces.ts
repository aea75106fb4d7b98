/**
 * Agents' git operations. Create, pull, commit + push and release run as gitOperationWorkflow
 * (durable retries, the push lock, crash recovery) and the handler waits for the result; reads
 * and file edits call the service directly — they are fast and safe to repeat. An agent sees only
 * its own workspaces: anyone else's answers 404, exactly like a missing one.
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { validateWorkspacePath } from '../../lib/git/validate.js';
import type { GitPolicy } from '../../lib/policy/index.js';
import type { GitService, Workspace } from '../../lib/service/types.js';
import { toWorkspaceSummary } from '../../lib/service/workspace-summary.js';
import { requireAgent } from '../auth.js';
import { executeGitOperation, newWorkspaceId, type TemporalDeps } from '../../clients/git-operations.js';
import {
  commitBody,
  commitResultSchema,
  createWorkspaceBody,
  errorResponses,
  errorSchema,
  fileBody,
  gitStatusSchema,
  idempotencyHeaders,
  pullResultSchema,
  workspaceIdSchema,
  workspaceSchema,
} from '../schemas.js';

export interface WorkspaceRouteDeps {
  service: GitService;
  temporal: TemporalDeps;
  /**
   * remotes and branches an agent may use (config `git`): checked here too, so a refused
   * request answers at once and never starts an operation (the service checks again)
   */
  policy: GitPolicy;
}

const idParams = z.object({ id: workspaceIdSchema });
const fileParams = z.object({ id: workspaceIdSchema, '*': z.string().describe('path inside the workspace') });
const conflict = {
  409: errorSchema.describe(
    'conflict: `files` names the conflicting files; `escalated` after the last attempt. busy: another operation holds the workspace (Retry-After). quota_exceeded: `limit` names it',
  ),
};
const busy = {
  409: errorSchema.describe(
    'busy: another operation holds the workspace (Retry-After); quota_exceeded: `limit` names it',
  ),
};
const tooLarge = (limit: string) => ({
  413: errorSchema.describe(`too_large: more than ${limit}; \`limit\` names it`),
});

function agentOf(req: FastifyRequest): string {
  // requireAgent ran first: an agent principal bound to an agent id
  return req.principal?.agentId as string;
}

/**
 * The workspace if it belongs to the caller (and, with `live`, is not released); else 404. The
 * object is the request's binding: the direct operations below are given it (not the id), so the
 * request reads the workspace once.
 */
async function ownWorkspace(
  service: GitService,
  agentId: string,
  id: string,
  opts: { live?: boolean } = {},
): Promise<Workspace> {
  const ws = await service.getWorkspace(id);
  if (!ws || ws.agentId !== agentId) throw new DomainError(ErrorType.NotFound, `workspace ${id} not found`);
  if (opts.live && ws.status === 'terminated')
    throw new DomainError(ErrorType.NotFound, `workspace ${id} was released`);
  return ws;
}

export function workspaceRoutes({ service, temporal, policy }: WorkspaceRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireAgent());

    app.post(
      '/workspaces',
      {
        schema: {
          summary: 'Create a workspace: a sandbox with the repo cloned on branch agent/<agentId>/<taskId>',
          tags: ['workspaces'],
          headers: idempotencyHeaders,
          body: createWorkspaceBody,
          response: {
            201: workspaceSchema,
            ...errorResponses,
            409: errorSchema.describe(
              'quota_exceeded: `limit` names it (limits.maxOpenWorkspacesPerAgent, workspaceDiskMaxBytes, workspaceMaxFiles)',
            ),
          },
        },
      },
      async (req, reply) => {
        const agentId = agentOf(req);
        policy.remotes.check(req.body.repoUrl, 'repoUrl');
        policy.branches.assertRead(agentId, req.body.baseBranch ?? 'main', 'baseBranch');
        const key = req.headers['idempotency-key'];
        const { workspace } = await executeGitOperation(
          temporal,
          {
            op: 'create',
            agentId,
            workspaceId: newWorkspaceId(agentId, key),
            taskId: req.body.taskId,
            repoUrl: req.body.repoUrl,
            baseBranch: req.body.baseBranch,
          },
          key,
        );
        return reply.code(201).send(workspace);
      },
    );

    app.get(
      '/workspaces/:id',
      {
        schema: {
          summary: 'A workspace',
          tags: ['workspaces'],
          params: idParams,
          response: { 200: workspaceSchema, ...errorResponses },
        },
      },
      async (req) => toWorkspaceSummary(await ownWorkspace(service, agentOf(req), req.params.id)),
    );

    app.delete(
      '/workspaces/:id',
      {
        schema: {
          summary: 'Release a workspace (its sandbox is returned to the pool or killed)',
          tags: ['workspaces'],
          params: idParams,
          response: { 204: z.null(), ...errorResponses, ...busy },
        },
      },
      async (req, reply) => {
        const agentId = agentOf(req);
        const ws = await ownWorkspace(service, agentId, req.params.id);
        if (ws.status !== 'terminated')
          await executeGitOperation(temporal, { op: 'release', agentId, workspaceId: ws.id });
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/workspaces/:id/status',
      {
        schema: {
          summary: 'git status (porcelain v2, parsed)',
          tags: ['workspaces'],
          params: idParams,
          response: { 200: gitStatusSchema, ...errorResponses },
        },
      },
      async (req) => {
        const ws = await ownWorkspace(service, agentOf(req), req.params.id, { live: true });
        return service.status(ws);
      },
    );

    app.get(
      '/workspaces/:id/diff',
      {
        schema: {
          summary: 'git diff of the working tree (or the index with staged=true)',
          tags: ['workspaces'],
          params: idParams,
          querystring: z.object({ staged: z.stringbool().optional(), path: z.string().optional() }),
          response: { 200: z.object({ diff: z.string() }), ...errorResponses, ...tooLarge('limits.diffMaxBytes') },
        },
      },
      async (req) => {
        const ws = await ownWorkspace(service, agentOf(req), req.params.id, { live: true });
        const path = req.query.path === undefined ? undefined : validateWorkspacePath(req.query.path, 'path');
        return { diff: await service.diff(ws, { staged: req.query.staged, path }) };
      },
    );

    app.put(
      '/workspaces/:id/files/*',
      {
        schema: {
          summary: 'Write a file (parents created); the path stays inside the workspace',
          tags: ['files'],
          params: fileParams,
          body: fileBody,
          response: {
            200: z.object({ path: z.string(), bytes: z.number().int() }),
            ...errorResponses,
            ...busy,
            413: errorSchema.describe('body larger than api.bodyLimitBytes'),
          },
        },
      },
      async (req) => {
        const path = validateWorkspacePath(req.params['*'], 'path');
        const ws = await ownWorkspace(service, agentOf(req), req.params.id, { live: true });
        await service.writeFile(ws, path, req.body.content);
        return { path, bytes: Buffer.byteLength(req.body.content, 'utf8') };
      },
    );

    app.get(
      '/workspaces/:id/files/*',
      {
        schema: {
          summary: 'Read a file',
          tags: ['files'],
          params: fileParams,
          response: {
            200: z.object({ path: z.string(), content: z.string() }),
            ...errorResponses,
            ...tooLarge('limits.fileReadMaxBytes'),
          },
        },
      },
      async (req) => {
        const path = validateWorkspacePath(req.params['*'], 'path');
        const ws = await ownWorkspace(service, agentOf(req), req.params.id, { live: true });
        return { path, content: await service.readFile(ws, path) };
      },
    );

    app.post(
      '/workspaces/:id/commits',
      {
        schema: {
          summary: 'Commit everything and push (pull --rebase first; retried under the push lock)',
          tags: ['workspaces'],
          params: idParams,
          headers: idempotencyHeaders,
          body: commitBody,
          response: { 201: commitResultSchema, ...errorResponses, ...conflict },
        },
      },
      async (req, reply) => {
        const agentId = agentOf(req);
        const ws = await ownWorkspace(service, agentId, req.params.id, { live: true });
        policy.branches.assertPush(agentId, req.body.branch ?? ws.agentBranch, 'branch');
        const { push } = await executeGitOperation(
          temporal,
          {
            op: 'commitPush',
            agentId,
            workspaceId: ws.id,
            message: req.body.message,
            targetBranch: req.body.branch,
          },
          req.headers['idempotency-key'],
        );
        return reply.code(201).send(push);
      },
    );

    app.post(
      '/workspaces/:id/pull',
      {
        schema: {
          summary: 'pull --rebase from the remote',
          tags: ['workspaces'],
          params: idParams,
          headers: idempotencyHeaders,
          response: { 200: pullResultSchema, ...errorResponses, ...conflict },
        },
      },
      async (req) => {
        const agentId = agentOf(req);
        const ws = await ownWorkspace(service, agentId, req.params.id, { live: true });
        const { pull } = await executeGitOperation(
          temporal,
          { op: 'pull', agentId, workspaceId: ws.id },
          req.headers['idempotency-key'],
        );
        return pull;
      },
    );
  };
}
