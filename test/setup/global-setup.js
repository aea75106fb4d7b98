// Jest's globalSetup is loaded without the test transform or moduleNameMapper, so it loads the
// TypeScript stack starter through tsx (the project's TypeScript runner).
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  const { startStack } = await tsImport('./stack.ts', import.meta.url);
  await startStack();
}
