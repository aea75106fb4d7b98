import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  evaluateBreaker,
  evaluateBreakerOnLastWindow,
  DEFAULT_BREAKER_THRESHOLDS,
  SlidingBreaker,
} from '../../lib/baseline/breaker.js';
import type { BaselineSample } from '../../lib/baseline/csv.js';

const sample = (n: number, error_rate: number | null, effective_fallback_ratio: number | null): BaselineSample => ({
  sampleNum: n,
  timestamp: 1_700_000_000 + n * 600,
  values: { error_rate, effective_fallback_ratio, request_rate: 80 },
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
  assert.deepEqual(
    both.checks.map((c) => c.status),
    ['na', 'na'],
  );
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

describe('the live (sliding-window) breaker', () => {
  const opts = { ...DEFAULT_BREAKER_THRESHOLDS, windowSeconds: 60, minRequests: 20 };

  test('trips at the first tick whose last 60 s exceed 2 % errors, naming when the failures began', () => {
    const b = new SlidingBreaker(opts);
    let t = 0;
    for (let i = 0; i < 30; i++) assert.equal(b.observeRequests((t += 1000), 50, 0), null);
    // 1,500 good requests in the span: 31 failures are needed to pass 2 %
    assert.equal(b.observeRequests((t += 1000), 50, 20, t - 1000), null);
    const trip = b.observeRequests((t += 1000), 50, 20, t - 1000);
    assert.ok(trip);
    assert.equal(trip.rule, 'error_rate');
    assert.ok(trip.value > 0.02);
    assert.equal(trip.firstFailureAt, 30_000);
    assert.equal(trip.detectedAt, 32_000);
    assert.match(trip.reason, /over the last 60 s/);
  });

  test('old failures leave the window: errors more than 60 s ago do not trip a healthy minute', () => {
    const b = new SlidingBreaker(opts);
    assert.equal(b.observeRequests(1_000, 10, 2), null, 'below minRequests: not judged');
    // a quiet minute, then healthy traffic: the early failures are outside the span
    assert.equal(b.observeRequests(62_000, 0, 0), null);
    assert.equal(b.observeRequests(63_000, 40, 0), null);
    assert.equal(b.tripped, null);
    // the same failures inside the span would have tripped
    const inside = new SlidingBreaker(opts);
    inside.observeRequests(1_000, 10, 2);
    assert.ok(inside.observeRequests(30_000, 40, 0));
  });

  test('exactly 2 % does not trip; too few requests are not judged', () => {
    const b = new SlidingBreaker(opts);
    assert.equal(b.observeRequests(1_000, 100, 2), null);
    const small = new SlidingBreaker(opts);
    assert.equal(small.observeRequests(1_000, 10, 10), null);
  });

  test('a server-side effective fallback above 8 % trips; null readings are neutral', () => {
    const b = new SlidingBreaker(opts);
    assert.equal(b.observeServer(1_000, { error_rate: null, effective_fallback_ratio: null }), null);
    assert.equal(b.observeServer(2_000, { effective_fallback_ratio: 0.08 }), null);
    const trip = b.observeServer(3_000, { effective_fallback_ratio: 0.12 });
    assert.equal(trip?.rule, 'effective_fallback_ratio');
    assert.equal(b.observeRequests(4_000, 100, 0), trip, 'once tripped it stays tripped');
  });
});
