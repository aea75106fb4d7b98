/**
 * Server-rendered HTML with escaping by default: `html\`<td>${value}</td>\`` escapes every
 * interpolated value unless it is already SafeHtml (the result of another `html` template, or of
 * `trusted()` for constant markup). Arrays are joined, each element escaped the same way; null,
 * undefined and false render as nothing. Agent-controlled strings (branch names, reasons, report
 * titles) can therefore never open a tag or leave an attribute: `"` and `'` are escaped too, so a
 * value is safe inside a quoted attribute. URLs placed in `href` must still be built from fixed
 * prefixes and `encodeURIComponent` (escaping does not make `javascript:` harmless).
 */
import { escapeHtml } from './reports/markdown.js';

export { escapeHtml };

/** Markup that is already safe to emit. */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | readonly Interpolation[];

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof SafeHtml) return v.value;
  if (Array.isArray(v)) return v.map(render).join('');
  return escapeHtml(String(v));
}

/** Tagged template: literal parts verbatim, interpolations escaped (see the module comment). */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]) + (strings[i + 1] ?? '');
  return new SafeHtml(out);
}

/** Marks constant markup (or markup a trusted renderer produced) as safe. Never pass input to it. */
export function trusted(markup: string): SafeHtml {
  return new SafeHtml(markup);
}
