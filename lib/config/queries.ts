import { z } from 'zod';
import { VALIDATION_QUERIES } from '../validation/queries.js';
import { CANARY_QUERIES } from '../canary/queries.js';
import { BASELINE_QUERIES } from '../baseline/queries.js';
import { DRIFT_QUERIES } from '../drift/queries.js';

/**
 * Named PromQL queries. Every query a workflow runs has a default here and can be overridden in
 * temporal.yaml (`queries.<name>`) or per run, so the phases can watch any service.
 * Names are prefixed by phase (`validation.p95_seconds`, `canary.error_rate`, …).
 */
export const DEFAULT_QUERIES: Record<string, string> = {
  ...VALIDATION_QUERIES,
  ...CANARY_QUERIES,
  ...BASELINE_QUERIES,
  ...DRIFT_QUERIES,
};

export const queriesSchema = z
  .record(z.string(), z.string().min(1, 'PromQL must not be empty'))
  .default({})
  .transform((overrides) => ({ ...DEFAULT_QUERIES, ...overrides }));
