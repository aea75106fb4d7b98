/**
 * The `e2b` sandbox provider on `@e2b/code-interpreter`. Commands are argv shell-quoted into the
 * string `commands.run` expects; a non-zero exit (which the SDK throws as CommandExitError) is
 * returned as a CommandResult like the local provider's; every other SDK error is translated by
 * classifyE2bError. The API key is passed per call, never logged or put into an error.
 */
import { posix } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Sandbox as E2bSandbox, CommandExitError } from '@e2b/code-interpreter';
import { DomainError, ErrorType } from '../errors.js';
import { classifyE2bError } from './errors.js';
import { assertValidArgv, shellJoin, shellQuote } from './quote.js';
import type { CommandResult, CreateSandboxOptions, RunOptions, Sandbox, SandboxInfo, SandboxProvider } from './types.js';

export const E2B_HOME = '/home/user';

export interface E2bProviderOptions {
  apiKey: string;
  template: string;
  /** sandbox lifetime when create() is given none */
  defaultTimeoutMs: number;
  /** per-command timeout when run() is given none (default 120 s; the SDK's own default is 60 s) */
  commandTimeoutMs?: number;
  domain?: string;
  /** per-request timeout of E2B API calls */
  requestTimeoutMs?: number;
}

function validation(field: string, message: string): DomainError {
  return new DomainError(ErrorType.Validation, `${field}: ${message}`, { details: { field } });
}

/** Lexical confinement to the home directory (E2B paths are POSIX inside the sandbox VM). */
function inHome(p: string, field: string): string {
  if (typeof p !== 'string' || p.length === 0) throw validation(field, 'must be a non-empty string');
  if (p.includes('\0')) throw validation(field, 'must not contain NUL bytes');
  const abs = posix.resolve(E2B_HOME, p);
  if (abs !== E2B_HOME && !abs.startsWith(`${E2B_HOME}/`)) throw validation(field, 'must stay inside the sandbox home');
  return abs;
}

/** Exits 3 when $1 (symlinks followed) leaves the home directory. */
const CONFINE_HOME = `t=$(realpath -m -- "$1") || exit 5; case "$t" in ${E2B_HOME}|${E2B_HOME}/*) exit 0;; *) exit 3;; esac`;

export function createE2bProvider(opts: E2bProviderOptions): SandboxProvider {
  if (!opts.apiKey) throw validation('sandbox.e2bApiKey', 'an E2B API key is required (set E2B_API_KEY)');
  const conn = { apiKey: opts.apiKey, ...(opts.domain ? { domain: opts.domain } : {}), ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}) };
  const commandTimeoutMs = opts.commandTimeoutMs ?? 120_000;
  const classify = (e: unknown): DomainError => classifyE2bError(e, [opts.apiKey]);
  const wrap = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw classify(e);
    }
  };

  function handle(sbx: E2bSandbox, metadata: Record<string, string>, startedAt: Date): Sandbox {
    async function rawRun(cmd: string, ro: RunOptions, cwd: string): Promise<CommandResult> {
      try {
        const r = await sbx.commands.run(cmd, { cwd, envs: ro.envs ?? {}, timeoutMs: ro.timeoutMs ?? commandTimeoutMs });
        return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
      } catch (e) {
        if (e instanceof CommandExitError) return { exitCode: e.exitCode, stdout: e.stdout, stderr: e.stderr };
        throw classify(e);
      }
    }

    async function confine(p: string, field: string): Promise<string> {
      const abs = inHome(p, field);
      const r = await rawRun(`sh -c ${shellQuote(CONFINE_HOME)} sh ${shellQuote(abs)}`, {}, E2B_HOME);
      if (r.exitCode === 3) throw validation(field, 'resolves outside the sandbox home');
      if (r.exitCode !== 0) throw new DomainError(ErrorType.Internal, `could not resolve ${field} (exit ${r.exitCode})`, { details: { field } });
      return abs;
    }

    const sb: Sandbox = {
      id: sbx.sandboxId,
      provider: 'e2b',
      home: E2B_HOME,
      metadata: { ...metadata },
      startedAt,
      async run(argv, ro = {}) {
        assertValidArgv(argv);
        const cwd = ro.cwd === undefined ? E2B_HOME : inHome(ro.cwd, 'cwd');
        let cmd = shellJoin(argv);
        let stdinPath: string | undefined;
        if (ro.stdin !== undefined) {
          // commands.run has no one-shot stdin: stage it in a private file and redirect
          stdinPath = `/tmp/sgc-stdin-${randomBytes(8).toString('hex')}`;
          await wrap(() => sbx.files.write(stdinPath as string, ro.stdin as string));
          cmd = `${cmd} < ${shellQuote(stdinPath)}; rc=$?; rm -f ${shellQuote(stdinPath)}; exit $rc`;
        }
        return rawRun(cmd, ro, cwd);
      },
      async writeFile(path, content) {
        const abs = await confine(path, 'path');
        await wrap(() => sbx.files.write(abs, content));
      },
      async readFile(path) {
        const abs = await confine(path, 'path');
        return wrap(() => sbx.files.read(abs));
      },
      async setTimeout(ms) {
        await wrap(() => sbx.setTimeout(ms));
      },
      async kill() {
        try {
          await sbx.kill();
        } catch (e) {
          const d = classify(e);
          if (d.type !== ErrorType.SandboxGone) throw d; // already gone is what kill wants
        }
      },
      async isHealthy() {
        try {
          return (await sb.run(['true'], { timeoutMs: 10_000 })).exitCode === 0;
        } catch {
          return false;
        }
      },
    };
    return sb;
  }

  async function listAll(query: { metadata?: Record<string, string>; state?: ('running' | 'paused')[] }): Promise<SandboxInfo[]> {
    return wrap(async () => {
      const pager = E2bSandbox.list({ ...conn, query });
      const out: SandboxInfo[] = [];
      while (pager.hasNext) {
        for (const s of await pager.nextItems()) {
          out.push({ id: s.sandboxId, metadata: { ...s.metadata }, startedAt: new Date(s.startedAt), endAt: new Date(s.endAt) });
        }
      }
      return out;
    });
  }

  return {
    name: 'e2b',
    async create(co: CreateSandboxOptions = {}) {
      const timeoutMs = co.timeoutMs ?? opts.defaultTimeoutMs;
      const metadata = { ...co.metadata };
      const sbx = await wrap(() => E2bSandbox.create(opts.template, { ...conn, timeoutMs, envs: co.envs ?? {}, metadata }));
      return handle(sbx, metadata, new Date());
    },
    async connect(id) {
      if (typeof id !== 'string' || !/^[A-Za-z0-9_-]{1,128}$/.test(id)) {
        throw new DomainError(ErrorType.SandboxGone, 'sandbox id is not valid', { details: { sandboxId: String(id).slice(0, 64) } });
      }
      const sbx = await wrap(() => E2bSandbox.connect(id, conn));
      const info = await wrap(() => sbx.getInfo());
      return handle(sbx, info.metadata ?? {}, new Date(info.startedAt));
    },
    async list(filter = {}) {
      return listAll({ ...(filter.metadata ? { metadata: filter.metadata } : {}), state: ['running'] });
    },
    async running() {
      return (await listAll({ state: ['running'] })).length;
    },
  };
}
