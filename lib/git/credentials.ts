/**
 * How credentials reach git. The token travels only in the command's environment
 * (`GIT_SGC_TOKEN`) and reaches git through an inline credential helper
 * (`-c credential.helper=!f…`, lib/git/scripts/credential-helper.sh). It is never in argv, a URL,
 * .git/config, a log line or an error message.
 *
 * The helper answers only for the remote the token belongs to (GitCredentials.protocol / host /
 * pathPrefix, from the remotes policy): git asks it about every host it is sent to, a redirect's
 * target included, and whatever else it asks about gets nothing.
 */
import { SCRIPTS } from './scripts.js';
import type { GitCredentials } from './types.js';

/**
 * git runs a `!` helper through the shell with the action appended (`… get`). The text is
 * visible in argv and holds no secret: the token and its binding are read from the environment.
 */
const CREDENTIAL_HELPER = `!f() {\n${SCRIPTS.credentialHelper}\n}; f`;

/** `-c` options for commands that talk to the remote. */
export function remoteConfig(creds?: GitCredentials): string[] {
  const out = [
    // the empty value resets any inherited helper list, so a token is never stored anywhere
    '-c',
    'credential.helper=',
    '-c',
    'protocol.ext.allow=never',
    '-c',
    'protocol.fd.allow=never',
  ];
  // the path is part of what the helper checks: git sends it only with useHttpPath
  if (creds?.token) out.push('-c', 'credential.useHttpPath=true', '-c', `credential.helper=${CREDENTIAL_HELPER}`);
  return out;
}

/** Environment the credential helper reads (empty without a token). */
export function credentialEnv(creds?: GitCredentials): Record<string, string> {
  const env: Record<string, string> = {};
  if (creds?.token) {
    env.GIT_SGC_TOKEN = creds.token;
    env.GIT_SGC_PROTOCOL = creds.protocol;
    env.GIT_SGC_HOST = creds.host.toLowerCase();
    env.GIT_SGC_PATH = creds.pathPrefix ?? '/';
    if (creds.username) env.GIT_SGC_USERNAME = creds.username;
  }
  return env;
}
