/**
 * The live rooms' state (docs/protocol.md, "Live rooms"), with no DOM: the rooms this page is in, each drawn from
 * its `room.join` reply and then from its numbered events, in order and once; the likes a user
 * taps (sent in batches); the comments being sent; and the host powers as plain calls.
 *
 *   watchRoom(7);                          // join (and keep joined across reconnects)
 *   onLive((roomId, parts) => …);          // parts: Set of 'room' 'comments' 'me' 'stats' 'status'
 *                                          //   'pinned' 'removed' 'join' 'pending' 'helpers' 'bans'
 *   roomState(7).comments;                 // [Comment], oldest first
 *   sendComment(7, '这是老坑种吗？');
 *   tapLike(7);
 *   unwatchRoom(7);                        // room.leave
 *
 * Recovery: the highest `seq` drawn per room is kept; an event at or below it is dropped; an
 * event more than one past it (a gap) is held and the room joined again with `since_seq`, and
 * so is every watched room after the client's `online`. A `recovered: false` reply redraws
 * the room from its `room` and `comments`.
 *
 * @module pages/live-data
 */
import { getClient, newClientId } from '/static/js/client.js';

const client = getClient();

export const CATEGORIES = Object.freeze(['jade', 'nephrite', 'pearl', 'diamond', 'gold', 'amber', 'other']);
export const TITLE_MAX_CHARS = 40;
export const COMMENT_MAX_CHARS = 200;
export const PIN_MAX_CHARS = 100;
/** Taps go out at most this often, at most LIKES_PER_FRAME a command. */
export const LIKE_FLUSH_MS = 300;
export const LIKES_PER_FRAME = 20;
/** The comments a page keeps per room (the oldest go first). */
const KEEP_COMMENTS = 300;

const TRANSIENT = new Set(['network', 'offline', 'timeout', 'disconnected', 'rate_limited', 'unavailable', 'internal', 'http_error', 'room_busy']);
/** Failures a retry may change (a wait, the network); permanent refusals are not among them. */
export const isTransient = (err) => !err || !err.code || TRANSIENT.has(err.code);
const LINK_DOWN = new Set(['offline', 'disconnected', 'timeout', 'network']);

const rooms = new Map(); // id → state
const listeners = new Set();
let started = false;
let offs = [];

/**
 * A room's state: `room` (the Room view, kept current), `comments` (oldest first), `me`
 * (`{host, helper, muted_until}`), `seq` (the highest event drawn), `joined`, `joining`,
 * `error` (the join's refusal), `removed` (`{reason, until}` after room.removed), `pending`
 * (own comments on their way), `likes` (the count shown), `helpers` and `bans` (host's, when
 * known).
 */
function stateOf(id) {
  let s = rooms.get(id);
  if (!s) {
    s = {
      id, room: null, comments: [], me: null, seq: null, drawn: false, joined: false, joining: null,
      error: null, removed: null, watchers: 0, buffer: [], pending: [],
      likes: 0, likeQueue: 0, likeTimer: null, lastLikeAt: 0, helpers: null, bans: null, bansError: null,
    };
    rooms.set(id, s);
  }
  return s;
}

/** The state of room `id`, or null when this page never looked at it. */
export function roomState(id) {
  return rooms.get(Number(id)) || null;
}

