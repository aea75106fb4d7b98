import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { classifyGitError, redact } from '../../lib/git/classify.js';
import { ErrorType } from '../../lib/errors.js';
import type { ErrorTypeName, ErrorCategory } from '../../lib/errors.js';

// stderr as git 2.39 prints it
const CASES: { name: string; stderr: string; type: ErrorTypeName; category: ErrorCategory; retryable: boolean }[] = [
  {
    name: 'non-fast-forward',
    stderr:
      " ! [rejected]        HEAD -> main (non-fast-forward)\nerror: failed to push some refs to '/tmp/r.git'\nhint: Updates were rejected because the tip of your current branch is behind",
    type: ErrorType.PushRejected,
    category: 'conflict',
    retryable: true,
  },
  {
    name: 'fetch first',
    stderr:
      " ! [rejected]        HEAD -> main (fetch first)\nerror: failed to push some refs to 'https://example.test/r.git'",
    type: ErrorType.PushRejected,
    category: 'conflict',
    retryable: true,
  },
  {
    name: 'concurrent ref update on the remote',
    stderr:
      " ! [remote rejected] HEAD -> main (cannot lock ref 'refs/heads/main': is at 1234 but expected 5678)\nerror: failed to push some refs to '/tmp/r.git'",
    type: ErrorType.PushRejected,
    category: 'conflict',
    retryable: true,
  },
  {
    name: 'hook declined is not retryable',
    stderr: ' ! [remote rejected] main -> main (pre-receive hook declined)\nerror: failed to push some refs',
    type: ErrorType.Forbidden,
    category: 'auth',
    retryable: false,
  },
  {
    name: 'rebase conflict',
    stderr: 'error: could not apply 1a2b3c4... edit\nhint: Resolve all conflicts manually, mark them as resolved with',
    type: ErrorType.Conflict,
    category: 'conflict',
    retryable: false,
  },
  {
    name: 'content conflict on stdout-like stderr',
    stderr: 'Auto-merging a.txt\nCONFLICT (content): Merge conflict in a.txt',
    type: ErrorType.Conflict,
    category: 'conflict',
    retryable: false,
  },
  {
    name: 'authentication failed',
    stderr: "remote: Invalid username or password.\nfatal: Authentication failed for 'https://example.test/r.git/'",
    type: ErrorType.Auth,
    category: 'auth',
    retryable: false,
  },
  {
    name: 'no credentials and prompts disabled',
    stderr: "fatal: could not read Username for 'https://example.test': terminal prompts disabled",
    type: ErrorType.Auth,
    category: 'auth',
    retryable: false,
  },
  {
    name: '403 (which also says "unable to access")',
    stderr: "fatal: unable to access 'https://example.test/r.git/': The requested URL returned error: 403",
    type: ErrorType.Auth,
    category: 'auth',
    retryable: false,
  },
  {
    name: 'unknown host',
    stderr: "fatal: unable to access 'https://nohost.invalid/r.git/': Could not resolve host: nohost.invalid",
    type: ErrorType.Network,
    category: 'network',
    retryable: true,
  },
  {
    name: 'connection refused',
    stderr:
      "fatal: unable to access 'http://127.0.0.1:1/r.git/': Failed to connect to 127.0.0.1 port 1 after 0 ms: Connection refused",
    type: ErrorType.Network,
    category: 'network',
    retryable: true,
  },
  {
    name: 'timed out (checked before generic network)',
    stderr:
      "fatal: unable to access 'https://example.test/r.git/': Failed to connect to example.test port 443 after 130000 ms: Connection timed out",
    type: ErrorType.Timeout,
    category: 'timeout',
    retryable: true,
  },
  {
    name: 'repository not found',
    stderr: "remote: Repository not found.\nfatal: repository 'https://example.test/x.git/' not found",
    type: ErrorType.NotFound,
    category: 'client',
    retryable: false, // the agent asked for what is not there (issue 9 item 9)
  },
  {
    name: 'not a git repository (file:// remote)',
    stderr:
      "fatal: '/tmp/nope.git' does not appear to be a git repository\nfatal: Could not read from remote repository.",
    type: ErrorType.NotFound,
    category: 'client',
    retryable: false, // the agent asked for what is not there (issue 9 item 9)
  },
  {
    name: 'clone of a missing branch',
    stderr:
      'warning: Could not find remote branch nope to clone.\nfatal: Remote branch nope not found in upstream origin',
    type: ErrorType.NotFound,
    category: 'client',
    retryable: false, // the agent asked for what is not there (issue 9 item 9)
  },
  {
    name: 'index.lock left behind is retryable',
    stderr: "fatal: Unable to create '/w/.git/index.lock': File exists.",
    type: ErrorType.Internal,
    category: 'other',
    retryable: true,
  },
  // issue 12's disk-full fault: a full sandbox disk is a 503 to retry, never a 500 or a conflict
  {
    name: 'disk full during a commit',
    stderr:
      'error: unable to create temporary file: No space left on device\nerror: notes/a.txt: failed to insert into database\nfatal: unable to write new index file',
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: 'disk full during a rebase (not a conflict)',
    stderr: 'error: could not apply 1a2b3c4... chaos push\nfatal: write error: No space left on device',
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: 'disk full taking the index lock (not a held lock)',
    stderr: "fatal: Unable to create '/w/.git/index.lock': No space left on device",
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: "disk full writing an object (git's own words)",
    stderr: "fatal: sha1 file '/w/.git/index.lock' write error. Out of diskspace",
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: 'disk full writing a ref lock (git drops the errno)',
    stderr:
      "error: cannot update ref 'refs/remotes/origin/shared/b0': couldn't write '/w/.git/refs/remotes/origin/shared/b0.lock'",
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  // seen in the chaos suite's disk-full fault as 500s: git's words without the errno
  {
    name: 'disk full checking out a file in a rebase (git drops the errno)',
    stderr: 'error: unable to write file notes/chaos-agent-02/mx6j2506-1.txt\nerror: could not detach HEAD',
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: 'disk full writing the config of a clone (git drops the errno)',
    stderr: "fatal: could not set 'core.repositoryformatversion' to '0'",
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: 'disk full writing the rebase journal (push.sh)',
    stderr: 'error: could not write the rebase journal .git/sgc-rebase (no space left on device?)',
    type: ErrorType.Unavailable,
    category: 'other',
    retryable: true,
  },
  {
    name: 'a checkout refused over untracked files (not a full disk)',
    stderr:
      'error: The following untracked working tree files would be overwritten by checkout:\n\ta.txt\nPlease move or remove them before you switch branches.\nAborting\nerror: could not detach HEAD',
    type: ErrorType.Internal,
    category: 'other',
    retryable: false,
  },
  {
    name: 'unknown failure',
    stderr: 'fatal: something nobody expected',
    type: ErrorType.Internal,
    category: 'other',
    retryable: false,
  },
];

for (const c of CASES) {
  test(`classifies ${c.name} as ${c.type}`, () => {
    const e = classifyGitError({ exitCode: 1, stderr: c.stderr, op: 'push' });
    assert.equal(e.type, c.type);
    assert.equal(e.category, c.category);
    assert.equal(e.retryable, c.retryable);
    assert.equal(e.details.op, 'push');
    assert.equal(e.details.exitCode, 1);
  });
}

test('a conflict carries the files and names them in the message', () => {
  const e = classifyGitError({
    exitCode: 1,
    stderr: 'CONFLICT (content): Merge conflict in a.txt',
    op: 'rebase',
    files: ['a.txt', 'b c.txt'],
  });
  assert.deepEqual(e.details.files, ['a.txt', 'b c.txt']);
  assert.match(e.message, /a\.txt, b c\.txt/);
});

test('tokens and URL userinfo never reach the message or details', () => {
  const token = 'ghp_SECRETSECRET1234';
  const e = classifyGitError({
    exitCode: 128,
    stderr: `fatal: unable to access 'https://x-access-token:${token}@example.test/r.git/': The requested URL returned error: 403 (${token})`,
    op: 'fetch',
    secrets: [token],
  });
  assert.equal(e.type, ErrorType.Auth);
  assert.ok(!JSON.stringify({ m: e.message, d: e.details }).includes(token));
  assert.ok(!e.message.includes('x-access-token'));
});

test('redact scrubs every occurrence and userinfo, ignores empty secrets', () => {
  assert.equal(redact('a tok1234 b tok1234', ['tok1234', undefined, '']), 'a [redacted] b [redacted]');
  assert.equal(redact('see https://u:p@h/x and ssh://git@h/y'), 'see https://h/x and ssh://h/y');
});
