/**
 * What an agent may ask the git service to do, from config `git` (remotes, branches). The
 * service enforces it on every call (REST, MCP, workflows alike); the API also checks it before
 * starting an operation, so a refused request never reaches a worker.
 */
import type { Config } from '../config/schema.js';
import { BranchPolicy } from './branches.js';
import { RemotePolicy } from './remotes.js';

export { BranchPolicy } from './branches.js';
export {
  RemotePolicy,
  parseRemoteUrl,
  segmentPrefix,
  DEFAULT_SCHEMES,
  type ParsedRemote,
  type RemoteMatch,
  type RemoteScheme,
} from './remotes.js';

export interface GitPolicy {
  remotes: RemotePolicy;
  branches: BranchPolicy;
}

export function createGitPolicy(git: Pick<Config['git'], 'remotes' | 'pushBranches' | 'readBranches'>): GitPolicy {
  return {
    remotes: new RemotePolicy(git.remotes),
    branches: new BranchPolicy(git.pushBranches, git.readBranches),
  };
}