/** Calls `fn(roomId, parts)` after every change; returns the function that stops it. */
export function onLive(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(id, ...parts) {
  const set = new Set(parts);
  for (const fn of [...listeners]) {
    try { fn(id, set); } catch (err) { if (typeof reportError === 'function') reportError(err); }
  }
}

// ---------------------------------------------------------------- joining

/** Joins room `id` (once per caller: call unwatchRoom as many times) and keeps it joined. */
export function watchRoom(id) {
  start();
  const s = stateOf(Number(id));
  s.watchers += 1;
  if (s.watchers === 1) {
    s.error = null;
    s.removed = null;
  }
  if (!s.joined && !s.joining) join(s);
  return s;
}

/** Stops watching room `id`; the last watcher leaves it (`room.leave`). */
export function unwatchRoom(id) {
  const s = rooms.get(Number(id));
  if (!s || s.watchers === 0) return;
  s.watchers -= 1;
  if (s.watchers > 0) return;
  const wasJoined = s.joined || s.joining;
  s.joined = false;
  clearTimeout(s.likeTimer);
  s.likeTimer = null;
  s.likeQueue = 0;
  if (wasJoined && client.state === 'online') client.request('room.leave', { room_id: s.id }, { wait: false }).catch(() => {});
}

/** Joins room `id` again now (a 重试 after a refusal or a failure). */
export function rejoin(id) {
  const s = stateOf(Number(id));
  s.error = null;
  changed(s.id, 'join');
  return join(s);
}

function join(s) {
  if (s.joining) return s.joining;
  const since = s.drawn && s.seq != null ? s.seq : null;
  const data = since != null ? { room_id: s.id, since_seq: since } : { room_id: s.id };
  s.joining = client.request('room.join', data).then((reply) => {
    s.joining = null;
    if (s.watchers === 0) {
      // Left while the join was on its way: leave again.
      client.request('room.leave', { room_id: s.id }, { wait: false }).catch(() => {});
      return;
    }
    applyJoined(s, reply, since != null);
  }, (err) => {
    s.joining = null;
    if (s.watchers === 0) return;
    if (LINK_DOWN.has(err.code)) {
      // The next `online` joins again; a timeout while online tries once more soon.
      if (client.state === 'online') setTimeout(() => { if (s.watchers && !s.joined && !s.joining) join(s); }, 1500);
      s.error = client.state === 'online' ? null : err;
      changed(s.id, 'join');
      return;
    }
    s.joined = false;
    if (err.code === 'room_ended' && s.room) {
      // Ended while we were away (a reconnect): what was drawn stays, now 已结束.
      s.room.status = 'ended';
      s.error = s.drawn ? null : err;
      changed(s.id, 'join', 'status', 'room');
      return;
    }
    s.error = err;
    changed(s.id, 'join');
  });
  changed(s.id, 'join');
  return s.joining;
}

function applyJoined(s, reply, withSince) {
  const room = reply.room || {};
  const parts = ['join', 'room', 'me', 'stats', 'status', 'pinned'];
  s.error = null;
  s.removed = null;
  s.joined = true;
  s.me = Object.assign({ host: false, helper: false, muted_until: null }, reply.me || {});
  const recovered = withSince && reply.recovered === true;
  setRoom(s, room);
  if (recovered) {
    const missed = (reply.missed || []).slice().sort((a, b) => a.seq - b.seq);
    for (const ev of missed) gate(s, ev.type, ev.seq != null ? ev.seq : (ev.data || {}).seq, ev.data || {}, { quiet: true, skipHoles: true });
    // Anything the reply's comments hold that the events did not (kept windows differ): merged by seq.
    mergeComments(s, reply.comments || [], room.seq);
    if (room.seq != null && (s.seq == null || room.seq > s.seq)) s.seq = room.seq;
  } else {
    s.comments = (reply.comments || []).slice().sort((a, b) => a.seq - b.seq).slice(-KEEP_COMMENTS);
    s.seq = room.seq != null ? room.seq : (s.comments.length ? s.comments[s.comments.length - 1].seq : 0);
    parts.push('reset');
  }
  s.drawn = true;
  parts.push('comments');
  // Own comments whose event is in by now.
  dropConfirmedPending(s);
  // The events that came while the join was on its way.
  const held = s.buffer.splice(0).sort((a, b) => a.seq - b.seq);
  for (const ev of held) gate(s, ev.type, ev.seq, ev.data, { quiet: true, skipHoles: true });
  changed(s.id, ...parts, 'pending');
}

function setRoom(s, room) {
  const prevLikes = s.room ? s.room.likes : 0;
  s.room = Object.assign({}, s.room || {}, room);
  s.likes = Math.max(s.likes || 0, room.likes != null ? room.likes : prevLikes || 0);
}

function mergeComments(s, list, upTo) {
  if (!list.length) return;
  const have = new Set(s.comments.map((c) => c.seq));
  let added = false;
  for (const c of list) {
    if (have.has(c.seq) || (upTo != null && c.seq > upTo)) continue;
    s.comments.push(c);
    added = true;
  }
  if (added) {
    s.comments.sort((a, b) => a.seq - b.seq);
    if (s.comments.length > KEEP_COMMENTS) s.comments.splice(0, s.comments.length - KEEP_COMMENTS);
  }
}

// ---------------------------------------------------------------- events

const NUMBERED = ['room.comment', 'room.comment_removed', 'room.pinned', 'room.status'];

function start() {
  if (started) return;
  started = true;
  offs = [
    ...NUMBERED.map((type) => client.on(type, (data, meta) => onNumbered(type, data, meta))),
    client.on('room.stats', onStats),
    client.on('room.removed', onRemoved),
    client.on('room.muted', onMuted),
    client.on('room.joined', (d) => onPresence('joined', d)),
    client.on('room.left', (d) => onPresence('left', d)),
    ...['offline', 'closed'].map((name) => client.on(name, () => {
      for (const s of rooms.values()) if (s.joined) { s.joined = false; changed(s.id, 'join'); }
    })),
    client.on('online', () => {
      for (const s of rooms.values()) {
        s.joined = false;
        if (s.watchers > 0 && !s.removed && !(s.error && !isTransient(s.error))) join(s);
      }
    }),
  ];
}

function onNumbered(type, data, meta) {
  const s = rooms.get(Number(data && data.room_id));
  if (!s || s.watchers === 0) return;
  const seq = meta && meta.seq != null ? meta.seq : data.seq;
  if (seq == null) return;
  if (!s.drawn || s.joining) {
    s.buffer.push({ type, seq, data });
    return;
  }
  gate(s, type, seq, data);
}

// One numbered event through the room's gate: in order, once. A gap holds it and joins again
// with since_seq; after that join (`skipHoles`) a hole the server could not fill is skipped.
function gate(s, type, seq, data, { quiet = false, skipHoles = false } = {}) {
  if (s.seq != null && seq <= s.seq) return;
  if (s.seq != null && seq > s.seq + 1 && !skipHoles) {
    s.buffer.push({ type, seq, data });
    join(s);
    return;
  }
  s.seq = seq;
  apply(s, type, seq, data, quiet);
}

function apply(s, type, seq, data, quiet) {
  const room = s.room || (s.room = {});
  room.seq = seq;
  const parts = [];
  if (type === 'room.comment') {
    const c = { seq, user: data.user, text: data.text, at: data.at };
    s.comments.push(c);
    if (s.comments.length > KEEP_COMMENTS) s.comments.splice(0, s.comments.length - KEEP_COMMENTS);
    parts.push('comments');
    // Our own comment, back as an event before the reply: its pending line goes now.
    const mine = c.user && c.user.id != null && c.user.id === client.userId
      ? s.pending.find((p) => p.seq == null && p.text === c.text) : null;
    if (mine) mine.seq = seq;
    if (dropConfirmedPending(s) || mine) parts.push('pending');
  } else if (type === 'room.comment_removed') {
    const at = s.comments.findIndex((c) => c.seq === data.removed_seq);
    if (at >= 0) s.comments.splice(at, 1);
    parts.push('comments', 'removed_comment');
  } else if (type === 'room.pinned') {
    room.pinned = data.text == null ? null : data.text;
    parts.push('pinned');
  } else if (type === 'room.status') {
    room.status = data.status;
    if (data.status === 'ended' && !room.ended_at) room.ended_at = Date.now();
    if (data.status === 'live' && !room.started_at) room.started_at = Date.now();
    parts.push('status', 'room');
  }
  if (!quiet) changed(s.id, ...parts);
}

function onStats(d) {
  const s = rooms.get(Number(d && d.room_id));
  if (!s || !s.room) return;
  if (d.viewers != null) s.room.viewers = d.viewers;
  if (d.likes != null) {
    s.room.likes = d.likes;
    // The taps of this page are shown at once; the server's sum catches up within a second.
    s.likes = Math.max(s.likes, d.likes);
  }
  changed(s.id, 'stats');
}

function onRemoved(d) {
  const s = rooms.get(Number(d && d.room_id));
  if (!s) return;
  s.removed = { reason: d.reason, until: d.until != null ? d.until : null };
  s.joined = false;
  s.buffer = [];
  clearTimeout(s.likeTimer);
  s.likeTimer = null;
  s.likeQueue = 0;
  changed(s.id, 'removed', 'join');
}

function onMuted(d) {
  const s = rooms.get(Number(d && d.room_id));
  if (!s) return;
  s.me = Object.assign({ host: false, helper: false }, s.me || {}, { muted_until: d.until != null ? d.until : null });
  changed(s.id, 'me');
}

/** The last few arrivals (`room.joined`), for a 来了 line; only while a room is small. */
function onPresence(kind, d) {
  const s = rooms.get(Number(d && d.room_id));
  if (!s || kind !== 'joined' || !d.user) return;
  s.arrival = { user: d.user, at: Date.now() };
  changed(s.id, 'arrival');
}

/** True while the host (or a helper) muted me in room `id`. */
export function mutedUntil(id) {
  const s = rooms.get(Number(id));
  const until = s && s.me ? s.me.muted_until : null;
  return until && until > Date.now() ? until : null;
}

// ---------------------------------------------------------------- comments

function dropConfirmedPending(s) {
  const before = s.pending.length;
  s.pending = s.pending.filter((p) => !(p.seq != null && s.seq != null && p.seq <= s.seq));
  return s.pending.length !== before;
}

/**
 * Sends a comment (a `client_id` kept for a retry). Resolves when the server has it; rejects
 * with the ClientError (the pending line is gone then: the page shows the error and may offer
 * 重试 with `err.clientId`).
 */
export async function sendComment(id, text, clientId = null) {
  const s = stateOf(Number(id));
  const p = { clientId: clientId || newClientId(), text, seq: null, at: Date.now() };
  s.pending = s.pending.filter((x) => x.clientId !== p.clientId).concat(p);
  changed(s.id, 'pending');
  try {
    const reply = await client.request('room.comment', { room_id: s.id, text, client_id: p.clientId });
    const c = reply && reply.comment;
    p.seq = c ? c.seq : 0;
    // The event may be in already (or come in a moment: the line stays until then).
    if (dropConfirmedPending(s) || !c) s.pending = s.pending.filter((x) => x !== p);
    changed(s.id, 'pending');
    return c;
  } catch (err) {
    s.pending = s.pending.filter((x) => x !== p);
    changed(s.id, 'pending');
    err.clientId = p.clientId;
    if (err.code === 'room_muted' && err.retryAfterMs) {
      s.me = Object.assign({}, s.me || {}, { muted_until: Date.now() + err.retryAfterMs });
      changed(s.id, 'me');
    }
    throw err;
  }
}

// ---------------------------------------------------------------- likes

/** One tap of 点赞: shown at once, sent with the others at most every LIKE_FLUSH_MS. */
export function tapLike(id) {
  const s = rooms.get(Number(id));
  if (!s || !s.joined || !s.room || s.room.status !== 'live') return false;
  s.likeQueue += 1;
  s.likes += 1;
  changed(s.id, 'stats');
  scheduleLikes(s);
  return true;
}

function scheduleLikes(s) {
  if (s.likeTimer || !s.likeQueue) return;
  const wait = Math.max(0, s.lastLikeAt + LIKE_FLUSH_MS - Date.now());
  s.likeTimer = setTimeout(() => {
    s.likeTimer = null;
    flushLikes(s);
  }, wait);
}

function flushLikes(s) {
  if (!s.likeQueue || !s.joined) return;
  const count = Math.min(LIKES_PER_FRAME, s.likeQueue);
  s.likeQueue -= count;
  s.lastLikeAt = Date.now();
  client.request('room.like', { room_id: s.id, count }, { wait: false }).catch(() => {
    // Lost taps are not worth a word; the next room.stats shows the true count.
  });
  scheduleLikes(s);
}

// ---------------------------------------------------------------- the host's powers

const req = (type, data) => client.request(type, data);

function roomReply(s) {
  return (reply) => {
    if (reply && reply.room) {
      setRoom(s, reply.room);
      changed(s.id, 'room', 'status', 'stats', 'pinned');
    }
    return reply;
  };
}

/** room.create → the new Room (status `scheduled`). */
export async function createRoom({ title, category, cover = null }) {
  const reply = await req('room.create', { title, category, cover, scheduled_at: null });
  const r = reply.room;
  const s = stateOf(r.id);
  setRoom(s, r);
  return r;
}

/** Puts a Room known from a list (room.mine) into the state, for a room this page cannot join. */
export function noteRoom(room) {
  if (!room || room.id == null) return;
  const s = stateOf(room.id);
  if (!s.joined) {
    setRoom(s, room);
    changed(s.id, 'room', 'status', 'stats', 'pinned');
  }
}

export const startRoom = (id) => req('room.start', { room_id: Number(id) }).then(roomReply(stateOf(Number(id))));
export const pauseRoom = (id) => req('room.pause', { room_id: Number(id) }).then(roomReply(stateOf(Number(id))));
export const endRoom = (id) => req('room.end', { room_id: Number(id) }).then(roomReply(stateOf(Number(id))));

export function pin(id, text) {
  const s = stateOf(Number(id));
  return req('room.pin', { room_id: s.id, text: text == null ? null : text }).then((reply) => {
    if (s.room) s.room.pinned = reply && 'pinned' in reply ? reply.pinned : text;
    changed(s.id, 'pinned');
    return reply;
  });
}

export function removeComment(id, seq) {
  const s = stateOf(Number(id));
  return req('room.remove_comment', { room_id: s.id, seq }).then((reply) => {
    const at = s.comments.findIndex((c) => c.seq === seq);
    if (at >= 0) {
      s.comments.splice(at, 1);
      changed(s.id, 'comments', 'removed_comment');
    }
    return reply;
  });
}

export const muteUser = (id, userId, durationMs) => req('room.mute', { room_id: Number(id), user_id: userId, duration_ms: durationMs });
export const unmuteUser = (id, userId) => req('room.unmute', { room_id: Number(id), user_id: userId });
export const kickUser = (id, userId, durationMs = null) => req('room.kick',
  durationMs ? { room_id: Number(id), user_id: userId, duration_ms: durationMs } : { room_id: Number(id), user_id: userId });

export function banUser(id, userId, reason = '') {
  const s = stateOf(Number(id));
  const data = { room_id: s.id, user_id: userId };
  if (reason) data.reason = reason;
  return req('room.ban', data).then((reply) => {
    if (s.bans) loadBans(s.id);
    return reply;
  });
}

export function unbanUser(id, userId) {
  const s = stateOf(Number(id));
  return req('room.unban', { room_id: s.id, user_id: userId }).then((reply) => {
    if (s.bans) {
      s.bans = s.bans.filter((b) => !b.user || b.user.id !== userId);
      changed(s.id, 'bans');
    }
    return reply;
  });
}

/** room.bans → state.bans (the host's ban list). */
export async function loadBans(id) {
  const s = stateOf(Number(id));
  try {
    const reply = await req('room.bans', { room_id: s.id });
    s.bans = reply.bans || [];
    s.bansError = null;
  } catch (err) {
    s.bansError = err;
  }
  changed(s.id, 'bans');
  return s.bans;
}

function helpersReply(s) {
  return (reply) => {
    s.helpers = (reply && reply.helpers) || [];
    changed(s.id, 'helpers');
    return reply;
  };
}

export const addHelper = (id, userId) => req('room.helper.add', { room_id: Number(id), user_id: userId }).then(helpersReply(stateOf(Number(id))));
export const removeHelper = (id, userId) => req('room.helper.remove', { room_id: Number(id), user_id: userId }).then(helpersReply(stateOf(Number(id))));

// ---------------------------------------------------------------- lists

/** room.list: `{rooms, next}`. */
export function listRooms({ category = null, after = null, limit = 20 } = {}) {
  const data = { limit };
  if (category) data.category = category;
  if (after) data.after = after;
  return req('room.list', data);
}

/** room.mine: `[Room]` (newest first). */
export async function myRooms() {
  const reply = await req('room.mine', {});
  return reply.rooms || [];
}

/** Log-out: forgets every room (nothing is left, no listener stays). */
export function resetLive() {
  for (const s of rooms.values()) clearTimeout(s.likeTimer);
  rooms.clear();
  for (const off of offs) off();
  offs = [];
  started = false;
  listeners.clear();
}
