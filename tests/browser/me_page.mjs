// The 我的 (Me) tab of the web client (static/js/pages/me*.js), in a 390×844 phone and a
// 1280×800 desktop: profile edit and avatar upload (photo_album asked in the page), the consent
// receipts table with verification and download, the export as tables with its JSON download,
// signing out another session through the in-page dialog, the language switch, no sideways
// scrolling, no window dialogs, no console errors. See README.md, "me_page.mjs".
import { readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makePng, runStamp,
  Run, env, fail, waitUntil, waitVisible, settle, loginApp, checkNoHorizontalScroll, staticFromDisk,
  oneLine, WAIT_MS,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const PHONE_NO = env('DUOXIE_BUYER_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });
const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static');

// Until the new shell (index.html loading /static/js/main.js) exists, the tab is mounted on a
// harness page of this script's own (after logging in on `/`); DUOXIE_ME_HARNESS=1 forces it.
const SHELL = (() => {
  if (process.env.DUOXIE_ME_HARNESS === '1') return false;
  try { return /\/static\/js\/(app\/)?main\.js/.test(readFileSync(join(STATIC_DIR, 'index.html'), 'utf8')); } catch (_) { return false; }
})();
const HARNESS_PATH = '/__me_harness';
const HARNESS_HTML = `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1, viewport-fit=cover">
<link rel="stylesheet" href="/static/app.css"><title>me harness</title></head>
<body><main id="tab-me" class="tab-page"></main>
<script type="module">
import { getClient } from '/static/js/client.js';
import { setMe, clearSession } from '/static/js/app/store.js';
import { registerTab, navigate, followHistory, parseHash } from '/static/js/app/nav.js';
import { applyI18n } from '/static/js/i18n.js';
import * as me from '/static/js/pages/me.js';
const client = getClient();
client.on('logged_out', () => { clearSession(); document.body.dataset.loggedOut = '1'; });
applyI18n(document);
const m = await client.resume();
setMe(m);
registerTab('me', me, document.getElementById('tab-me'));
followHistory('me');
const at = parseHash();
navigate('me', at && at.tab === 'me' ? at.view : null, { replace: true });
document.body.dataset.ready = '1';
</script></body></html>`;

const run = new Run({ artifacts: ARTIFACTS, overallMs: 300000 });

// ---------------------------------------------------------------- helpers

async function api(method, path, { token = null, body } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(BASE + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch (_) { json = null; }
  return { status: res.status, json };
}

// A code login through the API: a second session of the same account.
async function apiLogin(phone, device) {
  const policy = await api('GET', '/api/legal/privacy_policy');
  const code = await api('POST', '/api/auth/code', { body: { phone } });
  if (code.status !== 200 || !code.json.dev_code) fail(`POST /api/auth/code answered ${code.status} ${oneLine(JSON.stringify(code.json))} (DUOXIE_AUTH_DEV_CODES=true?)`);
  const login = await api('POST', '/api/auth/login', { body: { phone, code: code.json.dev_code, device, accepted_policy_version: policy.json.version, age_bracket: 'adult' } });
  if (login.status !== 200) fail(`POST /api/auth/login answered ${login.status} ${oneLine(JSON.stringify(login.json))}`);
  return login.json;
}

// The avatar: a 48×48 picture with a diagonal band (lib.mjs).
const avatarPng = () => makePng({ width: 48, rgb: [194, 65, 12], paper: [255, 240, 220], ink: (x, y) => (x + y) % 16 < 8 });

const CONTENT_TYPES = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', html: 'text/html; charset=utf-8', txt: 'text/plain; charset=utf-8', md: 'text/plain; charset=utf-8' };

// lib.mjs's static-from-disk routing, for a context lib.mjs does not make (the desktop one).
async function routeStatic(context) {
  const which = staticFromDisk();
  if (!which) return;
  const rel = (url) => (url.pathname === '/' ? 'index.html' : url.pathname.startsWith('/static/') ? decodeURIComponent(url.pathname.slice(8)) : null);
  await context.route((url) => { const r = rel(url); return r != null && (which === 'all' || which.has(r)); }, async (route) => {
    const r = rel(new URL(route.request().url()));
    const file = normalize(join(STATIC_DIR, r));
    const ext = r.includes('.') ? r.slice(r.lastIndexOf('.') + 1) : '';
    if (!file.startsWith(STATIC_DIR + sep) || !existsSync(file) || !CONTENT_TYPES[ext]) {
      await route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"file"}}' });
      return;
    }
    await route.fulfill({ status: 200, contentType: CONTENT_TYPES[ext], body: readFileSync(file) });
  });
}

async function routeHarness(context) {
  await context.route((url) => url.pathname === HARNESS_PATH, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: HARNESS_HTML }));
}

