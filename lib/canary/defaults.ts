/**
 * Defaults of the canary phase's side jobs: the kill switch's wait, the dual-write
 * reconciliation and the weekly rollback drill. Pure constants, so the config schema
 * (lib/config/canary.ts) and the workflows' fallbacks for inputs that omit a field read the
 * same value. The rollout plan's own defaults (stages, analysis cadence, thresholds) are in
 * lib/canary/analysis.ts beside the rules that use them.
 */

/** How long a rollback (or a drill flip) waits for every flag-caching process to acknowledge. */
export const DEFAULT_SWITCH_TIMEOUT_MS = 5_000;

export const DEFAULT_RECONCILIATION = {
  /** The two sides' last updates further apart than this are lag (and a missing copy older than this is missing). */
  lagThresholdSeconds: 60,
  /** Workspaces created this soon after dual-write started are not expected on both sides. */
  switchGraceSeconds: 5,
} as const;

export const DEFAULT_DRILL = {
  /** Seed 002 step 5: "flip flag on/off every 30s for 5 mins". */
  flipEverySeconds: 30,
  durationSeconds: 300,
  /** Issue 4: every flip must take effect in under a second. */
  switchBoundMs: 1_000,
  /** "On" when no flag is on yet (before a rollout): this percent, with shadow. */
  onPercent: 10,
  /** Synthetic agents routed during the drill. */
  agents: 200,
  /** A sandbox in use without activity for longer is stuck (the pool TTL, seed 004). */
  stuckInUseSeconds: 3_600,
} as const;
