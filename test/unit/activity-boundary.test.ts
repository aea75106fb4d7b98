/**
 * The activity boundary (activities/interceptors.ts) through MockActivityEnvironment, as the
 * workers register it: failure translation, the ids on log lines, the duration histogram; and
 * the runtime logger that carries workflow `log` lines into pino (workers/runtime.ts).
 */
import { describe, expect, test } from '@jest/globals';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { activityLogger } from '../../activities/support.js';
import { DomainError, ErrorType } from '../../lib/errors.js';
import { createLogger } from '../../lib/log.js';
import { createMetrics } from '../../lib/metrics.js';
import { temporalLogger } from '../../workers/runtime.js';
import { boundaryEnv } from '../helpers/activities.js';

/** A pino logger writing JSON lines into an array. */
function capture(level = 'debug') {
  const lines: string[] = [];
  const log = createLogger({ level, destination: { write: (s: string) => void lines.push(s) } });
  return { log, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

const INFO = {
  workflowExecution: { workflowId: 'gitop-wf-1', runId: 'run-1' },
  workflowType: 'gitOperationWorkflow',
  activityType: 'pull',
  attempt: 3,
};

async function failureOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => {
      throw new Error('expected the activity to fail');
    },
    (e: unknown) => e,
  );
}

describe('failure translation', () => {
  test('a non-retryable DomainError leaves as a non-retryable ApplicationFailure of its type, with its category and details', async () => {
    const err = await failureOf(
      boundaryEnv().run(async () => {
        throw new DomainError(ErrorType.Conflict, 'rebase conflict', { details: { files: ['a.ts'] } });
      }),
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    const f = err as ApplicationFailure;
    expect(f.type).toBe('GitConflict');
    expect(f.nonRetryable).toBe(true);
    expect(f.message).toBe('rebase conflict');
    expect(f.details).toEqual([{ category: 'conflict', files: ['a.ts'] }]);
  });

  test("a full sandbox disk (an errno ENOSPC from the filesystem) leaves as a retryable Unavailable, not the SDK's generic failure", async () => {
    const f = (await failureOf(
      boundaryEnv().run(async () => {
        throw Object.assign(new Error("ENOSPC: no space left on device, mkdir '/sandboxes/lsb-1/w'"), {
          code: 'ENOSPC',
          errno: -28,
        });
      }),
    )) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect(f.type).toBe('Unavailable');
    expect(f.nonRetryable).toBe(false);
    expect(f.details).toEqual([{ category: 'other', reason: 'disk_full' }]);
  });

  test('Postgres unreachable (restarting, refused, a dropped connection) leaves as a retryable Unavailable, not a generic failure the API answers 500 for', async () => {
    // issue 12's postgres-restart fault: a push whose last attempt failed on a node-postgres error
    // answered 500 "internal error"; the API maps only its own calls' errors to 503
    const shapes = [
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
    ];
    for (const shape of shapes) {
      const f = (await failureOf(
        boundaryEnv().run(async () => {
          throw shape;
        }),
      )) as ApplicationFailure;
      expect(f).toBeInstanceOf(ApplicationFailure);
      expect([shape.message, f.type, f.nonRetryable]).toEqual([shape.message, 'Unavailable', false]);
      expect(f.details).toEqual([{ category: 'network', reason: 'dependency_unavailable' }]);
    }
  });

  test('a retryable DomainError leaves retryable, so Temporal retries the attempt', async () => {
    const f = (await failureOf(
      boundaryEnv().run(async () => {
        throw new DomainError(ErrorType.PromUnavailable, 'prometheus down');
      }),
    )) as ApplicationFailure;
    expect(f).toBeInstanceOf(ApplicationFailure);
    expect([f.type, f.nonRetryable]).toEqual(['PromUnavailable', false]);
  });

  test('details lose secret-named fields and credentials inside strings; the message loses URL credentials', async () => {
    const f = (await failureOf(
      boundaryEnv().run(async () => {
        throw new DomainError(
          ErrorType.Auth,
          'push to https://bot:ghp_abcdefghijklmnopqrstuvwxyz0123@git.example/r.git refused',
          {
            details: {
              token: 'tok-123',
              nested: { password: 'pw', apiKey: 'k', keep: 1 },
              remote: 'https://bot:s3cret@git.example/r.git?access_token=zz',
              note: 'sent Bearer abcdefghijklmnopqrstuv',
              tokenRef: 'SGC_LOAD_TOKEN',
            },
          },
        );
      }),
    )) as ApplicationFailure;
    const text = JSON.stringify([f.message, f.details]);
    for (const secret of [
      'tok-123',
      'pw',
      '"k"',
      's3cret',
      'zz',
      'ghp_abcdefghijklmnopqrstuvwxyz0123',
      'abcdefghijklmnopqrstuv',
    ]) {
      expect(text).not.toContain(secret);
    }
    expect(f.details).toEqual([
      {
        category: 'auth',
        nested: { keep: 1 },
        remote: 'https://git.example/r.git',
        note: 'sent Bearer [redacted]',
        tokenRef: 'SGC_LOAD_TOKEN',
      },
    ]);
    expect(f.message).toBe('push to https://git.example/r.git refused');
  });

  test('an error that is not a DomainError passes through untouched (the SDK reports it as retryable)', async () => {
    const boom = new RangeError('bug');
    expect(
      await failureOf(
        boundaryEnv().run(async () => {
          throw boom;
        }),
      ),
    ).toBe(boom);
  });
});

describe('metrics', () => {
  test('every execution is observed on gitops_activity_duration_seconds by activity type and outcome', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    const env = (activityType: string) => boundaryEnv({ metrics, info: { ...INFO, activityType } });
    await env('pull').run(async () => 'ok');
    await env('pull').run(async () => 'ok');
    await failureOf(
      env('pull').run(async () => {
        throw new DomainError(ErrorType.Conflict, 'conflict');
      }),
    );
    await failureOf(
      env('commitPush').run(async () => {
        throw new TypeError('bug');
      }),
    );
    const cancelled = env('commitPush');
    const hung = cancelled.run(() => Context.current().cancelled);
    setTimeout(() => cancelled.cancel('CANCELLED'), 10);
    await failureOf(hung);

    const { values } = await metrics.activityDuration.get();
    const counts = Object.fromEntries(
      values
        .filter((v) => v.metricName === 'gitops_activity_duration_seconds_count')
        .map((v) => [`${v.labels.activity_type}/${v.labels.outcome}`, v.value]),
    );
    expect(counts).toEqual({
      'pull/ok': 2,
      'pull/GitConflict': 1,
      'commitPush/unexpected': 1,
      'commitPush/cancelled': 1,
    });
    const hungSum = values.find(
      (v) => v.metricName === 'gitops_activity_duration_seconds_sum' && v.labels.outcome === 'cancelled',
    );
    expect(hungSum?.value).toBeGreaterThan(0.005);
  });
});

