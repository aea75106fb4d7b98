/**
 * MCP over Streamable HTTP at `/mcp` (stateless, JSON responses). The caller is an agent with its
 * bearer token; each tool call is dispatched to this same app in-process with that token, so /mcp
 * sees exactly what REST sees — its own workspaces only, the same router, flags, limits and
 * metrics. Built servers are kept (building one costs ~2 ms). The common request — one JSON-RPC
 * request in the POST — goes to a pooled server that stays connected to its own
 * {@link JsonRequestTransport} and is answered with one JSON body written straight to the socket;
 * anything else (batches, notifications, bad headers or messages) goes through the SDK's
 * StreamableHTTPServerTransport on a server connected for that request, which answers as it always
 * has. The token travels as the request's auth info either way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isJsonContentType } from '@modelcontextprotocol/sdk/shared/mediaType.js';
import {
  JSONRPCMessageSchema,
  SUPPORTED_PROTOCOL_VERSIONS,
  isInitializeRequest,
  isJSONRPCRequest,
  type JSONRPCRequest,
} from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { requireAgent } from '../auth.js';
import { JsonRequestTransport } from './json-transport.js';
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

/** Host headers the SDK's transport turns into a URL without complaint: a name or address, a port. */
const PLAIN_HOST = /^[a-z0-9._-]+(?::(\d{1,5}))?$/i;

/**
 * The request as the SDK's transport would accept it in the common case — one JSON-RPC request,
 * JSON in, JSON and SSE accepted, a supported protocol version (or none) — or null when anything
 * differs, so the SDK's transport handles it (and its errors) exactly as before.
 */
export function plainRequest(req: Pick<FastifyRequest, 'headers' | 'raw' | 'body'>): JSONRPCRequest | null {
  const { headers } = req;
  const accept = headers.accept;
  if (!accept?.includes('application/json') || !accept.includes('text/event-stream')) return null;
  if (!isJsonContentType(headers['content-type'])) return null;
  const host = PLAIN_HOST.exec(headers.host ?? '');
  if (req.raw.url !== '/mcp' || host === null || Number(host[1] ?? 0) > 65535) return null;
  const body = req.body;
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return null;
  const parsed = JSONRPCMessageSchema.safeParse(body);
  if (!parsed.success || !isJSONRPCRequest(parsed.data)) return null;
  const message = parsed.data as JSONRPCRequest;
  const version = headers['mcp-protocol-version'];
  // as the SDK: the version header is checked on every request but initialisation
  if (
    version !== undefined &&
    !SUPPORTED_PROTOCOL_VERSIONS.includes(version as string) &&
    !isInitializeRequest(message)
  )
    return null;
  return message;
}

function writeJson(res: ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function mcpRoute(root: Pick<FastifyInstance, 'inject'>): FastifyPluginAsync {
  const callerFor = (auth: AuthInfo | undefined): RestCaller => injectCaller(root, `Bearer ${auth?.token ?? ''}`);
  // servers for the SDK transport (connected per request) and servers kept connected to their own JsonRequestTransport
  const idle: McpServer[] = [];
  const connected: { server: McpServer; transport: JsonRequestTransport }[] = [];
  const connectedServer = async (): Promise<{ server: McpServer; transport: JsonRequestTransport }> => {
    const kept = connected.pop();
    if (kept) return kept;
    const server = createGitMcpServer(callerFor);
    const transport = new JsonRequestTransport();
    await server.connect(transport);
    return { server, transport };
  };
  return async (app) => {
    app.addHook('onRequest', requireAgent());
    app.post('/mcp', { schema: { hide: true } }, async (req, reply) => {
      // requireAgent accepted the bearer token; hand it to the tool handlers as auth info
      const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      const authInfo: AuthInfo = { token, clientId: req.principal?.agentId ?? 'agent', scopes: ['agent'] };
      reply.hijack();
      const res = reply.raw;
      const message = plainRequest(req);
      if (message) {
        const slot = await connectedServer();
        let answered = false;
        res.on('close', () => {
          // the caller went away before its answer: abort the handler (close), drop the server
          if (!answered) void slot.server.close();
          else if (connected.length < POOL_MAX) connected.push(slot);
        });
        let response;
        try {
          response = await slot.transport.request(message, { authInfo, requestInfo: { headers: req.headers } });
        } catch (e) {
          if (res.destroyed) return; // closed above: nobody to answer
          throw e;
        }
        if (res.destroyed) return;
        answered = true;
        writeJson(res, response);
        return;
      }
      const server = idle.pop() ?? createGitMcpServer(callerFor);
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void server.close().then(() => {
          if (idle.length < POOL_MAX) idle.push(server);
        });
      });
      await server.connect(transport);
      const raw = Object.assign(req.raw as IncomingMessage & { auth?: AuthInfo }, { auth: authInfo });
      await transport.handleRequest(raw, res, req.body);
    });
    app.get('/mcp', { schema: { hide: true } }, async (_req, reply) =>
      reply.code(405).header('allow', 'POST').send(notAllowed),
    );
    app.delete('/mcp', { schema: { hide: true } }, async (_req, reply) =>
      reply.code(405).header('allow', 'POST').send(notAllowed),
    );
  };
}
