/**
 * Prebuilds the workflow bundle for production workers (no webpack at start-up, and every
 * worker of a deployment runs byte-identical workflow code):
 *
 *   npx tsx workers/build-bundle.ts dist/workflow-bundle.js
 *   SGC_WORKFLOW_BUNDLE=dist/workflow-bundle.js npm run worker
 *
 * Not minified: Temporal's replay and stack traces need the real function names.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const out = resolve(process.argv[2] ?? 'dist/workflow-bundle.js');
const { code } = await bundleWorkflowCode({
  workflowsPath: fileURLToPath(new URL('../workflows/index.ts', import.meta.url)),
});
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, code);
process.stdout.write(`workflow bundle written to ${out} (${code.length} bytes)\n`);
