// standard.test.mjs — black-box tests of `tagbase standard`: load the default data standards into
// a fresh data directory, versions on change and not on reload, refusal of a C3 field with the
// path named, list and show (text and JSON), and read-only use.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DEFAULT = join(REPO, 'standards', 'default.json');
const root = mkdtempSync(join(tmpdir(), 'tb-std-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

function run(args) {
  return spawnSync(BIN, args, { encoding: 'utf8' });
}

const data = join(root, 'data');

test('standard load needs an existing data directory', () => {
  const r = run(['standard', 'load', DEFAULT, '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tagbase standard: .*data/);
  assert.ok(!existsSync(data));
});

test('standard load stores versions; an identical body is the same version', () => {
  assert.equal(run(['init', '--data', data]).status, 0);
  const std = JSON.parse(readFileSync(DEFAULT, 'utf8'));
  const ntypes = Object.keys(std.business_types).length;

  let r = run(['standard', 'load', DEFAULT, '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `loaded data standards version 1 from '${DEFAULT}' (${ntypes} business types)\n`);
  r = run(['standard', 'load', DEFAULT, '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /unchanged \(version 1\)/);

  // a C3 field is refused, with the file and JSON path named, and nothing is stored
  const bad = structuredClone(std);
  bad.business_types.customer.fields[4].pi_class = 'C3';
  const badPath = join(root, 'bad.json');
  writeFileSync(badPath, JSON.stringify(bad, null, 2));
  r = run(['standard', 'load', badPath, '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.json: business_types\.customer\.fields\[4\]\.pi_class: class C3 .* never stored/);

  // a broken type names its path too
  bad.business_types.customer.fields[4].pi_class = 'C2';
  bad.business_types.deposit.fields[4].type = 'decimal(18';
  writeFileSync(badPath, JSON.stringify(bad, null, 2));
  r = run(['standard', 'load', badPath, '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /business_types\.deposit\.fields\[4\]\.type: 'decimal\(18' is not a type/);

  // an edited standard is a new version
  const edited = structuredClone(std);
  edited.version_note = 'edited';
  const editedPath = join(root, 'edited.json');
  writeFileSync(editedPath, JSON.stringify(edited, null, 2));
  r = run(['standard', 'load', editedPath, '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^loaded data standards version 2 /);

  r = run(['standard', 'list', '--json', '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout);
  assert.deepEqual(list.map((v) => [v.version, v.current, v.business_types]),
    [[1, false, ntypes], [2, true, ntypes]]);
  assert.equal(list[1].version_note, 'edited');
  assert.match(list[0].hash, /^[0-9a-f]{16}$/);
  assert.notEqual(list[0].hash, list[1].hash);
  r = run(['standard', 'list', '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\(current\)/);
});

test('standard show lists types and a type\'s fields with class, level and mask', () => {
  let r = run(['standard', 'show', '--json', '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  const all = JSON.parse(r.stdout);
  assert.equal(all.version, 2);
  const names = all.business_types.map((t) => t.name);
  for (const t of ['customer', 'deposit', 'loan', 'credit_card', 'wealth', 'fund', 'insurance',
    'precious_metal', 'payroll', 'etc', 'transaction', 'household', 'court_enforcement',
    'business_registration', 'model_score', 'region', 'org', 'manager', 'corporate_group']) {
    assert.ok(names.includes(t), t);
  }

  r = run(['standard', 'show', 'customer', '--version', '1', '--json', '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  const cust = JSON.parse(r.stdout);
  assert.equal(cust.version, 1);
  assert.deepEqual(cust.unique, ['cust_no']);
  const idNo = cust.fields.find((f) => f.name === 'id_no');
  assert.deepEqual([idNo.pi_class, idNo.level, idNo.mask, idNo.check], ['C2', 3, 'id', 'id_by_type']);

  r = run(['standard', 'show', 'court_enforcement', '--data', data]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /unique: case_no/);
  assert.match(r.stdout, /id_no\s+string\s+yes id_by_type/);

  r = run(['standard', 'show', 'nosuch', '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no business type 'nosuch' in data standards version 2/);
  r = run(['standard', 'show', '--version', '7', '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no data standards version 7/);
  r = run(['standard', 'frobnicate', '--data', data]);
  assert.equal(r.status, 2);
});

test('show on a data directory without standards says how to load them', () => {
  const d2 = join(root, 'empty');
  assert.equal(run(['init', '--data', d2]).status, 0);
  const r = run(['standard', 'show', '--data', d2]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no data standards loaded: run 'tagbase standard load FILE'/);
});
