// gen.test.mjs — black-box tests of `tagbase gen`: runs the real binary and proves its output
// with an independent checker (lib/gen_check.mjs): check digits, defects against the manifest
// and defects.tsv, row counts, shares, determinism, CSV/GB18030, events and option errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  findDefects, readExtract, validResidentId, validMobile,
} from './lib/gen_check.mjs';
import { hashes } from './lib/fs.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const root = mkdtempSync(join(tmpdir(), 'tb-gen-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

function gen(args) {
  return spawnSync(BIN, ['gen', ...args], { encoding: 'utf8' });
}

function genOk(out, extra = []) {
  const r = gen(['--customers', '10000', '--seed', '1', '--date', '20261121', '--dirty', '0.01',
    '--out', out, ...extra]);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
}

function readDefectsTsv(dir) {
  const lines = readFileSync(join(dir, 'defects.tsv'), 'utf8').split('\n');
  assert.equal(lines.shift(), 'file\tline\tkind\tfield');
  assert.equal(lines.pop(), '');
  return lines.map((l) => { const [file, line, kind, field] = l.split('\t'); return { file, line: +line, kind, field }; });
}

// Checks every extract of `dir` and returns what was found; asserts the manifest agrees.
function verifyBatch(dir, m) {
  const fmt = m.format.name;
  const listed = readDefectsTsv(dir);
  const key = (d) => `${d.file}|${d.line}|${d.kind}|${d.field}`;
  const listedSet = new Set(listed.map(key));
  assert.equal(listedSet.size, listed.length, 'defects.tsv has no repeated entries');
  assert.equal(listed.length, m.defects.rows);
  const counters = { ids: 0, usccs: 0, mobiles: 0, dates: 0, cards: 0 };
  const foundAll = [];
  const exts = {};
  for (const f of m.files) {
    if (f.format === 'jsonl') continue;
    const ext = readExtract(dir, f, fmt);
    exts[f.business_type] = ext;
    if (fmt === 'csv') assert.deepEqual(ext.header, f.columns.map((c) => c.name), `${f.name} header`);
    assert.equal(ext.rows.length, f.rows, `${f.name} row count`);
    const found = findDefects(f, ext, m.code_tables, counters);
    const perKind = {};
    for (const k of m.defects.kinds) perKind[k] = 0;
    for (const d of found) {
      assert.ok(d.kind in perKind, `${f.name} line ${d.line}: unexpected ${d.kind} in ${d.field}`);
      perKind[d.kind]++;
      foundAll.push({ file: f.name, ...d });
    }
    assert.deepEqual(perKind, f.defects, `${f.name}: defects found vs manifest`);
    if (!f.dirty) assert.equal(found.length, 0, `${f.name} is clean`);
  }
  const foundSet = new Set(foundAll.map(key));
  assert.equal(foundSet.size, listedSet.size);
  for (const k of foundSet) assert.ok(listedSet.has(k), `found but not in defects.tsv: ${k}`);
  for (const k of listedSet) assert.ok(foundSet.has(k), `in defects.tsv but not found: ${k}`);
  assert.ok(counters.ids > 1000 && counters.usccs > 100 && counters.mobiles > 1000 && counters.cards > 100,
    `the checks ran: ${JSON.stringify(counters)}`);
  return { exts, listed };
}

const dir1 = join(root, 'a');
const m1 = genOk(dir1);

test('every file is valid except the listed defects, which match the manifest', () => {
  const { listed } = verifyBatch(dir1, m1);
  assert.ok(listed.length > 500, `dirty 0.01 gives defects (${listed.length})`);
  const kinds = new Set(listed.map((d) => d.kind));
  for (const k of m1.defects.kinds) assert.ok(kinds.has(k), `some ${k}`);
});

