// privacy.test.mjs — black-box tests of the login lock-out and of a person's copy of their data,
// through the real binary and a real server on 127.0.0.1: consecutive wrong passwords lock an
// account (the same 401 as a wrong password, even for the right one; the audit says why), an admin
// unlocks it over the API or the command line; `customer copy` and GET /customers/{id}/copy give
// the golden record unmasked with keys, history and consent as one JSON document, only to a
// principal with pii.clear, audited without personal data; the audit chain verifies at the end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { call as serverCall, login as sessionLogin, startServer as startServe } from './lib/server.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-priv-'));
const data = join(root, 'data');
const env = { ...process.env, TAGBASE_USER: 'dpo' };
const PW = { boss: 'boss passphrase 1', checker: 'checker passphrase', ana: 'analyst passphrase', vic: 'victim passphrase' };
let srv = null;

// The server this file started is killed by its pid, whatever happened.
after(() => {
  if (srv && srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function run(args, input) {
  return spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', input, env, maxBuffer: 1 << 26, timeout: 60000 });
}
function ok(args, input) {
  const r = run(args, input);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args) => JSON.parse(ok([...args, '--json']));

// Starts `tagbase serve` on a free port and resolves when it printed its address (20 s at most).
const startServer = () => startServe(BIN, data, ['--threads', '2']);
const call = (method, path, opts) => serverCall(srv, method, path, opts);
const tryLogin = (user, password) => call('POST', '/api/v1/login', { body: { user, password } });
let custNo, mobile, gid;
test('setup: a small bank loaded, users, a lock-out after 3 failures', () => {
  ok(['init']);
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  const land = join(root, 'land');
  const g = spawnSync(BIN, ['gen', '--customers', '300', '--seed', '11', '--date', '20261121', '--out', land], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  ok(['load', land]);
  const v = json(['customer', 'show', '3', '--unmasked']);
  custNo = v.keys.find((k) => k.system === 'core').key;
  mobile = v.attributes.mobile.value;
  gid = v.gid;
  ok(['config', 'set', 'security.lockout.attempts', '3']);
  for (const [name, role] of [['boss', 'admin'], ['checker', 'admin'], ['ana', 'analyst'], ['vic', 'analyst']])
    ok(['user', 'add', name, '--role', role, '--password-stdin'], PW[name] + '\n');
});

test('customer copy: the whole record unmasked as one JSON document, audited without personal data', () => {
  const c = JSON.parse(ok(['customer', 'copy', custNo]));
  assert.equal(c.format, 'tagbase-customer-copy');
  assert.equal(c.version, 1);
  assert.equal(c.gid, gid);
  assert.equal(c.customer.attributes.mobile.value, mobile); // not masked: the subject's own copy
  assert.ok(c.customer.keys.some((k) => k.key === custNo));
  assert.ok(Array.isArray(c.customer.history));
  assert.ok(c.consent && c.consent.effective && c.consent.effective.marketing);
  // the same person by mobile
  assert.equal(JSON.parse(ok(['customer', 'copy', mobile])).gid, gid);
  const a = json(['audit', 'list', '--action', 'customer.copy']);
  assert.equal(a.length, 2);
  assert.equal(a[0].object, `gid:${gid}`);
  assert.equal(a[0].actor, 'dpo');
  assert.ok(!JSON.stringify(a).includes(mobile) && !JSON.stringify(a).includes(custNo));
  const r = run(['customer', 'copy', '99999999999']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no customer/);
});

test('lock-out: 3 wrong passwords lock; the right one then gets the same 401; an admin unlocks', async () => {
  srv = await startServer();
  const wrong = await tryLogin('vic', 'not the password');
  assert.equal(wrong.status, 401);
  assert.equal((await tryLogin('vic', 'not the password')).status, 401);
  assert.equal((await tryLogin('vic', 'not the password')).status, 401); // the third: locked now
  const locked = await tryLogin('vic', PW.vic);
  assert.equal(locked.status, 401);
  assert.deepEqual(locked.json, wrong.json); // no way to tell a lock from a wrong password
  const unknown = await tryLogin('nobody', 'not the password');
  assert.deepEqual(unknown.json, wrong.json);
  // the admin sees the lock and why
  const boss = await cookieLogin('boss');
  const users = await call('GET', '/api/v1/users', { session: boss });
  const vic = users.json.users.find((u) => u.name === 'vic');
  assert.equal(typeof vic.locked_until, 'string');
  assert.equal(vic.failed_logins, 3);
  const audit = (await call('GET', '/api/v1/audit?limit=100', { session: boss })).json.records;
  const mine = audit.filter((x) => x.object === 'vic');
  assert.ok(mine.some((x) => x.action === 'user.lock' && x.outcome === 'denied' && x.detail.failures === 3));
  assert.ok(mine.some((x) => x.action === 'login' && x.detail && x.detail.reason === 'locked'));
  assert.deepEqual(mine.filter((x) => x.action === 'login' && x.detail && x.detail.reason === 'bad_password').map((x) => x.detail.failures).sort(), [1, 2, 3]);
  // an analyst may not unlock; an admin may, once
  const ana = await cookieLogin('ana');
  assert.equal((await call('PATCH', '/api/v1/users/vic', { session: ana, body: { unlock: true } })).status, 403);
  const u = await call('PATCH', '/api/v1/users/vic', { session: boss, body: { unlock: true } });
  assert.equal(u.status, 200, u.text);
  const again = await call('PATCH', '/api/v1/users/vic', { session: boss, body: { unlock: true } });
  assert.equal(again.status, 400);
  assert.match(again.json.error.message, /not locked/);
  assert.equal((await tryLogin('vic', PW.vic)).status, 200);
});

const cookieLogin = (user) => sessionLogin(srv, user, PW[user]);

test('GET /customers/{id}/copy: pii.clear only, unmasked, audited; unknown is 404', async () => {
  const ana = await cookieLogin('ana');
  const denied = await call('GET', `/api/v1/customers/${custNo}/copy`, { session: ana });
  assert.equal(denied.status, 403);
  const boss = await cookieLogin('boss');
  const r = await call('GET', `/api/v1/customers/${custNo}/copy`, { session: boss });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.format, 'tagbase-customer-copy');
  assert.equal(r.json.gid, gid);
  assert.equal(r.json.customer.attributes.mobile.value, mobile);
  assert.equal((await call('GET', '/api/v1/customers/99999999999/copy', { session: boss })).status, 404);
  const audit = (await call('GET', '/api/v1/audit?action=customer.copy&limit=10', { session: boss })).json.records;
  assert.ok(audit.some((x) => x.actor === 'boss' && x.object === `gid:${gid}` && x.outcome === 'ok'));
  assert.ok(!JSON.stringify(audit).includes(mobile));
});

test('the command line unlocks too; the audit chain verifies', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await tryLogin('vic', 'not the password')).status, 401);
  srv.child.kill('SIGTERM');
  assert.deepEqual(await srv.exited, { code: 0, signal: null });
  assert.match(ok(['user', 'list']), /vic\s+analyst\s+all\s+locked/);
  assert.match(ok(['user', 'unlock', 'vic']), /user 'vic' unlocked/);
  const r = run(['user', 'unlock', 'vic']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /user 'vic' is not locked/);
  assert.match(ok(['user', 'list']), /vic\s+analyst\s+all\s+active/);
  const un = json(['audit', 'list', '--action', 'user.unlock']);
  assert.equal(un.filter((x) => x.outcome === 'ok').length, 2);
  assert.equal(un[0].actor, 'dpo');
  assert.equal(json(['audit', 'verify']).ok, true);
});
