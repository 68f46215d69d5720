// Shared helpers for the Duoxie browser tests: Debian's chromium driven by playwright-core,
// phone-sized contexts, UI logins with dev SMS codes, condition waits and failure artifacts.
// No fixed sleeps anywhere: every wait is on a selector, a text or a polled condition, bounded
// by WAIT_MS (15 s), and a wait that runs out fails the step that was waiting.
import { deflateSync } from 'node:zlib';
import { chromium } from 'playwright-core';
import { mkdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const STATIC_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'static');

export const WAIT_MS = 15000;

export const CHROMIUM_PATH = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export const PHONE = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
  locale: 'zh-CN',
};

// A desktop browser window (the two-pane layout of the web client).
export const DESKTOP = {
  viewport: { width: 1280, height: 800 },
  deviceScaleFactor: 1,
  isMobile: false,
  hasTouch: false,
  locale: 'zh-CN',
};

// ---------------------------------------------------------------- environment

export function env(name, { required = true } = {}) {
  const value = process.env[name];
  if (required && (value == null || value.trim() === '')) {
    console.log(`FAIL: config: environment variable ${name} is required`);
    process.exit(1);
  }
  return value == null ? null : value.trim();
}

// ---------------------------------------------------------------- the run: steps, pages, artifacts

export class StepError extends Error {}

// One run of a scenario: its browser, its tracked pages, its steps. A failed step prints
// `FAIL: <step>: <reason>`, saves what the pages show, and the process exits 1.
export class Run {
  // `chromiumArgs`: flags added to CHROMIUM_ARGS for this run's browser (live_call.mjs: the
  // fake camera and microphone).
  constructor({ artifacts = null, overallMs = 240000, chromiumArgs = [] } = {}) {
    this.artifacts = artifacts;
    this.chromiumArgs = chromiumArgs;
    if (artifacts) mkdirSync(artifacts, { recursive: true });
    this.browser = null;
    this.pages = []; // {label, page, errors: [], ws}
    this.notes = [];
    this.failed = []; // names of failed checks (see check())
    this.current = null;
    this.shots = 0;
    // The last line of defence: a hung browser must not hang the harness.
    this.watchdog = setTimeout(() => {
      console.log(`FAIL: ${this.current || 'run'}: whole scenario exceeded ${overallMs} ms`);
      process.exit(1);
    }, overallMs);
    this.watchdog.unref();
  }

