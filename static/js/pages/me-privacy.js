/**
 * 权限与隐私: each device permission with its purpose and a switch (POST /api/me/consents; the
 * two documents are never switches), and the consent ledger as a readable table of receipts:
 * permission, granted or withdrawn, date and time (China time), policy version, purpose, each
 * row with 验证 (the server's verdict, POST /api/consent/receipts/verify, plus the signature
 * checked here against GET /api/consent/keys where the browser has Ed25519) and 下载 (the
 * receipt: its JWS and claims as JSON).
 *
 * @module pages/me-privacy
 */
import { el, downloadFile } from '/static/js/ui/dom.js';
import { t, errorText, formatDateTime, formatTime } from '/static/js/i18n.js';
import { getClient, deviceLabel } from '/static/js/client.js';
import {
  PERMISSIONS, isDocument, consents, loadConsents, mergeConsentRecord, latestRecords, currentOf,
  messageLine, dataTable, isTransient,
} from './me-common.js';

export const TITLE = 'me.privacy';

const PAGE = 20;
const busyPerms = new Map(); // permission → the state asked for
const verdicts = new Map(); // ledger id → {pending} | {error} | ReceiptVerdict & {checked_at, signature}
let lastError = null;
let showAll = false;
let keysPromise = null;
let ctxRef = null;

export function init(ctx) {
  ctxRef = ctx;
  return [];
}

export function enter() {
  lastError = null;
  showAll = false;
  loadConsents();
}

/** True while this page is changing `permission` (its own consent.changed is no news). */
export function changing(permission) {
  return busyPerms.has(permission);
}

export function reset() {
  busyPerms.clear();
  verdicts.clear();
  lastError = null;
  keysPromise = null;
}

async function setConsent(permission, granted) {
  if (busyPerms.has(permission)) return;
  busyPerms.set(permission, granted);
  lastError = null;
  ctxRef.rerender();
  try {
    const res = await getClient().api('POST', '/api/me/consents', { permission, granted, device: deviceLabel() });
    if (res.record) {
      // A verdict's "current" may no longer hold for this permission: verify again.
      for (const r of (consents.state ? consents.state.history : [])) if (r.permission === permission) verdicts.delete(r.id);
      mergeConsentRecord(res.record);
    }
  } catch (err) {
    lastError = { err, retry: () => setConsent(permission, granted) };
    loadConsents(); // another device may have changed it first
  } finally {
    busyPerms.delete(permission);
    ctxRef.rerender();
  }
}

// ---------------------------------------------------------------- verification

function b64urlBytes(s) {
  const b64 = String(s).replace(/-/g, '+').replace(/_/g, '/');
  const bin = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
}

function jwsHeader(jws) {
  try { return JSON.parse(new TextDecoder().decode(b64urlBytes(String(jws).split('.')[0]))); } catch (_) { return null; }
}

function keys() {
  if (!keysPromise) {
    keysPromise = getClient().api('GET', '/api/consent/keys', undefined, { auth: false })
      .then((res) => res.keys || [])
      .catch((err) => { keysPromise = null; throw err; });
  }
  return keysPromise;
}

