/**
 * The E2B stand-in for tests: E2B's own envd (built by provisioning; `npm test` sets
 * SGC_ENVD_BIN) behind lib/sandbox/e2b-standin, and the real `e2b` provider pointed at it.
 */
import { randomBytes } from 'node:crypto';
import { startE2bStandin, type E2bStandin, type E2bStandinOptions } from '../../lib/sandbox/e2b-standin/index.js';
import { createE2bProvider, type E2bProviderOptions, type E2bSandboxProvider } from '../../lib/sandbox/e2b.js';

export interface TestStandin extends E2bStandin {
  apiKey: string;
  /** the e2b provider (real SDK) talking to this stand-in */
  provider(extra?: Partial<E2bProviderOptions>): E2bSandboxProvider;
}

export function envdBin(): string {
  const bin = process.env.SGC_ENVD_BIN;
  if (!bin)
    throw new Error(
      "SGC_ENVD_BIN is not set: run tests through `npm test -- <file>` (it builds E2B's envd once and sets it)",
    );
  return bin;
}

export async function startTestStandin(opts: Partial<E2bStandinOptions> = {}): Promise<TestStandin> {
  const apiKey = `e2b_standin_${randomBytes(12).toString('hex')}`;
  const st = await startE2bStandin({ envdBin: envdBin(), apiKey, ...opts });
  const owner = `sgc-test-${randomBytes(4).toString('hex')}`;
  return Object.assign(st, {
    apiKey,
    provider(extra: Partial<E2bProviderOptions> = {}): E2bSandboxProvider {
      return createE2bProvider({
        apiKey,
        template: 'base',
        defaultTimeoutMs: 120_000,
        apiUrl: st.apiUrl,
        sandboxUrl: st.sandboxUrl,
        owner,
        ...extra,
      });
    },
  });
}
