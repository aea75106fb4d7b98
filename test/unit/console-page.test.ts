import { describe, expect, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { renderConsolePage, renderLoginPage, type ConsoleView } from '../../lib/console/page.js';
import { html, trusted } from '../../lib/html.js';

const EVIL = `</td><script>alert(1)</script><a href="javascript:x" onclick='y'>`;
const t0 = new Date('2026-12-01T10:00:00Z');

function view(over: Partial<ConsoleView> = {}): ConsoleView {
  return {
    principal: { name: `admin ${EVIL}`, role: 'admin' },
    csrf: 'tok"en',
    flags: {
      ok: true,
      value: {
        flags: [
          { operation: 'git.push', percent: 50, shadow: true, version: 3, updatedAt: t0, updatedBy: `api:${EVIL}` },
        ],
        latch: { latched: true, reason: `incident ${EVIL}`, actor: EVIL, since: t0 },
      },
    },
    phases: {
      ok: true,
      value: [
        {
          phase: 'canary',
          workflowId: `canary-${EVIL}`,
          execution: 'RUNNING',
          summary: `canary paused — ${EVIL}`,
          startTime: t0,
          closeTime: null,
          temporalUrl: `http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(`canary-${EVIL}`)}`,
        },
      ],
    },
    rollbacks: {
      ok: true,
      value: [
        { id: 7, source: 'kill', actor: EVIL, reason: EVIL, decidedAt: t0, durationMs: 12.345, missingProcesses: [] },
      ],
    },
    reports: { ok: true, value: [{ id: 'r-1', kind: 'drift', runId: EVIL, title: EVIL, createdAt: t0 }] },
    links: { temporalUi: 'http://127.0.0.1:8233', runbook: '/v1/runbook?format=html', docs: '/docs' },
    generatedAt: t0,
    ...over,
  };
}

describe('html template', () => {
  test('escapes interpolations, keeps nested templates and trusted markup, drops null/false', () => {
    const inner = html`<b>${'<i>'}</b>`;
    const out = html`<p title="${`"x' onload='y`}">${inner}${[1, '<2>', inner]}${null}${false}${trusted('<br>')}</p>`;
    expect(out.value).toBe('<p title="&quot;x&#39; onload=&#39;y"><b>&lt;i&gt;</b>1&lt;2&gt;<b>&lt;i&gt;</b><br></p>');
  });
});

describe('console page', () => {
  test('no agent-controlled string can open a tag or leave an attribute', () => {
    const page = renderConsolePage(view({ notice: { kind: 'error', text: EVIL }, killForm: { reason: EVIL } }));
    assert.ok(!page.includes('<script>'));
    assert.ok(!/onclick=/.test(page.replace(/onclick=&#39;/g, '')), 'no live onclick attribute');
    assert.ok(!page.includes('href="javascript:'));
    // every place the string appears it is escaped: count raw "<script" = 0, escaped ≥ the places it was put
    const escaped = page.split('&lt;script&gt;alert(1)&lt;/script&gt;').length - 1;
    assert.ok(escaped >= 9, `escaped ${escaped} times`);
    assert.ok(page.includes('value="tok&quot;en"'), 'the CSRF value stays inside its attribute');
    assert.ok(
      page.includes(
        `href="http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(`canary-${EVIL}`).replace(/'/g, '&#39;')}"`,
      ),
    );
  });

  test('admins get the kill form with the CSRF token, a required reason and a required confirmation; latched shows unlatch', () => {
    const page = renderConsolePage(view());
    assert.match(page, /<form class="kill danger" method="post" action="\/console\/kill" id="kill-form">/);
    assert.match(page, /<input type="text" name="reason" required maxlength="500"/);
    assert.match(page, /<input type="checkbox" name="confirm" value="yes" required>/);
    assert.ok(page.includes('id="unlatch-form"'));
    assert.ok(!page.includes('<script'), 'no script at all: the page works without JavaScript');
  });

  test('operators see the state but no kill form; unavailable sections say why', () => {
    const page = renderConsolePage(
      view({
        principal: { name: 'ops', role: 'operator' },
        phases: { ok: false, error: 'Temporal did not answer within 4000 ms' },
      }),
    );
    assert.ok(!page.includes('id="kill-form"'));
    assert.match(page, /Temporal unavailable: Temporal did not answer within 4000 ms/);
    assert.match(page, /<td class="percent">50%<\/td>/);
  });

  test('the sign-in page escapes its error and posts the token to /console/login', () => {
    const page = renderLoginPage({ error: EVIL });
    assert.ok(!page.includes('<script>'));
    assert.match(page, /action="\/console\/login"/);
  });
});
