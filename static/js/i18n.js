/**
 * Duoxie (多些) user-facing text: message tables (static/js/locales/*.js), the user-facing text
 * of every error code, and dates and times in China time (Asia/Shanghai) in the user's language.
 *
 *   import { t, errorText, setLocale, applyI18n, formatRelative } from '/static/js/i18n.js';
 *   button.textContent = t('action.send');
 *   status.textContent = errorText(err);          // a ClientError, or a code
 *   applyI18n(document);                          // data-i18n="key" and friends
 *
 * The server's error `message` is for developers: users only ever see errorText(). The default
 * language is zh-CN; English is a switch (setLocale('en')), remembered on this device.
 * Usage: docs/client.md, "Text and languages".
 *
 * @module i18n
 */
import zhCN from './locales/zh-CN.js';
import en from './locales/en.js';
import meZhCN from './locales/me.zh-CN.js';
import meEn from './locales/me.en.js';
import consoleZhCN from './locales/console.zh-CN.js';
import consoleEn from './locales/console.en.js';
import liveZhCN from './locales/live.zh-CN.js';
import liveEn from './locales/live.en.js';
import communityZhCN from './locales/community.zh-CN.js';
import communityEn from './locales/community.en.js';

// The global object, also on engines without globalThis (older mini-program runtimes).
const G = typeof globalThis !== 'undefined' ? globalThis : typeof self !== 'undefined' ? self : typeof window !== 'undefined' ? window : {};

/** The languages there are tables for, the default first. */
export const LOCALES = Object.freeze(['zh-CN', 'en']);
export const DEFAULT_LOCALE = 'zh-CN';
/** Every date and time is shown in China time, whatever the device's zone. */
export const TIME_ZONE = 'Asia/Shanghai';
/** Where the choice is remembered. */
export const LOCALE_KEY = 'duoxie.locale';

/**
 * The protocol's error codes (docs/protocol.md, "Error codes"): each has `error.<code>` text.
 * `policy_not_accepted` (a code login without the policy version in force accepted) is in the
 * server ahead of the document.
 */
export const PROTOCOL_ERROR_CODES = Object.freeze([
  'bad_request', 'invalid_field', 'invalid_phone', 'text_too_long', 'frame_too_large',
  'binary_not_supported', 'unknown_type', 'unauthorized', 'auth_required',
  'already_authenticated', 'invalid_code', 'code_expired', 'too_many_attempts', 'code_cooldown',
  'invalid_credentials', 'forbidden', 'not_found', 'blocked', 'age_required',
  'guardian_required', 'content_rejected', 'muted', 'suspended', 'conflict', 'recall_expired',
  'policy_not_accepted', 'file_too_large',
  'quota_exceeded', 'headers_too_large', 'image_too_large', 'unsupported_media',
  'media_type_mismatch', 'invalid_media', 'invalid_receipt', 'consent_required', 'rate_limited',
  'unavailable', 'internal',
  'room_ended', 'room_banned', 'room_kicked', 'room_muted', 'room_busy', 'too_many_rooms',
  'queue_full', 'call_busy', 'call_ended', 'invalid_sdp', 'invalid_candidate', 'signal_too_large',
  'share_code_invalid',
]);
/** Codes the client library produces itself (client.js CLIENT_ERROR_CODES). */
export const CLIENT_ERROR_CODES = Object.freeze(['network', 'offline', 'timeout', 'disconnected', 'http_error']);

// Each language's table is the core one plus a table per page that owns many texts (so a page's
// words stay beside each other); a key is in one part only.
function merge(locale, parts) {
  const table = {};
  for (const part of parts) {
    for (const key of Object.keys(part)) {
      if (Object.prototype.hasOwnProperty.call(table, key) && typeof console !== 'undefined') {
        console.error(`i18n: ${locale} has the key ${key} twice`);
      }
      table[key] = part[key];
    }
  }
  return Object.freeze(table);
}

