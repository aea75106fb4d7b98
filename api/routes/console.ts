/**
 * The console at `/` (issue 11 item 2): the page (lib/console/page.ts) and its forms.
 *
 * Sessions: `/` without a token shows a sign-in field; `POST /console/login` checks the token
 * (operator or admin) and keeps it in the `sgc_console` cookie — HttpOnly (no script reads it),
 * SameSite=Strict (no other site's page, link or form makes the browser send it), Secure over
 * HTTPS. The cookie authenticates only the console and the read-only pages it links to
 * (api/auth.ts acceptsSessionCookie): the REST routes ignore it.
 *
 * CSRF: every state-changing form (kill, unlatch, sign-out) carries the session's CSRF token
 * (an HMAC of the session token under a server secret) and is refused without it — that is the
 * control; SameSite=Strict and a same-origin check of `Origin` (when the browser sends it) are a
 * second and third line. The pages forbid framing (clickjacking the kill button) and scripts.
 *
 * The kill form runs `pullKillSwitch`, the code path of `POST /v1/flags/kill`.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import formbody from '@fastify/formbody';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Client } from '@temporalio/client';
import { listPhaseRuns, temporalUiUrl } from '../../clients/phases.js';
import { renderConsolePage, renderLoginPage, type ConsoleView, type Loaded } from '../../lib/console/page.js';
import { DomainError } from '../../lib/errors.js';
import type { FlagStore } from '../../lib/flags/store.js';
import type { Queryable } from '../../lib/store/queryable.js';
import { createReportRepository } from '../../lib/store/reports.js';
import { SESSION_COOKIE, csrfToken, csrfValid, hasRole, type Authenticate } from '../auth.js';
import { pullKillSwitch, type KillNotifier, type RehomeStarter } from './flags.js';

export interface ConsoleRouteDeps {
  authenticate: Authenticate;
  /** server secret of the CSRF tokens (api/app.ts derives it) */
  csrfSecret: Buffer;
  flags: Pick<FlagStore, 'list' | 'latch' | 'rollbackEvents' | 'kill' | 'awaitSwitch' | 'unlatch'>;
  db: Queryable;
  temporal: { client: Client; taskQueue: string; namespace: string; uiUrl: string };
  switchTimeoutMs: number;
  /** the kill form re-homes live approach-2 workspaces like POST /v1/flags/kill (issue 10 section 3) */
  rehome?: Pick<RehomeStarter, 'start'>;
  /** tells notify.webhooks of a kill, like POST /v1/flags/kill */
  notify?: KillNotifier;
  /** how long one section may take before the page renders without it (default 4 s) */
  sectionTimeoutMs?: number;
}

/** Pages: no scripts, no framing (the kill button cannot be clickjacked), forms post only here. */
const CONSOLE_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
const SESSION_MAX_AGE_SECONDS = 12 * 3600;
const REASON_MAX = 500;

const formBody = z.object({
  token: z.string().max(1_000).optional(),
  csrf: z.string().max(200).optional(),
  reason: z.string().max(5_000).optional(),
  confirm: z.string().max(20).optional(),
});
type FormBody = z.infer<typeof formBody>;

const pageQuery = z.object({
  killed: z.coerce.number().int().nonnegative().optional(),
  unlatched: z.literal('1').optional(),
});

function send(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'same-origin')
    .send(body);
}

