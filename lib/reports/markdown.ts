/**
 * A small, safe markdown → HTML converter for report pages, and helpers to build report
 * markdown. Safe means every character of the input is escaped: no raw HTML passes through, and
 * no links are produced (reports carry no URLs). Supported: ATX headings, fenced code, pipe
 * tables (with alignment), flat bullet / numbered / task lists, block quotes, rules,
 * paragraphs, and inline `code`, **strong**, *emphasis*.
 */
import { sanitizeUrl } from '../log.js';

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** Inline formatting on raw text: code spans first (verbatim), then strong/emphasis on escaped text. */
function inline(raw: string): string {
  const parts = raw.split(/(`[^`]*`)/g);
  return parts
    .map((p) => {
      if (p.length >= 2 && p.startsWith('`') && p.endsWith('`')) return `<code>${escapeHtml(p.slice(1, -1))}</code>`;
      let s = escapeHtml(p);
      s = s.replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
      s = s.replace(/(^|[^*\w])\*([^*\s][^*]*?)\*(?![*\w])/g, '$1<em>$2</em>');
      return s;
    })
    .join('');
}

/** Splits a table row on unescaped pipes, dropping the outer ones; `\|` becomes `|`. */
function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '|') {
      cur += '|';
      i++;
    } else if (s[i] === '|') {
      cells.push(cur.trim());
      cur = '';
    } else {
      cur += s[i];
    }
  }
  cells.push(cur.trim());
  return cells;
}

const SEPARATOR = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
const LIST_ITEM = /^\s*([-*]|\d+[.)])\s+(.*)$/;

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64);
}

/** Converts markdown to an HTML fragment; all text is escaped. */
export function markdownToHtml(md: string): string {
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let para: string[] = [];
  const flushPara = (): void => {
    if (para.length > 0) out.push(`<p>${inline(para.join(' '))}</p>`);
    para = [];
  };

  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)(.*)$/);
    if (fence) {
      flushPara();
      const close = fence[1];
      const body: string[] = [];
      i++;
      while (i < lines.length && !lines[i].trim().startsWith(close)) body.push(lines[i++]);
      i++;
      out.push(`<pre><code>${escapeHtml(body.join('\n'))}</code></pre>`);
      continue;
    }
    const heading = line.match(/^\s*(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      flushPara();
      const level = heading[1].length;
      out.push(`<h${level} id="${slug(heading[2])}">${inline(heading[2])}</h${level}>`);
      i++;
      continue;
    }
    if (line.trim().startsWith('|') && i + 1 < lines.length && SEPARATOR.test(lines[i + 1])) {
      flushPara();
      const header = splitRow(line);
      const aligns = splitRow(lines[i + 1]).map((c) => (c.startsWith(':') && c.endsWith(':') ? 'center' : c.endsWith(':') ? 'right' : c.startsWith(':') ? 'left' : ''));
      const attr = (k: number): string => (aligns[k] ? ` style="text-align:${aligns[k]}"` : '');
      i += 2;
      const rows: string[][] = [];
      while (i < lines.length && lines[i].trim().startsWith('|')) rows.push(splitRow(lines[i++]));
      out.push(
        '<table><thead><tr>' + header.map((h, k) => `<th${attr(k)}>${inline(h)}</th>`).join('') + '</tr></thead><tbody>' +
        rows.map((r) => '<tr>' + header.map((_, k) => `<td${attr(k)}>${inline(r[k] ?? '')}</td>`).join('') + '</tr>').join('') +
        '</tbody></table>',
      );
      continue;
    }
    if (/^\s*(-{3,}|\*{3,}|_{3,})\s*$/.test(line)) {
      flushPara();
      out.push('<hr>');
      i++;
      continue;
    }
    const item = line.match(LIST_ITEM);
    if (item) {
      flushPara();
      const ordered = /\d/.test(item[1]);
      const items: string[] = [];
      while (i < lines.length) {
        const m = lines[i].match(LIST_ITEM);
        if (!m || /\d/.test(m[1]) !== ordered) break;
        let text = m[2];
        i++;
        // continuation lines (indented, not a new item) belong to the item
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !LIST_ITEM.test(lines[i])) text += ' ' + lines[i++].trim();
        const task = text.match(/^\[( |x|X|\?)\]\s+(.*)$/);
        if (task) {
          const mark = task[1] === ' ' ? '<span class="task no">✗</span>' : task[1] === '?' ? '<span class="task unknown">?</span>' : '<span class="task yes">✓</span>';
          items.push(`<li class="task-item">${mark} ${inline(task[2])}</li>`);
        } else {
          items.push(`<li>${inline(text)}</li>`);
        }
      }
      out.push(`<${ordered ? 'ol' : 'ul'}>${items.join('')}</${ordered ? 'ol' : 'ul'}>`);
      continue;
    }
    const quote = line.match(/^\s*>\s?(.*)$/);
    if (quote) {
      flushPara();
      const body: string[] = [];
      while (i < lines.length) {
        const q = lines[i].match(/^\s*>\s?(.*)$/);
        if (!q) break;
        body.push(q[1]);
        i++;
      }
      out.push(`<blockquote>${markdownToHtml(body.join('\n'))}</blockquote>`);
      continue;
    }
    if (line.trim() === '') {
      flushPara();
      i++;
      continue;
    }
    para.push(line.trim());
    i++;
  }
  flushPara();
  return out.join('\n');
}

/** Escapes text for a markdown table cell (pipes, newlines). */
export function mdCell(s: string): string {
  return s.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** A pipe table; `align` per column: 'l' | 'r' | 'c'. Cells are escaped. */
export function mdTable(headers: readonly string[], rows: readonly (readonly string[])[], align: readonly ('l' | 'r' | 'c')[] = []): string {
  const sep = headers.map((_, k) => (align[k] === 'r' ? '---:' : align[k] === 'c' ? ':---:' : '---'));
  return [
    `| ${headers.map(mdCell).join(' | ')} |`,
    `| ${sep.join(' | ')} |`,
    ...rows.map((r) => `| ${headers.map((_, k) => mdCell(r[k] ?? '')).join(' | ')} |`),
  ].join('\n');
}

const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s)\]>"'`]+/gi;
const SCP_RE = /\b[\w.-]+@[\w.-]+\.[a-z]{2,}:[\w./-]+/gi;
const TOKEN_RE = /\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|e2b_[A-Za-z0-9]{16,}|sk-[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,})\b/g;
const BEARER_RE = /\b(Bearer|Basic|token)\s+[A-Za-z0-9._~+/=-]{12,}/gi;

/**
 * Makes free text safe for a report: URLs lose credentials and query strings (`sanitizeUrl`),
 * scp-style remotes lose their user, and well-known token shapes are replaced by `[redacted]`.
 */
export function sanitizeText(s: string): string {
  // URLs first, so credentials inside them go with the userinfo rather than being half-redacted
  return s
    .replace(URL_RE, (u) => sanitizeUrl(u))
    .replace(SCP_RE, (u) => sanitizeUrl(u))
    .replace(TOKEN_RE, '[redacted]')
    .replace(BEARER_RE, '$1 [redacted]');
}

/** Deep copy of JSON-like data with every string passed through `sanitizeText`. */
export function sanitizeData<T>(value: T): T {
  if (typeof value === 'string') return sanitizeText(value) as T;
  if (Array.isArray(value)) return value.map((v) => sanitizeData(v)) as T;
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [sanitizeText(k), sanitizeData(v)])) as T;
  }
  return value;
}
