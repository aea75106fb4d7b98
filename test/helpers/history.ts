/**
 * Replay histories (test/replay/): the workflow tests that run a workflow's main paths on the
 * real stack save one run's history as test/replay/histories/<name>.json when they run under
 * `npm run record-histories` (SGC_RECORD_HISTORIES=1, scripts/record-histories.ts); in a normal
 * test run `recordHistory` does nothing. test/replay/replay.test.ts replays every stored history
 * against the current workflow code.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export const HISTORIES_DIR = fileURLToPath(new URL('../replay/histories/', import.meta.url));

export const recording = (): boolean => process.env.SGC_RECORD_HISTORIES === '1';

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;

/*
 * The format is the History message as protobufjs writes it (`JSON.stringify` of what
 * `handle.fetchHistory()` returns: enums by name, 64-bit numbers and timestamps' seconds as
 * strings, payload bytes in base64), read back with the same message type. The SDK's
 * historyToJSON/historyFromJSON (the Temporal CLI's proto3 JSON) are not used: SDK 1.24 as
 * installed here loads three copies of protobufjs 8 (under @temporalio/common, /proto and /worker,
 * since grpc's proto-loader holds protobufjs 7 at the top), and its protojson check
 * `instanceof Type` fails across copies ("type must be a Type").
 */

/** Reads a stored history back into the History message a replay worker takes. */
export function parseHistory(json: string): History {
  return temporal.api.history.v1.History.fromObject(JSON.parse(json));
}

/** The events that close a run: a history that ends elsewhere would replay only up to its cut. */
function closed(history: History): boolean {
  const last = history.events?.at(-1);
  return !!(
    last &&
    (last.workflowExecutionCompletedEventAttributes ||
      last.workflowExecutionFailedEventAttributes ||
      last.workflowExecutionContinuedAsNewEventAttributes ||
      last.workflowExecutionCanceledEventAttributes ||
      last.workflowExecutionTerminatedEventAttributes ||
      last.workflowExecutionTimedOutEventAttributes)
  );
}

/**
 * Saves the history of one closed workflow run (a handle bound to that run, or to the workflow
 * for its latest run) as test/replay/histories/<name>.json — only under `npm run record-histories`.
 */
export async function recordHistory(name: string, handle: Pick<WorkflowHandle, 'fetchHistory'>): Promise<void> {
  if (!recording()) return;
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(name)) throw new Error(`history name "${name}": letters, digits and "-"`);
  const history = await handle.fetchHistory();
  if (!closed(history))
    throw new Error(`history ${name}: the run has not closed (last event ${history.events?.at(-1)?.eventType})`);
  mkdirSync(HISTORIES_DIR, { recursive: true });
  writeFileSync(join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(history, null, 1)}\n`);
}
