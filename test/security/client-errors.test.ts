/**
 * Issue 9 item 9: an agent cannot force a rollback. An agent's own bad requests — reading a file
 * that does not exist, committing when nothing changed — are counted with
 * `error_category="client"`, and the canary's error-rate trigger and the validation error rate
 * count service failures only, so a confused or hostile agent cannot push approach 2's error
 * rate past the rollback threshold.
 *
 * The real service (approach 2, local sandboxes, a real bare repository, a fresh database), its
 * real metrics registry scraped by a real Prometheus, and the default PromQL.
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../lib/config/index.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { DomainError } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { PromClient, substituteQuery } from '../../lib/prom/client.js';
import { createGitService } from '../../lib/service/index.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { createBareRepo } from '../helpers/git.js';
import { startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';

const log = createLogger({ level: 'silent' });
const metrics = createMetrics({ defaultMetrics: false });
let tdb: TestDb;
let sandboxRoot: string;
let repo: ReturnType<typeof createBareRepo>;
let service: ReturnType<typeof createGitService>;
let target: Server;
let prom: PrometheusHandle;

beforeAll(async () => {
  tdb = await freshDb('client_err');
  sandboxRoot = mkdtempSync(join(tmpdir(), 'sgc-client-err-'));
  repo = createBareRepo();
  const config = parseConfig({
    sandbox: { provider: 'local', localRoot: sandboxRoot },
    pool: { min: 0, max: 2 },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    git: { remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
  });
  service = createGitService({ config, db: tdb.db, metrics, log, approach: 'pooled' });
  target = createServer((_req, res) => {
    void metrics.registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': metrics.registry.contentType });
      res.end(text);
    });
  });
  await new Promise<void>((r) => target.listen(0, '127.0.0.1', () => r()));
  prom = await startPrometheus({
    // 2 s: the scrape timeout equals the interval, and a loaded CI machine (every jest worker busy)
    // can take more than 1 s to answer a scrape — a 1 s interval then records no sample at all
    scrape: [{ job: 'sgc', targets: [`127.0.0.1:${(target.address() as AddressInfo).port}`], interval: '2s' }],
    scrapeInterval: '2s',
  });
});

afterAll(async () => {
  await prom?.stop();
  target?.closeAllConnections();
  await new Promise<void>((r) => (target ? target.close(() => r()) : r()));
  await service?.close();
  await tdb?.drop();
  repo?.cleanup();
  rmSync(sandboxRoot, { recursive: true, force: true });
});

const count = async (labels: Record<string, string>): Promise<number> =>
  (await metrics.operations.get()).values
    .filter((v) => Object.entries(labels).every(([k, x]) => (v.labels as Record<string, unknown>)[k] === x))
    .reduce((n, v) => n + v.value, 0);

describe('client errors', () => {
  test('an agent\'s own bad requests are error_category="client" and move neither the canary nor the validation error rate', async () => {
    const ws = await service.createWorkspace({ agentId: 'agent-a', taskId: 'client-errors', repoUrl: repo.url });
    // every series once, then a scrape: increase() counts from a series' first sample
    await assert.rejects(service.readFile(ws.id, 'missing.txt'));
    await assert.rejects(service.commitAndPush(ws.id, { message: 'nothing changed' }));
    await service.status(ws.id);
    // until Prometheus holds a sample of each (a fixed wait was too short when its first scrape
    // came late: the series were then first seen at their final counts and increase() stayed 0)
    const seen = new PromClient({ url: prom.url });
    for (const deadline = Date.now() + 60_000; ;) {
      const s = await seen.queryScalar('count(gitops_operations_total)');
      if (s.kind === 'value' && s.value >= 4) break;
      assert.ok(Date.now() < deadline, 'Prometheus never scraped the first operations');
      await new Promise((r) => setTimeout(r, 250));
    }
    // the agent's own mistakes, many of them
    for (let i = 0; i < 9; i++) {
      await assert.rejects(
        service.readFile(ws.id, `missing-${i}.txt`),
        (e: unknown) => e instanceof DomainError && e.type === 'NotFound',
      );
      await assert.rejects(
        service.commitAndPush(ws.id, { message: 'nothing changed' }),
        (e: unknown) => e instanceof DomainError && /nothing to commit/.test(e.message),
      );
    }
    assert.equal(await count({ operation: 'read', outcome: 'error', error_category: 'client' }), 10);
    assert.equal(await count({ operation: 'push', outcome: 'error', error_category: 'client' }), 10);
    assert.equal(
      await count({ outcome: 'error', error_category: 'other' }),
      0,
      "an agent's mistake is not an uncategorised service failure",
    );
    // and the service's successes
    for (let i = 0; i < 4; i++) await service.status(ws.id);

    // the rollback trigger and the validation error rate, as Prometheus evaluates them
    const c = new PromClient({ url: prom.url });
    const query = (name: string) => substituteQuery(DEFAULT_QUERIES[name]!, { window: '5m', subquery_step: '1s' });
    // until a scrape holds every call above: the mistakes (validation.operations) and the later
    // successes (canary.operations, the trigger's denominator — NaN while a scrape had only the former)
    let ops = 0;
    let served = 0;
    for (const deadline = Date.now() + 90_000; (ops < 20 || served <= 0) && Date.now() < deadline;) {
      const s = await c.queryScalar(query('validation.operations'));
      ops = s.kind === 'value' ? s.value : 0;
      const v = await c.queryScalar(query('canary.operations'));
      served = v.kind === 'value' ? v.value : 0;
      if (ops < 20 || served <= 0) await new Promise((r) => setTimeout(r, 500));
    }
    const targets = ops < 20 ? JSON.stringify(await (await fetch(`${prom.url}/api/v1/targets`)).json()) : '';
    assert.ok(ops >= 20, `Prometheus has scraped the operations (${ops}); targets: ${targets}`);
    const canaryRate = await c.queryScalar(query('canary.error_rate'));
    assert.ok(
      canaryRate.kind === 'value' && canaryRate.value === 0,
      `the canary error-rate trigger counts service failures only: ${JSON.stringify(canaryRate)}`,
    );
    const validationRate = await c.queryScalar(query('validation.error_rate'));
    assert.ok(validationRate.kind === 'value' && validationRate.value === 0, JSON.stringify(validationRate));
    // the client errors are still visible, apart
    const clientRate = await c.queryScalar(query('validation.error_rate_client'));
    assert.ok(clientRate.kind === 'value' && clientRate.value > 0.3, JSON.stringify(clientRate));
  });
});
