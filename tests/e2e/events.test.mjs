// events.test.mjs — event collection end to end: the real tracking SDKs apps ship (Segment's
// analytics-node, RudderStack's rudder-sdk-node, Sensors' sa-sdk-node; pinned in tests/e2e/sdk and
// installed from npm here) send to a real `tagbase serve` on 127.0.0.1; every event must be stored
// exactly once with the right fields, events before login must belong to the customer after it,
// the tracking plan must quarantine what breaks it, retries must not duplicate, real-time rules
// must tag, and kill -9 at any moment must lose no acknowledged event.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import zlib from 'node:zlib';
import { api, startServer as startServerAt, stopServer } from './lib/server.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const HERE = dirname(fileURLToPath(import.meta.url));
const SDK = join(HERE, 'sdk');
const root = mkdtempSync(join(tmpdir(), 'tb-ev-'));
const data = join(root, 'data');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(() => rmSync(root, { recursive: true, force: true }));

function cli(args, { dir = data, input, ok = true } = {}) {
  const r = spawnSync(BIN, [...args, '--data', dir], { encoding: 'utf8', input, maxBuffer: 1 << 28, timeout: 120000 });
  if (ok) assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r;
}

const startServer = (dir) => startServerAt(BIN, dir, ['--threads', '4']);

let KEY, TOKEN, CUST, MOBILE, GID, CUST2;

async function status(srv) {
  const r = await api(srv, TOKEN, 'GET', '/api/v1/events/status');
  assert.equal(r.status, 200, JSON.stringify(r.json));
  return r.json;
}

async function waitAccepted(srv, n) {
  const t0 = Date.now();
  let s;
  while (Date.now() - t0 < 20000) {
    s = await status(srv);
    if (s.events.accepted >= n) return s;
    await sleep(100);
  }
  assert.fail(`accepted ${s.events.accepted}, expected ${n}: ${JSON.stringify(s.events)}\n${srv.stderr.slice(-3000)}`);
}

