import { z } from 'zod';

/**
 * The API's request limits (issue 9): how fast one token may call, how long a request or an idle
 * connection may take, and how long an Idempotency-Key stays bound to its request. Spread into
 * `limits` in lib/config/schema.ts beside the workspace limits.
 */
export const apiLimitsShape = {
  /**
   * Requests per minute one bearer token may make (requests without a valid token count per
   * client address); past it the API answers 429 with Retry-After. The default leaves room for a
   * baseline load at the seed's 80 requests per second from one token.
   */
  requestsPerMinute: z.number().int().min(1).default(6_000),
  /**
   * The whole request (headers and body) must arrive within this, or the API answers 408 and
   * closes the connection (Fastify requestTimeout; a slow client cannot hold a connection open).
   */
  requestTimeoutMs: z.number().int().min(1_000).default(30_000),
  /**
   * A connection with no traffic for this long is closed (Fastify connectionTimeout). It must
   * outlast the longest answer: a git operation may take up to 10 minutes.
   */
  connectionTimeoutMs: z.number().int().min(1_000).default(660_000),
  /** An idle keep-alive connection is closed after this (Fastify keepAliveTimeout). */
  keepAliveTimeoutMs: z.number().int().min(1_000).default(72_000),
  /** How long an Idempotency-Key stays bound to the request it was first sent with. */
  idempotencyKeyTtlSeconds: z.number().int().min(60).default(86_400),
};

/**
 * What one agent can make the git service hold or produce (issue 9). Past a limit the operation
 * is refused with the limit's key path: OutputTooLarge → 413, QuotaExceeded → 409, Busy → 409 +
 * Retry-After.
 */
export const workspaceLimitsShape = {
  /** Bytes per stream (stdout, stderr) of one sandbox command; past it the command is killed (OutputTooLarge). */
  commandOutputMaxBytes: z
    .number()
    .int()
    .min(1024)
    .default(16 * 1024 * 1024),
  /** Bytes of one diff answer: git is stopped at the cap. */
  diffMaxBytes: z
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  /** Bytes of one file read: a larger file is refused before it is read. */
  fileReadMaxBytes: z
    .number()
    .int()
    .min(1024)
    .default(10 * 1024 * 1024),
  /** Bytes a workspace may hold, .git included (checked on write and after clone and pull). */
  workspaceDiskMaxBytes: z
    .number()
    .int()
    .positive()
    .default(2 * 1024 * 1024 * 1024),
  /** Files (anything but directories) a workspace may hold, .git included. */
  workspaceMaxFiles: z.number().int().positive().default(200_000),
  /** Workspaces one agent may have open (not released) at once. */
  maxOpenWorkspacesPerAgent: z.number().int().positive().default(20),
  /**
   * How long a mutating operation waits for the one before it on the same workspace, then 409
   * busy + Retry-After (agents routinely send a write right behind a commit; the bound keeps a
   * stuck holder from hanging callers).
   */
  workspaceBusyWaitMs: z.number().int().nonnegative().default(10_000),
};
