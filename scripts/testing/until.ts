/**
 * Polling for tests and benchmarks: waits until a condition holds, or throws naming it. A
 * condition that throws counts as not yet (a service still starting, a record not written yet).
 */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls `pred` every `intervalMs` (default 50) until it returns a value other than `false` or
 * `undefined`, and returns that value; throws `<what>: not within <timeoutMs> ms` after the bound.
 */
export async function until<T>(
  what: string,
  pred: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs: number,
  intervalMs = 50,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await Promise.resolve()
      .then(pred)
      .catch(() => undefined);
    if (v !== undefined && v !== false) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