function dump(dir = data) {
  return cli(['events', 'dump', '--limit', '10000000'], { dir })
    .stdout.trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

before(() => {
  // The SDKs, as pinned in tests/e2e/sdk (exact versions in package.json, the rest by the lock).
  // Not `npm ci`: this registry lacks some platform builds of an optional dependency of an
  // optional dependency (rudder-sdk-node -> bull -> msgpackr-extract), so the lock cannot list
  // them and npm ci's strict check refuses it; `install --no-save` follows the lock and never
  // rewrites it.
  if (!existsSync(join(SDK, 'node_modules', 'sa-sdk-node'))) {
    const r = spawnSync('npm', ['install', '--no-save', '--no-audit', '--no-fund'], { cwd: SDK, encoding: 'utf8', timeout: 300000 });
    assert.equal(r.status, 0, `npm install in tests/e2e/sdk failed: ${r.stderr}`);
  }
  const gen = join(root, 'gen');
  const g = spawnSync(BIN, ['gen', '--customers', '300', '--date', '20261120', '--out', gen, '--seed', '7'], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  cli(['init']);
  cli(['standard', 'load', resolve(HERE, '../../standards/default.json')]);
  cli(['load', gen, '--batch', '20261120']);
  cli(['tag', 'load', resolve(HERE, '../../catalog/default.json'), '--user', 'dev']);
  cli(['tag', 'submit', '--all', '--user', 'dev']);
  cli(['tag', 'approve', '--all', '--user', 'steward', '--comment', 'test']);
  cli(['tag', 'build', '--batch', '20261120']);
  const rows = readFileSync(join(gen, 'customers.txt'), 'utf8').split('\n');
  [CUST, , , , , , , MOBILE] = rows[0].split('\x01');
  CUST2 = rows[1].split('\x01')[0];
  GID = JSON.parse(cli(['customer', 'show', CUST, '--json']).stdout).gid;
  assert.ok(Number.isInteger(GID), 'the customer has an internal id');
  KEY = JSON.parse(cli(['events', 'source', 'add', 'mbank', '--project', 'bank']).stdout).write_key;
  assert.match(KEY, /^[0-9a-f]{40}$/);
  const plan = join(root, 'plan.json');
  writeFileSync(
    plan,
    JSON.stringify({
      unknown_events: 'flag',
      events: {
        transfer: { properties: { amount: { type: 'number', required: true, minimum: 0 }, seq: { type: 'integer' } } },
        login: { properties: { success: { type: 'boolean', required: true } } },
      },
    }),
  );
  assert.equal(JSON.parse(cli(['events', 'plan', 'load', 'mbank', plan]).stdout).version, 1);
  const bad = cli(['events', 'plan', 'load', 'mbank', resolve(HERE, '../../README.md')], { ok: false });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /not JSON/);
  const rules = join(root, 'rules.json');
  writeFileSync(
    rules,
    JSON.stringify({
      rules: [
        { tag: 'rt_large_outflow', event: 'transfer', where: { amount: { gte: 50000 } }, ttl_s: 7 * 86400 },
        { tag: 'rt_login_failures', event: 'login', where: { success: false }, count: 3, within_s: 3600, ttl_s: 86400 },
      ],
    }),
  );
  cli(['events', 'rules', 'load', rules]);
  cli(['user', 'add', 'ops', '--role', 'admin', '--password-stdin'], { input: 'a-long-enough-Passw0rd!\n' });
  TOKEN = JSON.parse(cli(['user', 'token', 'create', 'ops', '--name', 'evtest', '--json']).stdout).token;
  assert.ok(TOKEN);
});

test('real SDKs: Segment, RudderStack and Sensors events are stored exactly once with their fields', async () => {
  const require = createRequire(join(SDK, 'package.json'));
  const srv = await startServer(data);
  // Segment: five events before login on a device, then identify, then logged-in events.
  const { Analytics } = require('@segment/analytics-node');
  const seg = new Analytics({ writeKey: KEY, host: srv.url, flushAt: 7, maxRetries: 2 });
  for (let i = 0; i < 5; i++) seg.track({ anonymousId: 'seg-dev-1', event: 'view_product', properties: { sdk: 'segment', seq: i } });
  seg.identify({ anonymousId: 'seg-dev-1', userId: CUST, traits: { plan: 'gold' } });
  for (let i = 5; i < 30; i++) seg.track({ userId: CUST, event: 'view_balance', properties: { sdk: 'segment', seq: i } });
  seg.track({ userId: CUST, event: 'transfer', properties: { sdk: 'segment', seq: 30, amount: 60000 } });
  await seg.closeAndFlush({ timeout: 15000 });

  // RudderStack: gzip bodies with a form content type, originalTimestamp and channel.
  const Rudder = require('@rudderstack/rudder-sdk-node');
  const rs = new Rudder(KEY, { dataPlaneUrl: srv.url, flushAt: 5, flushInterval: 200 });
  for (let i = 0; i < 20; i++) rs.track({ userId: CUST2, anonymousId: 'rs-dev-1', event: 'fund_purchase', properties: { sdk: 'rudder', seq: i } });
  await new Promise((res, rej) => rs.flush((err) => (err ? rej(err) : res())));

  // Sensors: base64 of gzip in data_list, project parameter, track_signup links the device.
  const SA = require('sa-sdk-node');
  const SensorsAnalytics = SA.default || SA;
  const sa = new SensorsAnalytics();
  sa.submitTo({ url: `${srv.url}/sa?project=bank`, gzip: true, mode: 'track', timeout: 10000 });
  for (let i = 0; i < 10; i++) sa.track('sa-dev-9', 'bill_payment', { sdk: 'sensors', seq: i });
  sa.trackSignup(MOBILE, 'sa-dev-9', { sdk: 'sensors', seq: 10 });
  for (let i = 11; i < 15; i++) sa.track(MOBILE, 'bill_payment', { sdk: 'sensors', seq: i });

  // 31 Segment tracks + 1 identify, 20 RudderStack tracks, 15 Sensors events.
  // A failed check stops the server before it throws: the next tests use the same data directory.
  try {
    const st = await waitAccepted(srv, 32 + 20 + 15);
    assert.equal(st.events.accepted, 67, JSON.stringify(st.events));
    assert.equal(st.events.duplicates, 0);
    assert.equal(st.events.quarantined, 0);
    assert.equal(st.events.unplanned > 0, true, 'events outside the plan are flagged under policy "flag"');
    const tagged = st.realtime.find((r) => r.tag === 'rt_large_outflow');
    assert.equal(tagged.persons_ever_tagged, 1, 'the 60,000 yuan transfer set the real-time tag');
    // Segments see it: the customer is the one member of the real-time tag. It is published within
    // a second or so; the wait allows 15 s, since a sanitizer build on a busy machine is slower and
    // how fast is the benchmarks' business, not this test's.
    let cnt;
    for (const until = Date.now() + 15000; ; ) {
      cnt = await api(srv, TOKEN, "POST", "/api/v1/segments/count", { expr: "rt_large_outflow = true" });
      if ((cnt.status === 200 && cnt.json.count === 1) || Date.now() > until) break;
      await sleep(100);
    }
    assert.equal(cnt.status, 200, JSON.stringify(cnt.json));
    assert.equal(cnt.json.count, 1, "the real-time tag is seen by segment counts");

    const c = await api(srv, TOKEN, 'POST', '/api/v1/events/compact');
    assert.equal(c.status, 200, JSON.stringify(c.json));
    assert.equal(c.json.events, 67);
  } catch (e) {
    await stopServer(srv);
    throw e;
  }
  assert.deepEqual(await stopServer(srv), { code: 0, signal: null });

  const rows = dump();
  assert.equal(rows.length, 67);
  for (const [sdk, n] of [['segment', 31], ['rudder', 20], ['sensors', 15]]) {
    const seqs = rows.filter((r) => r.properties.sdk === sdk).map((r) => r.properties.seq).sort((a, b) => a - b);
    assert.deepEqual(seqs, [...Array(n).keys()], `${sdk}: every event once`);
  }
  // ID mapping: the device's events before login belong to the customer.
  const before = rows.filter((r) => r.properties.sdk === 'segment' && r.properties.seq < 5);
  assert.equal(before.length, 5);
  for (const r of before) {
    assert.equal(r.key, 'a:seg-dev-1');
    assert.equal(r.root_key, `u:${CUST}`);
    assert.equal(r.gid, GID);
  }
  const signedUp = rows.filter((r) => r.properties.sdk === 'sensors');
  for (const r of signedUp) assert.equal(r.root_key, `u:${MOBILE}`, 'Sensors events before track_signup join the login');
  assert.ok(signedUp.every((r) => r.gid === GID), 'the mobile resolves to the same customer');
  const ident = rows.find((r) => r.event === '$identify');
  assert.equal(ident.properties.plan, 'gold');
  const tr = rows.find((r) => r.event === 'transfer');
  assert.equal(tr.properties.amount, 60000);
  const rsRow = rows.find((r) => r.properties.sdk === 'rudder');
  assert.equal(rsRow.key, `u:${CUST2}`);
  assert.ok(Math.abs(rsRow.ts_ms - Date.now()) < 120000, 'RudderStack originalTimestamp kept (skew-corrected)');
});

test('bad input: 400 for malformed or oversized bodies, 401 for unknown keys, quarantine for plan violations, no duplicates on retry', async () => {
  const srv = await startServer(data);
  const base = (await status(srv)).events;
  // The real-time tag set before the restart is still there (checkpoint and log replay).
  const cnt = await api(srv, TOKEN, 'POST', '/api/v1/segments/count', { expr: 'rt_large_outflow = true' });
  assert.equal(cnt.json.count, 1, 'a real-time tag survives a restart');
  const post = (path, body, headers = {}) =>
    fetch(srv.url + path, {
      method: 'POST',
      headers: { Authorization: 'Basic ' + Buffer.from(KEY + ':').toString('base64'), 'Content-Type': 'application/json', ...headers },
      body,
    });
  let r = await post('/v1/batch', '{"batch": [');
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /not JSON.*byte/);
  r = await post('/v1/batch', zlib.gzipSync('{"batch":[]}').subarray(0, 15), { 'Content-Encoding': 'gzip' });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /gzip data truncated/);
  r = await post('/v1/batch', JSON.stringify({ batch: 'x' }));
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /field 'batch'/);
  const big = JSON.stringify({ batch: [{ type: 'track', event: 'x', userId: 'u', properties: { pad: 'y'.repeat(600 * 1024) } }] });
  r = await post('/v1/batch', big);
  assert.equal(r.status, 400);
  assert.match((await r.json()).error.message, /larger than/);
  r = await fetch(srv.url + '/v1/track', { method: 'POST', headers: { Authorization: 'Basic ' + Buffer.from('nope:').toString('base64') }, body: '{}' });
  assert.equal(r.status, 401);
  r = await fetch(srv.url + '/sa?project=bank&data=%%%');
  assert.equal(r.status, 400);
  r = await fetch(srv.url + '/sa?project=nobody&data=' + Buffer.from('[]').toString('base64'));
  assert.equal(r.status, 401);
  r = await fetch(srv.url + '/v1/nothing', { method: 'POST', body: '{}' });
  assert.equal(r.status, 404);

  // Plan violations and impossible times are kept in quarantine with a reason, not dropped.
  const now = new Date().toISOString();
  const batch = {
    writeKey: KEY,
    batch: [
      { type: 'track', event: 'transfer', userId: CUST, messageId: 'bad-1', timestamp: now, properties: { amount: 'lots' } },
      { type: 'track', event: 'login', userId: CUST, messageId: 'bad-2', timestamp: now, properties: {} },
      { type: 'track', event: 'login', userId: CUST, messageId: 'bad-3', timestamp: '2099-01-01T00:00:00Z', properties: { success: true } },
      { type: 'track', userId: CUST, messageId: 'bad-4' },
      { type: 'track', event: 'login', userId: CUST, messageId: 'ok-1', timestamp: now, properties: { success: false } },
      { type: 'track', event: 'login', userId: CUST, messageId: 'ok-2', timestamp: now, properties: { success: false } },
      { type: 'track', event: 'login', userId: CUST, messageId: 'ok-3', timestamp: now, properties: { success: false } },
    ],
  };
  r = await fetch(srv.url + '/v1/batch', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), { success: true, accepted: 3, duplicates: 0, quarantined: 4 });
  // The same batch again (a client retry): nothing accepted twice.
  r = await fetch(srv.url + '/v1/batch', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(batch) });
  assert.deepEqual(await r.json(), { success: true, accepted: 0, duplicates: 3, quarantined: 4 });
  const st = await status(srv);
  assert.equal(st.events.accepted, base.accepted + 3);
  assert.equal(st.realtime.find((x) => x.tag === 'rt_login_failures').persons_ever_tagged, 1, 'three failed logins in an hour');
  // Valid JSON the partitions cannot hold (a number jansson overflows, an empty key) is accepted
  // at the edge, then kept in quarantine by compaction, which goes on with everything else.
  for (const [id, body] of [['odd-1', '{"n":1e400}'], ['odd-2', '{"":1}']]) {
    r = await fetch(srv.url + '/v1/batch', {
      method: 'POST',
      body: `{"writeKey":"${KEY}","batch":[{"type":"track","event":"odd","userId":"${CUST}","messageId":"${id}","properties":${body}}]}`,
    });
    assert.equal(r.status, 200);
  }
  const comp = await api(srv, TOKEN, 'POST', '/api/v1/events/compact');
  assert.equal(comp.status, 200, JSON.stringify(comp.json));
  // four rule breakers twice (a retried batch's quarantined events are kept again: only stored
  // events enter deduplication) and the two unstorable ones
  assert.equal(comp.json.quarantined, 10);
  const q = await api(srv, TOKEN, 'GET', '/api/v1/events/quarantine?limit=20');
  assert.equal(q.status, 200);
  const reasons = q.json.newest.map((x) => x.reason).join('\n');
  assert.match(reasons, /property 'amount' is not of type number/);
  assert.match(reasons, /required property 'success' is missing/);
  assert.match(reasons, /timestamp more than/);
  assert.match(reasons, /track without a string 'event'/);
  assert.match(reasons, /properties the event store cannot hold/);
  assert.ok(!JSON.stringify(q.json).includes(CUST), 'login ids are masked in the quarantine listing');
  assert.deepEqual(await stopServer(srv), { code: 0, signal: null });
});

