/**
 * The checks every rollout start passes (API `POST /v1/rollouts` and `rollout start` both call
 * startRollout → validateRolloutInput): an analysis window shorter than two Prometheus scrape
 * intervals could never hold data, so it is refused naming the scrape interval; a stage file is
 * held to the same bounds as the config.
 */
import { describe, expect, test } from '@jest/globals';
import { rolloutInput, validateRolloutInput } from '../../clients/canary.js';
import { canaryConfigSchema } from '../../lib/config/canary.js';
import { DomainError, ErrorType } from '../../lib/errors.js';

const defaults = canaryConfigSchema.parse({});

function refusal(o: Parameters<typeof rolloutInput>[1]): DomainError | null {
  try {
    validateRolloutInput(rolloutInput(defaults, o));
    return null;
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
}

describe('validateRolloutInput', () => {
  test('--interval 5 with a 5 s scrape is refused, naming the scrape interval; 10 s is accepted', () => {
    const e = refusal({ analysisIntervalSeconds: 5 });
    expect(e?.type).toBe(ErrorType.Validation);
    expect(e?.message).toMatch(
      /analysisIntervalSeconds 5 s is shorter than two Prometheus scrape intervals \(scrape interval 5 s/,
    );
    expect(e?.details).toEqual({ field: 'analysisIntervalSeconds' });
    expect(refusal({ analysisIntervalSeconds: 10 })).toBeNull();
    expect(refusal({})).toBeNull();
  });

  test('an explicit window is judged instead of the interval', () => {
    expect(refusal({ analysisIntervalSeconds: 60, analysisWindowSeconds: 8 })?.message).toMatch(
      /^analysisWindowSeconds 8 s/,
    );
  });

  test('a stage file out of bounds is refused with the stage named', () => {
    const e = refusal({
      stages: [{ name: 'cutover', mode: 'cutover', percent: 50, shadow: true, holdSeconds: 1 }],
    });
    expect(e?.message).toMatch(/^stages: stage 1: mode cutover serves 100% from approach 2, got 50%/);
  });
});
