import { expect } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { sha256Hex } from '../../lib/baseline/archive.js';

/**
 * The artifact contract of a completed production baseline, checked in its reports dir: every
 * file is there (metrics-fallback.csv when the run had a fallback phase), the metadata names the
 * run and its sample count, the HTML report has its charts, the SLO file is Sloth's, the summary
 * is written, the manifest vouches for every file and the archive for the manifest, and `token`
 * stands in no file. Returns what the caller goes on to check.
 */
export async function assertBaselineArtifacts(
  dir: string,
  runId: string,
  o: { samples: number; fallback: boolean; archiveSha256: string | undefined; token: string },
) {
  const files = (await readdir(dir)).sort();
  for (const f of [
    'metadata.json',
    'metrics.csv',
    'metrics-extended.csv',
    ...(o.fallback ? ['metrics-fallback.csv'] : []),
    'metrics-warmup.csv',
    'slo.sloth.yaml',
    `${runId}-production.md`,
    `${runId}-production.html`,
    `${runId}-production-extended.md`,
    `${runId}-slo.md`,
    `${runId}-summary.md`,
    `${runId}-summary.html`,
    'manifest.json',
    'archive.tar.gz',
  ])
    assert.ok(files.includes(f), `${f} missing from ${files.join(', ')}`);

  const metadata = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'));
  assert.equal(metadata.runId, runId);
  assert.equal(metadata.parameters.baseline.samples, o.samples);
  assert.match(await readFile(join(dir, `${runId}-production.html`), 'utf8'), /<svg/);
  assert.equal(
    (parseYaml(await readFile(join(dir, 'slo.sloth.yaml'), 'utf8')) as { version: string }).version,
    'prometheus/v1',
  );
  assert.match(await readFile(join(dir, `${runId}-summary.md`), 'utf8'), /Completion summary/);

  // the manifest vouches for every file, and the archive for the manifest
  const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
    files: { name: string; sha256: string }[];
  };
  const listed = manifest.files.map((f) => f.name).sort();
  // expect, not assert.deepEqual: fs arrays come from Node's realm, not the test's vm context
  expect(listed).toEqual(files.filter((f) => f !== 'manifest.json' && f !== 'archive.tar.gz'));
  for (const f of manifest.files) assert.equal(f.sha256, sha256Hex(await readFile(join(dir, f.name))), f.name);
  const archive = await readFile(join(dir, 'archive.tar.gz'));
  assert.equal(sha256Hex(archive), o.archiveSha256);

  for (const f of files) assert.ok(!(await readFile(join(dir, f))).includes(o.token), `token leaked into ${f}`);
  return { files, metadata, listed, archive };
}
