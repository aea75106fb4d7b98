import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Paths redacted everywhere. Tokens, credentials and keys must never reach a log line;
 * redaction is the last line of defence — code also avoids logging them at all.
 */
export const REDACT_PATHS = [
  'token', '*.token', 'authorization', '*.authorization', 'req.headers.authorization',
  'password', '*.password', 'apiKey', '*.apiKey', 'secret', '*.secret', 'credentials', '*.credentials',
  'envs', '*.envs', 'encryptionKey', '*.encryptionKey', 'databaseUrl', '*.databaseUrl',
];

export function createLogger(opts: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: opts.name ?? 'sgc',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  });
}

/** Strips userinfo (user:token@) and query strings from a URL for logs and exports. */
export function sanitizeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    return u.toString();
  } catch {
    // scp-like git remotes (user@host:path): drop the user part
    return url.replace(/^[^@/\s]+@/, '');
  }
}