describe('logging', () => {
  test('the activity body and the boundary log with the workflow id, workflow type, activity type and attempt', async () => {
    const { log, records } = capture();
    const bodyLog = activityLogger(log.child({ component: 'git-activities' }));
    await boundaryEnv({ log, info: INFO }).run(async () => {
      bodyLog.info({ workspaceId: 'ws-1' }, 'pulled');
    });
    await failureOf(
      boundaryEnv({ log, info: INFO }).run(async () => {
        throw new DomainError(ErrorType.Network, 'could not resolve host');
      }),
    );
    const ids = { workflowId: 'gitop-wf-1', workflowType: 'gitOperationWorkflow', activityType: 'pull', attempt: 3 };
    const byMsg = (msg: string) => records().find((r) => r.msg === msg);
    expect(byMsg('pulled')).toMatchObject({ ...ids, component: 'git-activities', workspaceId: 'ws-1' });
    expect(byMsg('activity completed')).toMatchObject(ids);
    expect(byMsg('activity failed')).toMatchObject({
      ...ids,
      type: 'NetworkError',
      retryable: true,
      err: 'could not resolve host',
    });

    // outside an activity the same logger adds nothing
    bodyLog.info('outside');
    const outside = byMsg('outside')!;
    expect(outside.workflowId).toBeUndefined();
    expect(outside.component).toBe('git-activities');
  });

  test("workflow log lines reach pino with the workflow ids; the SDK's own debug chatter does not", () => {
    const { log, records } = capture();
    const tl = temporalLogger(log);
    tl.info('pool maintenance done', {
      sdkComponent: 'workflow',
      workflowId: 'wf-7',
      workflowType: 'poolMaintenanceWorkflow',
      runId: 'r',
      task: 'cleanup',
    });
    tl.debug('Activity started', { sdkComponent: 'worker', activityType: 'pull' });
    tl.warn('Activity failed', { sdkComponent: 'worker', error: new Error('boom') });
    const rs = records();
    expect(rs.map((r) => r.msg)).toEqual(['pool maintenance done', 'Activity failed']);
    expect(rs[0]).toMatchObject({
      level: 30,
      component: 'workflow',
      workflowId: 'wf-7',
      workflowType: 'poolMaintenanceWorkflow',
      task: 'cleanup',
    });
    expect(rs[1]).toMatchObject({
      level: 40,
      component: 'temporal-sdk',
      sdkComponent: 'worker',
      err: { message: 'boom' },
    });
  });
});