test('kill -9 while batches are acknowledged: every acknowledged event is stored once after retries', async () => {
  const dir = join(root, 'crash');
  cli(['init'], { dir });
  cli(['config', 'set', 'events.compact_chunk', '500'], { dir }); // compaction in several chunks
  const key = JSON.parse(cli(['events', 'source', 'add', 'app'], { dir }).stdout).write_key;
  let srv = await startServer(dir);
  const N = 120, PER = 25;
  const body = (b) =>
    JSON.stringify({
      writeKey: key,
      batch: Array.from({ length: PER }, (_, i) => ({
        type: 'track',
        event: 'tick',
        anonymousId: `dev-${b % 7}`,
        messageId: `b${b}-e${i}`,
        properties: { b, i },
      })),
    });
  const acked = new Set();
  let killed = false;
  const send = async (b, url) => {
    try {
      const r = await fetch(url + '/v1/batch', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body(b) });
      if (r.status === 200) acked.add(b);
    } catch {
      /* the server died under us: this batch is not acknowledged */
    }
  };
  // Four clients; the server is killed -9 once 40 batches are acknowledged.
  let next = 0;
  const worker = async (url) => {
    while (next < N && !killed) {
      const b = next++;
      await send(b, url);
      if (acked.size >= 40 && !killed) {
        killed = true;
        srv.child.kill('SIGKILL');
      }
    }
  };
  await Promise.all([worker(srv.url), worker(srv.url), worker(srv.url), worker(srv.url)]);
  await srv.exited;
  assert.ok(acked.size >= 40 && acked.size < N, `acknowledged before the kill: ${acked.size}`);
  const ackedBefore = new Set(acked);
  // Restart; the clients retry everything (acknowledged or not, as a client that lost answers does).
  srv = await startServer(dir);
  for (let b = 0; b < N; b++) await send(b, srv.url);
  assert.equal(acked.size, N);
  const after1 = await fetch(srv.url + '/v1/batch', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: body(0) });
  assert.deepEqual(await after1.json(), { success: true, accepted: 0, duplicates: PER, quarantined: 0 });
  assert.deepEqual(await stopServer(srv), { code: 0, signal: null });
  cli(['events', 'compact'], { dir });
  const rows = dump(dir);
  const seen = new Map();
  for (const r of rows) {
    const k = `${r.properties.b}/${r.properties.i}`;
    seen.set(k, (seen.get(k) || 0) + 1);
  }
  assert.equal(rows.length, N * PER, 'no event lost, none twice');
  for (const b of ackedBefore) for (let i = 0; i < PER; i++) assert.equal(seen.get(`${b}/${i}`), 1);
  assert.ok([...seen.values()].every((v) => v === 1));
});

