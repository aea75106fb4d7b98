/**
 * Translates a failed git command (exit code + stderr) into a DomainError once, with the
 * category the metrics use. The order of the checks matters: a 403 arrives as "unable to
 * access …: The requested URL returned error: 403", which also looks like a network failure.
 */
import { DomainError, ErrorType, NO_SPACE, diskFullError } from '../errors.js';
import type { ErrorTypeName, DomainErrorOptions } from '../errors.js';

export interface GitFailure {
  exitCode: number;
  stderr: string;
  stdout?: string;
  /** short name of what ran, for the message: "push", "fetch", "rebase" */
  op?: string;
  /** conflicted files (from `git diff --name-only --diff-filter=U`) for a Conflict */
  files?: string[];
  /** values to scrub from messages and details (tokens) */
  secrets?: readonly (string | undefined)[];
}

/** Removes secrets and URL userinfo from text that may reach an error message or a log. */
export function redact(text: string, secrets: readonly (string | undefined)[] = []): string {
  let out = text;
  for (const s of secrets) {
    if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  }
  // scheme://user:pass@host → scheme://host
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1');
}

/**
 * git's words for a write that failed where it drops the errno: a lock file it created but could
 * not fill ("cannot update ref …: couldn't write '….lock'"; a refused create says "Unable to
 * create" instead), a file of a checkout ("unable to write file …", then "could not detach HEAD"
 * in a rebase), a config value of a new clone ("could not set 'core.repositoryformatversion'"), and
 * push.sh's rebase journal. Seen under a full disk only (issue 12's disk-full fault, where each was
 * a 500), and retrying once space is back resolves it.
 */
const WRITE_FAILED =
  /couldn't write '[^']*\.lock'|unable to write file |could not set '[^']*' to '|could not write the rebase journal/;

const RULES: { re: RegExp; type: ErrorTypeName; opts?: DomainErrorOptions; what: string }[] = [
  {
    re: /CONFLICT \(|could not apply|Merge conflict in|Resolve all conflicts manually|needs merge/,
    type: ErrorType.Conflict,
    what: 'conflict',
  },
  // the remote's own policy, not a request this service refused: a permission failure ('auth')
  {
    re: /pre-receive hook declined|protected branch|GH006|You are not allowed to push/i,
    type: ErrorType.Forbidden,
    opts: { category: 'auth' },
    what: 'push refused by the remote',
  },
  {
    re: /non-fast-forward|\(fetch first\)|Updates were rejected|\[rejected\]|\[remote rejected\]|cannot lock ref|stale info/,
    type: ErrorType.PushRejected,
    what: 'push rejected',
  },
  {
    re: /Authentication failed|could not read (Username|Password)|terminal prompts disabled|Invalid username or password|returned error: 40[13]|HTTP 40[13]|Permission denied \(publickey|Host key verification failed/i,
    type: ErrorType.Auth,
    what: 'authentication failed',
  },
  {
    re: /Repository not found|does not appear to be a git repository|returned error: 404|HTTP 404|Remote branch .* not found|couldn't find remote ref|not a git repository|No such remote/i,
    type: ErrorType.NotFound,
    what: 'not found',
  },
  { re: /returned error: 429|HTTP 429|rate limit/i, type: ErrorType.RateLimit, what: 'rate limited' },
  { re: /timed out|Operation too slow|RPC failed; curl 28/i, type: ErrorType.Timeout, what: 'timed out' },
  {
    re: /Could not resolve host|Connection refused|Failed to connect|Connection reset|Network is unreachable|No route to host|unable to access|early EOF|remote end hung up|RPC failed|SSL|gnutls|returned error: 5\d\d|HTTP 5\d\d/i,
    type: ErrorType.Network,
    what: 'network error',
  },
  // another git process holds the index (a crashed run leaves index.lock behind)
  {
    re: /index\.lock': File exists|Unable to create .*\.lock/,
    type: ErrorType.Internal,
    opts: { retryable: true },
    what: 'repository locked',
  },
];

/** The most telling stderr line: the last `fatal:`/`error:` line, else the last non-empty one. */
function keyLine(stderr: string): string {
  const lines = stderr
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const tagged = lines.filter((l) => /^(fatal|error|CONFLICT|! \[)/.test(l));
  return (tagged.at(-1) ?? lines.at(-1) ?? '').slice(0, 300);
}

export function classifyGitError(f: GitFailure): DomainError {
  const text = `${f.stderr}\n${f.stdout ?? ''}`;
  const op = f.op ?? 'command';
  const stderrTail = redact(f.stderr.slice(-2000), f.secrets);
  const line = redact(keyLine(f.stderr || f.stdout || ''), f.secrets);
  // a full disk first: a commit, rebase or clone cut short by it can also look like a conflict
  // ("could not apply") or a held lock ("Unable to create … .lock")
  if (NO_SPACE.test(text) || WRITE_FAILED.test(text))
    return diskFullError({ op, exitCode: f.exitCode, stderr: stderrTail });
  for (const r of RULES) {
    if (!r.re.test(text)) continue;
    const details: Record<string, unknown> = { op, exitCode: f.exitCode, stderr: stderrTail };
    if (r.type === ErrorType.Conflict) details.files = f.files ?? [];
    const msg =
      r.type === ErrorType.Conflict && f.files?.length
        ? `git ${op}: conflict in ${f.files.join(', ')}`
        : `git ${op}: ${r.what}${line ? ` (${line})` : ''}`;
    return new DomainError(r.type, msg, { ...r.opts, details });
  }
  return new DomainError(
    ErrorType.Internal,
    `git ${op} failed with exit code ${f.exitCode}${line ? ` (${line})` : ''}`,
    {
      details: { op, exitCode: f.exitCode, stderr: stderrTail },
    },
  );
}
