/**
 * temporal.yaml is the operators' documentation of every setting: each key carries a comment
 * that is a complete sentence (no fragment cut off with an ellipsis, no pasted source code), and
 * the values it shows are exactly the defaults the code applies when a key is absent.
 *
 * Keys and their lines come from the yaml package's Document API (with a LineCounter); the
 * comments come from the same parse's CST tokens, which keep every comment with its exact offset.
 * A key's comment is the comment on its own line plus the comment-only lines directly above it
 * (a blank line ends that block). Keys inside a list (canary stages, drift targets) are described
 * by the comment of the list's key.
 */
import { describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LineCounter, Parser, isPair, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { loadConfig, parseConfig } from '../../lib/config/index.js';

const path = fileURLToPath(new URL('../../temporal.yaml', import.meta.url));

interface CommentToken {
  line: number;
  /** true when nothing but whitespace precedes the comment on its line */
  alone: boolean;
  text: string;
}

function commentTokens(src: string): CommentToken[] {
  const lines = new LineCounter();
  const out: CommentToken[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(walk);
    } else if (node !== null && typeof node === 'object') {
      const t = node as { type?: string; offset?: number; source?: string };
      if (t.type === 'comment' && typeof t.offset === 'number' && typeof t.source === 'string') {
        const { line, col } = lines.linePos(t.offset);
        out.push({
          line,
          alone: src.slice(t.offset - (col - 1), t.offset).trim() === '',
          text: t.source.replace(/^#\s?/, '').trim(),
        });
      } else {
        Object.values(node).forEach(walk);
      }
    }
  };
  for (const token of new Parser(lines.addNewLine).parse(src)) walk(token);
  return out;
}

const CODE = [/=>/, /\bfunction\b/, /\bconst\s/, /\bexport\s/, /[{}]/, /\/\*|\*\//, /;\s*$/];

/** What is wrong with one comment (empty when it is a complete sentence without code). */
function sentenceProblems(text: string): string[] {
  const problems: string[] = [];
  if (text.includes('…') || text.includes('...')) problems.push('is cut off with an ellipsis');
  for (const re of CODE) if (re.test(text)) problems.push(`looks like code (${re})`);
  if (!/^[A-Z0-9`"']/.test(text)) problems.push('does not start a sentence');
  if (!/[.!?]["')]?$/.test(text)) problems.push('does not end with . ! or ?');
  return problems;
}

/** Every problem of the file's comments, as "<where>: <comment> <problem>". */
function commentProblems(src: string): string[] {
  const tokens = commentTokens(src);
  const byLine = new Map(tokens.map((t) => [t.line, t]));
  const problems: string[] = [];

  // 1. every key outside a list has a comment of its own
  const lines = new LineCounter();
  const doc = parseDocument(src, { lineCounter: lines });
  visit(doc, {
    Pair(_, pair, ancestors) {
      if (ancestors.some((a) => isSeq(a))) return;
      const keyPath = [...ancestors.filter(isPair), pair]
        .map((p) => (isScalar(p.key) ? String(p.key.value) : '?'))
        .join('.');
      const keyLine = isScalar(pair.key) && pair.key.range ? lines.linePos(pair.key.range[0]).line : 0;
      const own: string[] = [];
      for (let l = keyLine - 1; byLine.get(l)?.alone; l--) own.unshift(byLine.get(l)!.text);
      const trailing = byLine.get(keyLine);
      if (trailing && !trailing.alone) own.push(trailing.text);
      if (own.join(' ').trim() === '') problems.push(`${keyPath}: has no comment`);
    },
  });

  // 2. every comment is a complete sentence: a block of comment-only lines reads as one text
  // (a bare "#" line is a paragraph break inside it); a trailing comment stands alone
  let block: CommentToken[] = [];
  const flush = (): void => {
    const text = block
      .map((t) => t.text)
      .join(' ')
      .replace(/\s+/g, ' ')
      .trim();
    if (block.length > 0)
      for (const p of sentenceProblems(text)) problems.push(`line ${block[0].line}: "${text.slice(0, 80)}" ${p}`);
    block = [];
  };
  for (const t of tokens) {
    if (!t.alone) {
      flush();
      block = [t];
      flush();
      continue;
    }
    if (block.length > 0 && (t.line !== block[block.length - 1].line + 1 || t.text === '')) flush();
    if (t.text !== '') block.push(t);
  }
  flush();
  return problems;
}

describe('temporal.yaml', () => {
  const src = readFileSync(path, 'utf8');

  test('every key has a comment, and every comment is a complete sentence without an ellipsis or code', () => {
    expect(commentProblems(src)).toEqual([]);
  });

  test('the values it shows are exactly the defaults the code applies', () => {
    expect(loadConfig({ path, env: {} })).toEqual(parseConfig({}));
  });
});

describe('the comment check', () => {
  test('reports pasted TypeScript, a comment cut off with an ellipsis, a fragment and a key without a comment', () => {
    const bad = [
      'baseline:',
      '  # The baseline phase.',
      '  profile: default   # One load stage. */ const loadStage = (rps: number) => z.object({',
      '  job: sgc-.*   # Handles grow when the second half of the series has a Kendall trend (concordant…',
      '  warmup: 1   # seed 003 day 1 morning',
      '  samples: 12',
      '',
    ].join('\n');
    const problems = commentProblems(bad);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^line 3: .* looks like code/),
        expect.stringMatching(/^line 4: .* is cut off with an ellipsis/),
        expect.stringMatching(/^line 5: .* does not start a sentence/),
        expect.stringMatching(/^line 5: .* does not end with/),
        'baseline.samples: has no comment',
      ]),
    );
    expect(problems.some((p) => p.startsWith('baseline.profile:') || p.startsWith('baseline.job:'))).toBe(false);
  });

  test('accepts a comment block above a key and a trailing sentence', () => {
    const good = [
      '# The section.',
      'pool:',
      '  # How many sandboxes stay warm. It is a floor,',
      '  # not a target.',
      '  min: 3',
      '  max: 10   # The ceiling.',
      '',
    ].join('\n');
    expect(commentProblems(good)).toEqual([]);
  });
});
