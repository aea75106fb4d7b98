/**
 * The remotes and branch policies (lib/policy) and the credential helper they feed
 * (lib/git/scripts/credential-helper.sh), as pure rules: which URLs match which git.remotes
 * entry, which get a token, which branches an agent may push or read, and what the helper
 * answers for each request git could send it.
 */
import { describe, test } from '@jest/globals';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { loadConfig, parseConfig, type ConfigError } from '../../lib/config/index.js';
import { ErrorType, isDomainError, type DomainError } from '../../lib/errors.js';
import { credentialEnv, remoteConfig } from '../../lib/git/credentials.js';
import { SCRIPTS } from '../../lib/git/scripts.js';
import { BranchPolicy, RemotePolicy, parseRemoteUrl } from '../../lib/policy/index.js';

function refused(fn: () => unknown, field = 'repoUrl'): DomainError {
  try {
    fn();
  } catch (e) {
    assert.ok(isDomainError(e), String(e));
    assert.equal(e.details.field, field);
    return e;
  }
  return assert.fail('expected a refusal');
}

describe('remote URLs', () => {
  test('parse to scheme, host as git names it, and path', () => {
    assert.deepEqual(parseRemoteUrl('https://github.com/org/repo.git'), {
      scheme: 'https',
      host: 'github.com',
      path: '/org/repo.git',
    });
    assert.deepEqual(parseRemoteUrl('http://127.0.0.1:8080/r.git'), {
      scheme: 'http',
      host: '127.0.0.1:8080',
      path: '/r.git',
    });
    assert.deepEqual(parseRemoteUrl('ssh://git@github.com:2222/org/repo.git'), {
      scheme: 'ssh',
      host: 'github.com:2222',
      path: '/org/repo.git',
    });
    assert.deepEqual(parseRemoteUrl('git@github.com:org/repo.git'), {
      scheme: 'ssh',
      host: 'github.com',
      path: '/org/repo.git',
    });
    assert.deepEqual(parseRemoteUrl('file:///srv/git/r.git'), { scheme: 'file', host: '', path: '/srv/git/r.git' });
  });

  test('refuse forms git and this check could read differently, and users in http(s) URLs', () => {
    for (const url of [
      'https://GitHub.com/org/repo.git',
      'https://github.com:443/org/repo.git',
      'https://github.com/org/../evil/r.git',
      'https://github.com/org/%2e%2e/evil/r.git',
      'https://github.com/org%2fevil/r.git',
      'https://user@github.com/org/r.git',
      'https://user:pw@github.com/org/r.git',
      'ext::sh -c touch% /tmp/pwned',
      '-uhttps://github.com/x',
      'git@GitHub.com:org/r.git',
      'file:///srv/git/../../etc/r.git',
    ])
      refused(() => parseRemoteUrl(url));
  });
});

