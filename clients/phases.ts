/**
 * Running and recent phase runs across the four phases (validation, canary, baseline, drift), for
 * the console: listed from Temporal visibility by the `SgcPhase` search attribute (set at start
 * by the phase clients and upserted by the workflows), each with a one-line summary — from its
 * live `status` query while it runs, else its memo summary, else its search attributes.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { statusQuery as canaryStatusQuery } from '../workflows/canary-rollout/messages.js';
import { driftStatusQuery } from '../workflows/drift-review/messages.js';
import { statusQuery as baselineStatusQuery } from '../workflows/production-baseline/messages.js';
import {
  sgcDecisionKey,
  sgcPercentKey,
  sgcPhaseKey,
  sgcStageKey,
  sgcStatusKey,
  sgcWeekKey,
} from '../workflows/search-attributes.js';
import {
  SUMMARY_MEMO_KEY,
  baselineSummary,
  canarySummary,
  driftSummary,
  validationSummary,
} from '../workflows/summary.js';
import { statusQuery as validationStatusQuery } from '../workflows/validation-period/messages.js';

export const PHASES = ['validation', 'canary', 'baseline', 'drift'] as const;
export type Phase = (typeof PHASES)[number];

const WORKFLOW_TYPES: Record<string, Phase> = {
  validationPeriodWorkflow: 'validation',
  canaryRolloutWorkflow: 'canary',
  productionBaselineWorkflow: 'baseline',
  driftReviewWorkflow: 'drift',
};

export interface PhaseRun {
  phase: Phase;
  workflowId: string;
  runId: string;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, … */
  execution: string;
  startTime: Date;
  closeTime: Date | null;
  /** one line: where the run is or how it ended */
  summary: string;
  /** where the summary came from */
  summarySource: 'status' | 'memo' | 'attributes';
}

export interface ListPhaseRunsOptions {
  /** only runs on this task queue (config temporal.taskQueues.phases): deployments sharing a namespace stay apart */
  taskQueue?: string;
  /** newest first; default 20 */
  limit?: number;
  /** bound on each status query (a run whose worker is down must not hang the page); default 3 s */
  queryTimeoutMs?: number;
}

/** The visibility query: the phases' runs, optionally on one task queue. */
export function phaseRunsQuery(taskQueue?: string): string {
  const phases = PHASES.map((p) => `'${p}'`).join(', ');
  return `SgcPhase IN (${phases})${taskQueue ? ` AND TaskQueue = '${taskQueue.replace(/'/g, '')}'` : ''}`;
}

function attributesSummary(info: WorkflowExecutionInfo): string {
  const a = info.typedSearchAttributes;
  const parts = [
    a.get(sgcStatusKey) ?? info.status.name.toLowerCase(),
    a.get(sgcStageKey) !== undefined ? `stage ${a.get(sgcStageKey)}` : null,
    a.get(sgcPercentKey) !== undefined ? `${a.get(sgcPercentKey)}%` : null,
    a.get(sgcWeekKey) !== undefined ? `week ${a.get(sgcWeekKey)}` : null,
    a.get(sgcDecisionKey) !== undefined ? `decision ${a.get(sgcDecisionKey)}` : null,
  ];
  return parts.filter((p): p is string => p !== null).join(', ');
}

async function liveSummary(client: Client, phase: Phase, workflowId: string, timeoutMs: number): Promise<string> {
  const handle = client.workflow.getHandle(workflowId);
  return client.connection.withDeadline(Date.now() + timeoutMs, async () => {
    switch (phase) {
      case 'validation':
        return validationSummary(await handle.query(validationStatusQuery));
      case 'canary':
        return canarySummary(await handle.query(canaryStatusQuery));
      case 'baseline':
        return baselineSummary(await handle.query(baselineStatusQuery));
      case 'drift':
        return driftSummary(await handle.query(driftStatusQuery));
    }
  });
}

/** Running and recent phase runs, newest first, each with a summary line. */
export async function listPhaseRuns(client: Client, o: ListPhaseRunsOptions = {}): Promise<PhaseRun[]> {
  const limit = o.limit ?? 20;
  const infos: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query: phaseRunsQuery(o.taskQueue), pageSize: limit })) {
    infos.push(info);
    if (infos.length >= limit) break;
  }
  return Promise.all(
    infos.map(async (info): Promise<PhaseRun> => {
      const phase =
        (info.typedSearchAttributes.get(sgcPhaseKey) as Phase | undefined) ?? WORKFLOW_TYPES[info.type] ?? 'validation';
      const base = {
        phase,
        workflowId: info.workflowId,
        runId: info.runId,
        execution: info.status.name,
        startTime: info.startTime,
        closeTime: info.closeTime ?? null,
      };
      if (info.status.name === 'RUNNING') {
        try {
          return {
            ...base,
            summary: await liveSummary(client, phase, info.workflowId, o.queryTimeoutMs ?? 3_000),
            summarySource: 'status',
          };
        } catch {
          // no worker answering (or the run just closed): fall back to what visibility knows
        }
      }
      const memo = info.memo?.[SUMMARY_MEMO_KEY];
      if (typeof memo === 'string' && memo !== '') return { ...base, summary: memo, summarySource: 'memo' };
      return { ...base, summary: attributesSummary(info), summarySource: 'attributes' };
    }),
  );
}

/** Temporal UI's page of one workflow. */
export function temporalUiUrl(uiUrl: string, namespace: string, workflowId: string): string {
  return `${uiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}