  async launch() {
    // A page whose document page.route answered has no address space of its own, so Chrome's
    // local-network checks refuse its WebSocket to 127.0.0.1: off when serving from disk.
    const base = [...CHROMIUM_ARGS, ...this.chromiumArgs];
    const args = staticFromDisk() ? [...base, '--disable-features=LocalNetworkAccessChecks'] : base;
    this.browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args });
    return this.browser;
  }

  // A fresh phone-sized context (its own localStorage, so its own login) with one page.
  // With DUOXIE_STATIC_FROM_DISK=1 its pages load /, /console and /static/* from this
  // checkout's static/ folder instead of the copies compiled into the server (to try edits of
  // the client before the server is rebuilt); a comma-separated list of paths under static/
  // (`index.html,app.css,js/pages/login.js`) takes only those from disk. Everything else still goes to
  // the server. `sameContextAs` (an entry this run made): a second tab of that browser context
  // instead (the same storage, so the same login: another device of the same user).
  async newPhonePage(label, { onDialog, device = PHONE, sameContextAs = null } = {}) {
    let context = sameContextAs ? sameContextAs.context : null;
    if (!context) {
      context = await this.browser.newContext(device);
      context.setDefaultTimeout(WAIT_MS);
      context.setDefaultNavigationTimeout(WAIT_MS);
      const fromDisk = staticFromDisk();
      if (fromDisk) await serveStaticFromDisk(context, fromDisk);
    }
    const page = await context.newPage();
    const entry = { label, page, context, errors: [], ws: new WsLog(), dialogs: [] };
    page.on('console', (msg) => {
      if (msg.type() === 'error' || msg.type() === 'warning') {
        entry.errors.push(`[console.${msg.type()}] ${msg.text()}`);
      }
    });
    page.on('pageerror', (err) => entry.errors.push(`[pageerror] ${err.message}`));
    page.on('requestfailed', (req) => {
      const why = req.failure() ? req.failure().errorText : '';
      // A reload aborts the previous page's requests: not an error of the client.
      if (why !== 'net::ERR_ABORTED') entry.errors.push(`[requestfailed] ${req.method()} ${req.url()} ${why}`);
    });
    page.on('websocket', (ws) => entry.ws.attach(ws));
    page.on('dialog', async (dialog) => {
      // Every window dialog (alert, confirm, prompt) is kept: the client should need none.
      entry.dialogs.push(`${dialog.type()}: ${oneLine(dialog.message())}`);
      const answer = onDialog ? onDialog(dialog) : undefined;
      console.log(`  ${label}: ${dialog.type()} dialog "${oneLine(dialog.message())}" -> ${answer === false ? 'dismiss' : 'accept'}`);
      try {
        if (answer === false) await dialog.dismiss();
        else await dialog.accept(typeof answer === 'string' ? answer : undefined);
      } catch (_) { /* the page went away */ }
    });
    this.pages.push(entry);
    return entry;
  }

  // The same with a 1280×800 desktop window.
  async newDesktopPage(label, options = {}) {
    return this.newPhonePage(label, Object.assign({}, options, { device: DESKTOP }));
  }

  note(text) {
    this.notes.push(text);
    console.log(`note: ${text}`);
  }

  // A whole scenario: launches the browser, runs `body`, closes, prints `PASS: <name>` or what
  // failed, and exits 0 or 1. A thrown failure saves what every page shows first.
  async main(name, body) {
    try {
      await this.launch();
      await body();
      await this.close();
    } catch (err) {
      console.log(`FAIL: ${this.current || 'setup'}: ${(err && err.message) || err}`);
      await this.saveFailure(this.current || 'setup');
      await this.close();
      process.exit(1);
    }
    if (this.failed.length) {
      console.log(`FAILED: ${name}: ${this.failed.length} check(s) failed: ${this.failed.join('; ')}`);
      process.exit(1);
    }
    console.log(`PASS: ${name}`);
    process.exit(0);
  }

  async step(name, fn) {
    this.current = name;
    try {
      const result = await fn();
      console.log(`ok: ${name}`);
      return result;
    } catch (err) {
      const reason = err instanceof StepError ? err.message : oneLine((err && (err.stack || err.message)) || String(err));
      console.log(`FAIL: ${name}: ${reason}`);
      await this.saveFailure(name);
      await this.close();
      process.exit(1);
    }
  }

  // A check the later steps do not depend on (layout, placement): a failure prints its FAIL
  // line and saves the artifacts at once, the scenario goes on, and the run exits 1 at the end.
  async check(name, fn) {
    this.current = name;
    try {
      await fn();
      console.log(`ok: ${name}`);
      return true;
    } catch (err) {
      const reason = err instanceof StepError ? err.message : oneLine((err && (err.stack || err.message)) || String(err));
      console.log(`FAIL: ${name}: ${reason}`);
      this.failed.push(name);
      await this.saveFailure(name, `FAIL${this.failed.length}`);
      return false;
    }
  }

  async screenshot(entry, name) {
    if (!this.artifacts) return;
    this.shots += 1;
    const file = join(this.artifacts, `${String(this.shots).padStart(2, '0')}-${entry.label}-${name}.png`);
    try {
      await entry.page.screenshot({ path: file, fullPage: false, timeout: WAIT_MS });
      console.log(`  screenshot ${file}`);
    } catch (err) {
      console.log(`  screenshot ${file} failed: ${oneLine(err.message)}`);
    }
  }

  async saveFailure(step, prefix = 'FAIL') {
    for (const entry of this.pages) {
      if (entry.errors.length) {
        console.log(`  ${entry.label} console errors:`);
        for (const e of entry.errors.slice(-30)) console.log(`    ${oneLine(e)}`);
      }
      if (!this.artifacts) continue;
      const base = join(this.artifacts, `${prefix}-${entry.label}`);
      try {
        if (!entry.page.isClosed()) await entry.page.screenshot({ path: base + '.png', fullPage: true, timeout: 5000 });
      } catch (_) { /* nothing to show */ }
      let url = '';
      try { url = entry.page.url(); } catch (_) { /* closed */ }
      writeFileSync(base + '.log', [
        `failed step: ${step}`, `url: ${url}`, '', 'console errors:', ...entry.errors, '',
        'websocket frames (last 60):', ...entry.ws.lines.slice(-60), '',
      ].join('\n'));
    }
    if (this.artifacts) console.log(`  failure artifacts in ${this.artifacts}`);
  }

  async close() {
    clearTimeout(this.watchdog);
    if (this.browser) {
      try { await this.browser.close(); } catch (_) { /* already gone */ }
      this.browser = null;
    }
  }
}

