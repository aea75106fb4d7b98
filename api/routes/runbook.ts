/**
 * GET /v1/runbook: the rollback runbook (seed 002 steps 5 and 8) rendered from the live
 * configuration (lib/runbook/render.ts). Operator role. Markdown for programs and terminals, an
 * HTML page for browsers (Accept: text/html or ?format=html); the curl commands in it call the
 * API at the address the caller used.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { renderHtmlPage } from '../../lib/reports/html.js';
import { renderRunbook, type RunbookConfig } from '../../lib/runbook/render.js';
import { requireRole } from '../auth.js';
import { errorResponses } from '../schemas.js';
import { PAGE_CSP, wantsHtml } from './reports.js';

export interface RunbookRouteDeps {
  config: RunbookConfig;
}

export function runbookRoutes({ config }: RunbookRouteDeps): FastifyPluginAsyncZod {
  return async (app) => {
    app.get(
      '/runbook',
      {
        onRequest: requireRole('operator'),
        schema: {
          summary:
            'The rollback runbook from the live configuration: triggers and thresholds, roles, commands, the kill switch, how to verify',
          tags: ['runbook'],
          querystring: z.object({ format: z.enum(['html', 'markdown']).optional() }),
          response: { 200: z.string(), ...errorResponses },
        },
      },
      async (req, reply) => {
        const markdown = renderRunbook(config, { apiUrl: `${req.protocol}://${req.host}`, generatedAt: new Date() });
        if (wantsHtml(req.query.format, req.headers.accept)) {
          return reply
            .type('text/html; charset=utf-8')
            .header('content-security-policy', PAGE_CSP)
            .send(renderHtmlPage({ title: 'Rollback runbook', markdown }));
        }
        return reply.type('text/markdown; charset=utf-8').send(markdown);
      },
    );
  };
}
