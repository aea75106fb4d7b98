/**
 * The Fastify app, built from injected dependencies (api/server.ts is the process around it;
 * tests build it with their own). Adding routes: write a FastifyPluginAsyncZod factory in
 * api/routes/ taking the narrow deps it needs, and register it below — it inherits the zod
 * compilers, the auth hook (req.principal) and the error handler; guard it with
 * `requireRole(min)` or `requireAgent()` from api/auth.ts.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { hkdfSync, randomBytes } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import cookie from '@fastify/cookie';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Config } from '../lib/config/index.js';
import type { Db } from '../lib/db/index.js';
import { DomainError, ErrorType } from '../lib/errors.js';
import type { Logger } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import { createGitPolicy } from '../lib/policy/index.js';
import type { GitService } from '../lib/service/types.js';
import { SESSION_COOKIE, acceptsSessionCookie, createAuthenticator } from './auth.js';
import { errorHandler } from './errors.js';
import { idempotencyGuard } from './idempotency.js';
import type { TemporalDeps } from '../clients/git-operations.js';
import { refreshFlagMetrics } from '../lib/flags/metrics.js';
import { FlagStore } from '../lib/flags/store.js';
import { baselineRoutes } from './routes/baselines.js';
import { consoleRoutes } from './routes/console.js';
import { driftRoutes } from './routes/drift.js';
import { flagRoutes, type FlagRouteDeps } from './routes/flags.js';
import { reportRoutes } from './routes/reports.js';
import { rolloutRoutes } from './routes/rollouts.js';
import { runbookRoutes } from './routes/runbook.js';
import { systemRoutes } from './routes/system.js';
import { validationRoutes } from './routes/validations.js';
import { workspaceRoutes } from './routes/workspaces.js';
import { mcpRoute } from './mcp/route.js';
import { startRehome } from '../clients/rehome.js';
import { createRehomeRepository } from '../lib/store/rehomes.js';
import { createNotifier } from '../lib/notify/notifier.js';

export interface AppDeps {
  /**
   * Until this says ready (the schema is migrated; api/server.ts retries in the background while
   * Postgres is down), every route but /healthz and /metrics answers 503 with Retry-After.
   */
  readiness?: { ready(): boolean };
  config: Config;
  service: GitService;
  temporal: TemporalDeps;
  metrics: Metrics;
  db: Db;
  log: Logger;
  /** this process's flag cache (routed mode): `GET /v1/flags/cache` shows what it serves */
  flagCache?: FlagRouteDeps['cache'];
}

export type App = FastifyInstance;

