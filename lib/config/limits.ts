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
