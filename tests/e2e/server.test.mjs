// server.test.mjs — black-box tests of `tagbase serve`: the real binary on 127.0.0.1 (a free port
// from --listen 127.0.0.1:0) over a bank made by `tagbase gen`, loaded, published and built.
// First start (the admin's one-time password on stderr, then changed), sessions with CSRF, API
// tokens (revoked -> 401), roles and scopes (a customer manager sees only their customers by
// every route), masking (an analyst cannot unmask), errors as JSON with the right status, the
// route table against docs/openapi.yaml, audit records, limits (413, 429, slow clients), SIGTERM
// while a request runs, HTTPS when this libmicrohttpd has TLS, and an access log without secrets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import https from 'node:https';
import { call, login as sessionLogin, startServer as startServe, stopServer } from './lib/server.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-srv-'));
const data = join(root, 'data');
const servers = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Every server this file started is killed by its pid, whatever happened.
after(() => {
  for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function cli(args, input) {
  const r = spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', input, maxBuffer: 1 << 26, timeout: 60000 });
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

// Starts `tagbase serve` (tests/e2e/lib/server.mjs) and keeps it for the access-log test.
async function startServer(dir, extra = []) {
  const srv = await startServe(BIN, dir, extra);
  servers.push(srv);
  return srv;
}

// Every error answer is {"error":{"code","message"}} with the code of its status.
function isError(r, status, code) {
  assert.equal(r.status, status, r.text);
  assert.equal(r.headers.get('content-type'), 'application/json; charset=utf-8');
  assert.equal(r.json.error.code, code, r.text);
  assert.equal(typeof r.json.error.message, 'string');
}

// A login whose session cookie carries the flags a browser needs.
async function login(srv, user, password) {
  const s = await sessionLogin(srv, user, password);
  assert.match(s.cookie, /HttpOnly/);
  assert.match(s.cookie, /SameSite=Strict/);
  assert.match(s.cookie, /Path=\//);
  return s;
}

// Reads one whole HTTP/1.1 answer from a raw socket that the server closes after it.
function readAll(sock, ms = 20000) {
  return new Promise((res, rej) => {
    let buf = '';
    const t = setTimeout(() => rej(new Error(`no answer: ${buf}`)), ms);
    sock.setEncoding('utf8');
    sock.on('data', (d) => (buf += d));
    sock.on('close', () => {
      clearTimeout(t);
      res(buf);
    });
    sock.on('error', () => {});
  });
}

const PW = { checker: 'checker-pass-1', analyst: 'analyst-pass-1', cm1: 'manager-pass-1', cm2: 'manager-pass-2', dev: 'developer-pass', auditor: 'auditor-pass-1', cm3: 'manager-pass-3' };
const ADMIN_PW = 'admin-pass-after-first';
const secrets = new Set(Object.values(PW).concat([ADMIN_PW]));
let srv, admin, M1, M2, cust1, cust2, firstPw;

test('setup: a bank loaded, the catalog published by two people, tags built', () => {
  cli(['init']);
  cli(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  const land = join(root, 'land');
  const g = spawnSync(BIN, ['gen', '--customers', '3000', '--seed', '5', '--date', '20261121', '--out', land], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  cli(['load', land]);
  cli(['tag', 'load', join(REPO, 'catalog', 'default.json'), '--user', 'dev']);
  cli(['tag', 'submit', '--all', '--user', 'dev']);
  cli(['tag', 'approve', '--all', '--user', 'steward']);
  assert.ok(JSON.parse(cli(['tag', 'build', '--json'])).customers > 2500);
  // two customer managers and one customer of each
  const prof = JSON.parse(cli(['seg', 'profile', 'age >= 0', '--by', 'mgr_id', '--json']));
  const top = prof.values.filter((v) => v.count > 0).sort((a, b) => b.count - a.count);
  [M1, M2] = [top[0].value, top[1].value];
  cli(['seg', 'save', 'everyone', 'age >= 0 or age is null']);
  const out = join(root, 'all.csv');
  cli(['seg', 'export', 'everyone', '--out', out, '--fields', 'cust_no,mgr_id']);
  const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  cust1 = rows.find((r) => r[1] === M1)[0];
  cust2 = rows.find((r) => r[1] === M2)[0];
});

test('first start: an admin with a one-time password printed once; it must be changed', async () => {
  const a = await startServer(data, ['--threads', '2']);
  const m = a.stderr.match(/one-time password (\S+)/);
  assert.ok(m, a.stderr);
  firstPw = m[1];
  secrets.add(firstPw);
  const h = await call(a, 'GET', '/health');
  assert.equal(h.status, 200);
  assert.equal(h.json.ok, true);
  const s = await login(a, 'admin', firstPw);
  assert.equal(s.user.role, 'admin');
  assert.equal(s.user.must_change_password, true);
  isError(await call(a, 'GET', '/api/v1/tags', { session: s }), 403, 'forbidden');
  isError(await call(a, 'POST', '/api/v1/me/password', { session: s, body: { password: 'wrong-password', new_password: ADMIN_PW } }), 403, 'forbidden');
  const c = await call(a, 'POST', '/api/v1/me/password', { session: s, body: { password: firstPw, new_password: ADMIN_PW } });
  assert.equal(c.status, 200, c.text);
  assert.equal(c.json.user.must_change_password, false);
  const s2 = { sid: c.headers.get('set-cookie').match(/tb_session=([^;]+)/)[1], csrf: c.json.csrf_token };
  secrets.add(s.sid).add(s.csrf).add(s2.sid).add(s2.csrf);
  assert.equal((await call(a, 'GET', '/api/v1/tags?status=online', { session: s2 })).status, 200);
  isError(await call(a, 'GET', '/api/v1/me', { session: s }), 401, 'unauthorized'); // the old session ended
  // the data directory is the server's: the command line's writes are refused while it runs
  const busy = spawnSync(BIN, ['user', 'add', 'x1', '--role', 'analyst', '--password-stdin', '--data', data], { input: 'abcdefghijk\n', encoding: 'utf8' });
  assert.notEqual(busy.status, 0);
  assert.deepEqual(await stopServer(a), { code: 0, signal: null });
  // a second start finds the admin and prints no password
  srv = await startServer(data, ['--threads', '2']);
  assert.doesNotMatch(srv.stderr, /one-time password/);
  await stopServer(srv);
  // users of several roles, added on the command line while no server runs
  const add = (name, role, scope = []) => cli(['user', 'add', name, '--role', role, ...scope, '--password-stdin'], PW[name] + '\n');
  add('analyst', 'analyst');
  add('cm1', 'customer_manager', ['--scope', `manager:${M1}`]);
  add('cm2', 'customer_manager', ['--scope', `manager:${M2}`]);
  add('dev', 'tag_developer');
  add('auditor', 'auditor');
  add('checker', 'admin'); // the second person of maker-checker approvals
  // a custom role: a customer manager who may also export (the built-in one may not)
  cli(['role', 'add', 'cm_export', '--perms', 'customer.view,seg.read,seg.export,tag.read']);
  cli(['user', 'add', 'cm3', '--role', 'cm_export', '--scope', `manager:${M1}`, '--password-stdin'], PW.cm3 + '\n');
  srv = await startServer(data, ['--threads', '2']);
  admin = await login(srv, 'admin', ADMIN_PW);
  secrets.add(admin.sid).add(admin.csrf);
});

test('every served route is in docs/openapi.yaml and every documented route is served', async () => {
  const yaml = readFileSync(join(REPO, 'docs', 'openapi.yaml'), 'utf8').split('\n');
  const documented = new Set();
  let inPaths = false, path = null;
  for (const line of yaml) {
    if (/^paths:\s*$/.test(line)) inPaths = true;
    else if (/^\S/.test(line)) inPaths = false;
    if (!inPaths) continue;
    let m = line.match(/^  (\/\S*):\s*$/);
    if (m) path = m[1];
    m = line.match(/^    (get|post|put|patch|delete):\s*$/);
    if (m && path) documented.add(`${m[1].toUpperCase()} ${path}`);
  }
  const r = await call(srv, 'GET', '/api/v1/routes', { session: admin });
  assert.equal(r.status, 200, r.text);
  const served = new Set(r.json.routes.map((x) => `${x.method} ${x.path}`));
  assert.ok(served.size >= 30);
  assert.deepEqual([...served].filter((x) => !documented.has(x)), [], 'served but not documented');
  assert.deepEqual([...documented].filter((x) => !served.has(x)), [], 'documented but not served');
  const an = await login(srv, 'analyst', PW.analyst);
  isError(await call(srv, 'GET', '/api/v1/routes', { session: an }), 403, 'forbidden');
});

test('a wrong password is 401 and leaves an audit record; no credentials is 401', async () => {
  isError(await call(srv, 'POST', '/api/v1/login', { body: { user: 'analyst', password: 'not-the-password' } }), 401, 'unauthorized');
  isError(await call(srv, 'POST', '/api/v1/login', { body: { user: 'nobody', password: 'not-the-password' } }), 401, 'unauthorized');
  isError(await call(srv, 'GET', '/api/v1/segments'), 401, 'unauthorized');
  isError(await call(srv, 'GET', '/api/v1/segments', { headers: { cookie: 'tb_session=' + 'a'.repeat(64) } }), 401, 'unauthorized');
  const au = await login(srv, 'auditor', PW.auditor);
  const a = await call(srv, 'GET', '/api/v1/audit?action=login&limit=50', { session: au });
  assert.equal(a.status, 200, a.text);
  assert.ok(a.json.records.some((x) => x.action === 'login' && x.outcome === 'denied'), a.text);
  assert.ok(!a.text.includes('not-the-password'));
  const v = await call(srv, 'GET', '/api/v1/audit/verify', { session: au });
  assert.equal(v.json.ok, true, v.text);
  isError(await call(srv, 'GET', '/api/v1/users', { session: au }), 403, 'forbidden');
});

test('a customer manager sees only their own customers, by every route', async () => {
  const cm = await login(srv, 'cm1', PW.cm1);
  assert.deepEqual(cm.user.scope, { kind: 'manager', id: M1 });
  const expr = 'age >= 0';
  const c = await call(srv, 'POST', '/api/v1/segments/count', { session: cm, body: { expr } });
  assert.equal(c.status, 200, c.text);
  // the CLI (read-only while the server holds the writer lock) agrees
  const viaCli = JSON.parse(cli(['seg', 'count', expr, '--scope', `manager:${M1}`, '--json'])).count;
  assert.equal(c.json.count, viaCli);
  const all = (await call(srv, 'POST', '/api/v1/segments/count', { session: admin, body: { expr } })).json.count;
  assert.ok(c.json.count > 0 && c.json.count < all);
  // the 360 view: their customer yes, another manager's no (and not by lineage either)
  const mine = await call(srv, 'GET', `/api/v1/customers/${cust1}`, { session: cm });
  assert.equal(mine.status, 200, mine.text);
  isError(await call(srv, 'GET', `/api/v1/customers/${cust2}`, { session: cm }), 404, 'not_found');
  isError(await call(srv, 'GET', `/api/v1/customers/${cust2}/lineage?attribute=aum`, { session: cm }), 404, 'not_found');
  const lin = await call(srv, 'GET', `/api/v1/customers/${cust1}/lineage?attribute=aum`, { session: cm });
  assert.ok(lin.status === 200 || lin.status === 404, lin.text);
  const cm2 = await login(srv, 'cm2', PW.cm2);
  assert.equal((await call(srv, 'GET', `/api/v1/customers/${cust2}`, { session: cm2 })).status, 200);
  // the built-in role may not export; a custom one with a manager scope exports only its customers
  isError(await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: cm, body: {} }), 403, 'forbidden');
  const cm3 = await login(srv, 'cm3', PW.cm3);
  const ex = await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: cm3, body: { fields: ['cust_no', 'mgr_id'] } });
  assert.equal(ex.status, 200, ex.text);
  assert.match(ex.headers.get('content-type'), /^text\/csv/);
  const rows = ex.text.trim().split('\n');
  assert.equal(rows[0], 'cust_no,mgr_id');
  assert.equal(rows.length - 1, Number(ex.headers.get('x-rows')));
  assert.ok(rows.length > 1);
  assert.ok(rows.slice(1).every((r) => r.endsWith(`,${M1}`)));
  assert.equal(rows.length - 1, c.json.count);
  // a profile within the scope shows only their manager id
  const p = await call(srv, 'GET', `/api/v1/segments/everyone/profile?by=mgr_id`, { session: cm });
  assert.deepEqual(p.json.values.filter((v) => v.count > 0).map((v) => v.value), [M1]);
});

test('an analyst gets masked fields and may not unmask; an admin may, and it is audited', async () => {
  const an = await login(srv, 'analyst', PW.analyst);
  const v = await call(srv, 'GET', `/api/v1/customers/${cust1}`, { session: an });
  assert.equal(v.status, 200, v.text);
  const mob = v.json.attributes?.mobile?.value;
  if (mob) assert.match(mob, /\*/);
  assert.match(v.json.cert_no, /\*/);
  isError(await call(srv, 'GET', `/api/v1/customers/${cust1}?unmasked=true`, { session: an }), 403, 'forbidden');
  isError(await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: an, body: { fields: 'cust_no,name', unmasked: true } }), 403, 'forbidden');
  const ex = await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: an, body: { fields: 'cust_no,name,mobile' } });
  assert.equal(ex.status, 200, ex.text);
  for (const l of ex.text.trim().split('\n').slice(1, 100)) {
    const [, name, mobile] = l.split(',');
    if (name) assert.match(name, /\*/);
    if (mobile) assert.match(mobile, /^1\d{2}\*{4}\d{4}$/);
  }
  // a role with pii.clear sees the 360 view in clear (and the read is audited)
  const clear = await call(srv, 'GET', `/api/v1/customers/${cust1}?unmasked=true`, { session: admin });
  assert.equal(clear.status, 200, clear.text);
  assert.equal(clear.json.masked, false);
  assert.doesNotMatch(clear.json.cert_no, /\*/);
  secrets.add(clear.json.cert_no);
  // an unmasked export needs a second person's approval, used once
  const body = { fields: 'cust_no,name,mobile', unmasked: true };
  const no = await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: admin, body });
  isError(no, 403, 'forbidden');
  assert.match(no.json.error.message, /needs an approved 'export_unmasked' request/);
  const req = await call(srv, 'POST', '/api/v1/approvals', { session: admin, body: { kind: 'export_unmasked', payload: { segment: 'everyone', fields: ['cust_no', 'name', 'mobile'] } } });
  assert.equal(req.status, 201, req.text);
  isError(await call(srv, 'POST', `/api/v1/approvals/${req.json.id}/approve`, { session: admin, body: {} }), 403, 'forbidden'); // not by the requester
  const checker = await login(srv, 'checker', PW.checker);
  const ok = await call(srv, 'POST', `/api/v1/approvals/${req.json.id}/approve`, { session: checker, body: { comment: 'reviewed' } });
  assert.equal(ok.status, 200, ok.text);
  const exu = await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: admin, body: { ...body, approval: req.json.id } });
  assert.equal(exu.status, 200, exu.text);
  isError(await call(srv, 'POST', '/api/v1/segments/everyone/export', { session: admin, body: { ...body, approval: req.json.id } }), 403, 'forbidden'); // used once
  const row = exu.text.trim().split('\n').slice(1).map((l) => l.split(',')).find((r) => r[2]);
  assert.doesNotMatch(row[2], /\*/);
  secrets.add(row[2]).add(row[1]);
  const a = await call(srv, 'GET', '/api/v1/audit?limit=200', { session: admin });
  const acts = a.json.records.map((x) => `${x.actor} ${x.action} ${x.outcome}`);
  assert.ok(acts.includes('admin pii.read ok'), acts.join('\n'));
  assert.ok(acts.includes('analyst customer.view ok'));
  assert.ok(acts.includes('analyst segment.export ok'));
  assert.ok(acts.includes('analyst pii.read denied'));
  assert.ok(acts.includes('admin segment.export ok'));
  assert.ok(!a.text.includes(row[2])); // nothing personal in the audit
});

