// Stops what global-setup.js started (same process, so the same module instance).
import { tsImport } from 'tsx/esm/api';

export default async function globalTeardown() {
  const { stopStack } = await tsImport('./stack.ts', import.meta.url);
  await stopStack();
}
