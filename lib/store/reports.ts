import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Queryable } from './queryable.js';
import { bindQuery, defineRepository } from './repository.js';
import type { ChartSpec, ReportDoc } from '../reports/types.js';
import { renderHtmlPage } from '../reports/html.js';
import { sanitizeData } from '../reports/markdown.js';

export interface ReportInput {
  /** stable id: a retried write of the same report replaces it instead of duplicating it */
  id: string;
  kind: string;
  runId: string;
  title: string;
  markdown: string;
  charts?: ChartSpec[];
  data?: Record<string, unknown>;
  /** extra artifacts written beside the page (metrics.csv, metadata.json, slo.yaml …) */
  files?: { name: string; content: string }[];
}

export interface ReportSummary {
  id: string;
  kind: string;
  runId: string;
  title: string;
  createdAt: Date;
  files: string[];
}

const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, content);
  await rename(tmp, path);
}

/**
 * Renders a report page, stores it in Postgres (upsert by id: idempotent under activity retries)
 * and writes it with its artifacts to `<dir>/<runId>/`. Data is sanitised before it is stored.
 */
async function saveReport(db: Queryable, dir: string, input: ReportInput): Promise<ReportDoc> {
  for (const f of [input.id, input.runId, ...(input.files ?? []).map((x) => x.name)]) {
    if (!SAFE_NAME.test(f)) throw new Error(`unsafe report file or id name: ${JSON.stringify(f)}`);
  }
  const html = renderHtmlPage({ title: input.title, markdown: input.markdown, charts: input.charts ?? [] });
  const data = sanitizeData(input.data ?? {});
  const files = (input.files ?? []).map((f) => f.name);
  const { rows } = await db.query<{ created_at: Date }>(
    `INSERT INTO reports (id, kind, run_id, title, markdown, html, data, files)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET kind = EXCLUDED.kind, run_id = EXCLUDED.run_id, title = EXCLUDED.title,
       markdown = EXCLUDED.markdown, html = EXCLUDED.html, data = EXCLUDED.data, files = EXCLUDED.files
     RETURNING created_at`,
    [input.id, input.kind, input.runId, input.title, input.markdown, html, JSON.stringify(data), JSON.stringify(files)],
  );
  const runDir = join(dir, input.runId);
  await mkdir(runDir, { recursive: true });
  await writeAtomic(join(runDir, `${input.id}.md`), input.markdown);
  await writeAtomic(join(runDir, `${input.id}.html`), html);
  for (const f of input.files ?? []) await writeAtomic(join(runDir, f.name), f.content);
  return {
    id: input.id,
    kind: input.kind,
    runId: input.runId,
    title: input.title,
    markdown: input.markdown,
    html,
    data,
    createdAt: rows[0].created_at,
  };
}

async function listReports(
  db: Queryable,
  filter: { runId?: string; kind?: string; limit?: number } = {},
): Promise<ReportSummary[]> {
  const { rows } = await db.query<{
    id: string;
    kind: string;
    run_id: string;
    title: string;
    created_at: Date;
    files: string[];
  }>(
    `SELECT id, kind, run_id, title, created_at, files FROM reports
     WHERE ($1::text IS NULL OR run_id = $1) AND ($2::text IS NULL OR kind = $2)
     ORDER BY created_at DESC LIMIT $3`,
    [filter.runId ?? null, filter.kind ?? null, Math.min(filter.limit ?? 100, 1000)],
  );
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    runId: r.run_id,
    title: r.title,
    createdAt: r.created_at,
    files: r.files,
  }));
}

async function getReport(db: Queryable, id: string): Promise<ReportDoc | null> {
  const { rows } = await db.query<{
    id: string;
    kind: string;
    run_id: string;
    title: string;
    markdown: string;
    html: string;
    data: Record<string, unknown>;
    created_at: Date;
  }>('SELECT id, kind, run_id, title, markdown, html, data, created_at FROM reports WHERE id = $1', [id]);
  const r = rows[0];
  return r
    ? {
        id: r.id,
        kind: r.kind,
        runId: r.run_id,
        title: r.title,
        markdown: r.markdown,
        html: r.html,
        data: r.data,
        createdAt: r.created_at,
      }
    : null;
}

/** The `reports` table (the rendered documents live as files under the reports directory). */
export function createReportRepository(q: Queryable) {
  return defineRepository('reports', {
    save: bindQuery(q, saveReport),
    list: bindQuery(q, listReports),
    findById: bindQuery(q, getReport),
  });
}
export type ReportRepository = ReturnType<typeof createReportRepository>;
