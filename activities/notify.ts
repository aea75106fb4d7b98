import { createNotifier, type NotifyResult } from '../lib/notify/notifier.js';
import type { NotifyEvent } from '../lib/notify/events.js';

export type { NotifyResult };

/**
 * The `notify` activity: sends a phase's event to every receiver of `notify.webhooks` that asked
 * for its kind, each with its own bounded retries, and counts each outcome in
 * `gitops_notifications_total{kind, outcome}` (lib/notify/notifier.ts). A receiver that fails is
 * logged and counted, never thrown: the workflow's call (workflows/notify.ts) must not fail a
 * phase. The URLs live here, resolved from the worker's config; the event names no receiver, so
 * none reaches history.
 */
export function createNotifyActivities(deps: Parameters<typeof createNotifier>[0]) {
  const send = createNotifier(deps);
  return {
    async notify(event: NotifyEvent): Promise<NotifyResult> {
      return send(event);
    },
  };
}

export type NotifyActivities = ReturnType<typeof createNotifyActivities>;