test('a role change needs a second person\'s approval, used once', async () => {
  const add = await call(srv, 'POST', '/api/v1/users', { session: admin, body: { name: 'temp1', role: 'analyst', password: 'temp1-password-1' } });
  assert.equal(add.status, 201, add.text);
  const change = { role: 'marketing_manager' };
  const no = await call(srv, 'PATCH', '/api/v1/users/temp1', { session: admin, body: change });
  isError(no, 403, 'forbidden');
  assert.match(no.json.error.message, /needs an approved 'role_change' request/);
  const req = await call(srv, 'POST', '/api/v1/approvals', { session: admin, body: { kind: 'role_change', payload: { user: 'temp1', role: 'marketing_manager' } } });
  assert.equal(req.status, 201, req.text);
  // an approval for another role does not fit
  const checker = await login(srv, 'checker', PW.checker);
  assert.equal((await call(srv, 'POST', `/api/v1/approvals/${req.json.id}/approve`, { session: checker, body: {} })).status, 200);
  isError(await call(srv, 'PATCH', '/api/v1/users/temp1', { session: admin, body: { role: 'admin', approval: req.json.id } }), 403, 'forbidden');
  const yes = await call(srv, 'PATCH', '/api/v1/users/temp1', { session: admin, body: { ...change, approval: req.json.id } });
  assert.equal(yes.status, 200, yes.text);
  const users = await call(srv, 'GET', '/api/v1/users', { session: admin });
  assert.equal(JSON.stringify(users.json).includes('marketing_manager'), true);
  isError(await call(srv, 'PATCH', '/api/v1/users/temp1', { session: admin, body: { role: 'analyst', approval: req.json.id } }), 403, 'forbidden'); // used
});

