import type { Logger } from '../lib/log.js';
import { rehomeWorkspace, type RehomeDeps, type RehomeOutcome } from '../lib/service/rehome.js';

/** Activities of rehomeWorkflow (issue 10 section 3), run by the git worker (it hosts the pool). */
export interface RehomeActivities {
  /** live approach-2 workspaces not yet re-homed */
  rehomeCandidates(): Promise<string[]>;
  /** re-homes one workspace for kill `eventId` (idempotent per event and workspace) */
  rehomeOne(input: { eventId: number; workspaceId: string }): Promise<RehomeOutcome>;
}

export interface RehomeActivityDeps {
  /** absent when this worker does not run both approaches (service.approach simple or pooled) */
  rehome?: RehomeDeps;
  log: Logger;
}

export function createRehomeActivities(deps: RehomeActivityDeps): RehomeActivities {
  const need = (): RehomeDeps => {
    if (!deps.rehome) throw new Error('re-home needs service.approach: routed on the git worker');
    return deps.rehome;
  };
  return {
    rehomeCandidates: () => (deps.rehome ? deps.rehome.rehomes.livePooled() : Promise.resolve([])),
    rehomeOne: ({ eventId, workspaceId }) => rehomeWorkspace(need(), eventId, workspaceId),
  };
}
