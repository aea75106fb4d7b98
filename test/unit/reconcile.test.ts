import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { dualWriteWindows, inWindows, reconcileRecords, type WorkspaceRecord } from '../../lib/reconcile/reconcile.js';
import { inShadowShare } from '../../lib/router/hash.js';

const T0 = Date.parse('2025-11-20T10:00:00Z');
const at = (s: number) => new Date(T0 + s * 1000);
const now = at(3600);
const LAG = 60_000;

function rec(id: string, approach: 'simple' | 'pooled', o: Partial<WorkspaceRecord> = {}): WorkspaceRecord {
  return {
    id,
    approach,
    agentId: 'a',
    taskId: 't',
    status: 'ready',
    createdAt: at(0),
    lastUsedAt: null,
    releasedAt: null,
    ...o,
  };
}

describe('reconcileRecords', () => {
  test('pairs written on both sides, close together, are consistent', () => {
    const r = reconcileRecords(
      [
        rec('w1', 'simple', { lastUsedAt: at(100) }),
        rec('w1', 'pooled', { createdAt: at(1), lastUsedAt: at(101), status: 'in_use' }),
        rec('w2', 'simple'),
        rec('w2', 'pooled', { createdAt: at(2) }),
      ],
      { now, lagThresholdMs: LAG },
    );
    assert.deepEqual(r, {
      checked: 2,
      divergent: 0,
      pending: 0,
      ratio: 0,
      issues: [],
      lag: { pairs: 2, avgMs: 1_500, maxMs: 2_000, beyondThreshold: 0 },
    });
  });

  test('a record missing on either side is divergent, in both directions', () => {
    const r = reconcileRecords([rec('w1', 'simple'), rec('w2', 'pooled'), rec('w3', 'simple'), rec('w3', 'pooled')], {
      now,
      lagThresholdMs: LAG,
    });
    assert.equal(r.checked, 3);
    assert.equal(r.divergent, 2);
    assert.equal(r.ratio, 2 / 3);
    assert.deepEqual(
      r.issues.map((i) => [i.workspaceId, i.kind, i.kind === 'missing' ? i.missingOn : '']),
      [
        ['w1', 'missing', 'pooled'],
        ['w2', 'missing', 'simple'],
      ],
    );
  });

  test('a copy not written yet within the lag threshold is pending, not divergent', () => {
    const r = reconcileRecords([rec('w1', 'simple', { createdAt: at(3590) })], { now, lagThresholdMs: LAG });
    assert.deepEqual([r.checked, r.divergent, r.pending, r.ratio], [0, 0, 1, 0]);
  });

  test('status mismatch: released on one side, still live on the other', () => {
    const r = reconcileRecords(
      [
        rec('w1', 'simple', { status: 'terminated', releasedAt: at(200) }),
        rec('w1', 'pooled', { status: 'ready', lastUsedAt: at(190) }),
      ],
      { now, lagThresholdMs: LAG },
    );
    assert.equal(r.divergent, 1);
    assert.deepEqual(r.issues, [{ workspaceId: 'w1', kind: 'status_mismatch', simple: 'terminated', pooled: 'ready' }]);
  });

  test('ready vs in_use is the same state (active); error vs active is not', () => {
    const ok = reconcileRecords(
      [rec('w1', 'simple', { status: 'in_use' }), rec('w1', 'pooled', { status: 'initializing' })],
      { now, lagThresholdMs: LAG },
    );
    assert.equal(ok.divergent, 0);
    const bad = reconcileRecords([rec('w1', 'simple', { status: 'error' }), rec('w1', 'pooled', { status: 'ready' })], {
      now,
      lagThresholdMs: LAG,
    });
    assert.equal(bad.divergent, 1);
  });

  test("update lag is the seed's second query, reported and never divergence: a copy written later is lag, a missing copy is not", () => {
    // the demo's shape: the copy is created 8 s after the serving workspace (by the worker) and
    // the agent keeps working on the serving side for minutes; nothing is lost
    const healthy = reconcileRecords(
      [
        rec('w1', 'simple', { lastUsedAt: at(1000) }),
        rec('w1', 'pooled', { createdAt: at(8), lastUsedAt: at(900) }),
        rec('w2', 'simple', { lastUsedAt: at(300) }),
        rec('w2', 'pooled', { createdAt: at(8) }),
      ],
      { now, lagThresholdMs: LAG },
    );
    assert.deepEqual([healthy.checked, healthy.divergent, healthy.ratio], [2, 0, 0]);
    assert.deepEqual(healthy.lag, { pairs: 2, avgMs: 196_000, maxMs: 292_000, beyondThreshold: 2 });
    assert.deepEqual(healthy.issues, [
      { workspaceId: 'w1', kind: 'lag', behind: 'pooled', lagMs: 100_000 },
      { workspaceId: 'w2', kind: 'lag', behind: 'pooled', lagMs: 292_000 },
    ]);
    // a lost row still counts: one missing copy among the same two is 1/3 divergent
    const lost = reconcileRecords(
      [
        rec('w1', 'simple', { lastUsedAt: at(1000) }),
        rec('w1', 'pooled', { createdAt: at(8), lastUsedAt: at(900) }),
        rec('w2', 'simple', { lastUsedAt: at(300) }),
        rec('w2', 'pooled', { createdAt: at(8) }),
        rec('w3', 'simple'),
      ],
      { now, lagThresholdMs: LAG },
    );
    assert.deepEqual([lost.checked, lost.divergent], [3, 1]);
    assert.equal(lost.issues[0]!.kind, 'missing');
    // a copy not written yet is pending while the serving side is younger than the threshold
    const recent = reconcileRecords([rec('w1', 'simple', { createdAt: at(3590) })], { now, lagThresholdMs: LAG });
    assert.deepEqual([recent.checked, recent.pending, recent.divergent], [0, 1, 0]);
  });

  test('one divergent workspace in 10,000 is 0.01%', () => {
    const records: WorkspaceRecord[] = [];
    for (let i = 0; i < 10_000; i++) {
      records.push(rec(`w${i}`, 'simple'));
      if (i !== 42) records.push(rec(`w${i}`, 'pooled'));
    }
    const r = reconcileRecords(records, { now, lagThresholdMs: LAG });
    assert.equal(r.checked, 10_000);
    assert.equal(r.ratio, 0.0001);
  });

  test('nothing to check gives ratio 0', () => {
    assert.equal(reconcileRecords([], { now, lagThresholdMs: LAG }).ratio, 0);
  });
});