test('consent over HTTP: recorded and read within the caller\'s scope, audited', async () => {
  const cm = await login(srv, 'cm1', PW.cm1);
  const body = { purpose: 'marketing', channel: 'sms', grant: true, source: 'branch counter' };
  const ok = await call(srv, 'POST', `/api/v1/customers/${cust1}/consent`, { session: cm, body });
  assert.equal(ok.status, 200, ok.text);
  isError(await call(srv, 'POST', `/api/v1/customers/${cust2}/consent`, { session: cm, body }), 404, 'not_found');
  isError(await call(srv, 'POST', `/api/v1/customers/${cust1}/consent`, { session: cm, body: { purpose: 'marketing', channel: 'sms' } }), 400, 'bad_request');
  const show = await call(srv, 'GET', `/api/v1/customers/${cust1}/consent`, { session: admin });
  assert.equal(show.status, 200, show.text);
  assert.match(show.text, /marketing/);
  assert.match(show.text, /sms/);
  const a = await call(srv, 'GET', '/api/v1/audit?limit=50', { session: admin });
  const acts = a.json.records.map((x) => `${x.actor} ${x.action}`);
  assert.ok(acts.some((x) => x.startsWith('cm1 consent')), acts.join('\n'));
  assert.ok(acts.includes('admin consent.read'));
  assert.ok(!a.text.includes(cust1)); // the audit names customers by gid
});

