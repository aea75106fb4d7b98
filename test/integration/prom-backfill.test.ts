import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startPrometheus, backfillWindow, type PrometheusHandle } from '../helpers/prometheus.js';
import {
  openMetricsText,
  bucketFractionsForQuantile,
  histogramQuantile,
  DEFAULT_DURATION_BUCKETS,
  DEFAULT_OPERATION_MIX,
  type HourContext,
  type ProfilePoint,
} from '../../lib/prom/openmetrics.js';
import { PromClient, substituteQuery } from '../../lib/prom/client.js';
import { VALIDATION_QUERIES } from '../../lib/validation/queries.js';
import { collectDaySnapshot } from '../../lib/validation/collect.js';
import { defaultValidationConfig } from '../../lib/config/validation.js';
import type { DaySnapshot } from '../../lib/validation/types.js';

// Two days of synthetic history with a working-hours shape, one gap hour on day 1, backfilled
// into a real Prometheus; the default validation queries must give the profile back.
const config = defaultValidationConfig();
const window = backfillWindow(48);
const GAP_HOUR_INDEX = 5; // the 6th hour of the window (day 1) has no samples at all

function profile(h: HourContext): ProfilePoint | null {
  if (h.hourIndex === GAP_HOUR_INDEX) return null;
  const busy = h.hourOfDay >= 9 && h.hourOfDay < 18;
  return {
    opsPerMin: busy ? 40 + h.day * 5 : 8,
    errorRate: h.hourOfDay === 14 ? 0.08 : 0.01,
    p95Seconds: h.hourOfDay >= 10 && h.hourOfDay < 13 ? 2.6 : 0.9,
    concurrency: busy ? 6 + (h.hourOfDay % 4) : 1,
    costPerOp: 0.01 + 0.005 * h.day,
    poolHitRatio: 0.6,
    sandboxesRunning: busy ? 6 + (h.hourOfDay % 4) : 1,
    sandboxLimit: 20,
    recoverySeconds: 4,
  };
}

/** Profile of the hour whose point is at `t` (the hour ending at t). */
function hourEnding(t: number): ProfilePoint | null {
  const start = t - 3600;
  const base = Math.floor(window.start / 3600) * 3600;
  return profile({
    t: start,
    hourIndex: (start - base) / 3600,
    hourOfDay: Math.floor((start % 86_400) / 3600),
    day: Math.floor((start - base) / 86_400),
  });
}

const close = (actual: number | null, expected: number, rel: number, what: string): void => {
  assert.ok(actual !== null, `${what}: no data`);
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected) + 1e-9, `${what}: ${actual} vs ${expected}`);
};

let prom: PrometheusHandle;
let omText: string;
let client: PromClient;
let day1: DaySnapshot;
let day2: DaySnapshot;

beforeAll(async () => {
  omText = openMetricsText({ start: window.start, end: window.end, profile });
  prom = await startPrometheus({ openMetrics: omText });
  client = new PromClient({ url: prom.url, timeoutMs: 10_000 });
  day1 = await collectDaySnapshot(client, { day: 1, start: window.start, queries: VALIDATION_QUERIES, config });
  day2 = await collectDaySnapshot(client, {
    day: 2,
    start: window.start + 86_400,
    queries: VALIDATION_QUERIES,
    config,
  });
});

afterAll(async () => {
  await prom?.stop();
});

