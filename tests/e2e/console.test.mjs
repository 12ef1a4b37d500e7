// console.test.mjs — browser tests of the web console: Debian's chromium (headless) driven by
// playwright-core (web/package-lock.json) against the real `tagbase serve` on 127.0.0.1 serving
// web/dist (built by `make web`) over a bank made by `tagbase gen`. Static files (headers, cache,
// SPA fallback, traversal and symlinks refused), logins of several roles and the navigation each
// may see, session expiry and logout, 搜客 with a live count equal to `tagbase seg count`, saving
// a segment, the 360° view masked and scoped, the tag centre's draft → review → publish by two
// people. Screenshots of the main screens go to <build dir>/screenshots (not committed).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, cpSync, symlinkSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { startServer as startServe } from './lib/server.mjs';

const BIN = process.env.TAGBASE_BIN || resolve('build/tagbase');
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const DIST = join(REPO, 'web', 'dist');
const SHOTS = join(dirname(BIN), 'screenshots');
const CHROMIUM = process.env.TAGBASE_CHROMIUM || '/usr/bin/chromium';
const root = mkdtempSync(join(tmpdir(), 'tb-console-'));
const data = join(root, 'data');
const web = join(root, 'web');
const PW = { admin: 'admin-pass-12345', analyst: 'analyst-pass-1', cm1: 'manager-pass-1', dev: 'developer-pass', steward: 'steward-pass-1', auditor: 'auditor-pass-1' };
let srv, browser, M1, cust1, cust2;
let eventsServed = false; // the server answers the event analysis routes (they come with the events engine)

function cli(args, input) {
  const r = spawnSync(BIN, [...args, '--data', data], { encoding: 'utf8', input, maxBuffer: 1 << 26, timeout: 120000 });
  assert.equal(r.status, 0, `tagbase ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const startServer = () => startServe(BIN, data, ['--threads', '4', '--web', web]);

// One raw HTTP/1.1 request (fetch would normalise '..' and '%2e%2e' away): the status line.
function rawGet(path, accept = '*/*') {
  return new Promise((res, rej) => {
    const sock = net.connect(srv.port, '127.0.0.1');
    let buf = '';
    const t = setTimeout(() => rej(new Error('no answer to ' + path)), 10000);
    sock.setEncoding('utf8');
    sock.on('data', (d) => (buf += d));
    sock.on('close', () => {
      clearTimeout(t);
      res(buf);
    });
    sock.on('error', rej);
    sock.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: ${accept}\r\nConnection: close\r\n\r\n`);
  });
}

before(async () => {
  // the browser driver comes from the console's own lock file; a missing one fails here, loudly
  const require = createRequire(join(REPO, 'web', 'package.json'));
  const { chromium } = require('playwright-core');
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: scripts/deps.sh installs Debian's chromium`);
  assert.ok(existsSync(join(DIST, 'index.html')), 'web/dist is not built: make web');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] });
  mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  if (browser) await browser.close();
  if (srv && srv.child.exitCode === null) srv.child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

