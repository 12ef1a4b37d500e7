// server.mjs — starting and stopping the real `tagbase serve` for black-box tests: a free port
// (--listen 127.0.0.1:0), resolved once the server printed "listening on URL" (bounded), and every
// server killed by its pid when the test file ends, whatever happened.
import { spawn } from 'node:child_process';
import { after } from 'node:test';

const started = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(() => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
});

// Starts `bin serve --data dir ...extra` and resolves to {child, url, port, stdout, stderr,
// exited} once it listens (rejects after 20 s or when it exits first, with its stderr).
export function startServer(bin, dir, extra = []) {
  const child = spawn(bin, ['serve', '--data', dir, '--listen', '127.0.0.1:0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const srv = { child, stdout: '', stderr: '', url: null };
  started.push(srv);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (srv.stderr += d));
  srv.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`server did not start: ${srv.stderr}`)), 20000);
    child.stdout.on('data', (d) => {
      srv.stdout += d;
      const m = srv.stdout.match(/^listening on (\S+)$/m);
      if (m && !srv.url) {
        srv.url = m[1];
        srv.port = Number(new URL(srv.url).port);
        clearTimeout(t);
        res(srv);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(t);
      rej(new Error(`server exited with ${code}: ${srv.stderr}`));
    });
  });
}

// SIGTERM, then {code, signal} of the exit (or {code: 'timeout'} after 20 s).
export async function stopServer(srv) {
  srv.child.kill('SIGTERM');
  return Promise.race([srv.exited, sleep(20000).then(() => ({ code: 'timeout' }))]);
}

// `method path` on srv as an API client: `Authorization: Bearer token`, and `body` (if any) sent
// as JSON. Resolves to {status, json} (json null when the answer is empty).
export async function api(srv, token, method, path, body) {
  const r = await fetch(srv.url + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}
