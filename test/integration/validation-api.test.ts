import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import { reportRoutes } from '../../api/routes/reports.js';
import { validationRoutes } from '../../api/routes/validations.js';
import { DEFAULT_QUERIES } from '../../lib/config/queries.js';
import { defaultValidationConfig } from '../../lib/config/validation.js';
import { createLogger } from '../../lib/log.js';
import { PromClient } from '../../lib/prom/client.js';
import { openMetricsText, type HourContext, type ProfilePoint } from '../../lib/prom/openmetrics.js';
import { reevaluationScheduleId } from '../../clients/validation.js';
import { validationActivities } from '../../workers/phases-validation.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { backfillWindow, startPrometheus, type PrometheusHandle } from '../helpers/prometheus.js';
import { testEnv, uniqueQueue } from '../helpers/temporal.js';
import { routeApp } from '../helpers/route-app.js';
import { testWorker } from '../helpers/worker.js';

// The validation and report routes over HTTP (Fastify inject) against the real stack: Temporal
// with a worker running validationPeriodWorkflow, Postgres, and a backfilled Prometheus holding
// two healthy 2-day weeks.
const OPERATOR = 'operator-token-0123456789abcdef';
const AGENT = 'agent-token-0123456789abcdefgh';
const window = backfillWindow(4 * 24);

function healthy(h: HourContext): ProfilePoint {
  const busy = h.hourOfDay >= 9 && h.hourOfDay < 18;
  return {
    opsPerMin: busy ? 3 : 0.6,
    errorRate: 0.01,
    p95Seconds: busy ? 1.2 : 0.8,
    concurrency: busy ? 6 : 2,
    costPerOp: 0.005,
    operationMix: { pull: 0.6, push: 0.4 },
  };
}

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let prom: PrometheusHandle;
let worker: Worker;
let running: Promise<void>;
let app: FastifyInstance;
let reportsDir: string;

beforeAll(async () => {
  [env, tdb, prom] = await Promise.all([
    testEnv(),
    freshDb('validation_api'),
    startPrometheus({
      openMetrics: openMetricsText({ start: window.start, end: window.end, profile: healthy, stepSeconds: 900 }),
    }),
  ]);
  reportsDir = mkdtempSync(join(tmpdir(), 'sgc-reports-'));
  const log = createLogger({ level: 'silent' });
  const taskQueue = uniqueQueue('validation-api');
  const activities = validationActivities({
    db: tdb.db,
    prom: new PromClient({ url: prom.url }),
    queries: DEFAULT_QUERIES,
    reportsDir,
    log,
    temporal: { client: env.client, taskQueue },
  });
  worker = await testWorker(env, { taskQueue, activities, log });
  running = worker.run();

  const a = routeApp([
    { name: 'ops-alice', role: 'operator', token: OPERATOR },
    { name: 'agent-1', role: 'agent', agentId: 'agent-1', token: AGENT },
  ]);
  await a.register(
    validationRoutes({
      temporal: { client: env.client, taskQueue },
      defaults: defaultValidationConfig(),
      queries: DEFAULT_QUERIES,
    }),
    { prefix: '/v1' },
  );
  await a.register(reportRoutes({ db: tdb.db }), { prefix: '/v1' });
  app = a as unknown as FastifyInstance;
});

afterAll(async () => {
  await app?.close();
  worker?.shutdown();
  await running;
  await prom?.stop();
  await tdb?.drop();
  await env?.teardown();
  if (reportsDir) rmSync(reportsDir, { recursive: true, force: true });
});

const auth = (token = OPERATOR): Record<string, string> => ({ authorization: `Bearer ${token}` });

