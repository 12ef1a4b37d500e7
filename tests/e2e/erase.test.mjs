// erase.test.mjs — black-box tests of the erasure of a person (PIPL art. 47), through the real
// binary and a real server on 127.0.0.1: a small bank is loaded, its tags built and a segment
// saved; erasing without an approval, with one that is still pending, or with one for another
// customer is refused and audited; with an approval decided by a second person the customer
// leaves every store: no file under the data directory holds any of their customer numbers, ID
// number, mobile or name, the 360 view says "no customer", the segment counts drop by exactly
// one, `tagbase check` and the audit chain pass, and `erase --verify` reruns the proof (by
// erasure id and by identifier) and catches a copy left behind. Then the same over HTTP while
// the server runs: the server's cached tag store is replaced (its counts drop at once).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync, unlinkSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { files } from './lib/fs.mjs';
import { call as serverCall, login as sessionLogin, startServer as startServe } from './lib/server.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-erase-'));
const data = join(root, 'data');
const land = join(root, 'land');
const env = { ...process.env, TAGBASE_USER: 'dpo' };
const PW = { boss: 'boss passphrase 1', checker: 'checker passphrase' };
let srv = null;

after(() => {
  if (srv && srv.child.exitCode === null && srv.child.signalCode === null) srv.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

function run(args, input) {
  return spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', input, env, maxBuffer: 1 << 26, timeout: 120000 });
}
function ok(args, input) {
  const r = run(args, input);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args) => JSON.parse(ok([...args, '--json']));

// The files under the data directory that hold `s` (as UTF-8 bytes).
function holders(s) {
  const needle = Buffer.from(s, 'utf8');
  return files(data).filter((f) => readFileSync(f).includes(needle));
}
// How many times `s` occurs in all the landing extracts.
function inLanding(s) {
  const needle = Buffer.from(s, 'utf8');
  let n = 0;
  for (const f of files(land)) {
    const b = readFileSync(f);
    for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + 1)) n++;
  }
  return n;
}

