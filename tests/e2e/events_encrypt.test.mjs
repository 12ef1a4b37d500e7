// events_encrypt.test.mjs — encryption at rest of the event store (docs/security.md, "Encryption
// at rest"; docs/collector.md, "Encryption at rest") through the real binary: on an encrypted data
// directory, events whose login id is a mobile go through the real collector endpoint of a running
// `tagbase serve`, are compacted, and no byte of events/ holds the mobile (raw, or in any zstd frame
// of a file that is not sealed); the funnel, `tagbase events dump`, `tagbase check` and the
// quarantine read everything; `tagbase key rotate` re-seals every event file under the new key
// and removes the old key from the key file, after which everything still reads; a plaintext
// store with events is sealed by the rotation that encrypts it; erasure removes the person's
// events and its proof opens the sealed files.
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { api, startServer, stopServer } from './lib/server.mjs';
import { files } from './lib/fs.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-evenc-'));
const data = join(root, 'data');
const land = join(root, 'land');
const key = join(root, 'data.key');
const env = { ...process.env, TAGBASE_USER: 'ops' };
delete env.TAGBASE_KEY_FILE;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(() => rmSync(root, { recursive: true, force: true }));

function run(args, { dir = data, keyFile = key, input } = {}) {
  const a = [...args, '--data', dir];
  if (keyFile) a.push('--key-file', keyFile);
  return spawnSync(BIN, a, { encoding: 'utf8', env, input, maxBuffer: 1 << 26, timeout: 120000 });
}
function ok(args, opts) {
  const r = run(args, opts);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args, opts) => JSON.parse(ok([...args, '--json'], opts));
const lines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

const ZSTD = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
// The files under `dir` holding `s`: in their raw bytes, or, for a file that is not a sealed
// stream, inside any zstd frame it holds (decompressed with the zstd tool, frame by frame).
function holding(dir, s) {
  const needle = Buffer.from(s, 'utf8');
  return files(dir).filter((f) => {
    const b = readFileSync(f);
    if (b.includes(needle)) return true;
    if (b.subarray(0, 4).toString('latin1') === 'TBS1') return false;
    for (let at = b.indexOf(ZSTD); at >= 0; at = b.indexOf(ZSTD, at + 1)) {
      const z = spawnSync('zstd', ['-dc', '--no-check'], { input: b.subarray(at), maxBuffer: 1 << 28 });
      if (z.stdout && z.stdout.includes(needle)) return true;
    }
    return false;
  });
}
// The sealed files under `dir` and the key ids they name.
function sealedKeys(dir) {
  const ids = {};
  for (const f of files(dir)) {
    const b = readFileSync(f);
    if (b.subarray(0, 4).toString('latin1') === 'TBS1') ids[f.slice(dir.length + 1)] = b.readUInt32LE(4);
  }
  return ids;
}

let WRITE_KEY, TOKEN, CUST, MOBILE, MOBILE2, DAY;

before(() => {
  const g = spawnSync(BIN, ['gen', '--customers', '300', '--seed', '5', '--date', '20261121', '--out', land], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  ok(['key', 'init']);
  ok(['init']);
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  ok(['load', land]);
  assert.equal(json(['status']).encryption.encrypted, true);
  for (const l of readFileSync(join(land, 'customers.txt'), 'utf8').split('\n').slice(1, 200)) {
    const f = l.split('\x01');
    if (!/^1[3-9]\d{9}$/.test(f[7] || '')) continue;
    if (!MOBILE) [CUST, MOBILE] = [f[0], f[7]];
    else if (f[7] !== MOBILE) {
      MOBILE2 = f[7];
      break;
    }
  }
  assert.ok(MOBILE && MOBILE2, 'two customers with a mobile');
  WRITE_KEY = JSON.parse(ok(['events', 'source', 'add', 'mbank', '--project', 'bank'])).write_key;
  ok(['user', 'add', 'ops', '--role', 'admin', '--password-stdin'], { input: 'a-long-enough-Passw0rd!\n' });
  TOKEN = JSON.parse(ok(['user', 'token', 'create', 'ops', '--name', 'evenc', '--json'])).token;
  DAY = new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10); // Asia/Shanghai
});

