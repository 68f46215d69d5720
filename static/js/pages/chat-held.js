/**
 * The bubbles of the chat that are not messages yet or any more, and what a moderator decided:
 * texts a rule holds (`chat.held`, 审核中), photos waiting for review (remembered in this
 * browser so a reload shows them), rejections that can still be appealed (`appeal.list`) and
 * the ones appealed. Part of the chat data (chat-data.js re-exports what the views use).
 *
 * @module pages/chat-held
 */
import { getClient } from '/static/js/client.js';
import { store } from '/static/js/app/store.js';
import { chat, changed, convFor } from '/static/js/pages/chat-data.js';

const client = getClient();
const MEDIA_ID = /^[0-9a-f]{32}$/i;
const meId = () => (store.me ? store.me.id : null);


export async function restoreHeldTexts(c) {
  let res;
  try {
    res = await client.request('chat.held', { conversation_id: c.id });
  } catch (_) {
    return;
  }
  for (const h of res.held || []) {
    if (c.pending.some((p) => p.client_id === h.client_id)) continue;
    c.pending.push({ client_id: h.client_id, text: h.text, state: 'held', error: null });
  }
  changed('conv');
}

const dismissedKey = () => 'duoxie.dismissed.' + meId();
function dismissedItems() {
  try {
    const list = JSON.parse(localStorage.getItem(dismissedKey()) || '[]');
    return new Set(Array.isArray(list) ? list : []);
  } catch (_) { return new Set(); }
}
export function dismissItem(itemId) {
  const set = dismissedItems();
  set.add(itemId);
  try { localStorage.setItem(dismissedKey(), JSON.stringify([...set].slice(-200))); } catch (_) { /* this tab */ }
}

export function canAppeal(itemId) {
  if (itemId == null || chat.appealed.has(itemId)) return false;
  return !chat.appealable || chat.appealable.has(itemId);
}

export function noteAppealed(itemId) {
  chat.appealed.add(itemId);
  if (chat.appealable) chat.appealable.delete(itemId);
  changed('conv');
}

export async function refreshAppealable() {
  let res;
  try {
    res = await client.request('appeal.list', {});
  } catch (_) { return; }
  chat.appealable = new Map((res.items || []).map((i) => [i.item_id, i]));
  const under = res.under_appeal || [];
  for (const i of under) chat.appealed.add(i.item_id);
  const dismissed = dismissedItems();
  for (const item of [...chat.appealable.values(), ...under]) {
    if (item.kind !== 'chat_text' || dismissed.has(item.item_id)) continue;
    const ref = item.content_ref || '';
    const at = ref.indexOf(':');
    const convId = Number(ref.slice(0, at));
    const clientId = ref.slice(at + 1);
    if (at <= 0 || !Number.isSafeInteger(convId)) continue;
    const c = convFor(convId);
    const shown = c.pending.find((p) => p.client_id === clientId);
    if (shown) {
      shown.state = 'rejected';
      shown.item_id = item.item_id;
      shown.reason = item.reason || '';
    } else {
      c.pending.push({ client_id: clientId, text: item.content, state: 'rejected', item_id: item.item_id, reason: item.reason || '' });
    }
  }
  changed('conv');
}

const heldKey = () => 'duoxie.held.' + meId();
function loadHeld() {
  try {
    const list = JSON.parse(localStorage.getItem(heldKey()) || '[]');
    return Array.isArray(list) ? list : [];
  } catch (_) { return []; }
}
function saveHeld(list) {
  try {
    if (list.length) localStorage.setItem(heldKey(), JSON.stringify(list));
    else localStorage.removeItem(heldKey());
  } catch (_) { /* this tab */ }
}
export function rememberHeld(c, p) {
  const list = loadHeld().filter((h) => h.client_id !== p.client_id);
  list.push({ conversation_id: c.id, client_id: p.client_id, media_id: p.media_id });
  saveHeld(list);
}
export function forgetHeld(clientId) {
  const list = loadHeld();
  if (list.some((h) => h.client_id === clientId)) saveHeld(list.filter((h) => h.client_id !== clientId));
}

export async function restoreHeldPhotos() {
  for (const h of loadHeld()) {
    if (!h || !MEDIA_ID.test(h.media_id || '')) continue;
    const c = convFor(h.conversation_id);
    if (c.pending.some((p) => p.client_id === h.client_id)) continue;
    let view;
    try {
      view = await client.api('GET', '/api/media/' + h.media_id);
    } catch (err) {
      if (err.code === 'not_found') forgetHeld(h.client_id);
      continue;
    }
    if (view.status === 'approved') { forgetHeld(h.client_id); continue; }
    const rejected = view.status === 'rejected';
    c.pending.push({ kind: 'photo', client_id: h.client_id, media_id: h.media_id, localUrl: null,
      item_id: rejected && h.item_id != null ? h.item_id : null, state: rejected ? 'rejected' : 'held', reason: h.reason || '' });
    changed('conv');
  }
}

/** What a moderation.decided means for the bubbles (the notice is main.js's). */
export function onDecided(d) {
  const approved = d.decision === 'approve';
  if (!approved && d.kind !== 'appeal' && d.item_id != null && chat.appealable) {
    chat.appealable.set(d.item_id, { item_id: d.item_id, kind: d.kind, content_ref: d.ref || '' });
  }
  if (d.kind === 'chat_text' && !approved) {
    const at = (d.ref || '').indexOf(':');
    const c = chat.convs.get(Number((d.ref || '').slice(0, at)));
    const p = c && c.pending.find((x) => x.client_id === d.ref.slice(at + 1));
    if (p) Object.assign(p, { state: 'rejected', reason: d.reason || '', item_id: d.item_id });
  } else if (d.kind === 'media') {
    for (const c of chat.convs.values()) {
      for (const p of c.pending) {
        if (p.kind !== 'photo' || p.media_id !== d.ref || approved) continue;
        Object.assign(p, { state: 'rejected', reason: d.reason || '', item_id: d.item_id });
        const list = loadHeld();
        const h = list.find((x) => x.client_id === p.client_id);
        if (h) { h.item_id = d.item_id; h.reason = d.reason || ''; saveHeld(list); }
      }
    }
  }
  changed('conv');
}

