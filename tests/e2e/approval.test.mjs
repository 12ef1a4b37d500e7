// approval.test.mjs — black-box tests of maker-checker approvals, the consent ledger and the
// abnormal-access alerts through the binary: a request is decided by a second person with the
// checker permissions (never the requester), a role change goes through `user role --approval`
// exactly once, payloads must match, expiry shows; consent is granted and withdrawn by customer
// number and by mobile on a small generated and loaded bank, with its history; a named user who
// reads too many ledgers is blocked (alert in the audit) until an admin clears it; and the audit
// chain still verifies at the end.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-appr-'));
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
function fails(args, re, status = 1) {
  const r = run(args);
  assert.equal(r.status, status, `tagbase ${args.join(' ')} should fail: ${r.stdout}`);
  if (re) assert.match(r.stderr, re);
  return r.stderr;
}
const json = (args) => JSON.parse(ok([...args, '--json']));
const audit = (action) => json(['audit', 'list', '--action', action, '--limit', '1000']);

let custNo, mobile;
test('setup: a small bank loaded, users of several roles', () => {
  ok(['init']);
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  const land = join(root, 'land');
  const r = spawnSync(BIN, ['gen', '--customers', '300', '--seed', '5', '--date', '20261121',
    '--out', land], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  ok(['load', land]);
  const v = json(['customer', 'show', '1', '--unmasked']);
  custNo = v.keys.find((k) => k.system === 'core').key;
  mobile = v.attributes.mobile.value;
  for (const [name, role] of [['alice', 'analyst'], ['carol', 'analyst'], ['bob', 'admin'],
    ['dave', 'admin'], ['erin', 'auditor']])
    ok(['user', 'add', name, '--role', role, '--password-stdin'], 'a long passphrase\n');
});

test('an export approval: requested, refused to the requester and to a non-checker, approved', () => {
  const payload = JSON.stringify({ segment: '高净值', fields: ['cust_no', 'aum_level'], customers: 25000 });
  const req = json(['approval', 'request', 'export_large', '--payload', payload, '--user', 'alice']);
  assert.equal(req.status, 'pending');
  const id = String(req.id);
  fails(['approval', 'approve', id, '--user', 'alice'], /second person/);
  fails(['approval', 'approve', id, '--user', 'carol'], /needs seg\.export,user\.admin/);
  ok(['approval', 'approve', id, '--user', 'bob', '--comment', 'quarterly review']);
  const shown = json(['approval', 'show', id]);
  assert.equal(shown.status, 'approved');
  assert.equal(shown.decided_by, 'bob');
  assert.deepEqual(shown.payload, JSON.parse(payload));
  // alice sees her own requests; carol (no checker permissions) sees none of hers; bob all
  assert.equal(json(['approval', 'list', '--user', 'alice']).length, 1);
  assert.equal(json(['approval', 'list', '--user', 'carol']).length, 0);
  assert.equal(json(['approval', 'list', '--status', 'approved', '--user', 'bob']).length, 1);
  assert.match(ok(['approval', 'list']), /export_large\s+alice\s+approved/);
  const denied = audit('approval.approve').filter((r) => r.outcome === 'denied');
  assert.equal(denied.length, 2);
  assert.ok(audit('approval.request').some((r) => r.actor === 'alice' && r.outcome === 'ok'));
});

test('bad requests are refused with what is wrong', () => {
  fails(['approval', 'request', 'export_large', '--payload', '{"segment":'], /not a JSON object/);
  fails(['approval', 'request', 'export_unmasked', '--payload', '{"segment":"s"}', '--user', 'alice'],
    /needs it/);
  fails(['approval', 'request', 'launch_missiles', '--payload', '{}'], /unknown approval kind/);
  fails(['approval', 'request', 'role_change', '--payload', '{"user":"carol","role":"admin"}',
    '--user', 'alice'], /needs user\.admin/);
  fails(['approval', 'request', 'export_large', '--payload', '{"segment":"s"}', '--user', 'nobody'],
    /no user 'nobody'/);
  fails(['approval', 'reject', '1'], null, 2); // a rejection needs --comment
  fails(['approval', 'approve', '999', '--user', 'bob'], /no approval request 999/);
  fails(['approval', 'list', '--status', 'maybe'], /status must be/);
});

test('a role change needs an approval, used once and only for what was approved', () => {
  // ops.admin (the operating-system user) asks; bob decides
  const id = String(json(['approval', 'request', 'role_change', '--payload',
    '{"role":"marketing_manager","user":"carol"}']).id);
  fails(['user', 'role', 'carol', 'marketing_manager', '--approval', id], /pending, not approved/);
  ok(['approval', 'approve', id, '--user', 'bob']);
  // another role than approved
  fails(['user', 'role', 'carol', 'admin', '--approval', id], /does not cover/);
  // someone else using it
  const r = spawnSync(BIN, ['user', 'role', 'carol', 'marketing_manager', '--approval', id, '--data',
    data], { encoding: 'utf8', env: { ...process.env, TAGBASE_USER: 'mallory' } });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /someone else/);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'carol').role, 'analyst');
  ok(['user', 'role', 'carol', 'marketing_manager', '--approval', id]);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'carol').role, 'marketing_manager');
  fails(['user', 'role', 'carol', 'marketing_manager', '--approval', id], /used once/);
  assert.equal(json(['approval', 'show', id]).status, 'used');
  assert.equal(audit('approval.use').filter((x) => x.outcome === 'ok').length, 1);
  assert.ok(audit('approval.use').filter((x) => x.outcome === 'denied').length >= 4);
  // the subject of a role change cannot approve it
  const id2 = String(json(['approval', 'request', 'role_change', '--payload',
    '{"user":"dave","role":"auditor"}', '--user', 'bob']).id);
  fails(['approval', 'approve', id2, '--user', 'dave'], /their own role/);
  ok(['approval', 'reject', id2, '--comment', 'not now']); // as the operating-system user
  fails(['approval', 'reject', id2, '--comment', 'again'], /rejected, not pending/);
});

