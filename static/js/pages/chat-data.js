/**
 * The chat data of the 消息 tab: conversations, their messages (merged by seq from the
 * library's ordered `chat.message` events and `chat.history` pages), the bubbles not yet
 * messages (sending, held for review, rejected, photos uploading), read state, typing,
 * presence, blocks, the mute, appealable decisions and recalls. No DOM here: the views
 * (chat-list.js, conversation.js) read `chat` and re-render on `onChat`.
 *
 * @module pages/chat-data
 */
import { getClient } from '/static/js/client.js';
import { store } from '/static/js/app/store.js';
import { noteRestriction, isRestriction } from '/static/js/pages/standing.js';
import {
  restoreHeldTexts, dismissItem, rememberHeld, forgetHeld, restoreHeldPhotos, refreshAppealable, onDecided,
} from '/static/js/pages/chat-held.js';

export { canAppeal, noteAppealed, refreshAppealable } from '/static/js/pages/chat-held.js';

const client = getClient();
const LIST_PAGE = 50;
const HISTORY_PAGE = 50;
const PRESENCE_MAX = 200;
export const RECALL_WINDOW_MS = 2 * 60 * 1000;
export const MAX_TEXT_CHARS = 4000;
const TYPING_SEND_EVERY_MS = 2000;
const TYPING_SHOW_MS = 3000;
// Failures a 重试 can change; any other code is the server's answer about this message.
export const TRANSIENT = new Set(['network', 'offline', 'timeout', 'disconnected', 'rate_limited', 'unavailable', 'internal', 'http_error']);
export const isTransient = (err) => !err || !err.code || TRANSIENT.has(err.code);

export const chat = {
  convs: new Map(), // id → conv (see convFor)
  listLoaded: false,
  listMore: false,
  listBefore: null,
  listBeforeId: null,
  activeId: null,
  presence: new Map(), // user id → {online, last_seen_at}
  blocked: new Set(),
  mute: null, // {until, reason}
  appealable: null, // item id → appeal.list item
  appealed: new Set(),
  recalling: new Set(),
  clockOffset: 0,
  error: null, // the last failure of a list load
};

// ---------------------------------------------------------------- change notification

const listeners = new Set();
const dirty = new Set();
let queued = false;

