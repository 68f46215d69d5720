/**
 * The appraisal queue of a live room (连线队列, docs/protocol.md "Appraisal calls"), with no DOM:
 * per room the waiting order (`room.queue` events), the user's own entries (`mine`, with what
 * the host did to them: `room.queue.entry`), every entry's details for the host and helpers
 * (`entries`, read again after each change), and whose turn it is as the audience sees it
 * (`room.call.state`: the guest of the connected call). Watched rooms are read again after a
 * reconnect, since events may have been missed meanwhile.
 *
 *   watchQueue(7);                            // reads room.queue.list and room.call.current
 *   onQueue((roomId, parts) => …);            // parts: Set of 'queue' 'entries' 'notice' 'call'
 *   myPosition(7);                            // 1 = next, null when not waiting
 *   await joinQueue(7, { description, photos });
 *   unwatchQueue(7);
 *
 * @module pages/live-call-queue
 */
import { getClient } from '/static/js/client.js';
import { onStore } from '/static/js/app/store.js';

const client = getClient();

export const DESCRIPTION_MAX_CHARS = 200;
export const PHOTOS_MAX = 6;
export const REASON_MAX_CHARS = 200;
/** The host's list is read again at most this often while the queue moves. */
const ENTRIES_RELOAD_MS = 250;
/** Entries that still hold a place (waiting) or are being rung (called). */
const OPEN = new Set(['waiting', 'called']);

const rooms = new Map(); // id → state
const listeners = new Set();

/**
 * A room's queue: `length`, `order` (waiting ids, next first), `mine` (own waiting or called
 * entries), `entries` (every waiting or called entry: host and helpers only, else null),
 * `loaded`, `error` (the last read's failure), `notice` (the last QueueEntry someone else
 * changed), `call` (`{id, state, guest}` of the room's call not ended, or null).
 */
function stateOf(id) {
  let s = rooms.get(id);
  if (!s) {
    s = { id, length: 0, order: [], mine: [], entries: null, loaded: false, error: null, notice: null, call: null,
      watchers: 0, reloadTimer: null, gen: 0 };
    rooms.set(id, s);
  }
  return s;
}

/** The queue of room `id`, or null when this page never read it. */
export function queueState(id) {
  return rooms.get(Number(id)) || null;
}

