/**
 * The `e2b` sandbox provider on the `e2b` SDK (through `@e2b/code-interpreter`). It keeps the
 * local provider's observable behaviour (the shared contract suite runs against both, and against
 * E2B's own daemon through the stand-in in lib/sandbox/e2b-standin):
 *
 * - Commands: the SDK always runs `bash -l -c <string>`. The string is a fixed script that gets
 *   every value shell-quoted; `POSIXLY_CORRECT` in the command's environment makes bash skip the
 *   login profiles (bash reads no startup files in POSIX mode when not interactive), the script
 *   unsets it again, enters `cwd` and proves (symlinks followed) that it is inside the home, then
 *   execs `timeout -s KILL <deadline> /bin/sh -c <argv>`. GNU timeout puts the command in its own
 *   process group and kills the whole group at the deadline — envd's own deadline kills only its
 *   direct child, so background children (`sleep 30 &`, git's index-pack) would survive it.
 *   envd's and the SDK's deadline stay as a backstop a few seconds later.
 * - stdin goes through envd's stdin stream (`stdin: true`, then closeStdin): nothing is staged in
 *   a file.
 * - A non-zero exit is a result; a signal death is 128+n, as locally; our own kill() during a
 *   command makes it return (137), not throw.
 * - Sandbox-wide: LANG=C.UTF-8 unless the caller sets LANG; the home is made 0700 at create.
 * - Lifetimes: create/setTimeout pass a positive timeout (≤ 0 means "none" to E2B and is
 *   rejected); setTimeout reads the end back, since the plan caps it at start + maximum.
 *   connect() asks for the shortest keep-alive (E2B's connect otherwise extends any sandbox with
 *   under 300 s left to 300 s) and never resumes a paused sandbox; kill by id does not connect.
 * - Every sandbox carries the `sgcOwner` label and list() filters by it, so one E2B account can
 *   serve several deployments and the pool's orphan sweep only sees its own.
 * - Settings come from the options only: E2B_DEBUG, E2B_API_URL and E2B_DOMAIN in the host
 *   environment are ignored (the SDK would otherwise read them), E2B_SANDBOX_URL is overridden.
 * - Creation retries 429/503 with exponential backoff and jitter (the SDK retries a 429 itself only
 *   when E2B sends Retry-After).
 * - Output is counted per stream as it streams in; past `maxOutputBytes` the command's process
 *   group is killed and run() throws OutputTooLarge, so what the SDK buffers stays near the cap
 *   (plus what arrives before the kill lands) whatever the command would print.
 *
 * The API key is passed per call, never logged or put into an error.
 */
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Sandbox as E2bSandbox, CommandExitError, type CommandHandle } from '@e2b/code-interpreter';
import { DomainError, ErrorType } from '../errors.js';
import { classifyE2bError, type E2bOperation } from './errors.js';
import { assertValidArgv, shellJoin, shellQuote } from './quote.js';
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  type CommandResult,
  type CreateSandboxOptions,
  type RunOptions,
  type Sandbox,
  type SandboxInfo,
  type SandboxProvider,
  type SandboxSize,
} from './types.js';
import { validation, validEnvs, validTimeout } from './validate.js';

/** Home of the user of E2B's standard templates (each handle reads its real home from the sandbox). */
export const E2B_HOME = '/home/user';
/** Metadata key holding the owner label (list() and the orphan sweep filter by it). */
export const OWNER_METADATA_KEY = 'sgcOwner';
/** E2B's published prices (USD): per vCPU-second and per GiB-second of memory. */
export const E2B_PRICING = { vcpuSecond: 0.000014, gibSecond: 0.0000045 } as const;

