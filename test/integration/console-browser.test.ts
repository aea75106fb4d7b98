/**
 * The console in a real browser (issue 11 item 2): Debian's chromium (provisioned by
 * scripts/stack.ts ensureChromium, called from the test setup) driven by playwright-core, against
 * the real app listening on a port (buildApp, a fresh Postgres database, the Temporal dev
 * server). A person signs in with a token, follows a report link, pulls the kill switch with a
 * reason, and sees every flag at 0% and the latch — with JavaScript off, since the console must
 * work without it.
 */
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chromium, type Browser } from 'playwright-core';
import { buildApp, type App } from '../../api/app.js';
import { parseConfig } from '../../lib/config/index.js';
import { FLAG_OPERATIONS, FlagStore } from '../../lib/flags/store.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { createGitService, type SimpleGitService } from '../../lib/service/index.js';
import { createReportRepository } from '../../lib/store/reports.js';
import { stackEnv } from '../../scripts/testing/stack.js';
import { freshDb, type TestDb } from '../helpers/db.js';
import { testEnv, uniqueQueue } from '../helpers/temporal.js';

const log = createLogger({ level: 'silent' });
const ADMIN = `admin-${randomBytes(16).toString('hex')}`;

let env: TestWorkflowEnvironment;
let tdb: TestDb;
let app: App;
let url: string;
let store: FlagStore;
let service: SimpleGitService;
let browser: Browser;
let dir: string;

beforeAll(async () => {
  [env, tdb] = await Promise.all([testEnv(), freshDb('console_browser')]);
  dir = mkdtempSync(join(tmpdir(), 'sgc-console-browser-'));
  const config = parseConfig({
    sandbox: { provider: 'local', localRoot: join(dir, 'sandboxes') },
    reports: { dir: join(dir, 'reports') },
    temporal: { taskQueues: { phases: uniqueQueue('console-browser-phases') } },
    api: { tokens: [{ name: 'rollback-authority', role: 'admin', token: ADMIN }] },
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
    temporal: { client: env.client, taskQueue: uniqueQueue('console-browser-git') },
    metrics: createMetrics({ defaultMetrics: false }),
    db: tdb.db,
    log,
  });
  url = await app.listen({ host: '127.0.0.1', port: 0 });
  await createReportRepository(tdb.db).save(config.reports.dir, {
    id: 'baseline-demo-production',
    kind: 'baseline-production',
    runId: 'baseline-demo',
    title: 'Production baseline demo',
    markdown: '# Production baseline demo\n\n| metric | value |\n|---|---|\n| p95 | 120 ms |\n',
    charts: [
      {
        title: 'P95 latency',
        unit: 'ms',
        series: [
          {
            name: 'p95',
            points: [
              [1, 110],
              [2, 120],
              [3, 118],
            ],
          },
        ],
      },
    ],
  });
  // a rollout in progress: every flag at 50% with dual-write
  await store.setMany(
    FLAG_OPERATIONS.map((operation) => ({ operation, percent: 50, shadow: true })),
    { actor: 'canary', reason: 'stage dual-write-50' },
  );
  browser = await chromium.launch({ executablePath: stackEnv('SGC_CHROMIUM_BIN'), args: ['--no-sandbox'] });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await service?.close();
  await tdb?.drop();
  await env?.teardown();
  rmSync(dir, { recursive: true, force: true });
});

test('sign in with a token, follow a report link, pull the kill switch with a reason: every flag at 0% and the latch shown', async () => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  try {
    const page = await context.newPage();
    await page.goto(`${url}/`);
    // no token yet: the sign-in field
    await page.locator('#login-form input[name="token"]').fill(ADMIN);
    await Promise.all([page.waitForURL(`${url}/`), page.locator('#login-form button[type="submit"]').click()]);
    await page.locator('#flags').waitFor();
    expect(await page.locator('header .who').textContent()).toBe('rollback-authority (admin)');
    expect(await page.locator('tr[data-operation="git.push"] td.percent').textContent()).toBe('50%');

    // the session cookie: HttpOnly (no script could read it) and SameSite=Strict
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'sgc_console');
    assert.ok(session, 'session cookie set');
    expect({ httpOnly: session.httpOnly, sameSite: session.sameSite }).toEqual({ httpOnly: true, sameSite: 'Strict' });

    // a report link opens the report page (with its chart) on the same session
    await Promise.all([
      page.waitForURL(/\/v1\/reports\/baseline-demo-production/),
      page.locator('a.report', { hasText: 'Production baseline demo' }).click(),
    ]);
    expect(await page.locator('h1').first().textContent()).toBe('Production baseline demo');
    expect(await page.locator('figure svg').count()).toBe(1);
    await page.goBack();
    await page.locator('#kill-form').waitFor();

    // the kill switch: a reason and the confirmation, then the page shows the result
    await page.locator('#kill-form input[name="reason"]').fill('incident 42: approach 2 pushes failing');
    await page.locator('#kill-form input[name="confirm"]').check();
    await Promise.all([page.waitForURL(/\/\?killed=\d+$/), page.locator('#kill-form button[type="submit"]').click()]);
    expect(await page.locator('#notice').textContent()).toMatch(/^Kill switch pulled \(rollback event #\d+\)/);
    const percents = await page.locator('#flags td.percent').allTextContents();
    expect(percents.length).toBe(FLAG_OPERATIONS.length);
    expect(new Set(percents)).toEqual(new Set(['0%']));
    const latch = await page.locator('#latch').textContent();
    expect(latch).toMatch(
      /^Kill switch LATCHED since .* by console:rollback-authority: incident 42: approach 2 pushes failing\./,
    );
    expect(await page.locator('#rollbacks tbody tr').first().textContent()).toContain('incident 42');

    // what the page shows is what the store holds
    assert.ok((await store.list()).every((f) => f.percent === 0 && !f.shadow));
    assert.equal((await store.latch()).latched, true);
  } finally {
    await context.close();
  }
});
