// events_duckdb.mjs — the DuckDB column of bench/events_funnel.sh: the events CSV loaded into an
// in-memory table (not timed as the query), then the 4-step funnel with a 1-day window as SQL
// (one warm-up, median of RUNS). The SQL is the funnel of docs/events.md: every step-1 event in
// the range starts an attempt; each later step is the first event of its type after the previous
// step (ASOF JOIN), within the window of step 1; a user's level is the deepest over attempts.
// (A NULL on the left of an ASOF inequality still matches in DuckDB: every later step therefore
// requires the previous one explicitly.)
//   node bench/events_duckdb.mjs CSV RUNS FROM_MS TO_MS WINDOW_MS
// Prints JSON lines: {"engine":"duckdb",...load...} then {"users":[...],"median_ms":...}.
import { DuckDBInstance, version } from '@duckdb/node-api';

const [csv, runsArg, fromArg, toArg, winArg] = process.argv.slice(2);
const runs = Number(runsArg);
const [from, to, win] = [fromArg, toArg, winArg].map(Number);
if (!csv || !Number.isSafeInteger(runs) || runs < 1 || !Number.isSafeInteger(win)) {
  console.error('usage: node bench/events_duckdb.mjs CSV RUNS FROM_MS TO_MS WINDOW_MS');
  process.exit(2);
}
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const all = async (sql) => (await con.runAndReadAll(sql)).getRows();
let t0 = process.hrtime.bigint();
await con.run(`CREATE TABLE ev AS SELECT * FROM read_csv('${csv}', header = true,
  columns = {'person': 'UINTEGER', 'ts': 'BIGINT', 'ev': 'UTINYINT'})`);
const loadMs = ms(t0);
const threads = (await all("SELECT current_setting('threads')"))[0][0];
const rows = Number((await all('SELECT count(*) FROM ev'))[0][0]);
console.log(JSON.stringify({ engine: 'duckdb', version: version(), threads: Number(threads), rows, load_ms: Math.round(loadMs) }));

const sql = `
WITH s1 AS (SELECT person, ts AS t1 FROM ev WHERE ev = 1 AND ts >= ${from} AND ts < ${to}),
e2 AS (SELECT person, ts FROM ev WHERE ev = 2),
e3 AS (SELECT person, ts FROM ev WHERE ev = 3),
e4 AS (SELECT person, ts FROM ev WHERE ev = 4),
s2 AS (SELECT s1.person, s1.t1, CASE WHEN e2.ts <= s1.t1 + ${win} THEN e2.ts END AS t2
       FROM s1 ASOF LEFT JOIN e2 ON s1.person = e2.person AND e2.ts > s1.t1),
s3 AS (SELECT s2.person, s2.t1, s2.t2, CASE WHEN s2.t2 IS NOT NULL AND e3.ts <= s2.t1 + ${win} THEN e3.ts END AS t3
       FROM s2 ASOF LEFT JOIN e3 ON s2.person = e3.person AND e3.ts > s2.t2),
s4 AS (SELECT s3.person, s3.t1, s3.t2, s3.t3, CASE WHEN s3.t3 IS NOT NULL AND e4.ts <= s3.t1 + ${win} THEN e4.ts END AS t4
       FROM s3 ASOF LEFT JOIN e4 ON s3.person = e4.person AND e4.ts > s3.t3),
lv AS (SELECT person, max(CASE WHEN t2 IS NULL THEN 1 WHEN t3 IS NULL THEN 2 WHEN t4 IS NULL THEN 3 ELSE 4 END) AS level
       FROM s4 GROUP BY person)
SELECT count(*) FILTER (WHERE level >= 1), count(*) FILTER (WHERE level >= 2),
       count(*) FILTER (WHERE level >= 3), count(*) FILTER (WHERE level >= 4) FROM lv`;
const times = [];
let users;
for (let r = 0; r <= runs; r++) {
  t0 = process.hrtime.bigint();
  users = (await all(sql))[0].map(Number);
  if (r > 0) times.push(ms(t0));
}
console.log(JSON.stringify({ engine: 'duckdb', users, median_ms: median(times), min_ms: Math.min(...times), runs }));