export async function buildApp(deps: AppDeps): Promise<App> {
  const { limits } = deps.config;
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: deps.config.api.bodyLimitBytes,
    // no request may hold a connection unbounded (Fastify's defaults are 0: for ever)
    requestTimeout: limits.requestTimeoutMs,
    connectionTimeout: limits.connectionTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks the request timeout on this interval (default 30 s): often enough to hold the bound
    http: { connectionsCheckingInterval: Math.min(30_000, Math.max(250, Math.floor(limits.requestTimeoutMs / 4))) },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url.split('?')[0]}` }),
  );

  const authenticate = createAuthenticator(deps.config.api.tokens);
  app.decorateRequest('principal', null);
  app.decorateRequest('sessionToken', null);
  // parses Cookie headers (before the auth hook below); only the console's session cookie is read
  await app.register(cookie);
  // every request learns who is calling; routes decide what that caller may do. The console's
  // session cookie counts only on the routes acceptsSessionCookie names, and only without a
  // bearer header: the REST API never authenticates a request by a cookie alone.
  app.addHook('onRequest', async (req) => {
    req.principal = authenticate(req.headers.authorization);
    if (req.principal === null && req.headers.authorization === undefined && acceptsSessionCookie(req)) {
      const token = req.cookies[SESSION_COOKIE];
      if (token) {
        req.principal = authenticate(`Bearer ${token}`);
        if (req.principal) req.sessionToken = token;
      }
    }
  });
  // per token (per address without one), after auth so a token is known: one agent's flood
  // answers 429 with Retry-After and slows no one else. In-process calls (app.inject: /mcp's
  // tool calls, each made for a /mcp request that was counted already) are not counted again;
  // only a request that came over a socket is an http.IncomingMessage.
  await app.register(rateLimit, {
    global: true,
    max: limits.requestsPerMinute,
    timeWindow: 60_000,
    allowList: (req) => !(req.raw instanceof IncomingMessage),
    keyGenerator: (req) => (req.principal ? `token:${req.principal.name}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, ctx) =>
      new DomainError(
        ErrorType.TooManyRequests,
        `more than ${ctx.max} requests per minute (limits.requestsPerMinute); retry in ${ctx.after}`,
        { category: 'rate_limit' },
      ),
  });
  // after auth and validation: an Idempotency-Key is bound to the request it came with
  app.addHook(
    'preHandler',
    idempotencyGuard({ db: deps.db, ttlSeconds: deps.config.limits.idempotencyKeyTtlSeconds, log: deps.log }),
  );

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'sandbox-git-control',
        version: '0.1.0',
        description: "Agents' git operations in sandboxes, phase control, flags.",
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  const readiness = deps.readiness;
  if (readiness) {
    app.addHook('onRequest', async (req) => {
      // the console's page and sign-in render without Postgres (each section says what is unavailable)
      if (
        readiness.ready() ||
        req.url === '/healthz' ||
        req.url === '/metrics' ||
        req.routeOptions.url === '/' ||
        req.routeOptions.url === '/console/login'
      )
        return;
      throw new DomainError(
        ErrorType.Unavailable,
        'starting: Postgres is not reachable yet (the schema is not migrated); retry later',
      );
    });
  }
  const flagStore = new FlagStore(deps.db);
  await app.register(
    systemRoutes({
      db: deps.db,
      temporal: deps.temporal,
      metrics: deps.metrics,
      schemaReady: readiness ? () => readiness.ready() : undefined,
      // the flags, the latch and rollback events as stored: the dashboard's flag panel and annotations
      beforeScrape: () => refreshFlagMetrics(deps.metrics, flagStore),
    }),
  );
  await app.register(
    workspaceRoutes({ service: deps.service, temporal: deps.temporal, policy: createGitPolicy(deps.config.git) }),
    { prefix: '/v1' },
  );
  // MCP tools for agents: each call goes through the routes above, with the agent's own token
  await app.register(mcpRoute(app));

  // phases run on their own task queue; operators start and steer them, admins own the flags
  const { config } = deps;
  const phases = { client: deps.temporal.client, taskQueue: config.temporal.taskQueues.phases };
  await app.register(validationRoutes({ temporal: phases, defaults: config.validation, queries: config.queries }), {
    prefix: '/v1',
  });
  await app.register(rolloutRoutes({ client: phases.client, taskQueue: phases.taskQueue, defaults: config.canary }), {
    prefix: '/v1',
  });
  await app.register(baselineRoutes({ temporal: phases, config }), { prefix: '/v1' });
  await app.register(driftRoutes({ temporal: phases, config }), { prefix: '/v1' });
  const gitQueue = { client: deps.temporal.client, taskQueue: config.temporal.taskQueues.git };
  const rehomes = createRehomeRepository(deps.db);
  // the operator's kill switch is the one event sent from the API (the phases' come from the worker)
  const notify = createNotifier({
    notify: config.notify,
    metrics: deps.metrics,
    log: deps.log.child({ component: 'notify' }),
    links: { uiUrl: config.temporal.uiUrl, namespace: config.temporal.namespace },
  });
  await app.register(
    flagRoutes({
      flags: new FlagStore(deps.db),
      switchTimeoutMs: config.canary.switchTimeoutMs,
      // a kill re-homes live approach-2 workspaces on the git worker (issue 10 section 3)
      rehome: { start: (eventId) => startRehome(gitQueue, eventId), list: (eventId) => rehomes.list(eventId) },
      notify,
      cache: deps.flagCache,
    }),
    { prefix: '/v1' },
  );
  await app.register(reportRoutes({ db: deps.db }), { prefix: '/v1' });
  await app.register(runbookRoutes({ config }), { prefix: '/v1' });
  // the console's CSRF secret: shared by every API process when an encryption key is configured
  // (a form rendered by one instance posts fine to another), else this process's own
  const key = config.security.encryptionKey;
  const csrfSecret = key
    ? Buffer.from(hkdfSync('sha256', Buffer.from(key, 'base64'), Buffer.alloc(0), 'sgc-console-csrf', 32))
    : randomBytes(32);
  await app.register(
    consoleRoutes({
      authenticate,
      csrfSecret,
      flags: new FlagStore(deps.db),
      db: deps.db,
      switchTimeoutMs: config.canary.switchTimeoutMs,
      rehome: { start: (eventId) => startRehome(gitQueue, eventId) },
      notify,
      temporal: {
        client: deps.temporal.client,
        taskQueue: config.temporal.taskQueues.phases,
        namespace: config.temporal.namespace,
        uiUrl: config.temporal.uiUrl,
      },
    }),
  );
  return app as unknown as App;
}
