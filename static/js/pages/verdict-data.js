/**
 * Appraisal verdicts (鉴定结果, docs/protocol.md "Appraisal calls", `Verdict`), with no DOM: the
 * commands (`verdict.issue`, `verdict.correct`, `verdict.mine`, `verdict.get`), the public
 * view and the check of a signed verdict (REST, no account needed), the upload of a snapshot,
 * and what this device has seen of each verdict (the replies, and `verdict.issued` for the
 * buyer), so the call screen, the console and the 我的 views agree.
 *
 *   onVerdicts((verdict, { issued }) => …);   // a version new to this device; issued: by verdict.issued (the buyer's side)
 *   verdictOfCall(9);                          // the current version seen for call 9, or null
 *   await issueVerdict(9, fields);  await correctVerdict('DX…', '复看视频…', fields);
 *   await myVerdicts();  await verdictVersions('DX…');  await publicVerdict('DX…');
 *   await verifyVerdict(jws);                  // {authentic, current, claims}
 *   await uploadSnapshot(blob);                // the MediaView of a post_photo from the camera
 *
 * `fields`: `{item_type, material, conclusion, grade, notes, price_low, price_high, snapshots}`
 * (empty optional fields are left out).
 *
 * @module pages/verdict-data
 */
import { getClient } from '/static/js/client.js';
import { onStore } from '/static/js/app/store.js';

/** The conclusions an appraiser may give from video, in the order the form offers them. */
export const CONCLUSIONS = Object.freeze(['natural', 'treated', 'imitation', 'undetermined']);
/** The server's defaults (DUOXIE_LIVE_VERDICT_*): the form counts against them, the server decides. */
export const FIELD_MAX_CHARS = 40;
export const NOTES_MAX_CHARS = 1000;
export const SNAPSHOTS_MAX = 6;
export const CORRECTION_MAX_CHARS = 200;
/** How long after a call ended its verdict may still be issued (DUOXIE_LIVE_VERDICT_WINDOW_MS). */
export const VERDICT_WINDOW_MS = 24 * 3600 * 1000;
/** A public number: DX and 12 Crockford base-32 characters. */
export const NUMBER_PATTERN = /^DX[0-9A-HJKMNP-TV-Z]{12}$/;

const client = getClient();
const byNumber = new Map(); // number → the newest version seen
const listeners = new Set();

/** Calls `fn(verdict, {issued})` for every version this device learns of; returns the function that stops it. */
export function onVerdicts(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function changed(verdict, meta) {
  for (const fn of [...listeners]) {
    try { fn(verdict, meta); } catch (err) { if (typeof reportError === 'function') reportError(err); }
  }
}

// Keeps the newest version of each number (a late reply must not undo a newer event); true when
// it is news to this device.
function remember(v) {
  if (!v || !v.number) return false;
  const had = byNumber.get(v.number);
  if (had && had.version >= v.version) return false;
  byNumber.set(v.number, v);
  return true;
}

/** The newest version seen of the verdict of call `callId`, or null. */
export function verdictOfCall(callId) {
  for (const v of byNumber.values()) if (v.call_id === Number(callId)) return v;
  return null;
}

/** The newest version seen of `number`, or null. */
export function knownVerdict(number) {
  return byNumber.get(number) || null;
}

// The optional fields go only when filled: the server takes absent and empty alike, a frame stays small.
function body(fields) {
  const out = { item_type: fields.item_type, material: fields.material, conclusion: fields.conclusion };
  if (fields.grade) out.grade = fields.grade;
  if (fields.notes) out.notes = fields.notes;
  if (fields.price_low != null && fields.price_high != null) {
    out.price_low = fields.price_low;
    out.price_high = fields.price_high;
  }
  out.snapshots = fields.snapshots || [];
  return out;
}

/** verdict.issue for call `callId`: version 1 and its number. */
export async function issueVerdict(callId, fields) {
  const { verdict } = await client.request('verdict.issue', { call_id: Number(callId), ...body(fields) });
  if (remember(verdict)) changed(verdict, { issued: false });
  return verdict;
}

/** verdict.correct: the next version of `number`, `correction` saying why. */
export async function correctVerdict(number, correction, fields) {
  const { verdict } = await client.request('verdict.correct', { number, correction, ...body(fields) });
  if (remember(verdict)) changed(verdict, { issued: false });
  return verdict;
}

/** verdict.mine: the current version of each verdict the user gave or received, newest first. */
export async function myVerdicts() {
  const { verdicts } = await client.request('verdict.mine', {});
  for (const v of verdicts || []) if (remember(v)) changed(v, { issued: false });
  return verdicts || [];
}

/** verdict.get: every version of `number`, oldest first (the two parties only: not_found otherwise). */
export async function verdictVersions(number) {
  const { verdicts } = await client.request('verdict.get', { number });
  const list = verdicts || [];
  const last = list[list.length - 1];
  if (last && remember(last)) changed(last, { issued: false });
  return list;
}

/** GET /api/verdicts/{number}: what anyone may see of the current version. */
export function publicVerdict(number) {
  return client.api('GET', '/api/verdicts/' + encodeURIComponent(number), undefined, { auth: false });
}

/** POST /api/verdicts/verify: is this signed verdict the server's, unaltered, and current? */
export function verifyVerdict(jws) {
  return client.api('POST', '/api/verdicts/verify', { jws }, { auth: false });
}

/** A snapshot of the buyer's item, uploaded as the appraiser's own post photo taken with the camera. */
export function uploadSnapshot(blob) {
  return client.api('POST', '/api/media?purpose=post_photo&source=camera', undefined, { raw: blob });
}

// The buyer's devices hear of each version (the first and every correction).
client.on('verdict.issued', (d) => {
  const v = d && d.verdict;
  if (remember(v)) changed(v, { issued: true });
});

onStore('signed_out', () => byNumber.clear());
