// pipeline.test.mjs — black-box tests of `tagbase load`, `pipeline status` and `explain` on
// banks made by `tagbase gen`: quarantined rows equal the injected defects kind by kind, golden
// records equal the true persons and companies, every valid row reaches the profile, values and
// their lineage agree with the extracts, reloads change nothing, a killed load loses nothing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  mkdtempSync, readFileSync, rmSync, readdirSync, writeFileSync, existsSync, mkdirSync,
  copyFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { hashes } from './lib/fs.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const STANDARD = join(REPO, 'standards', 'default.json');
const root = mkdtempSync(join(tmpdir(), 'tb-pipe-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

function tb(args) {
  return spawnSync(BIN, args, { encoding: 'utf8', maxBuffer: 1 << 28 });
}
function ok(args) {
  const r = tb(args);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
function gen(name, extra, date = '20261121') {
  const out = join(root, name);
  ok(['gen', '--date', date, '--out', out, ...extra]);
  return { dir: out, manifest: JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) };
}
function dataDir(name) {
  const d = join(root, name);
  ok(['init', '--data', d]);
  ok(['standard', 'load', STANDARD, '--data', d]);
  return d;
}
function rows(dir, file) { // Hive text: fields by \x01, \N is NULL
  return readFileSync(join(dir, file), 'utf8').split('\n').filter((l) => l.length)
    .map((l) => l.split('\x01').map((v) => (v === '\\N' ? null : v)));
}
// manifest.json names its load id.
const hashDir = (dir) => hashes(dir, ['manifest.json']);
const cents = (s) => Math.round(Number(s) * 100);

const dirty = gen('dirty', ['--customers', '4000', '--seed', '2', '--dirty', '0.02']);
const clean = gen('clean', ['--customers', '3000', '--seed', '4']);

test('quarantined rows equal the manifest\'s injected defects, file by file and kind by kind', () => {
  const data = dataDir('d-dirty');
  const r = tb(['load', '--data', data, '--json', dirty.dir]);
  assert.equal(r.status, 0, r.stderr);
  const sum = JSON.parse(r.stdout);
  const byName = Object.fromEntries(dirty.manifest.files.map((f) => [f.name, f]));
  let injected = 0;
  for (const f of sum.files) {
    const want = Object.fromEntries(
      Object.entries(byName[f.file].defects || {}).filter(([, n]) => n > 0));
    assert.deepEqual(f.rejected_by_rule, want, f.file);
    const total = Object.values(want).reduce((a, b) => a + b, 0);
    assert.equal(f.rejected, total, f.file);
    assert.equal(f.acquired, byName[f.file].rows, f.file);
    assert.equal(f.valid + f.rejected, f.acquired, f.file);
    injected += total;
  }
  assert.ok(injected > 100, 'the dirty bank has defects to find');
  // The status keeps the same numbers, with the rule and field of each reject.
  const st = JSON.parse(ok(['pipeline', 'status', '--data', data, '--json']));
  const cust = st.batches[0].files.find((f) => f.file === 'customers.txt');
  const want = byName['customers.txt'].defects;
  for (const [rule, n] of Object.entries(want)) {
    if (!n) continue;
    const got = Object.values(cust.rejected_by_rule[rule]).reduce((a, b) => a + b, 0);
    assert.equal(got, n, rule);
  }
  assert.ok(cust.quality.validity < 1 && cust.quality.validity > 0.9);
  assert.equal(cust.modules.acquisition, byName['customers.txt'].rows);
});

let cleanData;
test('golden records equal the true persons and companies; every valid row reaches the profile', () => {
  cleanData = dataDir('d-clean');
  const sum = JSON.parse(ok(['load', '--data', cleanData, '--json', clean.dir]));
  const t = clean.manifest.truth;
  assert.equal(sum.customers, t.persons + t.companies);
  // Allocation by customer type: retail holds every person (card-only ones too), corporate and
  // merchant the companies of those types.
  const snap = JSON.parse(ok(['pipeline', 'status', '--data', cleanData, '--json'])).batches[0].snapshot;
  assert.deepEqual(snap.subdomains, {
    retail: t.persons,
    corporate: clean.manifest.customer_types.corporate,
    merchant: clean.manifest.customer_types.merchant,
  });
  for (const f of sum.files) {
    assert.equal(f.rejected, 0, f.file);
    assert.equal(f.valid, f.acquired, f.file);
    assert.equal(f.aggregated, f.valid, f.file);
    if (f.kind === 'reference') continue;
    assert.equal(f.transmitted, f.valid, `${f.file}: every row names a customer`);
    assert.equal(f.allocated, f.valid, `${f.file}: every row found its golden record`);
    assert.equal(f.collected, f.valid, `${f.file}: every row reached the profile`);
  }
});

test('profile values and their lineage agree with the extracts', () => {
  const truth = rows(clean.dir, 'truth.txt'); // system, sys_id, entity_type, entity_id
  const entityOf = new Map(truth.filter((r) => r[0] === 'CORE').map((r) => [r[1], r[3]]));
  const keysOf = new Map();
  for (const [k, e] of entityOf) keysOf.set(e, [...(keysOf.get(e) || []), k]);
  const deposits = rows(clean.dir, 'deposits.txt'); // acct_no cust_no dep_type currency balance
  const txns = rows(clean.dir, 'transactions.txt'); // txn_id time cust_no acct dir amount ...
  const byCust = new Map();
  deposits.forEach((r, i) => {
    const e = entityOf.get(r[1]);
    const x = byCust.get(e) || { demand: 0, time: 0, lines: [], txn: 0 };
    if (r[2] === '1') x.demand += cents(r[4]); else x.time += cents(r[4]);
    x.lines.push(i + 1);
    byCust.set(e, x);
  });
  txns.forEach((r) => {
    const x = byCust.get(entityOf.get(r[2]));
    if (x) x.txn += 1;
  });
  // Some customers with deposits, including persons with two core numbers when there are any.
  const entities = [...byCust.keys()].filter((e) => e);
  const twice = entities.filter((e) => keysOf.get(e).length > 1).slice(0, 3);
  const sample = [...twice, ...entities.slice(0, 12)];
  for (const e of sample) {
    const want = byCust.get(e);
    const custNo = keysOf.get(e)[0];
    const ex = JSON.parse(ok(['explain', '--data', cleanData, '--json', custNo]));
    const val = (name) => ex.attributes.find((a) => a.attribute === name).value;
    const asCents = (v) => (v === null ? 0 : cents(v));
    assert.equal(asCents(val('dep_demand_bal')), want.demand, `${custNo} demand`);
    assert.equal(asCents(val('dep_time_bal')), want.time, `${custNo} time`);
    assert.equal(val('txn_count') ?? 0, want.txn, `${custNo} transactions`);
    // Lineage: exactly this person's deposit rows, from this batch's flagged segment.
    const lin = ex.attributes.find((a) => a.attribute === 'dep_time_bal').sources;
    assert.equal(lin.length, 1);
    assert.equal(lin[0].file, 'deposits.txt');
    assert.deepEqual(lin[0].flag, {
      business_type: 'deposit', kind: 'mart', source_system: 'core', batch_date: '20261121',
      load_id: 1,
    });
    assert.equal(lin[0].rows, want.lines.length);
    assert.deepEqual(lin[0].lines, want.lines.slice(0, 20));
  }
  // One attribute only, and the errors.
  const one = JSON.parse(ok(['explain', '--data', cleanData, '--json', keysOf.get(sample[0])[0], 'aum']));
  assert.equal(one.attributes.length, 1);
  let r = tb(['explain', '--data', cleanData, 'no-such-customer']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tagbase explain: /);
  r = tb(['explain', '--data', cleanData, keysOf.get(sample[0])[0], 'no_such_attribute']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no_such_attribute/);
});

test('a file that only looks up finds every row\'s golden record, whatever the row before named', () => {
  // The transactions again, with rows of unknown customer numbers between a customer's rows: the
  // same number twice (a remembered miss), the number cut short by a digit (a prefix of a known
  // one), then the known customer once more. Each row must find its own golden record or none.
  const dir = join(root, 'memo');
  mkdirSync(dir);
  for (const f of readdirSync(clean.dir)) copyFileSync(join(clean.dir, f), join(dir, f));
  const truth = rows(clean.dir, 'truth.txt');
  const entityOf = new Map(truth.filter((r) => r[0] === 'CORE').map((r) => [r[1], r[3]]));
  const out = [];
  let n = 0;
  const id = () => `M${String(n++).padStart(21, '0')}`; // txn_id: unique, 22 bytes
  rows(clean.dir, 'transactions.txt').forEach((r, i) => {
    out.push(r);
    if (i % 3) return;
    const c = r[2];
    const other = (c[0] === '9' ? '8' : '9') + c.slice(1);
    const cut = c.slice(0, -1);
    assert.ok(!entityOf.has(other) && !entityOf.has(cut), `${c}: a made-up number is a customer's`);
    out.push([id(), ...r.slice(1, 2), other, ...r.slice(3)]);
    out.push([id(), ...r.slice(1, 2), other, ...r.slice(3)]);
    out.push([id(), ...r.slice(1, 2), cut, ...r.slice(3)]);
    out.push([id(), ...r.slice(1)]);
  });
  writeFileSync(join(dir, 'transactions.txt'),
    out.map((r) => r.map((v) => (v === null ? '\\N' : v)).join('\x01')).join('\n') + '\n');
  const data = dataDir('d-memo');
  const sum = JSON.parse(ok(['load', '--data', data, '--json', dir]));
  const f = sum.files.find((x) => x.file === 'transactions.txt');
  const known = out.filter((r) => entityOf.has(r[2]));
  assert.equal(f.rejected, 0);
  assert.equal(f.valid, out.length);
  assert.equal(f.transmitted, out.length);
  assert.equal(f.allocated, known.length);
  assert.equal(f.collected, known.length);
  // Per customer: the count of their rows, the made-up ones in none.
  const count = new Map();
  for (const r of known) count.set(entityOf.get(r[2]), (count.get(entityOf.get(r[2])) || 0) + 1);
  const keyOf = new Map([...entityOf].map(([k, e]) => [e, k]));
  for (const e of [...count.keys()].slice(0, 15)) {
    const ex = JSON.parse(ok(['explain', '--data', data, '--json', keyOf.get(e), 'txn_count']));
    assert.equal(ex.attributes[0].value, count.get(e), `${keyOf.get(e)} transactions`);
  }
});

test('an extract split into files of one business type loads as the whole file did', () => {
  // The two workers read the look-up-only files in parallel; files of one type fill the same
  // profile columns, so they must never run at the same time. Split transactions.txt in three.
  const split = join(root, 'split');
  mkdirSync(split);
  const m = JSON.parse(JSON.stringify(clean.manifest));
  const whole = m.files.find((f) => f.name === 'transactions.txt');
  for (const f of m.files) {
    if (f !== whole && existsSync(join(clean.dir, f.name))) {
      copyFileSync(join(clean.dir, f.name), join(split, f.name));
    }
  }
  const lines = readFileSync(join(clean.dir, whole.name), 'utf8').split('\n').filter((l) => l.length);
  const third = Math.ceil(lines.length / 3);
  const parts = [0, 1, 2].map((k) => ({
    ...whole,
    name: `transactions_${k + 1}.txt`,
    rows: lines.slice(k * third, (k + 1) * third).length,
  }));
  parts.forEach((p, k) => writeFileSync(join(split, p.name),
    `${lines.slice(k * third, (k + 1) * third).join('\n')}\n`));
  delete whole.bytes;
  m.files = [...m.files.filter((f) => f !== whole), ...parts.map((p) => { delete p.bytes; return p; })];
  writeFileSync(join(split, 'manifest.json'), JSON.stringify(m));

  const a = dataDir('d-whole');
  const b = dataDir('d-split');
  const sa = JSON.parse(ok(['load', '--data', a, '--json', clean.dir]));
  const sb = JSON.parse(ok(['load', '--data', b, '--json', split]));
  assert.equal(sb.rows, sa.rows);
  assert.equal(sb.customers, sa.customers);
  const t = sb.files.filter((f) => f.business_type === 'transaction');
  assert.equal(t.length, 3);
  assert.equal(t.reduce((n, f) => n + f.collected, 0), lines.length);
  // Every snapshot column, transaction counts, amounts and last times included, is identical.
  assert.deepEqual(hashDir(join(b, 'snapshots', '20261121-1')),
    hashDir(join(a, 'snapshots', '20261121-1')));
});

// Loads `batch` into a new data directory `name` with debug logging and `env`.
function loadWith(batch, name, env) {
  const d = dataDir(name);
  const r = spawnSync(BIN, ['load', '--data', d, '--json', batch], {
    encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, TAGBASE_LOG: 'debug', ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return { d, sum: JSON.parse(r.stdout), log: r.stderr };
}

const quarantineRows = (d) => spawnSync('sqlite3', [join(d, 'meta.db'),
  'SELECT file, line, field, rule FROM quarantine ORDER BY rowid'], { encoding: 'utf8' }).stdout;

// The golden records, their keys, relations and conflicts, row for row.
const masterRows = (d) => spawnSync('sqlite3', [join(d, 'meta.db'),
  'SELECT * FROM party ORDER BY gid; SELECT system, key, gid FROM party_key ORDER BY 1, 2; ' +
  'SELECT * FROM party_relation ORDER BY 1, 2, 3; ' +
  'SELECT gid, field, value_a, source_a, value_b, source_b, chosen FROM party_conflict ORDER BY id'],
{ encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;

// Two loads of one batch came out the same: counts, snapshot, segments, quarantine, master data.
function assertSameLoad(two, one) {
  assert.deepEqual(two.sum.files, one.sum.files);
  assert.deepEqual(hashDir(join(two.d, 'snapshots', `${one.sum.batch_date}-1`)),
    hashDir(join(one.d, 'snapshots', `${one.sum.batch_date}-1`)));
  assert.deepEqual(hashDir(join(two.d, 'domains', one.sum.batch_date, '1')),
    hashDir(join(one.d, 'domains', one.sum.batch_date, '1')));
  assert.equal(quarantineRows(two.d), quarantineRows(one.d));
  const m1 = masterRows(one.d);
  assert.ok(m1.length > 1000, 'master data were written');
  assert.equal(masterRows(two.d), m1);
}

test('the largest file read on one thread and applied on another loads as one thread does', () => {
  // Above 64 MiB the largest parallel file (transactions) is checked on its worker's thread and
  // applied on a second one; TAGBASE_LOAD_PIPE_MIN=1 does that to this small batch too. The dirty
  // batch has duplicate and bad rows in it, so the quarantine's order and counts are compared too.
  const one = loadWith(dirty.dir, 'd-one', { TAGBASE_LOAD_PIPE_MIN: String(2 ** 60) });
  const two = loadWith(dirty.dir, 'd-two', { TAGBASE_LOAD_PIPE_MIN: '1' });
  // it did run on two threads (on a machine of two cores or more, as the load needs for it)
  assert.ok(os.availableParallelism() >= 2, 'this test needs two cores');
  assert.match(two.log, /transactions\.txt: checked on this thread, applied on a second/);
  // and so did the files that create golden records, but for the one the first writer starts in
  assert.match(two.log, /cards\.txt: checked on this thread, applied on a second/);
  assert.doesNotMatch(one.log, /applied on a second/);
  // its duplicate-key map was sized and faulted in while the ordered files were read
  assert.match(two.log, /transactions\.txt: duplicate-key map of \d+ slots prepared/);
  assert.doesNotMatch(one.log, /duplicate-key map of \d+ slots prepared/);
  // every module's count and the rejects by rule and field, file by file, and all they wrote
  assert.ok(one.sum.files.find((f) => f.file === 'transactions.txt').collected > 0);
  assertSameLoad(two, one);
  assert.ok(quarantineRows(one.d).includes('transactions.txt'), 'the dirty transactions have rejects');
});

test('a customer master sized for on the prep thread loads as one thread does', () => {
  // From 65,536 rows an ordered file's look-up tables are planned for the whole file and made
  // ready, with the memory its rows will write, by the load's prep thread; without pipelining
  // (TAGBASE_LOAD_PIPE_MIN above every file) there is no such thread and the applying thread grows
  // them itself. 100,000 customers are some 105,000 rows of the customer master: its key table
  // outgrows the 131,072 slots it has at row 65,536. Whether the applying thread takes the tables
  // before the file ends depends on the prep thread's speed; the result may not.
  assert.ok(os.availableParallelism() >= 2, 'this test needs two cores');
  const mid = gen('mid', ['--customers', '100000', '--seed', '14']);
  const one = loadWith(mid.dir, 'm-one', { TAGBASE_LOAD_PIPE_MIN: String(2 ** 60) });
  const two = loadWith(mid.dir, 'm-two', { TAGBASE_LOAD_PIPE_MIN: '1' });
  assert.match(two.log,
    /customers\.txt: sized for [\d.]+ times its first \d+ rows on the prep thread \(look-up tables of [1-9]\d* MB\)/);
  assert.doesNotMatch(one.log, /on the prep thread/);
  assert.match(one.log, /customers\.txt: identity tables sized for [\d.]+ times its first \d+ rows/);
  assertSameLoad(two, one);
});

test('loading the same batch again gives the identical profile and no duplicates', () => {
  const snapDir = (d) => {
    const st = JSON.parse(ok(['pipeline', 'status', '--data', d, '--json']));
    return join(d, st.batches[0].snapshot.dir);
  };
  const before = hashDir(snapDir(cleanData));
  const sum = JSON.parse(ok(['load', '--data', cleanData, '--json', clean.dir]));
  assert.equal(sum.load_id, 2);
  const after = hashDir(snapDir(cleanData));
  assert.deepEqual(after, before);
  const st = JSON.parse(ok(['pipeline', 'status', '--data', cleanData, '--json']));
  for (const f of st.batches[0].files) {
    assert.equal(f.load_id, 2);
    assert.equal(f.modules.aggregation, f.valid, f.file); // the segment holds each row once
  }
  // The first load's files are gone: one load directory, one snapshot.
  assert.deepEqual(readdirSync(join(cleanData, 'domains', '20261121')), ['2']);
  assert.equal(readdirSync(join(cleanData, 'snapshots')).length, 1);
});

test('a load killed midway leaves the previous state intact, and the re-run succeeds', async () => {
  const big = gen('big', ['--customers', '60000', '--seed', '6'], '20261122');
  const data = dataDir('d-kill');
  ok(['load', '--data', data, clean.dir]); // batch 20261121, load 1
  const status = () => JSON.parse(ok(['pipeline', 'status', '--data', data, '--json']));
  const before = status();
  const child = spawn(BIN, ['load', '--data', data, big.dir], { stdio: 'ignore' });
  await new Promise((res) => setTimeout(res, 300));
  child.kill('SIGKILL');
  const [, signal] = await new Promise((res) => child.on('exit', (c, s) => res([c, s])));
  assert.equal(signal, 'SIGKILL', 'the load was still running when killed');
  assert.deepEqual(status(), before);
  const someone = rows(clean.dir, 'customers.txt')[0][0];
  ok(['explain', '--data', data, someone, 'aum']); // the old snapshot still answers
  // The re-run removes what the killed load wrote and commits.
  const sum = JSON.parse(ok(['load', '--data', data, '--json', big.dir]));
  assert.equal(sum.load_id, 2);
  assert.equal(sum.batch_date, '20261122');
  assert.ok(sum.customers >= big.manifest.truth.persons + big.manifest.truth.companies);
  assert.deepEqual(readdirSync(join(data, 'domains')).sort(), ['20261121', '20261122']);
  assert.deepEqual(readdirSync(join(data, 'domains', '20261122')), ['2']);
  assert.equal(status().batches.length, 2);
});

test('bad inputs: unknown business type, a missing column, GB18030 CSV', () => {
  const data = dataDir('d-bad');
  // A single file of a business type the standards do not know.
  const odd = join(root, 'odd.txt');
  writeFileSync(odd, 'a\x01b\n');
  let r = tb(['load', '--data', data, '--business', 'lottery', '--batch', '20261121', odd]);
  assert.equal(r.status, 1);
  assert.match(r.stdout + r.stderr, /odd\.txt.*business type 'lottery' is not in the data standards/);
  // A single file without a batch date is refused before anything happens.
  r = tb(['load', '--data', data, '--business', 'deposit', odd]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /batch date/);

  // CSV batch (cards.csv is GB18030): loads with the same quarantine as the manifest says.
  const csv = gen('csv', ['--customers', '1500', '--seed', '8', '--dirty', '0.03', '--format', 'csv']);
  const sum = JSON.parse(ok(['load', '--data', data, '--json', csv.dir]));
  const byName = Object.fromEntries(csv.manifest.files.map((f) => [f.name, f]));
  for (const f of sum.files) {
    if (!byName[f.file]) continue;
    const want = Object.fromEntries(
      Object.entries(byName[f.file].defects || {}).filter(([, n]) => n > 0));
    assert.deepEqual(f.rejected_by_rule, want, f.file);
  }
  assert.equal(byName['cards.csv'].encoding, 'GB18030');
  const cards = sum.files.find((f) => f.file === 'cards.csv');
  assert.ok(cards.valid > 0 && cards.error === null);

  // The same CSV with a column renamed in its header: that file is rejected, naming the column;
  // the rest of the batch loads.
  const loanCols = (load) => Object.fromEntries(Object.entries(
    hashDir(join(data, 'snapshots', `20261121-${load}`)))
    .filter(([f]) => f.startsWith('loan_') && !f.startsWith('loan_propensity')));
  const loansBefore = loanCols(2);
  assert.equal(Object.keys(loansBefore).length, 5);
  const broken = join(csv.dir, 'loans.csv');
  const text = readFileSync(broken, 'utf8').replace('loan_type', 'loan_kind');
  writeFileSync(broken, text);
  r = tb(['load', '--data', data, '--json', csv.dir]);
  assert.equal(r.status, 1);
  const again = JSON.parse(r.stdout);
  const loans = again.files.find((f) => f.file === 'loans.csv');
  assert.match(loans.error, /loans\.csv' line 1, column 3: expected 'loan_type', found 'loan_kind'/);
  assert.ok(again.files.find((f) => f.file === 'deposits.csv').valid > 0);
  // The loans of the earlier load (load 2) stay current: nothing already loaded is lost.
  assert.equal(again.load_id, 3);
  assert.ok(existsSync(join(data, 'domains', '20261121', '2', 'loans.csv.seg')));
  assert.ok(!existsSync(join(data, 'domains', '20261121', '3', 'loans.csv.seg')));
  // ... and so do their profile columns: collected again from that segment, not written while the
  // other files were read (the loans file that was read added nothing).
  assert.deepEqual(loanCols(3), loansBefore);
  const st = JSON.parse(ok(['pipeline', 'status', '--data', data, '--json', '--batch', '20261121']));
  const seg = st.batches[0].files.find((f) => f.file === 'loans.csv');
  assert.match(seg.error, /loan_kind/); // the newest attempt, and why it failed
});

test('retention: old segments, quarantine and snapshots go by the settings', () => {
  const data = dataDir('d-life');
  ok(['config', 'set', 'pipeline.snapshot_keep', '1', '--data', data]);
  ok(['config', 'set', 'pipeline.retention_days', '0', '--data', data]);
  assert.equal(ok(['config', 'get', 'pipeline.snapshot_keep', '--data', data]).trim(), '1');
  const a = gen('life-a', ['--customers', '300', '--seed', '9', '--dirty', '0.05'], '20261120');
  const b = gen('life-b', ['--customers', '300', '--seed', '9'], '20261121');
  ok(['load', '--data', data, a.dir]);
  assert.deepEqual(readdirSync(join(data, 'domains')), ['20261120']);
  ok(['load', '--data', data, b.dir]);
  // Only the newest snapshot and the newest batch's segments remain.
  assert.deepEqual(readdirSync(join(data, 'snapshots')), ['20261121-2']);
  assert.deepEqual(readdirSync(join(data, 'domains')), ['20261121']);
  const st = JSON.parse(ok(['pipeline', 'status', '--data', data, '--json']));
  assert.deepEqual(st.batches.map((x) => x.batch_date), ['20261120', '20261121']);
  assert.equal(st.batches[0].snapshot, null); // retired; its statistics stay as the report
  assert.ok(st.batches[0].files.some((f) => f.rejected > 0));
  const r = tb(['config', 'get', 'no.such.key', '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'no.such.key' is not set/);
});

test('check verifies the store, the segments and the snapshot checksums', () => {
  const data = dataDir('d-check');
  const b = gen('check-b', ['--customers', '300', '--seed', '12']);
  ok(['load', '--data', data, b.dir]);
  let r = tb(['check', '--data', data, '--json']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const good = JSON.parse(r.stdout);
  assert.equal(good.ok, true);
  assert.equal(good.snapshots, 1);
  assert.equal(good.master_images, 1);
  assert.ok(good.segments >= 15);
  // Flip one byte of a snapshot column and cut a segment short: both are reported, by name.
  const snap = join(data, 'snapshots', '20261121-1');
  const col = join(snap, 'aum.col');
  const bytes = readFileSync(col);
  bytes[bytes.length - 1] ^= 0xff;
  writeFileSync(col, bytes);
  const seg = join(data, 'domains', '20261121', '1', 'deposits.txt.seg');
  writeFileSync(seg, readFileSync(seg).subarray(0, 100));
  // and one byte in the middle of the master-data look-up image
  const [image] = readdirSync(join(data, 'master'));
  const img = readFileSync(join(data, 'master', image));
  img[img.length >> 1] ^= 0x01;
  writeFileSync(join(data, 'master', image), img);
  r = tb(['check', '--data', data]);
  assert.equal(r.status, 1);
  assert.match(r.stdout, /snapshot: .*aum\.col/);
  assert.match(r.stdout, /master-data image: 'master\/.*\.mdx': .*checksum/);
  assert.match(r.stdout, /segment: 'domains\/20261121\/1\/deposits\.txt\.seg' is 100 bytes/);
  assert.match(r.stdout, /^PROBLEMS/m);
});