test('events with a mobile as login id leave no byte of it in clear under events/', async () => {
  const srv = await startServer(BIN, data, ['--key-file', key]);
  try {
    const basic = 'Basic ' + Buffer.from(WRITE_KEY + ':').toString('base64');
    const at = (s) => new Date(Date.now() - s * 1000).toISOString();
    const batch = [
      { type: 'track', event: 'view', anonymousId: 'dev-77', messageId: 'e1', timestamp: at(5), properties: { page: 'home' } },
      { type: 'identify', anonymousId: 'dev-77', userId: MOBILE, messageId: 'e2', timestamp: at(4), traits: { mobile: MOBILE } },
      { type: 'track', event: 'login', userId: MOBILE, messageId: 'e3', timestamp: at(3), properties: { phone: MOBILE, ok: true } },
      { type: 'track', event: 'pay', userId: MOBILE, messageId: 'e4', timestamp: at(2), properties: { amount: 12.5 } },
      { type: 'track', userId: MOBILE, messageId: 'e5', timestamp: at(1), properties: { phone: MOBILE } }, // quarantined: no event
    ];
    const r = await fetch(srv.url + '/v1/batch', { method: 'POST', headers: { Authorization: basic, 'Content-Type': 'application/json' }, body: JSON.stringify({ batch }) });
    assert.equal(r.status, 200, await r.text());
    let st;
    for (let i = 0; i < 100; i++) {
      st = (await api(srv, TOKEN, 'GET', '/api/v1/events/status')).json;
      if (st.events.accepted >= 4) break;
      await sleep(50);
    }
    assert.equal(st.events.accepted, 4, JSON.stringify(st.events));
    assert.equal(st.events.quarantined, 1);
    // acknowledged = durable: the log holds the records, sealed
    assert.deepEqual(holding(join(data, 'events'), MOBILE), []);
    const c = await api(srv, TOKEN, 'POST', '/api/v1/events/compact');
    assert.equal(c.status, 200, JSON.stringify(c.json));
    assert.equal(c.json.events, 4);
    assert.deepEqual(holding(join(data, 'events'), MOBILE), []);
    const ids = sealedKeys(join(data, 'events'));
    assert.equal(ids['state.bin'], 1, JSON.stringify(ids));
    assert.equal(ids['quarantine.jsonl'], 1);
    assert.equal(ids[`parts/${DAY.replaceAll('-', '')}.tbev`], 1, JSON.stringify(ids));
    // the analyses open the sealed partitions
    const f = await api(srv, TOKEN, 'POST', '/api/v1/events/funnel', { steps: ['view', 'login', 'pay'], from: DAY, to: DAY });
    assert.equal(f.status, 200, JSON.stringify(f.json));
    assert.deepEqual(f.json.steps.map((s) => s.users), [1, 1, 1]);
    const q = await api(srv, TOKEN, 'GET', '/api/v1/events/quarantine');
    assert.equal(q.status, 200, JSON.stringify(q.json));
    assert.equal(q.json.total, 1);
    assert.ok(!JSON.stringify(q.json).includes(MOBILE), 'masked');
  } finally {
    assert.deepEqual(await stopServer(srv), { code: 0, signal: null });
  }
  assert.deepEqual(holding(join(data, 'events'), MOBILE), []);
  const rows = lines(ok(['events', 'dump']));
  assert.equal(rows.length, 4);
  assert.ok(rows.some((r) => r.key === `u:${MOBILE}` && r.properties.phone === MOBILE));
  assert.ok(rows.every((r) => r.root_key === `u:${MOBILE}`), 'the device joined the login');
  const ck = json(['check']);
  assert.deepEqual(ck.problems, []);
  assert.equal(ck.event_days, 1);
  // without the key file nothing opens
  const none = run(['events', 'dump'], { keyFile: null });
  assert.equal(none.status, 1);
});

test('erasure removes the person\'s events; its proof opens the sealed files', () => {
  ok(['user', 'add', 'checker', '--role', 'admin', '--password-stdin'], { input: 'checker passphrase 1\n' });
  const gid = json(['customer', 'show', CUST]).gid;
  const id = json(['approval', 'request', 'customer_erase', '--payload', JSON.stringify({ gid })]).id;
  ok(['approval', 'approve', String(id), '--user', 'checker']);
  const rep = json(['customer', 'erase', CUST, '--approval', String(id)]);
  assert.equal(rep.ok, true, JSON.stringify(rep.proof));
  const ev = rep.proof.stores.events;
  assert.ok(ev && ev.opened_found === 0, JSON.stringify(rep.proof.stores));
  assert.equal(lines(ok(['events', 'dump'])).length, 0);
  assert.equal(json(['events', 'quarantine']).total, 0);
  assert.deepEqual(holding(join(data, 'events'), MOBILE), []);
  for (const f of files(data)) assert.ok(!readFileSync(f).includes(Buffer.from(MOBILE)), `${MOBILE} in ${f}`);
  assert.deepEqual(json(['check']).problems, []);
});

