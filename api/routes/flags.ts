/**
 * Flags and the kill switch (issue 4 part 1 and 5), admin only. Every change is audited with the
 * caller's token name as the actor and the required reason; the kill switch answers with the
 * measured time from its decision until every flag-caching process had switched, and latches
 * (issue 9 item 5): every flag write is then 409 `latched` until `POST /flags/unlatch`.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { FlagCache } from '../../lib/flags/cache.js';
import type { FlagStore, LatchState } from '../../lib/flags/store.js';
import type { KillSwitchEvent } from '../../lib/notify/events.js';
import type { RehomeRecord } from '../../lib/store/rehomes.js';
import { requireRole } from '../auth.js';
import { errorResponses, errorSchema, idempotencyHeaders } from '../schemas.js';

export interface FlagRouteDeps {
  flags: Pick<FlagStore, 'list' | 'set' | 'kill' | 'awaitSwitch' | 'audit' | 'latch' | 'latchEvents' | 'unlatch'>;
  /** how long the kill switch waits for every process to acknowledge (config canary.switchTimeoutMs) */
  switchTimeoutMs: number;
  /** re-homing live approach-2 workspaces after a kill (issue 10 section 3); absent: not offered */
  rehome?: RehomeStarter;
  /** tells notify.webhooks of a kill (lib/notify/notifier.ts); absent: nobody is told */
  notify?: KillNotifier;
  /** this process's flag cache, what its router reads (routed mode); absent: the process routes nothing */
  cache?: Pick<FlagCache, 'processId' | 'all' | 'failSafe' | 'version' | 'connected'>;
}

/** Sends the kill_switch event; the kill never waits for it, and its failures are its own. */
export type KillNotifier = (event: KillSwitchEvent) => Promise<unknown>;

/** Starts the durable re-home of a kill (clients/rehome.ts) and reads its per-workspace report. */
export interface RehomeStarter {
  /** starts rehomeWorkflow for the kill (idempotent per event); answers its workflow id */
  start(eventId: number): Promise<string>;
  list(eventId: number): Promise<RehomeRecord[]>;
}

const target = z.object({ percent: z.number().int(), shadow: z.boolean(), shadowPercent: z.number().int() });

const flagSchema = z.object({
  operation: z.string(),
  percent: z.number().int(),
  shadow: z.boolean(),
  shadowPercent: z.number().int().describe('share of agents (sticky buckets) whose calls get the shadow run'),
  version: z.number().int(),
  updatedAt: z.string(),
  updatedBy: z.string(),
});

const changeSchema = z.object({
  changeId: z.string().nullable().describe('null when the flags already had these values (nothing written)'),
  version: z.number().int(),
  changed: z.array(z.object({ operation: z.string(), old: target, new: target })),
  decidedAt: z.string(),
});

const reason = z.string().trim().min(1, 'is required (the audit records why)').max(500);

const latched = {
  409: errorSchema.describe('`latched`: the kill switch holds the flags at 0% (`latch` says since when, who and why)'),
};

const latchSchema = z.object({
  latched: z.boolean(),
  reason: z.string().nullable().describe('why the kill switch was pulled'),
  actor: z.string().nullable(),
  since: z.string().nullable(),
  rollbackEventId: z.number().int().nullable(),
});

function latchBody(l: LatchState): z.infer<typeof latchSchema> {
  return {
    latched: l.latched,
    reason: l.reason,
    actor: l.actor,
    since: l.since?.toISOString() ?? null,
    rollbackEventId: l.rollbackEventId,
  };
}

/** `push` and `git.push` both name the flag git.push (the metric label uses the short name). */
const operationParam = z.object({
  operation: z
    .string()
    .regex(/^(git\.)?[a-z][a-z_]*$/, 'a flag such as push or git.push')
    .transform((o) => (o.startsWith('git.') ? o : `git.${o}`)),
});

function actorOf(req: FastifyRequest): string {
  return `api:${req.principal?.name ?? 'unknown'}`;
}

