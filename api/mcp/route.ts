/**
 * MCP over Streamable HTTP at `/mcp` (stateless: a transport per request, JSON responses). The
 * caller is an agent with its bearer token; each tool call is dispatched to this same app
 * in-process with that token, so /mcp sees exactly what REST sees — its own workspaces only, the
 * same router, flags, limits and metrics. Built servers are kept and reconnected per request
 * (building one costs ~2 ms; reconnecting ~0.02 ms); the token travels as the request's auth info.
 */
import type { IncomingMessage } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { requireAgent } from '../auth.js';
import { createGitMcpServer, type RestCaller } from './tools.js';

/** A RestCaller that injects into the app with the agent's own Authorization header. */
export function injectCaller(app: Pick<FastifyInstance, 'inject'>, authorization: string): RestCaller {
  return async ({ method, path, body, idempotencyKey }) => {
    const headers: Record<string, string> = { authorization };
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    const res = await app.inject({
      method,
      url: path,
      headers,
      ...(body === undefined ? {} : { payload: body as object }),
    });
    const retryAfter = res.headers['retry-after'];
    const text = res.body;
    return {
      status: res.statusCode,
      body: text ? (JSON.parse(text) as unknown) : null,
      ...(retryAfter ? { retryAfter: String(retryAfter) } : {}),
    };
  };
}

const notAllowed = {
  jsonrpc: '2.0',
  error: { code: -32000, message: 'Method not allowed: this MCP endpoint is stateless; send JSON-RPC with POST' },
  id: null,
};
/** Idle servers kept for reuse; more are built under concurrency and dropped when the pool is full. */
const POOL_MAX = 16;

export function mcpRoute(root: Pick<FastifyInstance, 'inject'>): FastifyPluginAsync {
  const callerFor = (auth: AuthInfo | undefined): RestCaller => injectCaller(root, `Bearer ${auth?.token ?? ''}`);
  const idle: McpServer[] = [];
  return async (app) => {
    app.addHook('onRequest', requireAgent());
    app.post('/mcp', { schema: { hide: true } }, async (req, reply) => {
      const server = idle.pop() ?? createGitMcpServer(callerFor);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      reply.hijack();
      reply.raw.on('close', () => {
        void server.close().then(() => {
          if (idle.length < POOL_MAX) idle.push(server);
        });
      });
      await server.connect(transport);
      // requireAgent accepted the bearer token; hand it to the tool handlers as auth info
      const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      const raw = Object.assign(req.raw as IncomingMessage & { auth?: AuthInfo }, {
        auth: { token, clientId: req.principal?.agentId ?? 'agent', scopes: ['agent'] },
      });
      await transport.handleRequest(raw, reply.raw, req.body);
    });
    app.get('/mcp', { schema: { hide: true } }, async (_req, reply) =>
      reply.code(405).header('allow', 'POST').send(notAllowed),
    );
    app.delete('/mcp', { schema: { hide: true } }, async (_req, reply) =>
      reply.code(405).header('allow', 'POST').send(notAllowed),
    );
  };
}
