/**
 * What every page of the web client shares: the signed-in account (`Me` of docs/protocol.md)
 * and a few app-wide facts, with change events. Pages read `store.me` and listen with
 * `onStore('me', fn)`; the module that fetched a whole `Me` (GET /api/me, PATCH /api/me)
 * calls `setMe`, one that learnt a few fields (an event) calls `patchMe`. The connection
 * itself is the client library's (`getClient()`), not here.
 *
 *   import { store, setMe, onStore } from '/static/js/app/store.js';
 *   onStore('me', (me) => renderAvatar(me.avatar));
 *
 * Events: `me` (the account changed: nickname, avatar, standing, mute), `policy` (the policy
 * version in force and whether this account still has to accept it), `signed_out`.
 *
 * @module app/store
 */

export const store = {
  /** The signed-in account, or null before login and after log-out. */
  me: null,
  /** `{version, accepted}`: the privacy-policy version in force and whether `me` accepted it. */
  policy: { version: null, accepted: true },
};

const listeners = new Map();

/** Calls `fn(value)` on every `name` event; returns the function that stops it. */
export function onStore(name, fn) {
  if (!listeners.has(name)) listeners.set(name, new Set());
  listeners.get(name).add(fn);
  return () => listeners.get(name).delete(fn);
}

/** Tells the `name` listeners; a listener that throws is reported and the others still run. */
export function emit(name, value) {
  for (const fn of [...(listeners.get(name) || [])]) {
    try {
      fn(value);
    } catch (err) {
      if (typeof reportError === 'function') reportError(err);
      else console.error(err);
    }
  }
}

/**
 * A whole `Me` from the server (GET or PATCH /api/me, a login): it replaces the one held, so a
 * field the server leaves out (`muted_until` once a mute is lifted) is gone here too.
 */
export function setMe(me) {
  store.me = me ? { ...me } : null;
  emit('me', store.me);
}

/** Some fields of `Me` that an event or a reply carried (`{standing}`), over the one held. */
export function patchMe(fields) {
  if (!store.me) return;
  store.me = { ...store.me, ...fields };
  emit('me', store.me);
}

/** The policy state: the version in force and whether this account has accepted it. */
export function setPolicy(policy) {
  store.policy = { ...store.policy, ...policy };
  emit('policy', store.policy);
}

/** Forgets the account (log-out, suspension, deletion). */
export function clearSession() {
  store.me = null;
  store.policy = { version: null, accepted: true };
  emit('signed_out', null);
}