describe('validation queries against a backfilled Prometheus', () => {
  test('the generated OpenMetrics is backfillable: seconds timestamps, each series in time order, # EOF last', () => {
    const lines = omText.trimEnd().split('\n');
    assert.equal(lines[lines.length - 1], '# EOF');
    const last = new Map<string, number>();
    for (const line of lines) {
      if (line.startsWith('#')) continue;
      const m = line.match(/^(\S+(?:\{.*\})?) (\S+) (\d+)$/);
      assert.ok(m, `malformed line: ${line}`);
      const t = Number(m[3]);
      assert.ok(t >= window.start && t <= window.end, `timestamp ${t} outside the window (seconds expected)`);
      assert.ok(t > (last.get(m[1]) ?? -1), `series ${m[1]} not in time order at ${t}`);
      last.set(m[1], t);
    }
    assert.ok(last.size > 100);
  });

  test('hourly throughput, cost per operation, error rate and P95 match the profile hour by hour', () => {
    let checked = 0;
    for (const p of [...day1.hourly, ...day2.hourly]) {
      const want = hourEnding(p.t);
      if (want === null) continue;
      // 1e-3: the hour after the gap reads 3600/3599 of its rate (anchor one second after the gap)
      close(p.opsPerMin, want.opsPerMin, 1e-3, `opsPerMin at ${p.t}`);
      close(p.costPerOp, want.costPerOp as number, 1e-6, `costPerOp at ${p.t}`);
      close(p.errorRate, want.errorRate as number, 1e-6, `errorRate at ${p.t}`);
      close(p.p95Seconds, want.p95Seconds as number, 1e-3, `p95 at ${p.t}`);
      checked++;
    }
    assert.equal(checked, 47);
  });

  test("hourly peak concurrency is the hour's value (or the previous hour's boundary sample, never less)", () => {
    for (const p of day2.hourly) {
      const want = hourEnding(p.t) as ProfilePoint;
      const prev = hourEnding(p.t - 3600);
      const hi = Math.max(want.concurrency as number, (prev?.concurrency as number | undefined) ?? 0);
      assert.ok(
        p.peakConcurrency !== null && p.peakConcurrency >= (want.concurrency as number) && p.peakConcurrency <= hi,
        `peak at ${p.t}: ${p.peakConcurrency}`,
      );
    }
  });

  test('the gap hour is no data, not zero', () => {
    const gaps = [...day1.hourly, ...day2.hourly].filter((p) => hourEnding(p.t) === null);
    assert.equal(gaps.length, 1);
    const gap = gaps[0];
    assert.equal(gap.opsPerMin, null);
    assert.equal(gap.costPerOp, null);
    assert.equal(gap.errorRate, null);
  });

  test('day aggregates match the profile: operations, cost, error rate, throughput, distribution', () => {
    const hours = Array.from({ length: 24 }, (_, i) => hourEnding(day2.start + (i + 1) * 3600) as ProfilePoint);
    const ops = hours.reduce((s, h) => s + h.opsPerMin * 60, 0);
    const cost = hours.reduce((s, h) => s + h.opsPerMin * 60 * (h.costPerOp as number), 0);
    const errors = hours.reduce((s, h) => s + h.opsPerMin * 60 * (h.errorRate as number), 0);
    const a = day2.aggregates;
    close(a.operations, ops, 1e-6, 'operations');
    close(a.costDollars, cost, 1e-6, 'cost');
    close(a.costPerOp, cost / ops, 1e-6, 'cost/op');
    close(a.errorRate, errors / ops, 1e-6, 'error rate');
    close(a.errorRateByCategory.network, (errors / ops) * 0.4, 1e-6, 'network error rate');
    close(a.errorRateByCategory.auth, (errors / ops) * 0.1, 1e-6, 'auth error rate');
    assert.equal(a.errorRateByCategory.rate_limit, 0, 'no rate-limit errors is a real 0');
    assert.equal(a.rateLimitedOperations, 0);
    close(a.throughputOpsPerMin, ops / 1440, 1e-6, 'throughput');
    close(a.monthlyCost, cost * 30, 1e-6, 'monthly cost');
    for (const [op, share] of Object.entries(DEFAULT_OPERATION_MIX))
      close(a.operationDistribution?.[op] ?? null, share, 1e-6, `share of ${op}`);
  });

  test("day P95/P50 equal histogram_quantile over the day's mixed buckets", () => {
    const hours = Array.from({ length: 24 }, (_, i) => hourEnding(day2.start + (i + 1) * 3600) as ProfilePoint);
    const cum = DEFAULT_DURATION_BUCKETS.map(() => 0);
    let total = 0;
    for (const h of hours) {
      const f = bucketFractionsForQuantile(h.p95Seconds as number, 0.95, DEFAULT_DURATION_BUCKETS, 0.6);
      const n = h.opsPerMin * 60;
      f.forEach((x, i) => (cum[i] += n * x));
      total += n;
    }
    const norm = cum.map((c) => c / total);
    close(day2.aggregates.p95Seconds, histogramQuantile(0.95, DEFAULT_DURATION_BUCKETS, norm), 1e-3, 'day p95');
    close(day2.aggregates.p50Seconds, histogramQuantile(0.5, DEFAULT_DURATION_BUCKETS, norm), 1e-3, 'day p50');
    assert.ok((day2.aggregates.p99Seconds as number) > (day2.aggregates.p95Seconds as number));
  });

  test('peak concurrency, headroom, pool hit ratio and recovery time of the day', () => {
    const a = day2.aggregates;
    assert.equal(a.peakConcurrency, 9);
    close(a.rateLimitHeadroom, 1 - 9 / 20, 1e-9, 'headroom');
    close(a.poolHitRatio, 0.6, 1e-6, 'pool hit ratio');
    close(a.recoveryMeanSeconds, 4, 1e-6, 'recovery mean');
    assert.ok(a.recoveryP95Seconds !== null && a.recoveryP95Seconds > 2 && a.recoveryP95Seconds <= 5);
  });

  test('a window with no data answers "no data", never 0', async () => {
    const before = window.start - 10 * 86_400;
    for (const name of [
      'validation.cost_per_operation',
      'validation.throughput_ops_per_min',
      'validation.error_rate',
      'validation.peak_concurrency',
    ]) {
      const s = await client.queryScalar(
        substituteQuery(VALIDATION_QUERIES[name], { window: '1h', subquery_step: '1m' }),
        before,
      );
      assert.deepEqual(s, { kind: 'nodata', reason: 'empty' }, name);
    }
    const r = await client.queryRange(
      substituteQuery(VALIDATION_QUERIES['validation.throughput_ops_per_min'], { window: '1h' }),
      before - 86_400,
      before,
      3600,
    );
    assert.deepEqual(r.series, []);
  });

  test('a bad query against the real server is a non-retryable PromBadQuery', async () => {
    await assert.rejects(client.query('sum(rate(gitops_operations_total[1h])', window.end), (e: unknown) => {
      const err = e as { type?: string; retryable?: boolean };
      return err.type === 'PromBadQuery' && err.retryable === false;
    });
  });

  test('the client counts the queries a day costs', () => {
    // 16 aggregates + 6 error categories + distribution + 6 hourly range queries, per day, plus the tests above
    assert.ok(client.queriesIssued >= 2 * 29, `issued ${client.queriesIssued}`);
  });
});

describe('the Prometheus helper in scrape mode', () => {
  test('scrapes a live target, and the validation queries read its gauges', async () => {
    const target = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end('# TYPE gitops_operations_in_flight gauge\ngitops_operations_in_flight{approach="simple"} 7\n');
    });
    await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
    const live = await startPrometheus({
      scrape: [{ job: 'sgc', targets: [`127.0.0.1:${(target.address() as AddressInfo).port}`], interval: '1s' }],
      scrapeInterval: '1s',
    });
    try {
      const c = new PromClient({ url: live.url });
      const q = substituteQuery(VALIDATION_QUERIES['validation.peak_concurrency'], {
        window: '10s',
        subquery_step: '1s',
      });
      let value: number | null = null;
      for (let i = 0; i < 100 && value === null; i++) {
        const s = await c.queryScalar(q);
        if (s.kind === 'value') value = s.value;
        else await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(value, 7);
    } finally {
      await live.stop();
      target.closeAllConnections();
      await new Promise<void>((r) => target.close(() => r()));
    }
  });
});
