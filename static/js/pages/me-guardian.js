/**
 * 我监护的账号: for a guardian, the children whose guardian is this account's phone
 * (GET /api/guardian/wards): the state of each consent, 撤回同意 (the child is restricted at
 * once) and 删除孩子的账号 (typed confirmation; no cooling-off). The home view lists the row
 * only when there are wards.
 *
 * @module pages/me-guardian
 */
import { el } from '/static/js/ui/dom.js';
import { t, errorText, formatDateTime } from '/static/js/i18n.js';
import { getClient } from '/static/js/client.js';
import { confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { isTransient } from './me-common.js';

export const TITLE = 'me.wards';

let wards = null;
let wardsError = null;
let gen = 0;
const busyWards = new Set();
let ctxRef = null;

export function init(ctx) {
  ctxRef = ctx;
  return [];
}

export function enter() {
  loadWards();
}

export function reset() {
  gen += 1;
  wards = null;
  wardsError = null;
  busyWards.clear();
}

/** How many wards there are (0 until loaded). */
export function wardCount() {
  return wards ? wards.length : 0;
}

export async function loadWards() {
  const my = ++gen;
  try {
    const res = await getClient().api('GET', '/api/guardian/wards');
    if (my !== gen) return;
    wards = res.wards || [];
    wardsError = null;
  } catch (err) {
    if (my !== gen) return;
    // forbidden: an account without a phone number guards no one.
    if (err.code === 'forbidden') wards = [];
    else wardsError = err;
  }
  if (ctxRef) ctxRef.rerender();
}

async function act(w, what) {
  const name = w.nickname || t('user.deleted');
  const ok = what === 'withdraw'
    ? await confirmDialog({ id: 'me-ward-withdraw-dialog', title: t('me.ward_withdraw'), text: t('me.ward_withdraw_confirm', { name }), confirm: t('me.ward_withdraw'), danger: true })
    : await confirmDialog({ id: 'me-ward-delete-dialog', title: t('me.ward_delete'), text: t('me.ward_delete_confirm', { name }), confirm: t('me.ward_delete'), danger: true, typed: t('me.delete_phrase') });
  if (!ok) return;
  busyWards.add(w.child_id);
  ctxRef.rerender();
  try {
    await getClient().api('POST', `/api/guardian/wards/${encodeURIComponent(w.child_id)}/${what === 'withdraw' ? 'withdraw' : 'deletion'}`);
    showToast(t(what === 'withdraw' ? 'me.ward_withdrawn' : 'me.ward_deleted', { name }));
  } catch (err) {
    showToast(errorText(err));
  } finally {
    busyWards.delete(w.child_id);
    loadWards();
  }
}

function wardItem(w) {
  const busy = busyWards.has(w.child_id);
  return el('li', { class: 'me-ward', 'data-child': String(w.child_id) },
    el('div', { class: 'me-ward-main' },
      el('p', {}, el('strong', { class: w.nickname ? 'me-user-data' : null, text: w.nickname || t('user.deleted') }), ' ',
        el('span', { class: 'small muted', text: t('profile.user_id') + ' ' + w.child_id })),
      el('p', { class: 'small' },
        el('span', { class: 'me-tag ' + (w.state === 'verified' ? 'me-tag-ok' : 'me-tag-off'), text: t('me.ward_state.' + w.state) }),
        ' ', el('span', { class: 'muted', text: formatDateTime(w.since) }))),
    w.state !== 'deletion_requested' ? el('div', { class: 'me-actions' },
      w.state === 'verified' ? el('button', {
        type: 'button', class: 'secondary me-small-btn', disabled: busy, id: 'me-ward-withdraw-' + w.child_id,
        text: t('me.ward_withdraw'), onclick: () => act(w, 'withdraw'),
      }) : null,
      el('button', {
        type: 'button', class: 'secondary danger me-small-btn', disabled: busy, id: 'me-ward-delete-' + w.child_id,
        text: t('me.ward_delete'), onclick: () => act(w, 'delete'),
      })) : null);
}

export function render() {
  let content;
  if (!wards) {
    content = wardsError
      ? el('p', { class: 'small error', role: 'alert' }, errorText(wardsError),
        isTransient(wardsError) ? [' ', el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: loadWards })] : null)
      : el('p', { class: 'small muted', text: t('status.loading') });
  } else if (!wards.length) {
    content = el('p', { class: 'small muted', text: t('me.no_wards') });
  } else {
    content = el('ul', { class: 'me-wards', id: 'me-wards' }, wards.map(wardItem));
  }
  return el('section', { class: 'me-card' },
    el('p', { class: 'small muted', text: t('me.wards_note') }),
    content);
}
