/**
 * One Linux user per stand-in sandbox. E2B's envd runs as root and starts every command as the
 * sandbox's default user, with that user's home from the password database — so a user per
 * sandbox is what gives each sandbox its own home, keeps sandboxes out of each other's files
 * (and out of root's), and lets a kill end every process the sandbox started (all of that uid),
 * the way a microVM's processes die with the VM.
 *
 * Users are named `sgce<hex>` and carry `sgc-e2b-standin pid=<owner pid>` as their comment, so a
 * stand-in that died without cleaning up is found and swept by the next one.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const run = promisify(execFile);

export const USER_COMMENT_PREFIX = 'sgc-e2b-standin pid=';
/** Written into every sandbox directory the stand-in makes (the stale sweep removes only those). */
export const MARKER_FILE = 'sgc-e2b-standin';

export interface SandboxUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** useradd/userdel lock /etc/passwd; concurrent stand-ins (parallel test files) retry briefly. */
async function withPasswdRetry(cmd: string, args: string[]): Promise<void> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      await run(cmd, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
      return;
    } catch (e) {
      lastErr = e;
      const text = `${(e as { stderr?: string }).stderr ?? ''}`;
      // exit 10 / "cannot lock": another process holds the password file lock
      if ((e as { code?: unknown }).code !== 10 && !/lock/i.test(text)) throw e;
      await sleep(25 + Math.random() * 75);
    }
  }
  throw lastErr;
}

async function lookup(name: string): Promise<{ uid: number; gid: number } | null> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f[0] === name) return { uid: Number(f[2]), gid: Number(f[3]) };
  }
  return null;
}

/**
 * Creates the user with `home` (mode 0755 and /etc/skel's files, like the home of E2B's
 * template user). The home's parent must exist and be traversable.
 */
export async function createSandboxUser(name: string, home: string): Promise<SandboxUser> {
  await withPasswdRetry('useradd', [
    '-U',
    '-M',
    '-d',
    home,
    '-s',
    '/bin/bash',
    '-c',
    `${USER_COMMENT_PREFIX}${process.pid}`,
    name,
  ]);
  const ids = await lookup(name);
  if (!ids) throw new Error(`useradd ${name} succeeded but the user is not in /etc/passwd`);
  await fs.mkdir(home, { recursive: true, mode: 0o755 });
  await fs.cp('/etc/skel', home, { recursive: true, force: false, errorOnExist: false }).catch(() => undefined);
  await chownTree(home, ids.uid, ids.gid);
  await fs.chmod(home, 0o755);
  return { name, uid: ids.uid, gid: ids.gid, home };
}

async function chownTree(dir: string, uid: number, gid: number): Promise<void> {
  await fs.lchown(dir, uid, gid);
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) await chownTree(p, uid, gid);
    else await fs.lchown(p, uid, gid);
  }
}

/** SIGKILLs every process owned by `uid` until none is left (they may fork meanwhile). */
export async function killUidProcesses(uid: number): Promise<number> {
  let killed = 0;
  for (let round = 0; round < 50; round++) {
    let found = 0;
    for (const pid of await fs.readdir('/proc').catch(() => [] as string[])) {
      if (!/^\d+$/.test(pid)) continue;
      const status = await fs.readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
      const m = /^Uid:\s+(\d+)\s+(\d+)/m.exec(status);
      if (!m || (Number(m[1]) !== uid && Number(m[2]) !== uid)) continue;
      // a zombie is already dead; only its parent can reap it
      if (/^State:\s+Z/m.test(status)) continue;
      try {
        process.kill(Number(pid), 'SIGKILL');
        found++;
      } catch {
        // exited meanwhile
      }
    }
    killed += found;
    if (found === 0) return killed;
    await sleep(20);
  }
  return killed;
}

/** Kills the user's processes, removes the user (and its group) and its home. */
export async function removeSandboxUser(u: SandboxUser): Promise<void> {
  await killUidProcesses(u.uid);
  await withPasswdRetry('userdel', ['-f', u.name]).catch(async (e: unknown) => {
    // already gone (exit 6) is what we want
    if ((e as { code?: unknown }).code !== 6) throw e;
  });
  await fs.rm(u.home, { recursive: true, force: true });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Users (and their envd processes, homes and directories) left by stand-ins that are no longer
 * running. Returns how many users it removed.
 */
export async function sweepStaleUsers(): Promise<number> {
  const passwd = await fs.readFile('/etc/passwd', 'utf8');
  let removed = 0;
  for (const line of passwd.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[4].startsWith(USER_COMMENT_PREFIX)) continue;
    const owner = Number(f[4].slice(USER_COMMENT_PREFIX.length));
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) continue;
    const home = f[5];
    // the sandbox directory (home's parent) holds envd's pid file and the stand-in's marker;
    // without the marker nothing but the user itself is touched
    const sandboxDir = join(home, '..');
    const ours =
      basename(home) === 'home' &&
      (await fs.access(join(sandboxDir, MARKER_FILE)).then(
        () => true,
        () => false,
      ));
    if (!ours) {
      await killUidProcesses(Number(f[2]));
      await withPasswdRetry('userdel', ['-f', f[0]]).catch(() => undefined);
      removed++;
      continue;
    }
    const envdPid = Number(await fs.readFile(join(sandboxDir, 'envd.pid'), 'utf8').catch(() => ''));
    if (Number.isInteger(envdPid) && envdPid > 1) {
      const cwd = await fs.readlink(`/proc/${envdPid}/cwd`).catch(() => '');
      if (cwd === sandboxDir) {
        try {
          process.kill(envdPid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    await removeSandboxUser({ name: f[0], uid: Number(f[2]), gid: Number(f[3]), home }).catch(() => undefined);
    await fs.rm(sandboxDir, { recursive: true, force: true }).catch(() => undefined);
    removed++;
  }
  return removed;
}