test('a cookie session needs the X-CSRF-Token header on every change', async () => {
  const body = { expr: 'age >= 30' };
  isError(await call(srv, 'POST', '/api/v1/segments/count', { session: admin, csrf: false, body }), 403, 'forbidden');
  isError(await call(srv, 'POST', '/api/v1/segments/count', { session: admin, csrf: false, body, headers: { 'x-csrf-token': 'f'.repeat(64) } }), 403, 'forbidden');
  assert.equal((await call(srv, 'POST', '/api/v1/segments/count', { session: admin, body })).status, 200);
  // reads need none
  assert.equal((await call(srv, 'GET', '/api/v1/segments', { session: admin, csrf: false })).status, 200);
});

test('API tokens: a bearer token works without CSRF; a revoked one is 401', async () => {
  const t = await call(srv, 'POST', '/api/v1/users/analyst/tokens', { session: admin, body: { name: 'ci', ttl_days: 1 } });
  assert.equal(t.status, 201, t.text);
  assert.match(t.json.token, /^tbt_/);
  secrets.add(t.json.token);
  const c = await call(srv, 'POST', '/api/v1/segments/count', { token: t.json.token, body: { expr: 'age >= 30' } });
  assert.equal(c.status, 200, c.text);
  const me = await call(srv, 'GET', '/api/v1/me', { token: t.json.token });
  assert.equal(me.json.user.name, 'analyst');
  assert.equal(me.json.user.via_token, true);
  isError(await call(srv, 'GET', '/api/v1/users', { token: t.json.token }), 403, 'forbidden');
  const l = await call(srv, 'GET', '/api/v1/users/analyst/tokens', { session: admin });
  assert.ok(l.json.tokens.some((x) => x.id === t.json.id));
  assert.ok(!l.text.includes(t.json.token));
  assert.equal((await call(srv, 'DELETE', `/api/v1/tokens/${t.json.id}`, { session: admin })).status, 200);
  isError(await call(srv, 'GET', '/api/v1/segments', { token: t.json.token }), 401, 'unauthorized');
  isError(await call(srv, 'GET', '/api/v1/segments', { headers: { authorization: 'Basic eDp5' } }), 401, 'unauthorized');
  isError(await call(srv, 'DELETE', '/api/v1/tokens/999999', { session: admin }), 404, 'not_found');
});

