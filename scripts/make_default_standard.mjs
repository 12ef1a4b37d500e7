#!/usr/bin/env node
// make_default_standard.mjs — derives standards/default.json (the default data standard set) from
// the manifest of a `tagbase gen` batch: columns, types, checks and code tables come from the
// manifest; classification (JR/T 0171 class, JR/T 0197 level, mask), unique keys, source systems,
// customer keys and maximum lengths are decided here, once, and reviewed in the output.
//
//   tagbase gen --customers 100000 --seed 7 --date 20261121 --out /tmp/g
//   node scripts/make_default_standard.mjs /tmp/g > standards/default.json
//
// Maximum lengths: identifiers that are fixed-width in every observed row keep that width; other
// text gets the next of 32/64/128/256/512 characters that is at least twice the longest seen.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: make_default_standard.mjs BATCH_DIR');
  process.exit(2);
}
const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));

const SOURCE = {
  customer: 'core', household: 'core', deposit: 'core', loan: 'core', credit_card: 'card',
  wealth: 'core', fund: 'core', insurance: 'core', precious_metal: 'core', payroll: 'core',
  etc: 'core', transaction: 'core', court_enforcement: 'court', business_registration: 'aic',
  model_score: 'model', region: 'ref', org: 'ref', manager: 'ref', corporate_group: 'ref',
};
const UNIQUE = { court_enforcement: ['case_no'], household: ['cust_no'] };
const CUSTOMER_KEY = {
  customer: { field: 'cust_no', system: 'core', cert_field: 'id_no', cert_type_field: 'id_type' },
  credit_card: { field: 'card_cust_no', system: 'card', cert_field: 'id_no', cert_type_field: 'id_type' },
  court_enforcement: { cert_field: 'id_no', cert_type_field: 'id_type' },
  business_registration: { cert_field: 'uscc', cert_type: '201' },
};
for (const t of ['household', 'deposit', 'loan', 'wealth', 'fund', 'insurance', 'precious_metal',
  'payroll', 'etc', 'transaction', 'model_score']) CUSTOMER_KEY[t] = { field: 'cust_no', system: 'core' };

// [pi_class, level, mask] by column name; anything not listed is C1, level 2 (level 1 for
// reference data). Personal identifiers, names, contact data, addresses, account and card
// numbers, balances and amounts, and transaction details are C2 (JR/T 0171-2020, 4.2), level 3.
const C2 = (mask = null) => ['C2', 3, mask];
const CLASS = {
  id_no: C2('id'), cust_name: C2('name'), party_name: C2('name'), mgr_name: C2('name'),
  legal_rep: C2('name'), mobile: C2('mobile'), address: C2(), birth_date: C2(), gender: C2(),
  card_no: C2('card'), acct_no: C2('card'), bind_acct_no: C2('card'), plate_no: C2(),
  balance: C2(), contract_amt: C2(), credit_limit: C2(), used_amt: C2(), amount: C2(),
  shares: C2(), weight_g: C2(), market_value: C2(), monthly_salary: C2(), annual_premium: C2(),
  sum_insured: C2(), exec_amount: C2(), counterparty: C2(), summary: C2(), txn_time: C2(),
  overdue_days: C2(), five_class: C2(), case_no: C2(),
};

// Observed maximum length in characters of each column (Hive text files only).
function observe(f) {
  const max = new Array(f.columns.length).fill(0);
  const min = new Array(f.columns.length).fill(Infinity);
  const text = readFileSync(join(dir, f.name), 'utf8');
  for (const line of text.split('\n')) {
    if (!line) continue;
    const v = line.split('\x01');
    if (v.length !== f.columns.length) continue;
    v.forEach((s, k) => {
      if (s === '\\N') return;
      const n = [...s].length;
      if (n > max[k]) max[k] = n;
      if (n < min[k]) min[k] = n;
    });
  }
  return { max, min };
}

function maxLen(c, lo, hi) {
  if (c.type !== 'string' || c.codes || c.check === 'mobile') return c.check === 'mobile' ? 11 : null;
  if (c.name === 'plate_no') return 8; // new-energy plates have 8 characters
  if (lo === hi && /(_no|_id|uscc|_code)$/.test(c.name)) return hi;
  for (const n of [32, 64, 128, 256, 512]) if (n >= hi * 2) return n;
  return 1024;
}

const out = {
  version_note: 'default data standards of tagbase: every extract of the synthetic bank (tagbase gen)',
  code_tables: m.code_tables,
  business_types: {},
};
for (const f of m.files) {
  if (f.data_kind === 'truth' || f.data_kind === 'events') continue;
  if (f.format !== 'hive') throw new Error('generate the batch in hive format');
  const t = f.business_type;
  const { max, min } = observe(f);
  const ref = f.data_kind === 'reference';
  const bt = {
    kind: f.data_kind,
    source_system: SOURCE[t],
    description: f.description,
    unique: UNIQUE[t] || [f.key_field],
  };
  if (CUSTOMER_KEY[t]) bt.customer_key = CUSTOMER_KEY[t];
  bt.fields = f.columns.map((c, k) => {
    const [pi, level, mask] = CLASS[c.name] || ['C1', ref ? 1 : 2, null];
    return {
      name: c.name, type: c.type, required: c.required, check: c.check, codes: c.codes,
      max_len: maxLen(c, min[k], max[k]), pi_class: pi, level, mask, description: c.description,
    };
  });
  out.business_types[t] = bt;
}
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
