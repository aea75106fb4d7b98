import { Context } from '@temporalio/activity';
import type { DrillInvariants, FlagSetting, FlipResult, LoadSummary } from '../lib/canary/drill.js';
import type { Db } from '../lib/db/index.js';
import type { FlagCache } from '../lib/flags/cache.js';
import type { FlagStore } from '../lib/flags/store.js';
import type { Logger } from '../lib/log.js';
import { isDomainError, ErrorType } from '../lib/errors.js';
import { decide } from '../lib/router/router.js';
import { createPushLockRepository } from '../lib/store/push-locks.js';
import { createSandboxRepository } from '../lib/store/sandboxes.js';

export interface FlipInput {
  drillId: string;
  flip: number;
  direction: 'on' | 'off';
  /** the "on" values (ignored for "off", which is the kill switch) */
  targets: FlagSetting[];
  /** deterministic per drill and flip: a retried flip finds its own change */
  changeId: string;
  actor: string;
  /** how long to wait for every flag-caching process */
  timeoutMs: number;
  /** latch mark taken with the snapshot: an "on" flip after a later kill is refused (FlagsLatched) */
  notKilledAfter?: number;
}

export interface SetFlagsInput {
  targets: FlagSetting[];
  changeId: string;
  actor: string;
  reason: string;
  /** latch mark taken with the snapshot: after a later kill nothing is written (`skipped` says why) */
  notKilledAfter?: number;
}

export interface SetFlagsResult {
  changed: number;
  alreadyApplied: boolean;
  /** set when nothing was written because the kill switch latched the flags or was pulled meanwhile */
  skipped?: string;
}

/** The flags before the drill, and where the latch history stood then. */
export interface FlagSnapshot {
  flags: FlagSetting[];
  latchMark: number;
}

export interface SyntheticLoadInput {
  drillId: string;
  durationMs: number;
  agents: number;
  /** flag names routed; default every flag the cache holds */
  operations?: string[];
  /** routing round every tickMs (default 20) */
  tickMs?: number;
}

export interface InvariantsInput {
  /** drill start, ISO: locks acquired since then are the drill's to check */
  since: string;
  /** workflow time, ISO */
  at: string;
  stuckInUseSeconds: number;
}

export interface DrillActivityDeps {
  flags: Pick<FlagStore, 'list' | 'setMany' | 'kill' | 'awaitSwitch' | 'awaitChangeSwitched' | 'audit' | 'latchMark'>;
  /** this process's flag cache: the synthetic load routes through it */
  cache: Pick<FlagCache, 'get' | 'all' | 'onChange'>;
  db: Db;
  log: Logger;
}

/** Sets flags once per change id: a retry that finds its audit rows writes nothing. */
async function setOnce(
  flags: DrillActivityDeps['flags'],
  input: SetFlagsInput,
): Promise<{ version: number; changed: number; alreadyApplied: boolean; changeId: string | null }> {
  const prior = await flags.audit({ changeId: input.changeId, limit: 1_000 });
  if (prior.length > 0)
    return { version: prior[0]!.version, changed: prior.length, alreadyApplied: true, changeId: input.changeId };
  const res = await flags.setMany(
    input.targets.map((t) => ({ ...t })),
    { actor: input.actor, reason: input.reason, changeId: input.changeId },
    input.notKilledAfter === undefined ? {} : { notKilledAfter: input.notKilledAfter },
  );
  return { version: res.version, changed: res.changed.length, alreadyApplied: false, changeId: res.changeId };
}

/**
 * Activities of rollbackDrillWorkflow: snapshot and restore the flags, flip them (off = the kill
 * switch, recorded as a `drill` rollback event), a synthetic routing load through this process's
 * FlagCache, and the lock/sandbox checks. Flips and restores are idempotent on their change id;
 * the load and the checks only read. A drill never writes over a kill: "on" flips and the
 * restore are refused once the kill switch was pulled after the snapshot (issue 9 item 5).
 */