// The Ed25519 signature checked in this browser: true, false, or null (cannot check here).
async function checkSignature(jws) {
  try {
    if (!globalThis.crypto || !crypto.subtle) return null;
    const [h, p, s] = String(jws).split('.');
    const header = jwsHeader(jws);
    const jwk = (await keys()).find((k) => k.kid === (header && header.kid));
    if (!jwk) return false;
    const key = await crypto.subtle.importKey('jwk', { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
    return await crypto.subtle.verify({ name: 'Ed25519' }, key, b64urlBytes(s), new TextEncoder().encode(h + '.' + p));
  } catch (_) {
    return null;
  }
}

async function verifyRecord(r) {
  if (!r.receipt || !r.receipt.jws) return;
  verdicts.set(r.id, { pending: true });
  ctxRef.rerender();
  try {
    const [verdict, signature] = await Promise.all([
      getClient().api('POST', '/api/consent/receipts/verify', { receipt: r.receipt.jws }),
      checkSignature(r.receipt.jws),
    ]);
    verdicts.set(r.id, Object.assign({ checked_at: Date.now(), signature }, verdict));
  } catch (err) {
    verdicts.set(r.id, { error: err });
  }
  ctxRef.rerender();
}

// An old receipt shown again stays authentic but is not current: it grants nothing.
function verdictView(v) {
  if (v.pending) return { text: t('me.verifying'), cls: 'muted' };
  if (v.error) return { text: errorText(v.error), cls: 'error' };
  if (!v.authentic || v.signature === false) return { text: t('me.verdict_forged'), cls: 'error' };
  const when = v.checked_at ? ' · ' + formatTime(v.checked_at) : '';
  const local = v.signature === true ? ' · ' + t('me.verdict_signature') : '';
  if (v.current) return { text: t('me.verdict_valid') + local + when, cls: 'ok' };
  return { text: t('me.verdict_superseded') + local + when, cls: 'attention' };
}

function downloadReceipt(r) {
  const claims = (r.receipt && r.receipt.claims) || {};
  const name = 'duoxie-receipt-' + String(claims.receipt_id || r.id).replace(/[^\w.-]+/g, '_') + '.json';
  const doc = {
    receipt_id: claims.receipt_id || null,
    ledger_id: r.id,
    permission: r.permission,
    granted: r.granted,
    at: r.at,
    policy_version: r.policy_version,
    device: r.device || null,
    actor: r.actor || null,
    jws: r.receipt ? r.receipt.jws : null,
    claims,
    keys_url: '/api/consent/keys',
  };
  downloadFile(name, JSON.stringify(doc, null, 2), 'application/json');
}

// ---------------------------------------------------------------- rendering

function actionText(r) {
  if (isDocument(r.permission)) return r.granted ? t('me.accepted') : t('consent.withdrawn');
  return r.granted ? t('consent.granted') : t('consent.withdrawn');
}

function statusOf(p, cur, latest, policyVersion) {
  if (busyPerms.has(p)) return { text: t(busyPerms.get(p) ? 'me.granting' : 'me.withdrawing'), cls: 'muted' };
  if (cur.granted) return { text: t('me.granted_since', { time: formatDateTime(cur.since), version: cur.policy_version }), cls: 'ok' };
  if (cur.needs_acceptance) return { text: t('me.needs_acceptance', { version: policyVersion, old: cur.policy_version }), cls: 'attention' };
  if (latest && !latest.granted) return { text: t('me.withdrawn_at', { time: formatDateTime(latest.at) }), cls: 'muted' };
  return { text: t('consent.not_granted'), cls: 'muted' };
}

function permissionItem(p, cs, latest) {
  const cur = currentOf(p);
  const on = busyPerms.has(p) ? busyPerms.get(p) : !!cur.granted;
  const st = statusOf(p, cur, latest.get(p), cs.policy_version);
  const id = 'me-perm-' + p;
  const toggle = el('input', {
    type: 'checkbox', role: 'switch', class: 'me-switch-input', id,
    checked: on, disabled: busyPerms.has(p), 'data-permission': p,
    'aria-describedby': id + '-purpose ' + id + '-status',
    onchange: (e) => setConsent(p, e.target.checked),
  });
  toggle.checked = on;
  return el('li', { class: 'me-perm' + (cur.needs_acceptance ? ' me-perm-stale' : '') },
    el('div', { class: 'me-perm-main' },
      el('label', { class: 'me-perm-name', for: id, text: t('permission.' + p) }),
      el('p', { class: 'small muted', id: id + '-purpose', text: t('me.purpose.' + p) }),
      el('p', { class: 'small ' + st.cls, id: id + '-status', text: st.text })),
    el('span', { class: 'me-switch' }, toggle, el('span', { class: 'me-switch-track', 'aria-hidden': 'true' })));
}

function receiptsTable(cs) {
  const records = cs.history.slice().reverse(); // newest first
  if (!records.length) return el('p', { class: 'muted small', text: t('me.no_receipts') });
  const shown = showAll ? records : records.slice(0, PAGE);
  const columns = [
    { key: 'permission', label: t('me.col.permission'), cell: (r) => t('permission.' + r.permission) },
    { key: 'action', label: t('me.col.action'), cell: (r) => el('span', { class: 'me-tag ' + (r.granted ? 'me-tag-ok' : 'me-tag-off'), text: actionText(r) }) },
    { key: 'at', label: t('me.col.time'), cell: (r) => el('time', { datetime: new Date(r.at).toISOString(), text: formatDateTime(r.at) }) },
    { key: 'version', label: t('me.col.version'), cell: (r) => String(r.policy_version || '') },
    { key: 'purpose', label: t('me.col.purpose'), cell: (r) => t('me.purpose.' + r.permission) },
    {
      key: 'receipt',
      label: t('me.col.receipt'),
      cell: (r) => {
        if (!r.receipt || !r.receipt.jws) return t('me.no_receipt');
        const v = verdicts.get(r.id);
        const view = v ? verdictView(v) : null;
        return el('div', { class: 'me-receipt-cell' },
          el('div', { class: 'me-receipt-actions' },
            el('button', {
              type: 'button', class: 'secondary me-small-btn', id: 'me-verify-' + r.id,
              disabled: !!(v && v.pending), text: t('action.verify'), onclick: () => verifyRecord(r),
            }),
            el('button', {
              type: 'button', class: 'secondary me-small-btn', id: 'me-receipt-dl-' + r.id,
              text: t('action.download'), onclick: () => downloadReceipt(r),
            })),
          view ? el('p', { class: 'small me-verdict ' + view.cls, id: 'me-verdict-' + r.id, role: 'status', text: view.text }) : null);
      },
    },
  ];
  return [
    dataTable(columns, shown, { className: 'me-receipts', caption: t('me.receipts_caption') }),
    records.length > shown.length ? el('button', {
      type: 'button', class: 'link', id: 'me-receipts-all',
      text: t('me.show_all', { count: records.length }), onclick: () => { showAll = true; ctxRef.rerender(); },
    }) : null,
  ];
}

export function render() {
  const cs = consents.state;
  if (!cs) {
    const err = consents.error;
    return el('p', { class: 'small ' + (err ? 'error' : 'muted') },
      err ? errorText(err) : t('status.loading'),
      err ? [' ', el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => loadConsents() })] : null);
  }
  const latest = latestRecords(cs.history);
  const msg = messageLine('me-privacy-msg');
  if (lastError) msg.error(lastError.err, isTransient(lastError.err) ? lastError.retry : null);
  const stale = (cs.current || []).filter((c) => c.needs_acceptance && !isDocument(c.permission)).length;
  return [
    el('section', { class: 'me-card', 'aria-labelledby': 'me-perm-title' },
      el('h2', { class: 'me-section-title', id: 'me-perm-title', text: t('settings.permissions') }),
      el('p', { class: 'small muted', text: t('me.permissions_note', { version: cs.policy_version }) }),
      stale ? el('p', { class: 'me-attention small', role: 'status', text: t('me.policy_changed_note', { version: cs.policy_version, count: stale }) }) : null,
      msg.node,
      el('ul', { class: 'me-perms', id: 'me-perms' }, PERMISSIONS.map((p) => permissionItem(p, cs, latest)))),
    el('section', { class: 'me-card', 'aria-labelledby': 'me-receipts-title', id: 'me-receipts' },
      el('h2', { class: 'me-section-title', id: 'me-receipts-title', text: t('settings.receipts') }),
      el('p', { class: 'small muted', text: t('me.receipts_note') }),
      receiptsTable(cs)),
  ];
}

