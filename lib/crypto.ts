import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Encryption at rest for values that may carry sensitive text (`git_sandboxes.last_error`,
 * seed 004 "Database encryption"). AES-256-GCM with a random 96-bit IV per value.
 *
 * Blob layout: `version (1 byte = 1) | iv (12) | auth tag (16) | ciphertext`.
 *
 * The key never reaches a log, the database or argv. It comes from config
 * `security.encryptionKey` (env SGC_ENCRYPTION_KEY, base64 of 32 bytes); when none is configured,
 * a per-install key is generated once into `.data/encryption.key` (mode 0600, relative to the
 * working directory unless `keyFile` is given) and reused, so a
 * single machine works out of the box. Several hosts sharing one database must configure the
 * same key explicitly.
 */
export const KEY_BYTES = 32;
const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER = 1 + IV_BYTES + TAG_BYTES;

export type EncryptionKey = Buffer;

function checkKey(key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error(`encryption key must be ${KEY_BYTES} bytes, got ${key.length}`);
}

export function encryptText(key: EncryptionKey, plaintext: string): Buffer {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return Buffer.concat([Buffer.from([VERSION]), iv, cipher.getAuthTag(), body]);
}

/** Throws when the blob was tampered with or was encrypted under another key. */
export function decryptText(key: EncryptionKey, blob: Buffer): string {
  checkKey(key);
  if (blob.length < HEADER || blob[0] !== VERSION) throw new Error('not an encrypted value (bad header)');
  const iv = blob.subarray(1, 1 + IV_BYTES);
  const tag = blob.subarray(1 + IV_BYTES, HEADER);
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(blob.subarray(HEADER)), decipher.final()]).toString('utf8');
}

/** Parses a configured key (base64 of exactly 32 bytes); the message never echoes the value. */
export function parseKey(base64: string): EncryptionKey {
  const trimmed = base64.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)) throw new Error('security.encryptionKey: not base64');
  const key = Buffer.from(trimmed, trimmed.includes('-') || trimmed.includes('_') ? 'base64url' : 'base64');
  if (key.length !== KEY_BYTES)
    throw new Error(`security.encryptionKey: must decode to ${KEY_BYTES} bytes (got ${key.length})`);
  return key;
}

export const DEFAULT_KEY_FILE = join('.data', 'encryption.key');

/**
 * The key to use: the configured one, else the per-install key file (created on first use with
 * mode 0600; concurrent first starts agree because creation is exclusive and the loser reads the
 * winner's file).
 */
export function loadEncryptionKey(opts: { configured?: string; keyFile?: string } = {}): EncryptionKey {
  if (opts.configured !== undefined && opts.configured !== '') return parseKey(opts.configured);
  const file = opts.keyFile ?? DEFAULT_KEY_FILE;
  mkdirSync(dirname(file), { recursive: true });
  // written whole to a private temp file, then linked into place: link is atomic and fails if
  // another process got there first, so no reader ever sees a half-written key
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(tmp, randomBytes(KEY_BYTES).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
    try {
      linkSync(tmp, file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    } finally {
      unlinkSync(tmp);
    }
  }
  // a file created by another tool or copied in may be wider: keep it owner-only
  chmodSync(file, 0o600);
  const raw = readFileSync(file, 'utf8').trim();
  try {
    return parseKey(raw);
  } catch (e) {
    throw new Error(`encryption key file ${file} is invalid: ${(e as Error).message}`);
  }
}
