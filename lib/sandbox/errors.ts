/**
 * E2B SDK errors translated once into DomainErrors with the metrics' categories. The SDK's own
 * classes are coarse — its `TimeoutError` means "sandbox gone", "command deadline" or "request
 * timeout" depending on where it came from, and its `NotFoundError` means "sandbox gone" or
 * "process/file not found" — so the translation looks at the operation and at the connect-rpc
 * code the SDK keeps in the message (`[unavailable]`, `[deadline_exceeded]`…). The table
 * (README, "E2B errors"):
 *
 * | SDK error                                                   | DomainError                         |
 * |-------------------------------------------------------------|-------------------------------------|
 * | AuthenticationError (API 401, envd unauthenticated)         | Auth                                |
 * | HTTP 403                                                    | Forbidden                           |
 * | RateLimitError (429, envd resource_exhausted)               | RateLimit (retryable)               |
 * | ServiceBusyError (503), 409 (state changing), other 5xx     | Unavailable (retryable)             |
 * | 404 on create (template missing)                            | Validation, field sandbox.template  |
 * | 404 / SandboxNotFoundError on a sandbox                     | SandboxGone                         |
 * | envd not_found on a command (process gone)                  | NotFound                            |
 * | FileNotFoundError                                           | NotFound                            |
 * | InvalidArgumentError, HTTP 400                              | Validation                          |
 * | TimeoutError `[unavailable]`, envd 502, killed in flight     | SandboxGone                         |
 * | TimeoutError `[deadline_exceeded]` (command deadline)       | Timeout (kind command)              |
 * | TimeoutError `[canceled]`, DOMException TimeoutError, abort | Timeout (kind request)              |
 * | `[unknown] terminated` (connection dropped, sandbox alive)  | Network, details.inFlight           |
 * | fetch failed / ECONNRESET / ECONNREFUSED…                   | Network                             |
 * | NotEnoughSpaceError (507)                                   | Internal, details.reason disk_full  |
 * | anything else                                               | Internal                            |
 *
 * Messages are scrubbed of the given secrets (the API key) and of URL userinfo, and cut to 500
 * characters; the raw SDK error is not kept as `cause` (its message may quote a request).
 */
import {
  AuthenticationError,
  FileNotFoundError,
  InvalidArgumentError,
  NotEnoughSpaceError,
  NotFoundError,
  RateLimitError,
  SandboxError,
  SandboxNotFoundError,
  ServiceBusyError,
  TimeoutError,
} from '@e2b/code-interpreter';
import { DomainError, ErrorType, type ErrorTypeName } from '../errors.js';

/** What the failing call was doing: the same SDK error means different things in different places. */
export type E2bOperation = 'create' | 'connect' | 'list' | 'kill' | 'timeout' | 'info' | 'command' | 'file';

function scrub(msg: string, secrets: readonly (string | undefined)[]): string {
  let out = msg;
  for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
  return out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1').slice(0, 500);
}

const NETWORK_RE =
  /fetch failed|ECONNRESET|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|socket hang up|other side closed|network error|Network connection lost/i;
/** The SDK's "connection dropped mid-request" messages (its CONNECTION_TERMINATED_MESSAGES). */
const TERMINATED_RE = /terminated|socket connection was closed unexpectedly|error reading a body from connection/i;

/**
 * @param e anything the SDK threw
 * @param secrets values to keep out of the message (the API key)
 * @param op the operation that failed (default: an operation on a live sandbox)
 */
