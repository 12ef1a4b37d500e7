// encrypt.test.mjs — black-box tests of encryption at rest of C2 fields (docs/security.md,
// "Encryption at rest") through the real binary: `key init` makes a 0600 key file outside the data
// directory (one inside, or one others may read, is refused); a bank loaded with it leaves no
// known name, ID number or mobile in clear in the raw bytes of meta.db and meta.db-wal, nor in
// any other file of the data directory (the business-data domain segments are sealed, and so are
// the C2 columns of the profile snapshot and the C2 tags of the tag store); look-ups
// by ID number and mobile and lineage from the sealed segments still work; a missing or wrong key file is refused with a clear error
// before anything is read; `key rotate` re-encrypts everything under a new key, keeps it readable
// and removes the old key from the key file; erasure works on the sealed values; a plaintext
// store is encrypted by `key rotate`; a store without a key file stays plaintext and says so in
// `tagbase status`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, chmodSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { files } from './lib/fs.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const root = mkdtempSync(join(tmpdir(), 'tb-enc-'));
const data = join(root, 'data');
const land = join(root, 'land');
const key = join(root, 'data.key');
const env = { ...process.env, TAGBASE_USER: 'ops' };
delete env.TAGBASE_KEY_FILE;

after(() => rmSync(root, { recursive: true, force: true }));

function run(args, { dir = data, keyFile = key } = {}) {
  const a = dir ? [...args, '--data', dir] : [...args];
  if (keyFile) a.push('--key-file', keyFile);
  return spawnSync(BIN, a, { encoding: 'utf8', env, maxBuffer: 1 << 26, timeout: 120000 });
}
function ok(args, opts) {
  const r = run(args, opts);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args, opts) => JSON.parse(ok([...args, '--json'], opts));

// The meta store's raw bytes (meta.db and its WAL when there is one).
function metaBytes(dir = data) {
  const parts = [readFileSync(join(dir, 'meta.db'))];
  if (existsSync(join(dir, 'meta.db-wal'))) parts.push(readFileSync(join(dir, 'meta.db-wal')));
  return Buffer.concat(parts);
}
const holds = (buf, s) => buf.includes(Buffer.from(s, 'utf8'));
// A value sealed under key `id`: "$id$" and the base64url of at least a nonce and a tag (54
// characters). "$1$" alone also occurs in SQLite's own bytes (a page's cell offsets 0x2431, 0x24xx).
const sealedUnder = (buf, id) => new RegExp(`\\$${id}\\$[A-Za-z0-9_-]{54}`).test(buf.toString('latin1'));

// A person from the customer master (Hive text: \x01 fields): number, name, ID number, mobile.
let who;
function pickPerson() {
  const lines = readFileSync(join(land, 'customers.txt'), 'utf8').split('\n');
  for (let i = 1; i < Math.min(lines.length, 200); i++) {
    const f = lines[i].split('\x01');
    if (f[3] === '101' && /^\d{17}[\dX]$/.test(f[4]) && /^1\d{10}$/.test(f[7]) && f[2].length >= 2)
      return { cust: f[0], name: f[2], id: f[4], mobile: f[7], line: i + 1 };
  }
  throw new Error('no person with an ID number and a mobile in the first rows');
}

test('key init makes a 0600 key file outside the data directory', () => {
  ok(['gen', '--customers', '1500', '--seed', '11', '--date', '20261121', '--out', land], { dir: null, keyFile: null });
  who = pickPerson();
  // inside the data directory: refused
  const inside = run(['key', 'init'], { keyFile: join(data, 'k.key') });
  assert.equal(inside.status, 1);
  assert.match(inside.stderr, /inside data directory/);
  ok(['key', 'init']);
  assert.equal(statSync(key).mode & 0o777, 0o600);
  assert.match(readFileSync(key, 'utf8'), /^tagbase-keyfile 1\nkey 1 [0-9a-f]{64} /);
  const again = run(['key', 'init']);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /exists already/);
});

