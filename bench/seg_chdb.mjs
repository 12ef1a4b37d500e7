// seg_chdb.mjs — the chDB column of bench/segments.sh (npm `chdb`, ClickHouse in process): the
// benchmark's customers in a MergeTree table built with SQL from numbers(N) (the formula of
// bench/seg_floor.c; columns t1..t10, age, amt, v10, cust_no), and from it a stored table of
// roaring bitmaps, one row per tag value (groupBitmapState): t1..t10, every age, every v10 value
// and 'all'. Tag expressions (Q, Q2, R1, T10, P) are evaluated on the stored bitmaps with
// bitmapAnd/bitmapOr/bitmapAndnot, the age range as groupBitmapOrState over the age rows; the amt
// ranges (R2, R3) and the export (E) read the columns (one bitmap per amt value would be 1M rows).
// One warm-up, median of RUNS, like bench/seg_duckdb.mjs.
//   node bench/seg_chdb.mjs N RUNS QUERIES.json OUTDIR
// Prints "chDB: not installable here: <reason>" and exits 3 when the npm package does not load.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

let chdb;
try {
  chdb = await import('chdb');
} catch (e) {
  console.log(`chDB: not installable here: ${String(e.message).split('\n')[0]}`);
  process.exit(3);
}

const [nArg, runsArg, queriesPath, outDir] = process.argv.slice(2);
const n = Number(nArg);
const runs = Number(runsArg);
if (!Number.isSafeInteger(n) || n < 1 || n >= 2 ** 32 || !Number.isSafeInteger(runs) || runs < 1 || !outDir) {
  console.error('usage: node bench/seg_chdb.mjs N RUNS QUERIES.json OUTDIR');
  process.exit(2);
}
const queries = JSON.parse(readFileSync(queriesPath, 'utf8'));
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const dir = mkdtempSync(join(outDir, 'chdb-'));
const session = new chdb.Session(dir);
const cleanup = () => { try { session.cleanup?.(); } catch { /* closing anyway */ } rmSync(dir, { recursive: true, force: true }); };
process.on('exit', cleanup);
const q = (sql, fmt = 'TSV') => session.query(sql, fmt);

const h = (k) => `(((number * 48271 + ${k} * 1234567) % 2147483647) * ((number * 48271 + ${k} * 1234567) % 2147483647)) % 2147483647`;
const tagCols = Array.from({ length: 10 }, (_, j) => j + 1)
  .map((k) => `${h(k)} % 100 < ${10 + 2 * ((7 * k) % 20)} AS t${k}`);
let t0 = process.hrtime.bigint();
q(`CREATE TABLE c (id UInt32, ${Array.from({ length: 10 }, (_, j) => `t${j + 1} Bool`).join(', ')},
  age UInt8, amt UInt32, v10 LowCardinality(String), cust_no String) ENGINE = MergeTree ORDER BY id`);
q(`INSERT INTO c SELECT toUInt32(number) AS id, ${tagCols.join(', ')},
  toUInt8(18 + ${h(0)} % 63) AS age, toUInt32(${h(202)} % 1000000) AS amt,
  concat('v', toString(${h(201)} % 10)) AS v10, concat('C', leftPad(toString(number), 10, '0')) AS cust_no
  FROM numbers(${n})`);
q('OPTIMIZE TABLE c FINAL');
const columnsMs = ms(t0);
t0 = process.hrtime.bigint();
q(`CREATE TABLE bm (attr String, val String, b AggregateFunction(groupBitmap, UInt32))
  ENGINE = MergeTree ORDER BY (attr, val)`);
for (let k = 1; k <= 10; k++) q(`INSERT INTO bm SELECT 't${k}', '1', groupBitmapState(id) FROM c WHERE t${k}`);
q(`INSERT INTO bm SELECT 'age', toString(age), groupBitmapState(id) FROM c GROUP BY age`);
q(`INSERT INTO bm SELECT 'v10', v10, groupBitmapState(id) FROM c GROUP BY v10`);
q(`INSERT INTO bm SELECT 'all', '1', groupBitmapState(id) FROM c`);
q('OPTIMIZE TABLE bm FINAL');
const bitmapsMs = ms(t0);
const [cBytes, bmBytes] = ['c', 'bm'].map((t) => Number(q(`SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND table = '${t}'`).trim()));
console.log(JSON.stringify({
  engine: 'chdb', n, version: q('SELECT version()').trim(), columns_build_ms: Math.round(columnsMs),
  bitmaps_build_ms: Math.round(bitmapsMs), columns_bytes: cBytes, bitmaps_bytes: bmBytes,
  rss_mb_after_build: Math.round(process.memoryUsage().rss / 1048576),
}));