test('errors are JSON with the right status', async () => {
  const s = admin;
  isError(await call(srv, 'POST', '/api/v1/segments/count', { session: s, raw: '{"expr": ', headers: { 'content-type': 'application/json' } }), 400, 'bad_request');
  isError(await call(srv, 'POST', '/api/v1/segments/count', { session: s, raw: '[1,2]' }), 400, 'bad_request');
  let r = await call(srv, 'POST', '/api/v1/segments/count', { session: s, body: { expr: 5 } });
  isError(r, 400, 'bad_request');
  assert.equal(r.json.error.field, 'expr');
  r = await call(srv, 'POST', '/api/v1/segments/count', { session: s, body: {} });
  assert.equal(r.json.error.field, 'expr');
  r = await call(srv, 'POST', '/api/v1/segments/count', { session: s, body: { expr: 'age >= 1', as_of: 20261121 } });
  assert.equal(r.json.error.field, 'as_of');
  r = await call(srv, 'POST', '/api/v1/segments/count', { session: s, body: { expr: 'age between 30 45' } });
  isError(r, 400, 'bad_request');
  assert.match(r.json.error.message, /\^/);
  r = await call(srv, 'POST', '/api/v1/segments/count', { session: s, body: { expr: 'agee > 30' } });
  assert.match(r.json.error.message, /unknown tag 'agee'/);
  isError(await call(srv, 'GET', '/api/v1/nope', { session: s }), 404, 'not_found');
  isError(await call(srv, 'GET', '/nope'), 404, 'not_found');
  r = await call(srv, 'DELETE', '/api/v1/tags', { session: s });
  isError(r, 405, 'method_not_allowed');
  assert.equal(r.headers.get('allow'), 'GET');
  isError(await call(srv, 'GET', '/api/v1/segments/%FF%FE', { session: s }), 400, 'bad_request');
  isError(await call(srv, 'GET', '/api/v1/segments/a%00b', { session: s }), 400, 'bad_request');
  isError(await call(srv, 'GET', '/api/v1/segments/%zz', { session: s }), 400, 'bad_request');
  isError(await call(srv, 'GET', '/api/v1/segments/no-such-segment', { session: s }), 404, 'not_found');
  isError(await call(srv, 'GET', '/api/v1/segments/everyone/diff?as_of=2026', { session: s }), 400, 'bad_request');
  isError(await call(srv, 'GET', '/api/v1/segments/overlap?a=everyone', { session: s }), 400, 'bad_request');
  isError(await call(srv, 'GET', '/api/v1/tags/no_such_tag', { session: s }), 404, 'not_found');
  const big = Buffer.alloc(2 * 1024 * 1024, 'a');
  isError(await call(srv, 'POST', '/api/v1/segments/count', { session: s, raw: big }), 413, 'too_large');
  // injection attempts are names like any other
  isError(await call(srv, 'GET', `/api/v1/segments/${encodeURIComponent("x' OR '1'='1")}`, { session: s }), 404, 'not_found');
  // the server still answers
  assert.equal((await call(srv, 'GET', '/health')).status, 200);
});

