// format.js — bank display conventions: money in 元, 万元 and 亿元 (large amounts), counts with
// separators, batch dates yyyyMMdd shown as yyyy-MM-dd, shares as percentages.
import { locale } from './i18n.js';

export function fmtInt(n) {
  if (n === null || n === undefined || n === '') return '—';
  return Number(n).toLocaleString(locale.value === 'zh' ? 'zh-CN' : 'en-US');
}

export function fmtMoney(v) {
  if (v === null || v === undefined || v === '') return '—';
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  const a = Math.abs(n);
  const zh = locale.value === 'zh';
  const f = (x, d) => x.toLocaleString(zh ? 'zh-CN' : 'en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
  if (a >= 1e8) return f(n / 1e8, 2) + (zh ? ' 亿元' : ' 100M CNY');
  if (a >= 1e4) return f(n / 1e4, 2) + (zh ? ' 万元' : ' 10K CNY');
  return f(n, 2) + (zh ? ' 元' : ' CNY');
}

export function fmtBatch(d) {
  if (!d) return '—';
  const s = String(d);
  return /^\d{8}$/.test(s) ? `${s.slice(0, 4)}-${s.slice(4, 6)}-${s.slice(6, 8)}` : s;
}

export function fmtPct(x, digits = 1) {
  if (x === null || x === undefined) return '—';
  return (Number(x) * 100).toFixed(digits) + '%';
}

// A tag or attribute that holds an amount of money (yuan), by its code or names.
const MONEY = /(aum|_bal|balance|amount|_amt|income|salary|limit|market_value|money|premium|asset)/i;
const MONEY_ZH = /(余额|金额|资产|收入|额度|市值|保费)/;
export function isMoney(code, nameZh = '', valueType = 'decimal') {
  if (valueType !== 'decimal' && valueType !== 'money') return false;
  return MONEY.test(code || '') || MONEY_ZH.test(nameZh || '');
}

export function fmtValue(v, tag = {}) {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'boolean') return v ? '✓' : '✗';
  if (typeof v === 'number' && isMoney(tag.code, tag.name_zh, tag.value_type || 'decimal')) return fmtMoney(v);
  return String(v);
}
