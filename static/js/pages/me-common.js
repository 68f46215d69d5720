/**
 * What the 我的 tab's views share: the permission lists, a section heading, a readable table
 * that becomes cards on a phone, the message line under a form, whether an error is worth a
 * 重试, and the consent state (GET /api/me/consents, merged with consent.changed events), which
 * the home view (the documents accepted) and the privacy view (toggles, receipts) both show.
 *
 * @module pages/me-common
 */
import { el } from '/static/js/ui/dom.js';
import { t, errorText } from '/static/js/i18n.js';
import { getClient } from '/static/js/client.js';

/** The device permissions, in the protocol's order (toggles). */
export const PERMISSIONS = Object.freeze(['camera', 'microphone', 'photo_album', 'location', 'clipboard',
  'notifications', 'personalized_recommendation', 'marketing']);
/** The two documents every account accepts: listed, never toggles. */
export const DOCUMENTS = Object.freeze(['user_agreement', 'privacy_policy']);
export const isDocument = (p) => DOCUMENTS.includes(p);

const TRANSIENT = new Set(['network', 'timeout', 'disconnected', 'offline', 'rate_limited', 'unavailable', 'internal', 'http_error']);
/** Transient failures may offer 重试; permanent refusals never do. */
export const isTransient = (err) => !!err && TRANSIENT.has(err.code);

/** A `<h2>` section title inside a view. */
export function sectionTitle(key) {
  return el('h2', { class: 'me-section-title', text: t(key) });
}

/**
 * A line for a form's outcome: `msg.set(text, 'ok'|'error'|'')`, `msg.error(err, retry)` (with a
 * 重试 button for transient failures when `retry` is given).
 */
export function messageLine(id) {
  const node = el('p', { id, class: 'me-msg small', role: 'status', hidden: true });
  return {
    node,
    set(text, kind = '') {
      node.replaceChildren();
      node.textContent = text || '';
      node.className = 'me-msg small' + (kind ? ' ' + kind : '');
      node.setAttribute('role', kind === 'error' ? 'alert' : 'status');
      node.hidden = !text;
    },
    error(err, retry = null) {
      this.set(errorText(err), 'error');
      if (retry && isTransient(err)) {
        node.append(' ', el('button', { type: 'button', class: 'link me-retry', text: t('action.retry'), onclick: retry }));
      }
    },
    clear() { this.set(''); },
  };
}

/**
 * A readable table: `columns` [{key, label, cell(row) → node|string}], `rows`. On a phone each
 * row shows as a card (the label before each value, CSS `data-label`).
 */
export function dataTable(columns, rows, { className = '', caption = null } = {}) {
  return el('div', { class: 'me-table-wrap' },
    el('table', { class: ('me-table ' + className).trim() },
      caption ? el('caption', { class: 'small muted', text: caption }) : null,
      el('thead', {}, el('tr', {}, columns.map((c) => el('th', { scope: 'col', text: c.label })))),
      el('tbody', {}, rows.map((row) => el('tr', {}, columns.map((c) => {
        const v = c.cell(row);
        return el('td', { 'data-label': c.label, 'data-col': c.key || null }, v == null || v === '' ? '—' : v);
      }))))));
}

/** A list of label/value pairs (a definition list). */
export function keyValues(pairs) {
  return el('dl', { class: 'me-kv' }, pairs.filter(Boolean).map(([label, value]) => [
    el('dt', { text: label }),
    el('dd', {}, value == null || value === '' ? '—' : value),
  ]));
}

// ---------------------------------------------------------------- the consent state

// Latest record per permission (history is oldest first).
export function latestRecords(history) {
  const latest = new Map();
  for (const r of history) latest.set(r.permission, r);
  return latest;
}

// The server's rule: a permission counts when its latest change is a grant given under the
// policy version in force; an earlier grant must be accepted again.
function deriveCurrent(history, policyVersion) {
  const latest = latestRecords(history);
  return [...PERMISSIONS, ...DOCUMENTS].map((id) => {
    const r = latest.get(id);
    const granted = !!r && r.granted && r.policy_version === policyVersion;
    return {
      permission: id,
      granted,
      needs_acceptance: !granted && !!r && r.granted,
      since: r ? r.at : null,
      policy_version: r ? r.policy_version : null,
    };
  });
}

/** `{policy_version, current, history}` once loaded, else null; `error` the last failure. */
export const consents = { state: null, error: null, loading: false };
const consentListeners = new Set();
let consentsGen = 0;

/** Calls `fn()` whenever the consent state changes; returns the function that stops it. */
export function onConsents(fn) {
  consentListeners.add(fn);
  return () => consentListeners.delete(fn);
}

function consentsChanged() {
  for (const fn of [...consentListeners]) fn();
}

/** GET /api/me/consents, keeping events that arrived after the server built the snapshot. */
export async function loadConsents() {
  const gen = ++consentsGen;
  consents.loading = true;
  consentsChanged();
  try {
    const res = await getClient().api('GET', '/api/me/consents');
    if (gen !== consentsGen) return;
    const history = (res.history || []).slice();
    const maxId = history.reduce((m, r) => Math.max(m, r.id), 0);
    const later = consents.state ? consents.state.history.filter((r) => r.id > maxId) : [];
    history.push(...later);
    consents.state = {
      policy_version: res.policy_version,
      history,
      current: later.length || !res.current ? deriveCurrent(history, res.policy_version) : res.current,
    };
    consents.error = null;
  } catch (err) {
    if (gen !== consentsGen) return;
    consents.error = err;
  }
  consents.loading = false;
  consentsChanged();
}

/** A record from our own change's reply or a consent.changed event; the ledger id dedupes. */
export function mergeConsentRecord(r) {
  const cs = consents.state;
  if (!cs || !r || r.id == null || cs.history.some((x) => x.id === r.id)) return false;
  cs.history.push(r);
  cs.history.sort((a, b) => a.id - b.id);
  cs.current = deriveCurrent(cs.history, cs.policy_version);
  // Changes are recorded under the version in force: a different one means it moved on.
  if (r.policy_version !== cs.policy_version) loadConsents();
  consentsChanged();
  return true;
}

/** Forgets everything (log-out). */
export function resetConsents() {
  consentsGen += 1;
  consents.state = null;
  consents.error = null;
  consents.loading = false;
}

/** The current entry of a permission, or a not-granted one. */
export function currentOf(permission) {
  const cs = consents.state;
  const c = cs && (cs.current || []).find((x) => x.permission === permission);
  return c || { permission, granted: false, needs_acceptance: false, since: null, policy_version: null };
}
