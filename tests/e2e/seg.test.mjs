// seg.test.mjs — black-box tests of finding customers (搜客) and saved segments (客群) through the
// binary, on a bank made by `tagbase gen`, loaded, with the default catalog published and built:
// counts obey set algebra (A + not A = everyone, inclusion-exclusion, JSON form = text form),
// errors show a caret and a suggestion, saved segments list/show/profile/overlap/diff/export/import
// agree with counts, exports mask personal fields, --as-of answers from the older batch, the 360
// view finds a customer by number, ID number and mobile, and `tagbase check` catches a damaged
// tag store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-seg-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const data = join(root, 'data');

function run(args) {
  return spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', maxBuffer: 1 << 28 });
}
function ok(args) {
  const r = run(args);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args) => JSON.parse(ok([...args, '--json']));
const count = (expr, extra = []) => json(['seg', 'count', expr, ...extra]).count;

// Two batches of the same bank (the second a day later), loaded; the catalog published by two
// people; tags built for both.
let live1, live2;
test('setup: two batches loaded, catalog published, tags built', () => {
  ok(['init']);
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  for (const date of ['20261120', '20261121']) {
    const land = join(root, `land-${date}`);
    const r = spawnSync(BIN, ['gen', '--customers', '3000', '--seed', date === '20261120' ? '7' : '8',
      '--date', date, '--out', land], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    ok(['load', land]);
  }
  ok(['tag', 'load', join(REPO, 'catalog', 'default.json'), '--user', 'dev']);
  ok(['tag', 'submit', '--all', '--user', 'dev']);
  ok(['tag', 'approve', '--all', '--user', 'steward']);
  live1 = json(['tag', 'build', '--batch', '20261120']).customers;
  live2 = json(['tag', 'build', '--batch', '20261121']).customers;
  assert.ok(live1 > 2500 && live2 > 2500);
});

test('counts obey set algebra; the JSON form equals the text form', () => {
  const a = "aum_level in ('L4','L5')", b = 'age between 30 and 45';
  const na = count(a), nb = count(b);
  assert.equal(na + count(`not (${a})`), live2);
  assert.equal(count(`(${a}) or (${b})`), na + nb - count(`(${a}) and (${b})`));
  const issue = "aum_level in ('L4','L5') and not churn_high and age between 30 and 45 and \"资产等级\" != 'L1'";
  const r = json(['seg', 'count', issue]);
  assert.equal(r.batch_date, '20261121');
  assert.deepEqual(r.tags.sort(), ['age', 'aum_level', 'churn_high']);
  assert.equal(json(['seg', 'count', JSON.stringify(r.json), '--json-expr']).count, r.count);
  assert.equal(count(r.expression), r.count); // the canonical text round-trips
  assert.equal(count('AGE BETWEEN 30 AND 45'), nb); // keywords are case-insensitive
  assert.equal(count('"年龄" between 30 and 45'), nb); // a tag by its Chinese name
});

test('errors say where, show a caret and suggest the tag meant', () => {
  let r = run(['seg', 'count', 'agee > 30']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown tag 'agee' \(did you mean 'age'\?\) at character 1/);
  assert.match(r.stderr, /\n\s+agee > 30\n\s+\^/);
  r = run(['seg', 'count', 'age between 30 45']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /\^/);
  r = run(['seg', 'count', "aum_level = 'L9'"]);
  assert.match(r.stderr, /'L9' is not a value of tag 'aum_level'/);
});

test('--as-of answers from the older batch', () => {
  const e = 'age >= 40';
  const old = json(['seg', 'count', e, '--as-of', '20261120']);
  assert.equal(old.batch_date, '20261120');
  assert.equal(old.count + count(`not (${e})`, ['--as-of', '20261120']), live1);
  const r = run(['seg', 'count', e, '--as-of', '20200101']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no tags built for 20200101/);
});

test('saved segments: list, show, profile, overlap, export (masked), import, diff', () => {
  const ea = "aum_level in ('L3','L4','L5')", eb = 'age < 40';
  const sa = json(['seg', 'save', '高净值', ea, '--user', 'analyst']);
  assert.equal(sa.count, count(ea));
  json(['seg', 'save', 'young', eb, '--user', 'analyst']);
  const r = run(['seg', 'save', 'young', eb]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists/);
  const list = json(['seg', 'list']).segments.map((s) => s.name);
  assert.deepEqual(list.sort(), ['young', '高净值'].sort());
  const show = json(['seg', 'show', '高净值']);
  assert.equal(show.kind, 'dynamic');
  assert.deepEqual(show.tags, ['aum_level']);
  assert.equal(show.history.at(-1).count, sa.count);
  // a segment in an expression
  assert.equal(count("segment('高净值') and segment('young')"), count(`(${ea}) and (${eb})`));
  // profile: the values add up to the members
  const p = json(['seg', 'profile', '高净值', '--by', 'aum_level']);
  assert.equal(p.values.reduce((s, v) => s + v.count, 0) + p.null, sa.count);
  assert.equal(p.values.find((v) => v.value === 'L1').count, 0);
  const pa = json(['seg', 'profile', 'young', '--by', 'age']);
  assert.ok(pa.max < 40 && pa.min >= 0 && pa.p50 >= pa.p25 && pa.p75 >= pa.p50);
  // overlap
  const o = json(['seg', 'overlap', '高净值', 'young']);
  assert.equal(o.both, count(`(${ea}) and (${eb})`));
  assert.equal(o.either, count(`(${ea}) or (${eb})`));
  // export: one row per member, personal fields masked
  const out = join(root, 'export.csv');
  const ex = json(['seg', 'export', 'young', '--out', out, '--fields', 'cust_no,name,mobile,cert_no,age']);
  const lines = readFileSync(out, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'cust_no,name,mobile,cert_no,age');
  assert.equal(lines.length - 1, ex.rows);
  assert.equal(ex.rows, count(eb));
  assert.deepEqual(ex.masked_fields, ['name', 'mobile', 'cert_no']);
  for (const l of lines.slice(1, 200)) {
    const [, name, mobile, cert, age] = l.split(',');
    if (mobile) assert.match(mobile, /^1\d{2}\*{4}\d{4}$/);
    if (cert) assert.match(cert, /\*/);
    if (name) assert.match(name, /\*/);
    assert.ok(Number(age) < 40);
  }
  // import: known customer numbers become the segment, unknown ones are reported with their line
  const keys = lines.slice(1, 51).map((l) => l.split(',')[0]);
  const list2 = join(root, 'list.txt');
  writeFileSync(list2, ['# customers to call', ...keys, 'NO-SUCH-1', '', 'NO-SUCH-2'].join('\n'));
  const im = json(['seg', 'import', 'callback', list2]);
  assert.equal(im.count, 50);
  assert.equal(im.unknown_count, 2);
  assert.deepEqual(im.unknown.map((u) => u.line), [52, 54]);
  assert.equal(count("segment('callback') and segment('young')"), 50);
  // diff: saved on the newest batch, so no previous membership yet; after rebuilding the older
  // batch's tags nothing changes for the newest one
  const d = json(['seg', 'diff', 'young']);
  assert.equal(d.count, count(eb));
});

test('diff: who entered and who left since the previous batch', () => {
  // a segment saved on the older batch and carried to the newer one by its tag build
  json(['seg', 'save', 'mid-age', 'age between 35 and 50', '--as-of', '20261120']);
  json(['tag', 'build', '--batch', '20261121']);
  const d = json(['seg', 'diff', 'mid-age', '--sample', '5']);
  assert.equal(d.batch_date, '20261121');
  assert.equal(d.previous_batch, '20261120');
  assert.equal(d.count, count('age between 35 and 50'));
  assert.equal(d.previous_count, count('age between 35 and 50', ['--as-of', '20261120']));
  assert.equal(d.count, d.stayed + d.entered);
  assert.equal(d.previous_count, d.stayed + d.left);
  assert.ok(d.entered_sample.length <= 5);
  const h = json(['seg', 'show', 'mid-age']).history.map((x) => x.batch_date);
  assert.deepEqual(h, ['20261120', '20261121']);
});

test('360 view: by customer number, ID number and mobile, masked, with tags and segments', () => {
  const out = join(root, 'one.csv');
  json(['seg', 'export', 'young', '--out', out, '--fields', 'cust_no,gid']);
  const [custNo, gid] = readFileSync(out, 'utf8').trim().split('\n')[1].split(',');
  const v = json(['customer', 'show', custNo]);
  assert.equal(String(v.gid), gid);
  assert.equal(v.batch_date, '20261121');
  assert.ok(v.segments.includes('young'));
  const tags = v.tags.flatMap((g) => g.tags);
  assert.ok(tags.length > 20);
  const age = tags.find((t) => t.code === 'age');
  assert.ok(age.value < 40);
  assert.ok(age.lineage.sources.length > 0);
  const text = JSON.stringify(v);
  // no ID number or mobile in clear anywhere in the view
  assert.doesNotMatch(text, /\b\d{17}[\dX]\b/);
  assert.doesNotMatch(text, /\b1[3-9]\d{9}\b/);
  const t = ok(['customer', 'show', custNo]);
  assert.match(t, /tags of 20261121/);
  assert.equal(v.masked, true);
  // unmasked (for callers with the right): the certificate as stored
  const u = json(['customer', 'show', custNo, '--unmasked']);
  assert.equal(u.masked, false);
  if (typeof u.cert_no === 'string') assert.doesNotMatch(u.cert_no, /\*/);
  // by ID number and by mobile (an unmasked export is what a permitted caller gets)
  const ou = join(root, 'unmasked.csv');
  json(['seg', 'export', 'young', '--out', ou, '--fields', 'gid,cert_no,mobile', '--unmasked']);
  const rows = readFileSync(ou, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  const withCert = rows.find((r) => /^\d{17}[\dX]$/.test(r[1]));
  assert.ok(withCert, 'an exported customer with an ID number');
  assert.equal(String(json(['customer', 'show', withCert[1]]).gid), withCert[0]);
  const withMobile = rows.find((r) => /^1[3-9]\d{9}$/.test(r[2]));
  const m = run(['customer', 'show', withMobile[2], '--json']);
  if (m.status === 0) assert.equal(String(JSON.parse(m.stdout).gid), withMobile[0]);
  else assert.match(m.stderr, /use the customer number/); // a mobile shared by several
});

test('scopes: a customer manager and a branch see only their customers, by every route', () => {
  const all = count('age >= 0');
  const prof = json(['seg', 'profile', 'age >= 0', '--by', 'mgr_id']);
  const mine = prof.values.filter((v) => v.count > 0).sort((a, b) => b.count - a.count)[0];
  const scope = ['--scope', `manager:${mine.value}`];
  assert.equal(count('age >= 0', scope), mine.count);
  assert.equal(count('not (age >= 0)', scope) + mine.count, count('age >= 0 or age is null', scope));
  assert.ok(mine.count < all);
  // a saved segment, profiled, overlapped and exported within the scope
  const p = json(['seg', 'profile', 'young', '--by', 'mgr_id', ...scope]);
  assert.deepEqual(p.values.filter((v) => v.count > 0).map((v) => v.value), [mine.value]);
  const o = json(['seg', 'overlap', 'young', '高净值', ...scope]);
  assert.ok(o.count_a <= mine.count);
  const out = join(root, 'scoped.csv');
  const ex = json(['seg', 'export', 'young', '--out', out, '--fields', 'cust_no,mgr_id', ...scope]);
  const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1);
  assert.equal(rows.length, ex.rows);
  assert.ok(rows.every((r) => r.endsWith(`,${mine.value}`)));
  // the root of the org tree sees everyone; an unknown manager nobody
  assert.equal(count('age >= 0', ['--scope', 'org:100000']), all);
  assert.equal(count('age >= 0', ['--scope', 'manager:NO-SUCH']), 0);
});

test('exports keep only the customers whose consent allows the purpose (PIPL ledger)', () => {
  const out = join(root, 'consent.csv');
  const all = json(['seg', 'export', 'young', '--out', out, '--fields', 'cust_no']);
  const first = readFileSync(out, 'utf8').trim().split('\n')[1];
  ok(['consent', 'set', first, '--purpose', 'marketing', '--channel', 'sms', '--grant']);
  // marketing is opt-in: without a grant nobody may be sent an SMS
  const mk = json(['seg', 'export', 'young', '--out', out, '--fields', 'cust_no', '--purpose', 'marketing', '--channel', 'sms']);
  assert.equal(mk.rows, 1);
  assert.equal(mk.without_consent, all.rows - 1);
  assert.deepEqual(readFileSync(out, 'utf8').trim().split('\n'), ['cust_no', first]);
  ok(['consent', 'set', first, '--purpose', 'marketing', '--channel', 'any', '--withdraw']);
  assert.equal(json(['seg', 'export', 'young', '--out', out, '--purpose', 'marketing', '--channel', 'sms']).rows, 0);
  // profiling is opt-out: everyone stays
  assert.equal(json(['seg', 'export', 'young', '--out', out, '--purpose', 'profiling']).rows, all.rows);
});

test('tagbase check verifies the tag stores and catches a damaged one', () => {
  let c = json(['check']);
  assert.equal(c.ok, true);
  assert.ok(c.tag_builds >= 2 && c.segment_members >= 4);
  const tagsDir = join(data, 'tags');
  const build = readdirSync(tagsDir).sort().at(-1);
  const f = join(tagsDir, build, 'age.tag');
  const b = readFileSync(f);
  b[b.length - 3] ^= 0x55;
  writeFileSync(f, b);
  const r = run(['check', '--json']);
  assert.equal(r.status, 1);
  c = JSON.parse(r.stdout);
  assert.equal(c.ok, false);
  assert.ok(c.problems.some((p) => p.what === 'tags' && /age\.tag/.test(p.detail)));
});
