/**
 * 下载我的数据: the export (GET /api/me/export, everything held about the account) shown as
 * readable sections and tables (account and devices, consents, chats with their counts, staff
 * access, age and guardian, uploads, moderation; a section the server adds later is shown the
 * same way), never as raw JSON, with 下载JSON (the document as the server gave it).
 *
 * @module pages/me-export
 */
import { el, busy, downloadFile } from '/static/js/ui/dom.js';
import { t, has, errorText, formatDateTime, formatDate } from '/static/js/i18n.js';
import { getClient } from '/static/js/client.js';
import { dataTable, keyValues, isTransient } from './me-common.js';

export const TITLE = 'settings.export';

const ROWS = 50; // rows shown per table; the download has them all
const SKIP = new Set(['receipt', 'thumbnails', 'url', 'claims']);
// Fields in a reading order (the server's is alphabetical); the rest follow as they come.
const KEY_ORDER = ['nickname', 'phone', 'gender', 'intro', 'avatar', 'roles', 'has_password', 'birth_date', 'age_bracket', 'standing',
  'age_declared_at', 'permission', 'granted', 'action', 'kind', 'state', 'status', 'decision', 'device', 'body', 'content', 'purpose',
  'at', 'created_at', 'since', 'last_used_at', 'last_seen_at', 'expires_at', 'revoked_at', 'until', 'id'];
const rank = (k) => { const i = KEY_ORDER.indexOf(k); return i < 0 ? KEY_ORDER.length : i; };
const ordered = (keys) => keys.slice().sort((a, b) => rank(a) - rank(b));
const SECTION_ORDER = ['account', 'consents', 'chat', 'age_and_guardian', 'media', 'moderation', 'staff_access'];

let data = null;
let loading = false;
let error = null;
let gen = 0;
let ctxRef = null;

export function init(ctx) {
  ctxRef = ctx;
  return [];
}

export function enter() {
  if (!data && !loading) load();
}

export function reset() {
  gen += 1;
  data = null;
  loading = false;
  error = null;
}

async function load() {
  const my = ++gen;
  loading = true;
  error = null;
  if (ctxRef) ctxRef.rerender();
  try {
    const res = await getClient().api('GET', '/api/me/export', undefined, { timeoutMs: 120000 });
    if (my !== gen) return;
    data = res;
  } catch (err) {
    if (my !== gen) return;
    error = err;
  }
  loading = false;
  if (ctxRef) ctxRef.rerender();
}

function download() {
  if (!data) return;
  const day = new Date((data.generated_at || Date.now()) + 8 * 3600000).toISOString().slice(0, 10);
  downloadFile(`duoxie-export-${day}.json`, JSON.stringify(data, null, 2), 'application/json');
}

// ---------------------------------------------------------------- values

function label(key) {
  if (has('me.x.' + key)) return t('me.x.' + key);
  return key.replace(/_/g, ' ');
}

function sectionLabel(name) {
  return has('me.xs.' + name) ? t('me.xs.' + name) : name.replace(/_/g, ' ');
}

const isTimeKey = (k) => /(^at$|_at$|^until$|^since$|timestamp$)/.test(k);

function formatBytes(n) {
  if (n < 1024) return t('me.bytes', { n });
  if (n < 1024 * 1024) return t('me.kib', { n: (n / 1024).toFixed(1) });
  return t('me.mib', { n: (n / 1048576).toFixed(1) });
}

function cellText(key, v) {
  if (v == null || v === '') return '';
  if (typeof v === 'number' && isTimeKey(key)) return formatDateTime(v);
  if (key === 'birth_date' && typeof v === 'string') return formatDate(Date.parse(v + 'T00:00:00+08:00')) || v;
  if (typeof v === 'boolean') {
    if (key === 'granted') return v ? t('consent.granted') : t('consent.withdrawn');
    return v ? t('me.yes') : t('me.no');
  }
  if (key === 'byte_size' && typeof v === 'number') return formatBytes(v);
  if (key === 'permission' && has('permission.' + v)) return t('permission.' + v);
  if (key === 'gender' && has('gender.' + v)) return t('gender.' + v);
  if (key === 'roles' && Array.isArray(v)) return v.map((r) => (has('role.' + r) ? t('role.' + r) : r)).join(t('list.separator'));
  if (key === 'age_bracket' && has('age.' + v)) return t('age.' + v);
  if (key === 'standing' && has('me.standing.' + v)) return t('me.standing.' + v);
  if ((key === 'state' || key === 'status' || key === 'decision' || key === 'kind' || key === 'action' || key === 'purpose' || key === 'actor')
    && typeof v === 'string' && has('me.v.' + v)) return t('me.v.' + v);
  if (Array.isArray(v)) return el('span', { class: 'me-user-data', text: v.map((x) => (typeof x === 'object' ? '' : String(x))).filter(Boolean).join(t('list.separator')) });
  if (typeof v === 'object') return '';
  if (typeof v === 'number') return String(v);
  const s = String(v);
  // What the user (or the server, verbatim) wrote: shown as it is, in any language.
  return el('span', { class: 'me-user-data', text: s.length > 200 ? s.slice(0, 200) + '…' : s });
}

