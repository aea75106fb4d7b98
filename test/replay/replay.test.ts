/**
 * Replays every stored workflow history (test/replay/histories/*.json, recorded from real runs by
 * `npm run record-histories`) against the current workflow code. A change that makes a workflow
 * issue different commands for the same history — an activity added, removed or reordered, a
 * timer moved, a continue-as-new taken at another point — fails here with the history's name and
 * Temporal's nondeterminism error: it would break every run of that workflow in flight. Use
 * `patched()` for such a change (README, "Changing a workflow"). No server is needed: the replay
 * worker runs the bundled workflow code against the stored events.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DefaultLogger, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import * as workflows from '../../workflows/index.js';
import { HISTORIES_DIR, parseHistory } from '../helpers/history.js';
import { workflowBundle } from '../helpers/temporal.js';

// a nondeterministic replay is expected to be reported by the test, not logged by the runtime
Runtime.install({ logger: new DefaultLogger('ERROR') });

const stored = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => {
    const history = parseHistory(readFileSync(join(HISTORIES_DIR, file), 'utf8'));
    return {
      file,
      history,
      workflowType: history.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name ?? '?',
    };
  });

const results = new Map<string, ReplayResult>();

beforeAll(async () => {
  const replay = Worker.runReplayHistories(
    { workflowBundle: await workflowBundle() },
    stored.map((s) => ({ workflowId: s.file.replace(/\.json$/, ''), history: s.history })),
  );
  for await (const r of replay) results.set(`${r.workflowId}.json`, r);
});

describe('stored workflow histories', () => {
  test('there is one for every workflow the worker registers', () => {
    const registered = Object.entries(workflows)
      .filter(([name, v]) => typeof v === 'function' && name.endsWith('Workflow'))
      .map(([name]) => name)
      .sort();
    expect(registered.length).toBeGreaterThanOrEqual(8);
    expect(registered.filter((name) => !stored.some((s) => s.workflowType === name))).toEqual([]);
  });

  test.each(stored.map((s) => [s.file, s.workflowType]))('%s (%s) replays on the current workflow code', (file) => {
    const r = results.get(file);
    expect(r).toBeDefined();
    if (r?.error) throw new Error(`${file} no longer replays: ${r.error.name}: ${r.error.message}`);
  });
});
