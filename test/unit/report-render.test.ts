import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { markdownToHtml, mdTable, sanitizeText, sanitizeData } from '../../lib/reports/markdown.js';
import { renderLineChartSvg, niceTicks } from '../../lib/reports/svg.js';
import { renderHtmlPage } from '../../lib/reports/html.js';
import { renderValidationWeeklyReport, renderValidationFinalReport } from '../../lib/validation/report.js';
import { defaultValidationConfig } from '../../lib/config/validation.js';
import {
  summarizeWeek,
  decide,
  forecast3Months,
  type DaySnapshot,
  type HourlyPoint,
  type WeekSummary,
} from '../../lib/validation/index.js';
import type { ChartSpec } from '../../lib/reports/types.js';

const config = defaultValidationConfig();
const T0 = 1_790_000_000 - (1_790_000_000 % 86_400);
const XSS = '<script>alert("x")</script>';

function day(n: number, over: Partial<Omit<HourlyPoint, 't'>> = {}): DaySnapshot {
  const start = T0 + (n - 1) * 86_400;
  const hourly = Array.from({ length: 24 }, (_, h) => ({
    t: start + (h + 1) * 3600,
    opsPerMin: 20,
    costPerOp: 0.01,
    p95Seconds: 1,
    errorRate: 0.01,
    peakConcurrency: 4,
    monthlyCost: 100,
    ...over,
  }));
  return {
    day: n,
    start,
    end: start + 86_400,
    hourly,
    aggregates: {
      operations: 28_800,
      costDollars: 288,
      costPerOp: over.costPerOp ?? 0.01,
      p50Seconds: 0.4,
      p95Seconds: over.p95Seconds ?? 1,
      p99Seconds: 1.6,
      errorRate: 0.01,
      errorRateByCategory: { network: 0.006, timeout: 0.004, conflict: 0, auth: 0, rate_limit: 0, other: 0 },
      peakConcurrency: over.peakConcurrency ?? 4,
      throughputOpsPerMin: 20,
      peakThroughputOpsPerMin: 30,
      operationDistribution: { pull: 0.6, push: 0.4 },
      poolHitRatio: null,
      rateLimitHeadroom: 0.8,
      rateLimitedOperations: 0,
      recoveryMeanSeconds: 3,
      recoveryP95Seconds: 6,
      monthlyCost: 100,
    },
  };
}

function weeksWith(n: number, skip: number[] = []): WeekSummary[] {
  const days: DaySnapshot[] = [];
  for (let d = 1; d <= n * 7; d++) if (!skip.includes(d)) days.push(day(d, d > 14 ? { peakConcurrency: 12 } : {}));
  return Array.from({ length: n }, (_, i) => summarizeWeek(days, i + 1, config));
}

describe('markdown → HTML', () => {
  test('escapes injected HTML everywhere: paragraphs, headings, lists, tables, code, quotes', () => {
    const md = [
      `# Title ${XSS}`,
      '',
      `para ${XSS} **bold ${XSS}**`,
      '',
      `- item ${XSS}`,
      '',
      mdTable(['a', 'b'], [[XSS, 'x|y']]),
      '',
      '```',
      XSS,
      '```',
      '',
      `> quote ${XSS}`,
      '',
      `\`${XSS}\``,
    ].join('\n');
    const html = markdownToHtml(md);
    assert.doesNotMatch(html, /<script/i);
    assert.equal((html.match(/&lt;script&gt;/g) ?? []).length, 8);
  });

  test('renders headings, tables with alignment and escaped pipes, lists, task lists and inline code', () => {
    const html = markdownToHtml(
      [
        '## Stage two',
        '',
        mdTable(['Name', 'Value'], [['a|b', '1']], ['l', 'r']),
        '',
        '1. first',
        '2. second',
        '',
        '- [x] done',
        '- [ ] not done',
        '- [?] unknown',
        '',
        'use `npm test` **now**',
      ].join('\n'),
    );
    assert.match(html, /<h2 id="stage-two">Stage two<\/h2>/);
    assert.match(html, /<td>a\|b<\/td><td style="text-align:right">1<\/td>/);
    assert.match(html, /<ol><li>first<\/li><li>second<\/li><\/ol>/);
    assert.match(html, /class="task yes">✓<\/span> done/);
    assert.match(html, /class="task no">✗<\/span> not done/);
    assert.match(html, /class="task unknown">\?<\/span> unknown/);
    assert.match(html, /<code>npm test<\/code> <strong>now<\/strong>/);
  });

  test('identifiers with underscores are not turned into emphasis', () => {
    assert.match(markdownToHtml('error_rate_network and rate_limit'), /<p>error_rate_network and rate_limit<\/p>/);
  });
});