test('setup: a bank loaded and tagged, users of six roles, the server serving the console', async () => {
  cli(['init']);
  cli(['standard', 'load', join(REPO, 'standards', 'default.json')]);
  const land = join(root, 'land');
  const g = spawnSync(BIN, ['gen', '--customers', '3000', '--seed', '7', '--date', '20261121', '--dirty', '0.01', '--out', land], { encoding: 'utf8' });
  assert.equal(g.status, 0, g.stderr);
  cli(['load', land]);
  cli(['tag', 'load', join(REPO, 'catalog', 'default.json'), '--user', 'loader']);
  cli(['tag', 'submit', '--all', '--user', 'loader']);
  cli(['tag', 'approve', '--all', '--user', 'checker']);
  cli(['tag', 'build']);
  cli(['config', 'set', 'security.export_approval_over', '500']); // exports above 500 customers need a second person
  const prof = JSON.parse(cli(['seg', 'profile', 'age >= 0', '--by', 'mgr_id', '--json']));
  const top = prof.values.filter((v) => v.count > 0).sort((a, b) => b.count - a.count);
  M1 = top[0].value;
  cli(['seg', 'save', 'everyone', 'age >= 0 or age is null']);
  const out = join(root, 'all.csv');
  cli(['seg', 'export', 'everyone', '--out', out, '--fields', 'cust_no,mgr_id']);
  const rows = readFileSync(out, 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
  cust1 = rows.find((r) => r[1] === M1)[0];
  cust2 = rows.find((r) => r[1] !== M1)[0];
  const add = (n, role, extra = []) => cli(['user', 'add', n, '--role', role, ...extra, '--password-stdin'], PW[n] + '\n');
  add('admin', 'admin');
  add('analyst', 'analyst');
  add('cm1', 'customer_manager', ['--scope', `manager:${M1}`]);
  add('dev', 'tag_developer');
  add('steward', 'data_steward');
  add('auditor', 'auditor');
  // the console's files, plus two symbolic links that lead out of its directory
  cpSync(DIST, web, { recursive: true });
  symlinkSync('/etc/passwd', join(web, 'passwd.txt'));
  symlinkSync('/etc', join(web, 'etc'));
  srv = await startServer();
  const lg = await fetch(srv.url + '/api/v1/login', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user: 'analyst', password: PW.analyst }) });
  const sess = { cookie: lg.headers.get('set-cookie').split(';')[0], csrf: (await lg.json()).csrf_token };
  const probe = await fetch(srv.url + '/api/v1/events/count', { method: 'POST', headers: { 'content-type': 'application/json', cookie: sess.cookie, 'x-csrf-token': sess.csrf }, body: '{"events":["x"]}' });
  const pj = await probe.json();
  eventsServed = !(probe.status === 404 && /no such route/.test(pj.error.message));
});

test('static files: types, cache, ETag, security headers, SPA fallback, traversal refused', async () => {
  const r = await fetch(srv.url + '/');
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(r.headers.get('cache-control'), 'no-cache');
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.match(r.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  assert.match(r.headers.get('content-security-policy'), /script-src 'self';/);
  const html = await r.text();
  const js = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
  const a = await fetch(srv.url + js);
  assert.equal(a.status, 200);
  assert.equal(a.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(a.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  const etag = a.headers.get('etag');
  assert.match(etag, /^"[0-9a-f-]+"$/);
  await a.arrayBuffer();
  const again = await fetch(srv.url + js, { headers: { 'if-none-match': etag } });
  assert.equal(again.status, 304);
  // a console route asked for by a browser is the app; by an API client a JSON 404
  const spa = await fetch(srv.url + '/segments', { headers: { accept: 'text/html' } });
  assert.equal(spa.status, 200);
  assert.equal(await spa.text(), html);
  const api = await fetch(srv.url + '/nope');
  assert.equal(api.status, 404);
  assert.equal((await api.json()).error.code, 'not_found');
  assert.equal((await fetch(srv.url + '/api/v1/nope', { headers: { accept: 'text/html' } })).status, 404);
  assert.equal((await fetch(srv.url + '/assets/missing.js', { headers: { accept: 'text/html' } })).status, 404);
  for (const p of ['/../etc/passwd', '/%2e%2e/etc/passwd', '/assets/%2E%2E/%2E%2E/etc/passwd', '/a%5c..%5cb', '/a\\b', '/.git/config', '/a%00b', '//etc/passwd', '/assets%2f..%2f..%2fx']) {
    const st = (await rawGet(p, 'text/html')).split('\r\n')[0];
    assert.match(st, /^HTTP\/1\.1 (400|404)/, `${p}: ${st}`);
  }
  // symbolic links are never followed, inside or out: a client gets 404, a browser the app
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const p of ['/passwd.txt', '/etc/passwd', '/etc/hostname']) {
    const st = (await rawGet(p)).split('\r\n')[0];
    assert.match(st, /^HTTP\/1\.1 404/, `${p}: ${st}`);
    const b = await rawGet(p, 'text/html');
    assert.ok(!b.includes(passwd.split('\n')[0]), `${p} leaked a file outside the console`);
  }
});

// A logged-in page of the console for `user`.
async function loginPage(user, { expectFail = false } = {}) {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.error(`browser error (${user}): ${e.message}`));
  await page.goto(srv.url + '/');
  await page.waitForSelector('[data-testid="login-submit"]');
  await inp(page, 'login-user').fill(user);
  await inp(page, 'login-password').fill(PW[user] || 'wrong-password-x');
  await page.click('[data-testid="login-submit"]');
  if (!expectFail) await page.waitForSelector('[data-testid="nav"]');
  return { ctx, page };
}

// The native input or textarea of an Element Plus input with this test id.
function inp(page, id) {
  return page.locator(`input[data-testid="${id}"], [data-testid="${id}"] input, textarea[data-testid="${id}"], [data-testid="${id}"] textarea`).first();
}

async function navItems(page) {
  return (await page.locator('[data-testid="nav"] [data-testid^="nav-"]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid').slice(4)))).sort();
}

