/**
 * Keeps a phase run's memo summary (workflows/summary.ts) current, so Temporal UI's list says
 * where each run is. The memo is upserted only when the text changes, and only on runs that
 * started with this code: `patched('memo-summary')` keeps histories recorded before it (runs in
 * flight, test/replay) replaying without the new command. Call it from the workflow's main code
 * or an update handler, never from a query.
 */
import { patched, upsertMemo } from '@temporalio/workflow';
import { SUMMARY_MEMO_KEY, clip } from './summary.js';

export const MEMO_PATCH = 'memo-summary';

/** A function that sets the run's summary when it differs from the last one set. */
export function memoSummary(): (summary: string) => void {
  let last: string | null = null;
  return (summary) => {
    const text = clip(summary);
    if (text === last || !patched(MEMO_PATCH)) return;
    last = text;
    upsertMemo({ [SUMMARY_MEMO_KEY]: text });
  };
}
