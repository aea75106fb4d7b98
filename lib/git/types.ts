/** Git result types shared by lib/git and the layers above it (lib/git imports nothing upward). */

/** `git status --porcelain=v2 --branch`, parsed. */
export interface GitStatus {
  branch: string | null;
  upstream: string | null;
  ahead: number;
  behind: number;
  /** path → XY code, e.g. { path: 'a.txt', index: 'M', worktree: '.' } */
  entries: {
    path: string;
    index: string;
    worktree: string;
    kind: 'changed' | 'renamed' | 'unmerged' | 'untracked' | 'ignored';
    origPath?: string;
  }[];
  clean: boolean;
}

export interface CommitPushResult {
  commit: string;
  branch: string;
  attempts: number;
  /** true when an earlier attempt of the same operationId had already landed it */
  alreadyLanded: boolean;
  /** push.mode queue: the commit is staged, not landed yet (the merge queue lands it) */
  staged?: StagedPush;
}

export interface PullResult {
  head: string;
  updated: boolean;
}

/**
 * A token and the one remote it may be sent to. git asks the credential helper about every host
 * it talks to (redirects included); the helper answers only when the protocol, host and path
 * match these.
 */
export interface GitCredentials {
  token: string;
  /** user name sent with the token; default `x-access-token` (GitHub's convention for tokens) */
  username?: string;
  /** `https` or `http`, as git names it in the credential request */
  protocol: string;
  /** host[:port] in lower case, as git names it (the port only when the URL has one) */
  host: string;
  /** path prefix ending in '/', matched against '/' + git's `path` + '/' (default '/') */
  pathPrefix?: string;
}

/**
 * A commit staged for the merge queue (push.mode queue): pushed to a ref of its own on the remote
 * (`refs/sgc/queue/<operationId>`, or `refs/heads/sgc-queue/<operationId>` where the remote
 * refuses custom refs), waiting to be applied onto `branch`.
 */
export interface StagedPush {
  operationId: string;
  /** sanitised (no userinfo) */
  repoUrl: string;
  branch: string;
  /** the full remote ref the commit was pushed to */
  ref: string;
  commit: string;
  /** ms since the epoch, when the commit was staged (queue wait is measured from here) */
  stagedAt: number;
}

/** The merge queue's answer for one staged operation. */
export type QueueOutcome =
  | { operationId: string; status: 'landed'; commit: string; alreadyLanded: boolean }
  | { operationId: string; status: 'conflict'; files: string[] }
  /** its staged ref is gone and its trailer is not on the branch: the caller stages it again */
  | { operationId: string; status: 'missing' };