describe('the remotes policy', () => {
  const policy = new RemotePolicy(
    parseConfig({
      git: {
        remotes: [
          { host: 'github.com', pathPrefix: '/acme/', token: 'ghs_acme', tokenEnv: 'GH_ACME' },
          { scheme: 'https', host: 'gitlab.example.com' },
          { scheme: 'http', host: '127.0.0.1:8080', pathPrefix: '/only/this.git', token: 'local' },
          { scheme: 'file', pathPrefix: '/srv/git' },
        ],
      },
    }).git.remotes,
  );

  test('accepts listed remotes: https and ssh by default, other schemes only where listed', () => {
    assert.equal(policy.check('https://github.com/acme/app.git').index, 0);
    assert.equal(policy.check('git@github.com:acme/app.git').index, 0);
    assert.equal(policy.check('ssh://git@github.com/acme/app.git').index, 0);
    assert.equal(policy.check('https://gitlab.example.com/any/thing.git').index, 1);
    assert.equal(policy.check('http://127.0.0.1:8080/only/this.git').index, 2);
    assert.equal(policy.check('file:///srv/git/r.git').index, 3);
  });

  test('refuses everything else, naming repoUrl', () => {
    for (const url of [
      'https://evil.example/r.git',
      'https://github.com/other/app.git',
      'https://github.com/acme-evil/app.git',
      'http://github.com/acme/app.git',
      'git://github.com/acme/app.git',
      'ssh://git@gitlab.example.com/any/thing.git',
      'http://127.0.0.1:8080/only/this.git.evil',
      'http://127.0.0.1:8081/only/this.git',
      'file:///srv/gitx/r.git',
      'file:///tmp/r.git',
    ]) {
      const e = refused(() => policy.check(url));
      assert.equal(e.type, ErrorType.Validation);
    }
  });

  test('binds a token to its entry: https/http only, with scheme, host and segment prefix', () => {
    assert.deepEqual(policy.check('https://github.com/acme/app.git').credentials, {
      token: 'ghs_acme',
      username: undefined,
      protocol: 'https',
      host: 'github.com',
      pathPrefix: '/acme/',
    });
    assert.equal(policy.check('git@github.com:acme/app.git').credentials, undefined, 'ssh authenticates with keys');
    assert.equal(policy.check('https://gitlab.example.com/a.git').credentials, undefined, 'no token listed');
    assert.equal(policy.check('http://127.0.0.1:8080/only/this.git').credentials?.pathPrefix, '/only/this.git/');
  });

  test('nothing listed: nothing allowed', () => {
    refused(() => new RemotePolicy(parseConfig({}).git.remotes).check('https://github.com/acme/app.git'));
  });
});

describe('config', () => {
  test("a remote's token comes from the variable its entry names, never from the file", () => {
    const c = loadConfig({
      path: '/dev/null',
      env: { GH: 'ghs_x' },
      overrides: { 'git.remotes': [{ host: 'github.com', tokenEnv: 'GH' }] },
    });
    assert.equal(c.git.remotes[0].token, 'ghs_x');
    assert.equal(
      loadConfig({ path: '/dev/null', env: {}, overrides: { 'git.remotes': [{ host: 'github.com', tokenEnv: 'GH' }] } })
        .git.remotes[0].token,
      undefined,
    );
  });

  test('bad entries stop start-up with the key path', () => {
    const issues = (raw: unknown): string[] => {
      try {
        parseConfig(raw);
        return [];
      } catch (e) {
        return (e as ConfigError).issues.map((i) => i.path);
      }
    };
    assert.deepEqual(issues({ git: { remotes: [{ host: 'GitHub.com' }] } }), ['git.remotes.0.host']);
    assert.deepEqual(issues({ git: { remotes: [{ scheme: 'file', host: 'x', pathPrefix: '/srv' }] } }), [
      'git.remotes.0.host',
    ]);
    assert.deepEqual(issues({ git: { remotes: [{ scheme: 'https' }] } }), ['git.remotes.0.host']);
    assert.deepEqual(issues({ git: { remotes: [{ host: 'github.com', pathPrefix: 'acme' }] } }), [
      'git.remotes.0.pathPrefix',
    ]);
    assert.deepEqual(issues({ git: { token: 'x'.repeat(20) } }), ['git.token']);
    assert.deepEqual(issues({ git: { pushBranches: ['agent/{taskId}/**'] } }), ['git.pushBranches.0']);
  });
});

