/**
 * The E2B error table (lib/sandbox/errors.ts) for the SDK errors the stand-in cannot provoke on
 * demand; the integration tests (sandbox-e2b.test.ts) produce the rest through the real SDK.
 */
import { describe, expect, test } from '@jest/globals';
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
import { classifyE2bError, type E2bOperation } from '../../lib/sandbox/errors.js';
import { ErrorType } from '../../lib/errors.js';

function withStatus(message: string, statusCode: number): SandboxError {
  const e = new SandboxError(message);
  e.statusCode = statusCode;
  return e;
}

describe('classifyE2bError', () => {
  const cases: [string, unknown, E2bOperation, string, Record<string, unknown>?][] = [
    ['API 401', new AuthenticationError('Unauthorized'), 'create', ErrorType.Auth],
    ['API 403', withStatus('403: forbidden', 403), 'list', ErrorType.Forbidden],
    ['429', new RateLimitError('Rate limit exceeded'), 'create', ErrorType.RateLimit],
    ['503', new ServiceBusyError('Service temporarily unavailable'), 'create', ErrorType.Unavailable],
    [
      '409 while the sandbox changes state',
      withStatus('409: sandbox is being killed', 409),
      'connect',
      ErrorType.Unavailable,
    ],
    ['500 from the API', withStatus('500: internal', 500), 'list', ErrorType.Unavailable],
    [
      '404 on create: the template',
      withStatus("404: template 'x' not found", 404),
      'create',
      ErrorType.Validation,
      { field: 'sandbox.template' },
    ],
    ['404 on connect', new SandboxNotFoundError('Paused sandbox x not found'), 'connect', ErrorType.SandboxGone],
    ['404 from the API on setTimeout', withStatus('404: sandbox not found', 404), 'timeout', ErrorType.SandboxGone],
    [
      'envd RPC not_found (process exited)',
      new NotFoundError('[not_found] process with pid 42 not found'),
      'command',
      ErrorType.NotFound,
    ],
    ['file not found', new FileNotFoundError('path not found'), 'file', ErrorType.NotFound],
    [
      '400 from the API',
      withStatus('400: Timeout cannot be greater than 1 hours', 400),
      'create',
      ErrorType.Validation,
    ],
    [
      'envd invalid_argument',
      new InvalidArgumentError("[invalid_argument] cwd '/x' does not exist"),
      'command',
      ErrorType.Validation,
    ],
    [
      '[unavailable]: sandbox gone',
      new TimeoutError('[unavailable] connection refused: This error is likely due to sandbox timeout'),
      'command',
      ErrorType.SandboxGone,
    ],
    [
      'envd 502 through the proxy',
      new TimeoutError('The sandbox was not found: This error is likely due to sandbox timeout.'),
      'file',
      ErrorType.SandboxGone,
    ],
    [
      'killed in flight (health check false)',
      new TimeoutError(
        '[unknown] terminated: The sandbox was killed or reached its end of life while the request was in flight.',
      ),
      'command',
      ErrorType.SandboxGone,
    ],
    [
      'command deadline',
      new TimeoutError("[deadline_exceeded] the operation timed out: exceeding 'timeoutMs'"),
      'command',
      ErrorType.Timeout,
      { kind: 'command' },
    ],
    [
      'request timeout (canceled)',
      new TimeoutError("[canceled] This error is likely due to exceeding 'requestTimeoutMs'"),
      'command',
      ErrorType.Timeout,
      { kind: 'request' },
    ],
    [
      'AbortSignal.timeout',
      new DOMException('The operation was aborted due to timeout', 'TimeoutError'),
      'create',
      ErrorType.Timeout,
      { kind: 'request' },
    ],
    [
      'dropped mid-stream, sandbox alive',
      new SandboxError('2: [unknown] terminated'),
      'command',
      ErrorType.Network,
      { inFlight: true },
    ],
    ['fetch failed inside RPC', new SandboxError('2: [unknown] fetch failed'), 'command', ErrorType.Network],
    [
      'fetch failed',
      Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }),
      'list',
      ErrorType.Network,
      { code: 'ECONNREFUSED' },
    ],
    [
      'disk full',
      new NotEnoughSpaceError('no space left on device'),
      'file',
      ErrorType.Internal,
      { reason: 'disk_full' },
    ],
    ['anything else', new Error('surprise'), 'command', ErrorType.Internal],
  ];

  // fixed-length rows: jest hands a `done` callback to a function with more parameters than a row has values
  test.each(cases.map(([n, err, op, type, details]) => [n, err, op, type, details ?? {}] as const))(
    '%s',
    (_name, err, op, type, details) => {
      const d = classifyE2bError(err, [], op);
      expect(d.type).toBe(type);
      expect(d.details).toMatchObject(details);
      expect(d.details.op).toBe(op);
    },
  );

  test('the API key and URL userinfo never reach the message', () => {
    const key = 'e2b_0123456789abcdef';
    const d = classifyE2bError(
      new AuthenticationError(`bad key ${key} for https://user:pw@api.example/v2`),
      [key],
      'create',
    );
    expect(d.message).not.toContain(key);
    expect(d.message).not.toContain('user:pw');
    expect(d.message).toContain('[redacted]');
  });

  test('a DomainError passes through unchanged', () => {
    const d = classifyE2bError(new SandboxError('x'), [], 'command');
    expect(classifyE2bError(d)).toBe(d);
  });
});
