/**
 * Notifications (issue 11 item 3) without Temporal: the payloads of every event kind in both
 * formats, the `notify:` configuration and its errors, delivery with bounded retries against a real
 * HTTP receiver (node:http) and a closed port, and the activity's counting and logging — which
 * never show a receiver's URL (a Slack URL's path is its secret).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNotifyActivities } from '../../activities/notify.js';
import { pullKillSwitch } from '../../api/routes/flags.js';
import { ConfigError, loadConfig, parseConfig } from '../../lib/config/index.js';
import { notifyConfigSchema } from '../../lib/config/notify.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import {
  NOTIFY_KINDS,
  jsonPayload,
  slackPayload,
  summaryOf,
  type NotifyEvent,
  type NotifyKind,
} from '../../lib/notify/events.js';
import { deliver, receiversOf } from '../../lib/notify/send.js';

const AT = '2026-12-01T20:00:00.000Z';

/** One event of every kind, as the workflows build them. */
const EVENTS: Record<NotifyKind, NotifyEvent> = {
  validation_decision: {
    kind: 'validation_decision',
    id: 'validation-1/decision',
    at: AT,
    workflowId: 'validation-1',
    runId: 'validation-1',
    mode: 'live',
    decision: 'MIGRATE',
    ruleDecision: 'MIGRATE',
    week: 3,
    forced: false,
    incomplete: false,
    reasons: ['concurrency above 10 for 2 weeks'],
  },
  canary_stage: {
    kind: 'canary_stage',
    id: 'canary/r1/k/stage-1-canary-10',
    at: AT,
    workflowId: 'canary-r1',
    rolloutId: 'r1',
    stage: 'canary-10',
    stageIndex: 1,
    stages: 5,
    percent: 10,
    shadow: true,
  },
  rollback: {
    kind: 'rollback',
    id: 'canary/r1/k/rollback',
    at: AT,
    workflowId: 'canary-r1',
    rolloutId: 'r1',
    source: 'auto',
    stage: 'canary-10',
    reason: 'error_rate breached in 2 analyses in a row',
    actor: 'canary r1',
    trigger: 'error_rate',
    values: [
      { name: 'error_rate', value: 0.12, threshold: 0.05, status: 'breach' },
      { name: 'p95_ratio', value: null, threshold: 2, status: 'nodata' },
    ],
    switched: true,
    switchDurationMs: 42,
  },
  kill_switch: {
    kind: 'kill_switch',
    id: 'kill/7',
    at: AT,
    reason: 'pushes failing <everywhere> & more',
    actor: 'admin-token',
    eventId: 7,
    switched: false,
    switchDurationMs: null,
  },
  breaker_trip: {
    kind: 'breaker_trip',
    id: 'baseline-1/breaker-trip',
    at: AT,
    workflowId: 'baseline-1',
    runId: 'b1',
    phase: 'baseline',
    sampleNum: 3,
    rule: 'error_rate',
    value: 0.031,
    threshold: 0.02,
    reason: 'error rate 3.1% > 2%',
  },
  baseline_done: {
    kind: 'baseline_done',
    id: 'baseline-1/done',
    at: AT,
    workflowId: 'baseline-1',
    runId: 'b1',
    outcome: 'completed',
    decision: 'go',
    reason: null,
    reportIds: ['b1-day1', 'b1-summary'],
  },
  drift_verdict: {
    kind: 'drift_verdict',
    id: 'drift-1/verdict',
    at: AT,
    workflowId: 'drift-1',
    reviewId: 'd1',
    passed: false,
    mode: 'provisional',
    summary: '6/7 criteria met',
    failedProcesses: ['worker'],
  },
};