test('segments with Chinese names: save, show, list, overlap, diff, delete; 409 on a taken name', async () => {
  const name = '高净值客户';
  const e = encodeURIComponent(name);
  const sv = await call(srv, 'POST', '/api/v1/segments', { session: admin, body: { name, expr: "aum_level in ('L3','L4','L5')", description: '测试' } });
  assert.equal(sv.status, 201, sv.text);
  const count = (await call(srv, 'POST', '/api/v1/segments/count', { session: admin, body: { expr: "aum_level in ('L3','L4','L5')" } })).json.count;
  assert.equal(sv.json.count, count);
  isError(await call(srv, 'POST', '/api/v1/segments', { session: admin, body: { name, expr: 'age > 1' } }), 409, 'conflict');
  const sh = await call(srv, 'GET', `/api/v1/segments/${e}`, { session: admin });
  assert.equal(sh.status, 200, sh.text);
  assert.equal(sh.json.name, name);
  const l = await call(srv, 'GET', '/api/v1/segments', { session: admin });
  assert.ok(l.json.segments.some((x) => x.name === name));
  const o = await call(srv, 'GET', `/api/v1/segments/overlap?a=${e}&b=everyone`, { session: admin });
  assert.equal(o.json.both, count);
  const d = await call(srv, 'GET', `/api/v1/segments/${e}/diff`, { session: admin });
  assert.equal(d.status, 200, d.text);
  const j = await call(srv, 'POST', '/api/v1/segments/count', { session: admin, body: { json: { tag: 'aum_level', in: ['L3', 'L4', 'L5'] } } });
  assert.equal(j.json.count, count);
  // a customer manager may read but not save or delete
  const cm = await login(srv, 'cm1', PW.cm1);
  assert.equal((await call(srv, 'GET', `/api/v1/segments/${e}`, { session: cm })).status, 200);
  isError(await call(srv, 'DELETE', `/api/v1/segments/${e}`, { session: cm }), 403, 'forbidden');
  isError(await call(srv, 'POST', '/api/v1/segments', { session: cm, body: { name: 'x', expr: 'age > 1' } }), 403, 'forbidden');
  assert.equal((await call(srv, 'DELETE', `/api/v1/segments/${e}`, { session: admin })).status, 200);
  isError(await call(srv, 'GET', `/api/v1/segments/${e}`, { session: admin }), 404, 'not_found');
  const a = await call(srv, 'GET', '/api/v1/audit?action=segment', { session: admin });
  assert.ok(a.json.records.some((x) => x.action === 'segment.delete' && x.object === name));
});

test('tags and pipeline: catalog reads, lifecycle permissions, status', async () => {
  const dev = await login(srv, 'dev', PW.dev);
  const t = await call(srv, 'GET', '/api/v1/tags?status=online', { session: dev });
  assert.equal(t.status, 200, t.text);
  assert.ok(t.json.length > 100);
  assert.equal((await call(srv, 'GET', '/api/v1/tags/tree', { session: dev })).status, 200);
  const age = await call(srv, 'GET', '/api/v1/tags/age', { session: dev });
  assert.equal(age.json.status, 'online');
  assert.equal((await call(srv, 'GET', `/api/v1/tags/${encodeURIComponent('年龄')}/history`, { session: dev })).status, 200);
  isError(await call(srv, 'POST', '/api/v1/tags/age/approve', { session: dev }), 403, 'forbidden');
  isError(await call(srv, 'POST', '/api/v1/tags/age/submit', { session: dev }), 400, 'bad_request');
  const an = await login(srv, 'analyst', PW.analyst);
  isError(await call(srv, 'POST', '/api/v1/tags/build', { session: an, body: { batch: '20261121' } }), 403, 'forbidden');
  isError(await call(srv, 'POST', '/api/v1/tags/build', { session: dev, body: { batch: 'x' } }), 400, 'bad_request');
  const ps = await call(srv, 'GET', '/api/v1/pipeline/status?batch=20261121', { session: admin });
  assert.equal(ps.status, 200, ps.text);
  isError(await call(srv, 'GET', '/api/v1/pipeline/status?batch=abc', { session: admin }), 400, 'bad_request');
});

