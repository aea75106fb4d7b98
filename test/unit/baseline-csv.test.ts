import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import {
  header,
  row,
  toCsv,
  parse,
  parseSamples,
  escapeField,
  normalizeValues,
  queriedColumns,
  columns,
  profileName,
  profileProblems,
  resolveProfile,
  BUILTIN_PROFILES,
  CSV_PROFILES,
  SEED_V3_HEADER,
  DEFAULT_HEADER,
  MANDATORY_COLUMNS,
  type BaselineSample,
  type CsvProfile,
} from '../../lib/baseline/csv.js';
import { csvProfileFromConfig } from '../../clients/baseline.js';
import { ConfigError, parseConfig } from '../../lib/config/index.js';
import { DomainError } from '../../lib/errors.js';
import { BASELINE_QUERIES, baselineQueryKey, renderBaselineQuery } from '../../lib/baseline/queries.js';

const SEED_LINE =
  'timestamp,http_success_rate,p50_latency,p90_latency,p95_latency,p99_latency,raw_fallback_ratio,effective_fallback_ratio,error_rate,error_rate_4xx,error_rate_5xx,cpu_percent,rss_mb,request_rate,raw_fallback_total,effective_fallback_total,fallback_http,fallback_message,fallback_cache,http_adapter_ops,message_bus_rpc_attempts,cache_get_attempts,fb_http_ratio,fb_message_ratio,fb_cache_ratio,plugin_reload_success,plugin_reload_failure,snapshot_create_success,snapshot_create_failure,snapshot_restore_success,snapshot_restore_failure,cache_hit_rate,plugin_reload_p95,plugin_reload_p99,plugin_reload_success_rate,snapshot_operation_p95,snapshot_operation_p99,snapshot_success_rate,cache_hits_raw,cache_misses_raw,sample_num';

test('the seed-v3 profile reproduces the seed header exactly', () => {
  assert.equal(header('seed-v3'), SEED_LINE);
  assert.equal(SEED_V3_HEADER.length, 41);
});

test('the default profile keeps the seed names in the seed order and maps plugin/snapshot to push/clone', () => {
  const seedIndex = (c: string) => SEED_V3_HEADER.indexOf(c);
  const shared = DEFAULT_HEADER.filter((c) => seedIndex(c) >= 0);
  assert.deepEqual(
    shared,
    [...shared].sort((a, b) => seedIndex(a) - seedIndex(b)),
    'shared columns keep the seed order',
  );
  for (const c of [
    ...MANDATORY_COLUMNS,
    'timestamp',
    'sample_num',
    'cpu_percent',
    'request_rate',
    'raw_fallback_ratio',
    'error_rate_4xx',
    'error_rate_5xx',
    'cache_hits_raw',
    'cache_misses_raw',
    'fallback_cache',
    'p50_latency',
    'p90_latency',
  ]) {
    assert.ok(DEFAULT_HEADER.includes(c), `default keeps ${c}`);
  }
  for (const c of ['push_success_rate', 'push_p95', 'push_p99', 'clone_success_rate', 'clone_p95', 'clone_p99']) {
    assert.ok(DEFAULT_HEADER.includes(c), `default has ${c}`);
  }
  assert.equal(DEFAULT_HEADER[0], 'timestamp');
  assert.equal(DEFAULT_HEADER[DEFAULT_HEADER.length - 1], 'sample_num');
  assert.ok(!DEFAULT_HEADER.some((c) => c.startsWith('plugin_') || c.startsWith('snapshot_')));
});

test('every queried column of the default profile has a default PromQL query with the window placeholder or an instant gauge', () => {
  for (const col of queriedColumns('default')) {
    const q = BASELINE_QUERIES[baselineQueryKey(col)];
    assert.ok(q, `query for ${col}`);
    assert.ok(q.includes('$window') || col === 'rss_mb', `${col} covers the window`);
  }
  assert.ok(Object.keys(BASELINE_QUERIES).every((k) => k.startsWith('baseline.')));
  const rendered = renderBaselineQuery(BASELINE_QUERIES['baseline.cpu_percent'], { windowSeconds: 600, job: 'a"b' });
  assert.equal(rendered, '100 * max(rate(process_cpu_seconds_total{job=~"a\\"b"}[600s]))');
  assert.ok(!renderBaselineQuery(BASELINE_QUERIES['baseline.p95_latency'], { windowSeconds: 900 }).includes('$'));
});

test('a row formats units, writes NA for missing values and numbers the sample', () => {
  const s: BaselineSample = {
    sampleNum: 3,
    timestamp: Date.UTC(2025, 10, 23, 14, 10) / 1000,
    values: {
      http_success_rate: 0.99871234567,
      p95_latency: 43.216,
      rss_mb: 212.5,
      request_rate: 79.98765,
      raw_fallback_total: 12,
      error_rate: null,
    },
  };
  const cells = row('default', s).split(',');
  const at = (c: string) => cells[DEFAULT_HEADER.indexOf(c)];
  assert.equal(cells.length, DEFAULT_HEADER.length);
  assert.equal(at('timestamp'), '2025-11-23T14:10:00Z');
  assert.equal(at('http_success_rate'), '0.998712');
  assert.equal(at('p95_latency'), '43.22');
  assert.equal(at('rss_mb'), '212.5');
  assert.equal(at('request_rate'), '79.988');
  assert.equal(at('raw_fallback_total'), '12');
  assert.equal(at('error_rate'), 'NA');
  assert.equal(at('clone_p99'), 'NA', 'absent keys are NA');
  assert.equal(at('sample_num'), '3');
});

