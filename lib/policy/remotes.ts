/**
 * The remotes policy (`git.remotes`): which remotes a workspace may clone, and which of them get
 * a token. An agent names the remote, the service holds the tokens, so every URL is matched
 * against the operator's list before git sees it, and a token is bound to the one scheme + host +
 * path prefix it was listed for — the credential helper (lib/git/credentials.ts) checks what git
 * asks about against that binding, so a redirect to another host gets nothing.
 *
 * Matching is on the URL as git will use it: scheme; host as git's credential protocol names it
 * (lower case, `:port` only when not the default); path prefix by whole segments. URLs that git
 * and this parser could read differently (dot segments, encoded `.` `/` `\`, a host spelt in
 * another case or with its default port) are refused rather than normalised.
 */
import { DomainError, ErrorType } from '../errors.js';
import type { GitCredentials } from '../git/types.js';
import type { RemoteEntry } from '../config/schema.js';
import { validateRepoUrl } from '../git/validate.js';

export type RemoteScheme = 'https' | 'http' | 'ssh' | 'git' | 'file';

/** Schemes an entry without `scheme` allows. http, git and file must be listed explicitly. */
export const DEFAULT_SCHEMES: readonly RemoteScheme[] = ['https', 'ssh'];

export interface ParsedRemote {
  scheme: RemoteScheme;
  /** authority as git's credential protocol names it: lower case, `:port` unless the default */
  host: string;
  /** absolute path on the host ('/org/repo.git'); scp-like paths get a leading '/' */
  path: string;
}

export interface RemoteMatch extends ParsedRemote {
  /** position of the matching entry in git.remotes (the first match wins) */
  index: number;
  /** what the credential helper may answer for; absent when the entry has no token */
  credentials?: GitCredentials;
}

function refuse(field: string, message: string): DomainError {
  return new DomainError(ErrorType.Validation, `${field}: ${message}`, { details: { field } });
}

const SCP_LIKE = /^(?:([A-Za-z0-9._-]+)@)?([A-Za-z0-9.-]+):(?!\/\/)(.+)$/;

/** Parses a remote URL (already accepted by validateRepoUrl) into what the policy matches on. */
export function parseRemoteUrl(url: string, field = 'repoUrl'): ParsedRemote {
  const raw = validateRepoUrl(url, field);
  if (/%(2e|2f|5c)/i.test(raw) || raw.includes('\\'))
    throw refuse(field, 'must not encode ".", "/" or "\\" or contain "\\"');
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(?:([^@/]*)@)?([^/]*)(\/.*)?$/.exec(raw);
  let parsed: ParsedRemote;
  if (m) {
    const scheme = m[1].toLowerCase() as RemoteScheme;
    const u = new URL(raw);
    if ((scheme === 'https' || scheme === 'http') && m[2] !== undefined) {
      throw refuse(field, 'must not name a user; the service supplies the credentials');
    }
    // the authority exactly as written must be the canonical one git and this check both see
    if (m[3] !== u.host) throw refuse(field, `write the host as "${u.host}" (lower case, no default port)`);
    parsed = { scheme, host: u.host, path: m[4] ?? '/' };
  } else {
    const s = SCP_LIKE.exec(raw);
    if (!s) throw refuse(field, 'is not a URL git can use');
    if (s[2] !== s[2].toLowerCase()) throw refuse(field, 'write the host in lower case');
    parsed = { scheme: 'ssh', host: s[2], path: s[3].startsWith('/') ? s[3] : `/${s[3]}` };
  }
  const segments = parsed.path.split(/[?#]/)[0].split('/');
  if (segments.some((seg) => seg === '.' || seg === '..'))
    throw refuse(field, 'must not contain "." or ".." path segments');
  return parsed;
}

/** A prefix that ends with '/', so `/org` never matches `/org-evil/...`. */
export function segmentPrefix(prefix: string): string {
  return prefix.endsWith('/') ? prefix : `${prefix}/`;
}

export class RemotePolicy {
  constructor(private readonly entries: readonly RemoteEntry[]) {}

  /** True when at least one remote is listed. */
  get configured(): boolean {
    return this.entries.length > 0;
  }

  /**
   * The first entry `url` matches, with the credentials for it when the entry has a token
   * (https/http only: ssh authenticates with keys, file and git:// not at all). Throws
   * DomainError(Validation) naming `field` for a URL no entry lists.
   */
  check(url: string, field = 'repoUrl'): RemoteMatch {
    const p = parseRemoteUrl(url, field);
    const path = p.path.split(/[?#]/)[0];
    const index = this.entries.findIndex((e) => {
      const schemes = e.scheme ? [e.scheme] : DEFAULT_SCHEMES;
      return schemes.includes(p.scheme) && e.host === p.host && `${path}/`.startsWith(segmentPrefix(e.pathPrefix));
    });
    if (index < 0) {
      const where = p.scheme === 'file' ? `file://${path}` : `${p.scheme}://${p.host}`;
      throw refuse(field, `the remote ${where} is not listed in git.remotes`);
    }
    const e = this.entries[index];
    const credentials =
      e.token !== undefined && (p.scheme === 'https' || p.scheme === 'http')
        ? {
            token: e.token,
            username: e.username,
            protocol: p.scheme,
            host: p.host,
            pathPrefix: segmentPrefix(e.pathPrefix),
          }
        : undefined;
    return { ...p, index, credentials };
  }
}