describe('dual-write windows', () => {
  test('open when git.clone shadow turns on, close when it turns off', () => {
    const w = dualWriteWindows([
      { at: at(0), shadow: false },
      { at: at(100), shadow: true },
      { at: at(150), shadow: true },
      { at: at(200), shadow: false },
      { at: at(300), shadow: true },
    ]);
    assert.deepEqual(w, [
      { start: at(100), end: at(200), shadowPercent: 100 },
      { start: at(300), end: null, shadowPercent: 100 },
    ]);
    assert.ok(inWindows(at(150), w, 5_000));
    assert.ok(!inWindows(at(102), w, 5_000), 'inside the switch grace');
    assert.ok(!inWindows(at(250), w, 5_000));
    assert.ok(inWindows(at(10_000), w, 5_000));
    assert.deepEqual(dualWriteWindows([]), []);
  });
});

describe('dual-write windows with a shadow share (issue 10 item 2)', () => {
  test('a share change splits the window; only agents in the share are expected on both sides', () => {
    const w = dualWriteWindows([
      { at: at(100), shadow: true, shadowPercent: 10 },
      { at: at(200), shadow: true, shadowPercent: 100 },
      { at: at(300), shadow: false, shadowPercent: 0 },
    ]);
    assert.deepEqual(w, [
      { start: at(100), end: at(200), shadowPercent: 10 },
      { start: at(200), end: at(300), shadowPercent: 100 },
    ]);
    const agents = Array.from({ length: 400 }, (_, i) => `agent-${i}`);
    const expected = agents.filter((a) => inWindows(at(150), w, 5_000, a));
    assert.ok(expected.length >= 25 && expected.length <= 55, `${expected.length} of 400 expected on both sides`);
    assert.deepEqual(
      expected,
      agents.filter((a) => inShadowShare(a, 10)),
    );
    assert.equal(agents.filter((a) => inWindows(at(250), w, 5_000, a)).length, 400);
    assert.equal(agents.filter((a) => inWindows(at(350), w, 5_000, a)).length, 0);
  });
});
