import { expect, test } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnManaged } from '../../scripts/stack.js';

// issue 11 item 5: `npm run bench -- <name>` on a fresh clone failed with ENOENT on
// .data/bench-temporal.log: a managed process's log directory must be created first
test('spawnManaged creates the directory of its log file', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sgc-spawn-'));
  try {
    const logFile = join(root, 'fresh', 'clone', '.data', 'bench-temporal.log');
    const p = spawnManaged(process.execPath, ['-e', 'console.log("started")'], { logFile });
    await new Promise<void>((r) => p.child.once('exit', () => r()));
    expect(existsSync(logFile)).toBe(true);
    expect(readFileSync(logFile, 'utf8')).toBe('started\n');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
