// datadir.test.mjs — black-box tests of `tagbase init` and `tagbase status` on a real data
// directory: creation, idempotent re-init, JSON status, and the writer lock against another holder.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');

function tagbase(args, env = {}) {
  const r = spawnSync(BIN, args, {
    encoding: 'utf8',
    env: { ...process.env, TAGBASE_LOG: 'error', ...env },
    timeout: 20000,
  });
  if (r.error) throw r.error;
  return r;
}

// Holds an flock(2) exclusive lock on `file` from another process (util-linux flock, the same
// primitive tagbase uses) until the returned release() is called.
async function holdLock(file) {
  const child = spawn('flock', ['--close', file, 'sh', '-c', 'echo locked; exec sleep 60'], {
    detached: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise((ok, fail) => {
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`flock exited early with ${code}`)));
    child.stdout.on('data', (d) => {
      if (String(d).includes('locked')) ok();
    });
  });
  child.removeAllListeners('exit');
  const gone = new Promise((ok) => child.once('exit', ok));
  return async () => {
    process.kill(-child.pid, 'SIGTERM'); // the whole group: flock and its sleep
    await gone;
  };
}

function scratch() {
  const parent = mkdtempSync(join(tmpdir(), 'tb-e2e-datadir-'));
  return { parent, dir: join(parent, 'data'), cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

test('init creates the data directory, a second init says it is up to date', () => {
  const s = scratch();
  try {
    let r = tagbase(['init', '--data', s.dir]);
    assert.equal(r.status, 0, r.stderr);
    const created = r.stdout.match(/^created data directory '(.*)' \(format 1, schema (\d+)\)\n$/);
    assert.ok(created, r.stdout);
    assert.equal(created[1], s.dir);
    const schema = Number(created[2]);
    assert.ok(schema >= 1);
    assert.equal(readFileSync(join(s.dir, 'tagbase.version'), 'utf8'), 'tagbase-data 1\n');
    assert.ok(existsSync(join(s.dir, 'meta.db')));
    assert.ok(existsSync(join(s.dir, 'LOCK')));

    r = tagbase(['init', `--data=${s.dir}`]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, `data directory '${s.dir}' is up to date (schema ${schema})\n`);
  } finally {
    s.cleanup();
  }
});

test('TAGBASE_DATA names the directory when --data is absent', () => {
  const s = scratch();
  try {
    const r = tagbase(['init'], { TAGBASE_DATA: s.dir });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^created data directory/);
    assert.ok(existsSync(join(s.dir, 'tagbase.version')));
  } finally {
    s.cleanup();
  }
});

test('status --json parses and shows the schema init applied and no batches', () => {
  const s = scratch();
  try {
    const init = tagbase(['init', '--data', s.dir]);
    assert.equal(init.status, 0);
    const schema = Number(init.stdout.match(/schema (\d+)\)/)[1]);
    const r = tagbase(['status', '--data', s.dir, '--json']);
    assert.equal(r.status, 0, r.stderr);
    const st = JSON.parse(r.stdout);
    assert.equal(st.path, s.dir);
    assert.equal(st.format_version, 1);
    assert.equal(st.schema_version, schema);
    assert.equal(st.locked, false);
    assert.equal(st.lock_pid, null);
    assert.deepEqual(st.batches, []);

    const text = tagbase(['status', '--data', s.dir]);
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`^schema version: ${schema}$`, 'm'));
    assert.match(text.stdout, /^writer lock: +free$/m);
    assert.match(text.stdout, /^batches: +none$/m);
  } finally {
    s.cleanup();
  }
});

test('status lists the batches recorded in the meta store', () => {
  const s = scratch();
  try {
    assert.equal(tagbase(['init', '--data', s.dir]).status, 0);
    // Two real batches, recorded by `tagbase scan`, listed oldest first.
    const want = [];
    for (const date of ['20240229', '20240131']) {
      const batch = join(s.parent, `batch-${date}`);
      let r = tagbase(['gen', '--customers', '200', '--seed', '3', '--date', date, '--out', batch]);
      assert.equal(r.status, 0, r.stderr);
      r = tagbase(['scan', '--data', s.dir, '--json', batch]);
      assert.equal(r.status, 0, r.stderr);
      const files = JSON.parse(r.stdout).files;
      want.unshift([date, files.length, files.reduce((n, f) => n + f.rows, 0), batch]);
    }
    const st = JSON.parse(tagbase(['status', '--data', s.dir, '--json']).stdout);
    assert.deepEqual(st.batches.map((b) => [b.batch_date, b.files, b.rows, b.source_dir]), want);
    for (const b of st.batches) assert.match(b.scanned_at, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
    const text = tagbase(['status', '--data', s.dir]).stdout;
    assert.match(text, new RegExp(`^ +20240131 +${want[0][1]} +${want[0][2]} +\\d{4}-`, 'm'));
  } finally {
    s.cleanup();
  }
});

test('a second writer is refused while another process holds the lock; status still works', { timeout: 30000 }, async () => {
  const s = scratch();
  try {
    assert.equal(tagbase(['init', '--data', s.dir]).status, 0);
    const release = await holdLock(join(s.dir, 'LOCK'));
    try {
      const r = tagbase(['init', '--data', s.dir]);
      assert.equal(r.status, 1);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr, `tagbase init: data directory '${s.dir}' is locked by another process\n`);

      const st = tagbase(['status', '--data', s.dir, '--json']);
      assert.equal(st.status, 0, st.stderr);
      assert.equal(JSON.parse(st.stdout).locked, true);
      assert.match(tagbase(['status', '--data', s.dir]).stdout, /^writer lock: +held/m);
    } finally {
      await release();
    }
    const again = tagbase(['init', '--data', s.dir]);
    assert.equal(again.status, 0, again.stderr);
  } finally {
    s.cleanup();
  }
});

test('failures exit 1 with the detail, usage errors exit 2', () => {
  const s = scratch();
  try {
    let r = tagbase(['status', '--data', s.dir]);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `tagbase status: data directory '${s.dir}' does not exist\n`);

    mkdirSync(s.dir);
    writeFileSync(join(s.dir, 'tagbase.version'), 'tagbase-data 9\n');
    r = tagbase(['init', '--data', s.dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /has format version 9; this tagbase .* reads up to 1/);

    writeFileSync(join(s.dir, 'tagbase.version'), 'tagbase-data 1\n');
    writeFileSync(join(s.dir, 'other.txt'), 'x');
    rmSync(join(s.dir, 'tagbase.version'));
    r = tagbase(['init', '--data', s.dir]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no version stamp/);

    assert.equal(tagbase(['init', '--bogus']).status, 2);
    assert.equal(tagbase(['status', '--data']).status, 2);
    assert.equal(tagbase(['status', 'extra']).status, 2);
  } finally {
    s.cleanup();
  }
});
