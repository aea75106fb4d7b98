import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  agentBranchName,
  validateBranchName,
  validateCommitMessage,
  validateId,
  validateOperationId,
  validateRepoUrl,
  validateWorkspacePath,
  MAX_COMMIT_MESSAGE_BYTES,
  MAX_BRANCH_BYTES,
} from '../../lib/git/validate.js';
import { isDomainError, ErrorType } from '../../lib/errors.js';

function rejects(fn: () => unknown, field: string, label: string): void {
  assert.throws(fn, (e) => isDomainError(e, ErrorType.Validation) && e.details.field === field, label);
}

test('valid branch names pass unchanged', () => {
  for (const b of ['main', 'feature/x-1', 'agent/a1/t_2', 'release/1.2.3', 'a.b', 'x'.repeat(MAX_BRANCH_BYTES)]) {
    assert.equal(validateBranchName(b), b);
  }
});

test('branch names git or the whitelist refuse are rejected with field "branch"', () => {
  const bad = [
    '',
    'x;touch /tmp/pwned',
    'a b',
    'a..b',
    '.hidden',
    'a/.x',
    'a.lock',
    'a/b.lock/c',
    'a/',
    '/a',
    'a//b',
    'a.',
    '-x',
    'a~1',
    'a^',
    'a:b',
    'a?',
    'a*',
    'a[b',
    'a\\b',
    'a@{1}',
    '@',
    'HEAD',
    '$(x)',
    '`x`',
    'a\nb',
    'a\0b',
    'ünï',
    'x'.repeat(MAX_BRANCH_BYTES + 1),
  ];
  for (const b of bad) rejects(() => validateBranchName(b), 'branch', JSON.stringify(b));
  rejects(() => validateBranchName(42), 'branch', 'number');
  rejects(() => validateBranchName('a b', 'baseBranch'), 'baseBranch', 'custom field');
});

test('agent branch builder validates both ids', () => {
  assert.equal(agentBranchName('agent-1', 'task.42'), 'agent/agent-1/task.42');
  rejects(() => agentBranchName('a/b', 't'), 'agentId', 'slash in agent id');
  rejects(() => agentBranchName('a', '..'), 'taskId', 'dots');
  rejects(() => agentBranchName('a', 't.lock'), 'taskId', '.lock');
  rejects(() => agentBranchName('-a', 't'), 'agentId', 'leading dash');
  rejects(() => agentBranchName('a', 'x'.repeat(65)), 'taskId', 'too long');
  assert.equal(validateId('x'.repeat(64), 'agentId'), 'x'.repeat(64));
});

test('workspace paths: normalised when valid', () => {
  assert.equal(validateWorkspacePath('a.txt'), 'a.txt');
  assert.equal(validateWorkspacePath('./dir//b.txt'), 'dir/b.txt');
  assert.equal(validateWorkspacePath('dir/'), 'dir');
  assert.equal(validateWorkspacePath('.gitignore'), '.gitignore');
  assert.equal(validateWorkspacePath('a/.github/x.yml'), 'a/.github/x.yml');
  assert.equal(validateWorkspacePath('sp ace $(x).txt'), 'sp ace $(x).txt');
});

test('workspace paths: absolute, traversal, .git, NUL, control characters rejected', () => {
  const bad = [
    '',
    '/etc/passwd',
    '../x',
    'a/../../x',
    'a/..',
    '.git/config',
    '.git',
    'sub/.git/hooks/pre-commit',
    '.GIT/config',
    'a\0b',
    'a\nb',
    '.',
    './',
    '-rf',
  ];
  for (const p of bad) rejects(() => validateWorkspacePath(p), 'path', JSON.stringify(p));
  rejects(() => validateWorkspacePath('x'.repeat(4097)), 'path', 'too long');
});

test('commit messages: non-empty, at most 10 KB, no NUL; content kept verbatim', () => {
  const msg = 'fix: $(touch /tmp/pwned) `id`; rm -rf /\n\n# not a comment';
  assert.equal(validateCommitMessage(msg), msg);
  assert.equal(validateCommitMessage('x'.repeat(MAX_COMMIT_MESSAGE_BYTES)).length, MAX_COMMIT_MESSAGE_BYTES);
  rejects(() => validateCommitMessage('x'.repeat(MAX_COMMIT_MESSAGE_BYTES + 1)), 'message', 'one byte over');
  // multi-byte characters count in bytes
  rejects(() => validateCommitMessage('é'.repeat(MAX_COMMIT_MESSAGE_BYTES / 2 + 1)), 'message', 'bytes not chars');
  rejects(() => validateCommitMessage(''), 'message', 'empty');
  rejects(() => validateCommitMessage('  \n\t'), 'message', 'whitespace only');
  rejects(() => validateCommitMessage('a\0b'), 'message', 'NUL');
});

test('operation ids are one token', () => {
  assert.equal(validateOperationId('git-op-123:abc'), 'git-op-123:abc');
  rejects(() => validateOperationId('a b'), 'operationId', 'space');
  rejects(() => validateOperationId('a\nSgc-Operation: b'), 'operationId', 'newline');
  rejects(() => validateOperationId(''), 'operationId', 'empty');
});

test('repo URLs: common forms accepted; program transports, options and embedded passwords rejected', () => {
  for (const u of [
    'https://github.com/o/r.git',
    'http://127.0.0.1:8080/r.git',
    'ssh://git@host/r.git',
    'git://host/r',
    'file:///tmp/r.git',
    'git@github.com:o/r.git',
  ]) {
    assert.equal(validateRepoUrl(u), u);
  }
  for (const u of [
    '',
    'ext::sh -c touch% /tmp/pwned',
    'fd::0',
    '-uhttps://x',
    '--upload-pack=touch /tmp/x',
    'https://u:tok@github.com/o/r.git',
    'https://x/ r',
    'relative/path',
    'https://x/\nr',
  ]) {
    rejects(() => validateRepoUrl(u), 'repoUrl', JSON.stringify(u));
  }
});
