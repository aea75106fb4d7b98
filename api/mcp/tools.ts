/**
 * The MCP tools agents use for git (seed 004 step 6). Every tool is one call of the REST API with
 * the agent's own bearer token, so MCP and REST share everything behind the route: auth and
 * ownership, the router and its flags (kill switch, shadow), gitOperationWorkflow for clone, pull
 * and push, idempotency, limits, metrics and operation_log rows. Two transports carry the same
 * server: stdio (scripts/mcp.ts, a client of the API over HTTP) and Streamable HTTP at /mcp on the
 * API (api/mcp/route.ts, which calls the app in-process). A failure is a tool result with
 * `isError: true` and a category an agent can act on, never a crash of the server.
 */
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

export interface RestCall {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** path and query under the API root, e.g. `/v1/workspaces/w1/status` */
  path: string;
  body?: unknown;
  idempotencyKey?: string;
}

export interface RestResult {
  status: number;
  body: unknown;
  /** the Retry-After header, when the API sent one */
  retryAfter?: string;
}

/** Performs one REST call as the agent (over HTTP for stdio, in-process for /mcp). */
export type RestCaller = (call: RestCall) => Promise<RestResult>;

/** What an agent can do about a failed call; the same words as the metrics' error categories where they overlap. */
export type ToolErrorCategory =
  | 'invalid_argument'
  | 'not_found'
  | 'auth'
  | 'conflict'
  | 'busy'
  | 'limit'
  | 'rate_limit'
  | 'timeout'
  | 'unavailable'
  | 'gone'
  | 'internal';

interface ErrorBody {
  error?: string;
  message?: string;
  field?: string;
  files?: string[];
  [k: string]: unknown;
}

/** Maps an API error response onto the category and the advice an agent needs. */
export function categorize(status: number, body: ErrorBody): ToolErrorCategory {
  if (status === 400 || status === 422) return 'invalid_argument';
  if (status === 401 || status === 403 || status === 502) return 'auth';
  if (status === 404) return 'not_found';
  if (status === 409) return body.error === 'busy' ? 'busy' : 'conflict';
  if (status === 410) return 'gone';
  if (status === 413) return 'limit';
  if (status === 429) return 'rate_limit';
  if (status === 503) return 'unavailable';
  if (status === 504) return 'timeout';
  return 'internal';
}

const ADVICE: Record<ToolErrorCategory, string> = {
  invalid_argument: 'Fix the named argument and call again.',
  not_found: 'No such workspace for this agent: call git_clone to create one.',
  auth: 'Not permitted with this token or remote; do not retry the same call.',
  conflict: 'Resolve the conflicting files (git_read_file / git_write_file), then call git_push again.',
  busy: 'Another operation on this workspace is running; retry shortly.',
  limit: 'A size or count limit was reached; make the request smaller.',
  rate_limit: 'Too many requests; wait before retrying.',
  timeout: 'The operation timed out; retrying with the same idempotencyKey is safe.',
  unavailable: 'The service is temporarily unavailable; retry later with the same idempotencyKey.',
  gone: 'The workspace sandbox no longer exists; call git_clone for a new workspace.',
  internal: 'An internal error; retry later or report it.',
};

function errorResult(res: RestResult): CallToolResult {
  const body = (res.body && typeof res.body === 'object' ? res.body : {}) as ErrorBody;
  const category = categorize(res.status, body);
  const parts = [`${category}: ${body.message ?? `HTTP ${res.status}`}`];
  if (body.field) parts.push(`field: ${body.field}`);
  if (Array.isArray(body.files) && body.files.length) parts.push(`conflicting files: ${body.files.join(', ')}`);
  if (res.retryAfter) parts.push(`retry after ${res.retryAfter} s`);
  parts.push(ADVICE[category]);
  return {
    isError: true,
    content: [{ type: 'text', text: parts.join('\n') }],
    structuredContent: {
      error: {
        category,
        status: res.status,
        code: body.error ?? 'error',
        message: body.message ?? '',
        ...(body.field ? { field: body.field } : {}),
        ...(body.files ? { files: body.files } : {}),
        ...(res.retryAfter ? { retryAfterSeconds: Number(res.retryAfter) } : {}),
      },
    },
  };
}

function okResult(text: string, structured: Record<string, unknown>): CallToolResult {
  return { content: [{ type: 'text', text }], structuredContent: structured };
}