describe('payloads', () => {
  test.each(NOTIFY_KINDS.map((k) => [k]))('%s has a summary and both formats carry it', (kind) => {
    const e = EVENTS[kind];
    const summary = summaryOf(e);
    expect(summary.length).toBeGreaterThan(10);
    const json = jsonPayload(e);
    expect(json).toMatchObject({ kind, id: e.id, at: AT, summary });
    const slack = slackPayload(e);
    expect(typeof slack.text).toBe('string');
    expect(slack.blocks[0]).toMatchObject({ type: 'section', text: { type: 'mrkdwn' } });
    expect(JSON.stringify(slack.blocks.at(-1))).toContain(e.id);
  });

  test('a rollback carries its source, trigger and the values against their thresholds', () => {
    const json = jsonPayload(EVENTS.rollback, { uiUrl: 'http://ui:8233/', namespace: 'prod' });
    expect(json).toMatchObject({
      source: 'auto',
      trigger: 'error_rate',
      values: [
        { name: 'error_rate', value: 0.12, threshold: 0.05 },
        { name: 'p95_ratio', value: null },
      ],
      workflowUrl: 'http://ui:8233/namespaces/prod/workflows/canary-r1',
    });
    expect(json.summary).toBe(
      'Canary r1 rolled back (auto) at canary-10: trigger error_rate; every process switched in 42 ms',
    );
    const slack = JSON.stringify(slackPayload(EVENTS.rollback));
    expect(slack).toContain('*error_rate*\\n0.12 (threshold 0.05)');
    expect(slack).toContain('*p95_ratio*\\nno data (threshold 2)');
    expect(slack).toContain('*Trigger*\\nerror_rate');
  });

  test('Slack text escapes <, > and & so a reason cannot become a link or a mention', () => {
    const slack = slackPayload(EVENTS.kill_switch);
    expect(slack.text).toContain('&lt;everywhere&gt; &amp; more');
    expect(JSON.stringify(slack)).not.toContain('<everywhere>');
    expect(slack.text).toContain('NOT every process switched');
  });

  test('a validation decision names an override', () => {
    const e = { ...EVENTS.validation_decision, decision: 'STAY', overriddenBy: 'lead' } as NotifyEvent;
    expect(summaryOf(e)).toBe(
      'Validation validation-1 decided STAY at week 3 (rules said MIGRATE, overridden by lead)',
    );
  });
});

describe('configuration', () => {
  const issuesOf = (raw: unknown): string[] => {
    try {
      parseConfig(raw);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.issues.map((i) => `${i.path}: ${i.reason}`);
    }
    return [];
  };

  test('defaults: no receivers, 3 attempts of 3 s with 250 ms backoff', () => {
    expect(parseConfig({}).notify).toEqual({ webhooks: [], timeoutMs: 3000, attempts: 3, backoffMs: 250 });
    const c = parseConfig({ notify: { webhooks: [{ url: 'https://example.test/hook' }] } });
    expect(c.notify.webhooks[0]).toEqual({
      url: 'https://example.test/hook',
      format: 'json',
      events: [...NOTIFY_KINDS],
    });
  });

  test('a bad receiver stops start-up naming the field', () => {
    const issues = issuesOf({
      notify: {
        webhooks: [
          { url: 'ftp://example.test/x' },
          { url: 'https://example.test/y', format: 'teams' },
          { url: 'https://example.test/z', events: ['rollback', 'deploy'] },
          { name: 'ops' },
        ],
      },
    });
    expect(issues.map((i) => i.split(':')[0])).toEqual(
      expect.arrayContaining([
        'notify.webhooks.0.url',
        'notify.webhooks.1.format',
        'notify.webhooks.2.events.1',
        'notify.webhooks.3.url',
      ]),
    );
    expect(issues).toContain('notify.webhooks.3.url: needs url or urlEnv');
  });

  test('two receivers of one name are refused (logs and results name receivers by it)', () => {
    const dup = { url: 'https://a.test/', name: 'ops' };
    expect(issuesOf({ notify: { webhooks: [dup, dup] } })).toEqual(['notify.webhooks.1.name: is not unique']);
  });

  test('attempts that would hold a phase past the 20 s budget are refused', () => {
    expect(issuesOf({ notify: { attempts: 5, timeoutMs: 5000 } })[0]).toMatch(
      /^notify\.attempts: .*must fit the 20000 ms/,
    );
  });

  test('urlEnv takes the URL from the environment, so a Slack secret stays out of the file', () => {
    const c = loadConfig({
      path: 'temporal.yaml',
      env: { SLACK_HOOK: 'https://hooks.slack.test/services/T/B/secret' },
      overrides: { 'notify.webhooks': [{ name: 'slack', urlEnv: 'SLACK_HOOK', format: 'slack' }] },
    });
    expect(c.notify.webhooks[0]).toMatchObject({ name: 'slack', url: 'https://hooks.slack.test/services/T/B/secret' });
  });
});