// null (the server's files), 'all', or the Set of paths under static/ to take from disk.
export function staticFromDisk() {
  const v = (process.env.DUOXIE_STATIC_FROM_DISK || '').trim();
  if (!v || /^(0|false|no)$/i.test(v)) return null;
  if (/^(1|true|yes|all)$/i.test(v)) return 'all';
  return new Set(v.split(',').map((x) => x.trim()).filter(Boolean));
}

const CONTENT_TYPES = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8',
  html: 'text/html; charset=utf-8', txt: 'text/plain; charset=utf-8', md: 'text/plain; charset=utf-8' };

// The server's routes for the client's files (src/http/client.rs), answered from static/.
function staticPath(pathname) {
  if (pathname === '/') return 'index.html';
  if (pathname === '/console') return 'console.html';
  if (pathname.startsWith('/static/')) return decodeURIComponent(pathname.slice('/static/'.length));
  return null;
}

async function serveStaticFromDisk(context, which) {
  const wanted = (url) => {
    const rel = staticPath(url.pathname);
    return rel != null && (which === 'all' || which.has(rel));
  };
  await context.route(wanted,
    async (route) => {
      const rel = staticPath(new URL(route.request().url()).pathname);
      const file = normalize(join(STATIC_DIR, rel));
      const ext = rel.includes('.') ? rel.slice(rel.lastIndexOf('.') + 1) : '';
      if (!file.startsWith(STATIC_DIR + sep) || !existsSync(file) || !CONTENT_TYPES[ext]) {
        await route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":{"code":"not_found","message":"file"}}' });
        return;
      }
      await route.fulfill({ status: 200, contentType: CONTENT_TYPES[ext], body: readFileSync(file) });
    });
}

export function oneLine(text) {
  return String(text).replace(/\s+/g, ' ').trim().slice(0, 600);
}

export function fail(message) {
  throw new StepError(message);
}

// ---------------------------------------------------------------- websocket traffic

// What the page's sockets said, to wait for a reply (appeal.list after a reload) instead of
// guessing how long it takes. Frames are the protocol's {id,type,data} / {re,ok,...}.
class WsLog {
  constructor() {
    this.requests = []; // {id, type, at, reply: null | {ok, error}}
    this.byId = new Map();
    this.events = []; // {type, at}
    this.lines = [];
  }

  attach(ws) {
    ws.on('framesent', (f) => this.sent(f.payload));
    ws.on('framereceived', (f) => this.received(f.payload));
    ws.on('close', () => this.lines.push(`${Date.now()} close`));
  }

  sent(payload) {
    let frame;
    try { frame = JSON.parse(String(payload)); } catch (_) { return; }
    if (!frame || !frame.id) return;
    const r = { id: frame.id, type: frame.type, data: frame.data || {}, at: Date.now(), reply: null };
    // Ids restart at c1 on every page load: the newest request with an id wins.
    this.byId.set(frame.id, r);
    this.requests.push(r);
    this.lines.push(`${r.at} > ${frame.type} ${frame.id} ${oneLine(JSON.stringify(frame.data || {})).slice(0, 200)}`);
  }

  received(payload) {
    let frame;
    try { frame = JSON.parse(String(payload)); } catch (_) { return; }
    if (!frame) return;
    if (Object.prototype.hasOwnProperty.call(frame, 're')) {
      const r = this.byId.get(frame.re);
      if (r && !r.reply) r.reply = { ok: !!frame.ok, data: frame.data || null, error: frame.error || null, at: Date.now() };
      this.lines.push(`${Date.now()} < re ${frame.re} ${frame.ok ? 'ok' : 'ERR ' + JSON.stringify(frame.error)}`);
    } else if (frame.type) {
      this.events.push({ type: frame.type, at: Date.now(), data: frame.data });
      this.lines.push(`${Date.now()} < event ${frame.type} ${oneLine(JSON.stringify(frame.data || {})).slice(0, 200)}`);
    }
  }

