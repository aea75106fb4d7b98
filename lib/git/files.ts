/** Reads and edits of a workspace: status, diff, confined file reads and writes. */
import type { Sandbox } from '../sandbox/types.js';
import { DomainError, ErrorType, diskFullError, isNoSpace } from '../errors.js';
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
 * With `maxBytes`, a diff longer than that is cut off at the source: git is killed and the
 * provider throws OutputTooLarge (nothing larger is ever held in memory).
 */
export async function gitDiff(
  sb: Sandbox,
  dir: string,
  o: { staged?: boolean; path?: string; maxBytes?: number } = {},
): Promise<string> {
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir) };
  const paths = o.path === undefined ? [] : [validateWorkspacePath(o.path)];
  const cap = { maxOutputBytes: o.maxBytes };
  if (o.staged) {
    return (await runOk(g, 'diff', ['git', 'diff', '--no-color', '--no-ext-diff', '--cached', '--', ...paths], cap))
      .stdout;
  }
  return (await runOk(g, 'diff', ['sh', '-c', SCRIPTS.diff, 'sh', ...paths], cap)).stdout;
}

/**
 * Checks inside the sandbox that `<dir>/<path>` resolves (symlinks followed) inside the
 * workspace and outside its .git: a checked-out symlink must not lead a write elsewhere. Also
 * returns the size of the regular file there now (-1: none).
 */
async function confined(sb: Sandbox, dir: string, path: string): Promise<{ target: string; size: number }> {
  const p = validateWorkspacePath(path);
  const r = await sb.run(['sh', '-c', SCRIPTS.confine, 'sh', p], { cwd: dir });
  if (r.exitCode === 3 || r.exitCode === 4) {
    throw new DomainError(ErrorType.Validation, 'path: resolves outside the workspace', { details: { field: 'path' } });
  }
  const size = Number.parseInt(r.stdout.trim(), 10);
  if (r.exitCode !== 0 || !Number.isInteger(size)) {
    throw new DomainError(ErrorType.Internal, `could not resolve path (exit ${r.exitCode})`, {
      details: { field: 'path' },
    });
  }
  return { target: `${dir}/${p}`, size };
}

/** What a write changes in the workspace's usage: bytes (may be negative) and new files (0 or 1). */
export interface UsageDelta {
  bytes: number;
  files: number;
}

/**
 * Writes a file in the workspace (parents created); the path is validated and confined. With
 * `reserve`, the change in usage is claimed first (it throws to refuse: the quota) and handed
 * back when the write fails.
 */
export async function writeWorkspaceFile(
  sb: Sandbox,
  dir: string,
  path: string,
  content: string,
  o: { reserve?: (d: UsageDelta) => Promise<void> } = {},
): Promise<void> {
  const d = workspaceDir(sb, dir);
  if (typeof content !== 'string')
    throw new DomainError(ErrorType.Validation, 'content: must be a string', { details: { field: 'content' } });
  const { target, size } = await confined(sb, d, path);
  const delta: UsageDelta = { bytes: Buffer.byteLength(content, 'utf8') - Math.max(size, 0), files: size < 0 ? 1 : 0 };
  await o.reserve?.(delta);
  try {
    await sb.writeFile(target, content);
  } catch (e) {
    await o.reserve?.({ bytes: -delta.bytes, files: -delta.files }).catch(() => undefined);
    throw isNoSpace(e) ? diskFullError({ op: 'write' }, e) : e;
  }
}

/**
 * Reads a workspace file; DomainError(NotFound) when it does not exist. With `maxBytes`, a
 * larger file is refused with OutputTooLarge before a byte of it is read.
 */
export async function readWorkspaceFile(
  sb: Sandbox,
  dir: string,
  path: string,
  o: { maxBytes?: number } = {},
): Promise<string> {
  const d = workspaceDir(sb, dir);
  const { target, size } = await confined(sb, d, path);
  if (o.maxBytes !== undefined && size > o.maxBytes) {
    throw new DomainError(
      ErrorType.OutputTooLarge,
      `path: the file has ${size} bytes, more than the ${o.maxBytes} a read may return`,
      {
        details: { field: 'path', bytes: size, limitBytes: o.maxBytes },
      },
    );
  }
  return sb.readFile(target, { maxBytes: o.maxBytes });
}

/** Bytes (apparent size) and files (anything but directories) in the workspace, .git included. */
export async function workspaceUsage(sb: Sandbox, dir: string): Promise<UsageDelta> {
  const g: GitRun = { sb, cwd: workspaceDir(sb, dir) };
  const r = await runOk(g, 'usage', ['sh', '-c', SCRIPTS.usage]);
  const [bytes, files] = r.stdout
    .trim()
    .split('\n')
    .map((x) => Number.parseInt(x.trim(), 10));
  if (!Number.isInteger(bytes) || !Number.isInteger(files))
    throw new DomainError(ErrorType.Internal, 'could not measure the workspace');
  return { bytes, files };
}
