/**
 * Bearer-token authentication. Tokens are kept only as SHA-256 digests (plaintext tokens from
 * SGC_API_TOKENS are hashed here, once, and dropped); a presented token is hashed and compared
 * in constant time against every configured digest, so neither timing nor early exit reveals
 * which token came close.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ROLES, type ApiToken, type Role } from '../lib/config/index.js';

export interface Principal {
  /** the token's name from config (for logs and audit; never the token) */
  name: string;
  role: Role;
  /** set on agent tokens: the only agent this caller may act for */
  agentId?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** set by the auth hook on every non-public route */
    principal: Principal | null;
    /** the console session token, when the principal came from the session cookie (see SESSION_COOKIE) */
    sessionToken: string | null;
  }
}

interface StoredToken {
  digest: Buffer;
  principal: Principal;
}

export function sha256(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export type Authenticate = (authorization: string | undefined) => Principal | null;

/** Builds the token check from config. */
export function createAuthenticator(tokens: ApiToken[]): Authenticate {
  const stored: StoredToken[] = tokens.map((t) => ({
    digest: t.token !== undefined ? sha256(t.token) : Buffer.from(t.sha256 as string, 'hex'),
    principal: { name: t.name, role: t.role, ...(t.agentId ? { agentId: t.agentId } : {}) },
  }));
  return (authorization) => {
    const m = /^Bearer ([^\s]+)$/i.exec(authorization?.trim() ?? '');
    if (!m) return null;
    const presented = sha256(m[1]);
    let found: Principal | null = null;
    // compare against every digest, no early exit
    for (const s of stored) if (timingSafeEqual(presented, s.digest) && found === null) found = s.principal;
    return found;
  };
}

const RANK: Record<Role, number> = Object.fromEntries(ROLES.map((r, i) => [r, i])) as Record<Role, number>;

/** True when `role` is at least `min` (agent < operator < admin). */
export function hasRole(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

function deny(reply: FastifyReply, status: 401 | 403, message: string): FastifyReply {
  if (status === 401) reply.header('WWW-Authenticate', 'Bearer');
  return reply.code(status).send({ error: status === 401 ? 'unauthorized' : 'forbidden', message });
}

/** preHandler: the caller holds a token of at least `min`. */
export function requireRole(min: Role) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!req.principal) return void deny(reply, 401, 'a bearer token is required');
    if (!hasRole(req.principal.role, min)) return void deny(reply, 403, `requires role ${min}`);
  };
}

/**
 * preHandler for workspace routes: git operations act for one agent, so the caller must hold an
 * agent token bound to an agent id. Operators and admins steer phases and flags, not workspaces.
 */
export function requireAgent() {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!req.principal) return void deny(reply, 401, 'a bearer token is required');
    if (req.principal.role !== 'agent' || !req.principal.agentId)
      return void deny(reply, 403, 'workspace operations require an agent token bound to an agentId');
  };
}

/**
 * The console's session (issue 11 item 2): the bearer token a person typed into the sign-in page,
 * kept in this cookie (HttpOnly, SameSite=Strict). It is accepted only where {@link acceptsSessionCookie}
 * says so — the console's pages and forms, and the read-only pages they link to — never by the
 * REST routes, so a cookie a browser sends on its own cannot drive the API.
 */
export const SESSION_COOKIE = 'sgc_console';

/** GET routes (by route pattern) a browser session may read with the cookie. */
const COOKIE_READ_ROUTES = new Set(['/', '/v1/reports/:id', '/v1/reports/:id.md', '/v1/runbook']);

/**
 * Whether this request may authenticate with the session cookie: safe reads of the routes above,
 * and the console's own forms (`POST /console/…`), which each check the session's CSRF token.
 */
export function acceptsSessionCookie(req: Pick<FastifyRequest, 'method' | 'routeOptions'>): boolean {
  const route = req.routeOptions.url;
  if (route === undefined) return false;
  if (req.method === 'GET' || req.method === 'HEAD') return COOKIE_READ_ROUTES.has(route);
  return req.method === 'POST' && route.startsWith('/console/');
}

/**
 * The session's CSRF token: an HMAC of the session token's digest under a server secret, so it
 * is the same on every page of one session, differs between sessions, and cannot be computed by
 * another site (which can neither read the cookie nor the page).
 */
export function csrfToken(secret: Buffer, sessionToken: string): string {
  return createHmac('sha256', secret).update('sgc-console-csrf\0').update(sha256(sessionToken)).digest('base64url');
}

/** Constant-time check of a submitted CSRF token. */
export function csrfValid(secret: Buffer, sessionToken: string, submitted: unknown): boolean {
  if (typeof submitted !== 'string' || submitted.length === 0 || submitted.length > 128) return false;
  const want = Buffer.from(csrfToken(secret, sessionToken));
  const got = Buffer.from(submitted);
  return want.length === got.length && timingSafeEqual(want, got);
}