// The key id a sealed domain segment names (after its clear flag line: "TBS1", key id u32 LE), 0
// for a clear one.
function segKey(f) {
  const b = readFileSync(f);
  if (!b.subarray(0, 19).equals(Buffer.from('#tagbase-segment 2\t'))) return 0;
  const at = b.indexOf(10) + 1;
  assert.equal(b.subarray(at, at + 4).toString(), 'TBS1', f);
  return b.readUInt32LE(at + 4);
}
const segments = (dir = data) => files(join(dir, 'domains')).filter((f) => f.endsWith('.seg'));
// The key id of a whole sealed file (a snapshot column, a tag store file: "TBS1" at byte 0), 0 for
// a clear one.
function fileKey(f) {
  const b = readFileSync(f);
  return b.subarray(0, 4).toString() === 'TBS1' ? b.readUInt32LE(4) : 0;
}
// The files of the snapshots and tag stores with the class their manifest gives them.
function classedFiles(dir = data) {
  const out = [];
  for (const m of files(dir).filter((f) => f.endsWith('manifest.json'))) {
    const j = JSON.parse(readFileSync(m, 'utf8'));
    const base = dirname(m);
    if (j.format === 'tagbase-snapshot')
      for (const c of j.columns) out.push({ file: join(base, c.file), c2: c.meta?.pi_class === 'C2', kind: 'snapshot' });
    else if (Array.isArray(j.tags))
      for (const t of j.tags) out.push({ file: join(base, t.file), c2: t.pi_class === 'C2', kind: 'tags' });
  }
  return out;
}
// Every C2 column and tag file is sealed under `key`, every other file is clear.
function assertSealedStores(key, dir = data) {
  const fl = classedFiles(dir);
  assert.ok(fl.some((f) => f.kind === 'snapshot' && f.c2));
  for (const f of fl) assert.equal(fileKey(f.file), f.c2 ? key : 0, `${f.file} (${f.c2 ? 'C2' : 'C1'})`);
  return fl;
}

test('a load under the key leaves no name, ID number or mobile in clear in the data directory', () => {
  ok(['init']);
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  ok(['load', land]);
  const st = json(['status']);
  assert.equal(st.encryption.encrypted, true);
  assert.equal(st.encryption.key_id, 1);
  assert.match(ok(['status']), /C2 fields encrypted at rest with key 1/);
  ok(['check']); // a writer-free reader; the last writer's close checkpointed the WAL
  const b = metaBytes();
  assert.ok(holds(b, who.cust), 'customer numbers stay in clear (not C2): the probe reads the right file');
  for (const s of [who.name, who.id, who.mobile]) assert.ok(!holds(b, s), `'${s}' is in meta.db in clear`);
  // Nowhere else either: the domain segments are sealed, snapshots have no C2 column
  // (docs/snapshot.md).
  for (const s of [who.name, who.id, who.mobile]) {
    const where = files(data).filter((f) => holds(readFileSync(f), s));
    assert.deepEqual(where, [], `${s} in clear in ${where}`);
  }
  const segs = segments();
  assert.ok(segs.length >= 10);
  assert.deepEqual([...new Set(segs.map(segKey))], [1], 'every domain segment is sealed under key 1');
});

test('C2 snapshot columns and C2 tags are sealed; counts and the 360 view read them', () => {
  ok(['tag', 'load', join(REPO, 'catalog', 'default.json'), '--user', 'dev']);
  ok(['tag', 'submit', '--all', '--user', 'dev']);
  ok(['tag', 'approve', '--all', '--user', 'steward']);
  ok(['tag', 'build']);
  const fl = assertSealedStores(1);
  assert.ok(fl.filter((f) => f.kind === 'tags' && f.c2).length >= 50, 'C2 tags (balances, ...) are sealed');
  assert.ok(fl.filter((f) => f.kind === 'tags' && !f.c2).length >= 50, 'C1 tags stay clear');
  assert.ok(fl.some((f) => /aum\.tag$/.test(f.file) && f.c2));
  const n = json(['seg', 'count', 'aum >= 10000 and age >= 30']).count;
  assert.ok(n > 0 && n < 1500, `count ${n}`);
  const v = json(['customer', 'show', who.cust]);
  assert.ok(v.gid >= 0);
  ok(['check']); // verifies every sealed file's plaintext checksum
  // without the key nothing opens (the open refuses before reading)
  assert.equal(run(['seg', 'count', 'aum >= 10000'], { keyFile: null }).status, 1);
});