/** A form post whose Origin (when the browser sends one) is another site's. */
function crossOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<Loaded<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<Loaded<T>>((res) => {
    timer = setTimeout(() => res({ ok: false, error: `${what} did not answer within ${ms} ms` }), ms);
  });
  try {
    return await Promise.race([
      fn().then(
        (value): Loaded<T> => ({ ok: true, value }),
        (e: unknown): Loaded<T> => ({ ok: false, error: e instanceof Error ? e.message : String(e) }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function consoleRoutes(deps: ConsoleRouteDeps): FastifyPluginAsyncZod {
  const sectionMs = deps.sectionTimeoutMs ?? 4_000;
  const { temporal } = deps;

  async function view(req: FastifyRequest, extra: Pick<ConsoleView, 'notice' | 'killForm'>): Promise<ConsoleView> {
    const p = req.principal!;
    const [flags, phases, rollbacks, reports] = await Promise.all([
      within(sectionMs, 'Postgres', async () => {
        const [list, latch] = await Promise.all([deps.flags.list(), deps.flags.latch()]);
        return { flags: list, latch };
      }),
      within(sectionMs, 'Temporal', async () =>
        (await listPhaseRuns(temporal.client, { taskQueue: temporal.taskQueue, limit: 20 })).map((r) => ({
          ...r,
          temporalUrl: temporalUiUrl(temporal.uiUrl, temporal.namespace, r.workflowId),
        })),
      ),
      within(sectionMs, 'Postgres', () => deps.flags.rollbackEvents({ limit: 10 })),
      within(sectionMs, 'Postgres', () => createReportRepository(deps.db).list({ limit: 15 })),
    ]);
    return {
      principal: { name: p.name, role: p.role === 'admin' ? 'admin' : 'operator' },
      csrf: req.sessionToken ? csrfToken(deps.csrfSecret, req.sessionToken) : '',
      ...extra,
      flags,
      phases,
      rollbacks,
      reports,
      links: { temporalUi: temporal.uiUrl, runbook: '/v1/runbook?format=html', docs: '/docs' },
      generatedAt: new Date(),
    };
  }

  /** The checks every state-changing console form passes, or the page that refuses it. */
  function refuseForm(
    req: FastifyRequest,
    body: FormBody,
    reply: FastifyReply,
    role: 'operator' | 'admin',
  ): FastifyReply | null {
    if (crossOrigin(req))
      return send(reply, 403, renderLoginPage({ error: 'Refused: the form came from another site.' }));
    if (!req.principal || !req.sessionToken) return send(reply, 401, renderLoginPage({ error: 'Sign in first.' }));
    if (!csrfValid(deps.csrfSecret, req.sessionToken, body.csrf))
      return send(
        reply,
        403,
        renderLoginPage({
          error: "Refused: the form's security token is missing or wrong. Reload the console and try again.",
        }),
      );
    if (!hasRole(req.principal.role, role))
      return send(reply, 403, renderLoginPage({ error: `This needs an ${role} token.` }));
    return null;
  }

  function reasonProblem(body: FormBody): string | null {
    const reason = body.reason?.trim() ?? '';
    if (reason === '') return 'A reason is required: the audit records why.';
    if (reason.length > REASON_MAX) return `The reason is longer than ${REASON_MAX} characters.`;
    if (body.confirm !== 'yes') return 'Tick the confirmation box.';
    return null;
  }

  return async (app) => {
    // forms post urlencoded bodies; the parser is registered in this plugin only, so the REST
    // routes keep accepting JSON alone
    await app.register(formbody, { bodyLimit: 16_384 });

    app.get('/', { schema: { hide: true, querystring: pageQuery } }, async (req, reply) => {
      if (!req.principal) return send(reply, 200, renderLoginPage());
      if (!hasRole(req.principal.role, 'operator'))
        return send(
          reply,
          403,
          renderLoginPage({ error: "The console needs an operator or admin token; this one is an agent's." }),
        );
      const q = req.query;
      const notice =
        q.killed !== undefined
          ? {
              kind: 'ok' as const,
              text:
                q.killed > 0
                  ? `Kill switch pulled (rollback event #${q.killed}): every flag is at 0% and latched.`
                  : 'Every flag was already at 0%; the flags are latched.',
            }
          : q.unlatched
            ? {
                kind: 'ok' as const,
                text: 'Unlatched: flag writes are accepted again (the flags stay at 0% until changed).',
              }
            : undefined;
      return send(reply, 200, renderConsolePage(await view(req, { notice })));
    });

    app.post('/console/login', { schema: { hide: true, body: formBody } }, async (req, reply) => {
      if (crossOrigin(req))
        return send(reply, 403, renderLoginPage({ error: 'Refused: the form came from another site.' }));
      const token = req.body.token?.trim() ?? '';
      const principal = token === '' ? null : deps.authenticate(`Bearer ${token}`);
      if (!principal) return send(reply, 401, renderLoginPage({ error: 'Unknown token.' }));
      if (!hasRole(principal.role, 'operator'))
        return send(
          reply,
          403,
          renderLoginPage({ error: "The console needs an operator or admin token; this one is an agent's." }),
        );
      req.log.info({ name: principal.name, role: principal.role }, 'console sign-in');
      return reply
        .setCookie(SESSION_COOKIE, token, {
          httpOnly: true,
          sameSite: 'strict',
          path: '/',
          secure: req.protocol === 'https',
          maxAge: SESSION_MAX_AGE_SECONDS,
        })
        .redirect('/', 303);
    });

    app.post('/console/logout', { schema: { hide: true, body: formBody } }, async (req, reply) => {
      const refused = refuseForm(req, req.body, reply, 'operator');
      if (refused) return refused;
      return reply.clearCookie(SESSION_COOKIE, { path: '/' }).redirect('/', 303);
    });

    app.post('/console/kill', { schema: { hide: true, body: formBody } }, async (req, reply) => {
      const refused = refuseForm(req, req.body, reply, 'admin');
      if (refused) return refused;
      const problem = reasonProblem(req.body);
      if (problem)
        return send(
          reply,
          400,
          renderConsolePage(
            await view(req, { notice: { kind: 'error', text: problem }, killForm: { reason: req.body.reason ?? '' } }),
          ),
        );
      try {
        const answer = await pullKillSwitch(deps, {
          actor: `console:${req.principal!.name}`,
          reason: req.body.reason!.trim(),
          log: req.log,
        });
        return reply.redirect(`/?killed=${answer.eventId ?? 0}`, 303);
      } catch (e) {
        if (!(e instanceof DomainError)) throw e;
        return send(
          reply,
          400,
          renderConsolePage(
            await view(req, {
              notice: { kind: 'error', text: e.message },
              killForm: { reason: req.body.reason ?? '' },
            }),
          ),
        );
      }
    });

    app.post('/console/unlatch', { schema: { hide: true, body: formBody } }, async (req, reply) => {
      const refused = refuseForm(req, req.body, reply, 'admin');
      if (refused) return refused;
      const problem = reasonProblem(req.body);
      if (problem)
        return send(reply, 400, renderConsolePage(await view(req, { notice: { kind: 'error', text: problem } })));
      const res = await deps.flags.unlatch({
        actor: `console:${req.principal!.name}`,
        reason: req.body.reason!.trim(),
      });
      req.log.warn({ cleared: res.cleared }, 'kill latch cleared via console');
      return reply.redirect('/?unlatched=1', 303);
    });
  };
}
