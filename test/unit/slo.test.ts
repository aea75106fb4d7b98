import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parse as parseYaml } from 'yaml';
import { recommendSlo, renderSloMarkdown, renderSlothYaml } from '../../lib/baseline/slo.js';
import type { BaselineSample } from '../../lib/baseline/csv.js';

const samples = (
  successRates: number[],
  p95s: (number | null)[] = successRates.map(() => 40),
  p99s: (number | null)[] = successRates.map(() => 80),
): BaselineSample[] =>
  successRates.map((s, i) => ({
    sampleNum: i + 1,
    timestamp: 1_763_900_000 + i * 600,
    values: { http_success_rate: s, error_rate: 1 - s, p95_latency: p95s[i], p99_latency: p99s[i], request_rate: 80 },
  }));

test('availability objective sits below the observed success rate with twice the observed errors as budget', () => {
  const rec = recommendSlo(samples([0.9985, 0.999, 0.9988]));
  const a = rec.targets.find((t) => t.kind === 'availability')!;
  assert.ok(a.objective / 100 < a.observed, `${a.objective} vs ${a.observed}`);
  // observed error ≈ 0.12%: 99.9 leaves 0.1% (< 2×), 99.5 leaves 0.5% (≥ 2×)
  assert.equal(a.objective, 99.5);
  assert.ok(a.errorBudget.fraction >= 2 * (1 - a.observed));
  assert.equal(a.errorBudget.periodDays, 30);
  assert.equal(a.errorBudget.minutesPerPeriod, 216); // 0.5% of 30 days
  assert.equal(a.errorBudget.operationsPerPeriod, Math.floor(0.005 * 80 * 30 * 86400));
});

test('latency targets take the worst window with headroom, snapped up to a histogram bucket', () => {
  const rec = recommendSlo(samples([1, 1, 1], [38, 43, 41], [70, 90, 95]), { latencyHeadroom: 0.2 });
  const p95 = rec.targets.find((t) => t.name === 'requests-latency-p95')!;
  const p99 = rec.targets.find((t) => t.name === 'requests-latency-p99')!;
  assert.equal(p95.observed, 43);
  assert.equal(p95.thresholdMs, 100); // 43 × 1.2 = 51.6 → bucket 0.1 s
  assert.equal(p95.objective, 95);
  assert.equal(p99.thresholdMs, 250); // 95 × 1.2 = 114 → bucket 0.25 s
  assert.equal(p99.objective, 99);
  assert.match(p95.reasoning, /43\.0 ms/);
});

test('missing data yields notes instead of invented targets', () => {
  const rec = recommendSlo(samples([0.999], [null], [null]));
  assert.ok(!rec.targets.some((t) => t.kind === 'latency'));
  assert.equal(rec.notes.length, 2);
  const none = recommendSlo([]);
  assert.equal(none.targets.length, 0);
  assert.match(renderSloMarkdown(none), /Not recommended/);
});

test('the Sloth spec is valid YAML in prometheus/v1 form with error/total queries over our metrics', () => {
  const rec = recommendSlo(samples([0.999, 0.9995]), { service: 'sgc', matchers: 'approach="pooled"' });
  const doc = parseYaml(renderSlothYaml(rec)) as {
    version: string;
    service: string;
    slos: {
      name: string;
      objective: number;
      sli: { events: { error_query: string; total_query: string } };
      alerting: { name: string };
    }[];
  };
  assert.equal(doc.version, 'prometheus/v1');
  assert.equal(doc.service, 'sgc');
  assert.deepEqual(
    doc.slos.map((s) => s.name),
    ['requests-availability', 'requests-latency-p95', 'requests-latency-p99'],
  );
  const [avail, p95] = doc.slos;
  assert.equal(avail.objective, 99.5, 'observed error 0.075%: 99.9 would leave less than twice that');
  assert.equal(
    avail.sli.events.error_query,
    'sum(rate(gitops_operations_total{approach="pooled",error_category!="none"}[{{.window}}]))',
  );
  assert.equal(avail.sli.events.total_query, 'sum(rate(gitops_operations_total{approach="pooled"}[{{.window}}]))');
  assert.match(
    p95.sli.events.error_query,
    /gitops_operation_duration_seconds_bucket\{approach="pooled",le="0\.05"\}\[\{\{\.window\}\}\]/,
  );
  for (const s of doc.slos) {
    assert.match(s.name, /^[a-z0-9-]+$/);
    assert.ok(s.objective > 0 && s.objective < 100);
    assert.ok(s.alerting.name.length > 0);
  }
});

test('markdown lists each target with its reasoning and budget', () => {
  const md = renderSloMarkdown(recommendSlo(samples([0.999, 0.999])));
  assert.match(md, /\| requests-availability \| 99\.5% \|/);
  assert.match(md, /## Reasoning/);
  assert.match(md, /per 30 days/);
});
