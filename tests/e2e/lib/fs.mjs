// fs.mjs — file-system helpers shared by the black-box tests that look at what tagbase wrote
// (which files hold a value in clear, which are sealed).
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// Every regular file under dir, recursively (paths joined onto dir; links are not followed).
export function files(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...files(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

// The SHA-256 of every file directly in dir, by name (names in `skip` left out): two directories
// with equal maps hold the same bytes.
export function hashes(dir, skip = []) {
  const h = {};
  for (const f of readdirSync(dir).sort()) {
    if (skip.includes(f)) continue;
    h[f] = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  }
  return h;
}