async function shot(page, name) {
  await page.waitForTimeout(400); // charts animate in
  await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });
}

test('login: each role sees only the screens it may open; wrong password; logout; session expiry', async () => {
  const bad = await loginPage('nobody', { expectFail: true });
  await bad.page.waitForSelector('[data-testid="login-error"]');
  await bad.ctx.close();

  const expect = {
    admin: ['approvals', 'audit', 'customer', 'finder', 'pipeline', 'segments', 'tags'],
    analyst: ['approvals', 'customer', 'finder', 'segments', 'tags'],
    cm1: ['approvals', 'customer', 'finder', 'segments', 'tags'],
    dev: ['approvals', 'finder', 'pipeline', 'segments', 'tags'],
    auditor: ['approvals', 'audit', 'pipeline', 'tags'],
  };
  // the Behaviour screen is there for the roles that read segments, when the server has its routes
  if (eventsServed) for (const u of ['admin', 'analyst', 'cm1', 'dev']) expect[u] = [...expect[u], 'behaviour'].sort();
  for (const [user, screens] of Object.entries(expect)) {
    const { ctx, page } = await loginPage(user);
    assert.deepEqual(await navItems(page), screens, user);
    assert.match(await page.textContent('[data-testid="whoami"]'), new RegExp(user));
    if (user === 'analyst') {
      // a screen the role may not open sends it back to one it may
      await page.goto(srv.url + '/audit');
      await page.waitForSelector('[data-testid="nav"]');
      assert.notEqual(new URL(page.url()).pathname, '/audit');
      // Chinese by default, English on request
      assert.match(await page.textContent('[data-testid="nav-tags"]'), /标签中心/);
      await page.click('[data-testid="lang"]');
      assert.match(await page.textContent('[data-testid="nav-tags"]'), /Tag centre/);
      await page.click('[data-testid="lang"]');
      // the session ends behind the console's back: the next call sends it to login, saying so
      await ctx.clearCookies();
      await page.click('[data-testid="nav-segments"]');
      await page.waitForSelector('[data-testid="expired"]');
    }
    if (user === 'cm1') {
      await page.click('[data-testid="logout"]');
      await page.waitForSelector('[data-testid="logged-out"]');
      const me = await page.evaluate(() => fetch('/api/v1/me').then((r) => r.status));
      assert.equal(me, 401);
    }
    await ctx.close();
  }
});

