import { z } from 'zod';
import { NOTIFY_KINDS } from '../notify/events.js';

/**
 * The bound a workflow waits for one notification (workflows/notify.ts: the activity's
 * startToCloseTimeout is a little above it). A receiver's attempts, their timeouts and the
 * backoff between them must fit in it, so a dead receiver delays a phase by this much at most.
 */
export const NOTIFY_BUDGET_MS = 20_000;

/** An environment variable name (where a secret URL lives). */
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/**
 * One webhook receiver. Its URL is a secret when it is Slack's (the path is the credential): write
 * it in the file only for receivers without one, and name an environment variable in `urlEnv`
 * otherwise. Logs, metrics and workflow history name the receiver by `name`, never by URL.
 */
export const webhookSchema = z
  .object({
    /** how logs and the activity's result name this receiver (default `webhook-<index>`) */
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-" (at most 64)')
      .optional(),
    /** the receiver's URL (http or https) */
    url: z
      .string()
      .url()
      .refine((u) => /^https?:\/\//i.test(u), { message: 'must be an http or https URL' })
      .optional(),
    /** the environment variable holding the URL (loadConfig fills `url` from it) */
    urlEnv: envName.optional(),
    /** `json`: the event as JSON; `slack`: a Slack-compatible `text` + blocks message */
    format: z.enum(['json', 'slack']).default('json'),
    /** the event kinds sent to it (default: all) */
    events: z
      .array(z.enum(NOTIFY_KINDS))
      .min(1)
      .default([...NOTIFY_KINDS]),
  })
  .refine((w) => w.url !== undefined || w.urlEnv !== undefined, { message: 'needs url or urlEnv', path: ['url'] });
export type WebhookConfig = z.infer<typeof webhookSchema>;

/** `notify:` in temporal.yaml (README "Notifications"). */
export const notifyConfigSchema = z
  .object({
    webhooks: z.array(webhookSchema).max(20).default([]),
    /** one POST may take this long */
    timeoutMs: z.number().int().min(100).default(3_000),
    /** POSTs per receiver and event before it counts as failed */
    attempts: z.number().int().min(1).max(10).default(3),
    /** the wait before the second attempt, doubled before each later one */
    backoffMs: z.number().int().min(0).default(250),
  })
  .prefault({})
  .superRefine((n, ctx) => {
    if (worstCaseMs(n) > NOTIFY_BUDGET_MS)
      ctx.addIssue({
        code: 'custom',
        path: ['attempts'],
        message: `attempts × timeoutMs plus the backoffs (${worstCaseMs(n)} ms) must fit the ${NOTIFY_BUDGET_MS} ms a phase waits for a notification`,
      });
    n.webhooks.forEach((w, i) => {
      const dup = n.webhooks.findIndex((o) => o.name !== undefined && o.name === w.name);
      if (dup !== i && dup >= 0)
        ctx.addIssue({ code: 'custom', path: ['webhooks', i, 'name'], message: 'is not unique' });
    });
  });
export type NotifyConfig = z.infer<typeof notifyConfigSchema>;

/** The longest one receiver can take: every attempt timing out, plus the backoffs between them. */
export function worstCaseMs(n: Pick<NotifyConfig, 'timeoutMs' | 'attempts' | 'backoffMs'>): number {
  let backoff = 0;
  for (let i = 1; i < n.attempts; i++) backoff += n.backoffMs * 2 ** (i - 1);
  return n.attempts * n.timeoutMs + backoff;
}
