/**
 * Issue 12, "Run it scaled out": `npm start -- --workers N --apis N` gives every process a port
 * of its own and writes one Prometheus config that scrapes them all.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../scripts/stack.js';
import { planServicePorts, renderPrometheusConfig } from '../../scripts/stack-processes.js';

describe('scaled-out processes', () => {
  test('two workers and two APIs get four distinct ports', async () => {
    const ports = await planServicePorts({ workers: 2, apis: 2 });
    expect(ports.worker).toHaveLength(2);
    expect(ports.api).toHaveLength(2);
    expect(new Set([...ports.api, ...ports.worker]).size).toBe(4);
  });

  test('a count below one is refused', async () => {
    await expect(planServicePorts({ workers: 0, apis: 1 })).rejects.toThrow(/--workers/);
    await expect(planServicePorts({ workers: 1, apis: 1.5 })).rejects.toThrow(/--apis/);
  });

  test('the Prometheus config scrapes every API and every worker, one job per role', () => {
    const tmpl = readFileSync(join(ROOT, 'monitoring', 'prometheus.yml.tmpl'), 'utf8');
    const cfg = parse(
      renderPrometheusConfig(tmpl, {
        alertsFile: '/x/alerts.yml',
        apiTargets: ['127.0.0.1:8080', '127.0.0.1:8081'],
        workerTargets: ['127.0.0.1:9464', '127.0.0.1:9465'],
      }),
    ) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
    expect(cfg.rule_files).toEqual(['/x/alerts.yml']);
    const targets = Object.fromEntries(cfg.scrape_configs.map((j) => [j.job_name, j.static_configs[0].targets]));
    expect(targets).toEqual({
      'sgc-api': ['127.0.0.1:8080', '127.0.0.1:8081'],
      'sgc-worker': ['127.0.0.1:9464', '127.0.0.1:9465'],
    });
  });
});