test('搜客: the live count follows the builder and equals tagbase seg count; text edits both ways; save', async () => {
  const { ctx, page } = await loginPage('analyst');
  await page.click('[data-testid="nav-finder"]');
  await page.waitForSelector('[data-testid="cond-tag-0-0"]');
  await page.click('[data-testid="cond-tag-0-0"]');
  await page.keyboard.type('age');
  await page.locator('.el-select-dropdown__item:visible').filter({ hasText: /· age$/ }).first().click();
  await inp(page, 'cond-lo-0-0').fill('30');
  await inp(page, 'cond-hi-0-0').fill('45');
  const expr1 = 'age between 30 and 45';
  await page.waitForFunction((e) => document.querySelector('[data-testid="expr-text"] textarea, textarea[data-testid="expr-text"]')?.value === e, expr1);
  await page.waitForFunction(() => document.querySelector('[data-testid="live-count"]').dataset.count !== '');
  const live1 = Number(await page.getAttribute('[data-testid="live-count"]', 'data-count'));
  assert.equal(live1, JSON.parse(cli(['seg', 'count', expr1, '--json'])).count);
  assert.ok(live1 > 0);
  await shot(page, 'finder');

  // the text, edited, becomes the builder's two conditions and a new count
  const expr2 = "age between 30 and 45 and aum_level in ('L1', 'L2')";
  await inp(page, 'expr-text').fill(expr2);
  await page.click('[data-testid="apply-text"]');
  await page.waitForSelector('[data-testid="cond-tag-0-1"]');
  await page.waitForFunction((n) => document.querySelector('[data-testid="live-count"]').dataset.count !== String(n), live1);
  const live2 = Number(await page.getAttribute('[data-testid="live-count"]', 'data-count'));
  assert.equal(live2, JSON.parse(cli(['seg', 'count', expr2, '--json'])).count);
  assert.ok(live2 < live1);

  // saved as a segment (客群), listed with the same count
  await page.click('[data-testid="save-segment"]');
  await inp(page, 'segment-name').fill('中年大众');
  await page.click('[data-testid="segment-save-confirm"]');
  await page.waitForSelector('[data-testid="segment-detail"]');
  assert.equal(await page.textContent('[data-testid="segment-title"]'), '中年大众');
  const row = page.locator('[data-testid="segment-list"] tr', { hasText: '中年大众' });
  assert.match(await row.textContent(), new RegExp(live2.toLocaleString('zh-CN').replace(/,/g, ',?')));
  await page.waitForSelector('[data-testid="segment-diff"]');
  await shot(page, 'segments');
  await ctx.close();

  // a customer manager counts only their own customers, as the command line does with their scope
  const cm = await loginPage('cm1');
  await cm.page.click('[data-testid="nav-finder"]');
  await cm.page.waitForSelector('[data-testid="expr-text"]');
  await inp(cm.page, 'expr-text').fill(expr1);
  await cm.page.click('[data-testid="apply-text"]');
  await cm.page.waitForFunction(() => document.querySelector('[data-testid="live-count"]').dataset.count !== '');
  const mine = Number(await cm.page.getAttribute('[data-testid="live-count"]', 'data-count'));
  assert.equal(mine, JSON.parse(cli(['seg', 'count', expr1, '--scope', `manager:${M1}`, '--json'])).count);
  assert.ok(mine < live1);
  await cm.ctx.close();
});

test("segments: a large export waits for a second person's approval, then comes masked", async () => {
  const { ctx, page } = await loginPage('analyst');
  await page.goto(srv.url + '/segments?name=everyone');
  await page.waitForSelector('[data-testid="segment-detail"]');
  await page.waitForSelector('[data-testid="profile-chart"] canvas');
  await page.click('[data-testid="overlap-with"]');
  await page.locator('.el-select-dropdown__item:visible', { hasText: '中年大众' }).click();
  await page.waitForSelector('[data-testid="overlap-result"]');
  await inp(page, 'export-fields').fill('cust_no,mobile');
  await page.click('[data-testid="export"]');
  await page.waitForSelector('[data-testid="request-approval"]');
  assert.match(await page.textContent('[data-testid="segment-error"]'), /export_large/);
  await page.click('[data-testid="request-approval"]');
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('[data-testid="export-approval"] input, input[data-testid="export-approval"]').value));
  const id = await inp(page, 'export-approval').inputValue();

  const a = await loginPage('admin');
  await a.page.click('[data-testid="nav-approvals"]');
  await a.page.click(`[data-testid="approve-${id}"]`);
  await a.page.waitForFunction((i) => !document.querySelector(`[data-testid="approve-${i}"]`), id);
  await a.ctx.close();

  const dl = page.waitForEvent('download');
  await page.click('[data-testid="export"]');
  const file = await (await dl).path();
  await page.waitForSelector('[data-testid="export-result"]');
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  assert.equal(lines[0], 'cust_no,mobile');
  assert.equal(lines.length - 1, JSON.parse(cli(['seg', 'count', 'age >= 0 or age is null', '--json'])).count);
  for (const l of lines.slice(1, 50)) assert.match(l.split(',')[1], /^(1\d\d\*{4}\d{4})?$/, l);
  await ctx.close();
});

