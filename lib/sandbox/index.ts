/** Builds the configured sandbox provider (`sandbox` section of temporal.yaml). */
import { resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { DomainError, ErrorType } from '../errors.js';
import { createE2bProvider } from './e2b.js';
import { createLocalProvider } from './local.js';
import type { SandboxProvider } from './types.js';

export type {
  Sandbox,
  SandboxProvider,
  SandboxInfo,
  SandboxSize,
  CommandResult,
  RunOptions,
  CreateSandboxOptions,
} from './types.js';
export {
  createLocalProvider,
  type LocalSandboxProvider,
  type LocalFaults,
  type LocalProviderOptions,
} from './local.js';
export {
  createE2bProvider,
  E2B_HOME,
  E2B_PRICING,
  OWNER_METADATA_KEY,
  type E2bProviderOptions,
  type E2bSandboxProvider,
} from './e2b.js';
export { classifyE2bError, type E2bOperation } from './errors.js';
export { shellQuote, shellJoin, assertValidArgv } from './quote.js';

/**
 * `local` → a directory per sandbox under `localRoot` (resolved against `baseDir`, default the
 * process's cwd); `e2b` → E2B with `e2bApiKey` (or E2B_API_KEY), failing clearly without one.
 */
export function createProvider(
  cfg: Config['sandbox'],
  opts: {
    baseDir?: string;
    env?: NodeJS.ProcessEnv;
    onRateLimited?: () => void;
    limits?: Pick<Config['limits'], 'commandOutputMaxBytes'>;
  } = {},
): SandboxProvider {
  const maxOutputBytes = opts.limits?.commandOutputMaxBytes;
  if (cfg.provider === 'local') {
    return createLocalProvider({
      root: resolve(opts.baseDir ?? process.cwd(), cfg.localRoot),
      pricePerSecond: cfg.pricePerSecond,
      defaultTimeoutMs: cfg.timeoutMs,
      commandTimeoutMs: cfg.commandTimeoutMs,
      maxOutputBytes,
    });
  }
  const apiKey = cfg.e2bApiKey ?? (opts.env ?? process.env).E2B_API_KEY;
  if (!apiKey) {
    throw new DomainError(
      ErrorType.Validation,
      'sandbox.provider is "e2b" but no API key is configured: set sandbox.e2bApiKey or the E2B_API_KEY environment variable',
      { details: { field: 'sandbox.e2bApiKey' } },
    );
  }
  const e = cfg.e2b;
  return createE2bProvider({
    apiKey,
    template: cfg.template,
    defaultTimeoutMs: cfg.timeoutMs,
    commandTimeoutMs: cfg.commandTimeoutMs,
    domain: e.domain,
    apiUrl: e.apiUrl,
    sandboxUrl: e.sandboxUrl,
    maxLifetimeMs: e.maxLifetimeMs,
    owner: e.owner,
    requestTimeoutMs: e.requestTimeoutMs,
    transferTimeoutMs: e.transferTimeoutMs,
    pricing: e.pricing,
    env: opts.env,
    onRateLimited: opts.onRateLimited,
    maxOutputBytes,
  });
}
