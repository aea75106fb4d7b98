/**
 * The agent workload the chaos faults are injected under (issue 12): N agents over REST, each
 * holding one workspace and pushing, in a loop, a new file to a branch it shares with other
 * agents (`shared/b<k>`). Every request carries an `Idempotency-Key` (create and push), and a
 * client retries the SAME request under the same key on what a client is told to retry: a
 * connection refused or reset (its API process died — it then tries the next API, as a load
 * balancer would), 502/503/504, and 409 `busy`. Every answer is recorded, so the checks can hold
 * the remote's history against what each client was told:
 *   - acked: 201 — the push must be on the remote exactly once (its operation trailer);
 *   - failed: a definite 4xx — it must not be on the remote (after one, the agent drops that
 *     workspace: its local commit would otherwise ride along with the next push);
 *   - unknown: the retry budget ran out — no claim either way.
 */
import { performance } from 'node:perf_hooks';
import type { ChaosAgent } from './stack.js';

export type PushOutcome = 'acked' | 'failed' | 'unknown';

export interface PushRecord {
  agent: string;
  key: string;
  workspaceId: string;
  branch: string;
  /** the `Sgc-Operation` trailer value the push lands with (the operation's workflow id) */
  operationId: string;
  /** the file the push carries and its content: an acknowledged push leaves it on the branch as written */
  file: string;
  content: string;
  outcome?: PushOutcome;
  status?: number;
  error?: string;
  commit?: string;
  /** ms on the workload's clock (performance.now()) */
  startedAt: number;
  endedAt?: number;
  tries: number;
}

export interface ResponseRecord {
  at: number;
  api: string;
  method: string;
  path: string;
  /** 0: no HTTP answer (connection refused / reset / timeout) */
  status: number;
  retryAfter: string | null;
  /** the attempt's duration, ms */
  ms: number;
  /** the transport error when there was no HTTP answer */
  error?: string;
  /** what an error answer said (`error`, `reason`, `message` of its body): why a 5xx was a 5xx */
  answer?: string;
}

export interface WorkloadOptions {
  apiUrls: string[];
  agents: ChaosAgent[];
  branches: string[];
  repoUrl: string;
  /** give up on one request (outcome unknown) after this long (default 120 s) */
  retryBudgetMs?: number;
  /** one attempt's timeout (default 60 s) */
  attemptTimeoutMs?: number;
  /** cap on honouring Retry-After (default 2 s: the suite measures recovery, not politeness) */
  maxRetryAfterMs?: number;
  /** pause between an agent's pushes (default 200 ms) */
  pauseMs?: number;
}