test('fields with commas, quotes or newlines are quoted and parse back', () => {
  assert.equal(escapeField('a,b'), '"a,b"');
  assert.equal(escapeField('say "hi"'), '"say ""hi"""');
  assert.equal(escapeField('two\nlines'), '"two\nlines"');
  assert.equal(escapeField('plain'), 'plain');
  const text = 'a,b,c\r\n"x,1","he said ""no""","multi\nline"\n1,,NA\n';
  const { header: h, records } = parse(text);
  assert.deepEqual(h, ['a', 'b', 'c']);
  assert.deepEqual(records, [
    ['x,1', 'he said "no"', 'multi\nline'],
    ['1', '', 'NA'],
  ]);
});

test('a CSV written for either profile parses back to the same samples', () => {
  const samples: BaselineSample[] = [1, 2].map((n) => ({
    sampleNum: n,
    timestamp: 1_763_900_000 + n * 600,
    values: {
      http_success_rate: 0.995,
      p95_latency: 40 + n,
      error_rate: n === 2 ? null : 0.004,
      cache_hits_raw: 90,
      cache_misses_raw: 10,
    },
  }));
  for (const profile of ['default', 'seed-v3'] as const) {
    const csv = toCsv(profile, samples);
    const lines = csv.trimEnd().split('\n');
    assert.equal(lines.length, 3);
    const back = parseSamples(csv);
    assert.equal(back.length, 2);
    assert.equal(back[0].timestamp, samples[0].timestamp);
    assert.equal(back[1].sampleNum, 2);
    assert.equal(back[0].values.p95_latency, 41);
    assert.equal(back[1].values.error_rate, null);
    assert.equal(back[0].values.cache_hits_raw, 90);
    assert.equal(Object.keys(back[0].values).length, columns(profile).length - 2);
  }
});

test('no traffic in the interval makes traffic-dependent columns NA while resources stay', () => {
  const v = normalizeValues('default', {
    request_rate: 0,
    http_success_rate: 0,
    error_rate: 0,
    p95_latency: 0,
    rss_mb: 200,
    cpu_percent: 1.5,
    cache_hits_raw: 0,
  });
  assert.equal(v.http_success_rate, null);
  assert.equal(v.error_rate, null);
  assert.equal(v.p95_latency, null);
  assert.equal(v.rss_mb, 200);
  assert.equal(v.cpu_percent, 1.5);
  assert.equal(v.cache_hits_raw, 0);
  const busy = normalizeValues('default', { request_rate: 5, error_rate: 0, p95_latency: NaN, rss_mb: '210.5' });
  assert.equal(busy.error_rate, 0);
  assert.equal(busy.p95_latency, null, 'NaN from PromQL is NA');
  assert.equal(busy.rss_mb, 210.5, 'string sample values from Prometheus are parsed');
});

test('the built-in profiles are data: every column names a query or a load statistic, and every seed-v3 query has a default', () => {
  for (const name of CSV_PROFILES) {
    const spec = BUILTIN_PROFILES[name];
    assert.deepEqual(
      spec.columns.map((c) => c.name),
      name === 'default' ? [...DEFAULT_HEADER] : [...SEED_V3_HEADER],
    );
    assert.deepEqual(profileProblems(spec), []);
    for (const c of spec.columns)
      assert.ok(c.query !== undefined || c.load !== undefined, `${name}.${c.name} has a source`);
  }
  // seed-v3: no column is NA for want of a query (only for want of the series it reads)
  for (const c of BUILTIN_PROFILES['seed-v3'].columns) {
    if (c.name === 'timestamp' || c.name === 'sample_num') continue;
    assert.ok(c.query && BASELINE_QUERIES[c.query], `seed-v3 column ${c.name} has a default query`);
  }
  // the engine fills what it measures itself, as before the columns were data
  const seed = Object.fromEntries(BUILTIN_PROFILES['seed-v3'].columns.map((c) => [c.name, c]));
  assert.deepEqual(seed.p95_latency, { name: 'p95_latency', query: 'baseline.p95_latency', load: 'p95_ms' });
  assert.deepEqual(seed.plugin_reload_success, {
    name: 'plugin_reload_success',
    query: 'baseline.plugin_reload_success',
  });
  assert.deepEqual(seed.timestamp, { name: 'timestamp', load: 'timestamp' });
});