test('customers: shares, identities and truth', () => {
  const f = m1.files.find((x) => x.business_type === 'customer');
  const ext = readExtract(dir1, f, 'hive');
  const col = Object.fromEntries(f.columns.map((c, k) => [c.name, k]));
  const bad = new Set(readDefectsTsv(dir1).filter((d) => d.file === f.name).map((d) => d.line));
  const types = { 1: 0, 2: 0, 3: 0 };
  let prev = null;
  for (const r of ext.rows) {
    const dup = r.raw === prev;
    prev = r.raw;
    if (bad.has(r.line) || dup) continue;
    const v = r.fields;
    types[v[col.cust_type]]++;
    if (v[col.cust_type] === '1') {
      const id = v[col.id_no];
      assert.ok(validResidentId(id));
      assert.equal(v[col.gender], (+id[16]) % 2 === 1 ? '1' : '2', `gender matches ID at line ${r.line}`);
      assert.equal(v[col.birth_date], `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`);
      assert.ok(v[col.province_code].endsWith('0000') && v[col.city_code].startsWith(v[col.province_code].slice(0, 2)));
    } else {
      assert.equal(v[col.gender], null);
    }
  }
  const n = types[1] + types[2] + types[3];
  assert.ok(Math.abs(types[1] / n - 0.90) < 0.015, `retail share ${types[1] / n}`);
  assert.ok(Math.abs(types[2] / n - 0.08) < 0.01, `corporate share ${types[2] / n}`);
  assert.ok(Math.abs(types[3] / n - 0.02) < 0.006, `merchant share ${types[3] / n}`);
  const ct = m1.customer_types;
  assert.equal(ct.retail + ct.corporate + ct.merchant, 10000);
  assert.equal(m1.truth.persons, ct.retail + m1.truth.card_only_persons);
  assert.equal(m1.truth.companies, ct.corporate + ct.merchant);

  // the truth file: distinct entities match the manifest, and core numbers map one-to-one
  const tf = m1.files.find((x) => x.data_kind === 'truth');
  const truth = readExtract(dir1, tf, 'hive');
  const persons = new Set(), companies = new Set(), sysIds = new Set();
  let twoNumbers = 0;
  const coreOf = new Map();
  for (const r of truth.rows) {
    const [system, id, et, ent] = r.fields;
    assert.ok(!sysIds.has(system + id), `truth lists ${system} ${id} once`);
    sysIds.add(system + id);
    (et === 'P' ? persons : companies).add(ent);
    if (system === 'CORE') {
      coreOf.set(ent, (coreOf.get(ent) || 0) + 1);
    }
  }
  for (const c of coreOf.values()) if (c === 2) twoNumbers++;
  assert.equal(persons.size, m1.truth.persons);
  assert.equal(companies.size, m1.truth.companies);
  assert.equal(twoNumbers, m1.truth.persons_with_two_core_numbers);
  assert.ok(twoNumbers > 10 && twoNumbers < 100, `about 0.5% have two core numbers (${twoNumbers})`);
  const share = m1.truth.card_only_persons / m1.truth.card_holders;
  assert.ok(share > 0.02 && share < 0.1, `a few percent of card holders are card-only (${share})`);
});