export interface Workload {
  pushes: PushRecord[];
  responses: ResponseRecord[];
  /** stops the loops after the requests in flight are answered (or their budgets run out) */
  stop(): Promise<void>;
  /** resolves once `n` pushes have been acknowledged since the call */
  acked(n: number, timeoutMs?: number): Promise<void>;
  now(): number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

class GaveUp extends Error {}

export function startWorkload(o: WorkloadOptions): Workload {
  const pushes: PushRecord[] = [];
  const responses: ResponseRecord[] = [];
  const budget = o.retryBudgetMs ?? 120_000;
  const attemptTimeout = o.attemptTimeoutMs ?? 60_000;
  const maxRetryAfter = o.maxRetryAfterMs ?? 2_000;
  let stopping = false;
  let ackCount = 0;
  const ackWaiters: { target: number; resolve: () => void }[] = [];
  const run = `${Date.now().toString(36)}`;

  /** one logical request, retried under the same key until a definite answer or the budget */
  async function send(
    agentIndex: number,
    token: string,
    method: string,
    path: string,
    body: unknown,
    key?: string,
  ): Promise<{ status: number; body: Record<string, unknown>; tries: number }> {
    const t0 = performance.now();
    let apiIndex = agentIndex % o.apiUrls.length;
    for (let tries = 1; ; tries++) {
      const api = o.apiUrls[apiIndex];
      const sent = performance.now();
      let status = 0;
      let retryAfter: string | null = null;
      let parsed: Record<string, unknown> = {};
      let err: string | undefined;
      try {
        const res = await fetch(`${api}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
            ...(key ? { 'idempotency-key': key } : {}),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(attemptTimeout),
        });
        status = res.status;
        retryAfter = res.headers.get('retry-after');
        const text = await res.text();
        try {
          parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
        } catch {
          parsed = { raw: text.slice(0, 200) };
        }
      } catch (e) {
        err = (e as Error).message;
      }
      const answer =
        status >= 400 ? [parsed.error, parsed.reason, parsed.message].filter((x) => x !== undefined).join(' / ') : '';
      const at = performance.now();
      responses.push({ at, api, method, path, status, retryAfter, ms: Math.round(at - sent), error: err, answer });
      const busy = status === 409 && parsed.error === 'busy';
      const retry = status === 0 || status === 502 || status === 503 || status === 504 || busy || status === 429;
      if (!retry) return { status, body: parsed, tries };
      if (performance.now() - t0 > budget) throw new GaveUp(`${method} ${path}: no answer within ${budget} ms`);
      // no answer at all: that process is gone; the next request goes to another API
      if (status === 0) apiIndex = (apiIndex + 1) % o.apiUrls.length;
      const after = Number(retryAfter ?? '1') * 1000;
      await sleep(Math.min(Number.isFinite(after) ? after : 1000, maxRetryAfter) * (0.5 + Math.random() / 2));
    }
  }

  /** releases a workspace (its pooled sandbox goes back): best effort, the pool reaps the rest */
  async function release(i: number, agent: ChaosAgent, wsId: string): Promise<void> {
    await send(i, agent.token, 'DELETE', `/v1/workspaces/${wsId}`, undefined).catch(() => undefined);
  }

  async function agentLoop(agent: ChaosAgent, i: number): Promise<void> {
    const branch = o.branches[i % o.branches.length];
    let wsId: string | null = null;
    let wsSeq = 0;
    let n = 0;
    while (!stopping) {
      try {
        if (wsId === null) {
          wsSeq++;
          const r = await send(
            i,
            agent.token,
            'POST',
            '/v1/workspaces',
            { repoUrl: o.repoUrl, taskId: `chaos-${run}-${wsSeq}`, baseBranch: 'main' },
            `ws-${run}-${agent.id}-${wsSeq}`,
          );
          if (r.status !== 201) throw new Error(`create: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`);
          wsId = String(r.body.id);
        }
        n++;
        // a change of this run only: the faults share one stack (bench chaos, the suite's files), and
        // the same file with the same content as a run before is already on the branch — its commit
        // is dropped by the rebase as already upstream (acknowledged with the branch tip, no trailer)
        const file = `notes/${agent.id}/${run}-${n}.txt`;
        const content = `${agent.id} run ${run} push ${n}\n`;
        const w = await send(i, agent.token, 'PUT', `/v1/workspaces/${wsId}/files/${file}`, { content });
        if (w.status !== 200) throw new Error(`write: HTTP ${w.status} ${JSON.stringify(w.body).slice(0, 200)}`);
        const key = `push-${run}-${agent.id}-${n}`;
        const rec: PushRecord = {
          agent: agent.id,
          key,
          workspaceId: wsId,
          branch,
          operationId: `gitop-${wsId}-commitPush-${key}`,
          file,
          content,
          startedAt: performance.now(),
          tries: 0,
        };
        pushes.push(rec);
        try {
          const p = await send(
            i,
            agent.token,
            'POST',
            `/v1/workspaces/${wsId}/commits`,
            { message: `chaos: ${agent.id} push ${n}`, branch },
            key,
          );
          rec.status = p.status;
          rec.tries = p.tries;
          if (p.status === 201) {
            rec.outcome = 'acked';
            rec.commit = String(p.body.commit);
            ackCount++;
            for (const w of ackWaiters.filter((x) => ackCount >= x.target)) w.resolve();
          } else {
            rec.outcome = 'failed';
            rec.error = `${String(p.body.error)}: ${String(p.body.message).slice(0, 200)}`;
            // its local commit must not ride along with a later push: a new workspace
            await release(i, agent, rec.workspaceId);
            wsId = null;
          }
        } catch (e) {
          rec.outcome = 'unknown';
          rec.error = (e as Error).message;
          await release(i, agent, rec.workspaceId);
          wsId = null;
        } finally {
          rec.endedAt = performance.now();
        }
        await sleep(o.pauseMs ?? 200);
      } catch (e) {
        // create or write did not get through: start over with a new workspace
        if (!(e instanceof GaveUp)) await sleep(500);
        if (wsId !== null) await release(i, agent, wsId);
        wsId = null;
      }
    }
    // the next run starts with fresh workspaces: this one's sandbox goes back to the pool
    if (wsId !== null) await release(i, agent, wsId);
  }

  const loops = o.agents.map((a, i) => agentLoop(a, i));
  return {
    pushes,
    responses,
    now: () => performance.now(),
    stop: async () => {
      stopping = true;
      await Promise.all(loops);
    },
    acked: (n, timeoutMs = 120_000) =>
      new Promise<void>((resolve, reject) => {
        const target = ackCount + n;
        const t = setTimeout(
          () => reject(new Error(`not ${n} pushes acknowledged within ${timeoutMs} ms (${ackCount} in all)`)),
          timeoutMs,
        );
        ackWaiters.push({
          target,
          resolve: () => {
            clearTimeout(t);
            resolve();
          },
        });
      }),
  };
}
