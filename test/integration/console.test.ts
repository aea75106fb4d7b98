/**
 * The console at `/` and the runbook route over HTTP (issue 11 items 2 and 4), on the real app
 * (buildApp) with a fresh Postgres database and the Temporal dev server: sign-in and the session
 * cookie, what the page shows (flags, latch, phases with their live status, rollbacks, reports),
 * the kill form (same path as POST /v1/flags/kill), and the attacks it must resist — HTML
 * injection through agent- and operator-controlled text, cross-site form posts, a session cookie
 * used against the REST API.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { buildApp, type App } from '../../api/app.js';
import { driftInputFromConfig, startDrift } from '../../clients/drift.js';
import { parseConfig, type Config } from '../../lib/config/index.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createGitService, type SimpleGitService } from '../../lib/service/index.js';
import { createReportRepository } from '../../lib/store/reports.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv, uniqueQueue, workflowBundle } from '../helpers/temporal.js';

Runtime.install({ logger: new DefaultLogger('ERROR') });
const log = createLogger({ level: 'silent' });

const ADMIN = `admin-${randomBytes(16).toString('hex')}`;
const OPERATOR = `operator-${randomBytes(16).toString('hex')}`;
const AGENT = `agent-${randomBytes(16).toString('hex')}`;
/** agent- or operator-controlled text that would run script if it reached the page unescaped */
const HOSTILE = `"><script>alert('x')</script><img src=x onerror=alert(1)>`;

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let app: App;
let config: Config;
let store: FlagStore;
let service: SimpleGitService;
let worker: Worker;
let workerRunning: Promise<void>;
let dir: string;
const reviewId = `console-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  [env, tdb] = await Promise.all([testEnv(), freshDb('console')]);
  dir = mkdtempSync(join(tmpdir(), 'sgc-console-'));
  config = parseConfig({
    sandbox: { provider: 'local', localRoot: join(dir, 'sandboxes') },
    reports: { dir: join(dir, 'reports') },
    security: { encryptionKey: randomBytes(32).toString('base64') },
    temporal: { taskQueues: { phases: uniqueQueue('console-phases') }, uiUrl: 'http://127.0.0.1:8233' },
    api: {
      tokens: [
        { name: 'root', role: 'admin', token: ADMIN },
        // the token's name is configured by people, shown on the page: it is escaped too
        { name: 'ops<b>', role: 'operator', token: OPERATOR },
        { name: 'agent-1', role: 'agent', agentId: 'agent-1', token: AGENT },
      ],
    },
  });
  store = new FlagStore(tdb.db);
  service = createGitService({
    config,
    db: tdb.db,
    metrics: createMetrics({ defaultMetrics: false }),
    log,
    approach: 'simple',
  });
  app = await buildApp({
    config,
    service,
    temporal: { client: env.client, taskQueue: uniqueQueue('console-git') },
    metrics: createMetrics({ defaultMetrics: false }),
    db: tdb.db,
    log,
  });

  // a running phase whose status query the page asks: a drift review waiting for its first
  // sample (this worker runs the workflow; no worker takes its activities, so it stays at T0)
  worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: config.temporal.taskQueues.phases,
    workflowBundle: await workflowBundle(),
  });
  workerRunning = worker.run();
  await startDrift(
    { client: env.client, taskQueue: config.temporal.taskQueues.phases },
    driftInputFromConfig(config, { mode: 'short' }),
    reviewId,
  );

  await createReportRepository(tdb.db).save(config.reports.dir, {
    id: 'console-report-1',
    kind: 'drift',
    runId: 'drift-console',
    title: `Drift review ${HOSTILE}`,
    markdown: '# Drift review\n\nAll good.\n',
  });
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 10, shadow: true })),
    { actor: `api:${HOSTILE}`, reason: 'canary stage' },
  );
});

afterAll(async () => {
  await app?.close();
  worker?.shutdown();
  await workerRunning?.catch(() => undefined);
  await env?.client.workflow
    .getHandle(`drift-${reviewId}`)
    .terminate('test over')
    .catch(() => undefined);
  await service?.close();
  await tdb?.drop();
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

const HOST = 'console.test';
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded', host: HOST };

async function signIn(token: string): Promise<string> {
  const res = await app.inject({
    method: 'POST',
    url: '/console/login',
    headers: { ...FORM, origin: `http://${HOST}` },
    payload: form({ token }),
  });
  assert.equal(res.statusCode, 303, res.body);
  const cookie = res.cookies.find((c) => c.name === 'sgc_console');
  assert.ok(cookie, 'a session cookie is set');
  return `sgc_console=${cookie.value}`;
}

