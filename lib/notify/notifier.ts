/**
 * A process's notifier: sends an event to the receivers of its kind (lib/notify/send.ts), counts
 * each receiver's outcome in `gitops_notifications_total{kind, outcome}` and logs it by receiver
 * name. Never throws for a receiver's failure. The phases worker runs it as the `notify` activity
 * (activities/notify.ts); the API sends the operator's kill switch through it.
 */
import type { NotifyConfig } from '../config/notify.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import { NOTIFY_KINDS, type NotifyEvent, type NotifyLinks } from './events.js';
import { deliver, receiversFor, receiversOf } from './send.js';

export interface NotifyResult {
  /** receivers that took the event */
  sent: string[];
  /** receivers that did not, with the reason (never a URL) */
  failed: { receiver: string; error: string }[];
}

export type Notifier = (event: NotifyEvent) => Promise<NotifyResult>;

export function createNotifier(deps: {
  notify: NotifyConfig;
  metrics: Pick<Metrics, 'notifications'>;
  log: Logger;
  links?: NotifyLinks;
  fetch?: typeof fetch;
}): Notifier {
  const receivers = receiversOf(deps.notify);
  // present from the start, so "0 failed" is data rather than a missing series
  for (const kind of NOTIFY_KINDS)
    if (receiversFor(receivers, kind).length > 0)
      for (const outcome of ['sent', 'failed']) deps.metrics.notifications.labels(kind, outcome).inc(0);
  return async (event) => {
    const out: NotifyResult = { sent: [], failed: [] };
    const to = receiversFor(receivers, event.kind);
    if (to.length === 0) return out;
    const results = await deliver(event, to, {
      timeoutMs: deps.notify.timeoutMs,
      attempts: deps.notify.attempts,
      backoffMs: deps.notify.backoffMs,
      links: deps.links,
      fetch: deps.fetch,
    });
    for (const r of results) {
      deps.metrics.notifications.labels(event.kind, r.outcome).inc();
      const fields = { kind: event.kind, eventId: event.id, receiver: r.receiver, attempts: r.attempts };
      if (r.outcome === 'sent') {
        out.sent.push(r.receiver);
        deps.log.info(fields, 'notification sent');
      } else {
        out.failed.push({ receiver: r.receiver, error: r.error ?? 'failed' });
        deps.log.warn({ ...fields, error: r.error }, 'notification failed');
      }
    }
    return out;
  };
}