export interface KillSwitchAnswer {
  changeId: string | null;
  version: number;
  changed: {
    operation: string;
    old: { percent: number; shadow: boolean; shadowPercent: number };
    new: { percent: number; shadow: boolean; shadowPercent: number };
  }[];
  decidedAt: string;
  eventId: number | null;
  latch: z.infer<typeof latchSchema>;
  switched: boolean;
  durationMs: number | null;
  processes: number;
  missing: string[];
  /** the re-home of live approach-2 workspaces: its workflow id, or why it did not start */
  rehome: { workflowId: string | null; error: string | null } | null;
}

/**
 * The operator's kill switch — the one code path of `POST /v1/flags/kill` and the console's kill
 * form: every flag to 0% and shadow off, latched, then the measured wait until every
 * flag-caching process switched. A retry under the same idempotency key returns the first
 * kill's event instead of recording another.
 */
export async function pullKillSwitch(
  deps: {
    flags: Pick<FlagStore, 'kill' | 'awaitSwitch'>;
    switchTimeoutMs: number;
    rehome?: Pick<RehomeStarter, 'start'>;
    notify?: KillNotifier;
  },
  o: { actor: string; reason: string; idempotencyKey?: string; log: Pick<FastifyBaseLogger, 'warn'> },
): Promise<KillSwitchAnswer> {
  const kill = await deps.flags.kill({
    actor: o.actor,
    reason: o.reason,
    source: 'kill',
    latch: true,
    ...(o.idempotencyKey ? { changeId: `api-kill-${o.idempotencyKey}` } : {}),
  });
  const base = {
    changeId: kill.changeId,
    version: kill.version,
    changed: kill.changed,
    decidedAt: kill.decidedAt.toISOString(),
    eventId: kill.eventId,
    latch: latchBody(kill.latch),
  };
  if (kill.eventId === null)
    return { ...base, switched: true, durationMs: null, processes: 0, missing: [], rehome: null };
  const eventId = kill.eventId;
  // the re-home runs durably on the git worker; the kill only starts it (started before the
  // wait so it runs while the caches switch)
  const rehome = deps.rehome
    ? deps.rehome.start(eventId).then(
        (workflowId) => ({ workflowId, error: null }),
        (e: unknown) => {
          o.log.warn({ eventId, err: (e as Error).message }, 'kill switch: starting the re-home failed');
          return { workflowId: null, error: `re-home not started: ${(e as Error).message}` };
        },
      )
    : Promise.resolve(null);
  const sw = await deps.flags.awaitSwitch(eventId, { timeoutMs: deps.switchTimeoutMs });
  o.log.warn({ eventId, switched: sw.switched, durationMs: sw.durationMs, actor: o.actor }, 'kill switch via API');
  // not awaited: a slow or dead receiver must not hold up the kill's answer
  deps
    .notify?.({
      kind: 'kill_switch',
      id: `kill/${eventId}`,
      at: base.decidedAt,
      reason: o.reason,
      actor: o.actor,
      eventId,
      switched: sw.switched,
      switchDurationMs: sw.durationMs,
    })
    .catch((e: unknown) => o.log.warn({ eventId, err: (e as Error).message }, 'kill switch: notification failed'));
  return {
    ...base,
    switched: sw.switched,
    durationMs: sw.durationMs,
    processes: Object.keys(sw.processes).length + sw.missing.length,
    missing: sw.missing,
    rehome: await rehome,
  };
}

const rehomeSchema = z
  .object({
    workflowId: z.string().nullable(),
    error: z.string().nullable().describe('why the re-home did not start (the latch and the flags are set regardless)'),
  })
  .nullable()
  .describe(
    'the durable re-home of live approach-2 workspaces (GET /v1/flags/kill/{eventId}/rehome); null when nothing was killed or it is not offered',
  );

