/**
 * `npm run mcp`: the git tools as an MCP server on stdio, for agent runtimes that spawn their
 * tools. It is a client of the API: the agent's machine holds only its API token, never database
 * or git credentials. Environment: SGC_API_URL (default http://127.0.0.1:8080) and
 * SGC_AGENT_TOKEN (the agent's bearer token; required). Logs go to stderr (stdout is the protocol).
 */
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { createGitMcpServer, type RestCaller } from './tools.js';

/** A RestCaller over HTTP with the agent's token. */
export function httpCaller(baseUrl: string, token: string, timeoutMs = 600_000): RestCaller {
  const root = baseUrl.replace(/\/+$/, '');
  return async ({ method, path, body, idempotencyKey }) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (idempotencyKey) headers['idempotency-key'] = idempotencyKey;
    if (body !== undefined) headers['content-type'] = 'application/json';
    try {
      const res = await fetch(`${root}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await res.text();
      const retryAfter = res.headers.get('retry-after');
      return {
        status: res.status,
        body: text ? (JSON.parse(text) as unknown) : null,
        ...(retryAfter ? { retryAfter } : {}),
      };
    } catch (e) {
      // the API is unreachable or timed out: a tool error the agent can retry, not a crash
      const timedOut = (e as Error).name === 'TimeoutError';
      return {
        status: timedOut ? 504 : 503,
        body: { error: timedOut ? 'timeout' : 'unavailable', message: `the API at ${root} did not answer` },
      };
    }
  };
}

async function main(): Promise<void> {
  const token = process.env.SGC_AGENT_TOKEN;
  if (!token) throw new Error("SGC_AGENT_TOKEN is not set: export the agent's API token");
  const url = process.env.SGC_API_URL ?? 'http://127.0.0.1:8080';
  const caller = httpCaller(url, token);
  const server = createGitMcpServer(() => caller);
  await server.connect(new StdioServerTransport());
  process.stderr.write(`[mcp] git tools on stdio, API ${url}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`[mcp] ${(e as Error).message}\n`);
    process.exit(1);
  });
}