async function newDesktopPage(label) {
  const context = await run.browser.newContext({ viewport: { width: 1280, height: 800 }, deviceScaleFactor: 1, locale: 'zh-CN', acceptDownloads: true });
  context.setDefaultTimeout(WAIT_MS);
  context.setDefaultNavigationTimeout(WAIT_MS);
  await routeStatic(context);
  await routeHarness(context);
  const page = await context.newPage();
  const entry = { label, page, errors: [], dialogs: [], ws: { lines: [] } };
  page.on('console', (msg) => { if (msg.type() === 'error' || msg.type() === 'warning') entry.errors.push(`[console.${msg.type()}] ${msg.text()}`); });
  page.on('pageerror', (err) => entry.errors.push(`[pageerror] ${err.message}`));
  page.on('dialog', async (d) => { entry.dialogs.push(`${d.type()}: ${oneLine(d.message())}`); try { await d.dismiss(); } catch (_) { /* gone */ } });
  run.pages.push(entry);
  return entry;
}

// Logs in through the app's UI, then shows the 我的 tab (the real shell, or the harness).
async function openMe(entry) {
  await loginApp(entry, BASE, PHONE_NO);
  const { page } = entry;
  if (!SHELL) {
    await page.goto(BASE + HARNESS_PATH + '#/me', { waitUntil: 'domcontentloaded' });
    await waitUntil('the harness page to mount the tab', () => page.evaluate(() => document.body.dataset.ready === '1'));
  } else {
    const tab = page.locator('[data-tab="me"], #tab-btn-me, nav [href="#/me"]').or(page.getByRole('tab', { name: '我的' })).or(page.getByRole('button', { name: '我的' }));
    if (await tab.count()) await tab.first().click();
    else await page.evaluate(() => { location.hash = '#/me'; });
  }
  await waitVisible(page.locator('#me-nickname'), 'the profile card (#me-nickname)');
}

async function home(page) {
  if (await page.locator('#me-back').isVisible()) await page.locator('#me-back').click();
  await waitVisible(page.locator('#me-logout-btn'), 'the home view of 我的');
}

async function go(page, row, viewId) {
  await home(page);
  await page.locator(row).click();
  await waitVisible(page.locator('#' + viewId), `the view #${viewId}`);
  await settle(page);
}

// Visible text of the tab without user data, avatar initials and 《》 titles.
async function visibleChinese(page) {
  return page.evaluate(() => {
    const root = document.querySelector('.me-page');
    if (!root) return ['(no .me-page)'];
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (!p || !p.getClientRects().length || p.closest('.me-user-data, .avatar, [lang="zh-CN"]')) continue;
      const text = n.textContent.replace(/《[^》]*》/g, '');
      if (/[\u3400-\u9fff\uff00-\uffef]/.test(text)) out.push(text.trim().slice(0, 80));
    }
    for (const n of root.querySelectorAll('[aria-label], [placeholder], [title]')) {
      if (!n.getClientRects().length || n.closest('.me-user-data, [lang="zh-CN"]')) continue;
      for (const a of ['aria-label', 'placeholder']) {
        const v = (n.getAttribute(a) || '').replace(/《[^》]*》/g, '');
        if (/[\u3400-\u9fff]/.test(v)) out.push(`${a}=${v}`);
      }
    }
    return out;
  });
}

