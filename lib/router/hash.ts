/**
 * Sticky routing buckets. Pure (no Node built-ins), so workflows may import it too.
 *
 * bucket = fmix32(FNV-1a-32(utf8(operation + "\0" + agentId))) mod 100
 *
 * FNV-1a alone mixes its low bits poorly for keys that differ only in their last characters
 * (agent-1, agent-2, …), and `mod 100` reads mostly the low bits; MurmurHash3's 32-bit finaliser
 * (fmix32) spreads every input bit over the whole word. The NUL separator keeps
 * ("git.a", "bc") and ("git.ab", "c") apart. The modulo bias of 2^32 mod 100 is ~2e-8.
 *
 * Never change this function while a rollout runs: every agent's bucket would move, so agents
 * would jump between approaches mid-rollout. test/unit/router.test.ts pins known values.
 */
const encoder = new TextEncoder();

export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function fmix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The agent's bucket for an operation, 0..99; stable across processes, restarts and versions. */
export function routeBucket(agentId: string, operation: string): number {
  return fmix32(fnv1a32(encoder.encode(`${operation}\u0000${agentId}`))) % 100;
}

/**
 * The key of the shadow-share bucket: one bucket per agent for every operation (not per
 * operation like the percent's), so a workspace whose clone was shadowed keeps its copy compared
 * and dual-written, and reconciliation knows which workspaces to expect on both sides.
 */
export const SHADOW_BUCKET_KEY = 'shadow';

/** Whether the agent is in a shadow share of `percent` (0..100): sticky, and raising the share only adds agents. */
export function inShadowShare(agentId: string, percent: number): boolean {
  const p = Number.isFinite(percent) ? Math.min(100, Math.max(0, percent)) : 0;
  return routeBucket(agentId, SHADOW_BUCKET_KEY) < p;
}
