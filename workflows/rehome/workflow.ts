import { log, proxyActivities } from '@temporalio/workflow';
import type { RehomeActivities } from '../../activities/rehome.js';
import type { RehomeOutcome } from '../../lib/service/rehome.js';

export interface RehomeInput {
  /** rollback_events id of the kill */
  eventId: number;
  /** workspaces re-homed at once (default 8) */
  concurrency?: number;
}

export interface RehomeResult {
  eventId: number;
  rehomed: RehomeOutcome[];
  carried: number;
  notCarried: number;
  /** workspaces neither carried nor reported: a rehomeOne that failed every attempt */
  lost: number;
}

const { rehomeCandidates, rehomeOne } = proxyActivities<RehomeActivities>({
  // one workspace: freeze, capture, fresh sandbox + clone, restore, verify
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '10 seconds', maximumAttempts: 3 },
});

/**
 * The kill switch moves live work (issue 10 section 3): started by POST /v1/flags/kill, it
 * re-homes every live approach-2 workspace to approach 1, `concurrency` at a time. Durable: a
 * worker crash resumes where it was, and each re-home is idempotent per (event, workspace).
 */
export async function rehomeWorkflow(input: RehomeInput): Promise<RehomeResult> {
  const ids = await rehomeCandidates();
  const concurrency = Math.max(1, Math.min(64, input.concurrency ?? 8));
  const rehomed: RehomeOutcome[] = [];
  let lost = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, ids.length) }, async () => {
      while (next < ids.length) {
        const workspaceId = ids[next++]!;
        try {
          rehomed.push(await rehomeOne({ eventId: input.eventId, workspaceId }));
        } catch (e) {
          lost++;
          rehomed.push({ workspaceId, state: 'not_carried', reason: `error: ${(e as Error).message}`, durationMs: 0 });
        }
      }
    }),
  );
  rehomed.sort((a, b) => (a.workspaceId < b.workspaceId ? -1 : 1));
  const carried = rehomed.filter((o) => o.state === 'carried').length;
  const notCarried = rehomed.filter((o) => o.state === 'not_carried').length;
  log.info('re-home done', { eventId: input.eventId, carried, notCarried, lost });
  return { eventId: input.eventId, rehomed, carried, notCarried, lost };
}