test('expired requests show as expired and cannot be decided', () => {
  ok(['config', 'set', 'security.approval_hours', '1']);
  const id = String(json(['approval', 'request', 'export_large', '--payload', '{"segment":"s9"}',
    '--user', 'alice']).id);
  const r = spawnSync('sqlite3', [join(data, 'meta.db'),
    `UPDATE approval SET expires_at = '2000-01-01 00:00:00' WHERE approval_id = ${id}`]);
  assert.equal(r.status, 0, String(r.stderr));
  assert.equal(json(['approval', 'show', id]).status, 'expired');
  assert.equal(json(['approval', 'list', '--status', 'expired']).length, 1);
  fails(['approval', 'approve', id, '--user', 'bob'], /expired, not pending/);
});

test('consent by customer number and by mobile, with history and defaults', () => {
  let v = json(['consent', 'show', custNo]);
  assert.equal(v.customer, custNo);
  assert.equal(v.effective.marketing.sms, false); // opt-in
  assert.equal(v.effective.profiling.any, true); // opt-out
  assert.equal(v.effective.third_party.email, false);
  assert.equal(v.history.length, 0);
  ok(['consent', 'set', custNo, '--purpose', 'marketing', '--channel', 'sms', '--grant',
    '--source', 'mobile_app']);
  ok(['consent', 'set', custNo, '--purpose', 'marketing', '--channel', 'any', '--grant',
    '--source', 'branch', '--user', 'alice']);
  // found by mobile too; a withdrawal on one channel wins over the grant for every channel
  ok(['consent', 'set', mobile, '--purpose', 'marketing', '--channel', 'phone', '--withdraw']);
  v = json(['consent', 'show', custNo]);
  assert.equal(v.effective.marketing.sms, true);
  assert.equal(v.effective.marketing.email, true);
  assert.equal(v.effective.marketing.phone, false);
  assert.deepEqual(v.history.map((h) => [h.action, h.channel, h.actor, h.source]), [
    ['withdraw', 'phone', 'ops.admin', 'cli'],
    ['grant', 'any', 'alice', 'branch'],
    ['grant', 'sms', 'ops.admin', 'mobile_app'],
  ]);
  ok(['consent', 'set', custNo, '--purpose', 'marketing', '--channel', 'any', '--withdraw']);
  v = json(['consent', 'show', custNo]);
  assert.equal(v.effective.marketing.sms, false);
  const text = ok(['consent', 'show', custNo]);
  assert.match(text, /marketing\s+any=no sms=no/);
  assert.match(text, /withdraw marketing\s+any\s+by ops\.admin from cli/);
  // audited under the gid, never the number or the mobile
  const recs = [...audit('consent.grant'), ...audit('consent.withdraw')];
  assert.equal(recs.length, 4);
  assert.ok(recs.every((x) => x.object === `gid:${v.gid}`));
  const all = JSON.stringify(audit('consent'));
  assert.ok(!all.includes(custNo) && !all.includes(mobile));
  // bad input, and a typed mobile is never echoed
  fails(['consent', 'set', custNo, '--purpose', 'marketing', '--channel', 'fax', '--grant'],
    /unknown consent channel 'fax'/);
  fails(['consent', 'set', custNo, '--purpose', 'spam', '--channel', 'sms', '--grant'],
    /unknown consent purpose 'spam'/);
  fails(['consent', 'set', custNo, '--purpose', 'marketing', '--channel', 'sms'], null, 2);
  const err = fails(['consent', 'show', '13900000000'], /no such customer/);
  assert.ok(!err.includes('13900000000'));
  // a custom purpose, given a default
  ok(['config', 'set', 'security.consent.default.research', 'granted']);
  assert.equal(json(['consent', 'show', custNo]).effective.research, undefined);
  ok(['consent', 'set', custNo, '--purpose', 'research', '--channel', 'any', '--withdraw']);
  assert.equal(json(['consent', 'show', custNo]).effective.research.any, false);
  // a user without customer.view may not
  fails(['consent', 'show', custNo, '--user', 'erin'], /needs customer\.view/);
});