test('flood control per write key, retention of day partitions, tagbase check reads the event store', async () => {
  const dir = join(root, 'flood');
  cli(['init'], { dir });
  cli(['config', 'set', 'events.max_rate', '30'], { dir });
  cli(['config', 'set', 'events.retention_days', '30'], { dir });
  cli(['config', 'set', 'events.max_event_bytes', '1000'], { dir });
  const key = JSON.parse(cli(['events', 'source', 'add', 'app'], { dir }).stdout).write_key;
  // History: one event 200 days ago, one 2 days ago, imported through the collector.
  const old = join(root, 'old.jsonl');
  const day = 86400000;
  writeFileSync(
    old,
    [200, 2]
      .map((d, i) => JSON.stringify({ type: 'track', event: 'login', distinct_id: `p${i}`, time: Date.now() - d * day, _track_id: i, properties: { success: true } }))
      .join('\n') + '\n',
  );
  assert.equal(JSON.parse(cli(['events', 'import', old, '--source', 'app'], { dir }).stdout).accepted, 2);
  const c = JSON.parse(cli(['events', 'compact'], { dir }).stdout);
  assert.equal(c.events, 2);
  assert.equal(c.days_removed, 1, 'the partition 200 days back is past the 30-day retention');
  const chk = JSON.parse(cli(['check', '--json'], { dir }).stdout);
  assert.equal(chk.ok, true, JSON.stringify(chk.problems));
  assert.equal(chk.event_days, 1);
  assert.ok(chk.event_log_records >= 1);

  const srv = await startServer(dir);
  const batch = (n, tag) =>
    JSON.stringify({ writeKey: key, batch: Array.from({ length: n }, (_, i) => ({ type: 'track', event: 'tick', anonymousId: 'd', messageId: `${tag}-${i}` })) });
  let r = await fetch(srv.url + '/v1/batch', { method: 'POST', body: batch(40, 'a') });
  assert.equal(r.status, 429);
  assert.equal(r.headers.get('retry-after'), '1');
  await sleep(1100);
  r = await fetch(srv.url + '/v1/batch', { method: 'POST', body: batch(20, 'b') });
  assert.equal(r.status, 200);
  // the per-event limit is a setting: an event over 1000 bytes is quarantined, its batch kept
  await sleep(1100);
  const big = { writeKey: key, batch: [{ type: 'track', event: 'big', anonymousId: 'd', messageId: 'big-1', properties: { pad: 'x'.repeat(1500) } }] };
  r = await fetch(srv.url + '/v1/batch', { method: 'POST', body: JSON.stringify(big) });
  assert.deepEqual(await r.json(), { success: true, accepted: 0, duplicates: 0, quarantined: 1 });
  assert.deepEqual(await stopServer(srv), { code: 0, signal: null });

  // A damaged log record is named by tagbase check.
  const seg = join(dir, 'events', 'log', '00000001.log');
  const bytes = readFileSync(seg);
  bytes[bytes.length - 3] ^= 0xff;
  writeFileSync(seg, bytes);
  const bad = cli(['check', '--json'], { dir, ok: false });
  const doc = JSON.parse(bad.stdout);
  assert.equal(doc.ok, false);
  assert.match(JSON.stringify(doc.problems), /event log/);
});

