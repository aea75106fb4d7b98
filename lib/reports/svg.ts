/**
 * Inline SVG line charts for report pages: axes with ticks, axis labels, a legend, an optional
 * threshold line, and gaps where a value is null (the line breaks; an isolated point is drawn as
 * a dot). All text is escaped; the output needs no script or external resource.
 */
import type { ChartSpec } from './types.js';
import { escapeHtml } from './markdown.js';

export interface SvgChartOptions {
  width?: number;
  height?: number;
}

/**
 * A shaded band between a lower and an upper line (e.g. a prediction interval), drawn under the
 * series; a null bound breaks the band. `series` names the series whose colour it takes.
 */
export interface ChartBand {
  name: string;
  points: [x: number | string, lo: number | null, hi: number | null][];
  series?: string;
  /** fill opacity, 0..1 (default 0.2) */
  opacity?: number;
}

/** A chart spec that may carry bands (ChartSpec plus `bands`; a plain ChartSpec renders as before). */
export type ChartSpecWithBands = ChartSpec & { bands?: ChartBand[] };

const COLORS = ['#2563eb', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#be123c', '#4d7c0f', '#a16207'];
const THRESHOLD_COLOR = '#dc2626';

/** "Nice" tick values (1, 2, 5 × 10^k steps) covering [min, max]. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max === min) {
    const pad = max === 0 ? 1 : Math.abs(max) * 0.5;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag;
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  for (let v = first; v <= max + step * 1e-9; v += step) ticks.push(Number(v.toPrecision(12)));
  if (ticks[ticks.length - 1] < max) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

/** Formats a value with the chart's unit: "$0.012", "1.5 s", "4.2%", "12 ops". */
export function formatValue(v: number, unit: string): string {
  if (v >= 1e300) return '∞';
  const abs = Math.abs(v);
  const num = abs === 0 ? '0' : abs >= 1000 ? v.toFixed(0) : abs >= 10 ? String(Number(v.toFixed(1))) : abs >= 0.1 ? String(Number(v.toFixed(2))) : String(Number(v.toPrecision(2)));
  if (unit === '$') return `$${num}`;
  if (unit === '%') return `${num}%`;
  return unit ? `${num} ${unit}` : num;
}

function fmtTime(t: number, spanSeconds: number): string {
  const d = new Date(t * 1000).toISOString();
  return spanSeconds <= 2 * 86_400 ? d.slice(11, 16) : d.slice(5, 10);
}

/** Renders a line chart as an inline `<svg>` element (for embedding in HTML). */
export function renderLineChartSvg(spec: ChartSpecWithBands, opts: SvgChartOptions = {}): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 280;
  const m = { left: 64, right: 16, top: 36, bottom: 56 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;

  // x domain: numeric when every x is a number (times or indices), else categories in first-seen order
  const bands = spec.bands ?? [];
  const allX = [...spec.series.flatMap((s) => s.points.map((p) => p[0])), ...bands.flatMap((b) => b.points.map((p) => p[0]))];
  const numeric = allX.length > 0 && allX.every((x) => typeof x === 'number');
  const categories: string[] = [];
  if (!numeric) for (const x of allX) if (!categories.includes(String(x))) categories.push(String(x));
  const xs = numeric ? (allX as number[]) : [];
  const xMin = numeric ? Math.min(...xs) : 0;
  const xMax = numeric ? Math.max(...xs) : Math.max(0, categories.length - 1);
  const isTime = numeric && xMin > 1e9;
  const xPos = (x: number | string): number => {
    const v = numeric ? (x as number) : categories.indexOf(String(x));
    return m.left + (xMax === xMin ? plotW / 2 : ((v - xMin) / (xMax - xMin)) * plotW);
  };

  const finite = (y: number | null): y is number => y !== null && Number.isFinite(y) && y < 1e300;
  const ys = [
    ...spec.series.flatMap((s) => s.points.map((p) => p[1]).filter(finite)),
    ...bands.flatMap((b) => b.points.flatMap((p) => [p[1], p[2]]).filter(finite)),
  ];
  const yCandidates = [...ys, ...(spec.threshold ? [spec.threshold.value] : [])];
  const hasData = ys.length > 0;
  const yLo = Math.min(0, ...yCandidates);
  const yHi = yCandidates.length ? Math.max(...yCandidates) : 1;
  const yTicks = niceTicks(yLo, yHi * (yHi > 0 ? 1.05 : 1));
  const yMin = yTicks[0];
  const yMax = yTicks[yTicks.length - 1];
  const yPos = (y: number): number => m.top + plotH - ((Math.min(y, yMax) - yMin) / (yMax - yMin || 1)) * plotH;

  const parts: string[] = [];
  const title = escapeHtml(spec.title);
  parts.push(`<svg class="chart" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${title}">`);
  parts.push(`<title>${title}</title>`);
  parts.push(`<text x="${m.left}" y="20" class="chart-title" font-size="14" font-weight="600">${title}</text>`);

  // grid and y axis
  for (const t of yTicks) {
    const y = yPos(t).toFixed(1);
    parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" stroke="#e5e7eb" stroke-width="1"/>`);
    parts.push(`<text x="${m.left - 6}" y="${y}" font-size="11" text-anchor="end" dominant-baseline="middle" fill="#374151">${escapeHtml(formatValue(t, spec.unit))}</text>`);
  }
  parts.push(`<line x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${m.top + plotH}" stroke="#6b7280"/>`);
  parts.push(`<line x1="${m.left}" x2="${m.left + plotW}" y1="${m.top + plotH}" y2="${m.top + plotH}" stroke="#6b7280"/>`);
  parts.push(`<text transform="translate(14 ${m.top + plotH / 2}) rotate(-90)" font-size="11" text-anchor="middle" fill="#374151">${escapeHtml(spec.unit || 'value')}</text>`);

  // x ticks
  const xTickValues: (number | string)[] = numeric
    ? (isTime ? [...new Set(xs)].sort((a, b) => a - b) : niceTicks(xMin, xMax).filter((v) => v >= xMin && v <= xMax))
    : categories;
  const maxLabels = Math.max(2, Math.floor(plotW / 60));
  const every = Math.max(1, Math.ceil(xTickValues.length / maxLabels));
  xTickValues.forEach((x, k) => {
    if (k % every !== 0) return;
    const px = xPos(x).toFixed(1);
    const label = typeof x === 'number' ? (isTime ? fmtTime(x, xMax - xMin) : formatValue(x, '')) : x;
    parts.push(`<line x1="${px}" x2="${px}" y1="${m.top + plotH}" y2="${m.top + plotH + 4}" stroke="#6b7280"/>`);
    parts.push(`<text x="${px}" y="${m.top + plotH + 16}" font-size="11" text-anchor="middle" fill="#374151">${escapeHtml(label)}</text>`);
  });
  if (isTime) parts.push(`<text x="${m.left + plotW / 2}" y="${height - 24}" font-size="11" text-anchor="middle" fill="#374151">time (UTC)</text>`);

  // threshold
  if (spec.threshold) {
    const y = yPos(spec.threshold.value).toFixed(1);
    parts.push(`<line class="threshold" x1="${m.left}" x2="${m.left + plotW}" y1="${y}" y2="${y}" stroke="${THRESHOLD_COLOR}" stroke-width="1.5" stroke-dasharray="6 4"/>`);
    parts.push(`<text x="${m.left + plotW - 4}" y="${Number(y) - 5}" font-size="11" text-anchor="end" fill="${THRESHOLD_COLOR}">${escapeHtml(`${spec.threshold.label} (${formatValue(spec.threshold.value, spec.unit)})`)}</text>`);
  }

  // bands under the series: a closed polygon (upper edge forward, lower edge back) per run of points with both bounds
  const colorOf = (name: string | undefined): string => {
    const k = name === undefined ? -1 : spec.series.findIndex((s) => s.name === name);
    return k < 0 ? '#6b7280' : COLORS[k % COLORS.length];
  };
  for (const b of bands) {
    const runs: [number, number, number][][] = [];
    let cur: [number, number, number][] = [];
    const pts = numeric ? [...b.points].sort((p, q) => (p[0] as number) - (q[0] as number)) : b.points;
    for (const [x, lo, hi] of pts) {
      if (!finite(lo) || !finite(hi)) {
        if (cur.length) runs.push(cur);
        cur = [];
      } else {
        cur.push([xPos(x), yPos(lo), yPos(hi)]);
      }
    }
    if (cur.length) runs.push(cur);
    const name = escapeHtml(b.name);
    parts.push(`<g class="band" data-band="${name}">`);
    for (const run of runs) {
      if (run.length < 2) continue;
      const upper = run.map(([x, , hi]) => `${x.toFixed(1)} ${hi.toFixed(1)}`);
      const lower = [...run].reverse().map(([x, lo]) => `${x.toFixed(1)} ${lo.toFixed(1)}`);
      parts.push(`<path d="M${[...upper, ...lower].join(' L')} Z" fill="${colorOf(b.series)}" fill-opacity="${b.opacity ?? 0.2}" stroke="none"/>`);
    }
    parts.push('</g>');
  }

  // series: a path per run of non-null points; an isolated point is a dot
  spec.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    const segments: [number, number][][] = [];
    let cur: [number, number][] = [];
    const pts = numeric ? [...s.points].sort((a, b) => (a[0] as number) - (b[0] as number)) : s.points;
    for (const [x, y] of pts) {
      if (y === null || !Number.isFinite(y)) {
        if (cur.length) segments.push(cur);
        cur = [];
      } else {
        cur.push([xPos(x), yPos(y)]);
      }
    }
    if (cur.length) segments.push(cur);
    const name = escapeHtml(s.name);
    parts.push(`<g class="series" data-series="${name}">`);
    for (const seg of segments) {
      if (seg.length === 1) {
        parts.push(`<circle cx="${seg[0][0].toFixed(1)}" cy="${seg[0][1].toFixed(1)}" r="3" fill="${color}"/>`);
      } else {
        const d = seg.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${x.toFixed(1)} ${y.toFixed(1)}`).join(' ');
        parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
      }
    }
    parts.push('</g>');
  });

  if (!hasData) {
    parts.push(`<text x="${m.left + plotW / 2}" y="${m.top + plotH / 2}" font-size="13" text-anchor="middle" fill="#6b7280">no data</text>`);
  }

  // legend under the x axis
  let lx = m.left;
  const ly = height - 8;
  spec.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    parts.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="4" fill="${color}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly - 5}" font-size="11" dominant-baseline="middle" fill="#111827">${escapeHtml(s.name)}</text>`);
    lx += 28 + Math.min(200, s.name.length * 7);
  });
  for (const b of bands) {
    parts.push(`<rect x="${lx}" y="${ly - 11}" width="12" height="8" fill="${colorOf(b.series)}" fill-opacity="${b.opacity ?? 0.2}"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly - 5}" font-size="11" dominant-baseline="middle" fill="#111827">${escapeHtml(b.name)}</text>`);
    lx += 28 + Math.min(200, b.name.length * 7);
  }
  if (spec.threshold) {
    parts.push(`<line x1="${lx}" x2="${lx + 12}" y1="${ly - 7}" y2="${ly - 7}" stroke="${THRESHOLD_COLOR}" stroke-dasharray="3 2" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 16}" y="${ly - 5}" font-size="11" dominant-baseline="middle" fill="#111827">${escapeHtml(spec.threshold.label)}</text>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
