// duckdb_read.mjs — DuckDB's read_csv over Hive text extracts (\x01, \N, no quoting), every
// column read into a table, for the peer column of bench/pipeline.sh.
//   node bench/duckdb_read.mjs DIR FILE...
import { DuckDBInstance } from '@duckdb/node-api';
import { statSync } from 'node:fs';
import { join } from 'node:path';

const [dir, ...files] = process.argv.slice(2);
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
let bytes = 0;
let rows = 0;
const t0 = process.hrtime.bigint();
for (const f of files) {
  const path = join(dir, f).replaceAll("'", "''");
  bytes += statSync(join(dir, f)).size;
  await con.run(`CREATE OR REPLACE TEMP TABLE t AS SELECT * FROM read_csv('${path}', delim = '\x01',
    header = false, quote = '', escape = '', nullstr = '\\N', all_varchar = true,
    null_padding = true, ignore_errors = true)`);
  const r = await con.runAndReadAll('SELECT count(*) FROM t');
  rows += Number(r.getRows()[0][0]);
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
console.log(`duckdb read_csv: ${secs.toFixed(2)} s, ${(bytes / 1e6 / secs).toFixed(0)} MB/s, ` +
  `${(rows / secs).toFixed(0)} rows/s (${rows} rows)`);
