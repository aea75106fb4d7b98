/* global process */
// Jest 30 with @swc/jest (ESM TypeScript; run with NODE_OPTIONS=--experimental-vm-modules, which
// `npm test` sets). Projects: unit (pure, no stack), workflows and integration (the real stack,
// started once for the whole run by test/setup/global-setup.js), security (issue 9: each attack
// is a test that failed before its fix; real stack too), replay (stored workflow histories
// replayed on the current code; no stack). FACTS.md has the traps.
// ESM-only packages that CommonJS dependencies require() (light-my-request → cookie 2): Node 20
// loads them natively, Jest's loader cannot, so Jest compiles just these to CommonJS.
const ESM_ONLY = ['cookie'];
const transform = {
  '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
  [`/node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`]: [
    '@swc/jest',
    { jsc: { target: 'es2022' }, module: { type: 'commonjs' } },
  ],
};
const common = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // the E2B SDK's CommonJS build require()s ESM-only chalk, which Jest's module loader cannot do
    // on Node 20 (node itself can): point Jest at the SDK's own ESM builds
    '^@e2b/code-interpreter$': '<rootDir>/node_modules/@e2b/code-interpreter/dist/index.mjs',
    '^e2b$': '<rootDir>/node_modules/e2b/dist/index.mjs',
  },
};
const suite = (name) => ({ ...common, displayName: name, testMatch: [`<rootDir>/test/${name}/**/*.test.ts`] });
// workflows and integration retry timing flakes (test/setup/retry.ts); unit, replay and security never do (a
// security claim must hold every time, and their per-file counters make a retry meaningless)
const stackSuite = (name) => ({ ...suite(name), setupFilesAfterEnv: ['<rootDir>/test/setup/retry.ts'] });

// issue 12: real faults under an agent workload, checked from the records — minutes per fault (a
// scaled-out stack of its own, 20 agents), so only under `npm run chaos` (SGC_CHAOS=1), which runs
// this project alone and never retries; a path or -t given after it narrows it as usual
const chaos = { ...suite('chaos'), testMatch: ['<rootDir>/test/chaos/**/*.test.ts'] };

/** @type {import('jest').Config} */
export default {
  projects:
    process.env.SGC_CHAOS === '1'
      ? [chaos]
      : [
          suite('unit'),
          stackSuite('workflows'),
          stackSuite('integration'),
          suite('security'),
          // stored workflow histories replayed against the current workflow code (no stack needed)
          suite('replay'),
        ],
  globalSetup: '<rootDir>/test/setup/global-setup.js',
  globalTeardown: '<rootDir>/test/setup/global-teardown.js',
  // Temporal's native runtime is one per process: a fresh worker process per test file avoids
  // "ShutdownError" when a second file reuses a runtime the first one shut down.
  workerIdleMemoryLimit: '1MB',
  // workflow and integration tests run real servers and whole (shrunk) phases
  testTimeout: 300_000,
  maxWorkers: Number(process.env.TEST_CONCURRENCY ?? 2),
  coverageProvider: 'v8',
  collectCoverageFrom: ['lib/**/*.ts', 'activities/**/*.ts', 'workflows/**/*.ts', 'api/**/*.ts', 'clients/**/*.ts'],
  coverageDirectory: '.data/coverage',
};
