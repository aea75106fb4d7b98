import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { evaluateBreaker, evaluateBreakerOnLastWindow, DEFAULT_BREAKER_THRESHOLDS } from '../../lib/baseline/breaker.js';
import type { BaselineSample } from '../../lib/baseline/csv.js';

const sample = (n: number, error_rate: number | null, effective_fallback_ratio: number | null): BaselineSample => ({
  sampleNum: n, timestamp: 1_700_000_000 + n * 600, values: { error_rate, effective_fallback_ratio, request_rate: 80 },
});

test('judges the last window only: a bad early window followed by good ones does not trip later', () => {
  const run = [sample(1, 0.1, 0.01), sample(2, 0.005, 0.01), sample(3, 0.005, 0.01)];
  // cumulative error over these windows is ~3.7%, above 2%: a cumulative breaker would trip
  const cumulative = run.reduce((a, s) => a + (s.values.error_rate ?? 0), 0) / run.length;
  assert.ok(cumulative > DEFAULT_BREAKER_THRESHOLDS.errorRateMax);
  assert.equal(evaluateBreakerOnLastWindow(run.slice(0, 1)).tripped, true);
  const later = evaluateBreakerOnLastWindow(run);
  assert.equal(later.tripped, false);
  assert.equal(later.state, 'ok');
  assert.equal(later.sampleNum, 3);
});

test('trips on a fresh bad window after good ones and names the rule and value', () => {
  const d = evaluateBreakerOnLastWindow([sample(1, 0, 0), sample(2, 0, 0), sample(3, 0.031, 0)]);
  assert.equal(d.tripped, true);
  assert.equal(d.state, 'tripped');
  assert.equal(d.rule, 'error_rate');
  assert.equal(d.value, 0.031);
  assert.equal(d.threshold, 0.02);
  assert.match(d.reason, /error_rate 3\.10% > 2\.00% in sample 3/);
});

test('boundaries: exactly 2% error and 8% effective fallback do not trip, just above does', () => {
  assert.equal(evaluateBreaker({ error_rate: 0.02, effective_fallback_ratio: 0.08 }).state, 'ok');
  assert.equal(evaluateBreaker({ error_rate: 0.0201, effective_fallback_ratio: 0.08 }).rule, 'error_rate');
  const fb = evaluateBreaker({ error_rate: 0.02, effective_fallback_ratio: 0.0801 });
  assert.equal(fb.tripped, true);
  assert.equal(fb.rule, 'effective_fallback_ratio');
  assert.match(fb.reason, /effective_fallback_ratio 8\.01% > 8\.00%/);
});

test('NA is neutral: it never trips and never passes', () => {
  const both = evaluateBreaker(sample(4, null, null));
  assert.equal(both.tripped, false);
  assert.equal(both.state, 'na');
  assert.deepEqual(both.checks.map((c) => c.status), ['na', 'na']);
  const one = evaluateBreaker(sample(5, 0.001, null));
  assert.equal(one.tripped, false);
  assert.equal(one.state, 'na', 'one NA check keeps the window from counting as healthy');
  const tripsAnyway = evaluateBreaker(sample(6, null, 0.2));
  assert.equal(tripsAnyway.tripped, true, 'an NA error rate does not mask a fallback trip');
  assert.equal(evaluateBreakerOnLastWindow([]).state, 'na');
});

test('thresholds come from config', () => {
  const strict = { errorRateMax: 0.005, effectiveFallbackMax: 0.01 };
  assert.equal(evaluateBreaker({ error_rate: 0.006, effective_fallback_ratio: 0 }, strict).tripped, true);
  assert.equal(evaluateBreaker({ error_rate: 0.006, effective_fallback_ratio: 0 }).tripped, false);
});
