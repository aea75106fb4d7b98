/**
 * How credentials reach git. The token travels only in the command's environment
 * (`GIT_SGC_TOKEN`) and reaches git through an inline credential helper
 * (`-c credential.helper=!f…`) that prints it on `get`. It is never in argv, a URL, .git/config,
 * a log line or an error message.
 */
import type { GitCredentials } from './types.js';

/**
 * Inline credential helper: git runs it through the shell with the action as $1. It reads the
 * token from the environment at that moment, so the helper text (visible in argv) holds no secret.
 */
const CREDENTIAL_HELPER =
  '!f() { test "$1" = get || return 0; echo "username=${GIT_SGC_USERNAME:-x-access-token}"; echo "password=${GIT_SGC_TOKEN}"; }; f';

/** `-c` options for commands that talk to the remote. */
export function remoteConfig(creds?: GitCredentials): string[] {
  const out = [
    // the empty value resets any inherited helper list, so a token is never stored anywhere
    '-c', 'credential.helper=',
    '-c', 'protocol.ext.allow=never',
    '-c', 'protocol.fd.allow=never',
  ];
  if (creds?.token) out.push('-c', `credential.helper=${CREDENTIAL_HELPER}`);
  return out;
}

/** Environment the credential helper reads (empty without a token). */
export function credentialEnv(creds?: GitCredentials): Record<string, string> {
  const env: Record<string, string> = {};
  if (creds?.token) {
    env.GIT_SGC_TOKEN = creds.token;
    if (creds.username) env.GIT_SGC_USERNAME = creds.username;
  }
  return env;
}
