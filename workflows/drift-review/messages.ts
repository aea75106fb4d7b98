/** Messages of driftReviewWorkflow. Callers use these definitions, never the string names. */
import { defineQuery } from '@temporalio/workflow';
import type { DriftSampleSet } from '../../lib/drift/review.js';

export type DriftStage = 't0' | 'sampling' | 'verdict' | 'done';

export interface DriftStatus {
  reviewId: string;
  stage: DriftStage;
  /** T0, unix seconds */
  t0At: number | null;
  /** periodic samples taken (n of N) */
  sampleNum: number;
  samplesTotal: number;
  /** every process's values at the last sample, by process name */
  lastSample: DriftSampleSet | null;
  /**
   * Set at the end: overall PASS/FAIL, provisional or full, and per process "N/7 criteria met";
   * failed / missing criteria as `process:criterion`.
   */
  verdict: {
    passed: boolean;
    mode: 'provisional' | 'full';
    summary: string;
    failed: string[];
    missing: string[];
    failedProcesses: string[];
    processes: { name: string; passed: boolean; summary: string }[];
  } | null;
}

export const driftStatusQuery = defineQuery<DriftStatus>('status');