export function createDrillActivities(deps: DrillActivityDeps) {
  const { flags, log } = deps;
  return {
    async snapshotFlags(): Promise<FlagSnapshot> {
      // the mark first: a kill between the two reads then counts as "after the snapshot"
      const mark = await flags.latchMark();
      return {
        flags: (await flags.list()).map((f) => ({
          operation: f.operation,
          percent: f.percent,
          shadow: f.shadow,
          shadowPercent: f.shadowPercent,
        })),
        latchMark: mark,
      };
    },

    /** Sets the flags once per change id; writes nothing (and says why) over a kill. */
    async setFlagsOnce(input: SetFlagsInput): Promise<SetFlagsResult> {
      try {
        const r = await setOnce(flags, input);
        return { changed: r.changed, alreadyApplied: r.alreadyApplied };
      } catch (e) {
        if (isDomainError(e, ErrorType.FlagsLatched)) {
          log.warn({ changeId: input.changeId, reason: e.message }, 'drill flag change skipped: kill switch');
          return { changed: 0, alreadyApplied: false, skipped: e.message };
        }
        throw e;
      }
    },

    /** One flip and its measured switch time across every flag-caching process. */
    async flipFlags(input: FlipInput): Promise<FlipResult> {
      const reason = `rollback drill ${input.drillId}: flip ${input.flip} ${input.direction}`;
      if (input.direction === 'off') {
        const kill = await flags.kill({ actor: input.actor, reason, changeId: input.changeId, source: 'drill' });
        if (kill.eventId === null) {
          return {
            flip: input.flip,
            direction: 'off',
            changeId: null,
            version: kill.version,
            switched: true,
            durationMs: null,
            processes: 0,
            missing: [],
            changed: 0,
          };
        }
        const sw = await flags.awaitSwitch(kill.eventId, { timeoutMs: input.timeoutMs });
        const changed =
          kill.changed.length > 0
            ? kill.changed.length
            : (await flags.audit({ changeId: input.changeId, limit: 1_000 })).length;
        const result: FlipResult = {
          flip: input.flip,
          direction: 'off',
          changeId: kill.changeId,
          version: kill.version,
          switched: sw.switched,
          durationMs: sw.durationMs,
          processes: Object.keys(sw.processes).length + sw.missing.length,
          missing: sw.missing,
          changed,
        };
        log.info(
          {
            drillId: input.drillId,
            flip: input.flip,
            direction: 'off',
            durationMs: sw.durationMs,
            switched: sw.switched,
          },
          'drill flip',
        );
        return result;
      }
      const set = await setOnce(flags, {
        targets: input.targets,
        changeId: input.changeId,
        actor: input.actor,
        reason,
        notKilledAfter: input.notKilledAfter,
      });
      if (set.changeId === null) {
        return {
          flip: input.flip,
          direction: 'on',
          changeId: null,
          version: set.version,
          switched: true,
          durationMs: null,
          processes: 0,
          missing: [],
          changed: 0,
        };
      }
      const sw = await flags.awaitChangeSwitched(set.changeId, { timeoutMs: input.timeoutMs });
      if (sw === null) throw new Error(`flag change ${set.changeId} has no audit rows`);
      log.info(
        { drillId: input.drillId, flip: input.flip, direction: 'on', durationMs: sw.durationMs, switched: sw.switched },
        'drill flip',
      );
      return {
        flip: input.flip,
        direction: 'on',
        changeId: set.changeId,
        version: sw.version,
        switched: sw.switched,
        durationMs: sw.durationMs,
        processes: sw.processes,
        missing: sw.missing,
        changed: set.changed,
      };
    },

    /**
     * Routes a fixed set of synthetic agents for every operation each tick through this
     * process's FlagCache and the router's rule, for `durationMs`. Checks that routing is sticky
     * (an agent changes approach only when the flag it reads changes) and that nothing goes to
     * approach 2 while the flag reads 0%. Heartbeats; stops early when cancelled.
     */
    async runSyntheticLoad(input: SyntheticLoadInput): Promise<LoadSummary> {
      const ctx = Context.current();
      const tickMs = input.tickMs ?? 20;
      const agents = Array.from({ length: input.agents }, (_, i) => `drill-${input.drillId}-agent-${i}`);
      const summary: LoadSummary = {
        agents: input.agents,
        ticks: 0,
        decisions: 0,
        pooled: 0,
        simple: 0,
        versionsSeen: 0,
        flapping: 0,
        pooledWhileOff: 0,
      };
      const off = deps.cache.onChange(() => {
        summary.versionsSeen++;
      });
      // last (flag version, approach) per agent/operation pair
      const last = new Map<string, { version: number; approach: string }>();
      const deadline = Date.now() + input.durationMs;
      try {
        while (Date.now() < deadline && !ctx.cancellationSignal.aborted) {
          const operations = input.operations ?? deps.cache.all().map((f) => f.operation);
          for (const op of operations) {
            const flag = deps.cache.get(op);
            for (const agent of agents) {
              const d = decide(flag, agent, op);
              summary.decisions++;
              if (d.approach === 'pooled') summary.pooled++;
              else summary.simple++;
              if (d.approach === 'pooled' && (flag?.percent ?? 0) === 0) summary.pooledWhileOff++;
              const key = `${op}\u0000${agent}`;
              const version = flag?.version ?? 0;
              const prev = last.get(key);
              if (prev !== undefined && prev.version === version && prev.approach !== d.approach) summary.flapping++;
              last.set(key, { version, approach: d.approach });
            }
          }
          summary.ticks++;
          ctx.heartbeat({ ticks: summary.ticks, decisions: summary.decisions });
          await ctx.sleep(tickMs).catch(() => undefined);
        }
      } finally {
        off();
      }
      log.info({ drillId: input.drillId, ...summary }, 'drill load done');
      return summary;
    },

    /** No push lock acquired during the drill still held past its expiry; no sandbox stuck in use. */
    async checkDrillInvariants(input: InvariantsInput): Promise<DrillInvariants> {
      const locks = await createPushLockRepository(deps.db).expiredSince(new Date(input.since), new Date(input.at));
      const stuck = await createSandboxRepository(deps.db).stuckInUse(new Date(input.at), input.stuckInUseSeconds);
      return {
        leakedLocks: locks.locks.map((r) => ({
          lockKey: r.lockKey,
          holder: r.holder,
          expiresAt: r.expiresAt.toISOString(),
        })),
        leakedLockCount: locks.total,
        stuckSandboxes: stuck.sandboxes.map((r) => ({
          sandboxId: r.sandboxId,
          agentId: r.agentId,
          lastActivityAt: r.lastActivity.toISOString(),
        })),
        stuckSandboxCount: stuck.total,
      };
    },
  };
}

export type DrillActivities = ReturnType<typeof createDrillActivities>;
