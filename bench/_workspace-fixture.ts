/**
 * The setup the read-path benchmarks share (status-overhead, mcp-overhead): a fresh Postgres
 * database, the real API (buildApp on an ephemeral port, one agent token) over its own git
 * service, a second service as the worker process would have, both on the local sandbox provider
 * over one sandbox root, and a workspace cloned from a real bare repository (40 files) with 5
 * modified and 3 untracked files. Not a benchmark itself (the leading `_` keeps it off the list).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { buildApp, type App } from '../api/app.js';
import { createTemporalClient } from '../clients/temporal.js';
import { parseConfig, type Config } from '../lib/config/index.js';
import { createMetrics } from '../lib/metrics.js';
import { createLocalProvider, type LocalSandboxProvider } from '../lib/sandbox/local.js';
import { createGitService, type SimpleGitService } from '../lib/service/index.js';
import type { Workspace } from '../lib/service/types.js';
import { freshDb, type TestDb } from '../scripts/testing/db.js';
import { createBareRepo } from '../scripts/testing/git.js';
import { stackEnv } from '../scripts/testing/stack.js';

export const BENCH_AGENT = 'bench-agent';

export interface WorkspaceFixture {
  config: Config;
  db: TestDb;
  app: App;
  /** the API's base URL */
  base: string;
  /** the agent's bearer token */
  token: string;
  /** the API process's service and the worker process's (which created the workspace) */
  apiService: SimpleGitService;
  workerService: SimpleGitService;
  workerProvider: LocalSandboxProvider;
  apiProvider: LocalSandboxProvider;
  ws: Workspace;
  /** undoes everything, newest first, also after a failed setup */
  close(): Promise<void>;
}

export async function workspaceFixture(name: string): Promise<WorkspaceFixture> {
  const cleanups: (() => unknown)[] = [];
  const close = async (): Promise<void> => {
    for (const undo of cleanups.reverse()) {
      try {
        await undo();
      } catch {
        // best effort: the rest still gets cleaned up
      }
    }
  };
  try {
    const token = `bench-${randomBytes(16).toString('hex')}`;
    const db = await freshDb(`bench_${name.replace(/-/g, '_')}`);
    cleanups.push(() => db.drop());
    const sandboxRoot = mkdtempSync(join(tmpdir(), `sgc-bench-${name}-`));
    cleanups.push(() => rmSync(sandboxRoot, { recursive: true, force: true }));
    const files: Record<string, string> = { 'README.md': '# bench\n' };
    for (let i = 0; i < 40; i++) files[`src/mod-${i}.ts`] = `export const v${i} = ${i};\n`;
    const repo = createBareRepo(files);
    cleanups.push(() => repo.cleanup());
    const config = parseConfig({
      service: { approach: 'simple' },
      sandbox: { provider: 'local', localRoot: sandboxRoot, timeoutMs: 600_000 },
      security: { encryptionKey: randomBytes(32).toString('base64') },
      api: { tokens: [{ name: BENCH_AGENT, role: 'agent', agentId: BENCH_AGENT, token }] },
      git: { remotes: [{ scheme: 'file', pathPrefix: tmpdir() }] },
    });
    const log = pino({ level: 'silent' });
    const workerProvider = createLocalProvider({ root: sandboxRoot, defaultTimeoutMs: 600_000 });
    const apiProvider = createLocalProvider({ root: sandboxRoot, defaultTimeoutMs: 600_000 });
    cleanups.push(
      () => workerProvider.close(),
      () => apiProvider.close(),
    );
    const workerService = createGitService({
      config,
      db: db.db,
      metrics: createMetrics({ defaultMetrics: false }),
      log,
      provider: workerProvider,
      approach: 'simple',
    });
    const apiService = createGitService({
      config,
      db: db.db,
      metrics: createMetrics({ defaultMetrics: false }),
      log,
      provider: apiProvider,
      approach: 'simple',
    });
    cleanups.push(
      () => workerService.close(),
      () => apiService.close(),
    );
    // reads never touch Temporal; buildApp wants a client, so a lazy one that is never used
    const client = await createTemporalClient(
      { ...config.temporal, address: stackEnv('SGC_TEST_TEMPORAL_ADDRESS') },
      { lazy: true },
    );
    cleanups.push(() => client.connection.close());
    const app = await buildApp({
      config,
      service: apiService,
      temporal: { client, taskQueue: 'bench-unused' },
      metrics: createMetrics({ defaultMetrics: false }),
      db: db.db,
      log,
    });
    cleanups.push(() => app.close());
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    const ws = await workerService.createWorkspace({
      agentId: BENCH_AGENT,
      taskId: `${name}-bench`,
      repoUrl: repo.url,
    });
    cleanups.push(() => workerService.release(ws.id));
    for (let i = 0; i < 5; i++)
      await workerService.writeFile(ws.id, `src/mod-${i}.ts`, `export const v${i} = ${i * 10}; // edited\n`);
    for (let i = 0; i < 3; i++) await workerService.writeFile(ws.id, `new-file-${i}.txt`, `untracked ${i}\n`);
    return { config, db, app, base, token, apiService, workerService, workerProvider, apiProvider, ws, close };
  } catch (e) {
    await close();
    throw e;
  }
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const p95 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.ceil(0.95 * xs.length) - 1];
export const fmt = (x: number): string => x.toFixed(2);
