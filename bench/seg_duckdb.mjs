// seg_duckdb.mjs — the DuckDB column of bench/segments.sh: the benchmark's customers built in an
// in-memory table with SQL from range(N) (the same formula as bench/seg_floor.c; only the columns
// the queries use: t1..t10, age, amt, v10, cust_no), then every query of bench/seg_queries.json
// timed (one warm-up, median of RUNS): counts as count(*), the profile as GROUP BY, the export as
// COPY ... TO a CSV file, which is read back to check its rows, id sum and age sum.
//   node bench/seg_duckdb.mjs N RUNS QUERIES.json OUTDIR
// Prints JSON lines: {"engine":"duckdb",...build...} then {name,count,median_ms,min_ms,runs,...}.
import { DuckDBInstance, version } from '@duckdb/node-api';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [nArg, runsArg, queriesPath, outDir] = process.argv.slice(2);
const n = Number(nArg);
const runs = Number(runsArg);
if (!Number.isSafeInteger(n) || n < 1 || !Number.isSafeInteger(runs) || runs < 1 || !outDir) {
  console.error('usage: node bench/seg_duckdb.mjs N RUNS QUERIES.json OUTDIR');
  process.exit(2);
}
const queries = JSON.parse(readFileSync(queriesPath, 'utf8'));

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const all = async (sql) => (await con.runAndReadAll(sql)).getRows();

// h(i,k) = x^2 mod (2^31-1), x = (i*48271 + k*1234567) mod (2^31-1); all in BIGINT (x^2 < 2^62).
await con.run(`CREATE MACRO h(i, k) AS
  (((i * 48271 + k * 1234567) % 2147483647) * ((i * 48271 + k * 1234567) % 2147483647)) % 2147483647`);
const tags = Array.from({ length: 10 }, (_, j) => j + 1)
  .map((k) => `h(i, ${k}) % 100 < ${10 + 2 * ((7 * k) % 20)} AS t${k}`);
let t0 = process.hrtime.bigint();
await con.run(`CREATE TABLE c AS SELECT
  ${tags.join(',\n  ')},
  (18 + h(i, 0) % 63)::INTEGER AS age,
  (h(i, 202) % 1000000)::INTEGER AS amt,
  'v' || (h(i, 201) % 10)::VARCHAR AS v10,
  'C' || lpad(i::VARCHAR, 10, '0') AS cust_no
  FROM range(${n}) r(i)`);
const buildMs = ms(t0);
const [[dbSize, , , , , , , memUsage]] = await all('PRAGMA database_size');
const threads = (await all("SELECT current_setting('threads')"))[0][0];
console.log(JSON.stringify({
  engine: 'duckdb', n, version: version(), threads: Number(threads), build_ms: Math.round(buildMs),
  database_size: String(dbSize), memory_usage: String(memUsage),
  rss_mb_after_build: Math.round(process.memoryUsage().rss / 1048576),
}));

// Reads the export back: rows, sum of customer numbers, sum of ages (the oracle has all three).
function checkCsv(path) {
  const lines = readFileSync(path, 'utf8').split('\n');
  let rows = 0;
  let idsum = 0n;
  let agesum = 0n;
  for (let j = 1; j < lines.length; j++) { // line 0 is the header
    const line = lines[j];
    if (!line) continue;
    const comma = line.indexOf(',');
    idsum += BigInt(line.slice(1, comma));
    agesum += BigInt(line.slice(comma + 1));
    rows++;
  }
  return { rows, idsum: idsum.toString(), agesum: agesum.toString() };
}

for (const q of queries) {
  let sql;
  const csv = join(outDir, `duckdb-${q.name}.csv`);
  if (q.kind === 'count') sql = `SELECT count(*) FROM c WHERE ${q.sql}`;
  else if (q.kind === 'profile') sql = `SELECT ${q.by}, count(*) FROM c WHERE ${q.sql} GROUP BY ${q.by} ORDER BY ${q.by}`;
  else if (q.kind === 'export') sql = `COPY (SELECT ${q.columns.join(', ')} FROM c WHERE ${q.sql}) TO '${csv}' (HEADER, DELIMITER ',')`;
  else throw new Error(`unknown kind '${q.kind}' of query ${q.name}`);
  const times = [];
  let rows;
  for (let r = 0; r <= runs; r++) {
    t0 = process.hrtime.bigint();
    rows = await all(sql);
    const t = ms(t0);
    if (r > 0) times.push(t); // run 0 is the warm-up
  }
  const out = { name: q.name, median_ms: +median(times).toFixed(3), min_ms: +Math.min(...times).toFixed(3), runs };
  if (q.kind === 'count') out.count = Number(rows[0][0]);
  if (q.kind === 'profile') {
    out.profile = Object.fromEntries(rows.map(([v, c]) => [v, Number(c)]));
    out.count = Object.values(out.profile).reduce((a, b) => a + b, 0);
  }
  if (q.kind === 'export') {
    const chk = checkCsv(csv);
    Object.assign(out, { count: chk.rows, idsum: chk.idsum, agesum: chk.agesum });
    rmSync(csv);
  }
  console.log(JSON.stringify(out));
}
