/**
 * Validation of everything that reaches git from outside: branch names, ids that become branch
 * components, workspace-relative paths, commit messages, remote URLs and operation ids. Quoting
 * already makes injection impossible; these rules additionally keep git from reading a value as
 * an option (`-…`), a revision expression (`@{`, `..`, `^`) or a path outside the workspace.
 * Every failure is DomainError(Validation) with `details.field`, so the API can answer 400 naming it.
 */
import { posix } from 'node:path';
import { DomainError, ErrorType } from '../errors.js';

export const MAX_BRANCH_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
export const MAX_COMMIT_MESSAGE_BYTES = 10 * 1024;
export const MAX_OPERATION_ID_LENGTH = 255;

function invalid(field: string, message: string, extra: Record<string, unknown> = {}): DomainError {
  return new DomainError(ErrorType.Validation, `${field}: ${message}`, { details: { field, ...extra } });
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;

/** Conservative alphabet on top of git's rules: letters, digits, `.`, `_`, `-`, `/`. */
const BRANCH_ALPHABET = /^[A-Za-z0-9._/-]+$/;

/**
 * A branch name that `git check-ref-format --branch` accepts and that uses only
 * `[A-Za-z0-9._/-]`. Returns it unchanged.
 */
export function validateBranchName(name: unknown, field = 'branch'): string {
  if (typeof name !== 'string' || name.length === 0) throw invalid(field, 'must be a non-empty string');
  if (Buffer.byteLength(name, 'utf8') > MAX_BRANCH_BYTES)
    throw invalid(field, `must be at most ${MAX_BRANCH_BYTES} bytes`);
  if (CONTROL.test(name)) throw invalid(field, 'must not contain control characters');
  if (!BRANCH_ALPHABET.test(name)) throw invalid(field, 'may contain only letters, digits, ".", "_", "-" and "/"');
  // git check-ref-format rules (the alphabet already excludes space ~ ^ : ? * [ \ and @{)
  if (name.startsWith('-')) throw invalid(field, 'must not start with "-"');
  if (name.startsWith('/') || name.endsWith('/')) throw invalid(field, 'must not start or end with "/"');
  if (name.includes('//')) throw invalid(field, 'must not contain "//"');
  if (name.includes('..')) throw invalid(field, 'must not contain ".."');
  if (name.endsWith('.')) throw invalid(field, 'must not end with "."');
  for (const part of name.split('/')) {
    if (part.startsWith('.')) throw invalid(field, 'no component may start with "."');
    if (part.endsWith('.lock')) throw invalid(field, 'no component may end with ".lock"');
  }
  if (name === 'HEAD') throw invalid(field, 'must not be "HEAD"');
  return name;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** An id that becomes one branch component (agentId, taskId): same alphabet as API agent ids. */
export function validateId(id: unknown, field: string): string {
  if (typeof id !== 'string' || !ID.test(id)) {
    throw invalid(field, 'must be 1-64 characters of letters, digits, ".", "_", "-", starting with a letter or digit');
  }
  if (id.includes('..') || id.endsWith('.') || id.endsWith('.lock'))
    throw invalid(field, 'must not contain ".." or end with "." or ".lock"');
  return id;
}

/** `agent/<agentId>/<taskId>` with both ids validated. */
export function agentBranchName(agentId: string, taskId: string): string {
  return validateBranchName(`agent/${validateId(agentId, 'agentId')}/${validateId(taskId, 'taskId')}`, 'agentBranch');
}

/**
 * A path relative to the workspace root: not absolute, no `..` component, no NUL or control
 * characters, not inside `.git` (any component named `.git`, any case — a nested repository's
 * metadata is just as sensitive). Returns the normalised form (`./a//b` → `a/b`).
 */
export function validateWorkspacePath(p: unknown, field = 'path'): string {
  if (typeof p !== 'string' || p.length === 0) throw invalid(field, 'must be a non-empty string');
  if (Buffer.byteLength(p, 'utf8') > MAX_PATH_BYTES) throw invalid(field, `must be at most ${MAX_PATH_BYTES} bytes`);
  if (p.includes('\0')) throw invalid(field, 'must not contain NUL bytes');
  if (CONTROL.test(p)) throw invalid(field, 'must not contain control characters');
  if (p.startsWith('/')) throw invalid(field, 'must be relative to the workspace');
  const parts = p.split('/');
  if (parts.includes('..')) throw invalid(field, 'must not contain ".." components');
  if (parts.some((s) => s.toLowerCase() === '.git')) throw invalid(field, 'must not point inside .git');
  const norm = posix.normalize(p).replace(/\/+$/, '');
  if (norm === '' || norm === '.') throw invalid(field, 'must name a file inside the workspace');
  if (norm.startsWith('-')) throw invalid(field, 'must not start with "-"');
  return norm;
}

/** Non-empty (after trimming), at most 10 KB of UTF-8, no NUL. Returned unchanged. */
export function validateCommitMessage(msg: unknown, field = 'message'): string {
  if (typeof msg !== 'string' || msg.trim().length === 0) throw invalid(field, 'must be a non-empty string');
  if (msg.includes('\0')) throw invalid(field, 'must not contain NUL bytes');
  const bytes = Buffer.byteLength(msg, 'utf8');
  if (bytes > MAX_COMMIT_MESSAGE_BYTES)
    throw invalid(field, `must be at most ${MAX_COMMIT_MESSAGE_BYTES} bytes`, { bytes });
  return msg;
}

/** An operation id (e.g. a workflow id) that becomes a one-line commit trailer value. */
export function validateOperationId(id: unknown, field = 'operationId'): string {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_OPERATION_ID_LENGTH) {
    throw invalid(field, `must be 1-${MAX_OPERATION_ID_LENGTH} characters`);
  }
  if (CONTROL.test(id) || /\s/.test(id)) throw invalid(field, 'must not contain whitespace or control characters');
  return id;
}

const SCP_LIKE = /^(?:[A-Za-z0-9._-]+@)?[A-Za-z0-9.-]+:(?!\/\/)[A-Za-z0-9._~/-]+$/;

/**
 * A remote URL git may clone: http(s)://, ssh://, git://, file:// or scp-like `user@host:path`.
 * Rejects transports that run programs (`ext::`, `fd::`), option look-alikes (`-…`), whitespace,
 * and URLs carrying a password — credentials travel through GitCredentials, never in a URL
 * (it would land in argv and in .git/config).
 */
export function validateRepoUrl(url: unknown, field = 'repoUrl'): string {
  if (typeof url !== 'string' || url.length === 0 || url.length > 2048)
    throw invalid(field, 'must be a non-empty string of at most 2048 characters');
  if (CONTROL.test(url) || /\s/.test(url)) throw invalid(field, 'must not contain whitespace or control characters');
  if (url.startsWith('-')) throw invalid(field, 'must not start with "-"');
  if (url.includes('::')) throw invalid(field, 'transport helpers ("::") are not allowed');
  if (/^(https?|ssh|git|file):\/\//i.test(url)) {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw invalid(field, 'is not a valid URL');
    }
    if (u.password !== '')
      throw invalid(field, 'must not contain credentials; pass a token through the git credentials');
    return url;
  }
  if (SCP_LIKE.test(url)) return url;
  throw invalid(field, 'must be an http(s)://, ssh://, git://, file:// or user@host:path URL');
}