async function downloadOf(page, selector) {
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: WAIT_MS }), page.locator(selector).click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), text: readFileSync(path, 'utf8') };
}

// ---------------------------------------------------------------- the scenario

await run.launch();
run.note(SHELL ? 'driving the real shell at /' : 'the new shell is not in static/index.html yet: the tab is mounted on this script\'s harness page');

const second = await run.step('0. a second session of the account (API code login), photo_album withdrawn', async () => {
  const login = await apiLogin(PHONE_NO, 'API second session');
  const cs = await api('GET', '/api/me/consents', { token: login.token });
  const album = (cs.json.current || []).find((c) => c.permission === 'photo_album');
  if (album && album.granted) {
    const w = await api('POST', '/api/me/consents', { token: login.token, body: { permission: 'photo_album', granted: false } });
    if (w.status !== 200) fail(`withdrawing photo_album answered ${w.status}`);
  }
  return login;
});

const phone = await run.newPhonePage('phone');
await phone.page.context().route((url) => url.pathname === HARNESS_PATH, (route) => route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: HARNESS_HTML }));
const { page } = phone;

await run.step('1. log in through the UI and open 我的: the card shows the id and roles', async () => {
  await openMe(phone);
  const id = (await page.locator('#me-id').textContent()).trim();
  if (String(second.user.id) !== id) fail(`#me-id shows ${id}, the account is ${second.user.id}`);
  const roles = (await page.locator('#me-roles').textContent()).trim();
  if (!roles.includes('买家')) fail(`#me-roles shows "${roles}", expected 买家 among them`);
});
await run.check('1a. home view: no horizontal scroll at 390 px', () => checkNoHorizontalScroll(page, 'home'));
await run.screenshot(phone, 'home');

const nickname = '翡翠阿' + runStamp(4);
await run.step('2. edit the nickname: saved, shown on the card and everywhere', async () => {
  await go(page, '#me-row-profile', 'me-view-profile');
  await page.locator('#me-edit-nickname').fill(nickname);
  await page.locator('#me-save-profile').click();
  await waitUntil('the nickname to be saved (#me-profile-msg 已保存)', async () => /已保存/.test(await page.locator('#me-profile-msg').textContent()),
    { describe: () => page.locator('#me-profile-msg').textContent() });
  await home(page);
  const shown = (await page.locator('#me-nickname').textContent()).trim();
  if (shown !== nickname) fail(`#me-nickname shows "${shown}", expected "${nickname}"`);
  const stale = await page.evaluate((old) => document.body.innerText.includes(old), second.user.nickname);
  if (stale && second.user.nickname !== nickname) fail(`the old nickname "${second.user.nickname}" is still on the page`);
  const fresh = await api('GET', '/api/me', { token: second.token });
  if (fresh.json.nickname !== nickname) fail(`GET /api/me says nickname "${fresh.json.nickname}"`);
});

await run.step('3. upload an avatar: photo_album asked in the page, then shown as an <img>', async () => {
  await go(page, '#me-row-profile', 'me-view-profile');
  await page.locator('#me-avatar-file').setInputFiles({ name: 'avatar.png', mimeType: 'image/png', buffer: avatarPng() });
  await waitVisible(page.locator('#me-album-dialog [role=dialog]'), 'the in-page photo_album dialog');
  await run.screenshot(phone, 'album-dialog');
  await page.locator('#me-album-allow').click();
  await waitVisible(page.locator('#me-album-dialog'), 'the dialog to close', { state: 'detached' });
  await waitUntil('the avatar picture (#me-avatar-preview img)', () => page.locator('#me-avatar-preview img').count(),
    { describe: () => page.locator('#me-avatar-status').textContent().catch(() => '') });
  await home(page);
  await waitUntil('the card\'s avatar <img>', () => page.locator('.me-profile-card .avatar img').count());
  const me = await api('GET', '/api/me', { token: second.token });
  if (!me.json.avatar) fail('GET /api/me has no avatar');
});
await run.check('3a. profile view: no horizontal scroll', async () => {
  await go(page, '#me-row-profile', 'me-view-profile');
  await checkNoHorizontalScroll(page, 'profile');
});

