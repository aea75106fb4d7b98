/**
 * A local smart-HTTP git server (git's own `git http-backend` behind node:http) — the real
 * protocol a hosted remote speaks: with HTTP Basic auth for credential tests, and with a delay per
 * request (`delayMs`) for benchmarks against a remote with real latency (the concurrent-push
 * bench's BENCH_REMOTE_RTT_MS: a fetch or push is 2–3 requests, so 2–3 round trips, as over the
 * network to a hosted git service).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';

const BACKEND = process.env.SGC_GIT_HTTP_BACKEND ?? '/usr/lib/git-core/git-http-backend';

export interface GitHttpServer {
  /** base URL; a bare repo at <projectRoot>/remote.git is `${url}/remote.git` */
  url: string;
  /** Authorization headers seen, for asserting what reached the server */
  seenAuth: string[];
  close(): Promise<void>;
}

export async function startGitHttpServer(o: {
  projectRoot: string;
  /** Basic auth required when both are set; without them every request is served */
  username?: string;
  password?: string;
  /** each request waits this long before it is served (one simulated round trip; default 0) */
  delayMs?: number;
  /** a URL to answer `302 Found` with instead of serving (e.g. another host), or undefined */
  redirect?: (pathAndQuery: string) => string | undefined;
}): Promise<GitHttpServer> {
  const authRequired = o.username !== undefined && o.password !== undefined;
  const expected = `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
  const seenAuth: string[] = [];
  const delayMs = o.delayMs ?? 0;
  const server: Server = createServer((req, res) => {
    if (delayMs > 0) {
      // hold the request body until the delay is over (the backend reads it then)
      req.pause();
      setTimeout(() => serve(req, res), delayMs);
    } else serve(req, res);
  });
  function serve(req: IncomingMessage, res: ServerResponse): void {
    const auth = req.headers.authorization;
    if (auth) seenAuth.push(auth);
    const location = o.redirect?.(req.url ?? '/');
    if (location !== undefined) {
      res.writeHead(302, { Location: location });
      res.end();
      return;
    }
    if (authRequired && auth !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="sgc-test"' });
      res.end('unauthorized');
      return;
    }
    const u = new URL(req.url ?? '/', 'http://localhost');
    const child = spawn(BACKEND, [], {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        GIT_PROJECT_ROOT: o.projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(u.pathname),
        QUERY_STRING: u.search.replace(/^\?/, ''),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        REMOTE_USER: o.username ?? 'anonymous',
        REMOTE_ADDR: '127.0.0.1',
        HTTP_CONTENT_ENCODING: (req.headers['content-encoding'] as string | undefined) ?? '',
        GIT_PROTOCOL: (req.headers['git-protocol'] as string | undefined) ?? '',
      },
      stdio: ['pipe', 'pipe', 'ignore'],
    });
    req.pipe(child.stdin);
    let buf = Buffer.alloc(0);
    let headersDone = false;
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      buf = Buffer.concat([buf, chunk]);
      let sepLen = 4;
      let idx = buf.indexOf('\r\n\r\n');
      if (idx < 0) {
        idx = buf.indexOf('\n\n');
        sepLen = 2;
      }
      if (idx < 0) return;
      headersDone = true;
      let status = 200;
      for (const line of buf.subarray(0, idx).toString('latin1').split(/\r?\n/)) {
        const c = line.indexOf(':');
        if (c < 0) continue;
        const k = line.slice(0, c).trim();
        const v = line.slice(c + 1).trim();
        if (k.toLowerCase() === 'status') status = Number.parseInt(v, 10);
        else res.setHeader(k, v);
      }
      res.statusCode = status;
      res.write(buf.subarray(idx + sepLen));
    });
    child.on('close', () => res.end());
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seenAuth,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface RecordingServer {
  url: string;
  /** host:port, as git's credential protocol names it */
  host: string;
  /** every request line seen (method + path) */
  requests: string[];
  /** every Authorization header seen: a credential leak is anything in here */
  seenAuth: string[];
  close(): Promise<void>;
}

/**
 * A stand-in for a hostile or foreign git host: it answers every request with
 * `401 WWW-Authenticate: Basic` (so git offers whatever credentials it has) and records every
 * Authorization header it receives.
 */
export async function startRecordingServer(): Promise<RecordingServer> {
  const requests: string[] = [];
  const seenAuth: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.headers.authorization) seenAuth.push(req.headers.authorization);
    req.resume();
    res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="recording"' });
    res.end('unauthorized');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    requests,
    seenAuth,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
