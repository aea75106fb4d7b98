/**
 * The `local` sandbox provider: a directory per sandbox under `root`, commands run by a child
 * process with a clean environment. It is the embedded default and the always-on target of the
 * contract suite, so it keeps E2B's observable behaviour: a lifetime (TTL) after which the
 * sandbox is gone, reconnect by id (state lives on disk, so after a restart too), list by
 * metadata, per-command timeouts.
 *
 * Layout: `<root>/<id>/sandbox.json` (metadata, envs, start and end times; mode 0600 because envs
 * may hold credentials) and `<root>/<id>/home` (the sandbox's HOME and the only place commands
 * and file operations may touch through this API).
 *
 * Command timeouts throw DomainError(Timeout) after killing the command's whole process group —
 * the same shape as E2B, whose SDK throws on a command deadline.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, realpathSync, statSync, type Stats } from 'node:fs';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { DomainError, ErrorType } from '../errors.js';
import { assertValidArgv, shellJoin } from './quote.js';
import { validation, validEnvs, validTimeout } from './validate.js';
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  type CommandResult,
  type CreateSandboxOptions,
  type RunOptions,
  type Sandbox,
  type SandboxInfo,
  type SandboxProvider,
} from './types.js';

export interface LocalFaults {
  /** probability (0..1) that an operation fails with a Network error */
  failRate?: number;
  /** added latency per operation */
  latencyMs?: number;
}

export interface LocalProviderOptions {
  root: string;
  /** USD per sandbox-second, exposed for cost accounting (the provider itself does not bill) */
  pricePerSecond?: number;
  /** sandbox lifetime when create() is given none */
  defaultTimeoutMs: number;
  /** per-command timeout when run() is given none (default 120 s) */
  commandTimeoutMs?: number;
  /** output cap per stream when run() is given none (default 16 MiB) */
  maxOutputBytes?: number;
  faults?: LocalFaults;
  /** how often expired sandboxes are reaped (default 1 s) */
  reapIntervalMs?: number;
}

export interface LocalSandboxProvider extends SandboxProvider {
  readonly name: 'local';
  readonly root: string;
  readonly pricePerSecond: number;
  /** replaces the fault-injection settings at runtime (tests, the baseline breaker) */
  setFaults(faults: LocalFaults): void;
  /** stops the reaper timer (sandboxes on disk stay) */
  close(): void;
}

interface Meta {
  id: string;
  metadata: Record<string, string>;
  envs: Record<string, string>;
  startedAt: string;
  endAt: string;
}

const ID_RE = /^lsb-[0-9a-f]{20}$/;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
/**
 * Words the shell itself interprets as a command (special and regular builtins without a binary,
 * keywords). Any other argv is executed directly — the same program with the same arguments the
 * quoted `sh -c` line would run, one process fewer per command.
 */
const SHELL_ONLY = new Set([
  '.',
  ':',
  'alias',
  'bg',
  'break',
  'cd',
  'command',
  'continue',
  'eval',
  'exec',
  'exit',
  'export',
  'fc',
  'fg',
  'getopts',
  'hash',
  'jobs',
  'local',
  'read',
  'readonly',
  'return',
  'set',
  'shift',
  'times',
  'trap',
  'type',
  'ulimit',
  'umask',
  'unalias',
  'unset',
  'wait',
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'case',
  'esac',
  'for',
  'while',
  'until',
  'do',
  'done',
  '!',
  '{',
  '}',
]);

function gone(id: string): DomainError {
  return new DomainError(ErrorType.SandboxGone, `sandbox ${id} no longer exists`, { details: { sandboxId: id } });
}

function isInside(parent: string, child: string): boolean {
  return child === parent || child.startsWith(parent.endsWith(sep) ? parent : parent + sep);
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(value), { mode: 0o600 });
  await fs.rename(tmp, path);
}