// The customers.txt lines that `explain` names as sources of the person's values.
const masterLines = (opts) =>
  json(['explain', who.cust], opts)
    .attributes.flatMap((a) => a.sources || [])
    .filter((s) => s.file === 'customers.txt')
    .flatMap((s) => s.lines);

test('lineage reads its source rows from the sealed segments', () => {
  const lines = masterLines();
  assert.ok(lines.length > 0 && lines.every((l) => l === who.line), `${lines} vs line ${who.line}`);
});

test('look-ups by ID number and mobile work on the encrypted store', () => {
  const byId = json(['customer', 'find', who.id]);
  assert.equal(byId.length, 1);
  assert.match(byId[0].reasons, /same ID number/);
  const byMobile = json(['customer', 'find', who.mobile]);
  assert.ok(byMobile.some((c) => c.gid === byId[0].gid && /same mobile/.test(c.reasons)));
  const view = json(['customer', 'show', who.mobile]);
  assert.equal(view.gid, byId[0].gid);
  assert.equal(view.cert_no, `${who.id.slice(0, 6)}********${who.id.slice(-4)}`);
  assert.equal(view.attributes.name.value, `${who.name[0]}${'*'.repeat([...who.name].length - 1)}`);
  const copy = ok(['customer', 'copy', who.id]); // the person's own copy: unmasked, decrypted
  assert.ok(copy.includes(who.mobile) && copy.includes(who.id));
});

test('a missing, wrong or loosely protected key file is refused before anything is read', () => {
  const none = run(['customer', 'find', who.id], { keyFile: null });
  assert.equal(none.status, 1);
  assert.match(none.stderr, /is encrypted \(key 1\): give its key file/);
  const other = join(root, 'other.key');
  ok(['key', 'init'], { keyFile: other });
  const wrong = run(['customer', 'find', who.id], { keyFile: other });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /different key 1 than data directory/);
  const load = run(['load', land], { keyFile: other });
  assert.equal(load.status, 1);
  chmodSync(other, 0o644);
  const loose = run(['status'], { keyFile: other });
  assert.equal(loose.status, 1);
  assert.match(loose.stderr, /chmod 600/);
});

test('key rotate re-encrypts everything under a new key and removes the old one', () => {
  const before = metaBytes();
  assert.ok(sealedUnder(before, 1));
  const nsegs = segments().length;
  const counted = json(['seg', 'count', 'aum >= 10000 and age >= 30']).count;
  const c2files = classedFiles().filter((f) => f.c2);
  const nsnap = c2files.filter((f) => f.kind === 'snapshot').length;
  const ntags = c2files.filter((f) => f.kind === 'tags').length;
  assert.match(
    ok(['key', 'rotate']),
    new RegExp(`rotated: \\d+ rows, ${nsegs} domain segments, ${nsnap} snapshot columns, ${ntags} tag files and 0 event files re-encrypted under key 2; key 1 retired`),
  );
  assert.deepEqual([...new Set(segments().map(segKey))], [2], 'every domain segment is under key 2');
  assertSealedStores(2);
  assert.equal(json(['seg', 'count', 'aum >= 10000 and age >= 30']).count, counted);
  const kf = readFileSync(key, 'utf8');
  assert.match(kf, /^retired 1 /m);
  assert.doesNotMatch(kf, /^key 1 /m);
  assert.match(kf, /^key 2 [0-9a-f]{64} /m);
  const st = json(['status']);
  assert.equal(st.encryption.key_id, 2);
  assert.equal(st.encryption.retired_keys, 1);
  const b = metaBytes();
  assert.ok(!sealedUnder(b, 1), 'no value under the retired key is left');
  assert.ok(sealedUnder(b, 2));
  for (const s of [who.name, who.id, who.mobile]) assert.ok(!holds(b, s));
  assert.equal(json(['customer', 'find', who.id])[0].gid, json(['customer', 'find', who.mobile])[0].gid);
  const ks = json(['key', 'status']);
  assert.deepEqual(
    ks.keys.map((k) => [k.id, k.state]),
    [
      [1, 'retired'],
      [2, 'active'],
    ],
  );
  // a second load of the same batch goes through the rotated key
  ok(['load', land]);
  ok(['check']);
  assert.deepEqual([...new Set(segments().map(segKey))], [2]);
  ok(['tag', 'build']);
  assertSealedStores(2);
  assert.ok(masterLines().includes(who.line));
});