/** Domains whose sandboxes E2B serves through one proxy host (the SDK's own list). */
const E2B_SANDBOX_PROXY_DOMAINS = ['e2b.app', 'e2b.dev', 'e2b.pro', 'e2b-staging.dev'];
/** envd and the SDK give up this long after the in-sandbox deadline: a backstop only. */
const DEADLINE_GRACE_MS = 5_000;
/** Exit status of the command script when cwd is missing or escapes the home (with a nonce on stderr). */
const CWD_REJECTED_EXIT = 97;
const STDIN_CHUNK = 64 * 1024;

export interface E2bProviderOptions {
  apiKey: string;
  template: string;
  /** sandbox lifetime when create() is given none */
  defaultTimeoutMs: number;
  /** per-command timeout when run() is given none (default 120 s) */
  commandTimeoutMs?: number;
  /** output cap per stream when run() is given none (default 16 MiB) */
  maxOutputBytes?: number;
  /** E2B's domain (default e2b.app) */
  domain?: string;
  /** the API's base URL (default https://api.<domain>): for testing and self-hosted E2B */
  apiUrl?: string;
  /** where envd traffic goes (default E2B's sandbox proxy): for testing and self-hosted E2B */
  sandboxUrl?: string;
  /** timeout of one API request and of a command's start (default 30 s) */
  requestTimeoutMs?: number;
  /** timeout of one whole file read or write (default 10 min; the SDK's default would be 60 s) */
  transferTimeoutMs?: number;
  /** the plan's maximum sandbox lifetime from its start (Hobby 1 h, Pro 24 h) */
  maxLifetimeMs?: number;
  /** label put on every sandbox as `sgcOwner` and required by list() (default 'sgc') */
  owner?: string;
  /** USD prices per vCPU-second and GiB-second (default E2B's published ones) */
  pricing?: { vcpuSecond: number; gibSecond: number };
  /** size of the template's sandboxes, for costPerSecond() without a size (default 2 vCPU, 512 MiB) */
  defaultSize?: { cpuCount: number; memoryMB: number };
  /** retries of a create answered 429/503 (default 6, from 500 ms doubling to 10 s, with jitter) */
  createRetry?: { attempts: number; baseMs: number; maxMs: number };
  /** environment to check for E2B_SANDBOX_URL (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** called for every 429 from E2B's API, retried or not (counted as gitops_provider_rate_limited_total) */
  onRateLimited?: () => void;
}

export interface E2bSandboxProvider extends SandboxProvider {
  readonly name: 'e2b';
  readonly owner: string;
}

/** Lexical confinement to `home` (E2B paths are POSIX inside the sandbox). */
function inHome(home: string, p: string, field: string): string {
  if (typeof p !== 'string' || p.length === 0) throw validation(field, 'must be a non-empty string');
  if (p.includes('\0')) throw validation(field, 'must not contain NUL bytes');
  const abs = posix.resolve(home, p);
  if (abs !== home && !abs.startsWith(`${home}/`)) throw validation(field, 'must stay inside the sandbox home');
  return abs;
}

/** Exits 3 when $2 (symlinks followed) leaves the home $1. */
const CONFINE_SCRIPT = 't=$(realpath -m -- "$2") || exit 5; case "$t" in "$1"|"$1"/*) exit 0;; *) exit 3;; esac';

/** Go's os.ProcessState strings (envd reports "signal: killed") → signal numbers. */
const SIGNALS: Record<string, number> = {
  hangup: 1,
  interrupt: 2,
  quit: 3,
  'illegal instruction': 4,
  'trace/breakpoint trap': 5,
  aborted: 6,
  'bus error': 7,
  'floating point exception': 8,
  killed: 9,
  'user defined signal 1': 10,
  'segmentation fault': 11,
  'user defined signal 2': 12,
  'broken pipe': 13,
  'alarm clock': 14,
  terminated: 15,
};

function signalOf(error: string | undefined): number | undefined {
  const m = /^signal: ([a-z0-9 /]+?)(?: \(core dumped\))?$/.exec(error ?? '');
  return m ? SIGNALS[m[1]] : undefined;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3).replace(/\.?0+$/, '');
}

