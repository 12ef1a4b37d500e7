// scan.test.mjs — black-box tests of `tagbase scan` and of the main job (scripts/run.sh, what
// `make run` does after installing and building): a generated batch read, checked against its
// manifest, recorded in the meta store and shown by `tagbase status`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-scan-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

function run(args, opts = {}) {
  return spawnSync(BIN, args, { encoding: 'utf8', ...opts });
}

const batch = join(root, 'batch');
const data = join(root, 'data');

test('scan reads every file of a generated batch and agrees with its manifest', () => {
  let r = run(['gen', '--customers', '3000', '--seed', '5', '--date', '20261120', '--dirty', '0.02',
    '--out', batch]);
  assert.equal(r.status, 0, r.stderr);
  const manifest = JSON.parse(readFileSync(join(batch, 'manifest.json'), 'utf8'));

  // scan never creates a data directory: a mistyped --data is an error, not a new empty store.
  r = run(['scan', '--data', data, batch]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tagbase scan: .*data/);
  assert.ok(!existsSync(data));
  assert.equal(run(['init', '--data', data]).status, 0);

  r = run(['scan', '--data', data, '--json', batch]);
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.batch_date, '20261120');
  assert.equal(out.files.length, manifest.files.length);
  for (const [i, f] of out.files.entries()) {
    const m = manifest.files[i];
    assert.equal(f.name, m.name);
    assert.equal(f.rows, m.rows, `${f.name}: rows`);
    assert.equal(f.bytes, statSync(join(batch, f.name)).size, `${f.name}: bytes`);
    assert.equal(f.bad_width, m.defects ? m.defects.wrong_column_count : 0, `${f.name}: width`);
    assert.equal(f.check, 'ok', f.name);
  }
  // The dirty batch really has rows of the wrong width, and the scan saw every one of them.
  assert.ok(out.files.reduce((n, f) => n + f.bad_width, 0) > 0);

  r = run(['status', '--data', data, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const st = JSON.parse(r.stdout);
  assert.equal(st.batches.length, 1);
  assert.equal(st.batches[0].batch_date, '20261120');
  assert.equal(st.batches[0].files, manifest.files.length);
  assert.equal(st.batches[0].rows, manifest.files.reduce((n, f) => n + f.rows, 0));

  // Scanning the same batch again replaces its record.
  r = run(['scan', '--data', data, batch]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /batch 20261120/);
  assert.equal(JSON.parse(run(['status', '--data', data, '--json']).stdout).batches.length, 1);
});

test('scan reports a truncated file and a bad manifest without losing the stored batch', () => {
  const cut = join(batch, 'transactions.txt');
  truncateSync(cut, Math.floor(statSync(cut).size / 2));
  let r = run(['scan', '--data', data, '--json', batch]);
  assert.equal(r.status, 1);
  const out = JSON.parse(r.stdout);
  const t = out.files.find((f) => f.name === 'transactions.txt');
  assert.equal(t.check, 'rows differ from manifest');
  assert.match(r.stderr, /differ from their manifest/);

  r = run(['scan', '--data', data, join(root, 'nowhere')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /manifest\.json/);

  r = run(['scan', '--data', data]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /usage: tagbase scan/);

  const st = JSON.parse(run(['status', '--data', data, '--json']).stdout);
  assert.equal(st.batches.length, 1);
});

test('the main job creates demo data when there is none, loads it through the pipeline once', () => {
  const home = join(root, 'run-data');
  const env = {
    ...process.env, TAGBASE_DATA: home, TAGBASE_DEMO_CUSTOMERS: '2000', TAGBASE_SERVE: '0',
    BUILD: relative(REPO, dirname(BIN)),
  };
  let r = spawnSync(join(REPO, 'scripts', 'run.sh'), [], { encoding: 'utf8', env, cwd: REPO });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /generating a demo bank of 2000 customers/);
  assert.match(r.stdout, /loaded data standards version 1/);
  assert.match(r.stdout, /batch 20261121, load 1/);
  assert.match(r.stdout, /customers\.txt\s+customer\s+\d+/);
  assert.match(r.stdout, /batch 20261121: snapshot of \d+ customers \(load 1\)/);
  assert.ok(existsSync(join(home, 'meta.db')));
  assert.match(r.stdout, /approve: \d+ tags by demo-steward/); // maker-checker: two people
  assert.match(r.stdout, /built \d+ tags for \d+ customers of 20261121/);

  // A second run finds the batch loaded and neither generates nor loads again.
  r = spawnSync(join(REPO, 'scripts', 'run.sh'), [], { encoding: 'utf8', env, cwd: REPO });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.doesNotMatch(r.stdout, /generating/);
  assert.match(r.stdout, /batch 20261121 is loaded already/);
  assert.match(r.stdout, /tags of batch 20261121 are built already/);
  assert.match(r.stdout, /loaded data standards version 1 .*unchanged|unchanged/);
});