// A customer whose name, ID number and mobile each occur once in the extracts (so that every hit
// is theirs), who is an adult (a member of the saved segment) and has a few rows of business data.
function eventRows() {
  return run(['events', 'dump', '--limit', '100000'])
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

function pickPerson(skip) {
  const lines = readFileSync(join(land, 'customers.txt'), 'utf8').split('\n');
  for (let g = 1; g < 250; g++) {
    if (skip.includes(g)) continue;
    const v = json(['customer', 'show', String(g), '--unmasked']);
    if (v.kind !== 'person' || v.merged_into !== null) continue;
    const name = v.attributes.name && v.attributes.name.value;
    const mobile = v.attributes.mobile && v.attributes.mobile.value;
    const cert = v.cert_no;
    const born = v.attributes.birth_date && v.attributes.birth_date.value;
    if (!name || !mobile || !cert || !born || born > '2000-01-01') continue;
    if (inLanding(name) !== 1 || inLanding(mobile) !== 1 || inLanding(cert) !== 1) continue;
    const keys = v.keys.map((k) => k.key);
    if (!lines.some((l) => l.includes(cert))) continue;
    return { gid: v.gid, name, mobile, cert, keys, custNo: v.keys.find((k) => k.system === 'core').key };
  }
  throw new Error('no suitable customer in the demo');
}

const startServer = () => startServe(BIN, data, ['--threads', '2'], { env });

// The console's calls on this file's server (slow ones: an erasure rewrites files).
const call = (method, path, opts = {}) => serverCall(srv, method, path, { timeoutMs: 60000, ...opts });
const login = (user) => sessionLogin(srv, user, PW[user]);

const EXPR = 'age >= 18';
let p1, p2, adults0;

test('setup: a small bank loaded, tags built, a saved segment, two administrators', () => {
  ok(['init']);
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  const g = spawnSync(BIN, ['gen', '--customers', '300', '--seed', '23', '--date', '20261121', '--out', land], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  ok(['load', land]);
  ok(['tag', 'load', join(REPO, 'catalog', 'default.json'), '--user', 'dev']);
  ok(['tag', 'submit', '--all', '--user', 'dev']);
  ok(['tag', 'approve', '--all', '--user', 'steward']);
  ok(['tag', 'build']);
  ok(['seg', 'save', 'adults', EXPR]);
  adults0 = json(['seg', 'count', EXPR]).count;
  for (const name of ['boss', 'checker']) ok(['user', 'add', name, '--role', 'admin', '--password-stdin'], PW[name] + '\n');
  p1 = pickPerson([]);
  p2 = pickPerson([p1.gid]);
  // The event store holds both of them: a device's events before login, the login's after, and a
  // quarantined event naming p1 (src/events; the erase step it registers).
  ok(['events', 'source', 'add', 'app']);
  const t = Date.now() - 3600000;
  const ev = [
    { type: 'track', event: 'app_launch', distinct_id: 'erase-dev-1', time: t, _track_id: 1, properties: { note: 'before login' } },
    { type: 'track_signup', event: '$SignUp', distinct_id: p1.mobile, original_id: 'erase-dev-1', time: t + 1000, _track_id: 2 },
    { type: 'track', event: 'login', distinct_id: p1.mobile, time: t + 2000, _track_id: 3, properties: { $is_login_id: true } },
    { type: 'track', distinct_id: p1.mobile, time: t + 3000, _track_id: 4 },
    { type: 'track', event: 'login', distinct_id: p2.mobile, time: t + 4000, _track_id: 5, properties: { $is_login_id: true } },
  ];
  const evfile = join(root, 'erase-events.jsonl');
  writeFileSync(evfile, ev.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const imp = json(['events', 'import', evfile, '--source', 'app']);
  assert.deepEqual([imp.accepted, imp.quarantined], [4, 1]);
  ok(['events', 'compact']);
  const rows = eventRows();
  assert.equal(rows.filter((r) => r.gid === p1.gid).length, 3, 'p1 has three stored events, one from before login');
  assert.ok(holders(p1.mobile).some((f) => f.includes('events')), 'the event store holds p1 before erasure');
  // before: the person is in the stores
  assert.ok(holders(p1.cert).length > 0);
  assert.ok(holders(p1.custNo).length > 0);
});

test('erase is refused without an approval, with a pending one, with one for someone else, and by its requester as checker', () => {
  let r = run(['customer', 'erase', p1.custNo]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /needs an approved 'customer_erase' request/);
  assert.ok(!r.stderr.includes(p1.custNo) || r.stderr.includes('no customer') === false);
  const id = json(['approval', 'request', 'customer_erase', '--payload', JSON.stringify({ gid: p1.gid })]).id;
  // the requester may not approve their own request
  r = run(['approval', 'approve', String(id)]);
  assert.equal(r.status, 1);
  r = run(['customer', 'erase', p1.custNo, '--approval', String(id)]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /pending, not approved/);
  // an approval for another customer does not erase this one
  const other = json(['approval', 'request', 'customer_erase', '--payload', JSON.stringify({ gid: p2.gid })]).id;
  ok(['approval', 'approve', String(other), '--user', 'checker']);
  r = run(['customer', 'erase', p1.custNo, '--approval', String(other)]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /another customer/);
  // a payload with anything but the gid is refused (nothing personal rides along)
  r = run(['approval', 'request', 'customer_erase', '--payload', JSON.stringify({ gid: p1.gid, mobile: p1.mobile })]);
  assert.equal(r.status, 1);
  // still there; refusals audited, without identifiers
  assert.equal(json(['customer', 'show', p1.custNo]).gid, p1.gid);
  const a = json(['audit', 'list', '--action', 'customer.erase']);
  assert.ok(a.length >= 3 && a.every((x) => x.outcome === 'denied'));
  const text = JSON.stringify(json(['audit', 'list', '--limit', '1000']));
  for (const s of [p1.custNo, p1.cert, p1.mobile, p1.name]) assert.ok(!text.includes(s));
});

test('erase with a second person\'s approval: no trace in any file, 360 gone, counts drop by one, check passes', () => {
  const id = json(['approval', 'request', 'customer_erase', '--payload', JSON.stringify({ gid: p1.gid })]).id;
  ok(['approval', 'approve', String(id), '--user', 'checker']);
  const rep = json(['customer', 'erase', p1.custNo, '--approval', String(id)]);
  assert.equal(rep.ok, true, JSON.stringify(rep.proof));
  assert.equal(rep.gid, p1.gid);
  assert.ok(rep.erasure_id >= 1);
  assert.ok(rep.identifiers.customer_no >= 1 && rep.identifiers.id_no === 1 && rep.identifiers.mobile >= 1 && rep.identifiers.name >= 1);
  for (const [store, v] of Object.entries(rep.proof.stores)) assert.equal(v.found, 0, `${store}: ${JSON.stringify(v)}`);
  assert.ok(rep.proof.stores['meta.db'] && rep.proof.stores.tags && rep.proof.stores.snapshots && rep.proof.stores.domains);
  assert.ok(rep.stores.domain_rows_deleted > 0);
  assert.ok(rep.stores.segment_memberships >= 1);
  // the black-box proof: every file under the data directory, raw bytes
  for (const s of [...p1.keys, p1.cert, p1.mobile, p1.name]) assert.deepEqual(holders(s), [], `identifier still in ${holders(s)}`);
  // the event store: p1's events (the device's included) and quarantined events are gone, p2's stay
  assert.equal(rep.stores.events.events_removed, 3, JSON.stringify(rep.stores.events));
  assert.equal(rep.stores.events.quarantined_removed, 1);
  const left = eventRows();
  assert.equal(left.filter((r) => r.key.includes('erase-dev-1') || r.gid === p1.gid).length, 0);
  assert.equal(left.filter((r) => r.gid === p2.gid).length, 1);
  assert.equal(rep.proof.stores.events.found, 0);
  // the WAL is empty after the checkpoint
  const wal = join(data, 'meta.db-wal');
  try {
    assert.equal(statSync(wal).size, 0);
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  // the 360 view: gone by number, by ID number, by mobile and by gid
  for (const who of [p1.custNo, p1.cert, p1.mobile, String(p1.gid)]) {
    const r = run(['customer', 'show', who]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no customer/);
  }
  // the segment: live count and the stored membership both drop by exactly one
  assert.equal(json(['seg', 'count', EXPR]).count, adults0 - 1);
  const hist = json(['seg', 'show', 'adults']).history;
  assert.equal(hist[0].count, adults0 - 1);
  // every store checks
  const c = run(['check', '--json']);
  assert.equal(c.status, 0, c.stdout + c.stderr);
  ok(['audit', 'verify']);
  const a = json(['audit', 'list', '--action', 'customer.erase']).filter((x) => x.outcome === 'ok');
  assert.equal(a.length, 1);
  assert.equal(a[0].object, `erasure:${rep.erasure_id}`);
  // the approval was used once
  const r2 = run(['customer', 'erase', String(p2.gid), '--approval', String(id)]);
  assert.equal(r2.status, 1);
  // erasing again: nobody there any more
  const r3 = run(['customer', 'erase', p1.custNo, '--approval', String(id)]);
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /no such customer/);
});

test('erase --verify reruns the proof by erasure id and by identifier, and finds a copy left behind', () => {
  const byId = json(['customer', 'erase', '--verify', '1']);
  assert.equal(byId.ok, true);
  assert.equal(byId.gid, p1.gid);
  const byMobile = json(['customer', 'erase', '--verify', p1.mobile]);
  assert.equal(byMobile.ok, true);
  assert.equal(byMobile.erasure_id, 1);
  // a stray export in the data directory is caught by the keyed hashes alone
  const stray = join(data, 'stray-export.csv');
  writeFileSync(stray, `cust_no,id_no\n${p1.custNo},${p1.cert}\n`);
  const r = run(['customer', 'erase', '--verify', '1', '--json']);
  assert.equal(r.status, 1);
  const bad = JSON.parse(r.stdout);
  assert.equal(bad.ok, false);
  assert.ok(bad.stores['stray-export.csv'].found >= 2);
  unlinkSync(stray);
  const none = run(['customer', 'erase', '--verify', '99999999999']);
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no erasure matches/);
});

test('POST /customers/{id}/erase: approved by a second person, the running server stops serving the person', async () => {
  srv = await startServer();
  const boss = await login('boss');
  const checker = await login('checker');
  const before = await call('POST', '/api/v1/segments/count', { session: boss, body: { expr: EXPR } });
  assert.equal(before.status, 200, before.text);
  assert.equal((await call('GET', `/api/v1/customers/${p2.custNo}`, { session: boss })).status, 200);
  // without an approval: 403, audited
  let r = await call('POST', `/api/v1/customers/${p2.custNo}/erase`, { session: boss, body: {} });
  assert.equal(r.status, 403, r.text);
  // the approval of another requester (dpo asked for p2's in the first test) is not boss's
  const req = await call('POST', '/api/v1/approvals', { session: boss, body: { kind: 'customer_erase', payload: { gid: p2.gid } } });
  assert.equal(req.status, 201, req.text);
  const id = req.json.id;
  // boss cannot approve their own request
  assert.equal((await call('POST', `/api/v1/approvals/${id}/approve`, { session: boss, body: {} })).status, 403);
  r = await call('POST', `/api/v1/customers/${p2.custNo}/erase`, { session: boss, body: { approval: id } });
  assert.equal(r.status, 403, r.text);
  assert.equal((await call('POST', `/api/v1/approvals/${id}/approve`, { session: checker, body: {} })).status, 200);
  r = await call('POST', `/api/v1/customers/${p2.custNo}/erase`, { session: boss, body: { approval: id } });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.ok, true, JSON.stringify(r.json.proof));
  assert.equal(r.json.gid, p2.gid);
  // the server answers from the new stores at once
  assert.equal((await call('GET', `/api/v1/customers/${p2.custNo}`, { session: boss })).status, 404);
  assert.equal((await call('GET', `/api/v1/customers/${p2.gid}`, { session: boss })).status, 404);
  const after1 = await call('POST', '/api/v1/segments/count', { session: boss, body: { expr: EXPR } });
  assert.equal(after1.json.count, before.json.count - 1);
  for (const s of [...p2.keys, p2.cert, p2.mobile, p2.name]) assert.deepEqual(holders(s), [], `identifier still in ${holders(s)}`);
  const audit = (await call('GET', '/api/v1/audit?limit=1000', { session: boss })).json.records;
  const mine = audit.filter((x) => x.action === 'customer.erase');
  assert.ok(mine.some((x) => x.outcome === 'ok' && x.actor === 'boss'));
  assert.ok(mine.some((x) => x.outcome === 'denied' && x.actor === 'boss'));
  const text = JSON.stringify(audit);
  for (const s of [p2.custNo, p2.cert, p2.mobile, p2.name]) assert.ok(!text.includes(s));
  srv.child.kill('SIGTERM');
  await new Promise((res) => srv.child.on('exit', res));
  const c = run(['check', '--json']);
  assert.equal(c.status, 0, c.stdout + c.stderr);
});