async function page(cookie: string): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/', headers: { cookie, host: HOST } });
  assert.equal(res.statusCode, 200, res.body);
  return res.body;
}

function csrfOf(html: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(html);
  assert.ok(m, 'the page carries a CSRF token');
  return m[1];
}

async function flagValues(): Promise<[string, number, boolean][]> {
  return (await store.list()).map((f) => [f.operation, f.percent, f.shadow]);
}

describe('sign-in and the session cookie', () => {
  test('/ without a token shows a sign-in field and nothing else', async () => {
    const res = await app.inject({ method: 'GET', url: '/' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /text\/html/);
    assert.match(res.body, /<form method="post" action="\/console\/login"/);
    assert.match(res.body, /<input type="password" name="token" required/);
    assert.ok(!res.body.includes('git.push'), 'no flags before sign-in');
    assert.match(res.headers['content-security-policy'] as string, /frame-ancestors 'none'/);
    assert.equal(res.headers['x-frame-options'], 'DENY');
  });

  test('an unknown token is refused, an agent token cannot sign in, an operator gets an HttpOnly SameSite=Strict cookie', async () => {
    const bad = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: FORM,
      payload: form({ token: 'nope' }),
    });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.cookies.length, 0);
    const agent = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: FORM,
      payload: form({ token: AGENT }),
    });
    assert.equal(agent.statusCode, 403);
    assert.equal(agent.cookies.length, 0);
    const ok = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: FORM,
      payload: form({ token: OPERATOR }),
    });
    assert.equal(ok.statusCode, 303);
    assert.equal(ok.headers.location, '/');
    const c = ok.cookies.find((x) => x.name === 'sgc_console');
    assert.ok(c);
    expect({ httpOnly: c.httpOnly, sameSite: c.sameSite, path: c.path }).toEqual({
      httpOnly: true,
      sameSite: 'Strict',
      path: '/',
    });
  });

  test('a sign-in form posted from another site is refused', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/console/login',
      headers: { ...FORM, origin: 'https://evil.example' },
      payload: form({ token: OPERATOR }),
    });
    assert.equal(res.statusCode, 403);
    assert.equal(res.cookies.length, 0);
  });
});

