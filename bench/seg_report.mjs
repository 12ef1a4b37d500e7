// seg_report.mjs — the table of bench/segments.sh for one size: every engine's answers checked
// against the oracle of bench/seg_floor.c (counts, the profile, the export's rows, id sum and age
// sum), then one Markdown table of medians and ratios. Exit status 1 on any mismatch.
//   node bench/seg_report.mjs N DIR QUERIES.json    (DIR holds floor.jsonl, tagbase.jsonl, ...)
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const [n, dir, queriesPath] = process.argv.slice(2);
const queries = JSON.parse(readFileSync(queriesPath, 'utf8'));
const read = (f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
const jsonl = (f) => read(f).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
const note = (f) => read(f).trim();

const floorLines = jsonl('floor.jsonl');
const floorHead = floorLines.find((l) => l.engine) || {};
const oracle = Object.fromEntries(floorLines.filter((l) => l.name).map((l) => [l.name, l]));
const engines = [
  { key: 'tagbase', label: 'tagbase' },
  { key: 'duckdb', label: 'DuckDB' },
  { key: 'pg', label: 'PG 15' },
  { key: 'chdb', label: 'chDB' },
];
for (const e of engines) {
  const lines = jsonl(`${e.key}.jsonl`);
  e.head = lines.find((l) => l.engine || l.gen_ms !== undefined) || null;
  e.res = Object.fromEntries(lines.filter((l) => l.name).map((l) => [l.name, l]));
  for (const r of Object.values(e.res)) { // a profile may come without its total, an export as "rows"
    if (r.count === undefined && r.profile) r.count = Object.values(r.profile).reduce((a, b) => a + Number(b), 0);
    if (r.count === undefined && r.rows !== undefined) r.count = r.rows;
  }
  e.ran = lines.some((l) => l.name);
  e.note = note(`${e.key}.note`);
  e.rss = note(`${e.key}.rss`);
}
const [tb, duck, pg, ch] = engines;
if (tb.ran) tb.gen = jsonl('tagbase-gen.jsonl').find((l) => l.gen_ms !== undefined) || null;

let bad = 0;
const problems = [];
function check(e, q) {
  const r = e.res[q.name];
  const o = oracle[q.name];
  if (!r || !o) return r ? '' : 'missing';
  const why = [];
  if (Number(r.count) !== Number(o.expected)) why.push(`count ${r.count}, expected ${o.expected}`);
  if (q.kind === 'profile' && r.profile) {
    for (const [v, c] of Object.entries(o.expected_profile)) {
      if (Number(r.profile[v]) !== c) why.push(`${v}: ${r.profile[v]}, expected ${c}`);
    }
  }
  if (q.kind === 'export') {
    if (r.idsum !== undefined && String(r.idsum) !== String(o.expected_idsum)) why.push(`id sum ${r.idsum}, expected ${o.expected_idsum}`);
    if (r.agesum !== undefined && String(r.agesum) !== String(o.expected_agesum)) why.push(`age sum ${r.agesum}, expected ${o.expected_agesum}`);
  }
  if (why.length) {
    bad = 1;
    problems.push(`MISMATCH ${e.label} ${q.name}: ${why.join('; ')}`);
    return 'MISMATCH';
  }
  return '';
}
for (const q of queries) {
  const o = oracle[q.name];
  if (!o) { bad = 1; problems.push(`MISSING oracle answer for ${q.name} (seg_floor failed?)`); continue; }
  if (o.count !== o.expected) { bad = 1; problems.push(`MISMATCH floor ${q.name}: count ${o.count}, expected ${o.expected}`); }
  for (const e of engines) if (e.ran) e[`chk_${q.name}`] = check(e, q);
}

const fmt = (x) => (x === undefined || x === null ? '—' : x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0));
const ratio = (a, b) => (a && b ? `${(a / b).toFixed(a / b < 10 ? 2 : 0)}×` : '—');
const cell = (e, q) => {
  if (!e.ran) return '—';
  const r = e.res[q.name];
  const c = e[`chk_${q.name}`];
  if (!r) return 'missing';
  return `${fmt(r.median_ms)}${e === ch && r.via === 'columns' ? ' (cols)' : ''}${c ? ` **${c}**` : ''}`;
};

