/**
 * Issue 12: "flags: no process serves a percent older than the newest for more than 30 s".
 * Samples what each API process's router serves — `GET /v1/flags/cache`, its flag cache read
 * from memory, so it answers during a partition too — and holds every sample against the flag's
 * changes as Postgres committed them (flag_audit: version and time). A sample is stale when the
 * process has not applied a change committed before it; it is fail-safe when the process, unable
 * to hear Postgres, serves every flag at 0 % (approach 1: fail closed, never an older percent).
 */
import { performance } from 'node:perf_hooks';
import type { ChaosStack } from './stack.js';

export interface FlagSample {
  /** ms since the epoch (the machine's clock, as Postgres's) */
  at: number;
  api: string;
  /** false: no answer (refused, timed out, an error status) */
  ok: boolean;
  routed?: boolean;
  failSafe?: boolean;
  /** the operation's version and percent as the process serves them */
  version?: number;
  percent?: number;
}

export interface FlagWatch {
  samples: FlagSample[];
  stop(): Promise<void>;
}

/** Samples every API process's cached view of `operation` every `intervalMs` until stopped. */
export function watchFlagCaches(stack: ChaosStack, operation: string, intervalMs = 200): FlagWatch {
  const samples: FlagSample[] = [];
  let stopping = false;
  const loop = async (api: ChaosStack['service']['apis'][number]): Promise<void> => {
    while (!stopping) {
      const t0 = performance.now();
      const at = Date.now();
      try {
        const res = await fetch(`${api.url}/v1/flags/cache`, {
          headers: { authorization: `Bearer ${stack.admin}` },
          signal: AbortSignal.timeout(5_000),
        });
        if (!res.ok) samples.push({ at, api: api.name, ok: false });
        else {
          const body = (await res.json()) as {
            routed: boolean;
            failSafe: boolean;
            flags: { operation: string; percent: number; version: number }[];
          };
          const f = body.flags.find((x) => x.operation === operation);
          samples.push({
            at,
            api: api.name,
            ok: true,
            routed: body.routed,
            failSafe: body.failSafe,
            version: f?.version,
            percent: f?.percent,
          });
        }
      } catch {
        samples.push({ at, api: api.name, ok: false });
      }
      await new Promise((r) => setTimeout(r, Math.max(0, intervalMs - (performance.now() - t0))));
    }
  };
  const loops = stack.service.apis.map((a) => loop(a));
  return {
    samples,
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
    },
  };
}

/** Each process's changes of state over the samples (s since `t0`): for a post-mortem line. */
export function flagTimeline(samples: FlagSample[], t0: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const api of [...new Set(samples.map((s) => s.api))].sort()) {
    const lines: string[] = [];
    let last = '';
    for (const s of samples.filter((x) => x.api === api).sort((a, b) => a.at - b.at)) {
      const state = !s.ok ? 'no answer' : s.failSafe ? 'fail-safe' : `v${s.version ?? '-'}=${s.percent ?? '-'}%`;
      if (state !== last) lines.push(`${((s.at - t0) / 1000).toFixed(1)} ${state}`);
      last = state;
    }
    out[api] = lines;
  }
  return out;
}

export interface FlagChange {
  version: number;
  percent: number;
  /** commit time, ms since the epoch (Postgres's clock) */
  at: number;
}

/** The operation's changes as committed, oldest first. */
export async function flagChanges(stack: ChaosStack, operation: string): Promise<FlagChange[]> {
  const { rows } = await stack.db.query<{ version: string; percent: number | null; at: Date }>(
    `SELECT version, (new->>'percent')::int AS percent, at FROM flag_audit WHERE operation = $1 ORDER BY version`,
    [operation],
  );
  return rows.map((r) => ({ version: Number(r.version), percent: r.percent ?? 0, at: r.at.getTime() }));
}

export interface ProcessStaleness {
  api: string;
  samples: number;
  unanswered: number;
  /** the longest a served percent lagged a committed change, s (fail-safe samples excluded) */
  worstStaleS: number;
  /** the longest run of fail-safe samples (every flag at 0 %), s */
  failSafeS: number;
  /** from `since` until this process served the newest change, not fail-safe; null: never */
  caughtUpS: number | null;
}

/**
 * Each process's staleness over the samples: a sample lags from the commit of the first change it
 * has not applied until the sample. `since` (e.g. the heal): how long after it the process first
 * served the newest change committed by then.
 */
export function flagStaleness(samples: FlagSample[], changes: FlagChange[], since: number): ProcessStaleness[] {
  const apis = [...new Set(samples.map((s) => s.api))].sort();
  return apis.map((api) => {
    const mine = samples.filter((s) => s.api === api).sort((a, b) => a.at - b.at);
    let worst = 0;
    let failSafe = 0;
    let runStart: number | null = null;
    let caughtUp: number | null = null;
    for (const s of mine) {
      if (!s.ok) continue;
      // fail-safe, or no value yet (before the cache's first read the router sends everyone to
      // approach 1): fail closed, not an older percent
      if (s.failSafe || s.version === undefined) {
        runStart ??= s.at;
        failSafe = Math.max(failSafe, s.at - runStart);
        continue;
      }
      runStart = null;
      const missed = changes.filter((c) => c.at <= s.at && c.version > (s.version ?? 0));
      if (missed.length > 0) worst = Math.max(worst, s.at - Math.min(...missed.map((c) => c.at)));
      else if (caughtUp === null && s.at >= since) caughtUp = s.at - since;
    }
    return {
      api,
      samples: mine.length,
      unanswered: mine.filter((s) => !s.ok).length,
      worstStaleS: worst / 1000,
      failSafeS: failSafe / 1000,
      caughtUpS: caughtUp === null ? null : caughtUp / 1000,
    };
  });
}
