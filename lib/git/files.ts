/** Reads and edits of a workspace: status, diff, confined file reads and writes. */
import type { Sandbox } from '../sandbox/types.js';
import { DomainError, ErrorType } from '../errors.js';
import { parsePorcelainV2 } from './porcelain.js';
import { runOk, workspaceDir, type GitRun } from './runner.js';
import { SCRIPTS } from './scripts.js';
import type { GitStatus } from './types.js';
import { validateWorkspacePath } from './validate.js';

/** `git status --porcelain=v2 --branch -z --untracked-files=all`, parsed. */
export async function gitStatus(sb: Sandbox, dir: string): Promise<GitStatus> {
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir) };
  const r = await runOk(g, 'status', ['git', 'status', '--porcelain=v2', '--branch', '-z', '--untracked-files=all']);
  return parsePorcelainV2(r.stdout);
}

/**
 * Diff of the working tree against HEAD, untracked files included (shown as new files), or of
 * the index against HEAD with `staged`. Untracked files are marked intent-to-add in a throw-away
 * copy of the index (GIT_INDEX_FILE), so calling diff never changes what status reports.
 */
export async function gitDiff(sb: Sandbox, dir: string, o: { staged?: boolean; path?: string } = {}): Promise<string> {
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir) };
  const paths = o.path === undefined ? [] : [validateWorkspacePath(o.path)];
  if (o.staged) {
    return (await runOk(g, 'diff', ['git', 'diff', '--no-color', '--no-ext-diff', '--cached', '--', ...paths])).stdout;
  }
  return (await runOk(g, 'diff', ['sh', '-c', SCRIPTS.diff, 'sh', ...paths])).stdout;
}

/**
 * Checks inside the sandbox that `<dir>/<path>` resolves (symlinks followed) inside the
 * workspace and outside its .git: a checked-out symlink must not lead a write elsewhere.
 */
async function confined(sb: Sandbox, dir: string, path: string): Promise<string> {
  const p = validateWorkspacePath(path);
  const r = await sb.run(['sh', '-c', SCRIPTS.confine, 'sh', p], { cwd: dir });
  if (r.exitCode === 3 || r.exitCode === 4) {
    throw new DomainError(ErrorType.Validation, 'path: resolves outside the workspace', { details: { field: 'path' } });
  }
  if (r.exitCode !== 0) {
    throw new DomainError(ErrorType.Internal, `could not resolve path (exit ${r.exitCode})`, { details: { field: 'path' } });
  }
  return `${dir}/${p}`;
}

/** Writes a file in the workspace (parents created); the path is validated and confined. */
export async function writeWorkspaceFile(sb: Sandbox, dir: string, path: string, content: string): Promise<void> {
  const d = workspaceDir(sb, dir);
  if (typeof content !== 'string') throw new DomainError(ErrorType.Validation, 'content: must be a string', { details: { field: 'content' } });
  await sb.writeFile(await confined(sb, d, path), content);
}

/** Reads a workspace file; DomainError(NotFound) when it does not exist. */
export async function readWorkspaceFile(sb: Sandbox, dir: string, path: string): Promise<string> {
  const d = workspaceDir(sb, dir);
  return sb.readFile(await confined(sb, d, path));
}
