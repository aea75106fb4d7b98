/**
 * Is approach 1 warm? (seed 002 week 3: "100 % on approach 2 with approach 1 as hot backup"; issue
 * 10 item 2: "approach 1 kept ready during the hot backup, so a kill switch lands on a warm
 * path"). During cutover approach 1 serves nobody, so nothing else would notice it going cold —
 * a provider quota spent, a template gone, credentials revoked — until a kill switch sends every
 * agent there. The probe does what approach 1 does first for every workspace: asks its sandbox
 * provider for a fresh sandbox (labelled `sgcApproach: simple`, `purpose: hot-backup-probe`),
 * runs `git --version` in it, and kills it. Warm = all three within the time limit.
 */
import type { SandboxProvider } from '../sandbox/types.js';

export interface HotBackupProbe {
  warm: boolean;
  /** wall time of the probe, ms */
  ms: number;
  /** what answered (git's version) or what failed, said plainly */
  detail: string;
}

export const HOT_BACKUP_PROBE_TIMEOUT_MS = 20_000;

export async function probeApproach1(
  provider: Pick<SandboxProvider, 'create' | 'name'>,
  opts: { timeoutMs?: number } = {},
): Promise<HotBackupProbe> {
  const timeoutMs = opts.timeoutMs ?? HOT_BACKUP_PROBE_TIMEOUT_MS;
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_res, rej) => {
    timer = setTimeout(() => rej(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  // the sandbox's kill, once created (a closure sees it set later, when the sandbox comes late)
  const made: { kill?: () => Promise<void> } = {};
  const killMade = () => made.kill?.().catch(() => undefined);
  let work: Promise<string> | undefined;
  try {
    work = (async () => {
      const sb = await provider.create({
        metadata: { sgcApproach: 'simple', purpose: 'hot-backup-probe' },
        timeoutMs: timeoutMs + 10_000,
      });
      made.kill = () => sb.kill();
      const r = await sb.run(['git', '--version'], { timeoutMs });
      if (r.exitCode !== 0) throw new Error(`git --version exited ${r.exitCode}: ${r.stderr.trim().slice(0, 200)}`);
      return r.stdout.trim();
    })();
    work.catch(() => undefined); // when the time limit wins, the work's own failure comes later
    const version = await Promise.race([work, late]);
    return { warm: true, ms: ms(), detail: `approach 1 (${provider.name}) served a sandbox: ${version}` };
  } catch (e) {
    return { warm: false, ms: ms(), detail: `approach 1 (${provider.name}) is cold: ${(e as Error).message}` };
  } finally {
    clearTimeout(timer);
    if (made.kill !== undefined) await killMade();
    // a sandbox that arrives after the time limit is killed when it does (it also has a lifetime)
    else void work?.then(killMade, killMade);
  }
}
