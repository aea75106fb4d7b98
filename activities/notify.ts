import type { NotifyConfig } from '../lib/config/notify.js';
import type { Logger } from '../lib/log.js';
import type { Metrics } from '../lib/metrics.js';
import { NOTIFY_KINDS, type NotifyEvent, type NotifyLinks } from '../lib/notify/events.js';
import { deliver, receiversFor, receiversOf, type DeliveryResult } from '../lib/notify/send.js';

export interface NotifyResult {
  /** receivers that took the event */
  sent: string[];
  /** receivers that did not, with the reason (never a URL) */
  failed: { receiver: string; error: string }[];
}

/**
 * The `notify` activity: sends a phase's event to every receiver of `notify.webhooks` that asked
 * for its kind, each with its own bounded retries (lib/notify/send.ts), and counts each outcome in
 * `gitops_notifications_total{kind, outcome}`. A receiver that fails is logged and counted, never
 * thrown: the workflow's call (workflows/notify.ts) must not fail a phase. The URLs live here,
 * resolved from the worker's config; the event names no receiver, so none reaches history.
 */
export function createNotifyActivities(deps: {
  notify: NotifyConfig;
  metrics: Pick<Metrics, 'notifications'>;
  log: Logger;
  links?: NotifyLinks;
  fetch?: typeof fetch;
}) {
  const receivers = receiversOf(deps.notify);
  // present from the start, so "0 failed" is data rather than a missing series
  for (const kind of NOTIFY_KINDS)
    if (receiversFor(receivers, kind).length > 0)
      for (const outcome of ['sent', 'failed']) deps.metrics.notifications.labels(kind, outcome).inc(0);
  return {
    async notify(event: NotifyEvent): Promise<NotifyResult> {
      const to = receiversFor(receivers, event.kind);
      if (to.length === 0) return { sent: [], failed: [] };
      const results: DeliveryResult[] = await deliver(event, to, {
        timeoutMs: deps.notify.timeoutMs,
        attempts: deps.notify.attempts,
        backoffMs: deps.notify.backoffMs,
        links: deps.links,
        fetch: deps.fetch,
      });
      const out: NotifyResult = { sent: [], failed: [] };
      for (const r of results) {
        deps.metrics.notifications.labels(event.kind, r.outcome).inc();
        if (r.outcome === 'sent') {
          out.sent.push(r.receiver);
          deps.log.info(
            { kind: event.kind, eventId: event.id, receiver: r.receiver, attempts: r.attempts },
            'notification sent',
          );
        } else {
          out.failed.push({ receiver: r.receiver, error: r.error ?? 'failed' });
          deps.log.warn(
            { kind: event.kind, eventId: event.id, receiver: r.receiver, attempts: r.attempts, error: r.error },
            'notification failed',
          );
        }
      }
      return out;
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