describe('sanitising report text', () => {
  test('credentials, query strings and tokens are stripped from free text', () => {
    const s = sanitizeText(
      'cloned https://bot:ghp_abcdefghijklmnopqrstuvwxyz012345@github.com/org/repo.git?token=abc with Bearer abcdefghijklmnopqrstuvwxyz and ghp_abcdefghijklmnopqrstuvwxyz012345',
    );
    assert.doesNotMatch(s, /ghp_|bot:|token=abc|abcdefghijklmnopqrstuvwxyz/);
    assert.match(s, /github\.com\/org\/repo\.git/);
  });

  test('sanitizeData reaches strings nested in objects and arrays', () => {
    const d = sanitizeData({
      a: ['x https://u:p@h.example/r'],
      b: { c: 'ghp_abcdefghijklmnopqrstuvwxyz012345' },
      n: 1,
      z: null,
    });
    assert.deepEqual(d, { a: ['x https://h.example/r'], b: { c: '[redacted]' }, n: 1, z: null });
  });
});

describe('SVG line charts', () => {
  const spec: ChartSpec = {
    title: `P95 ${XSS}`,
    unit: 's',
    series: [
      {
        name: `series ${XSS}`,
        points: [
          ['D1', 1],
          ['D2', 1.2],
          ['D3', null],
          ['D4', 1.1],
          ['D5', 1.3],
          ['D6', null],
          ['D7', 0.9],
          ['D8', null],
        ],
      },
      {
        name: 'other',
        points: [
          ['D1', 0.5],
          ['D2', 0.6],
        ],
      },
    ],
    threshold: { value: 2, label: 'trigger' },
  };
  const svg = renderLineChartSvg(spec);

  test('draws an <svg> with axes, legend and a dashed threshold line', () => {
    assert.match(svg, /^<svg /);
    assert.match(svg, /class="threshold"[^>]*stroke-dasharray/);
    assert.match(svg, /trigger \(2 s\)/);
    assert.match(svg, />D1</);
    assert.match(svg, />other</);
  });

  test('null values break the line into segments; an isolated point is a dot', () => {
    const first = svg.split('data-series="series')[1].split('</g>')[0];
    assert.equal((first.match(/<path /g) ?? []).length, 2, 'D1–D2 and D4–D5 are separate paths');
    assert.equal((first.match(/<circle /g) ?? []).length, 1, 'D7 stands alone');
  });

  test('escapes titles and series names', () => {
    assert.doesNotMatch(svg, /<script/i);
  });

  test('a chart without any value says "no data"', () => {
    assert.match(
      renderLineChartSvg({ title: 't', unit: '$', series: [{ name: 'a', points: [['D1', null]] }] }),
      />no data</,
    );
  });

  test('time axes are labelled as UTC dates', () => {
    const t = renderLineChartSvg({
      title: 't',
      unit: 'ops',
      series: [
        {
          name: 'a',
          points: [
            [T0, 1],
            [T0 + 86_400 * 5, 2],
          ],
        },
      ],
    });
    assert.match(t, /time \(UTC\)/);
    assert.match(t, new RegExp(`>${new Date(T0 * 1000).toISOString().slice(5, 10)}<`));
  });

  test('niceTicks covers the range with round steps', () => {
    assert.deepEqual(niceTicks(0, 2.1), [0, 0.5, 1, 1.5, 2, 2.5]);
    assert.deepEqual(niceTicks(0, 10), [0, 2, 4, 6, 8, 10]);
  });
});