/** `fn(parts)` after changes (parts: a Set of 'list', 'conv', 'presence', 'mute'); returns off(). */
export function onChat(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function changed(...parts) {
  for (const p of parts) dirty.add(p);
  if (queued) return;
  queued = true;
  setTimeout(() => {
    queued = false;
    const parts = new Set(dirty);
    dirty.clear();
    for (const fn of [...listeners]) {
      try { fn(parts); } catch (err) { if (typeof reportError === 'function') reportError(err); }
    }
  }, 0);
}

export const meId = () => (store.me ? store.me.id : null);
export const serverNow = () => Date.now() + chat.clockOffset;

export function convFor(id) {
  let c = chat.convs.get(id);
  if (!c) {
    c = { id, info: null, msgs: new Map(), minSeq: 0, maxSeq: 0, pending: [], historyLoaded: false,
      historyPromise: null, loadingOlder: false, typingUntil: 0, lastTypingSent: 0, readSent: 0 };
    chat.convs.set(id, c);
  }
  return c;
}

export const activeConv = () => (chat.activeId == null ? null : chat.convs.get(chat.activeId) || null);

export function presenceOf(userId) {
  return chat.presence.get(userId) || { online: false, last_seen_at: null };
}

function setPresence(userId, online, lastSeenAt) {
  const prev = chat.presence.get(userId) || {};
  chat.presence.set(userId, { online: !!online, last_seen_at: lastSeenAt != null ? lastSeenAt : prev.last_seen_at || null });
}

export function sortedConvs() {
  const when = (c) => c.info.last_message_at || c.info.created_at || 0;
  return [...chat.convs.values()].filter((c) => c.info).sort((a, b) => when(b) - when(a));
}

export function totalUnread() {
  let n = 0;
  for (const c of chat.convs.values()) if (c.info) n += c.info.unread || 0;
  return n;
}

// ---------------------------------------------------------------- merging server data

const isTombstone = (m) => m.kind === 'recalled' || m.kind === 'removed';

function upsertConv(info) {
  const c = convFor(info.id);
  const prev = c.info;
  const next = Object.assign({}, info);
  if (prev) {
    next.my_last_read_seq = Math.max(next.my_last_read_seq || 0, prev.my_last_read_seq || 0);
    next.peer_last_read_seq = Math.max(next.peer_last_read_seq || 0, prev.peer_last_read_seq || 0);
  }
  if (c.maxSeq > (next.last_seq || 0)) {
    for (const m of c.msgs.values()) {
      if (m.seq > (next.last_seq || 0) && m.sender_id !== meId() && m.seq > next.my_last_read_seq) next.unread = (next.unread || 0) + 1;
    }
    next.last_seq = c.maxSeq;
    next.last_message = c.msgs.get(c.maxSeq);
    next.last_message_at = next.last_message.created_at;
  }
  c.info = next;
  if (next.last_message) replaceTombstone(c, next.last_message);
  if (prev && next.my_last_read_seq > (info.my_last_read_seq || 0)) recomputeUnread(c);
  if (info.peer) setPresence(info.peer.id, info.peer_online, info.peer_last_seen_at);
  return c;
}

function replaceTombstone(c, m) {
  const had = c.msgs.get(m.seq);
  if (!had || !isTombstone(m) || had.kind === m.kind || isTombstone(had)) return false;
  c.msgs.set(m.seq, m);
  if (c.info && c.info.last_message && c.info.last_message.seq === m.seq) c.info.last_message = m;
  return true;
}

function mergeMessage(m) {
  const c = convFor(m.conversation_id);
  if (c.msgs.has(m.seq)) {
    replaceTombstone(c, m);
    return false;
  }
  c.msgs.set(m.seq, m);
  c.maxSeq = Math.max(c.maxSeq, m.seq);
  c.minSeq = c.minSeq ? Math.min(c.minSeq, m.seq) : m.seq;
  const mine = m.sender_id === meId();
  if (mine) {
    for (const p of c.pending) if (p.client_id === m.client_id && p.localUrl) URL.revokeObjectURL(p.localUrl);
    c.pending = c.pending.filter((p) => p.client_id !== m.client_id);
    if (m.kind === 'photo') forgetHeld(m.client_id);
    if (m.created_at) {
      const offset = m.created_at - Date.now();
      chat.clockOffset = Math.abs(offset) > 2000 ? offset : 0;
    }
  } else if (m.seq === c.maxSeq) c.typingUntil = 0;
  const info = c.info;
  if (info) {
    if (m.seq > (info.last_seq || 0)) {
      if (!mine && m.seq > (info.my_last_read_seq || 0)) info.unread = (info.unread || 0) + 1;
      info.last_seq = m.seq;
    }
    if (!info.last_message || m.seq >= info.last_message.seq) {
      info.last_message = m;
      info.last_message_at = m.created_at;
    }
  } else {
    refreshListSoon();
  }
  return true;
}

function recomputeUnread(c) {
  const info = c.info;
  if (!info) return;
  const readTo = info.my_last_read_seq || 0;
  const last = info.last_seq || 0;
  if (readTo >= last) info.unread = 0;
  else if (c.msgs.size && c.minSeq <= readTo + 1 && c.maxSeq >= last) {
    let n = 0;
    for (const m of c.msgs.values()) if (m.seq > readTo && m.sender_id !== meId()) n++;
    info.unread = n;
  } else info.unread = Math.min(info.unread || 0, last - readTo);
}

function applyRead(conversationId, userId, seq) {
  const c = chat.convs.get(conversationId);
  if (!c || !c.info) return;
  if (userId === meId()) {
    if (seq > (c.info.my_last_read_seq || 0)) {
      c.info.my_last_read_seq = seq;
      recomputeUnread(c);
    }
  } else if (seq > (c.info.peer_last_read_seq || 0)) c.info.peer_last_read_seq = seq;
  changed('list', 'conv');
}

function afterMessages(conversationId) {
  changed('list');
  if (conversationId === chat.activeId) {
    changed('conv');
    markRead();
  }
}

// ---------------------------------------------------------------- loading

function fail(err) {
  if (isRestriction(err)) noteRestriction(err);
  if (err && err.code === 'muted' && err.retryAfterMs) noteMuted(Date.now() + err.retryAfterMs);
}

export async function refreshList() {
  try {
    const res = await client.request('chat.list', { limit: LIST_PAGE });
    const page = res.conversations || [];
    for (const info of page) upsertConv(info);
    setPaging(page, res.more);
    chat.listLoaded = true;
    chat.error = null;
  } catch (err) {
    fail(err);
    chat.error = err;
    chat.listLoaded = true;
  }
  changed('list', 'conv');
}

function setPaging(page, more) {
  const last = page[page.length - 1];
  chat.listMore = (more != null ? !!more : page.length >= LIST_PAGE) && !!last;
  if (last) {
    chat.listBefore = last.last_message_at || last.created_at;
    chat.listBeforeId = last.id;
  }
}

export async function loadMoreList() {
  if (!chat.listMore) return;
  const res = await client.request('chat.list', { limit: LIST_PAGE, before: chat.listBefore, before_id: chat.listBeforeId });
  const page = res.conversations || [];
  for (const info of page) upsertConv(info);
  setPaging(page, res.more);
  changed('list');
}

let listTimer = null;
function refreshListSoon() {
  if (listTimer) return;
  listTimer = setTimeout(() => {
    listTimer = null;
    refreshList();
  }, 300);
}

export function ensureHistory(c) {
  if (c.historyLoaded) return Promise.resolve();
  if (!c.historyPromise) {
    restoreHeldTexts(c);
    c.historyPromise = client.request('chat.history', { conversation_id: c.id, limit: HISTORY_PAGE })
      .then((res) => {
        const msgs = res.messages || [];
        for (const m of msgs) mergeMessage(m);
        if (msgs.length) client.setCursor(c.id, msgs[0].seq);
        c.historyLoaded = true;
        c.historyError = null;
        afterMessages(c.id);
      })
      .catch((err) => {
        fail(err);
        c.historyError = err;
        changed('conv');
      })
      .finally(() => { c.historyPromise = null; });
  }
  return c.historyPromise;
}

export async function loadOlder(c) {
  if (!c || c.loadingOlder || c.minSeq <= 1) return;
  c.loadingOlder = true;
  changed('conv');
  try {
    const res = await client.request('chat.history', { conversation_id: c.id, before_seq: c.minSeq, limit: HISTORY_PAGE });
    for (const m of res.messages || []) mergeMessage(m);
  } finally {
    c.loadingOlder = false;
    changed('conv');
  }
}

export function queryPresence(ids) {
  const unique = [...new Set(ids)].filter((id) => id != null && id !== meId());
  if (!unique.length || client.state !== 'online') return;
  for (let i = 0; i < unique.length; i += PRESENCE_MAX) {
    client.request('presence.query', { user_ids: unique.slice(i, i + PRESENCE_MAX) }, { wait: false })
      .then((res) => {
        for (const p of res.presence || []) setPresence(p.user_id, p.online, p.last_seen_at);
        changed('presence', 'list', 'conv');
      })
      .catch(() => { /* presence is cosmetic */ });
  }
}

function peerMessageAfter(c, readTo) {
  for (let seq = c.maxSeq; seq > readTo; seq--) {
    const m = c.msgs.get(seq);
    if (!m || m.sender_id !== meId()) return true;
  }
  return false;
}

/** Read receipts for what the user sees: the open conversation, the page visible. */
export function markRead() {
  const c = activeConv();
  if (!c || !c.info || !c.maxSeq || document.visibilityState !== 'visible' || client.state !== 'online') return;
  const seq = c.maxSeq;
  const readTo = Math.max(c.info.my_last_read_seq || 0, c.readSent);
  if (seq <= readTo || !peerMessageAfter(c, readTo)) return;
  c.readSent = seq;
  client.request('chat.read', { conversation_id: c.id, seq })
    .then((res) => applyRead(c.id, meId(), res.last_read_seq != null ? res.last_read_seq : seq))
    .catch(() => { c.readSent = 0; });
}

/** chat.open with a user (and a listing): the conversation id. */
export async function openWith(peerId, listingRef) {
  const data = { peer_id: Number(peerId) };
  if (listingRef) data.listing_ref = listingRef;
  try {
    const res = await client.request('chat.open', data);
    const c = upsertConv(res.conversation);
    changed('list');
    return c.id;
  } catch (err) {
    fail(err);
    throw err;
  }
}

export function setActive(id) {
  chat.activeId = id;
  const c = activeConv();
  if (c) {
    if (c.info && c.info.peer) queryPresence([c.info.peer.id]);
    ensureHistory(c).then(markRead);
  }
  changed('conv', 'list');
}

// ---------------------------------------------------------------- sending

export function sendText(c, text) {
  const p = { client_id: client.newClientId(), text, state: 'sending', error: null };
  c.pending.push(p);
  changed('conv');
  deliverText(c, p);
}

export async function deliverText(c, p) {
  p.state = 'sending';
  p.error = null;
  changed('conv');
  try {
    const res = await client.send(c.id, p.text, p.client_id);
    if (!c.pending.includes(p)) return;
    if (res.held) p.state = 'held';
    else c.pending = c.pending.filter((x) => x !== p);
  } catch (err) {
    if (!c.pending.includes(p)) return;
    p.state = 'failed';
    p.error = err;
    fail(err);
  }
  afterMessages(c.id);
}

export function sendPhoto(c, file) {
  const p = { kind: 'photo', client_id: client.newClientId(), file, localUrl: URL.createObjectURL(file),
    media_id: null, item_id: null, state: 'uploading', error: null, inFlight: false };
  c.pending.push(p);
  changed('conv');
  deliverPhoto(c, p);
}

export async function deliverPhoto(c, p) {
  if (!c.pending.includes(p) || p.inFlight) return;
  p.inFlight = true;
  p.error = null;
  try {
    if (!p.media_id) {
      p.state = 'uploading';
      changed('conv');
      // Asked first, so a missing permission costs no upload (and no refused request).
      const check = await client.request('consent.check', { feature: 'chat_photo', source: 'album' });
      if (check && check.allowed === false) {
        const err = new Error('consent_required');
        err.code = 'consent_required';
        err.missingPermissions = check.missing || ['photo_album'];
        throw err;
      }
      const view = await client.api('POST', '/api/media?purpose=chat_photo&source=album', undefined, { raw: p.file });
      p.media_id = view.id;
    }
    p.state = 'sending';
    changed('conv');
    const res = await client.send(c.id, { media_id: p.media_id }, p.client_id);
    if (!c.pending.includes(p)) return;
    if (res.held) {
      p.state = 'held';
      rememberHeld(c, p);
    } else c.pending = c.pending.filter((x) => x !== p);
  } catch (err) {
    if (!c.pending.includes(p)) return;
    p.error = err;
    p.state = err.code === 'consent_required' ? 'consent' : 'failed';
    if (err.code !== 'consent_required') fail(err);
  } finally {
    p.inFlight = false;
    afterMessages(c.id);
  }
}

/** consent_required: grants what is missing (photo_album for an album pick), then sends again. */
export async function grantAndSendPhoto(c, p) {
  const missing = (p.error && p.error.missingPermissions) || ['photo_album'];
  p.state = 'uploading';
  p.error = null;
  changed('conv');
  try {
    for (const permission of missing.length ? missing : ['photo_album']) {
      await client.api('POST', '/api/me/consents', { permission, granted: true });
    }
  } catch (err) {
    p.state = 'failed';
    p.error = err;
    changed('conv');
    return;
  }
  deliverPhoto(c, p);
}

export function discardPending(c, p) {
  if (p.localUrl) URL.revokeObjectURL(p.localUrl);
  c.pending = c.pending.filter((x) => x !== p);
  if (p.kind === 'photo') forgetHeld(p.client_id);
  if (p.item_id != null) dismissItem(p.item_id);
  changed('conv');
}

export function sendTyping(c) {
  if (!c || client.state !== 'online' || isMuted()) return;
  const now = Date.now();
  if (now - c.lastTypingSent < TYPING_SEND_EVERY_MS) return;
  c.lastTypingSent = now;
  client.request('chat.typing', { conversation_id: c.id }, { wait: false }).catch(() => {});
}

export async function setBlocked(userId, blocked) {
  const res = await client.request(blocked ? 'user.block' : 'user.unblock', { user_id: userId });
  if (res.blocked) chat.blocked.add(userId);
  else chat.blocked.delete(userId);
  changed('conv');
}

// ---------------------------------------------------------------- recall

export function canRecall(m) {
  return m.sender_id === meId() && (m.kind === 'text' || m.kind === 'photo') && !m.recallExpired &&
    serverNow() - m.created_at < RECALL_WINDOW_MS;
}

export async function recall(m) {
  const key = m.conversation_id + ':' + m.seq;
  if (chat.recalling.has(key)) return;
  chat.recalling.add(key);
  changed('conv');
  try {
    await client.request('chat.recall', { conversation_id: m.conversation_id, seq: m.seq });
    applyRecalled(m.conversation_id, m.seq);
  } catch (err) {
    const cur = chat.convs.get(m.conversation_id)?.msgs.get(m.seq);
    if (cur && (err.code === 'recall_expired' || err.code === 'conflict')) cur.recallExpired = true;
    throw err;
  } finally {
    chat.recalling.delete(key);
    changed('conv');
  }
}

function tombstone(conversationId, seq, extra) {
  const c = chat.convs.get(conversationId);
  if (!c) return;
  const gone = (m) => Object.assign({}, m, { text: '' }, extra);
  const m = c.msgs.get(seq);
  if (m && m.kind !== extra.kind) c.msgs.set(seq, gone(m));
  if (c.info && c.info.last_message && c.info.last_message.seq === seq) c.info.last_message = gone(c.info.last_message);
  changed('list', 'conv');
}

function applyRecalled(conversationId, seq) {
  tombstone(conversationId, seq, { kind: 'recalled' });
}

// ---------------------------------------------------------------- the mute

let muteTimer = null;
export const isMuted = () => !!(chat.mute && chat.mute.until > Date.now());

export function noteMuted(until, reason) {
  if (!(until > Date.now())) return;
  chat.mute = { until, reason: reason || (chat.mute && chat.mute.reason) || '' };
  clearTimeout(muteTimer);
  const check = () => {
    if (!chat.mute) return;
    const left = chat.mute.until - Date.now();
    if (left > 0) {
      muteTimer = setTimeout(check, Math.min(left + 250, 2147483647));
      return;
    }
    chat.mute = null;
    changed('mute', 'conv');
  };
  check();
  changed('mute', 'conv');
}

export function liftMute() {
  chat.mute = null;
  clearTimeout(muteTimer);
  changed('mute', 'conv');
}

/** Me.muted_until as the server says it now. */
export function applyMeMute(me) {
  if (!me) return;
  if (me.muted_until && me.muted_until > Date.now()) noteMuted(me.muted_until);
  else if (chat.mute) liftMute();
}

// ---------------------------------------------------------------- events

async function onOnline() {
  for (const c of chat.convs.values()) c.historyLoaded = false;
  await refreshList();
  try {
    const blocks = await client.request('user.blocks', {});
    chat.blocked = new Set(blocks.user_ids || []);
  } catch (_) { /* shown again next time */ }
  restoreHeldPhotos();
  refreshAppealable();
  const c = activeConv();
  if (c) setActive(c.id);
  changed('conv');
}

let bound = false;
let offs = [];
/** Starts following the client (once per login). */
export function startChat() {
  if (bound) return;
  bound = true;
  const on = (type, fn) => offs.push(client.on(type, fn));
  on('chat.message', (m) => { if (mergeMessage(m)) afterMessages(m.conversation_id); });
  on('chat.read', (d) => applyRead(d.conversation_id, d.user_id, d.seq));
  on('chat.typing', (d) => {
    if (d.user_id === meId()) return;
    const c = chat.convs.get(d.conversation_id);
    if (!c) return;
    c.typingUntil = Date.now() + TYPING_SHOW_MS;
    changed('list', 'conv');
    setTimeout(() => changed('list', 'conv'), TYPING_SHOW_MS + 50);
  });
  on('presence', (d) => { setPresence(d.user_id, d.online, d.last_seen_at); changed('presence', 'list', 'conv'); });
  on('chat.recalled', (d) => applyRecalled(d.conversation_id, d.seq));
  on('chat.removed', (d) => tombstone(d.conversation_id, d.seq, { kind: 'removed', removed_item_id: d.item_id }));
  on('moderation.decided', onDecided);
  on('moderation.muted', (d) => noteMuted(d.until, d.reason));
  on('moderation.lifted', () => liftMute());
  on('online', onOnline);
  on('restricted', () => { resetChat(true); });
  applyMeMute(store.me);
  if (client.state === 'online') onOnline();
}

/** Forgets everything (log-out; `keepBound` for a restriction, which reconnects). */
export function resetChat(keepBound = false) {
  if (!keepBound) {
    for (const off of offs) off();
    offs = [];
    bound = false;
  }
  for (const c of chat.convs.values()) for (const p of c.pending) if (p.localUrl) URL.revokeObjectURL(p.localUrl);
  Object.assign(chat, { convs: new Map(), listLoaded: false, listMore: false, listBefore: null, listBeforeId: null,
    activeId: keepBound ? null : null, presence: new Map(), blocked: new Set(), appealable: null, appealed: new Set(),
    recalling: new Set(), error: null });
  if (!keepBound) liftMute();
  changed('list', 'conv');
}
