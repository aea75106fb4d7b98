import { log, proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { CanaryActivities, ReconcileSummary } from '../../activities/canary.js';
import { DEFAULT_RECONCILIATION } from '../../lib/canary/defaults.js';
import { sgcPhaseKey, sgcStageKey } from '../search-attributes.js';

export interface ReconciliationInput {
  /** two sides' last updates further apart than this are lag (default 60 s) */
  lagThresholdSeconds?: number;
  /** workspaces created this soon after dual-write started are not expected on both sides (default 5 s) */
  switchGraceSeconds?: number;
}

export type ReconciliationResult = ReconcileSummary;

const { reconcileDualWrite } = proxyActivities<CanaryActivities>({
  startToCloseTimeout: '2 minutes',
  // The next Schedule run comes within 5 minutes anyway: a few quick retries ride out a Postgres
  // blip without overlapping it.
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 3 },
});

/**
 * One dual-write reconciliation (seed 002 step 4, issue 4 part 3), started by a Schedule every
 * 5 minutes: compares the two approaches' workspace records of the dual-write windows (missing on
 * one side, status mismatch, update lag) and sets `gitops_reconciliation_divergence_ratio` in the
 * phases worker that ran it — Prometheus scrapes it there, the ReconciliationDivergence alert
 * and the canary's consistency trigger read it. Listed as SgcPhase=maintenance,
 * SgcStage=reconciliation.
 */
export async function reconciliationWorkflow(input: ReconciliationInput = {}): Promise<ReconciliationResult> {
  upsertSearchAttributes([
    { key: sgcPhaseKey, value: 'maintenance' },
    { key: sgcStageKey, value: 'reconciliation' },
  ]);
  const summary = await reconcileDualWrite({
    // "now" is taken once, here, so a retried attempt judges the same moment
    now: new Date(Date.now()).toISOString(),
    lagThresholdMs: (input.lagThresholdSeconds ?? DEFAULT_RECONCILIATION.lagThresholdSeconds) * 1000,
    switchGraceMs: (input.switchGraceSeconds ?? DEFAULT_RECONCILIATION.switchGraceSeconds) * 1000,
  });
  log.info('reconciliation done', {
    checked: summary.checked,
    divergent: summary.divergent,
    ratio: summary.ratio,
    pending: summary.pending,
  });
  return summary;
}
