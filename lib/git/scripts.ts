/**
 * The shell the git operations run inside the sandbox, kept as real `.sh` files in
 * `lib/git/scripts/` (readable, checkable with shellcheck) and read once when this module loads.
 *
 * Each script is a constant: it goes to the sandbox as `sh -c <script> sh <args…>` and receives
 * every piece of data as a positional parameter, so nothing user-supplied is ever spliced into
 * shell text. Full-line comments are dropped on load: they document the file, and the argv the
 * sandbox receives stays as short as the script itself.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(import.meta.dirname, 'scripts');

function load(name: string): string {
  const text = readFileSync(join(DIR, `${name}.sh`), 'utf8');
  return text
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .trim();
}

/** restore.sh's functions (the rebase journal, and undoing a rebase a full disk cut short) */
const restore = load('restore');
/** a script with restore.sh's functions spliced in at its `@RESTORE@` line */
const withRestore = (name: string): string => load(name).replace('@RESTORE@', () => restore);

const prepare = withRestore('prepare');

export const SCRIPTS = {
  /** exit 2: dir absent; 1: not a usable clone; 0: prints toplevel, origin, HEAD */
  probe: load('probe'),
  /** working tree vs HEAD, untracked files included, through a throw-away index */
  diff: load('diff'),
  /** exit 0 when <cwd>/$1 resolves inside the workspace and outside .git; 3/4 outside; 5 error */
  confine: load('confine'),
  /** aborts a rebase a crashed run left behind */
  abortStaleRebase: withRestore('abort-stale-rebase'),
  /** the merge queue's checkout: clean and detached at $1, whatever a crashed batch left */
  queueCheckout: load('queue-checkout'),
  /** stage + commit (with the operation trailer), or tell a retry from local commits */
  prepare,
  /**
   * the merge queue's staging: prepare.sh's body (in a subshell, spliced in here: a constant) and
   * the push of its commit to the queue ref, one command
   */
  stage: load('stage').replace('@PREPARE@', () => prepare),
  /** one push attempt: fetch → already landed? → rebase → push */
  push: withRestore('push'),
  /** the functions spliced into prepare, push and abortStaleRebase (defines them, runs nothing) */
  restore,
  /** body of the credential helper: answers `get` only for the token's protocol + host + path */
  credentialHelper: load('credential-helper'),
  /** bytes (apparent size) and files (anything but directories) under the working directory */
  usage: load('usage'),
} as const;
