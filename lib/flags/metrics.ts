/**
 * The flags' stored state as metrics, refreshed by the API just before each scrape of its
 * /metrics: percent, shadow and the shadow share per flag, the kill latch, and how many rollback events each source
 * (kill | rollback | auto | drill) has recorded. Read from Postgres, so a kill made anywhere — the
 * API, the console, the CLI, a rollout, the drill — shows, and the dashboard draws kill switches
 * and rollbacks as annotations where `gitops_rollback_events` steps up.
 */
import type { Metrics } from '../metrics.js';
import type { FlagStore } from './store.js';

export type FlagStateMetrics = Pick<
  Metrics,
  'flagPercent' | 'flagShadow' | 'flagShadowPercent' | 'killLatched' | 'rollbackEvents'
>;

/** Reads the state and sets the gauges; a failed or slow read leaves the last values (and says so). */
export async function refreshFlagMetrics(
  m: FlagStateMetrics,
  store: Pick<FlagStore, 'list' | 'latch' | 'rollbackEventCounts'>,
  timeoutMs = 1_000,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_res, rej) => {
    timer = setTimeout(() => rej(new Error(`flag state not read within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const [flags, latch, counts] = await Promise.race([
      Promise.all([store.list(), store.latch(), store.rollbackEventCounts()]),
      timeout,
    ]);
    for (const f of flags) {
      m.flagPercent.labels(f.operation).set(f.percent);
      m.flagShadow.labels(f.operation).set(f.shadow ? 1 : 0);
      m.flagShadowPercent.labels(f.operation).set(f.shadowPercent);
    }
    m.killLatched.set(latch.latched ? 1 : 0);
    for (const [source, n] of Object.entries(counts)) m.rollbackEvents.labels(source).set(n);
  } finally {
    clearTimeout(timer);
  }
}
