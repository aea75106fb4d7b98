/**
 * /mcp answers the common request — one JSON-RPC request in a POST — on pooled servers kept
 * connected to a JsonRequestTransport, and everything else through the SDK's transport. The two
 * paths must answer alike: the same request sent to `/mcp` (fast path) and to `/mcp?via=sdk` (a
 * query string sends it the SDK's way) gets the same status, content type and body.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { FastifyRequest } from 'fastify';
import { mcpRoute, plainRequest } from '../../api/mcp/route.js';
import { routeApp } from '../../scripts/testing/route-app.js';

const AGENT = 'agent-token-0123456789abcdefgh';
const OTHER = 'other-token-0123456789abcdefgh';
const STATUS = {
  branch: 'agent/agent-1/t',
  ahead: 1,
  behind: 0,
  clean: false,
  entries: [{ path: 'a.txt', kind: 'changed', index: '.', worktree: 'M' }],
};

const app = routeApp([
  { name: 'agent-1', role: 'agent', agentId: 'agent-1', token: AGENT },
  { name: 'agent-2', role: 'agent', agentId: 'agent-2', token: OTHER },
]);
// the REST route the tools call in-process: agent-1 owns ws-1, nobody else sees it
app.get('/v1/workspaces/:id/status', async (req, reply) => {
  const { id } = req.params as { id: string };
  if (id !== 'ws-1' || req.principal?.agentId !== 'agent-1')
    return reply.code(404).send({ error: 'not_found', message: `no workspace ${id}` });
  return STATUS;
});
let base = '';

beforeAll(async () => {
  await app.register(mcpRoute(app));
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(() => app.close());

const HEADERS = {
  'content-type': 'application/json',
  accept: 'application/json, text/event-stream',
  'mcp-protocol-version': '2025-06-18',
};

async function post(path: string, body: unknown, headers: Record<string, string> = {}, token = AGENT) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { ...HEADERS, authorization: `Bearer ${token}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    body: text ? (JSON.parse(text) as unknown) : null,
  };
}

const call = (name: string, args: Record<string, unknown>, id: number | string = 7) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

describe('/mcp answers one JSON-RPC request exactly as the SDK transport does', () => {
  const cases: [string, unknown, string][] = [
    [
      'initialize',
      {
        jsonrpc: '2.0',
        id: 0,
        method: 'initialize',
        params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } },
      },
      AGENT,
    ],
    ['tools/list', { jsonrpc: '2.0', id: 'list-1', method: 'tools/list' }, AGENT],
    ['a git_status call', call('git_status', { workspaceId: 'ws-1' }), AGENT],
    ["another agent's workspace (not found)", call('git_status', { workspaceId: 'ws-1' }), OTHER],
    ['a missing argument', call('git_status', {}), AGENT],
    ['an unknown tool', call('git_nope', {}), AGENT],
    ['an unknown method', { jsonrpc: '2.0', id: 9, method: 'resources/nope' }, AGENT],
    ['ping', { jsonrpc: '2.0', id: 10, method: 'ping' }, AGENT],
  ];
  test.each(cases)('%s', async (_name, message, token) => {
    const fast = await post('/mcp', message, {}, token);
    const sdk = await post('/mcp?via=sdk', message, {}, token);
    expect(fast).toEqual(sdk);
    expect(fast.status).toBe(200);
    expect(fast.type).toBe('application/json');
  });

  test('a git_status call carries the REST answer as the tool result', async () => {
    const r = await post('/mcp', call('git_status', { workspaceId: 'ws-1' }, 'abc'));
    expect(r.body).toMatchObject({ jsonrpc: '2.0', id: 'abc', result: { structuredContent: { status: STATUS } } });
  });

  test('concurrent calls each get their own answer', async () => {
    const ids = Array.from({ length: 24 }, (_, i) => i);
    const answers = await Promise.all(
      ids.map((i) => post('/mcp', call('git_status', { workspaceId: i % 2 ? 'ws-1' : `ws-${i}` }, i))),
    );
    for (const [i, a] of answers.entries()) {
      const result = i % 2 ? { structuredContent: { status: STATUS } } : { isError: true };
      expect(a.body).toMatchObject({ id: i, result });
    }
  });
});

describe('requests the SDK transport still answers', () => {
  test('a notification is accepted with 202 and no body', async () => {
    const r = await post('/mcp', { jsonrpc: '2.0', method: 'notifications/initialized' });
    expect(r).toEqual({ status: 202, type: null, body: null });
  });

  test('a batch is answered as an array', async () => {
    const r = await post('/mcp', [
      { jsonrpc: '2.0', id: 1, method: 'ping' },
      { jsonrpc: '2.0', id: 2, method: 'ping' },
    ]);
    expect(r.status).toBe(200);
    expect(r.body).toEqual([
      { jsonrpc: '2.0', id: 1, result: {} },
      { jsonrpc: '2.0', id: 2, result: {} },
    ]);
  });

  test('a client that does not accept SSE is refused with 406', async () => {
    const r = await post('/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' }, { accept: 'application/json' });
    expect(r.status).toBe(406);
  });

  test('an unsupported protocol version is refused with 400', async () => {
    const r = await post('/mcp', { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-protocol-version': '1999-01-01' });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toMatch(/Unsupported protocol version/);
  });

  test('a body that is not a JSON-RPC message is a parse error', async () => {
    const r = await post('/mcp', { hello: 'world' });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: { code: -32700 } });
  });
});

describe('which requests take the fast path', () => {
  const ping = { jsonrpc: '2.0', id: 1, method: 'ping' };
  const req = (body: unknown, headers: Record<string, string> = {}, url = '/mcp') =>
    ({ headers: { ...HEADERS, host: '127.0.0.1:3000', ...headers }, raw: { url }, body }) as unknown as Pick<
      FastifyRequest,
      'headers' | 'raw' | 'body'
    >;
  test('one JSON-RPC request with the headers the SDK client sends', () => {
    expect(plainRequest(req(ping))).toEqual(ping);
    expect(plainRequest(req(ping, { 'mcp-protocol-version': '2025-03-26' }))).toEqual(ping);
  });
  test.each([
    ['a notification', { jsonrpc: '2.0', method: 'notifications/initialized' }, {}, '/mcp'],
    ['a batch', [ping], {}, '/mcp'],
    ['no SSE in Accept', ping, { accept: 'application/json' }, '/mcp'],
    ['a text body', ping, { 'content-type': 'text/plain' }, '/mcp'],
    ['an unsupported version', ping, { 'mcp-protocol-version': '1999-01-01' }, '/mcp'],
    ['a query string', ping, {}, '/mcp?x=1'],
    ['an odd Host', ping, { host: 'a/b' }, '/mcp'],
    ['a port out of range', ping, { host: 'localhost:99999' }, '/mcp'],
  ])('not %s', (_name, body, headers, url) => {
    expect(plainRequest(req(body, headers, url))).toBeNull();
  });
});