test('events: Sensors-shaped JSON Lines with a falling credit funnel', () => {
  const lines = readFileSync(join(dir1, 'events.jsonl'), 'utf8').split('\n');
  assert.equal(lines.pop(), '');
  const f = m1.files.find((x) => x.format === 'jsonl');
  assert.equal(lines.length, f.rows);
  const counts = {};
  const ids = new Set();
  const lo = Date.UTC(2026, 10, 21) - 29 * 86400000 - 8 * 3600000;
  const hi = Date.UTC(2026, 10, 22) - 8 * 3600000;
  let anon = 0;
  for (const l of lines) {
    const e = JSON.parse(l);
    assert.equal(e.type, 'track');
    assert.ok(e.time >= lo && e.time < hi, `time in the 30 days: ${e.time}`);
    assert.ok(!ids.has(e._track_id));
    ids.add(e._track_id);
    assert.match(e.anonymous_id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    if (e.login_id) {
      assert.ok(validMobile(e.login_id));
      assert.equal(e.distinct_id, e.login_id);
    } else {
      anon++;
      assert.equal(e.distinct_id, e.anonymous_id);
      assert.notEqual(e.event, 'login');
    }
    assert.equal(typeof e.properties.$os, 'string');
    counts[e.event] = (counts[e.event] || 0) + 1;
  }
  assert.ok(anon > 0);
  const funnel = ['credit_register', 'credit_lead', 'credit_apply', 'credit_granted', 'credit_drawdown'];
  for (let k = 1; k < funnel.length; k++) {
    assert.ok(counts[funnel[k]] > 0 && counts[funnel[k]] < counts[funnel[k - 1]], `${funnel[k]} < ${funnel[k - 1]}`);
  }
  assert.ok(counts.app_launch > counts.login);
});

test('same seed gives byte-identical output whatever the threads; another seed differs', () => {
  const dir2 = join(root, 'b');
  genOk(dir2, ['--threads', '1']);
  const dir3 = join(root, 'c');
  genOk(dir3, ['--threads', '2']);
  const h1 = hashes(dir1);
  assert.deepEqual(hashes(dir2), h1);
  assert.deepEqual(hashes(dir3), h1);
  const dir4 = join(root, 'd');
  const r = gen(['--customers', '10000', '--seed', '2', '--date', '20261121', '--dirty', '0.01', '--out', dir4]);
  assert.equal(r.status, 0, r.stderr);
  const h4 = hashes(dir4);
  for (const f of ['customers.txt', 'cards.txt', 'transactions.txt', 'events.jsonl', 'truth.txt']) {
    assert.notEqual(h4[f], h1[f], `${f} differs with another seed`);
  }
  rmSync(dir2, { recursive: true });
  rmSync(dir3, { recursive: true });
  rmSync(dir4, { recursive: true });
});

test('csv: BOM, header, quoting, one GB18030 file, same defect rules', () => {
  const dir = join(root, 'csv');
  const r = gen(['--customers', '4000', '--seed', '7', '--date', '20261121', '--dirty', '0.02',
    '--format', 'csv', '--out', dir]);
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  const gb = m.files.filter((f) => f.encoding === 'GB18030');
  assert.equal(gb.length, 1);
  const raw = readFileSync(join(dir, gb[0].name));
  assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(raw), 'the GB18030 file is not UTF-8');
  const text = new TextDecoder('gb18030').decode(raw);
  assert.ok(/[\u4e00-\u9fff]/.test(text), 'Chinese names decode from GB18030');
  assert.ok(text.startsWith(gb[0].columns.map((c) => c.name).join(',') + '\r\n'));
  const cust = readFileSync(join(dir, 'customers.csv'));
  assert.deepEqual([...cust.subarray(0, 3)], [0xef, 0xbb, 0xbf]);
  const { exts } = verifyBatch(dir, m);
  // quoting: some address or summary needed quotes and came back intact
  const txt = readFileSync(join(dir, 'transactions.csv'), 'utf8');
  assert.ok(txt.includes('"房租,押金"') || txt.includes('"备注""还款"""'), 'a quoted field');
  const sumAt = m.files.find((f) => f.business_type === 'transaction').columns.findIndex((c) => c.name === 'summary');
  assert.ok(exts.transaction.rows.some((x) => x.fields[sumAt] === '房租,押金' || x.fields[sumAt] === '备注"还款"'));
  rmSync(dir, { recursive: true });
});

test('option errors name the option; an existing manifest is refused', () => {
  let r = gen(['--customers', '0', '--date', '20261121', '--out', join(root, 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--customers/);
  r = gen(['--customers', '10', '--date', '20261131', '--out', join(root, 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--date/);
  r = gen(['--customers', '10', '--date', '20261121', '--dirty', '0.9', '--out', join(root, 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--dirty/);
  r = gen(['--customers', '10', '--date', '20261121', '--format', 'xml', '--out', join(root, 'x')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--format/);
  r = gen(['--customers', '10', '--date', '20261121']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--out/);
  r = gen(['--customers', '10', '--date', '20261121', '--out', dir1]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /manifest\.json' already exists/);
  const file = join(root, 'afile');
  writeFileSync(file, 'x');
  r = gen(['--customers', '10', '--date', '20261121', '--out', join(file, 'sub')]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /afile/);
  mkdirSync(join(root, 'small'));
  r = gen(['--customers', '1', '--date', '20261121', '--out', join(root, 'small')]);
  assert.equal(r.status, 0, r.stderr);
});