let grantRow = null;
await run.step('4. privacy: the receipts table has the photo_album grant; verification says valid; the receipt downloads', async () => {
  await go(page, '#me-row-consents', 'me-view-consents');
  await waitVisible(page.locator('table.me-receipts'), 'the receipts table');
  const album = page.locator('#me-perm-photo_album');
  if (!(await album.isChecked())) fail('the photo_album switch is off after the grant');
  grantRow = await page.evaluate(() => {
    for (const tr of document.querySelectorAll('table.me-receipts tbody tr')) {
      const cells = [...tr.children].map((td) => td.innerText.trim());
      if (cells[0] === '相册' && cells[1] === '已授权') {
        const btn = tr.querySelector('button[id^="me-verify-"]');
        return { id: btn.id.slice('me-verify-'.length), cells };
      }
    }
    return null;
  });
  if (!grantRow) fail('no row 相册 · 已授权 in the receipts table');
  if (!/\d{4}\/\d{1,2}\/\d{1,2} \d{2}:\d{2}/.test(grantRow.cells[2])) fail(`the time cell reads "${grantRow.cells[2]}"`);
  await page.locator('#me-verify-' + grantRow.id).click();
  await waitUntil('the verdict 回执真实，当前有效', async () => /回执真实，当前有效/.test(await page.locator('#me-verdict-' + grantRow.id).textContent().catch(() => '')),
    { describe: () => page.locator('#me-verdict-' + grantRow.id).textContent().catch(() => '(none)') });
  const file = await downloadOf(page, '#me-receipt-dl-' + grantRow.id);
  const doc = JSON.parse(file.text);
  if (!/\.json$/.test(file.name)) fail(`the receipt downloads as ${file.name}`);
  if (doc.permission !== 'photo_album' || !doc.granted || String(doc.jws).split('.').length !== 3) fail(`the receipt file: ${oneLine(file.text).slice(0, 200)}`);
  await run.screenshot(phone, 'privacy');
});
await run.check('4a. privacy view: no horizontal scroll, no raw JSON', async () => {
  await checkNoHorizontalScroll(page, 'privacy');
  if (await page.evaluate(() => /\{"|":\s*"/.test(document.querySelector('.me-page').innerText))) fail('JSON on screen');
});

await run.step('5. the export shows tables, and its JSON downloads and parses', async () => {
  await go(page, '#me-row-export', 'me-view-export');
  await waitVisible(page.locator('#me-export-account'), 'the account section of the export');
  const tables = await page.locator('#me-export table.me-table').count();
  if (tables < 2) fail(`the export shows ${tables} tables`);
  if (await page.evaluate(() => /\{"|":\s*"/.test(document.querySelector('.me-page').innerText))) fail('JSON on screen');
  const counts = await page.locator('#me-export-chat-counts').count();
  if (!counts) run.note('the export has no chat section counts');
  const file = await downloadOf(page, '#me-export-download');
  const doc = JSON.parse(file.text);
  if (doc.format !== 'duoxie-export-1' || !doc.sections || !doc.sections.account) fail(`the export file: ${oneLine(file.text).slice(0, 200)}`);
  if (doc.sections.account.nickname !== nickname) fail(`the export's nickname is ${doc.sections.account.nickname}`);
  await run.screenshot(phone, 'export');
});
await run.check('5a. export view: no horizontal scroll', () => checkNoHorizontalScroll(page, 'export'));

await run.step('6. sessions: sign out the API session through the in-page dialog', async () => {
  await go(page, '#me-row-account', 'me-view-account');
  const item = page.locator(`#me-sessions li[data-session="${second.session_id}"]`);
  await waitVisible(item, 'the API session in the list');
  await page.locator('#me-revoke-' + second.session_id).click();
  await waitVisible(page.locator('#me-revoke-dialog [role=dialog]'), 'the in-page confirmation');
  await run.screenshot(phone, 'revoke-dialog');
  await page.locator('#me-revoke-dialog #confirm-ok').click();
  await waitVisible(item, 'the session to leave the list', { state: 'detached' });
  const after = await api('GET', '/api/me', { token: second.token });
  if (after.status !== 401) fail(`the revoked token still answers ${after.status}`);
});
await run.check('6a. account view: no horizontal scroll', () => checkNoHorizontalScroll(page, 'account'));
await run.screenshot(phone, 'account');

await run.step('7. switch to English: no Chinese on any view of the tab (but 《》 titles and user data); then back', async () => {
  await home(page);
  await page.locator('#me-lang-en').click();
  await waitUntil('the tab in English', async () => (await page.locator('#me-logout-btn').textContent()).trim() === 'Log out');
  const where = [['home', null], ['profile', '#me-row-profile'], ['consents', '#me-row-consents'], ['export', '#me-row-export'], ['account', '#me-row-account']];
  for (const [name, row] of where) {
    if (row) await go(page, row, 'me-view-' + name);
    else await home(page);
    if (name === 'export') await waitVisible(page.locator('#me-export-account'), 'the export');
    const zh = await visibleChinese(page);
    if (zh.length) fail(`${name} view in English shows Chinese: ${zh.slice(0, 6).join(' | ')}`);
    await checkNoHorizontalScroll(page, name + ' (English)');
  }
  await run.screenshot(phone, 'english-account');
  await home(page);
  await page.locator('#me-lang-zh-CN').click();
  await waitUntil('the tab in Chinese again', async () => (await page.locator('#me-logout-btn').textContent()).trim() === '退出登录');
});

// ---------------------------------------------------------------- desktop

const desk = await newDesktopPage('desktop');
await run.step('8. desktop 1280×800: every view fits, no horizontal scroll', async () => {
  await openMe(desk);
  for (const [name, row] of [['home', null], ['profile', '#me-row-profile'], ['consents', '#me-row-consents'], ['export', '#me-row-export'], ['account', '#me-row-account']]) {
    if (row) await go(desk.page, row, 'me-view-' + name);
    else await home(desk.page);
    if (name === 'export') await waitVisible(desk.page.locator('#me-export-account'), 'the export');
    await checkNoHorizontalScroll(desk.page, 'desktop ' + name);
    if (name === 'home' || name === 'consents') await run.screenshot(desk, name);
  }
});

await run.step('9. log out from 我的 through the in-page dialog', async () => {
  await home(desk.page);
  await desk.page.locator('#me-logout-btn').click();
  await waitVisible(desk.page.locator('#me-logout-dialog [role=dialog]'), 'the log-out confirmation');
  await desk.page.locator('#me-logout-dialog #confirm-ok').click();
  await waitUntil('the log-out (token forgotten)', () => desk.page.evaluate(() => !localStorage.getItem('duoxie.token')));
});

await run.check('10. no window dialogs', () => {
  const all = [...phone.dialogs, ...desk.dialogs];
  if (all.length) fail(all.join(' | '));
});
await run.check('11. no console errors', () => {
  const all = [...phone.errors.map((e) => 'phone ' + e), ...desk.errors.map((e) => 'desktop ' + e)];
  if (all.length) fail(all.slice(0, 8).join(' | '));
});

await run.close();
if (run.failed.length) {
  console.log(`FAIL: ${run.failed.length} check(s) failed: ${run.failed.join(', ')}`);
  process.exit(1);
}
console.log('ok: me_page');
process.exit(0);
