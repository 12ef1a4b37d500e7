// events_analysis.test.mjs — black-box tests of event analysis through the binary: events sent
// through the collector (`tagbase events import` + `compact`, Segment format), then `tagbase
// funnel` (per-step users against a JavaScript brute force of the documented semantics, the
// property filter, the window, the trend, the median), `paths`, `retention` and `evstat`, and
// spec errors. The events are random but seeded, over three users' worth of edge cases plus 200
// random users.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const root = mkdtempSync(join(tmpdir(), 'tb-evan-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
const data = join(root, 'data');

function run(args) {
  return spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', maxBuffer: 1 << 28 });
}
function ok(args) {
  const r = run(args);
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const json = (args) => JSON.parse(ok([...args, '--json']));

// 2026-11-15 00:00 Asia/Shanghai
const T0 = Date.UTC(2026, 10, 14, 16);
const NAMES = ['launch', 'view', 'click', 'apply'];
const events = []; // {user, ts, event, channel}
let seed = 7;
const rnd = (n) => {
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return seed % n;
};

test('setup: events through the collector', () => {
  // edge cases: u-a converts on its second attempt; u-b's view is 25 h after launch (window);
  // u-c does the steps out of order
  const h = 3600000;
  events.push({ user: 'u-a', ts: T0 + 1 * h, event: 'launch' }, { user: 'u-a', ts: T0 + 30 * h, event: 'launch' },
    { user: 'u-a', ts: T0 + 31 * h, event: 'view', channel: 'app' }, { user: 'u-a', ts: T0 + 32 * h, event: 'click' },
    { user: 'u-b', ts: T0 + 2 * h, event: 'launch' }, { user: 'u-b', ts: T0 + 27 * h, event: 'view', channel: 'web' },
    { user: 'u-c', ts: T0 + 3 * h, event: 'click' }, { user: 'u-c', ts: T0 + 4 * h, event: 'view' },
    { user: 'u-c', ts: T0 + 5 * h, event: 'launch' });
  for (let u = 0; u < 200; u++)
    for (let k = 0, n = 2 + rnd(12); k < n; k++)
      events.push({ user: `r${u}`, ts: T0 + rnd(3 * 86400) * 1000 + k, event: NAMES[rnd(4)], channel: rnd(3) ? 'app' : undefined });
  const lines = events.map((e, i) => JSON.stringify({
    type: 'track', event: e.event, userId: e.user, messageId: `m${i}`,
    timestamp: new Date(e.ts).toISOString(), properties: e.channel ? { channel: e.channel } : {},
  }));
  writeFileSync(join(root, 'ev.jsonl'), lines.join('\n') + '\n');
  ok(['init']);
  ok(['events', 'source', 'add', 'app']);
  ok(['events', 'import', join(root, 'ev.jsonl'), '--source', 'app', '--format', 'segment']);
  ok(['events', 'compact']);
});

// The documented semantics: every step-1 event in range may start; each later step the earliest
// matching event after the previous one, within the window of step 1; deepest level per user.
function brute(steps, windowMs, from, to) {
  const by = new Map();
  for (const e of events) (by.get(e.user) ?? by.set(e.user, []).get(e.user)).push(e);
  const users = steps.map(() => 0);
  for (const es of by.values()) {
    es.sort((a, b) => a.ts - b.ts);
    let best = 0;
    es.forEach((e, i) => {
      if (!steps[0](e) || e.ts < from || e.ts >= to) return;
      let L = 1;
      let cur = i;
      for (let k = 1; k < steps.length; k++) {
        let q = cur + 1;
        while (q < es.length && !steps[k](es[q])) q++;
        if (q === es.length || es[q].ts - e.ts > windowMs) break;
        L++;
        cur = q;
      }
      best = Math.max(best, L);
    });
    for (let k = 0; k < best; k++) users[k]++;
  }
  return users;
}
const is = (name, channel) => (e) => e.event === name && (!channel || e.channel === channel);

test('funnel: users per step equal the brute force, with a window and a property filter', () => {
  const from = T0;
  const to = T0 + 3 * 86400000;
  const a = json(['funnel', 'launch', 'view', 'click', '--from', '2026-11-15', '--to', '2026-11-17']);
  assert.deepEqual(a.steps.map((s) => s.users), brute([is('launch'), is('view'), is('click')], 86400000, from, to));
  assert.equal(a.window_seconds, 86400);
  assert.equal(a.trend.length, 3);
  assert.equal(a.trend.reduce((x, d) => x + d.started, 0), a.steps[0].users);
  assert.equal(a.steps[1].dropped, a.steps[0].users - a.steps[1].users);
  assert.ok(a.steps[1].median_seconds_from_previous > 0);
  const b = json(['funnel', 'launch', 'view:channel=app', 'click', '--window', '2h', '--from', '2026-11-15', '--to', '2026-11-17']);
  assert.deepEqual(b.steps.map((s) => s.users), brute([is('launch'), is('view', 'app'), is('click')], 2 * 3600000, from, to));
  assert.deepEqual(b.steps[1].where, [{ prop: 'channel', op: 'eq', values: ['app'] }]);
  // the same through --spec
  const c = json(['funnel', '--spec', JSON.stringify({ steps: ['launch', { event: 'view', where: { channel: 'app' } }, 'click'], window: 7200, from: '2026-11-15', to: '2026-11-17' })]);
  assert.deepEqual(c.steps.map((s) => s.users), b.steps.map((s) => s.users));
});

test('paths, retention and counts answer consistently', () => {
  const p = json(['paths', 'launch', '--depth', '2', '--from', '2026-11-15', '--to', '2026-11-17']);
  const starters = new Set(events.filter((e) => e.event === 'launch' && e.ts < T0 + 3 * 86400000).map((e) => e.user));
  assert.equal(p.users, starters.size);
  const level1 = p.links.filter((l) => l.source === '0:launch').reduce((x, l) => x + l.users, 0);
  assert.ok(level1 <= p.users && level1 > 0);
  assert.ok(p.nodes.some((n) => n.level === 2));
  const r = json(['retention', 'launch', 'view', '--days', '2', '--from', '2026-11-15', '--to', '2026-11-16']);
  assert.equal(r.cohorts.length, 2);
  assert.equal(r.total.users, r.cohorts[0].users + r.cohorts[1].users);
  for (const c of r.cohorts) for (const v of c.retained) assert.ok(v <= c.users);
  const s = json(['evstat', '--from', '2026-11-15', '--to', '2026-11-17']);
  const total = s.series.reduce((x, e) => x + e.total_events, 0);
  assert.equal(total, events.length);
  const launch = s.series.find((e) => e.event === 'launch');
  assert.equal(launch.total_events, events.filter((e) => e.event === 'launch').length);
  const hours = json(['evstat', 'view', '--hour', '--from', '2026-11-15', '--to', '2026-11-15']);
  assert.equal(hours.buckets.length, 24);
  const byp = json(['evstat', '--property', 'channel', '--from', '2026-11-15', '--to', '2026-11-17']);
  const webViews = byp.values.find((v) => v.event === 'view' && v.value === 'web');
  assert.equal(webViews.events, events.filter((e) => e.event === 'view' && e.channel === 'web').length);
});

test('spec errors name the member', () => {
  let r = run(['funnel', '--spec', '{"steps":[]}']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /steps/);
  r = run(['funnel', 'launch', '--window', '40d']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /window/);
  r = run(['funnel', '--spec', '{"steps":[{"event":"a","where":[{"prop":"x","op":"like","value":1}]}]}']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /op is one of/);
  r = run(['funnel', 'a', 'b', '--save', 'x', '--save-step', '2']);
  assert.equal(r.status, 1); // no tag build to save customers against
});
