/** Git result types shared by lib/git and the layers above it (lib/git imports nothing upward). */

/** `git status --porcelain=v2 --branch`, parsed. */
export interface GitStatus {
  branch: string | null;
  upstream: string | null;
  ahead: number;
  behind: number;
  /** path → XY code, e.g. { path: 'a.txt', index: 'M', worktree: '.' } */
  entries: { path: string; index: string; worktree: string; kind: 'changed' | 'renamed' | 'unmerged' | 'untracked' | 'ignored'; origPath?: string }[];
  clean: boolean;
}

export interface CommitPushResult {
  commit: string;
  branch: string;
  attempts: number;
  /** true when an earlier attempt of the same operationId had already landed it */
  alreadyLanded: boolean;
}

export interface PullResult {
  head: string;
  updated: boolean;
}

export interface GitCredentials {
  token?: string;
  /** user name sent with the token; default `x-access-token` (GitHub's convention for tokens) */
  username?: string;
}
