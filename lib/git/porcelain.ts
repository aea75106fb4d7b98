/**
 * Parser for `git status --porcelain=v2 --branch -z` (the machine format whose layout git
 * promises to keep). With `-z` records end in NUL and paths are not quoted; a rename/copy record
 * is followed by one extra NUL-terminated field, the original path.
 */
import type { GitStatus } from './types.js';

type Entry = GitStatus['entries'][number];

/** Splits `s` at the first `n` spaces: n fields and the rest (a path may contain spaces). */
function fields(s: string, n: number): string[] | null {
  const out: string[] = [];
  let rest = s;
  for (let i = 0; i < n; i++) {
    const sp = rest.indexOf(' ');
    if (sp < 0) return null;
    out.push(rest.slice(0, sp));
    rest = rest.slice(sp + 1);
  }
  out.push(rest);
  return out;
}

export class PorcelainParseError extends Error {}

export function parsePorcelainV2(out: string): GitStatus {
  const status: GitStatus = { branch: null, upstream: null, ahead: 0, behind: 0, entries: [], clean: true };
  const records = out.split('\0');
  for (let i = 0; i < records.length; i++) {
    const rec = records[i];
    if (rec === '') continue;
    const kind = rec[0];
    if (kind === '#') {
      const h = fields(rec, 2);
      if (!h) continue;
      const [, key, value] = h;
      if (key === 'branch.head') status.branch = value === '(detached)' ? null : value;
      else if (key === 'branch.upstream') status.upstream = value;
      else if (key === 'branch.ab') {
        const m = /^\+(\d+) -(\d+)$/.exec(value);
        if (m) {
          status.ahead = Number(m[1]);
          status.behind = Number(m[2]);
        }
      }
      // branch.oid, stash and future headers carry nothing GitStatus needs
      continue;
    }
    let entry: Entry;
    if (kind === '1') {
      // 1 <XY> <sub> <mH> <mI> <mW> <hH> <hI> <path>
      const f = fields(rec, 8);
      if (!f) throw new PorcelainParseError(`bad ordinary entry: ${JSON.stringify(rec)}`);
      entry = { path: f[8], index: f[1][0], worktree: f[1][1], kind: 'changed' };
    } else if (kind === '2') {
      // 2 <XY> <sub> <mH> <mI> <mW> <hH> <hI> <X><score> <path> NUL <origPath>
      const f = fields(rec, 9);
      if (!f) throw new PorcelainParseError(`bad rename entry: ${JSON.stringify(rec)}`);
      const orig = records[++i];
      if (orig === undefined || orig === '') throw new PorcelainParseError('rename entry without its original path');
      entry = { path: f[9], index: f[1][0], worktree: f[1][1], kind: 'renamed', origPath: orig };
    } else if (kind === 'u') {
      // u <XY> <sub> <m1> <m2> <m3> <mW> <h1> <h2> <h3> <path>
      const f = fields(rec, 10);
      if (!f) throw new PorcelainParseError(`bad unmerged entry: ${JSON.stringify(rec)}`);
      entry = { path: f[10], index: f[1][0], worktree: f[1][1], kind: 'unmerged' };
    } else if (kind === '?' || kind === '!') {
      if (rec[1] !== ' ') throw new PorcelainParseError(`bad entry: ${JSON.stringify(rec)}`);
      entry = { path: rec.slice(2), index: kind, worktree: kind, kind: kind === '?' ? 'untracked' : 'ignored' };
    } else {
      throw new PorcelainParseError(`unknown porcelain v2 record: ${JSON.stringify(rec.slice(0, 40))}`);
    }
    status.entries.push(entry);
  }
  // ignored files do not make a workspace dirty; untracked ones do (`git add -A` would commit them)
  status.clean = status.entries.every((e) => e.kind === 'ignored');
  return status;
}
