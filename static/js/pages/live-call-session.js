/**
 * This device's appraisal call (连线鉴定, docs/protocol.md "Appraisal calls"), with no DOM: the
 * calls ringing for the user, the one call this device takes part in, its WebRTC peer
 * connection and the signalling the server relays (`rtc.offer`, `rtc.answer`, `rtc.ice`,
 * `rtc.restart`). The host's device is always the offerer, the buyer's the answerer: the
 * server decides, so there is never glare.
 *
 *   onCall((what) => …);                    // what: 'ringing' | 'call' | 'media' | 'link'
 *   ringingCalls();                         // [{call, deadline}] ringing for this account, not answered here
 *   await placeCall(roomId, { entryId, reason }, stream);   // the host (stream: openCamera())
 *   await answerCall(callId, stream);       // the buyer
 *   await declineCall(callId);
 *   currentCall();                          // the session (below) or null
 *   hangUp(); dismissCall();
 *
 * The session: `{id, roomId, role, view (Call), phase, link, peerAway, endReason, endedBy,
 * endedRinging (it ended before it was answered), local, remote, pc, connectedAt}`. `phase`: `calling` (the host rings the buyer) →
 * `connecting` (answered: negotiating) → `connected` (the peer connection is up) → `ended`.
 * `link`: `ok`, `offline` (our signalling socket is down) or `unstable` (the peer connection
 * lost its path and is being restored). After a reconnect the page sends `room.call.resume`
 * (the call id is also kept in sessionStorage, so a reload resumes too). A withdrawal of the
 * camera or microphone stops the capture at once; the server ends the call.
 *
 * For tests and debugging, `window.__duoxieCall = {pc, state, callId, role}` while a call
 * exists. `localStorage['duoxie.iceTransportPolicy'] = 'relay'` makes the peer connection use
 * TURN relays only (a test hook: docs/client.md).
 *
 * @module pages/live-call-session
 */
import { getClient } from '/static/js/client.js';
import { store, onStore } from '/static/js/app/store.js';
import { openCamera, stopStream, CALL_PERMISSIONS } from '/static/js/pages/live-call-access.js';

const client = getClient();

/** Where the call id survives a reload of the page (this tab only). */
const RESUME_KEY = 'duoxie.call';
/** The test hook: 'relay' forces TURN relays (iceTransportPolicy). */
export const ICE_POLICY_KEY = 'duoxie.iceTransportPolicy';
/** A peer connection that failed asks for an ICE restart at most this often. */
const RESTART_EVERY_MS = 5000;

let call = null;
const ringing = new Map(); // call id → {call: Call, deadline: local ms}
const answering = new Set(); // call ids this device is answering
const ringEnds = new Map(); // call id → the ended Call of a ring that stopped (cancelled, not answered)
const listeners = new Set();
let resumeChecked = false;

