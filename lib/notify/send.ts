/**
 * Delivery of one event to the receivers that asked for its kind: a POST each, in parallel, with
 * bounded retries (lib/config/notify.ts bounds attempts × timeout + backoff). Never throws for a
 * receiver's failure: the result says, per receiver, sent or failed and why. A receiver is named
 * by its `name` everywhere; its URL (a secret for Slack) never appears in a result or an error.
 */
import type { NotifyConfig } from '../config/notify.js';
import { formatPayload, type NotifyEvent, type NotifyFormat, type NotifyKind, type NotifyLinks } from './events.js';

export interface Receiver {
  /** `name`, or `webhook-<index>` */
  name: string;
  url: string | undefined;
  /** where the URL should have come from, for the "no URL" reason */
  urlEnv: string | undefined;
  format: NotifyFormat;
  events: readonly NotifyKind[];
}

export interface DeliveryResult {
  receiver: string;
  outcome: 'sent' | 'failed';
  attempts: number;
  /** the receiver's last HTTP status, when it answered */
  status?: number;
  /** why it failed: an HTTP status, a network error code, a timeout (never the URL) */
  error?: string;
}

/** The configured receivers, named. */
export function receiversOf(cfg: Pick<NotifyConfig, 'webhooks'>): Receiver[] {
  return cfg.webhooks.map((w, i) => ({
    name: w.name ?? `webhook-${i}`,
    url: w.url,
    urlEnv: w.urlEnv,
    format: w.format,
    events: w.events,
  }));
}

/** The receivers that asked for `kind`. */
export function receiversFor(receivers: Receiver[], kind: NotifyKind): Receiver[] {
  return receivers.filter((r) => r.events.includes(kind));
}

export interface DeliverOptions {
  timeoutMs: number;
  attempts: number;
  backoffMs: number;
  links?: NotifyLinks;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
}

const sleepMs = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Replaces the URL, and its path alone (Slack's secret part), wherever a message repeats it. */
export function redactUrl(text: string, url: string | undefined, name: string): string {
  if (!url) return text;
  let out = text.split(url).join(`<${name}>`);
  try {
    const path = new URL(url).pathname;
    if (path.length > 1) out = out.split(path).join('/[redacted]');
  } catch {
    // not a URL: only the whole string is replaced
  }
  return out;
}

/** A short, URL-free reason for a failed POST. */
function reasonOf(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timeout';
  if (e?.cause?.code) return e.cause.code;
  return e?.name ?? 'error';
}

/** 408 and 429 are worth another try, as are 5xx; any other 4xx is the request's fault and final. */
const retryable = (status: number): boolean => status === 408 || status === 429 || status >= 500;

async function deliverOne(
  event: NotifyEvent,
  r: Receiver,
  o: DeliverOptions,
  doFetch: typeof fetch,
  sleep: (ms: number) => Promise<void>,
): Promise<DeliveryResult> {
  if (!r.url)
    return {
      receiver: r.name,
      outcome: 'failed',
      attempts: 0,
      error: r.urlEnv ? `no URL: ${r.urlEnv} is not set` : 'no URL',
    };
  const body = JSON.stringify(formatPayload(event, r.format, o.links));
  let last: DeliveryResult = { receiver: r.name, outcome: 'failed', attempts: 0 };
  for (let attempt = 1; attempt <= o.attempts; attempt++) {
    if (attempt > 1) await sleep(o.backoffMs * 2 ** (attempt - 2));
    try {
      const res = await doFetch(r.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'sandbox-git-control',
          // a retried delivery (here or by Temporal) carries the same key: receivers may dedupe
          'idempotency-key': event.id,
          'x-sgc-event': event.kind,
        },
        body,
        signal: AbortSignal.timeout(o.timeoutMs),
        redirect: 'error',
      });
      // drain the body so the connection is released
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return { receiver: r.name, outcome: 'sent', attempts: attempt, status: res.status };
      last = {
        receiver: r.name,
        outcome: 'failed',
        attempts: attempt,
        status: res.status,
        error: `HTTP ${res.status}`,
      };
      if (!retryable(res.status)) return last;
    } catch (err) {
      last = { receiver: r.name, outcome: 'failed', attempts: attempt, error: redactUrl(reasonOf(err), r.url, r.name) };
    }
  }
  return last;
}

/** Sends `event` to each receiver (in parallel), each with its own bounded retries. */
export async function deliver(event: NotifyEvent, receivers: Receiver[], o: DeliverOptions): Promise<DeliveryResult[]> {
  const doFetch = o.fetch ?? fetch;
  const sleep = o.sleep ?? sleepMs;
  return Promise.all(receivers.map((r) => deliverOne(event, r, o, doFetch, sleep)));
}
