/**
 * Reports of every phase (validation weekly and readiness reports, baseline, drift, drills), as
 * stored by the report activities. Operator role. A report is a page (HTML with inline SVG
 * charts) for browsers, JSON for programs, or its markdown source.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DomainError, ErrorType } from '../../lib/errors.js';
import type { Queryable } from '../../lib/store/queryable.js';
import { createReportRepository, type ReportRepository } from '../../lib/store/reports.js';
import { requireRole } from '../auth.js';
import { errorResponses, errorSchema } from '../schemas.js';

export interface ReportRouteDeps {
  db: Queryable;
}

const REPORT_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const idParams = z.object({ id: z.string().regex(REPORT_ID, 'not a report id') });
const notFound = { 404: errorSchema.describe('no such report') };

const summary = z.object({
  id: z.string(),
  kind: z.string(),
  runId: z.string(),
  title: z.string(),
  createdAt: z.string(),
  files: z.array(z.string()),
  links: z.object({ html: z.string(), markdown: z.string() }),
});
const doc = z.object({
  id: z.string(),
  kind: z.string(),
  runId: z.string(),
  title: z.string(),
  createdAt: z.string(),
  markdown: z.string(),
  data: z.record(z.string(), z.unknown()),
});

/** Self-contained pages (inline CSS and SVG, no scripts): nothing else may load, nothing may frame them. */
export const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'";

/** HTML when asked for (`?format=html`) or when the client prefers it over JSON (a browser). */
export function wantsHtml(format: string | undefined, accept: string | undefined): boolean {
  if (format !== undefined) return format === 'html';
  const a = (accept ?? '').toLowerCase();
  const html = a.indexOf('text/html');
  const json = a.indexOf('application/json');
  return html !== -1 && (json === -1 || html < json);
}

async function mustGet(reports: ReportRepository, id: string) {
  const r = await reports.findById(id);
  if (!r) throw new DomainError(ErrorType.NotFound, `report ${id} not found`);
  return r;
}

export function reportRoutes({ db }: ReportRouteDeps): FastifyPluginAsyncZod {
  const reports = createReportRepository(db);
  return async (app) => {
    app.addHook('onRequest', requireRole('operator'));

    app.get(
      '/reports',
      {
        schema: {
          summary: 'List reports, newest first',
          tags: ['reports'],
          querystring: z.object({
            runId: z.string().max(200).optional().describe('the run (workflow id), e.g. validation-<id>'),
            kind: z.string().max(64).optional().describe('validation-weekly, validation-final, baseline-production, …'),
            limit: z.coerce.number().int().min(1).max(1000).default(100),
          }),
          response: { 200: z.object({ reports: z.array(summary) }), ...errorResponses },
        },
      },
      async (req) => {
        const rows = await reports.list(req.query);
        return {
          reports: rows.map((r) => ({
            id: r.id,
            kind: r.kind,
            runId: r.runId,
            title: r.title,
            createdAt: r.createdAt.toISOString(),
            files: r.files,
            links: { html: `/v1/reports/${r.id}?format=html`, markdown: `/v1/reports/${r.id}.md` },
          })),
        };
      },
    );

    app.get(
      '/reports/:id.md',
      {
        schema: {
          summary: "A report's markdown",
          tags: ['reports'],
          params: idParams,
          response: { 200: z.string(), ...errorResponses, ...notFound },
        },
      },
      async (req, reply) => {
        const r = await mustGet(reports, req.params.id);
        return reply.type('text/markdown; charset=utf-8').send(r.markdown);
      },
    );

    app.get(
      '/reports/:id',
      {
        schema: {
          summary: 'A report: the HTML page (Accept: text/html or ?format=html) or JSON',
          tags: ['reports'],
          params: idParams,
          querystring: z.object({ format: z.enum(['html', 'json']).optional() }),
          response: { 200: doc.or(z.string()), ...errorResponses, ...notFound },
        },
      },
      async (req, reply) => {
        const r = await mustGet(reports, req.params.id);
        if (wantsHtml(req.query.format, req.headers.accept)) {
          // the page is self-contained (inline CSS and SVG, no scripts): forbid anything else
          return reply.type('text/html; charset=utf-8').header('content-security-policy', PAGE_CSP).send(r.html);
        }
        return {
          id: r.id,
          kind: r.kind,
          runId: r.runId,
          title: r.title,
          createdAt: r.createdAt.toISOString(),
          markdown: r.markdown,
          data: r.data,
        };
      },
    );
  };
}