/** Calls `fn(what)` after every change; returns the function that stops it. */
export function onCall(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(what) {
  expose();
  for (const fn of [...listeners]) {
    try { fn(what); } catch (err) { if (typeof reportError === 'function') reportError(err); }
  }
}

function expose() {
  if (typeof window === 'undefined') return;
  if (call) window.__duoxieCall = { pc: call.pc, state: call.phase, callId: call.id, role: call.role };
  else delete window.__duoxieCall;
}

/** The call this device takes part in (also once ended, until dismissed), or null. */
export function currentCall() {
  return call;
}

/** Calls ringing for this account that this device has not answered, oldest first. */
export function ringingCalls() {
  return [...ringing.values()];
}

/** Why a ring stopped (the ended Call: the host cancelled, nobody answered), or null. */
export function ringEndOf(callId) {
  return ringEnds.get(callId) || null;
}

const active = (c) => !!c && c.phase !== 'ended';

/** True while this device is in a call (ringing out, connecting or connected) in room `roomId` (any room when omitted). */
export function inCall(roomId = null) {
  return active(call) && (roomId == null || call.roomId === Number(roomId));
}

function newSession(side, local) {
  const view = side.call || {};
  return {
    id: view.id, roomId: Number(view.room_id), role: side.role === 'offerer' ? 'offerer' : 'answerer', view,
    iceServers: side.ice_servers || [], phase: view.state === 'connected' ? 'connecting' : 'calling',
    link: 'ok', peerAway: false, endReason: null, endedBy: null, local, remote: null, pc: null,
    pending: [], ops: Promise.resolve(), connectedAt: null, lastRestartAt: 0,
  };
}

/** The peer of the session: the buyer for the host, the host for the buyer. */
export function peerOf(c) {
  if (!c || !c.view) return null;
  return c.role === 'offerer' ? c.view.guest || null : c.view.host || null;
}

function remember(c) {
  try { sessionStorage.setItem(RESUME_KEY, JSON.stringify({ id: c.id, room_id: c.roomId })); } catch (_) { /* private mode */ }
}

function forget() {
  try { sessionStorage.removeItem(RESUME_KEY); } catch (_) { /* private mode */ }
}

function remembered() {
  try {
    const v = JSON.parse(sessionStorage.getItem(RESUME_KEY) || 'null');
    return v && Number.isFinite(v.id) ? v : null;
  } catch (_) {
    return null;
  }
}

// ---------------------------------------------------------------- the host calls, the buyer answers

/**
 * room.call (呼叫下一位, or the entry named with its reason): this device rings the buyer with
 * `stream` as its camera. Rejects with the ClientError (the stream is stopped then).
 */
export async function placeCall(roomId, { entryId = null, reason = null } = {}, stream) {
  if (active(call)) throw Object.assign(new Error('busy'), { code: 'call_busy' });
  const data = { room_id: Number(roomId) };
  if (entryId != null) data.entry_id = entryId;
  if (reason) data.reason = reason;
  let side;
  try {
    side = await client.request('room.call', data);
  } catch (err) {
    stopStream(stream);
    throw err;
  }
  call = newSession(side, stream);
  remember(call);
  changed('call');
  return call;
}

/** room.call.answer (接听) with `stream` as the camera; rejects with the ClientError. */
export async function answerCall(callId, stream) {
  if (active(call)) {
    stopStream(stream);
    throw Object.assign(new Error('busy'), { code: 'call_busy' });
  }
  answering.add(callId);
  let side;
  try {
    side = await client.request('room.call.answer', { call_id: callId });
  } catch (err) {
    stopStream(stream);
    if (err.code === 'call_ended' || err.code === 'conflict') dropRinging(callId);
    throw err;
  } finally {
    answering.delete(callId);
  }
  dropRinging(callId, { quiet: true });
  call = newSession(side, stream);
  call.phase = 'connecting';
  remember(call);
  // The offer comes from the host; the peer connection waits for it with the camera on.
  newPeer(call);
  changed('call');
  changed('ringing');
  return call;
}

/** room.call.decline (拒绝). */
export async function declineCall(callId) {
  try {
    await client.request('room.call.decline', { call_id: callId });
  } finally {
    dropRinging(callId);
  }
}

/** 挂断 (or, for the host while it rings, 取消): the capture stops at once, then rtc.hangup. */
export async function hangUp() {
  const c = call;
  if (!active(c)) return;
  finish(c, { end_reason: 'hangup', ended_by: store.me ? store.me.id : null });
  try {
    const reply = await client.request('rtc.hangup', { call_id: c.id }, { wait: false });
    if (reply && reply.call && call === c) {
      c.view = reply.call;
      c.endReason = reply.call.end_reason || c.endReason;
      c.endedBy = reply.call.ended_by != null ? reply.call.ended_by : c.endedBy;
      changed('call');
    }
  } catch (_) {
    // Ended already, or the socket is down: the server ends it when the grace period runs out.
  }
}

/** Closes the ended call's view (nothing is left of the call on this device). */
export function dismissCall() {
  if (call && call.phase === 'ended') {
    call = null;
    changed('call');
  }
}

function dropRinging(callId, { quiet = false } = {}) {
  if (ringing.delete(callId) && !quiet) changed('ringing');
}

// ---------------------------------------------------------------- ending

function finish(c, view) {
  if (c.phase === 'ended') return;
  c.endedRinging = c.phase === 'calling';
  c.phase = 'ended';
  c.endReason = view.end_reason || null;
  c.endedBy = view.ended_by != null ? view.ended_by : null;
  if (view.id != null) c.view = view;
  stopStream(c.local);
  closePeer(c);
  forget();
  changed('call');
}

// The end of a call this device did not hear about (the socket was down): its record says why.
async function finishFromRecord(c) {
  let view = { end_reason: null };
  try {
    const reply = await client.request('room.calls', { limit: 10 }, { resend: true });
    const found = ((reply && reply.calls) || []).find((x) => x.id === c.id);
    if (found) view = found;
  } catch (_) { /* the reason stays unknown */ }
  finish(c, view);
}

// ---------------------------------------------------------------- the peer connection

function rtcConfig(c) {
  const config = {
    iceServers: (c.iceServers || []).map((s) => {
      const server = { urls: s.urls };
      if (s.username != null) server.username = s.username;
      if (s.credential != null) server.credential = s.credential;
      return server;
    }),
  };
  let policy = null;
  try { policy = localStorage.getItem(ICE_POLICY_KEY); } catch (_) { /* no storage */ }
  if (policy === 'relay') config.iceTransportPolicy = 'relay';
  return config;
}

function closePeer(c) {
  const pc = c.pc;
  if (!pc) return;
  // The closed connection stays readable (window.__duoxieCall.pc.connectionState: 'closed').
  pc.ontrack = null;
  pc.onicecandidate = null;
  pc.onconnectionstatechange = null;
  try { pc.close(); } catch (_) { /* closed */ }
}

/** A new peer connection for the session (the old one, if any, is closed), with the camera on it. */
function newPeer(c) {
  closePeer(c);
  const pc = new RTCPeerConnection(rtcConfig(c));
  c.pc = pc;
  c.pending = [];
  c.remote = new MediaStream();
  if (c.local) for (const track of c.local.getTracks()) pc.addTrack(track, c.local);
  pc.ontrack = (e) => {
    if (pc !== c.pc) return;
    const stream = e.streams && e.streams[0];
    if (stream && stream !== c.remote) c.remote = stream;
    else if (!c.remote.getTracks().includes(e.track)) c.remote.addTrack(e.track);
    changed('media');
  };
  pc.onicecandidate = (e) => {
    // Null is the end of gathering: the peer needs no word of it.
    if (pc !== c.pc || !e.candidate || !e.candidate.candidate) return;
    const data = { call_id: c.id, candidate: e.candidate.candidate };
    if (e.candidate.sdpMid != null) data.sdp_mid = e.candidate.sdpMid;
    if (e.candidate.sdpMLineIndex != null) data.sdp_mline_index = e.candidate.sdpMLineIndex;
    signal(c, 'rtc.ice', data);
  };
  pc.onconnectionstatechange = () => { if (pc === c.pc) onPeerState(c, pc); };
  changed('media');
  return pc;
}

function onPeerState(c, pc) {
  const s = pc.connectionState;
  if (c.phase === 'ended') return;
  if (s === 'connected') {
    if (c.phase !== 'connected') {
      c.phase = 'connected';
      c.connectedAt = c.connectedAt || Date.now();
    }
    c.link = client.state === 'online' ? 'ok' : 'offline';
  } else if (s === 'disconnected' || s === 'failed') {
    if (c.link === 'ok') c.link = 'unstable';
    if (s === 'failed') askRestart(c);
  }
  changed('link');
}

// A connection that lost its path: the offerer restarts ICE, the answerer asks it to.
function askRestart(c) {
  if (Date.now() - c.lastRestartAt < RESTART_EVERY_MS || client.state !== 'online') return;
  c.lastRestartAt = Date.now();
  if (c.role === 'offerer') serial(c, () => makeOffer(c, { iceRestart: true }));
  else signal(c, 'rtc.restart', { call_id: c.id });
}

// SDP and candidates are applied one after the other, in the order they came.
function serial(c, fn) {
  c.ops = c.ops.then(() => (c.phase === 'ended' ? null : fn())).catch(() => {
    // A description the browser refused: the next restart negotiates again.
  });
  return c.ops;
}

async function makeOffer(c, { iceRestart = false } = {}) {
  const pc = c.pc;
  if (!pc) return;
  const offer = await pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
  if (pc !== c.pc) return;
  await pc.setLocalDescription(offer);
  if (pc !== c.pc) return;
  signal(c, 'rtc.offer', { call_id: c.id, sdp: offer.sdp });
}

// The DTLS fingerprint of a description: another one means the peer has a new connection.
function fingerprint(sdp) {
  const m = /^a=fingerprint:(.+)$/m.exec(String(sdp || ''));
  return m ? m[1].trim() : '';
}

async function applyOffer(c, sdp) {
  let pc = c.pc;
  if (!pc || pc.connectionState === 'closed' ||
      (pc.remoteDescription && fingerprint(pc.remoteDescription.sdp) !== fingerprint(sdp))) {
    pc = newPeer(c);
  }
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await flushCandidates(c, pc);
  const answer = await pc.createAnswer();
  if (pc !== c.pc) return;
  await pc.setLocalDescription(answer);
  if (pc !== c.pc) return;
  signal(c, 'rtc.answer', { call_id: c.id, sdp: answer.sdp });
}

async function applyAnswer(c, sdp) {
  const pc = c.pc;
  if (!pc || pc.signalingState !== 'have-local-offer') return;
  await pc.setRemoteDescription({ type: 'answer', sdp });
  await flushCandidates(c, pc);
}

async function addCandidate(c, cand) {
  const pc = c.pc;
  if (!pc) return;
  if (!pc.remoteDescription) {
    c.pending.push(cand);
    return;
  }
  await pc.addIceCandidate(cand).catch(() => { /* a candidate of a connection the peer replaced */ });
}

async function flushCandidates(c, pc) {
  const queued = c.pending.splice(0);
  for (const cand of queued) {
    if (pc !== c.pc) return;
    await pc.addIceCandidate(cand).catch(() => {});
  }
}

/** Sends one signalling frame; an ended call's refusal ends it here too. Never waits for a socket. */
function signal(c, type, data) {
  client.request(type, data, { wait: false }).catch((err) => {
    if (call !== c || c.phase === 'ended') return;
    if (err.code === 'call_ended') finishFromRecord(c);
    // offline: room.call.resume renegotiates; rate_limited, invalid_*: the next restart does.
  });
}

// ---------------------------------------------------------------- events

const mineEvent = (d) => active(call) && d && Number(d.call_id) === call.id;

client.on('room.call.ringing', (d) => {
  const c = d && d.call;
  if (!c || c.state !== 'ringing' || (call && call.id === c.id)) return;
  // Measured from now with the server's own interval: a phone's clock may be off.
  const span = c.answer_by && c.called_at ? Math.max(0, c.answer_by - c.called_at) : 30000;
  ringing.set(c.id, { call: c, deadline: Date.now() + span });
  changed('ringing');
});

client.on('room.call.answered', (d) => {
  const id = d && Number(d.call_id);
  if (answering.has(id) || (call && call.id === id)) return;
  dropRinging(id);
});

client.on('room.call.ended', (d) => {
  const view = d && d.call;
  if (!view) return;
  if (ringing.has(view.id)) {
    ringEnds.set(view.id, view);
    dropRinging(view.id);
  }
  if (call && call.id === view.id) finish(call, view);
});

client.on('room.call.connected', (side) => {
  const c = call;
  const view = side && side.call;
  if (!active(c) || !view || view.id !== c.id || c.role !== 'offerer') return;
  c.view = view;
  if (side.ice_servers) c.iceServers = side.ice_servers;
  c.phase = 'connecting';
  changed('call');
  serial(c, async () => {
    newPeer(c);
    await makeOffer(c);
  });
});

client.on('room.call.peer', (d) => {
  if (!mineEvent(d)) return;
  call.peerAway = d.state === 'away';
  changed('link');
});

client.on('rtc.offer', (d) => {
  if (!mineEvent(d) || call.role !== 'answerer') return;
  const c = call;
  serial(c, () => applyOffer(c, d.sdp));
});

client.on('rtc.answer', (d) => {
  if (!mineEvent(d) || call.role !== 'offerer') return;
  const c = call;
  serial(c, () => applyAnswer(c, d.sdp));
});

client.on('rtc.ice', (d) => {
  if (!mineEvent(d) || !d.candidate) return;
  const c = call;
  const cand = { candidate: d.candidate, sdpMid: d.sdp_mid != null ? d.sdp_mid : null,
    sdpMLineIndex: d.sdp_mline_index != null ? d.sdp_mline_index : null };
  serial(c, () => addCandidate(c, cand));
});

client.on('rtc.restart', (d) => {
  if (!mineEvent(d) || call.role !== 'offerer') return;
  const c = call;
  if (c.phase === 'calling') c.phase = 'connecting';
  changed('call');
  serial(c, async () => {
    if (d.fresh || !c.pc || c.pc.connectionState === 'closed') {
      newPeer(c);
      await makeOffer(c);
    } else {
      await makeOffer(c, { iceRestart: true });
    }
  });
});

// The capture stops the moment the user withdraws the camera or microphone (the server ends the call).
client.on('consent.changed', (r) => {
  if (!r || r.granted !== false || !CALL_PERMISSIONS.includes(r.permission) || !active(call)) return;
  stopStream(call.local);
  changed('media');
});

client.on('offline', () => {
  if (!active(call)) return;
  call.link = 'offline';
  changed('link');
});

client.on('online', () => {
  if (active(call)) resume(call);
  else if (!call && !resumeChecked) resumeRemembered();
  resumeChecked = true;
});

// After a reconnect: bind this connection to the call again; the offerer then renegotiates.
async function resume(c) {
  try {
    const side = await client.request('room.call.resume', { call_id: c.id });
    if (call !== c || c.phase === 'ended') return;
    if (side && side.call) c.view = side.call;
    if (side && side.ice_servers) c.iceServers = side.ice_servers;
    c.link = c.pc && c.pc.connectionState === 'connected' ? 'ok' : 'unstable';
    if (c.phase === 'calling' && side && side.call && side.call.state === 'connected') c.phase = 'connecting';
    changed('link');
  } catch (err) {
    if (call !== c || c.phase === 'ended') return;
    if (['offline', 'disconnected', 'timeout'].includes(err.code)) return; // the next online tries again
    finishFromRecord(c);
  }
}

// A reload during a call: the camera again, then room.call.resume within the grace period.
async function resumeRemembered() {
  const kept = remembered();
  if (!kept) return;
  let stream = null;
  try {
    stream = await openCamera();
  } catch (_) {
    forget();
    client.request('rtc.hangup', { call_id: kept.id }, { wait: false }).catch(() => {});
    return;
  }
  try {
    const side = await client.request('room.call.resume', { call_id: kept.id });
    if (active(call)) { stopStream(stream); return; }
    call = newSession(side, stream);
    if (call.view.state === 'connected') call.phase = 'connecting';
    if (call.role === 'answerer' && call.phase === 'connecting') newPeer(call);
    changed('call');
  } catch (_) {
    stopStream(stream);
    forget();
  }
}

// Log-out: the camera goes off and nothing of the call stays (the socket is gone already).
onStore('signed_out', () => {
  if (call) {
    stopStream(call.local);
    closePeer(call);
  }
  call = null;
  ringing.clear();
  answering.clear();
  ringEnds.clear();
  resumeChecked = false;
  forget();
  changed('call');
  changed('ringing');
});
