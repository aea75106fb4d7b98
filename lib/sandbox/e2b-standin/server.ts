/**
 * A stand-in for E2B's control plane in front of E2B's own in-sandbox daemon, envd (built from
 * E2B's source by provisioning: scripts/stack.ts `ensureEnvd`). It lets the real `e2b` SDK — and
 * so the `e2b` provider, unchanged — run against real envd processes: on every test run, and for
 * self-hosted development (scripts/e2b-standin.ts).
 *
 * Two HTTP listeners, like E2B's two domains:
 * - the API (`apiUrl`): the REST routes the SDK calls — `POST /v2/sandboxes`,
 *   `POST /v2/sandboxes/{id}/connect`, `GET /v2/sandboxes` (metadata/state query, `x-next-token`
 *   paging), `GET` and `DELETE /sandboxes/{id}`, `POST /sandboxes/{id}/timeout` — with X-API-KEY
 *   auth, the plan's lifetime cap, a concurrency limit, a TTL reaper, and injectable faults;
 * - the sandbox proxy (`sandboxUrl`): every envd request of the SDK carries `E2b-Sandbox-Id`, and
 *   is forwarded to that sandbox's envd process; a sandbox that is gone answers 502, as E2B's
 *   proxy does.
 *
 * Each sandbox is one `envd -isnotfc -no-cgroups -port <port>` process (root, as in E2B's VMs)
 * with its own Linux user (commands run as that user, whose home is the sandbox's home), its own
 * port and directory, and an access token set through envd's /init, so envd refuses requests
 * without the token. Killing a sandbox kills envd and every process of its user.
 *
 * It is not E2B: there is no VM (sandboxes share the host's kernel, network and /tmp), no
 * snapshots, and the lifetime rules follow E2B's published behaviour (README: "E2B stand-in").
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, closeSync, promises as fs } from 'node:fs';
import http from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { createSandboxUser, MARKER_FILE, removeSandboxUser, sweepStaleUsers, type SandboxUser } from './users.js';

/** The port envd listens on inside an E2B sandbox; the SDK names it in `E2b-Sandbox-Port`. */
export const ENVD_PORT = 49983;

export type StandinRoute = 'create' | 'connect' | 'list' | 'get' | 'kill' | 'timeout';

export interface StandinApiFault {
  /** HTTP status to answer with (401, 403, 429, 500, 503…) */
  status: number;
  /** how many matching requests get it */
  count: number;
  /** which route; default any */
  route?: StandinRoute;
  /** sent as `Retry-After` (the SDK retries a 429 on its own only when this is present) */
  retryAfterSeconds?: number;
}

export interface StandinFaults {
  /** answer the next matching API requests with an error, in order */
  apiErrors?: StandinApiFault[];
  /** sandbox creations allowed per second (E2B: Hobby 1, Pro 5); beyond that, 429 */
  createsPerSecond?: number;
  /** delay the answer to a create after the sandbox exists (a client giving up first leaves it behind) */
  createResponseDelayMs?: number;
  /** delay before envd's file transfers (`/files`) are forwarded */
  filesLatencyMs?: number;
  /** cut the next `count` command streams (envd's process Start) `afterMs` after they began, sandbox left running */
  resetStreams?: { count: number; afterMs: number };
}