/** A receiver that records what it is sent and answers with the next status of `plan` (then 200). */
function receiver(): {
  server: Server;
  url: () => string;
  got: { headers: IncomingMessage['headers']; body: unknown }[];
  plan: number[];
} {
  const got: { headers: IncomingMessage['headers']; body: unknown }[] = [];
  const plan: number[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(plan.shift() ?? 200).end('ok');
    });
  });
  return { server, url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}`, got, plan };
}

/** A port nobody listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('delivery', () => {
  const rx = receiver();
  let dead: number;
  beforeAll(async () => {
    await new Promise<void>((r) => rx.server.listen(0, '127.0.0.1', () => r()));
    dead = await closedPort();
  });
  afterAll(() => new Promise((r) => rx.server.close(r)));
  const opts = { timeoutMs: 1000, attempts: 3, backoffMs: 10 };

  test('a 5xx is retried with the same idempotency key until it is taken', async () => {
    rx.got.length = 0;
    rx.plan.push(503, 500);
    const receivers = receiversOf(notifyConfigSchema.parse({ webhooks: [{ name: 'ops', url: `${rx.url()}/hook` }] }));
    const [r] = await deliver(EVENTS.canary_stage, receivers, opts);
    expect(r).toEqual({ receiver: 'ops', outcome: 'sent', attempts: 3, status: 200 });
    expect(rx.got).toHaveLength(3);
    expect(new Set(rx.got.map((g) => g.headers['idempotency-key']))).toEqual(new Set([EVENTS.canary_stage.id]));
    expect(rx.got[0]!.headers['x-sgc-event']).toBe('canary_stage');
    expect(rx.got[2]!.body).toMatchObject({ kind: 'canary_stage', stage: 'canary-10', percent: 10 });
  });

  test('a 4xx is final: one attempt, failed with its status', async () => {
    rx.got.length = 0;
    rx.plan.push(404);
    const receivers = receiversOf(notifyConfigSchema.parse({ webhooks: [{ url: `${rx.url()}/gone` }] }));
    const [r] = await deliver(EVENTS.drift_verdict, receivers, opts);
    expect(r).toEqual({ receiver: 'webhook-0', outcome: 'failed', attempts: 1, status: 404, error: 'HTTP 404' });
    expect(rx.got).toHaveLength(1);
  });

  test('a closed port fails after the configured attempts, and one dead receiver does not stop another', async () => {
    rx.got.length = 0;
    const receivers = receiversOf(
      notifyConfigSchema.parse({
        webhooks: [
          { name: 'dead', url: `http://127.0.0.1:${dead}/services/T0/B0/SECRETPATH` },
          { name: 'live', url: `${rx.url()}/hook`, format: 'slack' },
        ],
      }),
    );
    const t0 = Date.now();
    const results = await deliver(EVENTS.rollback, receivers, opts);
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(results).toEqual([
      { receiver: 'dead', outcome: 'failed', attempts: 3, error: 'ECONNREFUSED' },
      { receiver: 'live', outcome: 'sent', attempts: 1, status: 200 },
    ]);
    expect(rx.got[0]!.body).toMatchObject({ text: expect.stringContaining('rolled back (auto)') });
  });

  test('a receiver that does not answer times out within timeoutMs per attempt', async () => {
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as AddressInfo).port;
      const receivers = receiversOf(notifyConfigSchema.parse({ webhooks: [{ url: `http://127.0.0.1:${port}/` }] }));
      const t0 = Date.now();
      const [r] = await deliver(EVENTS.baseline_done, receivers, { timeoutMs: 200, attempts: 2, backoffMs: 10 });
      const took = Date.now() - t0;
      expect(r).toMatchObject({ outcome: 'failed', attempts: 2, error: 'timeout' });
      expect(took).toBeGreaterThanOrEqual(400);
      expect(took).toBeLessThan(1500);
    } finally {
      silent.closeAllConnections();
      await new Promise((r) => silent.close(r));
    }
  });

  test('the activity counts each receiver by kind and outcome, and neither its result nor its logs show a URL', async () => {
    rx.got.length = 0;
    const metrics = createMetrics({ defaultMetrics: false });
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
    const secret = 'T0SECRET/B0SECRET/XXSECRETXX';
    const { notify } = createNotifyActivities({
      notify: notifyConfigSchema.parse({
        attempts: 2,
        backoffMs: 10,
        webhooks: [
          { name: 'slack', url: `http://127.0.0.1:${dead}/services/${secret}`, format: 'slack' },
          { name: 'ops', url: `${rx.url()}/hook`, events: ['rollback'] },
          { name: 'unset', urlEnv: 'NOT_SET_ANYWHERE', events: ['rollback'] },
        ],
      }),
      metrics,
      log,
    });
    const rolled = await notify(EVENTS.rollback);
    expect(rolled).toEqual({
      sent: ['ops'],
      failed: [
        { receiver: 'slack', error: 'ECONNREFUSED' },
        { receiver: 'unset', error: 'no URL: NOT_SET_ANYWHERE is not set' },
      ],
    });
    // only "slack" asked for drift verdicts
    expect(await notify(EVENTS.drift_verdict)).toEqual({
      sent: [],
      failed: [{ receiver: 'slack', error: 'ECONNREFUSED' }],
    });
    const counts = (await metrics.notifications.get()).values.map(
      (v) => `${v.labels.kind}/${v.labels.outcome}=${v.value}`,
    );
    expect(counts).toEqual(
      expect.arrayContaining([
        'rollback/sent=1',
        'rollback/failed=2',
        'drift_verdict/failed=1',
        'drift_verdict/sent=0',
      ]),
    );
    const text = lines.join('\n') + JSON.stringify(rolled);
    expect(lines.some((l) => l.includes('notification failed') && l.includes('"receiver":"slack"'))).toBe(true);
    expect(text).not.toContain('SECRET');
    expect(text).not.toContain('/services/');
  });
});