  mark() {
    return this.requests.length;
  }

  // The first request of `type` sent after `mark` that has been answered.
  answered(type, mark = 0) {
    return this.requests.slice(mark).find((r) => r.type === type && r.reply) || null;
  }
}

// ---------------------------------------------------------------- waiting

// Polls `cond` (sync or async; a truthy result ends the wait and is returned) every 100 ms
// until `timeout`; then fails with `what`, plus the last value a `describe` gives.
export async function waitUntil(what, cond, { timeout = WAIT_MS, describe = null } = {}) {
  const deadline = Date.now() + Math.min(timeout, WAIT_MS);
  let lastErr = null;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let detail = '';
  if (describe) {
    try { detail = ' — ' + oneLine(await describe()); } catch (_) { /* nothing to add */ }
  }
  if (lastErr) detail += ` (last error: ${oneLine(lastErr.message)})`;
  fail(`timed out after ${Math.round(Math.min(timeout, WAIT_MS) / 1000)} s waiting for ${what}${detail}`);
}

// locator.waitFor with a message that names what was awaited.
export async function waitVisible(locator, what, { timeout = WAIT_MS, state = 'visible' } = {}) {
  try {
    await locator.first().waitFor({ state, timeout: Math.min(timeout, WAIT_MS) });
  } catch (err) {
    fail(`timed out waiting for ${what} to be ${state}`);
  }
  return locator.first();
}

// Lets the client's render queue (setTimeout 0) and a frame run before looking at the DOM.
export async function settle(page) {
  await page.evaluate(() => new Promise((resolve) => setTimeout(() => requestAnimationFrame(() => setTimeout(resolve, 0)), 0)));
}

// ---------------------------------------------------------------- the main client (index.html)

// The login pages' 我已阅读并同意《用户协议》和《隐私政策》 box (#policy-agree, the same id in the
// app and the console): ticks it, then waits for the login button to be enabled, which it is
// once GET /api/legal/privacy_policy gave the version a code login sends as accepted_policy_version.
export const POLICY_HINT = '请先阅读并同意《用户协议》和《隐私政策》';

export async function acceptPolicy(page, submitSelector) {
  const box = page.locator('#policy-agree');
  await waitVisible(box, 'the agreement checkbox (#policy-agree)');
  await box.check();
  await waitUntil(`the login button (${submitSelector}) to be enabled (the policy version loaded)`,
    () => page.locator(submitSelector).isEnabled(),
    { describe: () => visibleText(page, '#policy-agree-error, #login-error') });
}

// Logs in through the code form: send code, the client pre-fills res.dev_code, tick the
// agreement, submit. Then handles what the app shows before one can chat: the age declaration
// of an account that has none (as an adult user would: 18 or older). A guardian step (an
// under-14 account) fails.
export async function loginApp(entry, base, phone) {
  const { page } = entry;
  await page.goto(base + '/', { waitUntil: 'domcontentloaded' });
  await waitVisible(page.locator('#login-view'), 'the login form (#login-view)');
  await page.locator('#code-phone').fill(phone);
  await page.locator('#send-code-btn').click();
  await waitUntil('the client to pre-fill the dev code (#code-code)',
    async () => /^\d{4,8}$/.test(await page.locator('#code-code').inputValue()),
    { describe: () => visibleText(page, '#login-error, #login-info') });
  await acceptPolicy(page, '#code-form button[type=submit]');
  await page.locator('#code-form button[type=submit]').click();
  await waitVisible(page.locator('#app-view'), 'the app view after login',
    { timeout: WAIT_MS }).catch(async (err) => {
    fail(err.message + ' — login error: ' + (await visibleText(page, '#login-error')));
  });
  await handleStanding(entry);
  await waitConnected(page);
}

export async function handleStanding(entry) {
  const { page } = entry;
  await settle(page);
  const overlay = page.locator('#standing-overlay');
  if (!(await overlay.isVisible())) return;
  if (await page.locator('#guardian-step').isVisible()) {
    fail('the account is under 14 and waits for a guardian: the test accounts must be adults');
  }
  console.log(`  ${entry.label}: age declaration shown; declaring 18 or older`);
  await page.locator('#age-bracket').selectOption('adult');
  await page.locator('#age-submit').click();
  await waitVisible(overlay, 'the age overlay to close', { state: 'hidden' }).catch(async (err) => {
    fail(err.message + ' — ' + (await visibleText(page, '#age-error')));
  });
  await waitVisible(page.locator('#standing-banner'), 'the restriction banner to go', { state: 'hidden' });
}

