/** Liveness of the API's dependencies and the Prometheus scrape endpoint. Public: no token. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Db } from '../../lib/db/index.js';
import type { Metrics } from '../../lib/metrics.js';
import { temporalHealthy } from '../../clients/temporal.js';
import { RETRY_AFTER_SECONDS } from '../errors.js';
import type { TemporalDeps } from '../../clients/git-operations.js';
import { ping } from '../../lib/store/session.js';

export interface SystemRouteDeps {
  db: Db;
  temporal: TemporalDeps;
  metrics: Metrics;
  /** false until the schema is migrated (api/server.ts migrates in the background): Postgres is not usable yet */
  schemaReady?: () => boolean;
  /** refreshes metrics read from elsewhere (the flags' stored state) before a scrape; a failure is logged, the scrape goes on */
  beforeScrape?: () => Promise<void>;
}

const CHECK_TIMEOUT_MS = 2_000;

/** The database answers within the timeout (a black-holed host must not hang the probe). */
async function postgresHealthy(db: Db): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((res) => {
    timer = setTimeout(() => res(false), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      ping(db).then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function systemRoutes({
  db,
  temporal,
  metrics,
  schemaReady = () => true,
  beforeScrape,
}: SystemRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    const health = z.object({ status: z.enum(['ok', 'unavailable']), postgres: z.boolean(), temporal: z.boolean() });
    app.get(
      '/healthz',
      {
        schema: {
          summary: 'Postgres and Temporal reachable',
          tags: ['system'],
          response: { 200: health, 503: health },
        },
      },
      async (_req, reply) => {
        const [reachable, tmp] = await Promise.all([
          postgresHealthy(db),
          temporalHealthy(temporal.client, CHECK_TIMEOUT_MS),
        ]);
        const pg = reachable && schemaReady();
        const ok = pg && tmp;
        if (!ok) reply.header('Retry-After', String(RETRY_AFTER_SECONDS));
        return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', postgres: pg, temporal: tmp });
      },
    );

    app.get('/metrics', { schema: { hide: true } }, async (req, reply) => {
      if (beforeScrape && schemaReady())
        await beforeScrape().catch((e: unknown) =>
          req.log.warn({ err: (e as Error).message }, 'metrics refresh failed'),
        );
      return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
    });
  };
}
