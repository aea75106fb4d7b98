import { describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../lib/config/index.js';
import { DATASOURCE_UID, dashboardQueries, grafanaDashboard, type Dashboard } from '../../lib/dashboard/grafana.js';

const FILE = 'monitoring/grafana/dashboards/sandbox-git-control.json';

function panel(d: Dashboard, title: string) {
  const p = d.panels.find((x) => x.title === title);
  assert.ok(p, `panel ${title}`);
  return p;
}

function thresholdOf(d: Dashboard, title: string): number {
  const steps =
    (panel(d, title).fieldConfig as { defaults: { thresholds?: { steps: { value: number | null }[] } } }).defaults
      .thresholds?.steps ?? [];
  const v = steps[steps.length - 1]?.value;
  assert.equal(typeof v, 'number', `${title} has a threshold`);
  return v as number;
}

describe('Grafana dashboard', () => {
  test("the committed JSON is the generator's output for the shipped defaults (regenerate with `npm run --silent cli -- dashboard > <file>`)", () => {
    const committed = JSON.parse(readFileSync(FILE, 'utf8')) as unknown;
    expect(committed).toEqual(JSON.parse(JSON.stringify(grafanaDashboard(parseConfig({})))));
  });

  test('the trigger panels carry the configured thresholds and queries', () => {
    const d = grafanaDashboard(
      parseConfig({
        validation: { thresholds: { concurrency: 25, p95Seconds: 3, errorRate: 0.08 } },
        canary: { thresholds: { errorRate: 0.02, p95Ratio: 1.5 }, analysisIntervalSeconds: 120 },
        queries: {
          'validation.latency_p95_seconds': 'histogram_quantile(0.95, sum by (le) (rate(my_latency_bucket[$window])))',
        },
      }),
    );
    expect([
      thresholdOf(d, 'Trigger: peak concurrency'),
      thresholdOf(d, 'Trigger: P95 latency'),
      thresholdOf(d, 'Trigger: error rate'),
    ]).toEqual([25, 3, 0.08]);
    expect([
      thresholdOf(d, 'Canary trigger: approach-2 error rate'),
      thresholdOf(d, 'Canary trigger: P95 approach 2 ÷ approach 1'),
    ]).toEqual([0.02, 1.5]);
    expect(panel(d, 'Trigger: P95 latency').targets?.[0]?.expr).toBe(
      'histogram_quantile(0.95, sum by (le) (rate(my_latency_bucket[1h])))',
    );
    // the canary queries read its analysis window
    assert.match(panel(d, 'Canary trigger: approach-2 error rate').targets?.[0]?.expr ?? '', /\[2m\]/);
  });

  test("every query names the provisioned datasource and no placeholder is left but Grafana's own", () => {
    const d = grafanaDashboard(parseConfig({}));
    for (const p of d.panels.filter((x) => x.type !== 'row')) {
      assert.equal(p.datasource?.uid, DATASOURCE_UID, p.title);
      for (const t of p.targets ?? []) assert.equal(t.datasource.uid, DATASOURCE_UID);
    }
    for (const q of dashboardQueries(d)) assert.ok(!/\$(?!__rate_interval)/.test(q.expr), `${q.where}: ${q.expr}`);
    const ids = d.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  });

  test('the provisioning files give Prometheus the uid the panels use and load the dashboards folder', () => {
    const ds = parseYaml(
      readFileSync('monitoring/grafana/provisioning/datasources/sandbox-git-control.yaml', 'utf8'),
    ) as { datasources: { uid: string; type: string }[] };
    expect(ds.datasources.map((x) => [x.uid, x.type])).toEqual([[DATASOURCE_UID, 'prometheus']]);
    const dash = parseYaml(
      readFileSync('monitoring/grafana/provisioning/dashboards/sandbox-git-control.yaml', 'utf8'),
    ) as { providers: { type: string; options: { path: string } }[] };
    expect(dash.providers[0]?.type).toBe('file');
    assert.ok(dash.providers[0]?.options.path.endsWith('sandbox-git-control'));
  });
});