describe('report pages', () => {
  test('renderHtmlPage is a self-contained page: escaped title and markdown, inline SVG, no script, no URL', () => {
    const html = renderHtmlPage({
      title: `Report ${XSS}`,
      markdown: `# Hello ${XSS}`,
      charts: [
        {
          title: 'c',
          unit: '$',
          series: [
            {
              name: 's',
              points: [
                ['D1', 1],
                ['D2', null],
                ['D3', 2],
              ],
            },
          ],
        },
      ],
    });
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<svg /);
    assert.match(html, /<style>/);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /:\/\//);
    assert.match(html, /<title>Report &lt;script&gt;/);
  });

  test('weekly report: checkpoint decision, triggers table, goal and daily charts with gaps for missing days', () => {
    const weeks = weeksWith(2, [10]);
    const r = renderValidationWeeklyReport({
      runId: 'validation-abc',
      week: 2,
      weeks,
      config,
      notes: [`extended by ${XSS} see https://x:secret@git.example/repo?token=t`],
    });
    assert.equal(r.title, 'Validation period — week 2 checkpoint');
    assert.match(r.markdown, /Decision at this checkpoint: \*\*CONTINUE\*\*/);
    assert.match(r.markdown, /\| Concurrency \(simultaneous operations\) \| > 10 ops \|/);
    assert.match(r.markdown, /Week 2: Load pattern analysis/);
    assert.match(r.markdown, /Data incomplete/);
    assert.doesNotMatch(r.markdown + JSON.stringify(r.data), /secret|token=t/);
    assert.equal(r.charts.length, 4);
    const p95 = r.charts.find((c) => c.title.startsWith('P95'));
    assert.equal(p95?.series[0].points.find(([x]) => x === 'D10')?.[1], null);
    assert.equal(p95?.threshold?.value, 2);
    const html = renderHtmlPage(r);
    assert.doesNotMatch(html, /<script/i);
    assert.equal((html.match(/<svg /g) ?? []).length, 4);
  });

  test('final report: decision, reasons, triggers table, forecast, goals checklist and incomplete notice', () => {
    const weeks = weeksWith(4, [26]);
    const decision = decide(weeks, config);
    assert.equal(decision.decision, 'MIGRATE');
    const forecast = forecast3Months(
      weeks.flatMap((w) => w.days),
      config,
    );
    const r = renderValidationFinalReport({
      runId: 'validation-abc',
      weeks,
      config,
      decision,
      forecast,
      backtest: { start: T0, end: T0 + 28 * 86_400 },
    });
    assert.match(r.markdown, /## Decision: \*\*MIGRATE\*\*/);
    assert.match(r.markdown, /Concurrency \(simultaneous operations\) exceeded 10 ops in weeks 3 and 4/);
    assert.match(r.markdown, /\| \+3 months \|/);
    assert.match(r.markdown, /How this forecast is made/);
    assert.match(r.markdown, /### Week 1: Baseline stability/);
    assert.match(r.markdown, /### Week 4: Migration readiness/);
    assert.match(r.markdown, /Data incomplete/);
    assert.match(r.markdown, /\*\*backtest\*\*/);
    assert.match(r.markdown, /Proceed to migration planning/);
    assert.equal(r.data.decision, 'MIGRATE');
    assert.equal(r.data.incomplete, true);
    assert.equal(r.charts.length, 6);
    const html = renderHtmlPage(r);
    assert.match(html, /<table>/);
    assert.doesNotMatch(html, /<script|:\/\//i);
  });

  test("final report shows an operator override next to the rules' decision", () => {
    const weeks = weeksWith(4);
    const r = renderValidationFinalReport({
      weeks,
      config,
      decision: decide(weeks, config),
      forecast: null,
      override: { decision: 'STAY', reason: `budget ${XSS}`, by: 'ops-lead' },
    });
    assert.match(r.markdown, /## Decision: \*\*STAY\*\*/);
    assert.match(r.markdown, /Overridden by an operator.*rules decided \*\*MIGRATE\*\*/);
    assert.match(r.markdown, /No forecast/);
    assert.doesNotMatch(renderHtmlPage(r), /<script/i);
  });
});