export interface E2bStandinOptions {
  /** the envd binary (provisioning builds it from E2B's source) */
  envdBin: string;
  /** the API key clients must send as X-API-KEY */
  apiKey: string;
  /** directory for sandbox directories and homes; default a fresh temporary one, removed on close */
  root?: string;
  host?: string;
  apiPort?: number;
  sandboxPort?: number;
  /** templates that exist (create with another answers 404) */
  templates?: string[];
  /** lifetime when create sends none (E2B's API: 15 s) */
  defaultTimeoutMs?: number;
  /** the plan's maximum lifetime from start (E2B Hobby 1 h, Pro 24 h) */
  maxLifetimeMs?: number;
  /** concurrent sandboxes allowed (E2B Hobby 20, Pro 100) */
  maxConcurrent?: number;
  /** how often expired sandboxes are killed (default 250 ms) */
  reapIntervalMs?: number;
  /** page size of GET /v2/sandboxes when the client sends no limit (E2B: 100) */
  defaultPageSize?: number;
  /** resources reported per sandbox (E2B's default template: 2 vCPU, 512 MiB) */
  cpuCount?: number;
  memoryMB?: number;
  faults?: StandinFaults;
  /** receives one line per notable event (default: silent) */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface StandinSandboxInfo {
  id: string;
  state: 'running' | 'paused';
  templateID: string;
  metadata: Record<string, string>;
  startedAt: Date;
  endAt: Date;
  /** the Linux user commands run as, and its home */
  user: string;
  uid: number;
  home: string;
  envdPid: number;
  envdPort: number;
}

export interface E2bStandin {
  readonly apiUrl: string;
  readonly sandboxUrl: string;
  readonly envdVersion: string;
  setFaults(f: StandinFaults): void;
  /** API requests answered so far, per route (failed ones included) */
  requestCounts(): Record<StandinRoute, number>;
  /** live sandboxes as the stand-in sees them (tests look behind the API with this) */
  sandboxes(): StandinSandboxInfo[];
  /** pauses a sandbox (envd stopped, traffic answered 502) as E2B's auto-pause would */
  pause(id: string): void;
  /** kills a sandbox as if E2B ended it (same as DELETE /sandboxes/{id}) */
  kill(id: string): Promise<boolean>;
  close(): Promise<void>;
}

interface Sbx {
  id: string;
  templateID: string;
  metadata: Record<string, string>;
  startedAt: number;
  endAt: number;
  state: 'running' | 'paused';
  dir: string;
  user: SandboxUser;
  port: number;
  proc: ChildProcess;
  accessToken: string;
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const createBody = z
  .object({
    templateID: z.string().min(1),
    metadata: z.record(z.string(), z.string()).optional().nullable(),
    envVars: z.record(z.string(), z.string()).optional().nullable(),
    timeout: z.number().int().min(0).optional().nullable(),
  })
  .loose();
const timeoutBody = z.object({ timeout: z.number().int() }).loose();
const connectBody = z.object({ timeout: z.number().int().min(0).optional().nullable() }).loose();

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function newId(): string {
  // E2B's sandbox ids: 20 lower-case alphanumerics
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const bytes = randomBytes(20);
  let id = '';
  for (const b of bytes) id += alphabet[b % alphabet.length];
  return `i${id.slice(1)}`;
}

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createNetServer();
    srv.once('error', rej);
    srv.listen(0, host, () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { ...(text ? { 'content-type': 'application/json' } : {}), ...headers });
  res.end(text);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 1_048_576) throw new HttpError(413, 'request body too large');
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

function listen(server: http.Server, host: string, port: number): Promise<number> {
  return new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(port, host, () => {
      const a = server.address();
      res(typeof a === 'object' && a ? a.port : port);
    });
  });
}

