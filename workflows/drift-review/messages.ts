/** Messages of driftReviewWorkflow. Callers use these definitions, never the string names. */
import { defineQuery } from '@temporalio/workflow';
import type { DriftSample } from '../../lib/drift/verdict.js';

export type DriftStage = 't0' | 'sampling' | 'verdict' | 'done';

export interface DriftStatus {
  reviewId: string;
  stage: DriftStage;
  /** T0, unix seconds */
  t0At: number | null;
  /** periodic samples taken (n of N) */
  sampleNum: number;
  samplesTotal: number;
  lastSample: DriftSample | null;
  /** set at the end: "N/7 criteria met" and the criteria that failed or had no data */
  verdict: { passed: boolean; summary: string; failed: string[]; missing: string[] } | null;
}

export const driftStatusQuery = defineQuery<DriftStatus>('status');