/** Calls `fn(roomId, parts)` after every change; returns the function that stops it. */
export function onQueue(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(id, ...parts) {
  const set = new Set(parts);
  for (const fn of [...listeners]) {
    try { fn(id, set); } catch (err) { if (typeof reportError === 'function') reportError(err); }
  }
}

/** Starts following room `id`'s queue (once per caller: call unwatchQueue as many times). */
export function watchQueue(id) {
  const s = stateOf(Number(id));
  s.watchers += 1;
  if (s.watchers === 1) refresh(s);
  return s;
}

export function unwatchQueue(id) {
  const s = rooms.get(Number(id));
  if (!s || s.watchers === 0) return;
  s.watchers -= 1;
  if (s.watchers === 0) {
    clearTimeout(s.reloadTimer);
    s.reloadTimer = null;
  }
}

function refresh(s) {
  loadQueue(s.id).catch(() => {});
  loadRoomCall(s.id).catch(() => {});
}

/** room.queue.list → the state (resolves the Queue; rejects with the ClientError). */
export async function loadQueue(id) {
  const s = stateOf(Number(id));
  const gen = ++s.gen;
  try {
    const q = await client.request('room.queue.list', { room_id: s.id }, { resend: true });
    if (gen !== s.gen) return q;
    applyQueue(s, q);
    s.loaded = true;
    s.error = null;
    changed(s.id, 'queue', 'entries');
    return q;
  } catch (err) {
    if (gen === s.gen) {
      s.error = err;
      changed(s.id, 'queue');
    }
    throw err;
  }
}

function applyQueue(s, q) {
  s.length = q.length != null ? q.length : (q.order || []).length;
  s.order = (q.order || []).slice();
  s.mine = (q.mine || []).filter((e) => OPEN.has(e.status));
  s.entries = Array.isArray(q.entries) ? q.entries.slice() : null;
}

/** room.call.current → `state.call` (who is being appraised, for the audience's banner). */
export async function loadRoomCall(id) {
  const s = stateOf(Number(id));
  const reply = await client.request('room.call.current', { room_id: s.id }, { resend: true });
  const c = reply && reply.call;
  s.call = c && c.state !== 'ended' ? { id: c.id, state: c.state, guest: c.guest || null } : null;
  changed(s.id, 'call');
  return s.call;
}

/** The user's place in room `id`'s queue (1 = next), or null when not waiting there. */
export function myPosition(id) {
  const s = rooms.get(Number(id));
  if (!s) return null;
  const e = s.mine.find((x) => x.status === 'waiting');
  if (!e) return null;
  const at = s.order.indexOf(e.id);
  return at >= 0 ? at + 1 : e.position || null;
}

/** The user's own entry in room `id` that is waiting or being rung, or null. */
export function myEntry(id) {
  const s = rooms.get(Number(id));
  return s ? s.mine.find((x) => OPEN.has(x.status)) || null : null;
}

/** The host's view: called entries first, then the waiting ones in queue order. */
export function hostEntries(id) {
  const s = rooms.get(Number(id));
  if (!s || !s.entries) return [];
  const rank = new Map(s.order.map((entryId, i) => [entryId, i]));
  const key = (e) => (e.status === 'called' ? -1 : rank.has(e.id) ? rank.get(e.id) : 1e9);
  return s.entries.filter((e) => OPEN.has(e.status)).sort((a, b) => key(a) - key(b));
}

function putMine(s, entry) {
  s.mine = s.mine.filter((x) => x.id !== entry.id);
  if (OPEN.has(entry.status)) s.mine.push(entry);
}

// ---------------------------------------------------------------- events

function onQueueEvent(d) {
  const s = rooms.get(Number(d && d.room_id));
  if (!s) return;
  s.length = d.length != null ? d.length : (d.order || []).length;
  s.order = (d.order || []).slice();
  changed(s.id, 'queue');
  if (s.entries || staleMine(s)) scheduleReload(s);
}

// An own entry out of the order (called, or done with) changed without a room.queue.entry of
// its own (that comes only for what someone else did): its status is read again.
const staleMine = (s) => s.mine.some((e) => e.status !== 'waiting' || !s.order.includes(e.id));

// The host's list holds details the event does not carry, and an own entry may have moved on:
// read again, at most every 250 ms.
function scheduleReload(s) {
  if (s.reloadTimer || s.watchers === 0) return;
  s.reloadTimer = setTimeout(() => {
    s.reloadTimer = null;
    loadQueue(s.id).catch(() => {});
  }, ENTRIES_RELOAD_MS);
}

function onEntryEvent(d) {
  const entry = d && d.entry;
  if (!entry) return;
  const s = stateOf(Number(entry.room_id));
  putMine(s, entry);
  s.notice = entry;
  changed(s.id, 'queue', 'notice');
}

function onCallState(d) {
  const s = rooms.get(Number(d && d.room_id));
  if (!s) return;
  s.call = d.state === 'ended' ? null : { id: d.call_id, state: d.state, guest: d.guest || null };
  changed(s.id, 'call');
  if (s.entries || staleMine(s)) scheduleReload(s);
}

client.on('room.queue', onQueueEvent);
client.on('room.queue.entry', onEntryEvent);
client.on('room.call.state', onCallState);
client.on('online', () => {
  for (const s of rooms.values()) if (s.watchers > 0) refresh(s);
});
onStore('signed_out', () => resetQueues());

// ---------------------------------------------------------------- commands

/** room.queue.join → the new QueueEntry (into `mine`). */
export async function joinQueue(id, { description, photos = [] }) {
  const s = stateOf(Number(id));
  const data = { room_id: s.id, description };
  if (photos.length) data.photos = photos;
  const reply = await client.request('room.queue.join', data);
  if (reply && reply.entry) {
    putMine(s, reply.entry);
    if (reply.entry.status === 'waiting' && !s.order.includes(reply.entry.id)) {
      s.order.push(reply.entry.id);
      s.length = s.order.length;
    }
    s.notice = null;
    changed(s.id, 'queue', 'notice');
  }
  return reply && reply.entry;
}

/** room.queue.leave (取消排队) of the own waiting entry. */
export async function leaveQueue(id, entryId) {
  const s = stateOf(Number(id));
  const reply = await client.request('room.queue.leave', { room_id: s.id, entry_id: entryId });
  s.mine = s.mine.filter((x) => x.id !== entryId);
  s.order = s.order.filter((x) => x !== entryId);
  s.length = s.order.length;
  changed(s.id, 'queue');
  return reply && reply.entry;
}

/** room.queue.skip (跳过, with the reason told to the buyer); host powers. */
export async function skipEntry(id, entryId, reason) {
  const s = stateOf(Number(id));
  const reply = await client.request('room.queue.skip', { room_id: s.id, entry_id: entryId, reason });
  if (s.entries) s.entries = s.entries.filter((e) => e.id !== entryId);
  s.order = s.order.filter((x) => x !== entryId);
  s.length = s.order.length;
  changed(s.id, 'queue', 'entries');
  scheduleReload(s);
  return reply && reply.entry;
}

/** room.queue.move to `position` (移到第一位: 1), with the reason; host powers. */
export async function moveEntry(id, entryId, position, reason) {
  const s = stateOf(Number(id));
  const q = await client.request('room.queue.move', { room_id: s.id, entry_id: entryId, position, reason });
  if (q) {
    applyQueue(s, Object.assign({ mine: s.mine }, q));
    changed(s.id, 'queue', 'entries');
  }
  return q;
}

/** Log-out: forgets every queue. */
export function resetQueues() {
  for (const s of rooms.values()) clearTimeout(s.reloadTimer);
  rooms.clear();
}
