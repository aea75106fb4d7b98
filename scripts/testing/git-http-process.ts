/**
 * The smart-HTTP git server of scripts/testing/git-http.ts in a process of its own, as a remote
 * is in life: on another machine, not on the event loop of the worker being measured. Benchmarks
 * use it so the remote's work — a `git http-backend` started per request, a synchronous fork of
 * whatever process starts it, costlier the larger that process — neither blocks the worker's event
 * loop nor costs more than it would in a small server process. It still runs on this machine and
 * its CPU time still counts (bench/concurrent-push reports it with the machine's).
 *
 * As a script: `tsx scripts/testing/git-http-process.ts '<json options>'` prints its URL on the
 * first line of stdout and serves until stdin closes (so it ends with the process that started it).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startGitHttpServer, type GitHttpServer } from './git-http.js';

interface ProcessOptions {
  projectRoot: string;
  /** each request waits this long before it is served (one simulated round trip; default 0) */
  delayMs?: number;
}

/** Starts the server in a child process; `seenAuth` stays empty (the child keeps its own). */
export async function startGitHttpServerProcess(o: ProcessOptions): Promise<GitHttpServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), JSON.stringify(o)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve(line.trim()));
    child.once('exit', (code) => reject(new Error(`git http server process exited (${code}) before listening`)));
  });
  if (!/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) {
    child.kill();
    throw new Error(`git http server process printed ${JSON.stringify(url)}, not its URL`);
  }
  return {
    url,
    seenAuth: [],
    async close() {
      child.stdin.end();
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = JSON.parse(process.argv[2] ?? '{}') as ProcessOptions;
  const server = await startGitHttpServer({ projectRoot: o.projectRoot, delayMs: o.delayMs });
  process.stdout.write(`${server.url}\n`);
  process.stdin.resume();
  process.stdin.on('end', () => void server.close().then(() => process.exit(0)));
}
