/**
 * A real sandbox provider with one test hook: a command matching an armed predicate waits at a
 * gate before it runs, so a test can hold one step of an operation (a wipe, a clone, a push)
 * while others overtake it — the interleavings a retried Temporal activity or two overlapping
 * requests produce. Everything else goes straight to the wrapped provider.
 */
import type { CommandResult, RunOptions, Sandbox, SandboxProvider } from '../../lib/sandbox/types.js';

export interface Gate {
  /** resolves when a matching command reached the gate */
  reached: Promise<void>;
  /** lets it run */
  open(): void;
}

export interface GatedProvider<P extends SandboxProvider> {
  provider: P;
  /**
   * The next command whose argv (and sandbox id) matches waits until `open()`; several gates may
   * be armed at once (each catches one command). With `result`, the held command does not run at
   * all and answers that instead (e.g. a failed health probe).
   */
  arm(match: (argv: string[], sandboxId: string) => boolean, result?: CommandResult): Gate;
}

interface Armed {
  match: (argv: string[], sandboxId: string) => boolean;
  hit: () => void;
  opened: Promise<void>;
  result?: CommandResult;
}

export function gated<P extends SandboxProvider>(inner: P): GatedProvider<P> {
  const armed = new Set<Armed>();

  const wrap = (sb: Sandbox): Sandbox => {
    const run = async (argv: string[], ro?: RunOptions): Promise<CommandResult> => {
      const a = [...armed].find((x) => x.match(argv, sb.id));
      if (a) {
        armed.delete(a);
        a.hit();
        await a.opened;
        if (a.result) return a.result;
      }
      return sb.run(argv, ro);
    };
    const wrapped: Sandbox = {
      ...sb,
      run,
      async isHealthy() {
        try {
          return (await run(['true'], { timeoutMs: 10_000 })).exitCode === 0;
        } catch {
          return false;
        }
      },
    };
    return wrapped;
  };

  const provider = {
    ...inner,
    create: async (...args: Parameters<P['create']>) => wrap(await inner.create(...args)),
    connect: async (id: string) => wrap(await inner.connect(id)),
  } as P;

  return {
    provider,
    arm(match, result) {
      let hit!: () => void;
      let open!: () => void;
      const reached = new Promise<void>((r) => {
        hit = r;
      });
      const opened = new Promise<void>((r) => {
        open = r;
      });
      armed.add({ match, hit, opened, result });
      return { reached, open };
    },
  };
}

/** Rejects when `p` has not settled within `ms` (a gate that is never reached fails the test, not the run). */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
