// events_chdb.mjs — the chDB column of bench/events_funnel.sh (npm `chdb`, ClickHouse in
// process): the events CSV in a MergeTree table ORDER BY (person, ts), then the 4-step funnel as
// windowFunnel(WINDOW)(ts, ev = 1, ev = 2, ev = 3, ev = 4) per person (one warm-up, median of
// RUNS). windowFunnel's default mode is the funnel of docs/events.md (deepest level over all
// step-1 events, each later step after the previous within the window of step 1).
//   node bench/events_chdb.mjs CSV RUNS FROM_MS TO_MS WINDOW_MS OUTDIR
// Prints "chDB: not installable here: <reason>" and exits 3 when the npm package does not load.
import { mkdtempSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

let chdb;
try {
  chdb = await import('chdb');
} catch (e) {
  console.log(`chDB: not installable here: ${String(e.message).split('\n')[0]}`);
  process.exit(3);
}
const [csv, runsArg, fromArg, toArg, winArg, outDir] = process.argv.slice(2);
const runs = Number(runsArg);
const [from, to, win] = [fromArg, toArg, winArg].map(Number);
if (!csv || !Number.isSafeInteger(runs) || runs < 1 || !outDir) {
  console.error('usage: node bench/events_chdb.mjs CSV RUNS FROM_MS TO_MS WINDOW_MS OUTDIR');
  process.exit(2);
}
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const dir = mkdtempSync(join(outDir, 'chdb-'));
const session = new chdb.Session(dir);
process.on('exit', () => { try { session.cleanup?.(); } catch { /* closing anyway */ } rmSync(dir, { recursive: true, force: true }); });
const q = (sql, fmt = 'TSV') => session.query(sql, fmt);

let t0 = process.hrtime.bigint();
q('CREATE TABLE ev (person UInt32, ts UInt64, ev UInt8) ENGINE = MergeTree ORDER BY (person, ts)');
q(`INSERT INTO ev SELECT person, ts, ev FROM file('${resolve(csv)}', 'CSVWithNames', 'person UInt32, ts UInt64, ev UInt8')`);
q('OPTIMIZE TABLE ev FINAL');
const loadMs = ms(t0);
const rows = Number(q('SELECT count() FROM ev').trim());
console.log(JSON.stringify({ engine: 'chdb', version: q('SELECT version()').trim(), rows, load_ms: Math.round(loadMs) }));
// step 1 inside [from, to): other step-1 events are not starts (ev = 1 AND ts in range)
const sql = `SELECT countIf(l >= 1), countIf(l >= 2), countIf(l >= 3), countIf(l >= 4) FROM
  (SELECT person, windowFunnel(${win})(ts, ev = 1 AND ts >= ${from} AND ts < ${to}, ev = 2, ev = 3, ev = 4) AS l
   FROM ev GROUP BY person)`;
const times = [];
let users;
for (let r = 0; r <= runs; r++) {
  t0 = process.hrtime.bigint();
  users = q(sql).trim().split('\t').map(Number);
  if (r > 0) times.push(ms(t0));
}
console.log(JSON.stringify({ engine: 'chdb', users, median_ms: median(times), min_ms: Math.min(...times), runs }));