const TABLES = {
  'zh-CN': merge('zh-CN', [zhCN, meZhCN, consoleZhCN, liveZhCN, communityZhCN]),
  en: merge('en', [en, meEn, consoleEn, liveEn, communityEn]),
};

// A storage with the Web Storage shape; a mini-program passes its own (configureI18n).
let storage = (() => {
  try { return G.localStorage || null; } catch (_) { return null; }
})();

function readStored() {
  try { return storage ? storage.getItem(LOCALE_KEY) : null; } catch (_) { return null; }
}

/** 'zh', 'zh-Hans-CN', 'zh_CN' → 'zh-CN'; 'en-US' → 'en'; anything else → null. */
export function normalizeLocale(tag) {
  const s = String(tag || '').trim().replace(/_/g, '-').toLowerCase();
  if (!s) return null;
  if (s === 'zh' || s.startsWith('zh-')) return 'zh-CN';
  if (s === 'en' || s.startsWith('en-')) return 'en';
  return null;
}

let locale = normalizeLocale(readStored()) || DEFAULT_LOCALE;
const listeners = new Set();

/**
 * Mini-program set-up: `configureI18n({storage: {getItem, setItem, removeItem}})` (e.g. over
 * wx.getStorageSync). The remembered language is read again from it.
 */
export function configureI18n({ storage: s } = {}) {
  if (s !== undefined) {
    storage = s;
    const stored = normalizeLocale(readStored());
    if (stored && stored !== locale) setLocale(stored, { persist: false });
  }
}

/** The language in force: 'zh-CN' or 'en'. */
export function getLocale() {
  return locale;
}

/**
 * Switches the language (remembered unless `{persist:false}`), tells onLocaleChange listeners
 * and, in a browser, sets `<html lang>`. Returns false for a language without a table.
 */
export function setLocale(next, { persist = true } = {}) {
  const l = normalizeLocale(next);
  if (!l) return false;
  if (persist) {
    try { if (storage) storage.setItem(LOCALE_KEY, l); } catch (_) { /* this page only */ }
  }
  if (l === locale) return true;
  locale = l;
  const doc = G.document;
  if (doc && doc.documentElement) doc.documentElement.lang = l;
  for (const fn of [...listeners]) {
    try { fn(l); } catch (err) {
      if (typeof G.reportError === 'function') G.reportError(err);
    }
  }
  return true;
}

/** Calls `fn(locale)` after every change of language; returns the function that stops it. */
export function onLocaleChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function lookup(key, l = locale) {
  const table = TABLES[l];
  if (table && Object.prototype.hasOwnProperty.call(table, key)) return table[key];
  if (Object.prototype.hasOwnProperty.call(TABLES[DEFAULT_LOCALE], key)) return TABLES[DEFAULT_LOCALE][key];
  return undefined;
}

/** The whole table of a language (all its parts merged), for tests and tools. */
export function tableOf(l) {
  return TABLES[normalizeLocale(l)] || null;
}

/** True when a text exists for `key` (in the language in force or the default one). */
export function has(key) {
  return lookup(key) !== undefined;
}

function plural(n) {
  try { return new Intl.PluralRules(locale).select(n); } catch (_) { return n === 1 ? 'one' : 'other'; }
}

/**
 * The text of `key` in the language in force, `{name}` placeholders filled from `params`.
 * With a numeric `params.count`, `key#one` / `key#other` are preferred when the table has them
 * (English plurals). An unknown key returns the key itself, so a gap shows, never breaks.
 */
export function t(key, params) {
  let text;
  if (params && typeof params.count === 'number') text = lookup(key + '#' + plural(params.count));
  if (text === undefined) text = lookup(key);
  if (text === undefined) return key;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (all, name) => (params[name] == null ? all : String(params[name])));
}

// ---------------------------------------------------------------- errors

function pick(...keys) {
  for (const k of keys) if (k && has(k)) return k;
  return null;
}