// The logged-in account ({id, nickname, roles}) of the page, from GET /api/me with the token the
// page keeps (the app shows no user ids; 我的 is another tab).
export async function readMe(page) {
  return page.evaluate(async () => {
    const token = localStorage.getItem('duoxie.token');
    const res = await fetch('/api/me', { headers: { Authorization: 'Bearer ' + token } });
    return res.json();
  });
}

export async function waitConnected(page) {
  await waitUntil('the WebSocket to connect (#conn-status.open)',
    () => page.locator('#conn-status.open').count(),
    { describe: async () => 'status: ' + (await page.locator('#conn-status').textContent()) });
}

// ---------------------------------------------------------------- the moderator console

export async function loginConsole(entry, base, phone) {
  const { page } = entry;
  // The server serves the console at /console (README.md), not under its file name.
  const res = await page.goto(base + '/console', { waitUntil: 'domcontentloaded' });
  if (!res || !res.ok()) fail(`GET /console answered ${res ? res.status() : 'nothing'}`);
  await waitVisible(page.locator('#login-view'), 'the console login form');
  await page.locator('#login-phone').fill(phone);
  await page.locator('#send-code-btn').click();
  await waitUntil('the console to pre-fill the dev code (#login-code)',
    async () => /^\d{4,8}$/.test(await page.locator('#login-code').inputValue()),
    { describe: () => visibleText(page, '#login-error, #login-info') });
  await acceptPolicy(page, '#login-form button[type=submit]');
  await page.locator('#login-form button[type=submit]').click();
  await waitUntil('the moderation console (#console-view) after login', async () => {
    if (await page.locator('#forbidden-view').isVisible()) {
      fail('the console says this account is not a moderator: ' + (await visibleText(page, '#forbidden-detail')));
    }
    return page.locator('#console-view').isVisible();
  }, { describe: () => visibleText(page, '#login-error, #banner') });
}

// ---------------------------------------------------------------- page checks

export async function visibleText(page, selector) {
  return page.evaluate((sel) => [...document.querySelectorAll(sel)]
    .filter((n) => n.offsetParent !== null || n.getClientRects().length)
    .map((n) => n.innerText.trim()).filter(Boolean).join(' | '), selector);
}

// No horizontal scrolling at phone width. On a mobile viewport (isMobile) Chrome widens the
// layout viewport to fit content that is too wide and zooms out, so window.innerWidth grows
// with the overflow and `scrollWidth <= innerWidth` alone would always hold: both are also
// compared with the device width the context was created with (390 px).
export async function checkNoHorizontalScroll(page, where) {
  const device = page.viewportSize().width;
  const r = await page.evaluate((deviceWidth) => {
    const doc = document.documentElement;
    const vw = window.innerWidth;
    const limit = Math.min(vw, deviceWidth);
    const wide = [];
    if (doc.scrollWidth > limit) {
      for (const n of document.querySelectorAll('body *')) {
        const rect = n.getBoundingClientRect();
        if (!rect.width || !n.getClientRects().length || rect.right <= limit + 0.5) continue;
        // Only the outermost offender of each branch, or the list is every ancestor.
        if (n.parentElement && n.parentElement.getBoundingClientRect().right > limit + 0.5 &&
            n.parentElement !== document.body) continue;
        const cls = typeof n.className === 'string' && n.className.trim() ? '.' + n.className.trim().split(/\s+/).join('.') : '';
        wide.push(`${n.tagName.toLowerCase()}${n.id ? '#' + n.id : ''}${cls} (right edge ${Math.round(rect.right)} px, width ${Math.round(rect.width)} px)`);
      }
    }
    return { scrollWidth: doc.scrollWidth, innerWidth: vw, deviceWidth, wide: wide.slice(0, 8) };
  }, device);
  if (r.scrollWidth > r.innerWidth || r.scrollWidth > r.deviceWidth || r.innerWidth > r.deviceWidth) {
    fail(`${where}: horizontal overflow at ${r.deviceWidth} px: document.documentElement.scrollWidth ${r.scrollWidth}, ` +
      `window.innerWidth ${r.innerWidth} (the page was zoomed out to fit), device width ${r.deviceWidth}; ` +
      `too wide: ${r.wide.join(', ') || '(no element found)'}`);
  }
  return r;
}