export function createE2bProvider(opts: E2bProviderOptions): E2bSandboxProvider {
  if (!opts.apiKey) throw validation('sandbox.e2bApiKey', 'an E2B API key is required (set E2B_API_KEY)');
  const env = opts.env ?? process.env;
  const domain = opts.domain ?? 'e2b.app';
  let sandboxUrl = opts.sandboxUrl;
  if (!sandboxUrl && env.E2B_SANDBOX_URL) {
    // the SDK would send every sandbox's traffic to the host's E2B_SANDBOX_URL: pin the default
    if (!E2B_SANDBOX_PROXY_DOMAINS.includes(domain)) {
      throw validation(
        'sandbox.e2b.sandboxUrl',
        'E2B_SANDBOX_URL is set in the environment; set sandbox.e2b.sandboxUrl explicitly or unset it',
      );
    }
    sandboxUrl = `https://sandbox.${domain}`;
  }
  const conn = {
    apiKey: opts.apiKey,
    domain,
    apiUrl: opts.apiUrl ?? `https://api.${domain}`,
    ...(sandboxUrl ? { sandboxUrl } : {}),
    // explicit, so a host's E2B_DEBUG=true cannot point the SDK at localhost
    debug: false,
    requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
  };
  const commandTimeoutMs = validTimeout(opts.commandTimeoutMs ?? 120_000, 'sandbox.commandTimeoutMs');
  const maxOutputBytes = validTimeout(opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES, 'limits.commandOutputMaxBytes');
  const defaultTimeoutMs = validTimeout(opts.defaultTimeoutMs, 'sandbox.timeoutMs');
  const transferTimeoutMs = opts.transferTimeoutMs ?? 600_000;
  const owner = opts.owner ?? 'sgc';
  const pricing = opts.pricing ?? E2B_PRICING;
  const defaultSize = opts.defaultSize ?? { cpuCount: 2, memoryMB: 512 };
  const retry = opts.createRetry ?? { attempts: 6, baseMs: 500, maxMs: 10_000 };
  const classify = (e: unknown, op: E2bOperation): DomainError => classifyE2bError(e, [opts.apiKey], op);
  const wrap = async <T>(op: E2bOperation, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw classify(e, op);
    }
  };

  async function probe(sbx: E2bSandbox, script: string): Promise<string> {
    try {
      const r = await sbx.commands.run(`unset POSIXLY_CORRECT\n${script}`, {
        envs: { POSIXLY_CORRECT: '1' },
        timeoutMs: 30_000,
      });
      return r.stdout.trim();
    } catch (e) {
      if (e instanceof CommandExitError) {
        throw new DomainError(
          ErrorType.Internal,
          `e2b: sandbox setup failed (exit ${e.exitCode}: ${e.stderr.trim().slice(0, 200)}): the template needs bash, coreutils (timeout, realpath) and a writable home`,
          {
            details: { source: 'e2b', exitCode: e.exitCode },
          },
        );
      }
      throw classify(e, 'command');
    }
  }

  function handle(sbx: E2bSandbox, home: string, metadata: Record<string, string>, startedAt: Date): Sandbox {
    const id = sbx.sandboxId;
    let killing = false;

    /** Best effort: kill a command's process group after its stream broke or its deadline hit. */
    async function killGroup(pid: number | undefined): Promise<void> {
      if (!pid || killing) return;
      await sbx.commands
        .run(`unset POSIXLY_CORRECT; kill -KILL -- -${pid} 2>/dev/null; true`, {
          envs: { POSIXLY_CORRECT: '1' },
          timeoutMs: 10_000,
        })
        .catch(() => undefined);
    }

    async function run(argv: string[], ro: RunOptions = {}): Promise<CommandResult> {
      assertValidArgv(argv);
      const timeoutMs = ro.timeoutMs === undefined ? commandTimeoutMs : validTimeout(ro.timeoutMs, 'timeoutMs');
      const envs = validEnvs(ro.envs, 'envs');
      const cwd = ro.cwd === undefined ? home : inHome(home, ro.cwd, 'cwd');
      if (ro.stdin !== undefined && typeof ro.stdin !== 'string') throw validation('stdin', 'must be a string');
      const nonce = randomBytes(12).toString('hex');
      const h = shellQuote(home);
      const script = [
        'unset POSIXLY_CORRECT',
        `cd -P -- ${shellQuote(cwd)} 2>/dev/null || { printf %s ${shellQuote(`${nonce}:nodir`)} >&2; exit ${CWD_REJECTED_EXIT}; }`,
        `case "$(pwd -P)" in ${h}|${h}/*) ;; *) printf %s ${shellQuote(`${nonce}:escape`)} >&2; exit ${CWD_REJECTED_EXIT};; esac`,
        `exec timeout -s KILL ${seconds(timeoutMs)} /bin/sh -c ${shellQuote(shellJoin(argv))}`,
      ].join('\n');
      const maxOut =
        ro.maxOutputBytes === undefined ? maxOutputBytes : validTimeout(ro.maxOutputBytes, 'maxOutputBytes');
      const t0 = performance.now();
      let cmd: CommandHandle | undefined;
      let result: { exitCode: number; error?: string; stdout: string; stderr: string };
      // the first stream past the cap: the command's group is killed and run() throws
      let over: 'stdout' | 'stderr' | null = null;
      const size = { stdout: 0, stderr: 0 };
      const count =
        (stream: 'stdout' | 'stderr') =>
        (data: string): void => {
          if (over) return;
          size[stream] += Buffer.byteLength(data, 'utf8');
          if (size[stream] > maxOut) {
            over = stream;
            if (cmd) void killGroup(cmd.pid);
          }
        };
      const tooLarge = (stream: string): DomainError =>
        new DomainError(ErrorType.OutputTooLarge, `command ${stream} passed ${maxOut} bytes; the command was killed`, {
          details: { stream, limitBytes: maxOut, sandboxId: id },
        });
      try {
        cmd = await sbx.commands.run(script, {
          background: true,
          stdin: ro.stdin !== undefined,
          // bash reads no login profile in POSIX mode; the script unsets it before the command
          envs: { ...envs, POSIXLY_CORRECT: '1' },
          timeoutMs: timeoutMs + DEADLINE_GRACE_MS,
          onStdout: count('stdout'),
          onStderr: count('stderr'),
        });
        // passed the cap before the handle was back
        if (over) void killGroup(cmd.pid);
        if (ro.stdin !== undefined) {
          const bytes = Buffer.from(ro.stdin, 'utf8');
          try {
            for (let off = 0; off < bytes.length; off += STDIN_CHUNK)
              await cmd.sendStdin(bytes.subarray(off, off + STDIN_CHUNK));
            await cmd.closeStdin();
          } catch {
            // the command may have exited without reading its input; wait() tells how it ended
          }
        }
        const r = await cmd.wait();
        if (over) throw tooLarge(over);
        result = { exitCode: r.exitCode, error: r.error, stdout: r.stdout, stderr: r.stderr };
      } catch (e) {
        if (over) throw tooLarge(over);
        if (e instanceof CommandExitError) {
          result = { exitCode: e.exitCode, error: e.error, stdout: e.stdout, stderr: e.stderr };
        } else if (killing) {
          // our own kill() ended the sandbox under the command: it was killed, like locally
          return { exitCode: 128 + 9, stdout: cmd?.stdout ?? '', stderr: cmd?.stderr ?? '' };
        } else {
          const d = classify(e, 'command');
          if (d.type === ErrorType.Timeout || d.details.inFlight) await killGroup(cmd?.pid);
          throw d;
        }
      }
      if (result.exitCode === CWD_REJECTED_EXIT && result.stderr.startsWith(`${nonce}:`)) {
        throw validation(
          'cwd',
          result.stderr === `${nonce}:escape` ? 'resolves outside the sandbox home' : 'is not an existing directory',
        );
      }
      const sig = result.exitCode < 0 || result.error ? signalOf(result.error) : undefined;
      if (sig !== undefined) {
        if (sig === 9 && performance.now() - t0 >= timeoutMs) {
          throw new DomainError(ErrorType.Timeout, `command timed out after ${timeoutMs} ms`, {
            details: { timeoutMs, sandboxId: id, kind: 'command' },
          });
        }
        return { exitCode: 128 + sig, stdout: result.stdout, stderr: result.stderr };
      }
      if (killing) return { exitCode: 128 + 9, stdout: result.stdout, stderr: result.stderr };
      return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
    }

    async function confine(p: string, field: string): Promise<string> {
      const abs = inHome(home, p, field);
      const r = await run(['sh', '-c', CONFINE_SCRIPT, 'sh', home, abs], { timeoutMs: 30_000 });
      if (r.exitCode === 3) throw validation(field, 'resolves outside the sandbox home');
      if (r.exitCode !== 0)
        throw new DomainError(ErrorType.Internal, `could not resolve ${field} (exit ${r.exitCode})`, {
          details: { field },
        });
      return abs;
    }

    const sb: Sandbox = {
      id,
      provider: 'e2b',
      home,
      metadata: { ...metadata },
      startedAt,
      run,
      async writeFile(path, content) {
        const abs = await confine(path, 'path');
        await wrap('file', () => sbx.files.write(abs, content, { requestTimeoutMs: transferTimeoutMs }));
      },
      async readFile(path, ro = {}) {
        const abs = await confine(path, 'path');
        if (ro.maxBytes !== undefined) {
          const st = await run(['stat', '-c', '%s', '--', abs], { timeoutMs: 30_000 });
          const bytes = Number.parseInt(st.stdout.trim(), 10);
          if (st.exitCode === 0 && bytes > ro.maxBytes) {
            throw new DomainError(
              ErrorType.OutputTooLarge,
              `path: the file has ${bytes} bytes, more than the ${ro.maxBytes} a read may return`,
              {
                details: { field: 'path', bytes, limitBytes: ro.maxBytes },
              },
            );
          }
        }
        return wrap('file', () => sbx.files.read(abs, { requestTimeoutMs: transferTimeoutMs }));
      },
      async setTimeout(ms) {
        validTimeout(ms, 'timeoutMs');
        await wrap('timeout', () => E2bSandbox.setTimeout(id, ms, conn));
        // the plan caps the end at start + its maximum: report what E2B actually set
        const info = await wrap('info', () => E2bSandbox.getInfo(id, conn));
        return info.endAt;
      },
      async kill() {
        killing = true;
        // by id, without connecting: nothing is resumed or extended first; already gone is fine
        await wrap('kill', () => E2bSandbox.kill(id, conn));
      },
      async isHealthy() {
        if (killing) return false;
        try {
          return (await run(['true'], { timeoutMs: 10_000 })).exitCode === 0;
        } catch {
          return false;
        }
      },
    };
    return sb;
  }

  function toInfo(s: {
    sandboxId: string;
    metadata?: Record<string, string>;
    startedAt: Date;
    endAt: Date;
    cpuCount?: number;
    memoryMB?: number;
  }): SandboxInfo {
    return {
      id: s.sandboxId,
      metadata: { ...s.metadata },
      startedAt: new Date(s.startedAt),
      endAt: new Date(s.endAt),
      ...(typeof s.cpuCount === 'number' ? { cpuCount: s.cpuCount } : {}),
      ...(typeof s.memoryMB === 'number' ? { memoryMB: s.memoryMB } : {}),
    };
  }

  async function listAll(metadata: Record<string, string>): Promise<SandboxInfo[]> {
    return wrap('list', async () => {
      const pager = E2bSandbox.list({
        ...conn,
        query: { metadata: { ...metadata, [OWNER_METADATA_KEY]: owner }, state: ['running'] },
      });
      const out: SandboxInfo[] = [];
      while (pager.hasNext) for (const s of await pager.nextItems()) out.push(toInfo(s));
      return out;
    });
  }

  function validId(id: unknown): string {
    if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
      throw new DomainError(ErrorType.SandboxGone, 'sandbox id is not valid', {
        details: { sandboxId: String(id).slice(0, 64) },
      });
    }
    return id;
  }

  return {
    name: 'e2b',
    owner,
    maxLifetimeMs: opts.maxLifetimeMs,
    async create(co: CreateSandboxOptions = {}) {
      const timeoutMs = co.timeoutMs === undefined ? defaultTimeoutMs : validTimeout(co.timeoutMs, 'timeoutMs');
      const metadata: Record<string, string> = {};
      for (const [k, v] of Object.entries(co.metadata ?? {})) {
        if (typeof v !== 'string') throw validation('metadata', `${k} must be a string`);
        metadata[k] = v;
      }
      metadata[OWNER_METADATA_KEY] = owner;
      const envs = { LANG: 'C.UTF-8', ...validEnvs(co.envs, 'envs') };
      let sbx: E2bSandbox | undefined;
      for (let attempt = 1; !sbx; attempt++) {
        try {
          sbx = await E2bSandbox.create(opts.template, { ...conn, timeoutMs, envs, metadata });
        } catch (e) {
          const d = classify(e, 'create');
          if (d.type === ErrorType.RateLimit) opts.onRateLimited?.();
          // 429/503: nothing was created; back off (pre-warming creates in parallel)
          if ((d.type !== ErrorType.RateLimit && d.type !== ErrorType.Unavailable) || attempt >= retry.attempts)
            throw d;
          const wait = Math.min(retry.maxMs, retry.baseMs * 2 ** (attempt - 1));
          await sleep(wait / 2 + Math.random() * (wait / 2));
        }
      }
      try {
        const home = await probe(
          sbx,
          'chmod 700 -- "$HOME" && cd -P -- "$HOME" && command -v timeout >/dev/null && command -v realpath >/dev/null && pwd -P',
        );
        return handle(sbx, home, metadata, new Date());
      } catch (e) {
        await E2bSandbox.kill(sbx.sandboxId, conn).catch(() => undefined);
        throw e;
      }
    },
    async connect(id) {
      validId(id);
      const info = await wrap('connect', () => E2bSandbox.getInfo(id, conn));
      if (info.state !== 'running') {
        // connecting would resume it: a paused sandbox is not ours to wake
        throw new DomainError(ErrorType.SandboxGone, `sandbox ${id} is ${info.state}, not running`, {
          details: { sandboxId: id, state: info.state },
        });
      }
      // the shortest keep-alive E2B accepts: without one, connect extends the sandbox to 300 s
      const sbx = await wrap('connect', () => E2bSandbox.connect(id, { ...conn, timeoutMs: 1_000 }));
      const home = await probe(sbx, 'cd -P -- "$HOME" && pwd -P');
      return handle(sbx, home, info.metadata ?? {}, new Date(info.startedAt));
    },
    async list(filter = {}) {
      return listAll(filter.metadata ?? {});
    },
    async running() {
      return (await listAll({})).length;
    },
    async info(id) {
      validId(id);
      return wrap('info', async () => toInfo(await E2bSandbox.getInfo(id, conn)));
    },
    async kill(id) {
      if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) return false;
      return wrap('kill', () => E2bSandbox.kill(id, conn));
    },
    costPerSecond(size?: SandboxSize) {
      const cpu = size?.cpuCount ?? defaultSize.cpuCount;
      const mem = size?.memoryMB ?? defaultSize.memoryMB;
      return cpu * pricing.vcpuSecond + (mem / 1024) * pricing.gibSecond;
    },
  };
}
