/**
 * The branch policy (`git.pushBranches`, `git.readBranches`). The service pushes with its own
 * token, so the branch an agent names decides what that token writes: a push target must match
 * a push pattern, a base branch a read pattern, with `{agentId}` standing for the caller. Patterns
 * are globs over `/`-separated branch names (minimatch): `*` is one segment, `**` any number.
 */
import { minimatch } from 'minimatch';
import { DomainError, ErrorType } from '../errors.js';

const GLOB = { dot: true, nobrace: true, noext: true, nonegate: true, nocomment: true } as const;

function matchesAny(patterns: readonly string[], agentId: string, branch: string): boolean {
  const id = minimatch.escape(agentId);
  return patterns.some((p) => minimatch(branch, p.replaceAll('{agentId}', id), GLOB));
}

export class BranchPolicy {
  constructor(
    private readonly push: readonly string[],
    private readonly read: readonly string[],
  ) {}

  canPush(agentId: string, branch: string): boolean {
    return matchesAny(this.push, agentId, branch);
  }

  canRead(agentId: string, branch: string): boolean {
    return matchesAny(this.read, agentId, branch);
  }

  /** DomainError(Forbidden) naming `field` (→ 403) unless the agent may push to `branch`. */
  assertPush(agentId: string, branch: string, field = 'branch'): void {
    if (!this.canPush(agentId, branch)) {
      throw new DomainError(ErrorType.Forbidden, `${field}: pushing to ${branch} is not allowed (git.pushBranches)`, {
        details: { field, branch },
      });
    }
  }

  /** DomainError(Forbidden) naming `field` (→ 403) unless the agent may read `branch`. */
  assertRead(agentId: string, branch: string, field = 'baseBranch'): void {
    if (!this.canRead(agentId, branch)) {
      throw new DomainError(ErrorType.Forbidden, `${field}: reading ${branch} is not allowed (git.readBranches)`, {
        details: { field, branch },
      });
    }
  }
}