const enc = encodeURIComponent;
const filePath = (p: string): string => p.split('/').map(enc).join('/');

// Field descriptions are written for the model that reads them.
const workspaceId = z.string().min(1).describe('The workspace id returned by git_clone.');
const idempotencyKey = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,128}$/)
  .optional()
  .describe(
    'Optional. Reuse the same key when retrying the same call so it is not repeated (1-128 letters, digits, ".", "_", ":", "-").',
  );

interface StatusEntry {
  path: string;
  kind: string;
  index: string;
  worktree: string;
}

/**
 * The REST caller for one tool call: fixed (stdio: one agent per process) or chosen from the
 * request's auth info (HTTP: the transport hands the caller's token to each handler).
 */
export type CallerFor = (authInfo: AuthInfo | undefined) => RestCaller;

/**
 * Builds the MCP server with the git tools. Building one costs ~2 ms (eight tools, their
 * schemas), so the HTTP route keeps built servers and reconnects them to each request's
 * transport; the caller is therefore looked up per call, never captured at build time.
 */
export function createGitMcpServer(callerFor: CallerFor, info: { name?: string; version?: string } = {}): McpServer {
  const server = new McpServer({ name: info.name ?? 'sandbox-git-control', version: info.version ?? '0.1.0' });

  // one place for "call as this request's agent, then format or fail"
  const call = async (
    extra: { authInfo?: AuthInfo },
    c: RestCall,
    ok: (body: Record<string, unknown>) => CallToolResult,
  ): Promise<CallToolResult> => {
    const res = await callerFor(extra.authInfo)(c);
    if (res.status >= 400) return errorResult(res);
    return ok((res.body ?? {}) as Record<string, unknown>);
  };

  server.registerTool(
    'git_clone',
    {
      title: 'Clone a repository into a new workspace',
      description:
        'Creates a sandboxed workspace with the repository cloned on your own branch agent/<your id>/<taskId>. ' +
        'Returns the workspaceId that every other git_* tool takes. Only remotes allowed by the service can be cloned.',
      inputSchema: {
        repoUrl: z
          .string()
          .min(1)
          .describe('The remote to clone, e.g. https://git.example.com/org/repo.git. Never put credentials in it.'),
        taskId: z
          .string()
          .min(1)
          .describe('A short id for your task (letters, digits, ".", "_", "-"); it names your branch.'),
        baseBranch: z.string().optional().describe("The branch to start from. Default: the remote's default branch."),
        idempotencyKey,
      },
    },
    async ({ repoUrl, taskId, baseBranch, idempotencyKey: key }, extra) =>
      call(
        extra,
        {
          method: 'POST',
          path: '/v1/workspaces',
          body: { repoUrl, taskId, ...(baseBranch ? { baseBranch } : {}) },
          idempotencyKey: key,
        },
        (ws) =>
          okResult(
            `workspace ${String(ws.id)} ready on branch ${String(ws.agentBranch)} (base ${String(ws.baseBranch)})`,
            { workspace: ws, workspaceId: ws.id },
          ),
      ),
  );

  server.registerTool(
    'git_status',
    {
      title: 'Show the working tree status',
      description:
        'Lists changed, untracked and conflicted files of the workspace, and how far the branch is ahead of or behind its upstream.',
      inputSchema: { workspaceId },
    },
    async ({ workspaceId: id }, extra) =>
      call(extra, { method: 'GET', path: `/v1/workspaces/${enc(id)}/status` }, (st) => {
        const entries = (st.entries ?? []) as StatusEntry[];
        const lines = entries.map((e) => `${e.kind === 'untracked' ? '??' : `${e.index}${e.worktree}`} ${e.path}`);
        const head = `on ${String(st.branch ?? '(detached)')}, ahead ${String(st.ahead)}, behind ${String(st.behind)}`;
        return okResult(st.clean ? `${head}; working tree clean` : `${head}\n${lines.join('\n')}`, { status: st });
      }),
  );

  server.registerTool(
    'git_diff',
    {
      title: 'Show the diff of uncommitted changes',
      description:
        'Returns the unified diff of the working tree (or of staged changes with staged=true), optionally for one path. Large diffs are refused with a limit error: narrow them with path.',
      inputSchema: {
        workspaceId,
        staged: z.boolean().optional().describe('Diff the index instead of the working tree.'),
        path: z.string().optional().describe('Only this file or directory, relative to the repository root.'),
      },
    },
    async ({ workspaceId: id, staged, path }, extra) => {
      const q = new URLSearchParams();
      if (staged !== undefined) q.set('staged', String(staged));
      if (path !== undefined) q.set('path', path);
      const qs = q.size ? `?${q.toString()}` : '';
      return call(extra, { method: 'GET', path: `/v1/workspaces/${enc(id)}/diff${qs}` }, (d) =>
        okResult(String(d.diff ?? '') || '(no changes)', { diff: d.diff ?? '' }),
      );
    },
  );

  server.registerTool(
    'git_write_file',
    {
      title: 'Write a file in the workspace',
      description:
        'Creates or replaces a file (parent directories are created). The path is relative to the repository root and must stay inside it.',
      inputSchema: {
        workspaceId,
        path: z.string().min(1).describe('File path relative to the repository root, e.g. src/index.ts.'),
        content: z.string().describe('The complete new UTF-8 content of the file.'),
      },
    },
    async ({ workspaceId: id, path, content }, extra) =>
      call(
        extra,
        { method: 'PUT', path: `/v1/workspaces/${enc(id)}/files/${filePath(path)}`, body: { content } },
        (w) => okResult(`wrote ${String(w.path)} (${String(w.bytes)} bytes)`, { path: w.path, bytes: w.bytes }),
      ),
  );

  server.registerTool(
    'git_read_file',
    {
      title: 'Read a file from the workspace',
      description: 'Returns the content of a file in the workspace (relative to the repository root).',
      inputSchema: {
        workspaceId,
        path: z.string().min(1).describe('File path relative to the repository root.'),
      },
    },
    async ({ workspaceId: id, path }, extra) =>
      call(extra, { method: 'GET', path: `/v1/workspaces/${enc(id)}/files/${filePath(path)}` }, (f) =>
        okResult(String(f.content ?? ''), { path: f.path, content: f.content }),
      ),
  );

  server.registerTool(
    'git_pull',
    {
      title: 'Pull and rebase onto the remote',
      description:
        'Fetches the remote and rebases your branch onto it. On a conflict the result is an error listing the conflicting files.',
      inputSchema: { workspaceId, idempotencyKey },
    },
    async ({ workspaceId: id, idempotencyKey: key }, extra) =>
      call(extra, { method: 'POST', path: `/v1/workspaces/${enc(id)}/pull`, idempotencyKey: key }, (p) =>
        okResult(p.updated ? `updated to ${String(p.head)}` : `already up to date at ${String(p.head)}`, { pull: p }),
      ),
  );

  server.registerTool(
    'git_push',
    {
      title: 'Commit all changes and push',
      description:
        'Commits every change in the workspace with your message and pushes it to your branch (rebasing on the remote first, retried under the push lock). ' +
        'On a conflict the result is an error listing the files. Pass the same idempotencyKey when retrying so the commit lands once.',
      inputSchema: {
        workspaceId,
        message: z.string().min(1).describe('The commit message.'),
        branch: z
          .string()
          .optional()
          .describe('The branch to push to. Default: your own agent branch. Other branches are usually not permitted.'),
        idempotencyKey,
      },
    },
    async ({ workspaceId: id, message, branch, idempotencyKey: key }, extra) =>
      call(
        extra,
        {
          method: 'POST',
          path: `/v1/workspaces/${enc(id)}/commits`,
          body: { message, ...(branch ? { branch } : {}) },
          idempotencyKey: key,
        },
        (c) =>
          okResult(
            `${c.alreadyLanded ? 'already landed' : 'pushed'} ${String(c.commit)} to ${String(c.branch)} after ${String(c.attempts)} attempt(s)`,
            { push: c },
          ),
      ),
  );

  server.registerTool(
    'git_release',
    {
      title: 'Release the workspace',
      description:
        'Ends the workspace: uncommitted changes are discarded and its sandbox is returned or destroyed. Push first if you want to keep your work.',
      inputSchema: { workspaceId },
    },
    async ({ workspaceId: id }, extra) =>
      call(extra, { method: 'DELETE', path: `/v1/workspaces/${enc(id)}` }, () =>
        okResult(`released ${id}`, { released: id }),
      ),
  );

  return server;
}
