import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

/**
 * Paths redacted everywhere. Tokens, credentials and keys must never reach a log line;
 * redaction is the last line of defence — code also avoids logging them at all.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'password',
  '*.password',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'credentials',
  '*.credentials',
  'envs',
  '*.envs',
  'encryptionKey',
  '*.encryptionKey',
  'databaseUrl',
  '*.databaseUrl',
  // a webhook's URL is its credential (Slack): notify logs receivers by name, this is the backstop
  'webhookUrl',
  '*.webhookUrl',
];

/** Field names whose values are secrets wherever they appear (the top-level names of REDACT_PATHS). */
export const SECRET_FIELDS: readonly string[] = REDACT_PATHS.filter((p) => !p.includes('.'));

/** Counts error and fatal log lines (gitops_log_errors_total: the drift review's "critical errors"). */
export interface LogErrorCounter {
  labels(level: string): { inc(n?: number): void };
}

export function createLogger(
  opts: { level?: string; name?: string; errorCounter?: LogErrorCounter; destination?: pino.DestinationStream } = {},
): Logger {
  const counter = opts.errorCounter;
  if (counter) {
    // present from the start so "0 critical errors" is data, not a missing series
    counter.labels('error').inc(0);
    counter.labels('fatal').inc(0);
  }
  const options: pino.LoggerOptions = {
    name: opts.name ?? 'sgc',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (counter) {
    options.hooks = {
      logMethod(args, method, level) {
        if (level >= 60) counter.labels('fatal').inc();
        else if (level >= 50) counter.labels('error').inc();
        method.apply(this, args);
      },
    };
  }
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/**
 * A child of `log` whose every line also carries the fields `context()` returns at the moment
 * of writing (nothing when it returns undefined): ids that belong to the async context rather
 * than to one object, such as the Temporal activity running now. Fields the call site passes
 * win over context fields of the same name.
 */
export function withContextFields(log: Logger, context: () => Record<string, unknown> | undefined): Logger {
  return log.child(
    {},
    {
      formatters: {
        log: (fields) => {
          const extra = context();
          return extra === undefined ? fields : { ...extra, ...fields };
        },
      },
    },
  );
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