test('import a list as a segment; load a batch from a server-side path', async () => {
  const im = await call(srv, 'POST', '/api/v1/segments/import', { session: admin, body: { name: '回访名单', lines: [cust1, cust2, '# a comment', 'NO-SUCH-1'] } });
  assert.equal(im.status, 201, im.text);
  assert.equal(im.json.count, 2);
  assert.equal(im.json.unknown_count, 1);
  const cm = await login(srv, 'cm1', PW.cm1);
  const c = await call(srv, 'POST', '/api/v1/segments/count', { session: cm, body: { expr: "segment('回访名单')" } });
  assert.equal(c.json.count, 1); // only cust1 is theirs
  isError(await call(srv, 'POST', '/api/v1/segments/import', { session: admin, body: { name: 'x', lines: ['a\nb'] } }), 400, 'bad_request');
  isError(await call(srv, 'POST', '/api/v1/segments/import', { session: admin, body: { name: 'x' } }), 400, 'bad_request');
  // a second batch, loaded through the API by an admin; an analyst may not
  const land = join(root, 'land2');
  const g = spawnSync(BIN, ['gen', '--customers', '3000', '--seed', '5', '--date', '20261122', '--out', land], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  const an = await login(srv, 'analyst', PW.analyst);
  isError(await call(srv, 'POST', '/api/v1/pipeline/load', { session: an, body: { path: land } }), 403, 'forbidden');
  isError(await call(srv, 'POST', '/api/v1/pipeline/load', { session: admin, body: { path: 'relative/dir' } }), 400, 'bad_request');
  const bad = await call(srv, 'POST', '/api/v1/pipeline/load', { session: admin, body: { path: join(root, 'no-such-dir') } });
  assert.ok(bad.status === 404 || bad.status === 400, bad.text);
  const l = await call(srv, 'POST', '/api/v1/pipeline/load', { session: admin, body: { path: land } });
  assert.equal(l.status, 200, l.text);
  const ps = await call(srv, 'GET', '/api/v1/pipeline/status?batch=20261122', { session: admin });
  assert.equal(ps.status, 200, ps.text);
  assert.ok(ps.text.includes('20261122'));
});

test('SIGTERM while a request runs: it completes, new connections are refused, exit 0', async () => {
  const body = JSON.stringify({ expr: 'age >= 18' });
  const sock = net.connect(srv.port, '127.0.0.1');
  await new Promise((r) => sock.on('connect', r));
  const answer = readAll(sock);
  sock.write(`POST /api/v1/segments/count HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: tb_session=${admin.sid}\r\n` +
    `X-CSRF-Token: ${admin.csrf}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
    `Connection: close\r\n\r\n${body.slice(0, 4)}`);
  await sleep(300);
  srv.child.kill('SIGTERM');
  await sleep(500);
  assert.equal(srv.child.exitCode, null, 'the server waits for the request in flight');
  // the listening socket is closed: a new connection is refused
  await assert.rejects(new Promise((res, rej) => {
    const c = net.connect(srv.port, '127.0.0.1');
    c.on('connect', () => { c.destroy(); res(); });
    c.on('error', rej);
  }));
  sock.write(body.slice(4));
  const text = await answer;
  assert.match(text, /^HTTP\/1\.1 200/);
  assert.match(text, /"count":\d+/);
  const ex = await Promise.race([srv.exited, sleep(20000).then(() => ({ code: 'timeout' }))]);
  assert.deepEqual(ex, { code: 0, signal: null });
  assert.match(srv.stderr, /shutting down/);
});

test('abnormal access: over the 360-view rate a user is blocked until an admin clears it', async () => {
  cli(['config', 'set', 'security.alert.view360_per_hour', '3']);
  const s = await startServer(data, ['--threads', '2']);
  try {
    const adm = await login(s, 'admin', ADMIN_PW);
    const chk = await login(s, 'checker', PW.checker);
    for (let i = 0; i < 3; i++) assert.equal((await call(s, 'GET', `/api/v1/customers/${cust1}`, { session: chk })).status, 200);
    const over = await call(s, 'GET', `/api/v1/customers/${cust1}`, { session: chk });
    isError(over, 403, 'forbidden');
    assert.match(over.json.error.message, /blocked/);
    assert.equal(over.text.includes('"gid"'), false); // nothing shown
    const al = await call(s, 'GET', '/api/v1/alerts', { session: adm });
    assert.equal(al.status, 200, al.text);
    assert.ok(JSON.stringify(al.json).includes('checker'));
    assert.equal((await call(s, 'POST', '/api/v1/alerts/checker/clear', { session: adm, body: {} })).status, 200);
    const again = await login(s, 'checker', PW.checker);
    assert.equal((await call(s, 'GET', `/api/v1/customers/${cust1}`, { session: again })).status, 200);
  } finally {
    await stopServer(s);
    cli(['config', 'set', 'security.alert.view360_per_hour', '200']);
  }
});

test('limits: 429 with Retry-After beyond --max-inflight, 413 beyond --max-body, slow clients cut', async () => {
  const dir = join(root, 'limits');
  const r = spawnSync(BIN, ['init', '--data', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const s = await startServer(dir, ['--threads', '1', '--max-inflight', '1', '--max-body', '1024', '--timeout', '2']);
  // a client that sends half a body and stalls is one request in flight
  const sock = net.connect(s.port, '127.0.0.1');
  await new Promise((res) => sock.on('connect', res));
  const closed = readAll(sock, 15000);
  sock.write('POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user"');
  await sleep(300);
  const busy = await call(s, 'GET', '/api/v1/me');
  isError(busy, 429, 'too_many_requests');
  assert.equal(busy.headers.get('retry-after'), '1');
  assert.equal((await call(s, 'GET', '/health')).status, 200); // health is never refused
  await closed; // cut by --timeout
  const big = await call(s, 'POST', '/api/v1/login', { body: { user: 'admin', password: 'x'.repeat(2000) } });
  isError(big, 413, 'too_large');
  isError(await call(s, 'GET', '/' + 'a/'.repeat(40)), 414, 'too_large');
  assert.deepEqual(await stopServer(s), { code: 0, signal: null });
});

test('HTTPS with --cert and --key (when libmicrohttpd has TLS): Secure cookies', async (t) => {
  const dir = join(root, 'tls');
  const key = join(root, 'key.pem'), cert = join(root, 'cert.pem');
  const o = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8' });
  if (o.status !== 0) return t.skip('no openssl to make a certificate');
  spawnSync(BIN, ['init', '--data', dir]);
  let s;
  try {
    s = await startServer(dir, ['--threads', '1', '--cert', cert, '--key', key]);
  } catch (e) {
    if (/no TLS support/.test(String(e))) return t.skip('libmicrohttpd without TLS');
    throw e;
  }
  assert.match(s.url, /^https:/);
  const pw = s.stderr.match(/one-time password (\S+)/)[1];
  secrets.add(pw);
  const get = (path, method = 'GET', body) => new Promise((res, rej) => {
    const req = https.request(s.url + path, { method, rejectUnauthorized: false, timeout: 10000, headers: body ? { 'content-type': 'application/json' } : {} }, (r) => {
      let d = '';
      r.on('data', (c) => (d += c));
      r.on('end', () => res({ status: r.statusCode, headers: r.headers, text: d }));
    });
    req.on('error', rej);
    req.end(body);
  });
  const h = await get('/health');
  assert.equal(h.status, 200);
  assert.equal(JSON.parse(h.text).ok, true);
  const l = await get('/api/v1/login', 'POST', JSON.stringify({ user: 'admin', password: pw }));
  assert.equal(l.status, 200, l.text);
  assert.match(l.headers['set-cookie'][0], /; Secure/);
  secrets.add(l.headers['set-cookie'][0].match(/tb_session=([^;]+)/)[1]);
  assert.deepEqual(await stopServer(s), { code: 0, signal: null });
});

test('the access log: one JSON line per request, no password, token, cookie or personal value', () => {
  let lines = 0;
  for (const s of servers) {
    // the first start's one-time password line is the only place it appears, and only once
    const logLines = s.stderr.split('\n').filter((l) => l.startsWith('{'));
    for (const l of logLines) {
      const j = JSON.parse(l);
      assert.deepEqual(Object.keys(j).sort(), ['bytes', 'method', 'ms', 'path', 'query', 'remote', 'status', 'time', 'user']);
      lines++;
    }
    const text = logLines.join('\n');
    for (const x of secrets) assert.ok(!text.includes(x), `the access log shows a secret`);
    assert.ok(!text.includes(cust1) && !text.includes(cust2), 'the access log shows a customer number');
    assert.doesNotMatch(text, /1[3-9]\d{9}/);
  }
  assert.ok(lines > 50);
  const first = servers[0].stderr;
  assert.equal(first.split(firstPw).length - 1, 1);
  for (const s of servers.slice(1, 3)) assert.ok(!s.stderr.includes(firstPw));
});