test('360° view: masked for an analyst; a customer manager sees their customer and not another', async () => {
  const { ctx, page } = await loginPage('analyst');
  await page.click('[data-testid="nav-customer"]');
  await inp(page, 'customer-search').fill(cust1);
  await page.click('[data-testid="customer-find"]');
  await page.waitForSelector('[data-testid="customer-view"]');
  await page.waitForSelector('[data-testid="masked-badge"]');
  const mobile = await page.textContent('[data-testid="attr-mobile"]');
  assert.match(mobile, /^1\d\d\*{4}\d{4}$/, mobile);
  const view = await page.textContent('[data-testid="customer-view"]');
  const clear = JSON.parse(cli(['customer', 'show', cust1, '--unmasked', '--json'])).attributes.mobile.value;
  assert.ok(!view.includes(clear), 'the mobile number in clear reached the page');
  await shot(page, 'customer360');
  await ctx.close();

  const cm = await loginPage('cm1');
  await cm.page.click('[data-testid="nav-customer"]');
  await inp(cm.page, 'customer-search').fill(cust2);
  await cm.page.click('[data-testid="customer-find"]');
  await cm.page.waitForSelector('[data-testid="customer-error"]');
  await inp(cm.page, 'customer-search').fill(cust1);
  await cm.page.click('[data-testid="customer-find"]');
  await cm.page.waitForSelector('[data-testid="customer-view"]');
  await cm.ctx.close();
});

test('tag centre: a developer edits and submits a draft, a steward approves it (maker-checker)', async () => {
  const d = await loginPage('dev');
  await d.page.click('[data-testid="nav-tags"]');
  await d.page.waitForSelector('[data-testid="tag-tree"] .el-tree-node');
  await inp(d.page, 'tag-search').fill('aum_level');
  await d.page.locator('.el-tree-node__content', { hasText: 'aum_level' }).first().click();
  await d.page.waitForSelector('[data-testid="tag-card"]');
  await d.page.waitForSelector('[data-testid="tag-coverage"] canvas');
  await shot(d.page, 'tags');
  assert.equal(await d.page.locator('[data-testid="tag-approve"]').count(), 0); // not the developer's to approve
  await d.page.click('[data-testid="tag-edit"]');
  await inp(d.page, 'edit-description').fill('资产等级（控制台修订）: L1..L5 by AUM');
  await d.page.click('[data-testid="edit-save"]');
  await d.page.waitForFunction(() => document.querySelector('[data-testid="tag-description"]')?.textContent.includes('控制台修订'));
  await d.page.click('[data-testid="tag-submit"]');
  await d.page.click('[data-testid="step-confirm"]');
  await d.page.waitForFunction(() => document.querySelector('[data-testid="tag-card"]').textContent.includes('in_review'));
  await d.ctx.close();

  const s = await loginPage('steward');
  await s.page.click('[data-testid="nav-tags"]');
  await s.page.click('[data-testid="tab-review"]');
  await s.page.locator('[data-testid="review-list"] tr', { hasText: 'aum_level' }).first().click();
  await s.page.waitForSelector('[data-testid="tag-approve"]');
  await s.page.click('[data-testid="tag-approve"]');
  await inp(s.page, 'step-comment').fill('复核通过');
  await s.page.click('[data-testid="step-confirm"]');
  await s.page.waitForFunction(() => !document.querySelector('[data-testid="tag-approve"]') && document.querySelector('[data-testid="tag-events"]').textContent.includes('publishsteward'));
  assert.equal(await s.page.locator('[data-testid="tag-error"]').count(), 0);
  await s.ctx.close();
  const shown = JSON.parse(cli(['tag', 'show', 'aum_level', '--json']));
  assert.equal(shown.online_version, 2);
  assert.match(shown.description, /控制台修订/);
  const hist = JSON.parse(cli(['tag', 'history', 'aum_level', '--json']));
  const ev = hist.events.filter((e) => e.version === 2).map((e) => `${e.action}:${e.actor}`);
  assert.deepEqual(ev, ['edit:dev', 'submit:dev', 'approve:steward', 'publish:steward']);
});

