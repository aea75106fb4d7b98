// Flat config. Workflow code runs in Temporal's deterministic sandbox: Node built-ins,
// process.env, I/O clients and the console are banned there (STYLE.md, "Who owns what").
//
// Import arrows (ARCHITECTURE.md, "Layers"): a folder may import only the folders below it.
//
//   api/, scripts/    → clients/, lib/, workflows/ (messages, types); never workers/ or activities/
//   bench/            → like api/, plus api/ (it measures the app) and workers/ composition
//                       functions (phases-*.ts, git-worker.ts: a benchmark that runs a real worker
//                       builds it exactly as production does); never activities/ or test/
//   clients/          → lib/, workflows/; activities/ for types only; never api/ or workers/
//   workers/          → everything below it; never api/, bench/ or test/
//   activities/       → lib/ (and workflows/ types); never clients/, api/ or workers/
//   workflows/        → @temporalio/workflow (and @temporalio/common), pure lib/ modules, types
//   lib/              → lib/ only, no @temporalio/*; lib/git never imports lib/service
//   test/             → anything (only tests import test/)
//
// Each folder's whole list sits in one config object, because a later object's options replace
// an earlier one's for the same rule. test/unit/lint-arrows.test.ts proves a wrong import fails.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);

/** A relative import reaching a top-level folder, from any depth: ../workers/x.js, ../../workers/x.js. */
const folders = (names) => `^(\\.\\./)+(${names.join('|')})/`;

const arrow = (names, message, extra = {}) => ({ regex: folders(names), message, ...extra });

const testOnly = arrow(['test'], 'only tests import test/ (shared stack helpers live in scripts/testing/)');

/** The lib/ modules that do I/O or hold process state: a workflow may import their types only. */
const impureLib = [
  'db',
  'store',
  'prom',
  'log',
  'metrics',
  'flags',
  'sandbox',
  'service',
  'pool',
  'lock',
  'router',
  'git',
  'crypto',
  'load',
  'reconcile',
  'config/index',
];

const restrict = (patterns, paths = []) => ({
  'no-restricted-imports': 'off',
  '@typescript-eslint/no-restricted-imports': ['error', { paths, patterns }],
});

export default tseslint.config(
  { ignores: ['.scratch/**', 'node_modules/**', '.tools/**', '.data/**', 'dist/**', 'reports/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['api/**/*.ts', 'scripts/**/*.ts'],
    rules: restrict([
      arrow(
        ['workers', 'activities'],
        'api/ and scripts/ call Temporal through clients/, never workers/ or activities/',
      ),
      arrow(['bench'], 'nothing imports bench/'),
      testOnly,
    ]),
  },
  {
    files: ['bench/**/*.ts'],
    rules: restrict([
      arrow(
        ['activities'],
        'bench/ runs activities through the workers/ composition functions (phases-*.ts), never activities/ directly',
      ),
      testOnly,
    ]),
  },
  {
    files: ['clients/**/*.ts'],
    rules: restrict([
      arrow(['api', 'workers', 'scripts', 'bench'], 'clients/ sits below api/, scripts/, bench/ and workers/'),
      arrow(['activities'], 'clients/ may import activity types only', { allowTypeImports: true }),
      testOnly,
    ]),
  },
  {
    files: ['workers/**/*.ts'],
    rules: restrict([
      arrow(['api', 'scripts', 'bench'], 'workers/ are composition roots below api/, scripts/ and bench/'),
      testOnly,
    ]),
  },
  {
    files: ['activities/**/*.ts'],
    rules: restrict([
      arrow(
        ['api', 'clients', 'workers', 'scripts', 'bench'],
        "activities/ are thin factories over lib/: no callers' code",
      ),
      arrow(['workflows'], 'activities/ may import workflow types only', { allowTypeImports: true }),
      testOnly,
    ]),
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      ...restrict(
        [
          {
            group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'],
            message: 'workflows/ import @temporalio/workflow (and @temporalio/common) only',
          },
          arrow(['api', 'clients', 'workers', 'scripts', 'bench'], "workflows/ are deterministic: no callers' code"),
          arrow(['activities'], 'workflows/ import activity types only (proxyActivities<typeof …>)', {
            allowTypeImports: true,
          }),
          {
            regex: `^(\\.\\./)+lib/(${impureLib.join('|')})(/|\\.js$)`,
            message: 'workflows/ import pure lib/ modules only (this one does I/O): types are fine',
            allowTypeImports: true,
          },
          testOnly,
        ],
        [...nodeBuiltins, 'pg', 'prom-client', 'pino', 'undici', 'fastify'].map((name) => ({
          name,
          message: 'not deterministic: workflows/ may import only @temporalio/workflow, types and pure lib/ modules',
        })),
      ),
      'no-restricted-globals': ['error', 'process', 'fetch', 'setTimeout', 'setInterval'],
      'no-console': 'error',
    },
  },
  {
    files: ['lib/**/*.ts'],
    ignores: ['lib/git/**'],
    rules: restrict([
      { group: ['@temporalio/*'], message: 'lib/ is the domain and does not import Temporal' },
      arrow(
        ['api', 'clients', 'workers', 'activities', 'workflows', 'scripts', 'bench'],
        'lib/ is the bottom layer: it imports nothing above it',
      ),
      testOnly,
    ]),
  },
  {
    files: ['lib/git/**/*.ts'],
    rules: restrict([
      { group: ['@temporalio/*'], message: 'lib/ is the domain and does not import Temporal' },
      arrow(
        ['api', 'clients', 'workers', 'activities', 'workflows', 'scripts', 'bench'],
        'lib/ is the bottom layer: it imports nothing above it',
      ),
      { regex: '^(\\.\\./)+service/', message: 'lib/git sits below lib/service (git types live in lib/git/types.ts)' },
      testOnly,
    ]),
  },
  { files: ['**/*.js'], ...tseslint.configs.disableTypeChecked },
);
