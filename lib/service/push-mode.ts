/**
 * `push.mode` per repository + branch (issue 13): the first rule whose globs match decides,
 * else the default mode. Globs: `*` matches within one path segment, `**` across segments,
 * `?` one character; everything else literally.
 */
import type { Config } from '../config/schema.js';

export type PushMode = 'lock' | 'queue';

const cache = new Map<string, RegExp>();

export function globToRegExp(glob: string): RegExp {
  let re = cache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      src += '.*';
      i++;
    } else if (c === '*') src += '[^/]*';
    else if (c === '?') src += '[^/]';
    else src += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  re = new RegExp(`^${src}$`);
  cache.set(glob, re);
  return re;
}

/** The push mode for `repoUrl` (sanitised) + `branch`. */
export function pushModeFor(push: Config['push'], repoUrl: string, branch: string): PushMode {
  for (const rule of push.rules) {
    if (globToRegExp(rule.repo).test(repoUrl) && globToRegExp(rule.branch).test(branch)) return rule.mode;
  }
  return push.mode;
}
