// fs.mjs — file-system helpers shared by the black-box tests that look at what tagbase wrote
// (which files hold a value in clear, which are sealed).
import { readdirSync } from 'node:fs';
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