export function classifyE2bError(
  e: unknown,
  secrets: readonly (string | undefined)[] = [],
  op: E2bOperation = 'command',
): DomainError {
  if (e instanceof DomainError) return e;
  // duck-typed: fetch's TypeError and AbortSignal's DOMException may come from another realm
  const errLike =
    typeof e === 'object' && e !== null && typeof (e as Error).message === 'string' ? (e as Error) : undefined;
  const name = typeof errLike?.name === 'string' ? errLike.name : typeof e;
  const raw = errLike ? errLike.message : String(e);
  const msg = `e2b ${op}: ${scrub(raw, secrets)}`;
  const statusCode = (e as { statusCode?: unknown } | null)?.statusCode;
  const details: Record<string, unknown> = { source: 'e2b', op, errorName: name };
  if (typeof statusCode === 'number') details.statusCode = statusCode;
  const make = (type: ErrorTypeName, extra: Record<string, unknown> = {}, retryable?: boolean): DomainError =>
    new DomainError(type, msg, {
      details: { ...details, ...extra },
      ...(retryable === undefined ? {} : { retryable }),
    });

  if (e instanceof AuthenticationError) return make(ErrorType.Auth);
  if (statusCode === 403) return make(ErrorType.Forbidden);
  if (e instanceof RateLimitError) return make(ErrorType.RateLimit);
  // 503: nothing changed on E2B's side, retrying after a short wait is safe
  if (e instanceof ServiceBusyError) return make(ErrorType.Unavailable);

  // instanceof first: the SDK's own request timeout is a DOMException that is also named TimeoutError
  if (e instanceof TimeoutError) {
    if (/^\[deadline_exceeded\]/.test(raw)) return make(ErrorType.Timeout, { kind: 'command' });
    if (/^\[canceled\]/.test(raw)) return make(ErrorType.Timeout, { kind: 'request' });
    // [unavailable], envd's 502 ("likely due to sandbox timeout"), or a drop the SDK's health
    // check blamed on the sandbox ending: the sandbox is gone, retrying against it cannot help
    return make(ErrorType.SandboxGone);
  }
  if (errLike && (name === 'TimeoutError' || name === 'AbortError'))
    return make(ErrorType.Timeout, { kind: 'request' });

  if (e instanceof FileNotFoundError) return make(ErrorType.NotFound);
  if (e instanceof SandboxNotFoundError) return make(ErrorType.SandboxGone);
  if (e instanceof NotEnoughSpaceError) return make(ErrorType.Internal, { reason: 'disk_full' });
  if (e instanceof InvalidArgumentError || statusCode === 400) {
    return make(ErrorType.Validation, op === 'create' ? { field: 'sandbox' } : {});
  }
  if (e instanceof NotFoundError || statusCode === 404) {
    // create: the template does not exist (a configuration error, not a vanished sandbox)
    if (op === 'create') return make(ErrorType.Validation, { field: 'sandbox.template' });
    // from envd over RPC (a process or path that is not there): the sandbox itself answered
    if (e instanceof NotFoundError && statusCode === undefined && (op === 'command' || op === 'file'))
      return make(ErrorType.NotFound);
    return make(ErrorType.SandboxGone);
  }
  if (statusCode === 409) return make(ErrorType.Unavailable, { reason: 'state_changing' });

  if (name === 'TypeError' && /fetch failed/i.test(raw)) {
    const code = (e as { cause?: { code?: unknown } }).cause?.code;
    return make(ErrorType.Network, { code: typeof code === 'string' ? code : undefined });
  }
  if (e instanceof SandboxError) {
    if (/\[unknown\]/.test(raw) && TERMINATED_RE.test(raw) && !NETWORK_RE.test(raw)) {
      // the connection dropped while the sandbox stayed up: a command may still be running
      return make(ErrorType.Network, { inFlight: true });
    }
    if (NETWORK_RE.test(raw) || TERMINATED_RE.test(raw)) return make(ErrorType.Network);
    if (/\[unavailable\]/.test(raw)) return make(ErrorType.SandboxGone);
    if (typeof statusCode === 'number' && statusCode >= 500) return make(ErrorType.Unavailable);
    if (/^5\d\d:/.test(raw)) return make(ErrorType.Unavailable);
  }
  if (errLike && NETWORK_RE.test(raw)) return make(ErrorType.Network);
  return make(ErrorType.Internal);
}
