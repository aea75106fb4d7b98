/**
 * Issue 9 item 7: operators doing admin work. A rollout with custom stages or with thresholds
 * weaker than temporal.yaml's is a flag change with automatic rollback weakened: it needs the
 * admin role (403 naming the field for an operator). The stage list is bounded (length, percents
 * monotonic within 0..100) for everyone, so no rollout jumps past its plan.
 *
 * The rollout routes over HTTP (Fastify inject) against the real Temporal dev server; no worker
 * runs the started rollouts (starting one is what is checked).
 */
import { afterAll, beforeAll, describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { rolloutRoutes } from '../../api/routes/rollouts.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { canaryWorkflowId } from '../../workflows/ids.js';
import { testEnv, uniqueId, uniqueQueue } from '../helpers/temporal.js';
import { routeApp } from '../helpers/route-app.js';

const ADMIN = 'admin-token-0123456789abcdef012';
const OPERATOR = 'operator-token-0123456789abcdef';

let env: TestWorkflowEnvironment;
let config: Config;
const apps: FastifyInstance[] = [];
const started: string[] = [];

async function appOn(taskQueue: string): Promise<FastifyInstance> {
  const f = routeApp(config.api.tokens);
  await f.register(rolloutRoutes({ client: env.client, taskQueue, defaults: config.canary }), { prefix: '/v1' });
  apps.push(f as unknown as FastifyInstance);
  return f as unknown as FastifyInstance;
}

beforeAll(async () => {
  env = await testEnv();
  config = parseConfig({
    api: {
      tokens: [
        { name: 'root', role: 'admin', token: ADMIN },
        { name: 'ops', role: 'operator', token: OPERATOR },
      ],
    },
  });
});

afterAll(async () => {
  for (const id of started)
    await env.client.workflow
      .getHandle(id)
      .terminate('test done')
      .catch(() => undefined);
  for (const a of apps) await a.close();
  await env?.teardown();
});

const as = (token: string) => ({ authorization: `Bearer ${token}` });
const stage = (name: string, percent: number, holdSeconds = 60) => ({ name, percent, shadow: true, holdSeconds });

async function start(app: FastifyInstance, token: string, body: Record<string, unknown>) {
  const rolloutId = uniqueId('r').slice(0, 40);
  const res = await app.inject({
    method: 'POST',
    url: '/v1/rollouts',
    headers: as(token),
    payload: { rolloutId, ...body },
  });
  if (res.statusCode === 201) started.push(canaryWorkflowId(rolloutId));
  return { status: res.statusCode, body: res.json() as { field?: string; message: string } };
}

describe('rollout bounds', () => {
  test('an operator cannot send custom stages or weaker thresholds (403 naming the field); nothing starts', async () => {
    const app = await appOn(uniqueQueue('bounds-op'));
    const refusals: [Record<string, unknown>, string][] = [
      // the example: one stage at 100% with automatic rollback disabled
      [
        { stages: [{ name: 'all', percent: 100, shadow: false, holdSeconds: 0 }], thresholds: { errorRate: 1 } },
        'stages',
      ],
      [{ stages: [stage('canary-50', 50)] }, 'stages'],
      [{ thresholds: { errorRate: 1 } }, 'thresholds.errorRate'],
      [{ thresholds: { p95Ratio: 50 } }, 'thresholds.p95Ratio'],
      [{ thresholds: { consistency: 0.5 } }, 'thresholds.consistency'],
      [{ thresholds: { minOperations: 1_000_000 } }, 'thresholds.minOperations'],
      [{ consecutiveBreaches: 100 }, 'consecutiveBreaches'],
      [{ autoAdvance: true }, 'autoAdvance'],
      [{ analysisIntervalSeconds: 86_400 }, 'analysisIntervalSeconds'],
    ];
    for (const [body, field] of refusals) {
      const r = await start(app, OPERATOR, body);
      assert.equal(r.status, 403, `${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.field, field);
      assert.match(r.body.message, /admin/);
    }
    assert.deepEqual(started, [], 'no refused rollout was started');
    // stricter than the plan is an operator's call
    const ok = await start(app, OPERATOR, {
      thresholds: { errorRate: 0.01, consistency: 0.99999 },
      consecutiveBreaches: 1,
    });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
  });

  test('the stage list is bounded for everyone: at most 10 stages, percents rising within 0..100', async () => {
    const app = await appOn(uniqueQueue('bounds-admin'));
    const falling = await start(app, ADMIN, { stages: [stage('a', 50), stage('b', 10)] });
    assert.equal(falling.status, 400, JSON.stringify(falling.body));
    assert.equal(falling.body.field, 'stages');
    const many = await start(app, ADMIN, { stages: Array.from({ length: 11 }, (_, i) => stage(`s${i}`, i * 10)) });
    assert.equal(many.status, 400, JSON.stringify(many.body));
    assert.equal(many.body.field, 'stages');
    // an admin may run a custom plan within the bounds
    const custom = await start(app, ADMIN, {
      stages: [stage('canary-5', 5), stage('canary-25', 25)],
      thresholds: { errorRate: 0.1 },
    });
    assert.equal(custom.status, 201, JSON.stringify(custom.body));
  });
});