const cacheSchema = z.object({
  processId: z.string().nullable().describe('this process in acks and heartbeats; null when it routes nothing'),
  routed: z.boolean().describe('false: this process serves one approach to everyone and caches no flags'),
  connected: z.boolean().describe('listening for flag changes on Postgres now'),
  failSafe: z
    .boolean()
    .describe('Postgres silent for longer than service.flagCache.failSafeAfterMs: every flag reads 0% (approach 1)'),
  version: z.number().int().describe('highest flag version applied'),
  flags: z
    .array(
      z.object({ operation: z.string(), percent: z.number().int(), shadow: z.boolean(), version: z.number().int() }),
    )
    .describe('what the router reads now (0% / shadow off while failSafe)'),
});

export function flagRoutes({ flags, switchTimeoutMs, rehome, notify, cache }: FlagRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.addHook('onRequest', requireRole('admin'));

    // read from memory only: it answers while this process cannot reach Postgres, which is when
    // an operator (and the chaos suite's partition fault) needs to know what it serves
    app.get(
      '/flags/cache',
      {
        schema: {
          summary: "This process's cached flags: what its router serves now, without asking Postgres",
          tags: ['flags'],
          response: { 200: cacheSchema, ...errorResponses },
        },
      },
      async () =>
        cache === undefined
          ? { processId: null, routed: false, connected: false, failSafe: false, version: 0, flags: [] }
          : {
              processId: cache.processId,
              routed: true,
              connected: cache.connected,
              failSafe: cache.failSafe(),
              version: cache.version,
              flags: cache
                .all()
                .map((f) => ({ operation: f.operation, percent: f.percent, shadow: f.shadow, version: f.version })),
            },
    );

    app.get(
      '/flags',
      {
        schema: {
          summary: 'Every flag: percent to approach 2, shadow and its share',
          tags: ['flags'],
          response: { 200: z.object({ flags: z.array(flagSchema) }), ...errorResponses },
        },
      },
      async () => ({
        flags: (await flags.list()).map((f) => ({ ...f, updatedAt: f.updatedAt.toISOString() })),
      }),
    );

    app.put(
      '/flags/:operation',
      {
        schema: {
          summary: 'Set one flag (fields left out keep their value); audited',
          tags: ['flags'],
          params: operationParam,
          body: z
            .object({
              percent: z.number().int().min(0).max(100).optional(),
              shadow: z.boolean().optional(),
              shadowPercent: z
                .number()
                .int()
                .min(0)
                .max(100)
                .optional()
                .describe(
                  'share of agents (sticky buckets) whose calls get the shadow run; shadow is on exactly when > 0',
                ),
              reason,
            })
            .refine((b) => b.percent !== undefined || b.shadow !== undefined || b.shadowPercent !== undefined, {
              message: 'set percent, shadow or shadowPercent',
              path: ['percent'],
            }),
          response: { 200: changeSchema, ...errorResponses, ...latched },
        },
      },
      async (req) => {
        const { percent, shadow, shadowPercent, reason: why } = req.body;
        const res = await flags.set(
          req.params.operation,
          {
            ...(percent !== undefined ? { percent } : {}),
            ...(shadow !== undefined ? { shadow } : {}),
            ...(shadowPercent !== undefined ? { shadowPercent } : {}),
          },
          { actor: actorOf(req), reason: why },
        );
        return { ...res, decidedAt: res.decidedAt.toISOString() };
      },
    );

    app.post(
      '/flags/kill',
      {
        schema: {
          summary:
            'Kill switch: every flag to 0% and shadow off, latched until an admin unlatches; answers with the measured switch time',
          tags: ['flags'],
          headers: idempotencyHeaders,
          body: z.object({ reason }),
          response: {
            200: changeSchema.extend({
              eventId: z.number().int().nullable().describe('rollback_events id; null when every flag was already off'),
              switched: z.boolean().describe('every live flag-caching process acknowledged'),
              durationMs: z.number().nullable().describe('decision → every process switched (database clock)'),
              processes: z.number().int(),
              missing: z.array(z.string()),
              latch: latchSchema,
              rehome: rehomeSchema,
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const key = req.headers['idempotency-key'];
        return pullKillSwitch(
          { flags, switchTimeoutMs, rehome, notify },
          { actor: actorOf(req), reason: req.body.reason, idempotencyKey: key, log: req.log },
        );
      },
    );

    app.get(
      '/flags/kill/:eventId/rehome',
      {
        schema: {
          summary:
            'The re-home of a kill: live approach-2 workspaces carried to approach 1, not carried (with the reason) and in progress',
          tags: ['flags'],
          params: z.object({ eventId: z.coerce.number().int().min(1) }),
          response: {
            200: z.object({
              eventId: z.number().int(),
              carried: z.array(
                z.object({
                  workspaceId: z.string(),
                  commits: z.number().int(),
                  files: z.number().int(),
                  durationMs: z.number().nullable(),
                }),
              ),
              notCarried: z.array(z.object({ workspaceId: z.string(), reason: z.string().nullable() })),
              inProgress: z.array(z.string()),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const rows = rehome ? await rehome.list(req.params.eventId) : [];
        return {
          eventId: req.params.eventId,
          carried: rows
            .filter((r) => r.state === 'carried')
            .map((r) => ({ workspaceId: r.workspaceId, commits: r.commits, files: r.files, durationMs: r.durationMs })),
          notCarried: rows
            .filter((r) => r.state === 'not_carried')
            .map((r) => ({ workspaceId: r.workspaceId, reason: r.reason })),
          inProgress: rows.filter((r) => r.state === 'started').map((r) => r.workspaceId),
        };
      },
    );

    app.get(
      '/flags/latch',
      {
        schema: {
          summary: 'The kill latch: set by the kill switch, it refuses every flag write until an admin unlatches',
          tags: ['flags'],
          response: {
            200: latchSchema.extend({
              events: z
                .array(
                  z.object({
                    id: z.number().int(),
                    action: z.enum(['latch', 'unlatch']),
                    actor: z.string(),
                    reason: z.string(),
                    rollbackEventId: z.number().int().nullable(),
                    at: z.string(),
                  }),
                )
                .describe('latch and unlatch events, newest first'),
            }),
            ...errorResponses,
          },
        },
      },
      async () => {
        const [latch, events] = await Promise.all([flags.latch(), flags.latchEvents({ limit: 50 })]);
        return { ...latchBody(latch), events: events.map((e) => ({ ...e, at: e.at.toISOString() })) };
      },
    );

    app.post(
      '/flags/unlatch',
      {
        schema: {
          summary: 'Clear the kill latch (flags stay at 0% until changed); the reason is required and audited',
          tags: ['flags'],
          body: z.object({ reason }),
          response: {
            200: latchSchema.extend({ cleared: z.boolean().describe('false when the flags were not latched') }),
            ...errorResponses,
          },
        },
      },
      async (req) => {
        const res = await flags.unlatch({ actor: actorOf(req), reason: req.body.reason });
        req.log.warn({ cleared: res.cleared }, 'kill latch cleared via API');
        return { ...latchBody(res), cleared: res.cleared };
      },
    );

    app.get(
      '/flags/audit',
      {
        schema: {
          summary: 'Who changed which flag, when, from what to what, and why (newest first)',
          tags: ['flags'],
          querystring: z.object({
            operation: z
              .string()
              .regex(/^(git\.)?[a-z][a-z_]*$/)
              .transform((o) => (o.startsWith('git.') ? o : `git.${o}`))
              .optional(),
            changeId: z.string().max(200).optional(),
            limit: z.coerce.number().int().min(1).max(1_000).default(100),
          }),
          response: {
            200: z.object({
              entries: z.array(
                z.object({
                  id: z.number().int(),
                  changeId: z.string(),
                  operation: z.string(),
                  actor: z.string(),
                  reason: z.string(),
                  old: target.nullable(),
                  new: target.nullable(),
                  version: z.number().int(),
                  at: z.string(),
                }),
              ),
            }),
            ...errorResponses,
          },
        },
      },
      async (req) => ({
        entries: (await flags.audit(req.query)).map((e) => ({ ...e, at: e.at.toISOString() })),
      }),
    );
  };
}
