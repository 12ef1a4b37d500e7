// gen_check.mjs — an independent JavaScript checker for the output of `tagbase gen`: its own
// GB 11643, GB 32100, Luhn, mobile and date checks and its own Hive/CSV parsing, so that the
// e2e test does not trust any C code it is testing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const RID_W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const RID_MAP = '10X98765432';
const USCC_SET = '0123456789ABCDEFGHJKLMNPQRTUWXY';
const USCC_W = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

export function validDateParts(y, m, d) {
  if (m < 1 || m > 12 || d < 1) return false;
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

// yyyy-MM-dd
export function validDate(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  return !!m && validDateParts(+m[1], +m[2], +m[3]);
}

export function validTimestamp(s) {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(s);
  return !!m && validDate(m[1]) && +m[2] < 24 && +m[3] < 60 && +m[4] < 60;
}

export function validResidentId(s) {
  if (!/^[1-9]\d{16}[\dX]$/.test(s)) return false;
  if (!validDateParts(+s.slice(6, 10), +s.slice(10, 12), +s.slice(12, 14))) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += (s.charCodeAt(i) - 48) * RID_W[i];
  return RID_MAP[sum % 11] === s[17];
}

export function validUscc(s) {
  if (s.length !== 18) return false;
  let sum = 0;
  for (let i = 0; i < 17; i++) {
    const v = USCC_SET.indexOf(s[i]);
    if (v < 0) return false;
    sum += v * USCC_W[i];
  }
  const c = (31 - (sum % 31)) % 31;
  return USCC_SET[c] === s[17];
}

export function validLuhn(s) {
  if (!/^\d{12,19}$/.test(s)) return false;
  let sum = 0;
  for (let i = 0; i < s.length; i++) {
    let v = s.charCodeAt(s.length - 1 - i) - 48;
    if (i % 2 === 1) {
      v *= 2;
      if (v > 9) v -= 9;
    }
    sum += v;
  }
  return sum % 10 === 0;
}

export const validMobile = (s) => /^1[3-9]\d{9}$/.test(s);

// Splits CSV text into records of fields; a field is {v, quoted}. RFC 4180: quotes, doubled
// quotes, separators and line breaks inside quotes. Returns [{fields, line}] with the 1-based
// line where each record starts.
export function parseCsv(text) {
  const out = [];
  let i = 0, line = 1, fields = [], cur = '', quoted = false, start = 1, inq = false;
  const n = text.length;
  const endField = () => { fields.push({ v: cur, quoted }); cur = ''; quoted = false; };
  while (i < n) {
    const c = text[i];
    if (inq) {
      if (c === '"') {
        if (text[i + 1] === '"') { cur += '"'; i += 2; continue; }
        inq = false; i++; continue;
      }
      if (c === '\n') line++;
      cur += c; i++; continue;
    }
    if (c === '"' && cur === '') { inq = true; quoted = true; i++; continue; }
    if (c === ',') { endField(); i++; continue; }
    if (c === '\r' && text[i + 1] === '\n') {
      endField(); out.push({ fields, line: start }); fields = []; i += 2; line++; start = line;
      continue;
    }
    if (c === '\n') throw new Error(`bare LF at line ${line}`);
    cur += c; i++;
  }
  if (cur !== '' || fields.length) { endField(); out.push({ fields, line: start }); }
  return out;
}

// Reads one extract of the manifest as {header, rows:[{line, raw, fields:[string|null]}]}.
export function readExtract(dir, f, fmt) {
  const bytes = readFileSync(join(dir, f.name));
  let text;
  if (f.encoding === 'GB18030') {
    text = new TextDecoder('gb18030', { fatal: true }).decode(bytes);
  } else {
    if (f.bom) {
      if (!(bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf)) throw new Error(`${f.name}: no BOM`);
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(3));
    } else {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    }
  }
  const rows = [];
  let header = null;
  if (fmt === 'hive') {
    const lines = text.split('\n');
    if (lines.pop() !== '') throw new Error(`${f.name}: no final newline`);
    lines.forEach((raw, k) => rows.push({
      line: k + 1, raw, fields: raw.split('\x01').map((v) => (v === '\\N' ? null : v)),
    }));
  } else {
    const recs = parseCsv(text);
    const rawLines = text.split('\r\n');
    header = recs.shift().fields.map((x) => x.v);
    for (const r of recs) {
      rows.push({
        line: r.line, raw: rawLines[r.line - 1],
        fields: r.fields.map((x) => (x.v === '' && !x.quoted ? null : x.v)),
      });
    }
  }
  return { header, rows };
}

// Finds every defect in one file by the manifest's column rules. Returns [{line, kind, field}].
export function findDefects(f, ext, codeTables, counters) {
  const found = [];
  const cols = f.columns;
  const idTypeAt = cols.findIndex((c) => c.name === 'id_type');
  let prev = null;
  for (const row of ext.rows) {
    const mine = [];
    if (prev !== null && row.raw === prev) {
      mine.push({ kind: 'duplicate_row', field: '-' });
    } else if (row.fields.length !== cols.length) {
      mine.push({ kind: 'wrong_column_count', field: '-' });
    } else {
      cols.forEach((c, k) => {
        const v = row.fields[k];
        if (v === null) {
          if (c.required) mine.push({ kind: 'missing_required', field: c.name });
          return;
        }
        if (c.codes && !(v in codeTables[c.codes])) {
          mine.push({ kind: 'unknown_code', field: c.name });
          return;
        }
        let check = c.check;
        if (check === 'id_by_type') {
          const t = row.fields[idTypeAt];
          check = t === '101' ? 'resident_id' : t === '201' ? 'uscc' : null;
        }
        switch (check) {
          case 'resident_id':
            counters.ids++;
            if (!validResidentId(v)) mine.push({ kind: 'bad_id_check', field: c.name });
            break;
          case 'uscc':
            counters.usccs++;
            if (!validUscc(v)) mine.push({ kind: 'bad_id_check', field: c.name });
            break;
          case 'mobile':
            counters.mobiles++;
            if (!validMobile(v)) mine.push({ kind: 'bad_mobile', field: c.name });
            break;
          case 'date':
            counters.dates++;
            if (!validDate(v)) mine.push({ kind: 'bad_date', field: c.name });
            break;
          case 'luhn':
            counters.cards++;
            if (!validLuhn(v)) mine.push({ kind: 'bad_luhn', field: c.name });
            break;
          case 'timestamp':
            if (!validTimestamp(v)) mine.push({ kind: 'bad_timestamp', field: c.name });
            break;
          default:
        }
      });
    }
    if (mine.length > 1) throw new Error(`${f.name} line ${row.line}: more than one defect: ${JSON.stringify(mine)}`);
    for (const d of mine) found.push({ line: row.line, ...d });
    prev = row.raw;
  }
  return found;
}