test('a declared profile writes its own header, formats by unit or statistic, and keeps its operations', () => {
  const mine: CsvProfile = {
    name: 'mine',
    columns: [
      { name: 'sample_num', load: 'sample_num' },
      { name: 'window_end', load: 'timestamp' },
      { name: 'pushes', query: 'custom.pushes' },
      { name: 'status_p95', query: 'custom.status_p95', unit: 'ms' },
      { name: 'client_p95', load: 'p95_ms' },
      { name: 'ok_rate', query: 'custom.ok', load: 'success_rate' },
    ],
    operations: [
      {
        label: 'push',
        rateColumn: 'ok_rate',
        successColumns: ['pushes'],
        failureColumns: ['pushes'],
        p95Column: 'status_p95',
        p99Column: 'status_p95',
      },
    ],
  };
  assert.equal(header(mine), 'sample_num,window_end,pushes,status_p95,client_p95,ok_rate');
  assert.deepEqual(queriedColumns(mine), ['pushes', 'status_p95', 'ok_rate']);
  assert.deepEqual(
    columns(mine).map((c) => c.kind),
    ['sample_num', 'timestamp', 'count', 'ms', 'ms', 'ratio'],
  );
  assert.equal(profileName(mine), 'mine');
  assert.equal(resolveProfile(mine).operations[0].rateColumn, 'ok_rate');
  const line = row(mine, {
    sampleNum: 2,
    timestamp: Date.UTC(2025, 10, 23, 14, 10) / 1000,
    values: { pushes: 12, status_p95: 43.216, client_p95: null, ok_rate: 0.99871234567 },
  });
  assert.equal(line, '2,2025-11-23T14:10:00Z,12,43.22,NA,0.998712');
  // no request_rate column: nothing forces traffic-dependent columns to NA
  assert.deepEqual(normalizeValues(mine, { pushes: '3', status_p95: NaN, ok_rate: 1 }), {
    pushes: 3,
    status_p95: null,
    client_p95: null,
    ok_rate: 1,
  });
});

test('a broken profile is refused naming the field; an unknown built-in name too', () => {
  const bad = {
    name: 'bad',
    columns: [
      { name: 'a', query: 'q' },
      { name: 'a', load: 'rps' as const },
      { name: 'b' },
      { name: '1x', load: 'rps' as const },
      { name: 't', load: 'timestamp' as const, query: 'q' },
    ],
    operations: [
      { label: 'op', rateColumn: 'nope', successColumns: ['a'], failureColumns: ['a'], p95Column: 'a', p99Column: 'a' },
    ],
  };
  const problems = profileProblems(bad).map((p) => `${p.path.join('.')}: ${p.message}`);
  assert.deepEqual(problems, [
    'columns.1.name: "a" is declared twice',
    'columns.2: column "b" needs a query or a load statistic',
    'columns.3.name: "1x" must be letters, digits and "_" (at most 64), not starting with a digit',
    'columns.4.query: column "t" takes the window\'s timestamp; it cannot also have a query',
    'operations.0: operation "op" names column "nope", which the profile does not declare',
  ]);
  assert.throws(() => header(bad), /CSV profile "bad": columns\.1\.name/);
  assert.throws(() => header('seed-v4' as CsvProfile), /unknown CSV profile "seed-v4"/);
});

test('temporal.yaml declares profiles: unknown profile, a column query outside queries and a built-in name are refused naming the key', () => {
  const columns = [
    { name: 'sample_num', load: 'sample_num' },
    { name: 'pushes', query: 'custom.pushes' },
  ];
  const ok = parseConfig({
    queries: { 'custom.pushes': 'sum(increase(gitops_operations_total[$window]))' },
    baseline: { profile: 'mine', profiles: { mine: { columns } } },
  });
  assert.equal(ok.baseline.profile, 'mine');
  const issues = (raw: unknown): string => {
    try {
      parseConfig(raw);
      return '';
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      return e.message;
    }
  };
  assert.match(
    issues({ baseline: { profile: 'nope' } }),
    /baseline\.profile: unknown CSV profile "nope": built-in default, seed-v3/,
  );
  assert.match(
    issues({ baseline: { profiles: { mine: { columns } } } }),
    /baseline\.profiles\.mine\.columns\.1\.query: no query named "custom\.pushes"/,
  );
  assert.match(
    issues({ baseline: { profiles: { 'seed-v3': { columns: [{ name: 'x', load: 'rps' }] } } } }),
    /baseline\.profiles\.seed-v3: "seed-v3" is a built-in profile/,
  );
  assert.match(
    issues({ baseline: { profiles: { mine: { columns: [{ name: 'x', load: 'latency' }] } } } }),
    /baseline\.profiles\.mine\.columns\.0\.load/,
  );
  // the starter carries a declared profile whole; an unknown name is a validation error on `profile`
  assert.deepEqual(csvProfileFromConfig(ok.baseline, 'mine'), { name: 'mine', columns });
  assert.equal(csvProfileFromConfig(ok.baseline, 'seed-v3'), 'seed-v3');
  assert.throws(
    () => csvProfileFromConfig(ok.baseline, 'other'),
    (e: unknown) => e instanceof DomainError && e.details?.field === 'profile' && /declared mine/.test(e.message),
  );
});