/** Starts the stand-in: both listeners are up and stale sandboxes of dead stand-ins are swept. */
export async function startE2bStandin(opts: E2bStandinOptions): Promise<E2bStandin> {
  if (process.getuid?.() !== 0) {
    throw new Error(
      "the E2B stand-in must run as root: envd (like in E2B's VMs) runs as root and starts each sandbox's commands as that sandbox's own user",
    );
  }
  const ver = spawnSync(opts.envdBin, ['-version'], { encoding: 'utf8', timeout: 10_000 });
  if (ver.status !== 0 || !/^\d+\.\d+\.\d+/.test(ver.stdout.trim())) {
    throw new Error(
      `envd at ${opts.envdBin} does not run (${ver.error?.message ?? ver.stderr.trim() ?? `exit ${ver.status}`}); run \`npm run provision\``,
    );
  }
  const envdVersion = ver.stdout.trim();
  const host = opts.host ?? '127.0.0.1';
  const log = opts.log ?? (() => undefined);
  const maxLifetimeMs = opts.maxLifetimeMs ?? 3_600_000;
  const defaultTimeoutMs = opts.defaultTimeoutMs ?? 15_000;
  const templates = new Set(opts.templates ?? ['base', 'code-interpreter-v1']);
  const cpuCount = opts.cpuCount ?? 2;
  const memoryMB = opts.memoryMB ?? 512;
  const ownRoot = opts.root === undefined;
  const root = opts.root ?? (await fs.mkdtemp(join(tmpdir(), 'sgc-e2b-standin-')));
  await fs.mkdir(root, { recursive: true });
  // sandbox users must reach their homes below it, but not list each other's directories
  await fs.chmod(root, 0o711);
  await sweepStaleUsers().then((n) => n > 0 && log('swept sandboxes of stand-ins that are gone', { users: n }));

  let faults: StandinFaults = { ...opts.faults };
  const counts: Record<StandinRoute, number> = { create: 0, connect: 0, list: 0, get: 0, kill: 0, timeout: 0 };
  const sandboxes = new Map<string, Sbx>();
  const destroying = new Set<Promise<void>>();
  let creating = 0;
  let createStamps: number[] = [];
  let closed = false;

  function takeFault(route: StandinRoute): StandinApiFault | undefined {
    const list = faults.apiErrors;
    if (!list) return undefined;
    const f = list.find((x) => x.count > 0 && (x.route === undefined || x.route === route));
    if (!f) return undefined;
    f.count--;
    return f;
  }

  function public_(s: Sbx): Record<string, unknown> {
    return {
      sandboxID: s.id,
      templateID: s.templateID,
      clientID: 'sgc-standin',
      startedAt: new Date(s.startedAt).toISOString(),
      endAt: new Date(s.endAt).toISOString(),
      cpuCount,
      memoryMB,
      diskSizeMB: 10_240,
      metadata: { ...s.metadata },
      state: s.state,
      envdVersion,
      volumeMounts: [],
    };
  }

  function created(s: Sbx): Record<string, unknown> {
    return {
      sandboxID: s.id,
      templateID: s.templateID,
      clientID: 'sgc-standin',
      envdVersion,
      envdAccessToken: s.accessToken,
      domain: null,
    };
  }

  function sandboxOr404(id: string): Sbx {
    const s = sandboxes.get(id);
    if (!s) throw new HttpError(404, `sandbox "${id}" not found`);
    return s;
  }

  /** E2B's keep-alive rule: the end never passes start + the plan's maximum. */
  function keepAliveFor(s: Sbx, durationMs: number, allowShorter: boolean): void {
    const now = Date.now();
    if (!allowShorter && s.endAt > now + durationMs) return;
    if (now - s.startedAt > maxLifetimeMs) throw new HttpError(400, 'Sandbox has reached maximum allowed uptime');
    s.endAt = now + Math.min(durationMs, maxLifetimeMs - (now - s.startedAt));
  }

  async function spawnEnvd(dir: string): Promise<{ proc: ChildProcess; port: number }> {
    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort('127.0.0.1');
      const logFd = openSync(join(dir, 'envd.log'), 'a', 0o600);
      // a clean environment: envd hands its PATH to commands, nothing else of ours
      const proc = spawn(opts.envdBin, ['-isnotfc', '-no-cgroups', '-port', String(port)], {
        cwd: dir,
        env: { PATH: DEFAULT_PATH },
        stdio: ['ignore', logFd, logFd],
        detached: true,
      });
      closeSync(logFd);
      proc.on('error', () => undefined);
      if (proc.pid) await fs.writeFile(join(dir, 'envd.pid'), String(proc.pid), { mode: 0o600 });
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline && proc.exitCode === null && proc.signalCode === null) {
        const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
          (r) => r.status === 204,
          () => false,
        );
        if (ok) return { proc, port };
        await sleep(25);
      }
      lastErr = new Error(`envd did not answer on port ${port} (exit ${proc.exitCode ?? proc.signalCode ?? 'none'})`);
      try {
        process.kill(proc.pid ?? -1, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    throw lastErr;
  }

  async function createSandbox(
    templateID: string,
    timeoutMs: number,
    metadata: Record<string, string>,
    envVars: Record<string, string>,
  ): Promise<Sbx> {
    const id = newId();
    const dir = join(root, id);
    await fs.mkdir(dir, { mode: 0o711 });
    await fs.writeFile(join(dir, MARKER_FILE), `${process.pid}\n`, { mode: 0o600 });
    let user: SandboxUser | undefined;
    let envd: { proc: ChildProcess; port: number } | undefined;
    try {
      user = await createSandboxUser(`sgce${id.slice(1, 13)}`, join(dir, 'home'));
      envd = await spawnEnvd(dir);
      const accessToken = randomBytes(32).toString('hex');
      const init = await fetch(`http://127.0.0.1:${envd.port}/init`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          envVars,
          defaultUser: user.name,
          defaultWorkdir: user.home,
          accessToken,
          timestamp: new Date().toISOString(),
        }),
      });
      if (!init.ok) throw new Error(`envd /init answered ${init.status}`);
      const now = Date.now();
      const s: Sbx = {
        id,
        templateID,
        metadata,
        startedAt: now,
        endAt: now + timeoutMs,
        state: 'running',
        dir,
        user,
        port: envd.port,
        proc: envd.proc,
        accessToken,
      };
      envd.proc.once('exit', () => {
        // envd died on its own: the sandbox is gone, as a crashed VM would be
        if (sandboxes.get(id) === s) void destroy(s, 'envd exited');
      });
      return s;
    } catch (e) {
      if (envd?.proc.pid) {
        try {
          process.kill(envd.proc.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      if (user) await removeSandboxUser(user).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
  }

  function destroy(s: Sbx, reason: string): Promise<void> {
    if (sandboxes.get(s.id) === s) sandboxes.delete(s.id);
    const p = (async () => {
      log('sandbox killed', { sandboxId: s.id, reason });
      try {
        if (s.proc.pid) process.kill(s.proc.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await removeSandboxUser(s.user).catch((e: unknown) =>
        log('removing the sandbox user failed', { sandboxId: s.id, err: (e as Error).message }),
      );
      await fs.rm(s.dir, { recursive: true, force: true }).catch(() => undefined);
    })();
    destroying.add(p);
    void p.finally(() => destroying.delete(p));
    return p;
  }

  const reaper = setInterval(() => {
    const now = Date.now();
    for (const s of [...sandboxes.values()]) {
      if (s.state === 'running' && s.endAt <= now) void destroy(s, 'timeout');
    }
  }, opts.reapIntervalMs ?? 250);
  reaper.unref();

  // ---------------------------------------------------------------------------------------
  // REST API

  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://standin');
    const path = url.pathname.replace(/\/+$/, '');
    const method = req.method ?? 'GET';
    let route: StandinRoute | undefined;
    if (method === 'POST' && path === '/v2/sandboxes') route = 'create';
    else if (method === 'GET' && path === '/v2/sandboxes') route = 'list';
    else if (method === 'POST' && /^\/v2\/sandboxes\/[^/]+\/connect$/.test(path)) route = 'connect';
    else if (method === 'GET' && /^\/sandboxes\/[^/]+$/.test(path)) route = 'get';
    else if (method === 'DELETE' && /^\/sandboxes\/[^/]+$/.test(path)) route = 'kill';
    else if (method === 'POST' && /^\/sandboxes\/[^/]+\/timeout$/.test(path)) route = 'timeout';
    if (!route) throw new HttpError(404, `no route ${method} ${path}`);
    counts[route]++;

    if (req.headers['x-api-key'] !== opts.apiKey) throw new HttpError(401, 'Invalid API key');
    const fault = takeFault(route);
    if (fault) {
      throw new HttpError(
        fault.status,
        `injected fault on ${route}`,
        fault.retryAfterSeconds === undefined ? {} : { 'retry-after': String(fault.retryAfterSeconds) },
      );
    }
    const id = decodeURIComponent(path.split('/')[path.startsWith('/v2/') ? 3 : 2] ?? '');

    switch (route) {
      case 'create': {
        const b = createBody.safeParse(await readJson(req));
        if (!b.success)
          throw new HttpError(400, `invalid body: ${b.error.issues[0]?.path.join('.')} ${b.error.issues[0]?.message}`);
        if (!templates.has(b.data.templateID)) throw new HttpError(404, `template '${b.data.templateID}' not found`);
        const timeoutMs = b.data.timeout == null ? defaultTimeoutMs : b.data.timeout * 1000;
        if (timeoutMs > maxLifetimeMs)
          throw new HttpError(400, `Timeout cannot be greater than ${maxLifetimeMs / 3_600_000} hours`);
        if (opts.maxConcurrent !== undefined && sandboxes.size + creating >= opts.maxConcurrent) {
          throw new HttpError(
            429,
            `you have reached the maximum number of concurrent E2B sandboxes (${opts.maxConcurrent})`,
          );
        }
        if (faults.createsPerSecond !== undefined) {
          const now = Date.now();
          createStamps = createStamps.filter((t) => t > now - 1000);
          if (createStamps.length >= faults.createsPerSecond)
            throw new HttpError(429, 'Rate limit exceeded: too many sandbox creations per second');
          createStamps.push(now);
        }
        creating++;
        let s: Sbx;
        try {
          s = await createSandbox(b.data.templateID, timeoutMs, { ...b.data.metadata }, { ...b.data.envVars });
        } catch (e) {
          log('sandbox creation failed', { err: (e as Error).message });
          throw new HttpError(500, 'Failed to create sandbox');
        } finally {
          creating--;
        }
        if (closed) {
          await destroy(s, 'stand-in closed');
          throw new HttpError(503, 'shutting down');
        }
        sandboxes.set(s.id, s);
        log('sandbox created', { sandboxId: s.id, user: s.user.name, port: s.port });
        if (faults.createResponseDelayMs) await sleep(faults.createResponseDelayMs);
        sendJson(res, 201, created(s));
        return;
      }
      case 'connect': {
        const b = connectBody.safeParse(await readJson(req));
        if (!b.success) throw new HttpError(400, 'invalid body');
        // E2B applies its default lifetime when the client sends none
        const timeoutMs = (b.data.timeout ?? 300) * 1000;
        if (timeoutMs > maxLifetimeMs)
          throw new HttpError(400, `Timeout cannot be greater than ${maxLifetimeMs / 3_600_000} hours`);
        const s = sandboxOr404(id);
        if (s.state === 'paused') {
          // connect resumes a paused sandbox
          try {
            if (s.proc.pid) process.kill(s.proc.pid, 'SIGCONT');
          } catch {
            // gone: the exit handler destroys it
          }
          s.state = 'running';
          s.startedAt = Date.now();
          s.endAt = s.startedAt + timeoutMs;
          sendJson(res, 201, created(s));
          return;
        }
        keepAliveFor(s, timeoutMs, false);
        sendJson(res, 200, created(s));
        return;
      }
      case 'list': {
        const metadataQ = url.searchParams.get('metadata');
        const want: [string, string][] = [];
        if (metadataQ) {
          // the SDK URI-encodes each key and value, then form-encodes the pairs
          for (const [k, v] of new URLSearchParams(metadataQ))
            want.push([decodeURIComponent(k), decodeURIComponent(v)]);
        }
        const states = (url.searchParams.get('state') ?? 'running,paused').split(',').filter(Boolean);
        const limit = Math.min(
          Math.max(Number(url.searchParams.get('limit') ?? opts.defaultPageSize ?? 100) || 100, 1),
          100,
        );
        const after = url.searchParams.get('nextToken');
        const all = [...sandboxes.values()]
          .filter((s) => states.includes(s.state) && want.every(([k, v]) => s.metadata[k] === v))
          .sort((a, b) => a.startedAt - b.startedAt || a.id.localeCompare(b.id));
        let start = 0;
        if (after) {
          const [t, aid] = Buffer.from(after, 'base64url').toString('utf8').split('|');
          start = all.findIndex((s) => s.startedAt > Number(t) || (s.startedAt === Number(t) && s.id > aid));
          if (start < 0) start = all.length;
        }
        const page = all.slice(start, start + limit);
        const headers: Record<string, string> = {};
        if (start + limit < all.length) {
          const last = page[page.length - 1];
          headers['x-next-token'] = Buffer.from(`${last.startedAt}|${last.id}`).toString('base64url');
        }
        sendJson(res, 200, page.map(public_), headers);
        return;
      }
      case 'get': {
        const s = sandboxOr404(id);
        sendJson(res, 200, { ...public_(s), envdAccessToken: s.accessToken, domain: null, alias: undefined });
        return;
      }
      case 'kill': {
        const s = sandboxOr404(id);
        await destroy(s, 'killed through the API');
        sendJson(res, 204, undefined);
        return;
      }
      case 'timeout': {
        const b = timeoutBody.safeParse(await readJson(req));
        if (!b.success) throw new HttpError(400, 'invalid body: timeout must be an integer');
        const s = sandboxOr404(id);
        keepAliveFor(s, Math.max(0, b.data.timeout) * 1000, true);
        sendJson(res, 204, undefined);
        return;
      }
    }
  }

  const api = http.createServer((req, res) => {
    handleApi(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const headers = e instanceof HttpError ? e.headers : {};
      if (!(e instanceof HttpError)) log('API request failed', { err: (e as Error).message });
      sendJson(res, status, { code: status, message: e instanceof HttpError ? e.message : 'internal error' }, headers);
    });
  });

  // ---------------------------------------------------------------------------------------
  // envd proxy

  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  async function handleProxy(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const id = String(req.headers['e2b-sandbox-id'] ?? '');
    const port = String(req.headers['e2b-sandbox-port'] ?? ENVD_PORT);
    const s = sandboxes.get(id);
    if (!s || s.state !== 'running' || port !== String(ENVD_PORT)) {
      req.resume();
      sendJson(res, 502, { code: 502, message: `The sandbox ${id} was not found`, sandboxId: id, port: Number(port) });
      return;
    }
    if (faults.filesLatencyMs && (req.url ?? '').startsWith('/files')) await sleep(faults.filesLatencyMs);
    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers))
      if (!HOP_BY_HOP.has(k) && !k.startsWith('e2b-sandbox-')) headers[k] = v;
    const up = http.request(
      { host: '127.0.0.1', port: s.port, method: req.method, path: req.url, headers, agent },
      (ur) => {
        const out: http.OutgoingHttpHeaders = {};
        for (const [k, v] of Object.entries(ur.headers)) if (!HOP_BY_HOP.has(k)) out[k] = v;
        res.writeHead(ur.statusCode ?? 502, out);
        res.flushHeaders();
        // a sandbox killed mid-response ends the client's stream abruptly, as E2B's proxy does
        pipeline(ur, res, () => undefined);
      },
    );
    up.on('error', () => {
      if (!res.headersSent)
        sendJson(res, 502, { code: 502, message: `The sandbox ${id} was not found`, sandboxId: id });
      else res.destroy();
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    const reset = faults.resetStreams;
    if (reset && reset.count > 0 && (req.url ?? '').startsWith('/process.Process/Start')) {
      reset.count--;
      // the connection drops; envd and the command keep running, as behind a failing load balancer
      setTimeout(() => res.destroy(), reset.afterMs).unref();
    }
    pipeline(req, up, () => undefined);
  }

  const proxy = http.createServer((req, res) => {
    handleProxy(req, res).catch(() => sendJson(res, 502, { code: 502, message: 'proxy error' }));
  });
  // long-running commands stream for as long as they run
  proxy.requestTimeout = 0;
  proxy.headersTimeout = 60_000;

  const apiPort = await listen(api, host, opts.apiPort ?? 0);
  const sandboxPort = await listen(proxy, host, opts.sandboxPort ?? 0);

  return {
    apiUrl: `http://${host}:${apiPort}`,
    sandboxUrl: `http://${host}:${sandboxPort}`,
    envdVersion,
    setFaults(f) {
      faults = {
        ...f,
        apiErrors: f.apiErrors?.map((x) => ({ ...x })),
        ...(f.resetStreams ? { resetStreams: { ...f.resetStreams } } : {}),
      };
    },
    requestCounts() {
      return { ...counts };
    },
    sandboxes() {
      return [...sandboxes.values()].map((s) => ({
        id: s.id,
        state: s.state,
        templateID: s.templateID,
        metadata: { ...s.metadata },
        startedAt: new Date(s.startedAt),
        endAt: new Date(s.endAt),
        user: s.user.name,
        uid: s.user.uid,
        home: s.user.home,
        envdPid: s.proc.pid ?? -1,
        envdPort: s.port,
      }));
    },
    pause(id) {
      const s = sandboxes.get(id);
      if (!s || s.state !== 'running') throw new Error(`sandbox ${id} is not running`);
      if (s.proc.pid) process.kill(s.proc.pid, 'SIGSTOP');
      s.state = 'paused';
    },
    async kill(id) {
      const s = sandboxes.get(id);
      if (!s) return false;
      await destroy(s, 'killed by the stand-in');
      return true;
    },
    async close() {
      closed = true;
      clearInterval(reaper);
      await Promise.all([...sandboxes.values()].map((s) => destroy(s, 'stand-in closed')));
      await Promise.all([...destroying]);
      agent.destroy();
      api.closeAllConnections();
      proxy.closeAllConnections();
      await Promise.all([new Promise((r) => api.close(r)), new Promise((r) => proxy.close(r))]);
      if (ownRoot) await fs.rm(root, { recursive: true, force: true });
    },
  };
}