// ---------------------------------------------------------------- rendering

function table(rows, id) {
  const keys = [];
  for (const r of rows.slice(0, ROWS)) {
    for (const [k, v] of Object.entries(r || {})) {
      if (SKIP.has(k) || keys.includes(k) || (v && typeof v === 'object' && !Array.isArray(v))) continue;
      keys.push(k);
    }
  }
  const columns = ordered(keys).map((k) => ({ key: k, label: label(k), cell: (r) => cellText(k, r[k]) }));
  return [
    dataTable(columns, rows.slice(0, ROWS), { className: 'me-export-table' }),
    rows.length > ROWS ? el('p', { class: 'small muted', id: id ? id + '-more' : null, text: t('me.export_more', { count: rows.length - ROWS }) }) : null,
  ];
}

function block(key, value, depth, id) {
  const heading = el(depth ? 'h4' : 'h3', { class: 'me-export-sub' }, label(key),
    Array.isArray(value) ? el('span', { class: 'me-count', text: t('me.count', { count: value.length }) }) : null);
  if (Array.isArray(value)) {
    if (!value.length) return el('div', { class: 'me-export-block', id }, heading, el('p', { class: 'small muted', text: t('status.none') }));
    if (value.every((x) => x && typeof x === 'object')) return el('div', { class: 'me-export-block', id }, heading, table(value, id));
    return el('div', { class: 'me-export-block', id }, heading, el('p', {}, cellText(key, value)));
  }
  return el('div', { class: 'me-export-block', id }, heading, objectView(value, depth + 1, id));
}

function objectView(obj, depth = 0, idPrefix = 'me-x') {
  if (obj == null || typeof obj !== 'object') return el('p', {}, cellText('', obj) || '—');
  const pairs = [];
  const blocks = [];
  for (const k of ordered(Object.keys(obj))) {
    const v = obj[k];
    if (SKIP.has(k)) continue;
    if (v && typeof v === 'object' && !(Array.isArray(v) && v.every((x) => x == null || typeof x !== 'object'))) {
      blocks.push(block(k, v, depth, idPrefix + '-' + k));
    } else {
      pairs.push([label(k), cellText(k, v)]);
    }
  }
  return [pairs.length ? keyValues(pairs) : null, blocks];
}

function chatSummary(chat) {
  const count = (k) => (Array.isArray(chat[k]) ? chat[k].length : 0);
  return el('p', { class: 'me-export-counts', id: 'me-export-chat-counts' },
    ['conversations', 'messages', 'blocks', 'held_texts'].filter((k) => k in chat)
      .map((k) => el('span', { class: 'me-chip' }, el('strong', { text: String(count(k)) }), ' ', label(k))));
}

function sectionView(name, value) {
  const id = 'me-export-' + name;
  const count = Array.isArray(value) ? value.length
    : name === 'consents' && value && Array.isArray(value.history) ? value.history.length : null;
  return el('section', { class: 'me-card me-export-section', id, 'aria-labelledby': id + '-title' },
    el('h2', { class: 'me-section-title', id: id + '-title' }, sectionLabel(name),
      count != null ? el('span', { class: 'me-count', text: t('me.count', { count }) }) : null),
    name === 'chat' && value && typeof value === 'object' ? chatSummary(value) : null,
    Array.isArray(value)
      ? (value.length ? table(value, id) : el('p', { class: 'small muted', text: t('status.none') }))
      : objectView(value, 0, id));
}

export function render() {
  const dl = el('button', { type: 'button', class: 'primary', id: 'me-export-download', disabled: !data, text: t('me.download_json'), onclick: download });
  const again = el('button', {
    type: 'button', class: 'secondary', id: 'me-export-reload', disabled: loading,
    text: t('action.refresh'), onclick: () => busy(again, load),
  });
  const head = el('section', { class: 'me-card' },
    el('p', { class: 'small muted', text: t('me.export_note') }),
    data ? keyValues([
      [t('me.export_generated'), formatDateTime(data.generated_at)],
      [t('profile.user_id'), String(data.user_id)],
    ]) : null,
    loading ? el('p', { class: 'muted small', role: 'status', text: t('me.export_loading') }) : null,
    error ? el('p', { class: 'small error', role: 'alert' }, errorText(error),
      isTransient(error) ? [' ', el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: load })] : null) : null,
    el('div', { class: 'me-actions' }, dl, again));
  if (!data) return head;
  const sections = data.sections || {};
  const names = [...SECTION_ORDER.filter((n) => n in sections), ...Object.keys(sections).filter((n) => !SECTION_ORDER.includes(n))];
  return [head, el('div', { class: 'me-export', id: 'me-export' }, names.map((n) => sectionView(n, sections[n])))];
}