/**
 * What to tell the user about an error: `errorText(err)` with a ClientError (or any object with
 * `code`, `retryAfterMs`/`retry_after_ms`, `field`, `missingPermissions`), or
 * `errorText(code, {retryAfterMs, field, missingPermissions})`. Every code of the protocol has
 * a text; a wait the server named is said as a time ("请 45 秒后再试", "3月2日 14:00 后…").
 * Never the server's developer message, never a code the user cannot act on.
 */
export function errorText(codeOrError, params = {}) {
  const e = codeOrError && typeof codeOrError === 'object' ? codeOrError : {};
  const code = typeof codeOrError === 'string' ? codeOrError : e.code;
  const p = Object.assign({}, params);
  const retryAfterMs = p.retryAfterMs ?? p.retry_after_ms ?? e.retryAfterMs ?? e.retry_after_ms ?? null;
  const field = p.field ?? e.field ?? null;
  const missing = p.missingPermissions ?? p.missing_permissions ?? e.missingPermissions ?? e.missing_permissions ?? null;
  const base = 'error.' + (code || 'unknown');
  const values = {};
  let key = null;
  if (retryAfterMs != null && retryAfterMs > 0) {
    const until = Date.now() + retryAfterMs;
    values.seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    values.minutes = Math.max(1, Math.ceil(retryAfterMs / 60000));
    values.until = formatUntil(until);
    // Seconds for short waits, the moment for long ones (mutes, suspensions, lockouts).
    key = pick(retryAfterMs <= 90000 ? base + '.wait_seconds' : null, base + '.wait');
  }
  if (!key && Array.isArray(missing) && missing.length) {
    values.permissions = missing.map((x) => t('permission.' + x)).join(t('list.separator'));
    key = pick(base + '.permissions');
  }
  if (!key && field) {
    const label = has('field.' + field) ? t('field.' + field) : null;
    if (label) {
      values.field = label;
      key = pick(base + '.field');
    }
  }
  if (!key) key = pick(base) || 'error.unknown';
  return t(key, values);
}

// ---------------------------------------------------------------- dates and times

