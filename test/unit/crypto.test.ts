import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptText, encryptText, loadEncryptionKey, parseKey } from '../../lib/crypto.js';
import { redactSecrets } from '../../lib/store/sandboxes.js';

const key = randomBytes(32);

test('round-trips text, including unicode and the empty string', () => {
  for (const s of ['fatal: unable to access remote', 'ünïcødé ✓', '', 'x'.repeat(100_000)]) {
    assert.equal(decryptText(key, encryptText(key, s)), s);
  }
});

test('ciphertext does not contain the plaintext and differs per call (random IV)', () => {
  const secret = 'ghp_supersecrettoken1234567890';
  const a = encryptText(key, secret);
  const b = encryptText(key, secret);
  assert.ok(!a.includes(Buffer.from(secret)));
  assert.ok(!a.toString('latin1').includes('supersecret'));
  assert.notDeepEqual(a, b);
  assert.equal(a.length, 1 + 12 + 16 + Buffer.byteLength(secret));
});

test('a wrong key or a tampered blob is rejected, not decrypted to garbage', () => {
  const blob = encryptText(key, 'hello');
  assert.throws(() => decryptText(randomBytes(32), blob));
  const tampered = Buffer.from(blob);
  tampered[tampered.length - 1] ^= 0x01;
  assert.throws(() => decryptText(key, tampered));
  assert.throws(() => decryptText(key, Buffer.from([1, 2, 3])), /bad header/);
});

test('keys must be 32 bytes', () => {
  assert.throws(() => encryptText(randomBytes(16), 'x'), /32 bytes/);
  assert.throws(() => parseKey(randomBytes(16).toString('base64')), /32 bytes/);
  assert.throws(() => parseKey('not base64 !!'), /not base64/);
  assert.deepEqual(parseKey(key.toString('base64')), key);
  assert.deepEqual(parseKey(key.toString('base64url')), key);
});

test('a configured key wins; otherwise a per-install key file is created once with mode 0600 and reused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sgc-key-'));
  try {
    const file = join(dir, '.data', 'encryption.key');
    assert.deepEqual(loadEncryptionKey({ configured: key.toString('base64'), keyFile: file }), key);
    const k1 = loadEncryptionKey({ keyFile: file });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const k2 = loadEncryptionKey({ keyFile: file });
    assert.deepEqual(k1, k2);
    assert.equal(k1.length, 32);
    assert.equal(parseKey(readFileSync(file, 'utf8')).length, 32);
    // a file that was made wider is narrowed again
    chmodSync(file, 0o644);
    loadEncryptionKey({ keyFile: file });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileSync(file, 'short');
    assert.throws(() => loadEncryptionKey({ keyFile: file }), /invalid/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('credentials in URLs are stripped before an error is stored', () => {
  assert.equal(
    redactSecrets('fatal: https://x-access-token:ghp_abc@github.com/o/r.git denied'),
    'fatal: https://github.com/o/r.git denied',
  );
  assert.equal(redactSecrets('Authorization: Bearer abc.def'), 'Authorization: Bearer [redacted]');
});
