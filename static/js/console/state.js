/**
 * The console's shared state (one moderator, one queue) and the small facts every module of
 * the console needs: who I am, the server's clock, whether an item is mine, how to name a
 * duration. The connection is the client library's (getClient()).
 *
 * @module console/state
 */
import { getClient } from '/static/js/client.js';
import { t, formatDate } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';

export const client = getClient();

/** A report's kind of wrong (ModItem.category), in filter order; texts are `reason.<code>`. */
export const CATEGORIES = ['fake_goods', 'fraud', 'harassment', 'off_platform', 'other'];
export const MEDIA_ID = /^[0-9a-f]{32}$/i;
export const MEDIA_CONTENT = /^\/api\/media\/([0-9a-f]{32})\/content$/i;
/** Only these same-origin paths are fetched with the token (never a URL from elsewhere). */
export const MEDIA_PATH = /^\/api\/media\/[0-9A-Za-z_-]+(\/content)?(\?size=\d+)?$/;
export const LEASE_LOW_MS = 60000;
export const ACTED_KEEP = 20;

export const state = {
  me: null,
  subscribed: false, // the console view holds a queue
  forbidden: false,
  items: new Map(), // item id → ModItem (open ones only)
  decided: new Set(), // ids seen decided: a late duplicate mod.item must not bring one back
  leaseMs: null,
  syncing: false,
  resyncAgain: false,
  buffered: [], // console events that arrived while a queue snapshot was in flight
  offset: null, // estimate of server clock − local clock
  cards: new Map(), // item id → card refs
  drafts: new Map(), // item id → decision reason being typed
  msgs: new Map(), // item id → {key, params, err, cls}
  pending: new Set(), // item ids with a command in flight
  media: new Map(), // item id → {url, disposed}
  users: new Map(), // user id → Promise<PublicUser|null>
  userInfo: new Map(), // user id → PublicUser|null, once known
  actUnavailable: false,
  auditUnavailable: false,
  auditLoaded: false,
  category: '', // the category filter: '' (all) or a category code
  syncedAt: null,
};

/** Forgets everything about the queue and the moderator (log-out, another account). */
export function resetState() {
  for (const m of state.media.values()) {
    m.disposed = true;
    if (m.url) URL.revokeObjectURL(m.url);
  }
  Object.assign(state, {
    me: null, subscribed: false, forbidden: false, items: new Map(), decided: new Set(),
    leaseMs: null, syncing: false, resyncAgain: false, buffered: [], offset: null,
    cards: new Map(), drafts: new Map(), msgs: new Map(), pending: new Set(), media: new Map(),
    users: new Map(), userInfo: new Map(), actUnavailable: false, auditUnavailable: false,
    auditLoaded: false, syncedAt: null,
  });
}

export function meId() {
  return state.me ? state.me.id : null;
}

export function online() {
  return client.state === 'online';
}

export function isMine(item) {
  return item.state === 'claimed' && item.claimed_by != null && item.claimed_by === meId();
}

/** A report (of a message, a user or a picture) carries its reporter's reason as "report: …". */
export function isReport(item) {
  return item.kind === 'report_message' || item.kind === 'report_user' || item.kind === 'report_media' ||
    (item.reasons || []).some((r) => /^report:/.test(r));
}

/**
 * What a card is filed under in the category filter: a report's category; '' for a report
 * queued before categories existed (未分类, listed under 全部 only); null otherwise.
 */
export function categoryOf(item) {
  if (item.category) return item.category;
  return isReport(item) ? '' : null;
}

// Each sample is a server time that was "now" when sent, so sample − local arrival time is
// never above the true offset: the largest sample is the best estimate.
export function noteServerTime(serverMs) {
  if (typeof serverMs !== 'number' || !Number.isFinite(serverMs)) return;
  const sample = serverMs - Date.now();
  if (state.offset == null || sample > state.offset) state.offset = sample;
}

export function serverNow() {
  return Date.now() + (state.offset || 0);
}

// ---------------------------------------------------------------- words

const pad2 = (n) => String(n).padStart(2, '0');

/** 45秒, 3分20秒, 2小时05分, 3天4小时 (45s, 3m 20s, 2h 05m, 3d 4h). */
export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return t('console.dur.s', { s });
  const m = Math.floor(s / 60);
  if (m < 60) return t('console.dur.m', { m, s: pad2(s % 60) });
  const h = Math.floor(m / 60);
  if (h < 24) return t('console.dur.h', { h, m: pad2(m % 60) });
  return t('console.dur.d', { d: Math.floor(h / 24), h: h % 24 });
}

/** A lease countdown: 4:05. */
export function clock(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  return Math.floor(s / 60) + ':' + pad2(s % 60);
}

export function bytes(n) {
  if (!(n >= 0)) return '';
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(0) + ' KB';
  return (n / 1024 / 1024).toFixed(1) + ' MB';
}

/** A label that is a key when the table has it, else the server's code as it came. */
export function labelOf(prefix, code) {
  const key = prefix + code;
  const text = t(key);
  return text === key ? String(code) : text;
}

export function rolesText(roles) {
  return (roles || []).map((r) => labelOf('role.', r)).join(t('list.separator'));
}

// ---------------------------------------------------------------- users

/** A user's public profile (staff read it without a reason: no phone), cached per session. */
export function lookupUser(id) {
  if (!state.users.has(id)) {
    const p = client.api('GET', '/api/users/' + encodeURIComponent(id)).catch(() => null);
    p.then((u) => { state.userInfo.set(id, u); });
    state.users.set(id, p);
  }
  return state.users.get(id);
}

/**
 * A user as nodes: the nickname (user content, kept as written) · roles · 注册于… . Called
 * again on every render, so it follows the language switch.
 */
export function userNodes(u) {
  if (!u) return [];
  if (u.deleted) return [el('span', { text: t('user.deleted') })];
  const out = [el('span', { class: 'user-content', text: u.nickname || '' })];
  if (u.roles && u.roles.length) out.push(' · ', el('span', { text: rolesText(u.roles) }));
  if (u.created_at) out.push(' · ', el('span', { text: t('console.user.joined', { date: formatDate(u.created_at) }) }));
  return out;
}
