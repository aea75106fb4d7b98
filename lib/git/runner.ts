/**
 * Runs git (and the constant scripts of ./scripts.ts) in a workspace inside a sandbox. Every
 * command is argv sent through `sb.run` (the provider shell-quotes it); nothing user-supplied is
 * spliced into shell text. Failures become classified DomainErrors with secrets scrubbed.
 */
import type { CommandResult, RunOptions, Sandbox } from '../sandbox/types.js';
import { DomainError, ErrorType } from '../errors.js';
import { classifyGitError } from './classify.js';
import { credentialEnv, remoteConfig } from './credentials.js';
import type { GitCredentials } from './types.js';
import { validateWorkspacePath } from './validate.js';

/** Environment for every git command: no prompts, no system config, stable output language. */
const GIT_BASE_ENV: Record<string, string> = {
  GIT_TERMINAL_PROMPT: '0',
  GIT_CONFIG_NOSYSTEM: '1',
  LC_ALL: 'C',
};

export interface GitRun {
  sb: Sandbox;
  /** workspace directory relative to the sandbox home ('' = home itself) */
  cwd: string;
  creds?: GitCredentials;
}

/** `remote`: the command talks to the remote (credential helper and protocol limits added). */
export type GitRunOptions = Omit<RunOptions, 'cwd'> & { remote?: boolean };

export async function run(g: GitRun, argv: string[], opts: GitRunOptions = {}): Promise<CommandResult> {
  const cfg = opts.remote ? remoteConfig(g.creds) : [];
  const full = argv[0] === 'git' ? ['git', ...cfg, ...argv.slice(1)] : argv;
  return g.sb.run(full, {
    cwd: g.cwd === '' ? undefined : g.cwd,
    envs: { ...GIT_BASE_ENV, ...(opts.remote ? credentialEnv(g.creds) : {}), ...opts.envs },
    timeoutMs: opts.timeoutMs,
    stdin: opts.stdin,
    maxOutputBytes: opts.maxOutputBytes,
  });
}

/** Runs git and throws the classified DomainError on a non-zero exit. */
export async function runOk(g: GitRun, op: string, argv: string[], opts: GitRunOptions = {}): Promise<CommandResult> {
  const r = await run(g, argv, opts);
  if (r.exitCode !== 0) throw fail(g, op, r);
  return r;
}

export function fail(g: GitRun, op: string, r: CommandResult, files?: string[]): DomainError {
  return classifyGitError({
    exitCode: r.exitCode,
    stderr: r.stderr,
    stdout: r.stdout,
    op,
    files,
    secrets: [g.creds?.token],
  });
}

/**
 * The workspace directory relative to the sandbox home. Accepts a relative path or an absolute
 * one below `sb.home`; rejects anything else.
 */
export function workspaceDir(sb: Sandbox, dir: string): string {
  let rel = dir;
  if (typeof dir === 'string' && dir.startsWith('/')) {
    const home = sb.home.replace(/\/+$/, '');
    if (!(dir === home || dir.startsWith(`${home}/`))) {
      throw new DomainError(ErrorType.Validation, 'dir: must be inside the sandbox home', {
        details: { field: 'dir' },
      });
    }
    rel = dir.slice(home.length).replace(/^\/+/, '');
    if (rel === '')
      throw new DomainError(ErrorType.Validation, 'dir: must be a directory below the sandbox home', {
        details: { field: 'dir' },
      });
  }
  return validateWorkspacePath(rel, 'dir');
}
