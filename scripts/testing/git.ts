import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'seed',
  GIT_AUTHOR_EMAIL: 'seed@example.test',
  GIT_COMMITTER_NAME: 'seed',
  GIT_COMMITTER_EMAIL: 'seed@example.test',
  GIT_CONFIG_NOSYSTEM: '1',
  HOME: tmpdir(),
};

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' });
}

/** A real bare repository with an initial commit on `main`; returns its file:// URL and paths. */
export function createBareRepo(files: Record<string, string> = { 'README.md': '# demo\n' }): {
  url: string;
  bare: string;
  root: string;
  cleanup(): void;
} {
  const root = mkdtempSync(join(tmpdir(), 'sgc-repo-'));
  const bare = join(root, 'remote.git');
  git(root, 'init', '--bare', '--initial-branch=main', bare);
  const seed = join(root, 'seed');
  git(root, 'init', '--initial-branch=main', seed);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(dirname(join(seed, p)), { recursive: true });
    writeFileSync(join(seed, p), c);
  }
  git(seed, 'add', '-A');
  git(seed, 'commit', '-m', 'initial');
  git(seed, 'push', bare, 'main');
  return { url: `file://${bare}`, bare, root, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Clones `url` fresh and returns the log of `branch` (subjects) and a reader for files. */
export function cloneAndRead(
  url: string,
  branch: string,
): { subjects: string[]; read(path: string): string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'sgc-check-'));
  git(dir, 'clone', '--quiet', '--branch', branch, url, 'c');
  const c = join(dir, 'c');
  const subjects = git(c, 'log', '--format=%s').trim().split('\n');
  return { subjects, dir: c, read: (p) => execFileSync('git', ['show', `HEAD:${p}`], { cwd: c, encoding: 'utf8' }) };
}
