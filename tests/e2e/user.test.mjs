// user.test.mjs — black-box tests of users, roles, API tokens and the audit log through the
// binary: a generated one-time password is shown once (and works nowhere else), the password
// policy, scoped roles need their scope, tokens are printed once and listed without their secret,
// every change is audited under the operating-system user, and `audit verify` catches a record
// edited behind tagbase's back (exit 1, the right seq).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const root = mkdtempSync(join(tmpdir(), 'tb-user-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const data = join(root, 'data');
const env = { ...process.env, TAGBASE_USER: 'ops.admin' };

function run(args, input) {
  return spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', input, env });
}
function ok(args, input) {
  const r = run(args, input);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args) => JSON.parse(ok([...args, '--json']));

test('setup', () => {
  ok(['init']);
});

let oneTime;
test('user add prints a generated one-time password once', () => {
  const out = ok(['user', 'add', 'alice', '--role', 'analyst']);
  const m = out.match(/one-time password: (\S+)/);
  assert.ok(m, out);
  oneTime = m[1];
  assert.ok(oneTime.length >= 16);
  // shown nowhere else: not in the list, not in the audit
  const list = ok(['user', 'list', '--json']);
  assert.ok(!list.includes(oneTime));
  assert.ok(!ok(['audit', 'list', '--json']).includes(oneTime));
  const users = JSON.parse(list);
  assert.equal(users.length, 1);
  assert.equal(users[0].name, 'alice');
  assert.equal(users[0].must_change, true);
  assert.equal(users[0].pw_hash, undefined);
  // a second user gets a different password
  const out2 = ok(['user', 'add', 'amy', '--role', 'auditor']);
  assert.notEqual(out2.match(/one-time password: (\S+)/)[1], oneTime);
});

test('password from stdin, the policy and scopes', () => {
  let r = run(['user', 'add', 'bob', '--role', 'analyst', '--password-stdin'], 'tiny-pw\n');
  assert.equal(r.status, 1);
  assert.match(r.stderr, /password is too short: 7 characters, at least 10/);
  assert.ok(!r.stderr.includes('tiny-pw'));
  const out = ok(['user', 'add', 'bob', '--role', 'branch_manager', '--scope', 'org:0101',
    '--password-stdin'], 'a long passphrase\n');
  assert.ok(!out.includes('one-time password'));
  r = run(['user', 'add', 'carl', '--role', 'customer_manager']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /needs a manager scope/);
  ok(['user', 'add', 'carl', '--role', 'customer_manager', '--scope', 'manager:M042']);
  r = run(['user', 'add', 'bob', '--role', 'analyst']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /exists/);
  r = run(['user', 'add', 'dan', '--role', 'wizard']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no role 'wizard'/);
  r = run(['user', 'add', 'dan', '--role', 'analyst', '--scope', 'planet:3']);
  assert.equal(r.status, 1);
  const users = json(['user', 'list']);
  const bob = users.find((u) => u.name === 'bob');
  assert.equal(bob.scope, 'org');
  assert.equal(bob.scope_id, '0101');
  assert.equal(bob.must_change, false);
  assert.equal(users.find((u) => u.name === 'carl').scope_id, 'M042');
  const text = ok(['user', 'list']);
  assert.match(text, /bob\s+branch_manager\s+org:0101\s+active/);
});

test('passwd, role, disable and enable', () => {
  const out = ok(['user', 'passwd', 'bob']);
  assert.match(out, /one-time password: \S{16,}/);
  ok(['user', 'passwd', 'bob', '--password-stdin'], 'another passphrase\n');
  // a role change needs a second person's approval on the command line too (refused, audited)
  let r = run(['user', 'role', 'alice', 'marketing_manager']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /needs an approved 'role_change' request/);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'alice').role, 'analyst');
  const denied = json(['audit', 'list', '--action', 'user.role']);
  assert.equal(denied[0].outcome, 'denied');
  assert.deepEqual(denied[0].detail, { approval: 'missing' });
  r = run(['user', 'role', 'alice', 'branch_manager', '--approval', '1']);
  assert.equal(r.status, 1);
  // with a second person's approval it goes through (ops.admin asks, the admin boss approves)
  ok(['user', 'add', 'boss', '--role', 'admin', '--password-stdin'], 'boss passphrase\n');
  const req = json(['approval', 'request', 'role_change', '--payload',
    '{"user":"alice","role":"marketing_manager"}']);
  ok(['approval', 'approve', String(req.id), '--user', 'boss']);
  ok(['user', 'role', 'alice', 'marketing_manager', '--approval', String(req.id)]);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'alice').role, 'marketing_manager');
  ok(['user', 'disable', 'alice']);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'alice').disabled, true);
  ok(['user', 'enable', 'alice']);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'alice').disabled, false);
  r = run(['user', 'disable', 'nobody']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no user 'nobody'/);
});

