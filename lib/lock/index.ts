export * from './push-lock.js';
export * from './local-lock.js';

/** The push lock key: one lock per sanitised remote + target branch (seed 004). */
export function pushLockKey(sanitisedRepoUrl: string, branch: string): string {
  return `push:${sanitisedRepoUrl}#${branch}`;
}