describe('the kill switch', () => {
  test('an API kill sends kill_switch to its receivers without waiting for them', async () => {
    const sent: NotifyEvent[] = [];
    const flags = {
      async kill() {
        const latch = { latched: true, reason: 'bad pushes', actor: 'admin', since: new Date(AT), rollbackEventId: 9 };
        return { changeId: 'c9', version: 4, changed: 6, decidedAt: new Date(AT), eventId: 9, latch };
      },
      async awaitSwitch() {
        return { eventId: 9, switched: true, durationMs: 15, processes: { api: new Date(AT) }, missing: [] };
      },
    };
    const answer = await pullKillSwitch(
      {
        flags: flags as never,
        switchTimeoutMs: 1000,
        // a receiver that never answers: the kill's answer must not wait for it
        notify: (e) => {
          sent.push(e);
          return new Promise(() => undefined);
        },
      },
      { actor: 'admin-token', reason: 'bad pushes', log: { warn: () => undefined } },
    );
    expect(answer).toMatchObject({ eventId: 9, switched: true });
    expect(sent).toEqual([
      {
        kind: 'kill_switch',
        id: 'kill/9',
        at: AT,
        reason: 'bad pushes',
        actor: 'admin-token',
        eventId: 9,
        switched: true,
        switchDurationMs: 15,
      },
    ]);
  });
});
