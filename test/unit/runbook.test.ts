import { describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { parseConfig } from '../../lib/config/index.js';
import { percentText, renderRunbook } from '../../lib/runbook/render.js';

const API = 'http://127.0.0.1:8080';

function section(md: string, heading: string): string {
  const start = md.indexOf(`## ${heading}`);
  assert.ok(start >= 0, `section ${heading} missing`);
  const end = md.indexOf('\n## ', start + 3);
  return md.slice(start, end === -1 ? undefined : end);
}

describe('rollback runbook', () => {
  test('percentText prints thresholds without float noise', () => {
    expect([percentText(0.05), percentText(0.9999), percentText(0.07), percentText(1)]).toEqual([
      '5%',
      '99.99%',
      '7%',
      '100%',
    ]);
  });

  test("with the defaults it names seed 002's triggers: error rate above 5%, P95 above 2×, consistency below 99.99%", () => {
    const md = renderRunbook(parseConfig({}), { apiUrl: API });
    const triggers = section(md, 'Automatic rollback triggers');
    assert.match(
      triggers,
      /\| error_rate \| approach-2 error rate \(conflicts excluded\) above 5%; windows with fewer than 20 /,
    );
    assert.match(triggers, /\| p95_latency \| approach-2 P95 above 2× approach-1 P95/);
    assert.match(triggers, /\| consistency \| .* below 99\.99% \|/);
    assert.match(
      triggers,
      /analysed every 5 min over a window of 5 min\. A trigger that breaches in 2 consecutive analyses/,
    );
    // the live PromQL, not a paraphrase
    assert.ok(triggers.includes('gitops_reconciliation_divergence_ratio'));
  });

  test('the thresholds in the text follow the configuration, and the old values are gone', () => {
    const config = parseConfig({
      canary: {
        thresholds: { errorRate: 0.07, p95Ratio: 3.5, consistency: 0.995, minOperations: 50, minLatencyOperations: 40 },
        consecutiveBreaches: 4,
        analysisIntervalSeconds: 60,
        switchTimeoutMs: 9000,
      },
      queries: { 'canary.consistency': '1 - max(my_divergence_metric)' },
      temporal: { address: 'temporal.example:7233', namespace: 'prod' },
      schedules: { rollbackDrillCron: '15 4 * * 2' },
    });
    const md = renderRunbook(config, { apiUrl: 'https://sgc.example/' });
    const triggers = section(md, 'Automatic rollback triggers');
    assert.match(triggers, /above 7%; windows with fewer than 50 approach-2 operations/);
    assert.match(triggers, /above 3\.5× approach-1 P95/);
    assert.match(triggers, /a P95 over fewer than 40 operations is too few to judge/);
    assert.match(triggers, /below 99\.5% \|/);
    assert.match(triggers, /breaches in 4 consecutive analyses/);
    assert.match(triggers, /analysed every 1 min/);
    assert.ok(triggers.includes('`1 - max(my_divergence_metric)`'), 'the overridden query is the one shown');
    for (const old of ['above 5%', '2×', '99.99%', 'fewer than 20 '])
      assert.ok(!triggers.includes(old), `default "${old}" still in the triggers`);
    assert.match(
      md,
      /temporal workflow signal --address temporal\.example:7233 --namespace prod --workflow-id canary-<id> --name rollback/,
    );
    assert.ok(md.includes('https://sgc.example/v1/flags/kill'), 'curl uses the API address without a double slash');
    assert.match(md, /waits up to 9000 ms/);
    assert.match(section(md, 'Drill'), /`15 4 \* \* 2`/);
  });

  test('names the roles, every way to roll back, the latch and how to verify', () => {
    const md = renderRunbook(parseConfig({}), { apiUrl: API });
    const roles = section(md, 'Roles');
    assert.match(roles, /\| Migration lead \| `operator` \|/);
    assert.match(roles, /\| Rollback authority \| `admin` \|/);
    assert.match(roles, /\| On-call \|/);
    const rollback = section(md, 'Roll back a rollout (operator)');
    assert.ok(rollback.includes('npm run cli -- rollout rollback <id> --reason "<why>"'));
    assert.ok(rollback.includes(`${API}/v1/rollouts/<id>/rollback`));
    const kill = section(md, 'Kill switch (admin)');
    assert.ok(kill.includes('npm run cli -- flags kill --reason "<why>"'));
    assert.ok(kill.includes('npm run cli -- flags unlatch --reason'));
    assert.match(kill, /\*\*latches\*\*/);
    assert.match(section(md, 'Verify'), /flags list[\s\S]*latched": true[\s\S]*flags audit/);
  });

  test('a TLS or API-key Temporal gets the flags its CLI needs, with the key from the environment only', () => {
    const md = renderRunbook(parseConfig({ temporal: { tls: { enabled: true }, apiKey: 'secret-key-value' } }), {
      apiUrl: API,
    });
    assert.match(md, /--tls --api-key "\$TEMPORAL_API_KEY"/);
    assert.ok(!md.includes('secret-key-value'));
  });
});
