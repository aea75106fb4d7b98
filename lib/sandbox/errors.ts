/**
 * E2B SDK errors translated once into DomainErrors with the metrics' categories
 * (FACTS.md, E2B section). Messages are scrubbed of the API key and of URL userinfo.
 */
import {
  AuthenticationError, FileNotFoundError, InvalidArgumentError, NotFoundError, RateLimitError,
  SandboxError, SandboxNotFoundError, ServiceBusyError, TimeoutError,
} from '@e2b/code-interpreter';
import { DomainError, ErrorType } from '../errors.js';

function scrub(msg: string, secrets: readonly (string | undefined)[]): string {
  let out = msg;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1').slice(0, 500);
}

/**
 * @param e anything the SDK threw
 * @param secrets values to keep out of the message (the API key)
 */
export function classifyE2bError(e: unknown, secrets: readonly (string | undefined)[] = []): DomainError {
  if (e instanceof DomainError) return e;
  const raw = e instanceof Error ? e.message : String(e);
  const msg = `e2b: ${scrub(raw, secrets)}`;
  const statusCode = (e as { statusCode?: unknown } | null)?.statusCode;
  const details: Record<string, unknown> = { source: 'e2b', errorName: e instanceof Error ? e.name : typeof e };
  if (typeof statusCode === 'number') details.statusCode = statusCode;
  // the cause keeps the stack but not the raw message: it may quote a request with the key
  const opts = { details };

  if (e instanceof AuthenticationError) return new DomainError(ErrorType.Auth, msg, opts);
  if (e instanceof RateLimitError) return new DomainError(ErrorType.RateLimit, msg, opts);
  // 503: nothing changed on E2B's side, retrying after a short wait is safe
  if (e instanceof ServiceBusyError) return new DomainError(ErrorType.Network, msg, { ...opts, retryable: true });
  // instanceof first: the SDK's own request timeout is a DOMException that is also named TimeoutError
  if (e instanceof TimeoutError) return new DomainError(ErrorType.Timeout, msg, { details: { ...details, kind: 'sandbox' } });
  if (e instanceof Error && e.name === 'TimeoutError') return new DomainError(ErrorType.Timeout, msg, { details: { ...details, kind: 'request' } });
  if (e instanceof FileNotFoundError) return new DomainError(ErrorType.NotFound, msg, opts);
  if (e instanceof SandboxNotFoundError) return new DomainError(ErrorType.SandboxGone, msg, opts);
  if (e instanceof InvalidArgumentError) return new DomainError(ErrorType.Validation, msg, opts);
  if (e instanceof TypeError && /fetch failed/i.test(raw)) {
    const code = (e as { cause?: { code?: unknown } }).cause?.code;
    return new DomainError(ErrorType.Network, msg, { details: { ...details, code: typeof code === 'string' ? code : undefined } });
  }
  if (e instanceof SandboxError || e instanceof NotFoundError) {
    if (/fetch failed|ECONNRESET|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up|network/i.test(raw)) {
      return new DomainError(ErrorType.Network, msg, opts);
    }
    if (e instanceof NotFoundError || statusCode === 404 || /\b404\b|not found/i.test(raw)) {
      return new DomainError(ErrorType.SandboxGone, msg, opts);
    }
    if (typeof statusCode === 'number' && statusCode >= 500) return new DomainError(ErrorType.Network, msg, opts);
    if (/^5\d\d:/.test(raw)) return new DomainError(ErrorType.Network, msg, opts);
  }
  if (e instanceof Error && e.name === 'AbortError') return new DomainError(ErrorType.Timeout, msg, { details: { ...details, kind: 'aborted' } });
  return new DomainError(ErrorType.Internal, msg, opts);
}