const out = [];
out.push(`### Segments at ${Number(n).toLocaleString('en-US')} customers — median of ${floorHead && oracle.Q ? oracle.Q.runs : '?'} runs, ms`);
out.push('');
out.push('| query | count | tagbase ms | floor ms (1 thr / 2 thr) | DuckDB ms | PG ms | chDB ms | tagbase/floor | DuckDB/tagbase | PG/tagbase | chDB/tagbase |');
out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const q of queries) {
  const o = oracle[q.name] || {};
  const t = tb.res[q.name]?.median_ms;
  const fl = q.kind === 'export' ? `${fmt(o.floor_ms_median)} / ${fmt(o.floor2_ms_median)} †` : `${fmt(o.floor_ms_median)} / ${fmt(o.floor2_ms_median)}`;
  out.push(`| ${q.name} | ${(o.expected ?? 0).toLocaleString('en-US')} | ${cell(tb, q)} | ${fl} | ${cell(duck, q)} | ${cell(pg, q)} | ${cell(ch, q)} | ` +
    `${q.kind === 'export' ? '—' : ratio(t, o.floor_ms_median)} | ${ratio(duck.res[q.name]?.median_ms, t)} | ` +
    `${ratio(pg.res[q.name]?.median_ms, t)} | ${ratio(ch.res[q.name]?.median_ms, t)} |`);
}
out.push('');
for (const q of queries) out.push(`- ${q.name} (${q.kind}${q.by ? ` by ${q.by}` : ''}${q.columns ? ` of ${q.columns.join(', ')}` : ''}): \`${q.expr}\``);
out.push('');
out.push('† the floor only counts the export\'s selection; it writes no file.');
if (ch.ran) out.push('chDB: tag and age expressions on stored roaring bitmaps (groupBitmapState rows, bitmapAnd/Or/Andnot); "(cols)" = on the MergeTree columns (amt ranges, the export).');
out.push('');
const mb = (kb) => (kb ? `${Math.round(Number(kb) / 1024).toLocaleString('en-US')} MB` : '?');
out.push(`- floor: \`${note('floor.flags')}\`, generated in ${fmt(floorHead.gen_ms)} ms, oracle ${fmt(floorHead.oracle_ms)} ms, ` +
  `${(floorHead.bitset_bytes / 1e6).toFixed(0)} MB of bitsets, max RSS ${mb(note('floor.rss'))}`);
if (tb.ran) {
  out.push(`- tagbase: ${tb.gen ? `gen ${fmt(tb.gen.gen_ms)} ms, ${Number(tb.gen.bytes).toLocaleString('en-US')} bytes (${tb.gen.bytes_per_customer} B/customer), gen RSS ${mb(tb.gen.rss_kb)}; ` : ''}query max RSS ${mb(tb.rss)}`);
} else out.push(`- tagbase: ${tb.note || 'not run'}`);
for (const e of [duck, pg, ch]) {
  if (e.ran) {
    const h = { ...e.head };
    delete h.engine; delete h.n;
    out.push(`- ${e.label}: ${Object.entries(h).map(([k, v]) => `${k} ${v}`).join(', ')}${e.rss && e !== pg ? `, max RSS of the process ${mb(e.rss)}` : ''}`);
  } else out.push(`- ${e.label}: ${e.note || 'not run'}`);
}
if (problems.length) {
  out.push('');
  out.push('**ANSWERS DISAGREE WITH THE ORACLE:**');
  for (const p of problems) out.push(`- ${p}`);
}
console.log(out.join('\n'));
for (const p of problems) console.error(`seg_report: ${p}`);
process.exit(bad);
