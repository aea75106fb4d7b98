/**
 * A load target the baseline tests control: a node:http server that answers like our git API
 * (workspaces, status, diff, file writes, commits), exports the contract metrics
 * (lib/metrics.ts) for Prometheus to scrape, and can be switched to answering 500s.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetrics, recordOperation, type Metrics } from '../../lib/metrics.js';

export interface LoadTargetServer {
  url: string;
  /** host:port for a scrape config */
  hostPort: string;
  metrics: Metrics;
  /** load requests answered (health, metrics and workspace management excluded) */
  readonly requests: number;
  /** Date.now() of the last load request */
  readonly lastRequestAt: number;
  readonly released: string[];
  /** requests that came without the expected bearer token */
  readonly unauthorized: number;
  setFailing(on: boolean): void;
  close(): Promise<void>;
}

/** Starts the target; with `token`, every /v1 request must carry `Bearer <token>` (else 401). */
export async function startLoadTarget(opts: { token?: string; latencyMs?: number } = {}): Promise<LoadTargetServer> {
  const metrics = createMetrics();
  metrics.fallbacks.labels('approach2_error').inc(0);
  let failing = false;
  let requests = 0;
  let lastRequestAt = 0;
  let unauthorized = 0;
  let acquisitions = 0;
  const released: string[] = [];
  const workspacesByKey = new Map<string, string>();

  const send = (res: ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body === null ? '' : JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    for await (const chunk of req) void chunk;
    if (path === '/healthz') return send(res, 200, { status: 'ok' });
    if (path === '/metrics') {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(await metrics.registry.metrics());
      return;
    }
    if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
      unauthorized++;
      return send(res, 401, { error: 'unauthorized' });
    }
    if (req.method === 'POST' && path === '/v1/workspaces') {
      // honour Idempotency-Key like the real API: a retried create names the same workspace
      const key = String(req.headers['idempotency-key'] ?? `anon-${workspacesByKey.size}`);
      const id = workspacesByKey.get(key) ?? `ws-${workspacesByKey.size + 1}`;
      workspacesByKey.set(key, id);
      return send(res, 201, { id });
    }
    const ws = /^\/v1\/workspaces\/([^/]+)(\/.*)?$/.exec(path);
    if (ws && req.method === 'GET' && ws[2] === undefined) return send(res, 200, { id: ws[1] });
    if (ws && req.method === 'DELETE' && ws[2] === undefined) {
      released.push(ws[1]);
      return send(res, 204, null);
    }

    requests++;
    lastRequestAt = Date.now();
    const started = performance.now();
    const operation =
      ws?.[2] === '/status'
        ? 'status'
        : ws?.[2] === '/diff'
          ? 'diff'
          : ws?.[2]?.startsWith('/files/')
            ? 'write'
            : ws?.[2] === '/commits'
              ? 'push'
              : 'other';
    if (operation === 'push') {
      // every tenth push needs a fresh sandbox: a 90% pool hit rate
      metrics.poolAcquisitions.labels(++acquisitions % 10 === 0 ? 'created' : 'reused').inc();
    }
    if (opts.latencyMs) await new Promise((r) => setTimeout(r, opts.latencyMs));
    const seconds = (performance.now() - started) / 1000;
    if (failing) {
      recordOperation(metrics, { operation, approach: 'simple', seconds, error: 'other' });
      return send(res, 500, { error: 'internal' });
    }
    recordOperation(metrics, { operation, approach: 'simple', seconds });
    return send(res, 200, { ok: true });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => send(res, 500, { error: 'target bug' }));
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hostPort: `127.0.0.1:${port}`,
    metrics,
    get requests() {
      return requests;
    },
    get lastRequestAt() {
      return lastRequestAt;
    },
    get released() {
      return released;
    },
    get unauthorized() {
      return unauthorized;
    },
    setFailing(on) {
      failing = on;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