const formatters = new Map();
function fmt(kind) {
  const id = locale + '|' + kind;
  let f = formatters.get(id);
  if (!f) {
    const zh = locale === 'zh-CN';
    const opts = {
      time: { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
      datetime: zh
        ? { year: 'numeric', month: 'numeric', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
        : { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
      date: zh ? { year: 'numeric', month: 'long', day: 'numeric' } : { year: 'numeric', month: 'short', day: 'numeric' },
      monthday: zh ? { month: 'long', day: 'numeric' } : { month: 'short', day: 'numeric' },
      monthdaytime: zh
        ? { month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }
        : { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' },
      weekday: { weekday: 'long' },
    }[kind];
    f = new Intl.DateTimeFormat(locale, Object.assign({ timeZone: TIME_ZONE }, opts));
    formatters.set(id, f);
  }
  return f;
}

const valid = (ms) => typeof ms === 'number' && Number.isFinite(ms);

// China keeps UTC+8 all year (no daylight saving since 1991): a calendar day there.
const CHINA_OFFSET_MS = 8 * 3600000;
const chinaDay = (ms) => Math.floor((ms + CHINA_OFFSET_MS) / 86400000);

/** "2026/12/1 14:05" · "Dec 1, 2026, 14:05" (China time). '' for no time. */
export function formatDateTime(ms) {
  return valid(ms) ? fmt('datetime').format(ms) : '';
}

/** "14:05" (China time). */
export function formatTime(ms) {
  return valid(ms) ? fmt('time').format(ms) : '';
}

/** "2026年12月1日" · "Dec 1, 2026" (China time). */
export function formatDate(ms) {
  return valid(ms) ? fmt('date').format(ms) : '';
}

const yearOf = (ms) => fmt('date').formatToParts(ms).find((x) => x.type === 'year').value;

// "12月4日 14:05" within the year, the full date and time otherwise.
function dateTimeShort(ms, now) {
  return yearOf(ms) === yearOf(now) ? fmt('monthdaytime').format(ms) : formatDateTime(ms);
}

/** A moment to come, as a wait is named: "14:05", "明天 09:00", "12月4日 14:05" (China time). */
export function formatUntil(ms) {
  if (!valid(ms)) return '';
  const now = Date.now();
  const days = chinaDay(ms) - chinaDay(now);
  if (days === 0) return formatTime(ms);
  if (days === 1) return t('time.tomorrow_at', { time: formatTime(ms) });
  return dateTimeShort(ms, now);
}

function relativeUnit(value, unit) {
  try {
    return new Intl.RelativeTimeFormat(locale, { numeric: 'auto' }).format(value, unit);
  } catch (_) {
    const n = Math.abs(value);
    return t(value < 0 ? `time.${unit}s_ago` : `time.in_${unit}s`, { count: n, n });
  }
}

/**
 * Chat-list style: 刚刚 · 5分钟前 · 14:05 (today) · 昨天 14:05 · 星期二 (this week) · 3月2日 ·
 * 2025年3月2日; for a time to come: 5分钟后 · 今天 18:00 · 明天 09:00 · 3月2日 09:00.
 * `now` is for tests.
 */
export function formatRelative(ms, now = Date.now()) {
  if (!valid(ms)) return '';
  const diff = ms - now;
  const days = chinaDay(ms) - chinaDay(now);
  if (diff > 30000) {
    if (diff < 3600000) return relativeUnit(Math.round(diff / 60000) || 1, 'minute');
    if (days === 0) return t('time.today_at', { time: formatTime(ms) });
    if (days === 1) return t('time.tomorrow_at', { time: formatTime(ms) });
    return dateTimeShort(ms, now);
  }
  const ago = -diff;
  if (ago < 60000) return t('time.just_now');
  if (ago < 3600000) return relativeUnit(-Math.floor(ago / 60000), 'minute');
  if (days === 0) return formatTime(ms);
  if (days === -1) return t('time.yesterday_at', { time: formatTime(ms) });
  if (days > -7) return fmt('weekday').format(ms);
  return yearOf(ms) === yearOf(now) ? fmt('monthday').format(ms) : formatDate(ms);
}

// ---------------------------------------------------------------- the DOM

const ATTRS = [
  ['data-i18n-placeholder', 'placeholder'],
  ['data-i18n-title', 'title'],
  ['data-i18n-aria-label', 'aria-label'],
];

/**
 * Fills every element under `root` (default: the document; `root` itself included) that
 * carries `data-i18n="key"` (its textContent), `data-i18n-placeholder`, `data-i18n-title` or
 * `data-i18n-aria-label` (those attributes). `data-i18n-params='{"n":3}'` gives placeholders.
 * Call it again after setLocale (onLocaleChange(() => applyI18n())).
 */
export function applyI18n(root) {
  const doc = G.document;
  const top = root || doc;
  if (!top || typeof top.querySelectorAll !== 'function') return;
  if (top === doc && doc.documentElement) doc.documentElement.lang = locale;
  const sel = '[data-i18n],[data-i18n-placeholder],[data-i18n-title],[data-i18n-aria-label]';
  const nodes = [...top.querySelectorAll(sel)];
  if (top.matches && top.matches(sel)) nodes.unshift(top);
  for (const node of nodes) {
    let params;
    const raw = node.getAttribute('data-i18n-params');
    if (raw) {
      try { params = JSON.parse(raw); } catch (_) { params = undefined; }
    }
    const key = node.getAttribute('data-i18n');
    if (key) node.textContent = t(key, params);
    for (const [data, attr] of ATTRS) {
      const k = node.getAttribute(data);
      if (k) node.setAttribute(attr, t(k, params));
    }
  }
}