async function waitCompleted(id: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/v1/validations/${id}`, headers: auth() });
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json<{ execution: string }>();
    if (body.execution !== 'RUNNING') return body as unknown as Record<string, unknown>;
    if (Date.now() > deadline) throw new Error(`validation ${id} still running`);
    await sleep(200);
  }
}

describe('validation and report routes', () => {
  test('operator role: no token is 401, an agent token is 403', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/v1/reports' })).statusCode, 401);
    assert.equal(
      (await app.inject({ method: 'POST', url: '/v1/validations', headers: auth(AGENT), payload: {} })).statusCode,
      403,
    );
  });

  test('bad start requests are 400 and name the problem', async () => {
    const backwards = await app.inject({
      method: 'POST',
      url: '/v1/validations',
      headers: auth(),
      payload: { backtest: { start: window.end, end: window.start } },
    });
    assert.equal(backwards.statusCode, 400);
    assert.match(backwards.json<{ message: string }>().message, /backtest/);
    const unknownQuery = await app.inject({
      method: 'POST',
      url: '/v1/validations',
      headers: auth(),
      payload: { queries: { 'validation.nope': 'up' } },
    });
    assert.equal(unknownQuery.statusCode, 400);
    const badWeeks = await app.inject({
      method: 'POST',
      url: '/v1/validations',
      headers: auth(),
      payload: { weeks: 8 },
    });
    assert.equal(badWeeks.statusCode, 400);
    assert.match(badWeeks.json<{ message: string }>().message, /weeks/);
  });

  test('a backtest started over HTTP decides STAY; its reports are listed and served as HTML, JSON and markdown', async () => {
    const id = `bt-${Date.now()}`;
    const payload = {
      id,
      weeks: 2,
      minWeeks: 2,
      maxWeeks: 2,
      config: { daysPerWeek: 2 },
      backtest: { start: new Date(window.start * 1000).toISOString(), end: window.end },
    };
    const started = await app.inject({ method: 'POST', url: '/v1/validations', headers: auth(), payload });
    assert.equal(started.statusCode, 201, started.body);
    assert.deepEqual(started.json<{ id: string; workflowId: string; mode: string }>().workflowId, `validation-${id}`);
    const again = await app.inject({ method: 'POST', url: '/v1/validations', headers: auth(), payload });
    assert.equal(again.statusCode, 409, again.body);

    const done = await waitCompleted(id);
    assert.equal(done.execution, 'COMPLETED');
    const result = done.result as { decision: string; week: number; reportIds: string[] };
    assert.equal(result.decision, 'STAY');
    assert.equal(result.week, 2);

    const list = await app.inject({ method: 'GET', url: `/v1/reports?runId=validation-${id}`, headers: auth() });
    assert.equal(list.statusCode, 200);
    const reports = list.json<{ reports: { id: string; kind: string }[] }>().reports;
    assert.deepEqual(reports.map((r) => r.id).sort(), [...result.reportIds].sort());
    const onlyFinal = await app.inject({
      method: 'GET',
      url: `/v1/reports?runId=validation-${id}&kind=validation-final`,
      headers: auth(),
    });
    assert.deepEqual(
      onlyFinal.json<{ reports: { id: string }[] }>().reports.map((r) => r.id),
      [`validation-${id}-final`],
    );

    const finalId = `validation-${id}-final`;
    const page = await app.inject({
      method: 'GET',
      url: `/v1/reports/${finalId}`,
      headers: { ...auth(), accept: 'text/html,application/xhtml+xml' },
    });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /<svg/);
    const forced = await app.inject({ method: 'GET', url: `/v1/reports/${finalId}?format=html`, headers: auth() });
    assert.match(String(forced.headers['content-type']), /text\/html/);
    const json = await app.inject({ method: 'GET', url: `/v1/reports/${finalId}`, headers: auth() });
    assert.equal(json.json<{ kind: string; data: { decision: string } }>().data.decision, 'STAY');
    const md = await app.inject({ method: 'GET', url: `/v1/reports/${finalId}.md`, headers: auth() });
    assert.match(String(md.headers['content-type']), /text\/markdown/);
    assert.match(md.body, /^# Migration readiness report/);
    assert.equal(
      (await app.inject({ method: 'GET', url: '/v1/reports/no-such-report', headers: auth() })).statusCode,
      404,
    );
  });

  test('a live period: status while running, extend, an override the workflow refuses is 400, a valid override decides', async () => {
    const id = `live-${Date.now()}`;
    const started = await app.inject({
      method: 'POST',
      url: '/v1/validations',
      headers: auth(),
      payload: { id, weeks: 2, minWeeks: 2, maxWeeks: 3 },
    });
    assert.equal(started.statusCode, 201, started.body);
    const status = await app.inject({ method: 'GET', url: `/v1/validations/${id}`, headers: auth() });
    const s = status.json<{ execution: string; status: { mode: string; week: number; plannedWeeks: number } }>();
    assert.equal(s.execution, 'RUNNING');
    assert.deepEqual([s.status.mode, s.status.week, s.status.plannedWeeks], ['live', 1, 2]);

    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: `/v1/validations/${id}/extend`,
          headers: auth(),
          payload: { reason: ' ' },
        })
      ).statusCode,
      400,
    );
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: `/v1/validations/${id}/extend`,
          headers: auth(),
          payload: { reason: 'quiet month' },
        })
      ).statusCode,
      202,
    );
    const deadline = Date.now() + 10_000;
    for (;;) {
      const st = (await app.inject({ method: 'GET', url: `/v1/validations/${id}`, headers: auth() })).json<{
        status: { plannedWeeks: number; extensions: { by?: string }[] };
      }>().status;
      if (st.plannedWeeks === 3) {
        assert.equal(st.extensions[0].by, 'ops-alice');
        break;
      }
      assert.ok(Date.now() < deadline, 'the extension did not land');
      await sleep(100);
    }

    const noReason = await app.inject({
      method: 'POST',
      url: `/v1/validations/${id}/override`,
      headers: auth(),
      payload: { decision: 'STAY', reason: '' },
    });
    assert.equal(noReason.statusCode, 400);
    // planned week 3 is maxWeeks: the workflow's validator refuses another extension
    const refused = await app.inject({
      method: 'POST',
      url: `/v1/validations/${id}/override`,
      headers: auth(),
      payload: { decision: 'EXTEND', reason: 'one more week' },
    });
    assert.equal(refused.statusCode, 400, refused.body);
    assert.match(refused.json<{ message: string }>().message, /maxWeeks/);

    const ok = await app.inject({
      method: 'POST',
      url: `/v1/validations/${id}/override`,
      headers: auth(),
      payload: { decision: 'MIGRATE', reason: 'the pool is needed for the launch' },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    assert.equal(ok.json<{ decision: string }>().decision, 'MIGRATE');
    const done = await waitCompleted(id);
    assert.equal((done.result as { decision: string }).decision, 'MIGRATE');
    const audit = await tdb.db.query<{ key: string; overridden_by: string }>(
      'SELECT key, overridden_by FROM validation_decisions WHERE run_id = $1 ORDER BY id',
      [`validation-${id}`],
    );
    // the override's audit row and the final row are written by separate activities that may run
    // concurrently (the update handler's recordDecision, the main loop's report then final record),
    // so their insertion order is not part of the contract
    assert.deepEqual(audit.rows.map((r) => [r.key, r.overridden_by]).sort(), [
      ['extend-1', 'ops-alice'],
      ['final', 'ops-alice'],
      ['override-2', 'ops-alice'],
    ]);
    assert.equal(
      (await app.inject({ method: 'POST', url: `/v1/validations/${id}/decide-now`, headers: auth(), payload: {} }))
        .statusCode,
      404,
    );
    // MIGRATE: no re-evaluation
    await assert.rejects(env.client.schedule.getHandle(reevaluationScheduleId(`validation-${id}`)).describe());
  });

  test('a live period that decides STAY schedules its quarterly re-evaluation, named in the readiness report', async () => {
    const id = `live-stay-${Date.now()}`;
    assert.equal(
      (
        await app.inject({
          method: 'POST',
          url: '/v1/validations',
          headers: auth(),
          payload: { id, weeks: 2, minWeeks: 2, maxWeeks: 3 },
        })
      ).statusCode,
      201,
    );
    const ok = await app.inject({
      method: 'POST',
      url: `/v1/validations/${id}/override`,
      headers: auth(),
      payload: { decision: 'STAY', reason: 'quiet quarter ahead' },
    });
    assert.equal(ok.statusCode, 200, ok.body);
    const done = await waitCompleted(id);
    assert.equal((done.result as { decision: string }).decision, 'STAY');
    const scheduleId = reevaluationScheduleId(`validation-${id}`);
    const handle = env.client.schedule.getHandle(scheduleId);
    try {
      const d = await handle.describe();
      assert.equal(d.action.type === 'startWorkflow' ? d.action.workflowType : '', 'validationPeriodWorkflow');
      const every = d.spec.intervals?.[0]?.every;
      assert.equal(typeof every === 'number' ? every : Number(every), 90 * 86_400_000);
      const finalId = (done.result as { reportIds: string[] }).reportIds.at(-1)!;
      const md = await app.inject({ method: 'GET', url: `/v1/reports/${finalId}.md`, headers: auth() });
      assert.match(md.body, new RegExp(`Quarterly re-evaluation scheduled: Temporal Schedule ${scheduleId}`));
    } finally {
      await handle.delete();
    }
  });
});
