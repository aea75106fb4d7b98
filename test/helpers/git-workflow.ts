/**
 * The stack gitOperationWorkflow tests share: the real dev server, approach 1 on the local
 * provider (sandboxes in a temp dir), file remotes under the temp dir with agent branches and the
 * shared main pushable, and a fresh database. Bare repositories made with repo() go at close().
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { parseConfig } from '../../lib/config/index.js';
import type { Logger } from '../../lib/log.js';
import { createMetrics, type Metrics } from '../../lib/metrics.js';
import { createGitService, type SimpleGitService } from '../../lib/service/index.js';
import { gitOperationWorkflow, type GitOperationInput } from '../../workflows/git-operation/workflow.js';
import { freshDb, type TestDb } from './db.js';
import { createBareRepo } from './git.js';
import { testEnv, uniqueId } from './temporal.js';

export interface GitWorkflowStack {
  env: TestWorkflowEnvironment;
  /** the started approach-1 service over the stack's database and sandboxes */
  service: SimpleGitService;
  /** the registry the service reports to */
  metrics: Metrics;
  sandboxRoot: string;
  repo(files?: Record<string, string>): ReturnType<typeof createBareRepo>;
  /** starts gitOperationWorkflow with `input` on `taskQueue` */
  run<I extends GitOperationInput>(
    taskQueue: string,
    input: I,
    workflowId?: string,
  ): ReturnType<typeof startGitOperation<I>>;
  close(): Promise<void>;
}

/**
 * `name` tags the database and the sandbox dir; `config` adds top-level config sections
 * (say, `push`) to the shared ones.
 */
export async function startGitWorkflowStack(
  name: string,
  o: { log: Logger; config?: Record<string, unknown> },
): Promise<GitWorkflowStack> {
  let env: TestWorkflowEnvironment | undefined;
  let tdb: TestDb | undefined;
  let service: SimpleGitService | undefined;
  const sandboxRoot = mkdtempSync(join(tmpdir(), `sgc-${name}-sb-`));
  const repos: { cleanup(): void }[] = [];
  const close = async () => {
    await service?.close();
    await tdb?.drop();
    await env?.teardown();
    for (const r of repos) r.cleanup();
    rmSync(sandboxRoot, { recursive: true, force: true });
  };
  try {
    const started = await testEnv();
    env = started;
    tdb = await freshDb(name);
    const config = parseConfig({
      sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
      security: { encryptionKey: randomBytes(32).toString('base64') },
      git: {
        backoffBaseMs: 20,
        backoffMaxMs: 200,
        remotes: [{ scheme: 'file', pathPrefix: tmpdir() }],
        pushBranches: ['agent/{agentId}/**', 'main'],
      },
      ...o.config,
    });
    const metrics = createMetrics({ defaultMetrics: false });
    service = createGitService({ config, db: tdb.db, metrics, log: o.log, approach: 'simple' });
    await service.start();
    return {
      env: started,
      service,
      metrics,
      sandboxRoot,
      repo(files) {
        const r = createBareRepo(files);
        repos.push(r);
        return r;
      },
      run: (taskQueue, input, workflowId) => startGitOperation(started, taskQueue, input, workflowId),
      close,
    };
  } catch (e) {
    await close().catch(() => undefined);
    throw e;
  }
}

function startGitOperation<I extends GitOperationInput>(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  input: I,
  workflowId = uniqueId(`gitop-${input.op}`),
) {
  return env.client.workflow.start(gitOperationWorkflow, { taskQueue, workflowId, args: [input] });
}
