/**
 * The audit log (`mod.audit`): who decided or sanctioned what, newest first; reloaded a moment
 * after each decision or sanction once it has been shown.
 *
 * @module console/audit
 */
import { el, $, busy } from '/static/js/ui/dom.js';
import { t, formatDateTime, formatRelative } from '/static/js/i18n.js';
import { say, setLine, tx } from './text.js';
import { client, state, online } from './state.js';
import { actionLabel } from './queue.js';

let timer = null;

export function startAudit() {
  const btn = $('audit-refresh');
  btn.addEventListener('click', () => busy(btn, loadAudit));
  $('audit-limit').addEventListener('change', () => { if (state.auditLoaded) loadAudit(); });
}

export function resetAudit() {
  clearTimeout(timer);
  $('audit-body').replaceChildren();
  $('audit-table').hidden = true;
  setLine($('audit-msg'), null);
}

export function auditSoon() {
  if (!state.auditLoaded || state.auditUnavailable) return;
  clearTimeout(timer);
  timer = setTimeout(loadAudit, 800);
}

const msg = (key, params, opts) => setLine($('audit-msg'), key, params, opts);

// One cell; data-label names its column where the rows stack (phone width).
function cell(cls, labelKey, props, key, params) {
  const td = key ? tx('td', Object.assign({ class: cls }, props), key, params) : el('td', Object.assign({ class: cls }, props));
  return say(td, 'console.audit.cell', { label: () => t(labelKey) }, { attr: 'data-label' });
}

export async function loadAudit() {
  if (!online()) {
    msg('console.act.offline', null, { cls: 'error' });
    return;
  }
  const me = state.me;
  const limit = Number($('audit-limit').value) || 50;
  try {
    const r = await client.request('mod.audit', { limit });
    if (me !== state.me) return;
    state.auditUnavailable = false;
    state.auditLoaded = true;
    const entries = r.entries || [];
    const at = Date.now();
    $('audit-body').replaceChildren(...entries.map((e) => {
      const when = cell('when', 'console.audit.when', {}, 'console.raw', { text: () => formatRelative(e.at) });
      say(when, 'console.raw', { text: () => formatDateTime(e.at) }, { attr: 'title' });
      const reason = cell('reason user-content', 'console.audit.reason', { text: e.reason || '' });
      return el('tr', {},
        when,
        cell('actor', 'console.audit.actor', { text: e.actor_id != null ? '#' + e.actor_id : '' }),
        cell('action', 'console.audit.action', {}, 'console.raw', { text: () => actionLabel(e.action) }),
        cell('item-ref', 'console.audit.item', { text: e.item_id != null ? '#' + e.item_id : '' }),
        cell('target', 'console.audit.target', { text: e.target_user_id != null ? '#' + e.target_user_id : '' }),
        reason);
    }));
    $('audit-table').hidden = entries.length === 0;
    if (entries.length) msg('console.audit.count', { count: entries.length, time: () => formatDateTime(at) }, { cls: 'muted' });
    else msg('console.audit.none', null, { cls: 'muted' });
  } catch (err) {
    if (me !== state.me) return;
    if (err.code === 'unknown_type') {
      state.auditUnavailable = true;
      $('audit-table').hidden = true;
      msg('console.not_available', { what: 'mod.audit' }, { cls: 'unavailable' });
    } else {
      msg('console.audit.failed', null, { err, cls: 'error' });
    }
  }
}
