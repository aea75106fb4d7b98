/**
 * Messages of productionBaselineWorkflow. Callers (API, CLI, tests) use these definitions, never
 * the string names.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

export type BaselineStage =
  | 'preflight'
  | 'environment'
  | 'warmup'
  | 'baseline'
  | 'report'
  | 'day2-wait'
  | 'extended'
  | 'fallback'
  | 'finalize'
  | 'done';

export type SamplePhase = 'warmup' | 'baseline' | 'extended' | 'fallback';

export type BaselineRunStatus = 'running' | 'tripped' | 'cancelled' | 'failed' | 'done';

export interface BreakerState {
  /** ok: the last window was within limits; tripped: the run stopped on it; na: no data yet */
  state: 'ok' | 'tripped' | 'na';
  reason: string;
  rule?: string;
  value?: number;
  threshold?: number;
}

export interface BaselineStatus {
  runId: string;
  stage: BaselineStage;
  status: BaselineRunStatus;
  /** the sampled phase running now, or the last one */
  phase: SamplePhase | null;
  /** samples completed in `phase` (sample n of N) */
  sampleNum: number;
  samplesTotal: number;
  lastSample: {
    phase: SamplePhase;
    sampleNum: number;
    timestamp: number;
    values: Record<string, number | null>;
  } | null;
  breaker: BreakerState;
  /** go | no-go once judged; tripped when the breaker stopped the run */
  decision: 'go' | 'no-go' | 'tripped' | null;
  /** unix seconds when day 2 starts, while waiting for it */
  day2At: number | null;
  reportIds: string[];
}

/** Phase, sample n of N, last sample, breaker state. */
export const statusQuery = defineQuery<BaselineStatus>('status');

/**
 * Stops the run: the load in flight is cancelled, a partial summary is written, and the run
 * ends with outcome `cancelled` (workflow cancellation does the same, and ends as Cancelled).
 */
export const cancelSignal = defineSignal<[{ reason?: string }]>('cancel');
