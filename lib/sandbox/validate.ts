/** Input checks shared by the providers: the same bad input gets the same error from both. */
import { DomainError, ErrorType } from '../errors.js';

export function validation(field: string, message: string): DomainError {
  return new DomainError(ErrorType.Validation, `${field}: ${message}`, { details: { field } });
}

/** A timeout in ms: finite and > 0 (0 and negatives mean "no timeout" to E2B's SDK and envd). */
export function validTimeout(ms: unknown, field: string): number {
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms <= 0)
    throw validation(field, 'must be a positive number of milliseconds');
  return ms;
}

/** Environment variables: POSIX names, string values without NUL. */
export function validEnvs(envs: Record<string, string> | undefined, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(envs ?? {})) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw validation(field, `bad variable name ${JSON.stringify(k.slice(0, 40))}`);
    if (typeof v !== 'string' || v.includes('\0')) throw validation(field, `${k} must be a string without NUL`);
    out[k] = v;
  }
  return out;
}