test('behaviour in segment expressions over collected events: did() and event() agree with the stored events', () => {
  // The generated app events (30 days up to the batch date) through the collector.
  const gen = join(root, 'gen', 'events.jsonl');
  const imp = JSON.parse(cli(['events', 'import', gen, '--source', 'mbank']).stdout);
  assert.ok(imp.accepted > 100, JSON.stringify(imp));
  cli(['events', 'compact']);
  // Up to the end of the as-of day (the batch date, Asia/Shanghai).
  const asOfEnd = Date.UTC(2026, 10, 21) - 8 * 3600000;
  const rows = dump().filter((r) => r.gid !== undefined && r.ts_ms < asOfEnd);
  const per = new Map();
  for (const r of rows.filter((x) => x.event === 'login')) per.set(r.gid, (per.get(r.gid) || 0) + 1);
  const did = JSON.parse(cli(['seg', 'count', "did('login')", '--json']).stdout).count;
  assert.equal(did, per.size, 'did(login) counts the customers with a login event');
  const three = JSON.parse(cli(['seg', 'count', "event('login') >= 3", '--json']).stdout).count;
  assert.equal(three, [...per.values()].filter((n) => n >= 3).length);
  const both = JSON.parse(cli(['seg', 'count', "did('login') and not did('login')", '--json']).stdout).count;
  assert.equal(both, 0);
});
