// tag.test.mjs — black-box tests of `tagbase tag`: load the default catalog into a fresh data
// directory, the lifecycle with maker-checker (submit --all as one user, approve --all as the same
// user refused, as another accepted), versions on edit with the online version kept, reject and
// offline, and list / tree / show / history in text and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CATALOG = join(REPO, 'catalog', 'default.json');
const STANDARD = join(REPO, 'standards', 'default.json');
const root = mkdtempSync(join(tmpdir(), 'tb-tag-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const data = join(root, 'data');

function run(args, env = {}) {
  const e = { ...process.env, ...env };
  delete e.TAGBASE_USER;
  return spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', env: { ...e, ...env } });
}

function json(args, env) {
  const r = run([...args, '--json'], env);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const catalog = JSON.parse(readFileSync(CATALOG, 'utf8'));
const ntags = catalog.tags.length;

test('the default catalog loads as drafts, once', () => {
  assert.equal(run(['init']).status, 0);
  assert.equal(run(['standard', 'load', STANDARD]).status, 0);
  assert.ok(ntags >= 200, `only ${ntags} tags`);
  let r = run(['tag', 'load', CATALOG, '--user', 'alice']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^loaded ${ntags} tags in \\d+ themes from '.*default\\.json' as alice: ${ntags} new, 0 changed, 0 unchanged\\n$`));
  const again = json(['tag', 'load', CATALOG, '--user', 'alice']);
  assert.equal(again.unchanged, ntags);
  assert.equal(again.created, 0);
  assert.equal(again.standard_version, 1);
  const list = json(['tag', 'list']);
  assert.equal(list.length, ntags);
  assert.ok(list.every((t) => t.status === 'draft' && t.version === 1 && t.online_version === null));
  for (const code of ['aum_level', 'churn_high', 'age', 'rt_large_inflow'])
    assert.ok(list.some((t) => t.code === code), code);
});

test('maker-checker: the submitter cannot approve, someone else can', () => {
  let r = run(['tag', 'submit', '--all'], { TAGBASE_USER: 'alice' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`submit: ${ntags} tags by alice\\n$`));
  r = run(['tag', 'approve', '--all', '--user', 'alice']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^tagbase tag: approve --all: nothing changed: cannot approve tag '.*' version 1: 'alice' submitted it, and the approver must be someone else \(maker-checker\)\n$/);
  assert.ok(json(['tag', 'list', '--status', 'in_review']).length === ntags);
  const out = json(['tag', 'approve', '--all', '--user', 'bob']);
  assert.equal(out.count, ntags);
  assert.equal(out.user, 'bob');
  assert.ok(out.tags.every((t) => t.from === 'in_review' && t.status === 'online' && t.online_version === 1));
  assert.equal(json(['tag', 'list', '--status', 'online']).length, ntags);
});

test('tree: themes, sub-themes and tags with counts', () => {
  const tree = json(['tag', 'tree']);
  assert.equal(tree.tags, ntags);
  assert.equal(tree.online, ntags);
  const names = tree.themes.map((t) => `${t.name_zh}/${t.customer_types[0]}`);
  for (const n of ['资产', '负债', '产品', '交易', '价值', '风险', '自然属性'])
    assert.ok(names.includes(`${n}/retail`), n);
  for (const n of ['基本信息', '经营', '产品', '交易', '风险', '集团关系'])
    assert.ok(names.includes(`${n}/corporate`), n);
  let sum = 0;
  for (const t of tree.themes) {
    assert.equal(t.level, 1);
    assert.equal(t.tags, t.children.reduce((a, c) => a + c.tags, 0));
    for (const c of t.children) assert.equal(c.items.length, c.tags);
    sum += t.tags;
  }
  assert.equal(sum, ntags);
  const aum = tree.themes.find((t) => t.code === 'r_asset').children.find((c) => c.code === 'r_asset_aum');
  assert.ok(aum.items.some((i) => i.code === 'aum_level' && i.name_zh === '资产等级'));
  const r = run(['tag', 'tree']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^r_asset 资产 \/ Assets \(\d+ tags, \d+ online\)\n/);
  assert.match(r.stdout, new RegExp(`${ntags} tags, ${ntags} online\\n$`));
});

test('show by code or name, with usage and coverage', () => {
  const s = json(['tag', 'show', '资产等级']);
  assert.equal(s.code, 'aum_level');
  assert.equal(s.type, 'rule');
  assert.equal(s.value_type, 'enum');
  assert.deepEqual(s.values.map((v) => v.value), ['L1', 'L2', 'L3', 'L4', 'L5']);
  assert.equal(s.version, 1);
  assert.equal(s.status, 'online');
  assert.equal(s.online_version, 1);
  assert.equal(s.author, 'alice');
  assert.deepEqual(s.theme_path.map((t) => t.code), ['r_asset', 'r_asset_aum']);
  assert.deepEqual(s.usage, { segments: 0, queries_30d: 0 });
  assert.equal(s.coverage, null);
  assert.equal(json(['tag', 'show', 'AUM LEVEL']).code, 'aum_level');
  const r = run(['tag', 'show', 'aum_level']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^aum_level  资产等级 \/ AUM level\n/);
  assert.match(r.stdout, /value L1 +大众客户 \/ Mass  when aum < 50000\n/);
  const missing = run(['tag', 'show', 'no_such_tag']);
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr, "tagbase tag: no tag 'no_such_tag' in the catalog\n");
});

test('an edit is a new draft version; the online one stays until approved', () => {
  const edited = structuredClone(catalog);
  const t = edited.tags.find((x) => x.code === 'churn_high');
  t.values[0].when = 'churn_score >= 0.7';
  t.description = 'Churn score at least 0.7.';
  const path = join(root, 'edited.json');
  writeFileSync(path, JSON.stringify(edited, null, 2));
  let r = run(['tag', 'load', path, '--user', 'carol']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /1 changed/);
  assert.match(r.stdout, /\n  churn_high: version 2 \(draft\)\n/);
  let s = json(['tag', 'show', 'churn_high']);
  assert.equal(s.version, 2);
  assert.equal(s.status, 'draft');
  assert.equal(s.online_version, 1);
  assert.equal(s.values[0].when, 'churn_score >= 0.7');
  const v1 = json(['tag', 'show', 'churn_high', '--version', '1']);
  assert.equal(v1.values[0].when, 'churn_score >= 0.6');
  assert.equal(v1.version_status, 'online');

  // the author may submit; the reviewer rejects with a comment, then a second round is approved
  assert.equal(run(['tag', 'submit', 'churn_high', '--user', 'carol']).status, 0);
  r = run(['tag', 'reject', 'churn_high', '--user', 'bob']);
  assert.equal(r.status, 2); // usage: --comment is required
  assert.match(r.stderr, /reject needs --comment/);
  r = run(['tag', 'reject', 'churn_high', '--user', 'bob', '--comment', 'keep 0.6 until Q3']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /churn_high version 2: in_review -> draft/);
  assert.equal(run(['tag', 'submit', 'churn_high', '--user', 'carol']).status, 0);
  r = run(['tag', 'approve', 'churn_high', '--user', 'carol']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'carol' submitted it/);
  assert.equal(run(['tag', 'approve', 'churn_high', '--user', 'dave']).status, 0);
  s = json(['tag', 'show', 'churn_high']);
  assert.equal(s.online_version, 2);
  assert.equal(json(['tag', 'show', 'churn_high', '--version', '1']).version_status, 'superseded');

  const h = json(['tag', 'history', 'churn_high']);
  assert.deepEqual(h.versions.map((v) => [v.version, v.author, v.status]), [[1, 'alice', 'superseded'], [2, 'carol', 'online']]);
  assert.deepEqual(h.events.map((e) => `${e.version}:${e.action}:${e.actor}`), [
    '1:create:alice', '1:submit:alice', '1:approve:bob', '1:publish:bob',
    '2:edit:carol', '2:submit:carol', '2:reject:bob', '2:submit:carol', '2:approve:dave', '2:publish:dave',
  ]);
  assert.equal(h.events[6].comment, 'keep 0.6 until Q3');
  r = run(['tag', 'history', 'churn_high']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^churn_high: status online, version 2\n/);
});

test('offline stops a tag; list filters', () => {
  let r = run(['tag', 'offline', 'rt_large_inflow', '--user', 'bob']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /rt_large_inflow version 1: online -> offline/);
  const s = json(['tag', 'show', 'rt_large_inflow']);
  assert.equal(s.status, 'offline');
  assert.equal(s.online_version, null);
  r = run(['tag', 'offline', 'rt_large_inflow', '--user', 'bob']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no version of it is online/);
  assert.deepEqual(json(['tag', 'list', '--status', 'offline']).map((t) => t.code), ['rt_large_inflow']);

  const txn = json(['tag', 'list', '--theme', '交易', '--search', '30']);
  assert.ok(txn.length > 5);
  assert.ok(txn.every((t) => t.theme_l1 === 'r_txn'));
  const sub = json(['tag', 'list', '--theme', 'r_asset_aum']);
  assert.ok(sub.length >= 5 && sub.every((t) => t.theme === 'r_asset_aum'));
  assert.equal(json(['tag', 'list', '--unused']).length, ntags); // nothing uses tags yet
  r = run(['tag', 'list', '--status', 'live']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /'live' is not a status/);
  r = run(['tag', 'list', '--search', 'birthday']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /birthday_this_month +online/);
  assert.match(r.stdout, /\n2 tags\n$/);
});

test('usage errors and refusals', () => {
  assert.equal(run(['tag']).status, 2);
  assert.equal(run(['tag', 'submit']).status, 2);
  assert.equal(run(['tag', 'reject', '--all', '--comment', 'x']).status, 2);
  assert.equal(run(['tag', 'show', 'age', '--user', 'x']).status, 2);
  const bad = structuredClone(catalog);
  bad.tags[3].pi_class = 'C3';
  const path = join(root, 'bad.json');
  writeFileSync(path, JSON.stringify(bad));
  const r = run(['tag', 'load', path, '--user', 'alice']);
  assert.equal(r.status, 1);
  assert.equal(r.stderr, `tagbase tag: ${path}: tags[3]: tag '${bad.tags[3].code}': field 'pi_class': class C3 (authentication data, JR/T 0171) is never stored\n`);
});
