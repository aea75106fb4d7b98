/**
 * Issue 12 fault 4: an "hour" Prometheus holds no scrape for (it was stopped) is a gap in the
 * daily snapshot — every field null — and never a value carried over from before the outage.
 * Gauges read through a subquery (peak concurrency) see Prometheus's 5-minute lookback, which
 * would repeat the last value scraped before the outage into hours nothing was measured in.
 */
import { describe, expect, test } from '@jest/globals';
import { defaultValidationConfig } from '../../lib/config/validation.js';
import type { PromInstantResult, PromRangeResult } from '../../lib/prom/client.js';
import { collectDaySnapshot, type PromQuerier } from '../../lib/validation/collect.js';
import { VALIDATION_QUERIES } from '../../lib/validation/queries.js';

const RES = 4;
const START = 1_000_000;
const config = defaultValidationConfig({ dayLengthSeconds: 24, resolutionSeconds: RES, subqueryStepSeconds: 1 });
/** the outage: no scrape landed in the windows of these points */
const OUTAGE = new Set([START + 16, START + 20]);

/** Answers like Prometheus after an outage: rates have no point in it, lookback gauges do. */
const prom: PromQuerier = {
  async query(): Promise<PromInstantResult> {
    return { resultType: 'vector', series: [{ metric: {}, sample: { t: START + 24, value: 1 } }] };
  },
  async queryRange(promql, start, end, step): Promise<PromRangeResult> {
    const lookback = promql.includes('max_over_time(sum(gitops_operations_in_flight)');
    const samples = [];
    for (let t = start; t <= end; t += step) if (lookback || !OUTAGE.has(t)) samples.push({ t, value: 3 });
    return { resultType: 'matrix', series: [{ metric: {}, samples }] };
  },
};

describe('a daily snapshot across a Prometheus outage', () => {
  test('points without a scrape are null in every field (no value carried into the gap); the others keep theirs', async () => {
    const day = await collectDaySnapshot(prom, { day: 1, start: START, queries: VALIDATION_QUERIES, config });
    for (const p of day.hourly.filter((x) => OUTAGE.has(x.t)))
      expect(p).toEqual({
        t: p.t,
        opsPerMin: null,
        costPerOp: null,
        p95Seconds: null,
        errorRate: null,
        peakConcurrency: null,
        monthlyCost: null,
      });
    for (const p of day.hourly.filter((x) => !OUTAGE.has(x.t))) expect(p.peakConcurrency).toBe(3);
  });
});