test('pipeline and audit: an auditor reads the five-module counts and a verified chain', async () => {
  const { ctx, page } = await loginPage('auditor');
  await page.click('[data-testid="nav-pipeline"]');
  await page.waitForSelector('[data-testid="pipeline-files"] tbody tr');
  const files = await page.locator('[data-testid="pipeline-files"] tbody tr.el-table__row').count();
  assert.ok(files >= 5, `files: ${files}`);
  // a file with rejected rows opens onto its quarantined rows, personal values masked
  const bad = page.locator('[data-testid="pipeline-files"] tr.el-table__row').filter({ has: page.locator('span[data-rejected]:not([data-rejected="0"])') }).first();
  await bad.locator('.el-table__expand-icon').click();
  await page.waitForSelector('[data-testid="quarantine-rows"] tbody tr.el-table__row');
  const rows = await page.locator('[data-testid="quarantine-rows"] tbody tr.el-table__row').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
  assert.ok(rows.length > 0);
  for (const [, field, , value] of rows) if (/^(id_no|mobile|name|cert_no)$/.test(field) && value.length > 4) assert.match(value, /\*/, `${field} ${value}`);
  await shot(page, 'pipeline');
  await page.click('[data-testid="nav-audit"]');
  await page.waitForSelector('[data-testid="chain-status"]');
  assert.match(await page.textContent('[data-testid="chain-status"]'), /审计链完整/);
  await page.waitForSelector('[data-testid="audit-records"] tbody tr.el-table__row');
  assert.match(await page.textContent('[data-testid="audit-records"]'), /tag\.approve/);
  // access alerts are the auditor's to read (audit.read), as a list
  await page.waitForFunction(() => /^\s*\[/.test(document.querySelector('[data-testid="alerts"]')?.textContent || ''));
  await shot(page, 'audit');
  await ctx.close();
});

test('behaviour: shown only when the server has the event routes; then funnel, paths and retention as the CLI', async () => {
  const { ctx, page } = await loginPage('analyst');
  const nav = await navItems(page);
  if (!eventsServed) {
    // the event analysis routes are documented but not served by this build: no menu item, and
    // the screen's path leads elsewhere
    assert.ok(!nav.includes('behaviour'), nav.join());
    await page.goto(srv.url + '/behaviour');
    await page.waitForSelector('[data-testid="nav"]');
    assert.notEqual(new URL(page.url()).pathname, '/behaviour');
    await ctx.close();
    return;
  }
  assert.ok(nav.includes('behaviour'), nav.join());
  await ctx.close();
  // the app events of the synthetic bank, loaded while no server holds the data directory
  srv.child.kill('SIGTERM');
  await new Promise((r) => (srv.child.exitCode !== null ? r() : srv.child.on('exit', r)));
  cli(['events', 'source', 'add', 'app']);
  cli(['events', 'import', join(root, 'land', 'events.jsonl'), '--source', 'app', '--format', 'sensors']);
  cli(['events', 'compact']);
  srv = await startServer();
  const b = await loginPage('analyst');
  await b.page.click('[data-testid="nav-behaviour"]');
  await b.page.click('[data-testid="ev-funnel-run"]');
  await b.page.waitForSelector('[data-testid="ev-funnel-table"] tbody tr.el-table__row');
  const users = await b.page.locator('[data-testid="ev-funnel-table"] tbody tr.el-table__row').evaluateAll((trs) => trs.map((tr) => Number(tr.querySelectorAll('td')[2].textContent.replace(/,/g, ''))));
  const viaCli = JSON.parse(cli(['funnel', 'app_launch', 'view_product', 'fund_purchase', '--json'])).steps.map((x) => x.users);
  assert.deepEqual(users, viaCli);
  await shot(b.page, 'behaviour');
  // the paths after app_launch as a sankey, and day-N retention whose cohorts add up as the CLI's
  await b.page.getByRole('tab', { name: '路径' }).click();
  await b.page.click('[data-testid="ev-paths-run"]');
  await b.page.waitForSelector('[data-testid="ev-sankey"] canvas');
  await b.page.getByRole('tab', { name: '留存' }).click();
  await b.page.click('[data-testid="ev-retention-run"]');
  await b.page.waitForSelector('[data-testid="ev-retention-table"] tbody tr.el-table__row');
  const ret = JSON.parse(cli(['retention', 'app_launch', 'app_launch', '--days', '7', '--json']));
  const last = await b.page.locator('[data-testid="ev-retention-table"] .el-table__body-wrapper tbody tr.el-table__row').last().locator('td').nth(1).textContent();
  assert.equal(Number(last.replace(/,/g, '')), ret.total.users);
  await shot(b.page, 'behaviour-retention');
  await b.ctx.close();
});