export function createLocalProvider(opts: LocalProviderOptions): LocalSandboxProvider {
  const root = resolve(opts.root);
  let faults: LocalFaults = { ...opts.faults };
  const commandTimeoutMs = opts.commandTimeoutMs ?? 120_000;
  const defaultMaxOutput = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  /** process groups of running commands per sandbox, so kill/expiry can stop them */
  const children = new Map<string, Set<number>>();
  let rootReady: Promise<void> | null = null;

  const ensureRoot = (): Promise<void> => (rootReady ??= fs.mkdir(root, { recursive: true }).then(() => undefined));
  const sandboxDir = (id: string): string => join(root, id);
  const metaPath = (id: string): string => join(root, id, 'sandbox.json');
  const homeOf = (id: string): string => join(root, id, 'home');

  async function injectFaults(op: string): Promise<void> {
    const f = faults;
    if (f.latencyMs && f.latencyMs > 0) await new Promise((r) => setTimeout(r, f.latencyMs));
    if (f.failRate && f.failRate > 0 && Math.random() < f.failRate) {
      throw new DomainError(ErrorType.Network, `injected fault: ${op} failed`, { details: { injected: true, op } });
    }
  }

  async function readMeta(id: string): Promise<Meta | null> {
    try {
      return JSON.parse(await fs.readFile(metaPath(id), 'utf8')) as Meta;
    } catch {
      return null;
    }
  }

  /**
   * The last metadata read per sandbox, with the identity of the file it came from. Every write
   * replaces the file (a new inode, see writeJsonAtomic) and a kill removes it, so one stat tells
   * whether the copy is still what is on disk — another process's setTimeout or kill included.
   */
  const metaCache = new Map<string, { meta: Meta; ino: number; mtimeMs: number; size: number }>();

  /**
   * readMeta for the hot path (every run): one stat instead of open + read + close + parse. The
   * stat is synchronous, as are confineCwd's: a metadata syscall on a local disk takes
   * microseconds, less than the thread-pool round trip of its async form (the spawn that follows
   * holds the event loop for a millisecond anyway).
   */
  async function currentMeta(id: string): Promise<Meta | null> {
    const st = statQuiet(metaPath(id));
    if (!st) {
      metaCache.delete(id);
      return null;
    }
    const hit = metaCache.get(id);
    if (hit && hit.ino === st.ino && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.meta;
    const meta = await readMeta(id);
    if (meta) {
      if (metaCache.size >= 10_000) metaCache.clear();
      metaCache.set(id, { meta, ino: st.ino, mtimeMs: st.mtimeMs, size: st.size });
    } else metaCache.delete(id);
    return meta;
  }

  async function destroy(id: string): Promise<void> {
    const pgids = children.get(id);
    if (pgids) {
      for (const pg of pgids) {
        try {
          process.kill(-pg, 'SIGKILL');
        } catch {
          // already exited
        }
      }
      children.delete(id);
    }
    await fs.rm(sandboxDir(id), { recursive: true, force: true });
    metaCache.delete(id);
  }

  /** The sandbox's metadata if it is alive; an expired one is killed on the spot. */
  async function alive(id: string): Promise<Meta> {
    const m = await currentMeta(id);
    if (!m) throw gone(id);
    if (Date.parse(m.endAt) <= Date.now()) {
      await destroy(id);
      throw gone(id);
    }
    return m;
  }

  async function reap(): Promise<void> {
    let ids: string[];
    try {
      ids = await fs.readdir(root);
    } catch {
      return;
    }
    for (const id of ids) {
      if (!ID_RE.test(id)) continue;
      const m = await readMeta(id);
      if (m && Date.parse(m.endAt) <= Date.now()) await destroy(id).catch(() => undefined);
    }
  }

  const reapInterval = opts.reapIntervalMs ?? 1000;
  const timer = setInterval(() => void reap(), reapInterval);
  timer.unref();

  /** realpath(3) (one syscall), or null when it fails (missing, a loop, no access). */
  function realpathQuiet(p: string): string | null {
    try {
      return realpathSync.native(p);
    } catch {
      return null;
    }
  }
  /** stat(2), or null when it fails. */
  function statQuiet(p: string): Stats | null {
    try {
      return statSync(p, { throwIfNoEntry: false }) ?? null;
    } catch {
      return null;
    }
  }

  /** Resolves `p` (relative to home, or absolute inside it) and proves it stays inside home. */
  async function confine(id: string, p: string, field: string): Promise<string> {
    if (typeof p !== 'string' || p.length === 0) throw validation(field, 'must be a non-empty string');
    if (p.includes('\0')) throw validation(field, 'must not contain NUL bytes');
    const home = homeOf(id);
    const target = isAbsolute(p) ? resolve(p) : resolve(home, p);
    if (!isInside(home, target)) throw validation(field, 'must stay inside the sandbox home');
    // symlinks: the deepest existing ancestor (or the target itself) must really be inside home
    const realHome = await fs.realpath(home);
    let probe = target;
    for (;;) {
      try {
        const real = await fs.realpath(probe);
        if (!isInside(realHome, real)) throw validation(field, 'resolves outside the sandbox home');
        break;
      } catch (e) {
        if (e instanceof DomainError) throw e;
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        // a dangling symlink at probe would let a write create a file wherever it points
        const st = await fs.lstat(probe).catch(() => null);
        if (st?.isSymbolicLink()) throw validation(field, 'is a dangling symbolic link');
        const up = dirname(probe);
        if (up === probe) break;
        probe = up;
      }
    }
    return target;
  }

  /**
   * A command's working directory: `confine`d and an existing directory. The usual case (it
   * exists) asks its three questions — the home's real path, the target's, is it a directory —
   * with one syscall each (synchronous, see currentMeta); anything else takes confine's walk up
   * to the deepest existing ancestor.
   */
  async function confineCwd(id: string, p: string): Promise<string> {
    if (typeof p !== 'string' || p.length === 0) throw validation('cwd', 'must be a non-empty string');
    if (p.includes('\0')) throw validation('cwd', 'must not contain NUL bytes');
    const home = homeOf(id);
    const target = isAbsolute(p) ? resolve(p) : resolve(home, p);
    if (!isInside(home, target)) throw validation('cwd', 'must stay inside the sandbox home');
    const realHome = realpathQuiet(home);
    const real = realpathQuiet(target);
    const st = statQuiet(target);
    if (realHome === null || real === null) await confine(id, p, 'cwd');
    else if (!isInside(realHome, real)) throw validation('cwd', 'resolves outside the sandbox home');
    if (!st?.isDirectory()) throw validation('cwd', 'is not an existing directory');
    return target;
  }

  function execute(id: string, meta: Meta, argv: string[], ro: RunOptions, cwd: string): Promise<CommandResult> {
    assertValidArgv(argv);
    // a path-less program name is looked up in PATH exactly as the shell would; anything the
    // shell would treat specially (builtins, keywords, assignments) still goes through it
    const direct = !SHELL_ONLY.has(argv[0]) && !argv[0].includes('=');
    const [file, args] = direct ? [argv[0], argv.slice(1)] : ['/bin/sh', ['-c', shellJoin(argv)]];
    const timeoutMs = ro.timeoutMs === undefined ? commandTimeoutMs : validTimeout(ro.timeoutMs, 'timeoutMs');
    const maxOutput =
      ro.maxOutputBytes === undefined ? defaultMaxOutput : validTimeout(ro.maxOutputBytes, 'maxOutputBytes');
    // a clean environment: nothing of the parent's (credentials, DATABASE_URL…) leaks in
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? DEFAULT_PATH,
      HOME: homeOf(id),
      LANG: 'C.UTF-8',
      ...meta.envs,
      ...validEnvs(ro.envs, 'envs'),
    };
    return new Promise<CommandResult>((res, rej) => {
      // detached: the command gets its own process group, so a timeout kills its children too
      const child = spawn(file, args, { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      // the first stream past the cap: the command is killed and nothing more is kept
      let tooLarge: 'stdout' | 'stderr' | null = null;
      const size = { stdout: 0, stderr: 0 };
      const pgid = child.pid;
      const set = children.get(id) ?? new Set<number>();
      if (pgid !== undefined) {
        set.add(pgid);
        children.set(id, set);
      }
      const timer = setTimeout(() => {
        timedOut = true;
        if (pgid !== undefined) {
          try {
            process.kill(-pgid, 'SIGKILL');
          } catch {
            // exited meanwhile
          }
        }
      }, timeoutMs);
      const collect =
        (stream: 'stdout' | 'stderr', into: Buffer[]) =>
        (b: Buffer): void => {
          if (tooLarge) return;
          size[stream] += b.length;
          if (size[stream] > maxOutput) {
            tooLarge = stream;
            out.length = 0;
            err.length = 0;
            if (pgid !== undefined) {
              try {
                process.kill(-pgid, 'SIGKILL');
              } catch {
                // exited meanwhile
              }
            }
            return;
          }
          into.push(b);
        };
      child.stdout.on('data', collect('stdout', out));
      child.stderr.on('data', collect('stderr', err));
      child.stdin.on('error', () => undefined); // EPIPE when the command does not read stdin
      child.stdin.end(ro.stdin ?? '');
      child.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        if (pgid !== undefined) set.delete(pgid);
        // a missing or non-executable program answers like the shell does: exit 127 / 126
        if (direct && (e.code === 'ENOENT' || e.code === 'EACCES')) {
          const notFound = e.code === 'ENOENT';
          res({
            exitCode: notFound ? 127 : 126,
            stdout: '',
            stderr: `sh: 1: ${argv[0]}: ${notFound ? 'not found' : 'Permission denied'}\n`,
          });
          return;
        }
        rej(new DomainError(ErrorType.Internal, `could not start command: ${e.message}`));
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        if (pgid !== undefined) set.delete(pgid);
        if (tooLarge) {
          rej(
            new DomainError(
              ErrorType.OutputTooLarge,
              `command ${tooLarge} passed ${maxOutput} bytes; the command was killed`,
              {
                details: { stream: tooLarge, limitBytes: maxOutput, sandboxId: id },
              },
            ),
          );
          return;
        }
        if (timedOut) {
          rej(
            new DomainError(ErrorType.Timeout, `command timed out after ${timeoutMs} ms`, {
              details: { timeoutMs, sandboxId: id },
            }),
          );
          return;
        }
        res({
          exitCode: code ?? (signal ? 128 + (signalNumber(signal) ?? 9) : 1),
          stdout: Buffer.concat(out).toString('utf8'),
          stderr: Buffer.concat(err).toString('utf8'),
        });
      });
    });
  }

  function handle(meta: Meta): Sandbox {
    const id = meta.id;
    const sb: Sandbox = {
      id,
      provider: 'local',
      home: homeOf(id),
      metadata: { ...meta.metadata },
      startedAt: new Date(meta.startedAt),
      async run(argv, ro = {}) {
        // the cwd is checked while liveness is: a gone sandbox still answers SandboxGone first
        const cwdChecked = ro.cwd === undefined ? Promise.resolve(homeOf(id)) : confineCwd(id, ro.cwd);
        cwdChecked.catch(() => undefined);
        const m = await alive(id);
        await injectFaults('run');
        return execute(id, m, argv, ro, await cwdChecked);
      },
      async writeFile(path, content) {
        await alive(id);
        await injectFaults('writeFile');
        const target = await confine(id, path, 'path');
        await fs.mkdir(dirname(target), { recursive: true });
        // the directories just created are below a verified real ancestor; re-check the leaf
        await confine(id, path, 'path');
        await fs.writeFile(target, content);
      },
      async readFile(path, ro = {}) {
        await alive(id);
        await injectFaults('readFile');
        const target = await confine(id, path, 'path');
        try {
          return await readBounded(target, ro.maxBytes);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT')
            throw new DomainError(ErrorType.NotFound, 'file not found', { details: { field: 'path' } });
          if (code === 'EISDIR') throw validation('path', 'is a directory');
          throw e;
        }
      },
      async setTimeout(ms) {
        validTimeout(ms, 'timeoutMs');
        // a copy: the cached metadata changes only with the file
        const m = { ...(await alive(id)) };
        m.endAt = new Date(Date.now() + ms).toISOString();
        await writeJsonAtomic(metaPath(id), m);
        return new Date(m.endAt);
      },
      async kill() {
        await destroy(id);
      },
      async isHealthy() {
        try {
          const r = await sb.run(['true'], { timeoutMs: 10_000 });
          return r.exitCode === 0;
        } catch {
          return false;
        }
      },
    };
    return sb;
  }

  async function allAlive(): Promise<Meta[]> {
    await ensureRoot();
    const out: Meta[] = [];
    for (const id of await fs.readdir(root)) {
      if (!ID_RE.test(id)) continue;
      const m = await readMeta(id);
      if (!m) continue;
      if (Date.parse(m.endAt) <= Date.now()) {
        await destroy(id).catch(() => undefined);
        continue;
      }
      out.push(m);
    }
    return out;
  }

  return {
    name: 'local',
    root,
    pricePerSecond: opts.pricePerSecond ?? 0,
    setFaults(f) {
      faults = { ...f };
    },
    close() {
      clearInterval(timer);
    },
    async create(co: CreateSandboxOptions = {}) {
      await injectFaults('create');
      const timeoutMs = co.timeoutMs === undefined ? opts.defaultTimeoutMs : validTimeout(co.timeoutMs, 'timeoutMs');
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(co.metadata ?? {})) {
        if (typeof v !== 'string') throw validation('metadata', `${k} must be a string`);
        metadata[k] = v;
      }
      await ensureRoot();
      const id = `lsb-${randomBytes(10).toString('hex')}`;
      const now = Date.now();
      const meta: Meta = {
        id,
        metadata,
        envs: validEnvs(co.envs, 'envs'),
        startedAt: new Date(now).toISOString(),
        endAt: new Date(now + timeoutMs).toISOString(),
      };
      await fs.mkdir(homeOf(id), { recursive: true, mode: 0o700 });
      await writeJsonAtomic(metaPath(id), meta);
      return handle(meta);
    },
    async connect(id) {
      if (typeof id !== 'string' || !ID_RE.test(id)) throw gone(String(id).slice(0, 64));
      await injectFaults('connect');
      return handle(await alive(id));
    },
    async list(filter = {}) {
      const want = Object.entries(filter.metadata ?? {});
      return (await allAlive())
        .filter((m) => want.every(([k, v]) => m.metadata[k] === v))
        .map((m): SandboxInfo => ({
          id: m.id,
          metadata: { ...m.metadata },
          startedAt: new Date(m.startedAt),
          endAt: new Date(m.endAt),
        }));
    },
    async running() {
      return (await allAlive()).length;
    },
    async info(id) {
      if (typeof id !== 'string' || !ID_RE.test(id)) throw gone(String(id).slice(0, 64));
      const m = await alive(id);
      return { id: m.id, metadata: { ...m.metadata }, startedAt: new Date(m.startedAt), endAt: new Date(m.endAt) };
    },
    async kill(id) {
      if (typeof id !== 'string' || !ID_RE.test(id)) return false;
      const existed = (await readMeta(id)) !== null;
      await destroy(id);
      return existed;
    },
    costPerSecond() {
      return opts.pricePerSecond ?? 0;
    },
  };
}

/**
 * Reads a file as UTF-8; with `maxBytes`, at most that many bytes are ever read (a file that
 * grew past the cap after a size check is refused, not loaded).
 */
async function readBounded(path: string, maxBytes: number | undefined): Promise<string> {
  if (maxBytes === undefined) return fs.readFile(path, 'utf8');
  const fh = await fs.open(path, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(64 * 1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) {
        throw new DomainError(
          ErrorType.OutputTooLarge,
          `path: the file has more than the ${maxBytes} bytes a read may return`,
          {
            details: { field: 'path', limitBytes: maxBytes },
          },
        );
      }
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await fh.close();
  }
}

function signalNumber(signal: NodeJS.Signals): number | undefined {
  const table: Partial<Record<NodeJS.Signals, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGKILL: 9,
    SIGPIPE: 13,
    SIGTERM: 15,
  };
  return table[signal];
}