describe('the branch policy', () => {
  const p = new BranchPolicy(['agent/{agentId}/**'], ['main', 'release/*', 'agent/{agentId}/**']);

  test("push: the agent's own branches only", () => {
    assert.equal(p.canPush('a1', 'agent/a1/task'), true);
    assert.equal(p.canPush('a1', 'agent/a1/task/sub'), true);
    for (const b of ['main', 'agent/a2/task', 'agent/a1', 'agent/a10/task', 'release/1'])
      assert.equal(p.canPush('a1', b), false, b);
    assert.throws(
      () => p.assertPush('a1', 'main'),
      (e: unknown) => isDomainError(e, ErrorType.Forbidden) && e.details.field === 'branch',
    );
  });

  test('read: the listed bases; * is one segment', () => {
    for (const b of ['main', 'release/1', 'agent/a1/x']) assert.equal(p.canRead('a1', b), true, b);
    for (const b of ['release/1/x', 'agent/a2/x', 'develop']) assert.equal(p.canRead('a1', b), false, b);
    assert.throws(
      () => p.assertRead('a1', 'develop'),
      (e: unknown) => isDomainError(e, ErrorType.Forbidden) && e.details.field === 'baseBranch',
    );
  });

  test('an agent id is data, not a pattern', () => {
    assert.equal(new BranchPolicy(['agent/{agentId}/**'], ['**']).canPush('a.b', 'agent/axb/t'), false);
  });
});

describe('the credential helper', () => {
  const creds = { token: 'tok_secret', protocol: 'https', host: 'github.com', pathPrefix: '/acme/' };
  const helper =
    remoteConfig(creds)
      .find((c) => c.startsWith('credential.helper=!'))
      ?.slice('credential.helper='.length + 1) ?? '';

  /** What the helper prints for one request from git (as git runs it: through sh, action appended). */
  function ask(
    request: Record<string, string>,
    action = 'get',
    env: Record<string, string> = credentialEnv(creds),
  ): string {
    const stdin =
      Object.entries(request)
        .map(([k, v]) => `${k}=${v}\n`)
        .join('') + '\n';
    // a helper that does not read its input (store, erase) closes the pipe early: git ignores
    // that EPIPE, and so does this
    const r = spawnSync('/bin/sh', ['-c', `${helper} "$@"`, 'helper', action], {
      input: stdin,
      env: { PATH: process.env.PATH, LC_ALL: 'C', ...env },
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  }

  test('is the script, with the token nowhere in argv', () => {
    assert.ok(helper.includes(SCRIPTS.credentialHelper));
    assert.ok(!remoteConfig(creds).join(' ').includes('tok_secret'));
    assert.ok(remoteConfig(creds).includes('credential.useHttpPath=true'));
  });

  test("answers the token's own protocol, host and path", () => {
    assert.equal(
      ask({ protocol: 'https', host: 'github.com', path: 'acme/app.git' }),
      'username=x-access-token\npassword=tok_secret\n',
    );
    assert.equal(
      ask({ protocol: 'https', host: 'GitHub.com', path: 'acme/app.git' }),
      'username=x-access-token\npassword=tok_secret\n',
    );
  });

  test('answers nothing for another host, protocol, path, action, or without a token', () => {
    assert.equal(ask({ protocol: 'https', host: 'evil.example', path: 'acme/app.git' }), '');
    assert.equal(ask({ protocol: 'https', host: 'github.com.evil.example', path: 'acme/app.git' }), '');
    assert.equal(ask({ protocol: 'http', host: 'github.com', path: 'acme/app.git' }), '');
    assert.equal(ask({ protocol: 'https', host: 'github.com', path: 'other/app.git' }), '');
    assert.equal(ask({ protocol: 'https', host: 'github.com', path: 'acme-evil/app.git' }), '');
    assert.equal(ask({ protocol: 'https', host: 'github.com' }), '', 'no path sent: the prefix cannot be checked');
    assert.equal(ask({ protocol: 'https', host: 'github.com', path: 'acme/app.git' }, 'store'), '');
    assert.equal(ask({ protocol: 'https', host: 'github.com', path: 'acme/app.git' }, 'get', {}), '');
  });

  test('a prefix of "/" covers the whole host', () => {
    const env = credentialEnv({ ...creds, pathPrefix: '/' });
    assert.equal(
      ask({ protocol: 'https', host: 'github.com', path: 'any/repo.git' }, 'get', env),
      'username=x-access-token\npassword=tok_secret\n',
    );
    assert.equal(
      ask({ protocol: 'https', host: 'github.com' }, 'get', env),
      'username=x-access-token\npassword=tok_secret\n',
    );
  });
});
