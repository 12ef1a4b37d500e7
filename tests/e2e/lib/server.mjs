// server.mjs — starting and stopping the real `tagbase serve` for black-box tests: a free port
// (--listen 127.0.0.1:0), resolved once the server printed "listening on URL" (bounded), and every
// server killed by its pid when the test file ends, whatever happened.
import { spawn } from 'node:child_process';
import { after } from 'node:test';
import assert from 'node:assert/strict';

const started = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

after(() => {
  for (const s of started) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
});

// Starts `bin serve --data dir ...extra` (in `env`, default this process's) and resolves to
// {child, url, port, stdout, stderr, exited} once it listens (rejects after 20 s or when it exits
// first, with its stderr). A server that dies on its own prints why.
export function startServer(bin, dir, extra = [], { env = process.env } = {}) {
  const child = spawn(bin, ['serve', '--data', dir, '--listen', '127.0.0.1:0', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'], env,
  });
  const srv = { child, stdout: '', stderr: '', url: null };
  started.push(srv);
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (srv.stderr += d));
  srv.exited = new Promise((res) => child.on('exit', (code, signal) => res({ code, signal })));
  child.on('exit', (code, signal) => {
    if (code !== 0 && signal !== 'SIGKILL') console.error(`tagbase serve exited (${code}, ${signal}):\n${srv.stderr.slice(-4000)}`);
  });
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

// `method path` on srv as the console or a script calls it: the session's cookie (and, unless
// csrf is false, its CSRF token on every method but GET), or `Authorization: Bearer token`;
// `body` sent as JSON, or `raw` as it is. Resolves to {status, headers, text, json} (json null
// when the answer is not JSON).
export async function call(srv, method, path,
  { body, raw, session, token, csrf = true, headers = {}, timeoutMs = 30000 } = {}) {
  const h = { ...headers };
  if (session) {
    h.cookie = `tb_session=${session.sid}`;
    if (csrf && method !== 'GET') h['x-csrf-token'] = session.csrf;
  }
  if (token) h.authorization = `Bearer ${token}`;
  let b;
  if (raw !== undefined) b = raw;
  else if (body !== undefined) {
    b = JSON.stringify(body);
    h['content-type'] = 'application/json';
  }
  const res = await fetch(srv.url + path, { method, headers: h, body: b, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, text, json };
}

// Logs `user` in on srv with `password` (asserting a 200); resolves to the session
// {sid, csrf, user, cookie} that call() takes.
export async function login(srv, user, password) {
  const r = await call(srv, 'POST', '/api/v1/login', { body: { user, password } });
  assert.equal(r.status, 200, r.text);
  const cookie = r.headers.get('set-cookie');
  return { sid: cookie.match(/tb_session=([^;]+)/)[1], csrf: r.json.csrf_token, user: r.json.user, cookie };
}
