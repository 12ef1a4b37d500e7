// cond.js — the condition builder's model and its conversion to and from the JSON form of segment
// expressions (docs/expressions.md). The server turns the JSON into the canonical text and the
// text into JSON (POST /segments/count), so both stay editable.
import { reactive } from 'vue';

let seq = 0;
export const tagInfo = reactive({}); // code -> tag definition (values of enum tags)

export function newCond(tag = '', op = 'in') {
  return { id: ++seq, kind: 'cond', tag, op, values: [], value: '', lo: '', hi: '' };
}
export function newGroup(op = 'and') {
  return { id: ++seq, kind: 'group', op, items: [] };
}

function lit(s) {
  if (typeof s === 'number' || typeof s === 'boolean') return s;
  const v = String(s).trim();
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v !== '' && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  return v;
}
const filled = (v) => v !== '' && v !== null && v !== undefined;

// The JSON form of a group, or null while nothing in it is complete.
export function toJson(g) {
  if (g.kind === 'cond') {
    const c = g;
    if (!c.tag) return null;
    switch (c.op) {
      case 'is_true': return { tag: c.tag };
      case 'is_false': return { tag: c.tag, eq: false };
      case 'is_null': return { tag: c.tag, is_null: true };
      case 'not_null': return { tag: c.tag, is_null: false };
      case 'in':
      case 'not_in':
        return c.values.length ? { tag: c.tag, [c.op]: c.values.map(lit) } : null;
      case 'between':
      case 'not_between':
        return filled(c.lo) && filled(c.hi) ? { tag: c.tag, [c.op]: [lit(c.lo), lit(c.hi)] } : null;
      default:
        return filled(c.value) ? { tag: c.tag, [c.op]: lit(c.value) } : null;
    }
  }
  const parts = g.items.map(toJson).filter((x) => x);
  if (!parts.length) return null;
  if (parts.length === 1) return parts[0];
  return { [g.op]: parts };
}

// The builder's model of a JSON expression, or null when it uses what the builder cannot show
// (a negated group, segment references): the text stays the way to edit it then.
export function fromJson(j) {
  const g = newGroup('and');
  const walk = (x, into) => {
    if (x.and || x.or) {
      const op = x.and ? 'and' : 'or';
      const sub = newGroup(op);
      for (const y of x[op]) if (!walk(y, sub)) return false;
      into.items.push(sub);
      return true;
    }
    if (!x.tag) return false;
    const c = newCond(x.tag);
    const ops = ['eq', 'ne', 'lt', 'le', 'gt', 'ge', 'in', 'not_in', 'between', 'not_between', 'is_null'];
    const op = ops.find((o) => o in x);
    if (!op) c.op = 'is_true';
    else if (op === 'is_null') c.op = x.is_null ? 'is_null' : 'not_null';
    else if (op === 'in' || op === 'not_in') {
      c.op = op;
      c.values = x[op].slice();
    } else if (op === 'between' || op === 'not_between') {
      c.op = op;
      c.lo = String(x[op][0]);
      c.hi = String(x[op][1]);
    } else if (op === 'eq' && x.eq === false) c.op = 'is_false';
    else {
      c.op = op;
      c.value = String(x[op]);
    }
    into.items.push(c);
    return true;
  };
  if (j.or) {
    g.op = 'or';
    for (const y of j.or) if (!walk(y, g)) return null;
    return g;
  }
  if (j.and) {
    for (const y of j.and) if (!walk(y, g)) return null;
    return g;
  }
  return walk(j, g) ? g : null;
}