test('key rotate re-seals every event file under the new key; the old key leaves the key file', async () => {
  // another customer's events: some compacted, the last left in the log for rotation to move
  const srv = await startServer(BIN, data, ['--key-file', key]);
  const basic = 'Basic ' + Buffer.from(WRITE_KEY + ':').toString('base64');
  const send = async (event, id, ago) => {
    const r = await fetch(srv.url + '/v1/track', {
      method: 'POST',
      headers: { Authorization: basic, 'Content-Type': 'application/json' },
      body: JSON.stringify({ event, userId: MOBILE2, messageId: id, timestamp: new Date(Date.now() - ago * 1000).toISOString(), properties: { phone: MOBILE2 } }),
    });
    assert.equal(r.status, 200);
  };
  await send('view', 'f1', 3);
  assert.equal((await api(srv, TOKEN, 'POST', '/api/v1/events/compact')).status, 200);
  await send('login', 'f2', 2);
  assert.deepEqual(await stopServer(srv), { code: 0, signal: null });
  assert.deepEqual(holding(join(data, 'events'), MOBILE2), []);
  assert.match(ok(['key', 'rotate']), /rotated: .* key 1 retired/);
  const kf = readFileSync(key, 'utf8');
  assert.doesNotMatch(kf, /^key 1 /m);
  assert.match(kf, /^retired 1 /m);
  const ids = sealedKeys(join(data, 'events'));
  assert.ok(Object.keys(ids).length >= 3, JSON.stringify(ids));
  for (const [f, id] of Object.entries(ids)) assert.equal(id, 2, `${f} is under key ${id}`);
  assert.deepEqual(holding(join(data, 'events'), MOBILE2), []);
  const rows = lines(ok(['events', 'dump']));
  assert.equal(rows.length, 2);
  assert.ok(rows.every((r) => r.key === `u:${MOBILE2}` && r.properties.phone === MOBILE2));
  assert.deepEqual(json(['check']).problems, []);
  const fun = json(['funnel', 'view', 'login', '--from', DAY, '--to', DAY]);
  assert.deepEqual(fun.steps.map((s) => s.users), [1, 1]);
  // the old key is gone: nothing under events/ may need it
  const none = run(['events', 'dump'], { keyFile: null });
  assert.equal(none.status, 1);
});

test('a plaintext store with events is sealed by the rotation that encrypts it', () => {
  const plain = join(root, 'plain');
  const pk = join(root, 'plain.key');
  ok(['init'], { dir: plain, keyFile: null });
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')], { dir: plain, keyFile: null });
  ok(['load', land], { dir: plain, keyFile: null });
  ok(['events', 'source', 'add', 'mbank', '--project', 'bank'], { dir: plain, keyFile: null });
  const t = Date.now();
  const ev = (i) => JSON.stringify({ type: 'track', event: 'login', distinct_id: MOBILE, time: t + i, _track_id: i, properties: { phone: MOBILE } });
  const file = join(root, 'ev.jsonl');
  writeFileSync(file, [ev(1), ev(2)].join('\n') + '\n');
  ok(['events', 'import', file, '--source', 'mbank'], { dir: plain, keyFile: null });
  ok(['events', 'compact'], { dir: plain, keyFile: null });
  writeFileSync(file, ev(3) + '\n');
  ok(['events', 'import', file, '--source', 'mbank'], { dir: plain, keyFile: null }); // left in the log
  assert.ok(holding(join(plain, 'events'), MOBILE).length >= 2, 'clear before');
  ok(['key', 'init'], { dir: plain, keyFile: pk });
  assert.match(ok(['key', 'rotate'], { dir: plain, keyFile: pk }), /encrypted: \d+ rows/);
  assert.deepEqual(holding(join(plain, 'events'), MOBILE), []);
  assert.equal(lines(ok(['events', 'dump'], { dir: plain, keyFile: pk })).length, 3);
  assert.deepEqual(json(['check'], { dir: plain, keyFile: pk }).problems, []);
});