// Our expression text (and/or/not, parentheses, tags tN, `age between A and B`) to a bitmap
// expression over the stored rows: an AND list becomes bitmapAndnot(AND of its positive terms,
// OR of its negated ones), so NOT never needs the universe unless an AND has no positive term.
function toBitmap(text) {
  const toks = text.match(/\(|\)|[A-Za-z_][A-Za-z0-9_]*|\d+/g);
  let p = 0;
  const peek = () => (toks[p] || '').toLowerCase();
  const take = (want) => {
    const t = toks[p++];
    if (want && t.toLowerCase() !== want) throw new Error(`expected '${want}' at token ${p} of '${text}'`);
    return t;
  };
  const fold = (fn, xs) => xs.reduce((a, b) => `${fn}(${a}, ${b})`);
  const row = (attr, val) => `(SELECT any(b) FROM bm WHERE attr = '${attr}' AND val = '${val}')`;
  function orExpr() {
    const xs = [andExpr()];
    while (peek() === 'or') { take(); xs.push(andExpr()); }
    return fold('bitmapOr', xs);
  }
  function andExpr() {
    const pos = [];
    const neg = [];
    for (;;) {
      if (peek() === 'not') { take(); neg.push(primary()); } else pos.push(primary());
      if (peek() !== 'and') break;
      take();
    }
    const base = pos.length ? fold('bitmapAnd', pos) : row('all', '1');
    return neg.length ? `bitmapAndnot(${base}, ${fold('bitmapOr', neg)})` : base;
  }
  function primary() {
    if (peek() === '(') { take(); const e = orExpr(); take(')'); return e; }
    const name = take();
    if (peek() === 'between') {
      if (name !== 'age') throw new Error(`no bitmaps for ranges of '${name}'`);
      take(); const lo = Number(take()); take('and'); const hi = Number(take());
      return `(SELECT groupBitmapOrState(b) FROM bm WHERE attr = 'age' AND toUInt32OrZero(val) BETWEEN ${lo} AND ${hi})`;
    }
    if (!/^t\d+$/.test(name)) throw new Error(`no bitmap for '${name}'`);
    return row(name, '1');
  }
  const e = orExpr();
  if (p !== toks.length) throw new Error(`trailing tokens in '${text}'`);
  return e;
}

function checkCsv(path) { // CSVWithNames: "C0000000042",37
  const lines = readFileSync(path, 'utf8').split('\n');
  let rows = 0; let idsum = 0n; let agesum = 0n;
  for (let j = 1; j < lines.length; j++) {
    const line = lines[j].replaceAll('"', '');
    if (!line) continue;
    const comma = line.indexOf(',');
    idsum += BigInt(line.slice(1, comma));
    agesum += BigInt(line.slice(comma + 1));
    rows++;
  }
  return { rows, idsum: idsum.toString(), agesum: agesum.toString() };
}

for (const query of queries) {
  let sql;
  let via = 'bitmaps';
  const csv = join(dir, `chdb-${query.name}.csv`);
  let bitmapExpr = null;
  try { bitmapExpr = toBitmap(query.expr); } catch { via = 'columns'; }
  if (query.kind === 'count') {
    sql = bitmapExpr ? `SELECT bitmapCardinality(${bitmapExpr})` : `SELECT count() FROM c WHERE ${query.sql}`;
  } else if (query.kind === 'profile' && bitmapExpr) {
    sql = `WITH ${bitmapExpr} AS s SELECT val, bitmapAndCardinality(s, b) FROM bm WHERE attr = '${query.by}' ORDER BY val`;
  } else if (query.kind === 'profile') {
    sql = `SELECT ${query.by}, count() FROM c WHERE ${query.sql} GROUP BY ${query.by} ORDER BY ${query.by}`;
  } else if (query.kind === 'export') {
    via = 'columns';
    sql = `SELECT ${query.columns.join(', ')} FROM c WHERE ${query.sql} INTO OUTFILE '${csv}' FORMAT CSVWithNames`;
  } else throw new Error(`unknown kind '${query.kind}' of query ${query.name}`);
  const times = [];
  let res;
  for (let r = 0; r <= runs; r++) {
    rmSync(csv, { force: true });
    t0 = process.hrtime.bigint();
    res = q(sql);
    const t = ms(t0);
    if (r > 0) times.push(t); // run 0 is the warm-up
  }
  const out = { name: query.name, via, median_ms: +median(times).toFixed(3), min_ms: +Math.min(...times).toFixed(3), runs };
  if (query.kind === 'count') out.count = Number(res.trim());
  if (query.kind === 'profile') {
    out.profile = Object.fromEntries(res.trim().split('\n').map((l) => l.split('\t')).map(([v, c]) => [v, Number(c)]));
    out.count = Object.values(out.profile).reduce((a, b) => a + b, 0);
  }
  if (query.kind === 'export') {
    const chk = checkCsv(csv);
    Object.assign(out, { count: chk.rows, idsum: chk.idsum, agesum: chk.agesum });
    rmSync(csv, { force: true });
  }
  console.log(JSON.stringify(out));
}
