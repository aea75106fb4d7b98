/**
 * `--wait` for the CLI's start commands: polls the run's status and prints a progress line —
 * week/day, stage and percent, sample n of N (workflows/summary.ts) — each time it changes, and
 * at least every `heartbeatMs` on long quiet stretches, until the run ends.
 */

export interface Progress {
  /** the run has ended: `line` is its outcome */
  done: boolean;
  line: string;
}

export interface WaitOptions {
  /** reads the run's state now */
  poll: () => Promise<Progress>;
  out: (line: string) => void;
  /** between polls; default 5 s */
  intervalMs?: number;
  /** a progress line at least this often even when nothing changed; default 60 s */
  heartbeatMs?: number;
  /** injectable for tests */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

function elapsed(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

/** Polls until the run ends; returns its final line. A failing poll is reported and retried. */
export async function waitWithProgress(o: WaitOptions): Promise<string> {
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const t0 = now();
  let last = '';
  let lastAt = t0;
  for (;;) {
    let p: Progress;
    try {
      p = await o.poll();
    } catch (e) {
      p = { done: false, line: `status unavailable: ${(e as Error).message}` };
    }
    const t = now();
    if (p.done) {
      o.out(`[${elapsed(t - t0)}] ${p.line}`);
      return p.line;
    }
    if (p.line !== last || t - lastAt >= (o.heartbeatMs ?? 60_000)) {
      o.out(`[${elapsed(t - t0)}] ${p.line}`);
      last = p.line;
      lastAt = t;
    }
    await sleep(o.intervalMs ?? 5_000);
  }
}
