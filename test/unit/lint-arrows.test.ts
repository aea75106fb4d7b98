/**
 * The import arrows of ARCHITECTURE.md are lint rules (eslint.config.js): an import against them
 * fails `npm run lint`. Each case lints a few lines as if they were a file at that path (ESLint's
 * lintText with a virtual filePath: the per-folder config applies, nothing is written to disk).
 * Type-aware rules are switched off here: the virtual files are not in the TypeScript project.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../..', import.meta.url));
let eslint: ESLint;

beforeAll(() => {
  eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked });
});

/** The no-restricted-imports messages ESLint reports for `code` placed at `filePath`. */
async function arrowErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  const fatal = result.messages.filter((m) => m.fatal);
  if (fatal.length > 0) throw new Error(`${filePath} did not parse: ${fatal[0].message}`);
  return result.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

const code = (spec: string, kind: 'value' | 'type'): string =>
  kind === 'value'
    ? `import { x } from '${spec}';\nexport const y = x;\n`
    : `import type { X } from '${spec}';\nexport type Y = X;\n`;

describe('an import against the arrows is reported', () => {
  test.each([
    ['api/routes/flags-extra.ts', '../../workers/main.js', 'value', /never workers\/ or activities\//],
    ['api/server-extra.ts', '../activities/git.js', 'value', /never workers\/ or activities\//],
    ['scripts/cli/extra.ts', '../../workers/phases-canary.js', 'value', /never workers\/ or activities\//],
    ['scripts/cli/extra.ts', '../../activities/canary.js', 'value', /never workers\/ or activities\//],
    ['bench/extra.ts', '../test/helpers/db.js', 'value', /only tests import test\//],
    ['bench/extra.ts', '../activities/canary.js', 'value', /never activities\/ directly/],
    ['clients/extra.ts', '../workers/main.js', 'value', /clients\/ sits below/],
    ['clients/extra.ts', '../api/app.js', 'value', /clients\/ sits below/],
    ['clients/extra.ts', '../activities/baseline.js', 'value', /activity types only/],
    ['activities/extra.ts', '../clients/canary.js', 'value', /no callers' code/],
    ['workers/extra.ts', '../api/app.js', 'value', /composition roots/],
    ['lib/canary/extra.ts', '../../clients/canary.js', 'value', /bottom layer/],
    ['lib/extra.ts', '../workflows/ids.js', 'value', /bottom layer/],
    ['lib/store/extra.ts', '@temporalio/client', 'value', /does not import Temporal/],
    ['lib/git/extra.ts', '../service/types.js', 'type', /lib\/git sits below lib\/service/],
    ['workflows/canary-rollout/extra.ts', '@temporalio/client', 'value', /@temporalio\/workflow .* only/],
    ['workflows/canary-rollout/extra.ts', '../../activities/canary.js', 'value', /activity types only/],
    ['workflows/canary-rollout/extra.ts', '../../clients/canary.js', 'value', /deterministic/],
    ['workflows/canary-rollout/extra.ts', '../../lib/db/index.js', 'value', /pure lib\/ modules only/],
    ['workflows/canary-rollout/extra.ts', 'node:fs', 'value', /not deterministic/],
  ] as const)('%s importing %s (%s)', async (filePath, spec, kind, message) => {
    const errors = await arrowErrors(filePath, code(spec, kind));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(message);
  });
});

describe('imports along the arrows pass', () => {
  test.each([
    ['api/routes/extra.ts', '../../clients/canary.js', 'value'],
    ['scripts/cli/extra.ts', '../../clients/baseline.js', 'value'],
    ['scripts/testing/extra.ts', '../stack.js', 'value'],
    ['bench/extra.ts', '../scripts/testing/db.js', 'value'],
    // a benchmark that runs a worker builds it from the same composition functions as production
    ['bench/extra.ts', '../workers/phases-canary.js', 'value'],
    ['clients/extra.ts', '../activities/baseline.js', 'type'],
    ['workers/extra.ts', '../clients/schedules.js', 'value'],
    ['lib/service/extra.ts', '../git/types.js', 'type'],
    ['lib/canary/extra.ts', '../errors.js', 'value'],
    ['workflows/canary-rollout/extra.ts', '@temporalio/workflow', 'value'],
    ['workflows/canary-rollout/extra.ts', '../../activities/canary.js', 'type'],
    ['workflows/canary-rollout/extra.ts', '../../lib/db/index.js', 'type'],
    ['workflows/canary-rollout/extra.ts', '../../lib/canary/analysis.js', 'value'],
    ['test/unit/extra.test.ts', '../../workers/main.js', 'value'],
  ] as const)('%s importing %s (%s)', async (filePath, spec, kind) => {
    expect(await arrowErrors(filePath, code(spec, kind))).toEqual([]);
  });
});