// Visible error or status texts without any Chinese in them (reported, never a failure).
export async function englishOnlyErrors(page) {
  return page.evaluate(() => {
    const cjk = /[\u3400-\u9fff\uff00-\uffef]/;
    const out = new Set();
    const sel = '.error, [role=alert], [role=status], .banner, .note, .meta span, .item-msg, .flash, .media-error';
    for (const n of document.querySelectorAll(sel)) {
      if (!n.getClientRects().length || getComputedStyle(n).visibility === 'hidden') continue;
      const text = n.innerText.trim();
      if (text && /[A-Za-z]{3,}/.test(text) && !cjk.test(text)) out.add(text.replace(/\s+/g, ' ').slice(0, 200));
    }
    return [...out];
  });
}

// The element's box lies inside the phone's screen (width: the device's 390 px).
export async function checkInsideScreen(page, selector, what) {
  const device = page.viewportSize();
  const r = await page.evaluate((sel) => {
    const n = document.querySelector(sel);
    if (!n || !n.getClientRects().length) return null;
    const b = n.getBoundingClientRect();
    return { left: b.left, top: b.top, right: b.right, bottom: b.bottom, vw: window.innerWidth, vh: window.innerHeight };
  }, selector);
  if (!r) fail(`${what} (${selector}) is not shown`);
  const w = Math.min(r.vw, device.width);
  if (r.left < -0.5 || r.top < -0.5 || r.right > w + 0.5 || r.bottom > r.vh + 0.5) {
    fail(`${what} (${Math.round(r.left)},${Math.round(r.top)}–${Math.round(r.right)},${Math.round(r.bottom)}) ` +
      `does not fit the ${w}×${r.vh} screen`);
  }
  return r;
}

// Keyboard focus after each of `presses` (e.g. ['Tab', 'Tab', 'Shift+Tab']) stays inside the
// element `selector` (an open modal dialog); fails naming the first key that let it out.
export async function checkFocusStaysIn(page, selector, presses) {
  const inside = () => page.evaluate((sel) => {
    const box = document.querySelector(sel);
    const a = document.activeElement;
    return { inside: !!box && !!a && box.contains(a),
      active: a ? `${a.tagName.toLowerCase()}${a.id ? '#' + a.id : ''}${a.name ? '[name=' + a.name + ']' : ''}` : '(none)' };
  }, selector);
  let at = await inside();
  if (!at.inside) fail(`the focus is not in ${selector} when it opens (it is on ${at.active})`);
  for (const [i, key] of presses.entries()) {
    await page.keyboard.press(key);
    at = await inside();
    if (!at.inside) fail(`key ${i + 1} (${key}) moved the focus out of ${selector}, to ${at.active}`);
  }
}

// A run's own suffix for texts the server screens: letters only, none of which spell a contact
// detail (moderation refuses "wx", "vx", "qq" with digits and phone numbers, which a plain
// base-36 stamp sometimes did, failing a run at random).
export function runStamp(length = 5) {
  const safe = 'abcdefghjkmnprstuyz';
  let n = Date.now() + Math.floor(Math.random() * 1e6);
  let out = '';
  for (let i = 0; i < length; i++) {
    out += safe[n % safe.length];
    n = Math.floor(n / safe.length);
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length, 0);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td), 0);
  return Buffer.concat([len, td, crc]);
}

// A small valid RGB PNG made here (signature, IHDR, IDAT, IEND with their CRCs), for the
// pictures a scenario uploads: `rgb` where `ink(x, y)` is true, `paper` elsewhere, so that
// it is not a flat colour.
export function makePng({ width = 40, height = width, rgb = [60, 150, 110], paper = [240, 236, 220],
  ink = (x, y) => (x + y) % 6 !== 0 } = {}) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const rows = [];
  for (let y = 0; y < height; y++) {
    rows.push(Buffer.from([0, ...Array.from({ length: width }, (_, x) => (ink(x, y) ? rgb : paper)).flat()]));
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(Buffer.concat(rows))), pngChunk('IEND', Buffer.alloc(0))]);
}