test('roles: built-in list and a custom role', () => {
  const roles = json(['role', 'list']);
  assert.deepEqual(roles.slice(0, 8).map((x) => x.name), ['admin', 'data_steward',
    'tag_developer', 'analyst', 'marketing_manager', 'branch_manager', 'customer_manager',
    'auditor']);
  assert.ok(!roles.find((x) => x.name === 'analyst').perms.includes('pii.clear'));
  assert.ok(roles.find((x) => x.name === 'auditor').perms.includes('audit.read'));
  ok(['role', 'add', 'risk', '--perms', 'seg.read,customer.view', '--description', 'risk team']);
  const risk = json(['role', 'list']).find((x) => x.name === 'risk');
  assert.deepEqual(risk.perms, ['seg.read', 'customer.view']);
  assert.equal(risk.builtin, false);
  let r = run(['role', 'add', 'bad', '--perms', 'seg.read,fly']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /unknown permission 'fly'/);
  r = run(['role', 'add', 'admin', '--perms', 'seg.read']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /built in/);
  ok(['user', 'add', 'rita', '--role', 'risk']);
});

test('tokens: printed once, listed without the secret, narrowed, revoked', () => {
  const r = run(['user', 'token', 'create', 'alice', '--name', 'crm', '--perms', 'seg.read',
    '--days', '30']);
  assert.equal(r.status, 0, r.stderr);
  const token = r.stdout.trim();
  assert.match(token, /^tbt_[0-9a-f]{64}$/);
  const t2 = json(['user', 'token', 'create', 'alice', '--name', 'all']);
  assert.match(t2.token, /^tbt_/);
  const bad = run(['user', 'token', 'create', 'alice', '--name', 'x', '--perms', 'pii.clear']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /does not have pii.clear/);
  let list = json(['user', 'token', 'list', 'alice']);
  assert.equal(list.length, 2);
  assert.deepEqual(list[0].perms, ['seg.read']);
  assert.equal(list[0].state, 'active');
  const all = ok(['user', 'token', 'list', '--json']);
  assert.ok(!all.includes(token.slice(4)) && !all.includes(t2.token.slice(4)));
  assert.ok(!ok(['audit', 'list', '--json']).includes(token.slice(4)));
  ok(['user', 'token', 'revoke', String(list[0].id)]);
  list = json(['user', 'token', 'list', 'alice']);
  assert.equal(list[0].state, 'revoked');
  assert.equal(run(['user', 'token', 'revoke', '999']).status, 1);
  assert.equal(json(['user', 'token', 'list', 'bob']).length, 0);
});

test('every change is audited under the OS user; the chain verifies', () => {
  const recs = json(['audit', 'list', '--limit', '1000']);
  assert.ok(recs.length >= 12);
  // all by the OS user but the approver; refused only the role changes without an approval
  assert.ok(recs.every((x) => (x.actor === 'ops.admin' || x.action === 'approval.approve') &&
    (x.outcome === 'ok' || ['user.role', 'approval.use'].includes(x.action))));
  const actions = new Set(recs.map((x) => x.action));
  for (const a of ['user.add', 'user.passwd', 'user.role', 'user.disable', 'user.enable',
    'role.add', 'token.create', 'token.revoke'])
    assert.ok(actions.has(a), a);
  assert.ok(recs[0].seq > recs[1].seq);
  const roleChange = recs.find((x) => x.action === 'user.role' && x.outcome === 'ok');
  assert.deepEqual(roleChange.detail, { from: 'analyst', to: 'marketing_manager' });
  assert.equal(json(['audit', 'list', '--action', 'token']).length, 3);
  assert.equal(json(['audit', 'list', '--actor', 'someone-else']).length, 0);
  assert.equal(json(['audit', 'list', '--limit', '2']).length, 2);
  const v = json(['audit', 'verify']);
  assert.equal(v.ok, true);
  assert.equal(v.records, recs.length);
  assert.match(ok(['audit', 'verify']), /audit chain intact: \d+ records/);
  assert.equal(run(['audit', 'bogus']).status, 2);
});

// The edit goes behind tagbase's back through the sqlite3 shell (Debian package sqlite3,
// installed by scripts/deps.sh for exactly this kind of test).
function editStore(sql) {
  const db = join(data, 'meta.db');
  const r = spawnSync('sqlite3', [db, sql], { encoding: 'utf8' });
  assert.equal(r.status, 0, `sqlite3 ${sql}: ${r.error || r.stderr}`);
}

test('audit verify catches a record edited behind tagbase', () => {
  editStore("UPDATE audit SET actor = 'mallory' WHERE seq = 3");
  const r = run(['audit', 'verify', '--json']);
  assert.equal(r.status, 1);
  const v = JSON.parse(r.stdout);
  assert.equal(v.ok, false);
  assert.equal(v.broken_at, 3);
  assert.match(v.reason, /record 3 was edited/);
  const txt = run(['audit', 'verify']);
  assert.equal(txt.status, 1);
  assert.match(txt.stdout, /broken at seq 3/);
});