describe('the page', () => {
  test('shows the flags, the latch, the running phase with its live status and a Temporal UI link, and the reports', async () => {
    const cookie = await signIn(OPERATOR);
    // visibility is eventually consistent: the review appears in the list within seconds
    let html = '';
    for (let i = 0; i < 50; i++) {
      html = await page(cookie);
      if (html.includes(`drift-${reviewId}`)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.match(
      html,
      /<tr data-operation="git\.push"><td><code>git\.push<\/code><\/td><td class="percent">10%<\/td><td>on<\/td>/,
    );
    assert.match(html, /Not latched/);
    assert.ok(
      html.includes(`href="http://127.0.0.1:8233/namespaces/default/workflows/drift-${reviewId}"`),
      'Temporal UI link',
    );
    // the live status query: a short review waiting for T0 is sample 0 of N
    assert.match(html, /<td>drift review t0, sample 0 of 24<\/td>/);
    assert.ok(html.includes('href="/v1/reports/console-report-1?format=html"'), 'report link');
    assert.ok(html.includes('ops&lt;b&gt; (operator)'));
    assert.ok(!html.includes('id="kill-form"'), 'no kill form for an operator');
  });

  test('a report page linked from the console opens with the session cookie', async () => {
    const cookie = await signIn(OPERATOR);
    const res = await app.inject({
      method: 'GET',
      url: '/v1/reports/console-report-1?format=html',
      headers: { cookie },
    });
    assert.equal(res.statusCode, 200);
    assert.match(res.body, /<h1[^>]*>Drift review<\/h1>/);
    const runbook = await app.inject({ method: 'GET', url: '/v1/runbook', headers: { cookie, accept: 'text/html' } });
    assert.equal(runbook.statusCode, 200);
    assert.match(runbook.body, /<h1[^>]*>Rollback runbook<\/h1>/);
  });

  test('agent-controlled text is escaped everywhere it appears: report titles, flag actors, kill reasons, latch reasons', async () => {
    const kill = await app.inject({
      method: 'POST',
      url: '/v1/flags/kill',
      headers: { authorization: `Bearer ${ADMIN}` },
      payload: { reason: `incident ${HOSTILE}` },
    });
    assert.equal(kill.statusCode, 200, kill.body);
    try {
      const html = await page(await signIn(ADMIN));
      assert.ok(!html.includes('<script>'), 'no script element reached the page');
      assert.ok(!/<img[^>]*onerror/i.test(html), 'no event-handler attribute reached the page');
      const escaped = '&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;';
      assert.ok(html.includes(`Drift review ${escaped}</a>`), 'report title shown escaped');
      assert.ok(html.includes(`incident ${escaped}`), 'kill reason shown escaped (latch and rollback list)');
      assert.match(html, /Kill switch LATCHED since/);
    } finally {
      const un = await app.inject({
        method: 'POST',
        url: '/v1/flags/unlatch',
        headers: { authorization: `Bearer ${ADMIN}` },
        payload: { reason: 'test over' },
      });
      assert.equal(un.statusCode, 200);
      await store.setMany(
        FLAG_OPERATIONS.map((operation) => ({ operation, percent: 10, shadow: true })),
        { actor: 'test', reason: 'back on' },
      );
    }
  });
});

describe('the kill form', () => {
  test("without the session's CSRF token, with another session's, from another origin, or from an operator it is refused and changes nothing", async () => {
    const admin = await signIn(ADMIN);
    const operator = await signIn(OPERATOR);
    const csrf = csrfOf(await page(admin));
    const before = await flagValues();
    const attempts: [string, Record<string, string>, Record<string, string>][] = [
      ['no token', { cookie: admin }, { reason: 'r', confirm: 'yes' }],
      ['wrong token', { cookie: admin }, { reason: 'r', confirm: 'yes', csrf: 'A'.repeat(43) }],
      [
        "another session's token",
        { cookie: admin },
        { reason: 'r', confirm: 'yes', csrf: csrfOf(await page(operator)) },
      ],
      ['another origin', { cookie: admin, origin: 'https://evil.example' }, { reason: 'r', confirm: 'yes', csrf }],
      ['an operator', { cookie: operator }, { reason: 'r', confirm: 'yes', csrf: csrfOf(await page(operator)) }],
      ['no session, bearer header only', { authorization: `Bearer ${ADMIN}` }, { reason: 'r', confirm: 'yes', csrf }],
    ];
    for (const [what, headers, fields] of attempts) {
      const res = await app.inject({
        method: 'POST',
        url: '/console/kill',
        headers: { ...FORM, ...headers },
        payload: form(fields),
      });
      assert.ok(res.statusCode === 401 || res.statusCode === 403, `${what}: ${res.statusCode}`);
    }
    expect(await flagValues()).toEqual(before);
    assert.equal((await store.latch()).latched, false);
  });

  test('a reason and the confirmation are required', async () => {
    const admin = await signIn(ADMIN);
    const csrf = csrfOf(await page(admin));
    const before = await flagValues();
    for (const fields of [
      { csrf, confirm: 'yes' },
      { csrf, reason: '   ', confirm: 'yes' },
      { csrf, reason: 'incident 7' },
    ] as Record<string, string>[]) {
      const res = await app.inject({
        method: 'POST',
        url: '/console/kill',
        headers: { ...FORM, cookie: admin },
        payload: form(fields),
      });
      assert.equal(res.statusCode, 400);
      assert.match(res.body, /class="notice error"/);
    }
    expect(await flagValues()).toEqual(before);
  });

  test('the session cookie does not authenticate the REST API', async () => {
    const admin = await signIn(ADMIN);
    for (const [method, url, payload] of [
      ['GET', '/v1/flags', undefined],
      ['POST', '/v1/flags/kill', { reason: 'csrf' }],
      ['PUT', '/v1/flags/push', { percent: 100, reason: 'csrf' }],
      ['POST', '/v1/flags/unlatch', { reason: 'csrf' }],
      ['GET', '/v1/reports', undefined],
      ['POST', '/v1/rollouts', {}],
    ] as const) {
      const res = await app.inject({ method, url, headers: { cookie: admin }, ...(payload ? { payload } : {}) });
      assert.equal(res.statusCode, 401, `${method} ${url}`);
    }
  });

  test("an admin with the session's token, a reason and the confirmation pulls the kill switch: flags at 0, latched, audited as the console", async () => {
    const admin = await signIn(ADMIN);
    const csrf = csrfOf(await page(admin));
    const res = await app.inject({
      method: 'POST',
      url: '/console/kill',
      headers: { ...FORM, cookie: admin, origin: `http://${HOST}` },
      payload: form({ csrf, reason: 'incident 42', confirm: 'yes' }),
    });
    assert.equal(res.statusCode, 303, res.body);
    assert.match(res.headers.location as string, /^\/\?killed=\d+$/);
    assert.ok((await store.list()).every((f) => f.percent === 0 && !f.shadow));
    const latch = await store.latch();
    expect({ latched: latch.latched, reason: latch.reason, actor: latch.actor }).toEqual({
      latched: true,
      reason: 'incident 42',
      actor: 'console:root',
    });
    const after = await app.inject({ method: 'GET', url: res.headers.location as string, headers: { cookie: admin } });
    assert.match(after.body, /Kill switch pulled \(rollback event #\d+\)/);
    assert.match(after.body, /Kill switch LATCHED since .* by console:root: incident 42/);
    assert.ok(after.body.includes('id="unlatch-form"'));
    const audit = await store.audit({ limit: 1 });
    assert.equal(audit[0]?.actor, 'console:root');

    // unlatch through the console too
    const un = await app.inject({
      method: 'POST',
      url: '/console/unlatch',
      headers: { ...FORM, cookie: admin },
      payload: form({ csrf, reason: 'cause understood', confirm: 'yes' }),
    });
    assert.equal(un.statusCode, 303);
    assert.equal((await store.latch()).latched, false);
  });
});

describe('GET /v1/runbook', () => {
  test('operators read it as markdown, browsers as HTML; agents cannot', async () => {
    const md = await app.inject({
      method: 'GET',
      url: '/v1/runbook',
      headers: { authorization: `Bearer ${OPERATOR}`, host: 'sgc.internal:8080' },
    });
    assert.equal(md.statusCode, 200);
    assert.match(md.headers['content-type'] as string, /text\/markdown/);
    assert.match(md.body, /above 5%; windows with fewer than 20 approach-2 operations/);
    assert.ok(
      md.body.includes('http://sgc.internal:8080/v1/flags/kill'),
      'curl commands use the address the caller used',
    );
    const page2 = await app.inject({
      method: 'GET',
      url: '/v1/runbook?format=html',
      headers: { authorization: `Bearer ${OPERATOR}` },
    });
    assert.match(page2.body, /<table>/);
    const agent = await app.inject({
      method: 'GET',
      url: '/v1/runbook',
      headers: { authorization: `Bearer ${AGENT}` },
    });
    assert.equal(agent.statusCode, 403);
    const none = await app.inject({ method: 'GET', url: '/v1/runbook' });
    assert.equal(none.statusCode, 401);
  });
});