test('erasure on the encrypted store finds the sealed identifiers and leaves none anywhere', () => {
  const r = spawnSync(BIN, ['user', 'add', 'checker', '--role', 'admin', '--password-stdin', '--data', data, '--key-file', key], {
    encoding: 'utf8', env, input: 'checker passphrase 1\n',
  });
  assert.equal(r.status, 0, r.stderr);
  const gid = json(['customer', 'show', who.id]).gid;
  const id = json(['approval', 'request', 'customer_erase', '--payload', JSON.stringify({ gid })]).id;
  ok(['approval', 'approve', String(id), '--user', 'checker']);
  const rep = json(['customer', 'erase', who.id, '--approval', String(id)]);
  assert.equal(rep.ok, true, JSON.stringify(rep.proof));
  // the proof opened the sealed segments and scanned their rows (raw bytes would prove nothing)
  assert.equal(rep.proof.stores.domains.opened, segments().length, JSON.stringify(rep.proof.stores.domains));
  assert.ok(rep.identifiers.id_no === 1 && rep.identifiers.mobile >= 1 && rep.identifiers.name >= 1, JSON.stringify(rep.identifiers));
  for (const s of [who.cust, who.id, who.mobile, who.name]) {
    const where = files(data).filter((f) => holds(readFileSync(f), s));
    assert.deepEqual(where, [], `${s} still in ${where}`);
  }
  const gone = run(['customer', 'show', who.mobile]);
  assert.equal(gone.status, 1);
  ok(['check']);
});

test('without a key file a store stays plaintext and says so; key rotate encrypts it', () => {
  const plain = join(root, 'plain');
  ok(['init'], { dir: plain, keyFile: null });
  ok(['standard', 'load', join(REPO, 'standards', 'default.json')], { dir: plain, keyFile: null });
  ok(['load', land], { dir: plain, keyFile: null });
  assert.match(ok(['status'], { dir: plain, keyFile: null }), /encryption: +OFF/);
  assert.equal(json(['status'], { dir: plain, keyFile: null }).encryption.encrypted, false);
  ok(['check'], { dir: plain, keyFile: null });
  assert.ok(holds(metaBytes(plain), who.id));
  const pk = join(root, 'plain.key');
  ok(['key', 'init'], { dir: plain, keyFile: pk });
  assert.equal(json(['status'], { dir: plain, keyFile: pk }).encryption.pending, true);
  assert.ok(segments(plain).every((f) => segKey(f) === 0) && holds(readFileSync(segments(plain)[0]), '\x01'));
  assert.ok(classedFiles(plain).every((f) => fileKey(f.file) === 0));
  assert.match(ok(['key', 'rotate'], { dir: plain, keyFile: pk }), /encrypted: \d+ rows of master data, \d+ domain segments, [1-9]\d* snapshot columns, 0 tag files and 0 event files sealed/);
  const b = metaBytes(plain);
  for (const s of [who.name, who.id, who.mobile]) assert.ok(!holds(b, s), `'${s}' left in clear`);
  for (const s of [who.name, who.id, who.mobile]) {
    const where = files(plain).filter((f) => holds(readFileSync(f), s));
    assert.deepEqual(where, [], `${s} in clear in ${where}`);
  }
  assert.deepEqual([...new Set(segments(plain).map(segKey))], [1]);
  assertSealedStores(1, plain);
  assert.ok(masterLines({ dir: plain, keyFile: pk }).includes(who.line));
  assert.equal(json(['customer', 'find', who.id], { dir: plain, keyFile: pk }).length, 1);
});