test('too many personal-data reads block the user until an admin clears it', () => {
  ok(['config', 'set', 'security.alert.pii_per_hour', '3']);
  for (let i = 0; i < 3; i++) ok(['consent', 'show', custNo, '--user', 'alice']);
  fails(['consent', 'show', custNo, '--user', 'alice'], /alice' is blocked: 4 pii_read in 1h is over the limit of 3/);
  fails(['consent', 'show', custNo, '--user', 'alice'], /is blocked/);
  fails(['approval', 'request', 'export_large', '--payload', '{"segment":"s"}', '--user', 'alice'],
    /is blocked/);
  assert.equal(json(['user', 'list']).find((u) => u.name === 'alice').blocked.startsWith('alert.pii_read'), true);
  const alerts = json(['alert', 'list']);
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0].user, 'alice');
  assert.equal(alerts[0].kind, 'pii_read');
  assert.equal(alerts[0].count, 4);
  assert.equal(alerts[0].limit, 3);
  assert.match(ok(['alert', 'list']), /alice\s+pii_read\s+4\s+1h\s+user blocked/);
  assert.equal(audit('alert').filter((r) => r.outcome === 'denied').length, 1);
  // clearing needs user.admin
  fails(['alert', 'clear', 'alice', '--user', 'carol'], /needs user\.admin/);
  ok(['alert', 'clear', 'alice', '--user', 'bob']);
  fails(['alert', 'clear', 'alice'], /not blocked/);
  assert.equal(json(['alert', 'list'])[0].blocked, null);
  ok(['consent', 'show', custNo, '--user', 'alice']);
  // the operating-system user is never counted
  for (let i = 0; i < 5; i++) ok(['consent', 'show', custNo]);
  assert.ok(audit('user.unblock').some((r) => r.actor === 'bob' && r.outcome === 'ok'));
});

test('the audit chain holds after all of it', () => {
  const v = json(['audit', 'verify']);
  assert.equal(v.ok, true);
  assert.ok(v.records > 20);
});
