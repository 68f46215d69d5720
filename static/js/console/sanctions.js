/**
 * Acting on a user (`mod.act`: warn, mute, suspend, lift) with a reason the user sees and the
 * audit log keeps, and the live list of what moderators just did (`mod.acted`).
 *
 * @module console/sanctions
 */
import { el, $, clear, busy } from '/static/js/ui/dom.js';
import { t, formatDateTime, formatTime } from '/static/js/i18n.js';
import { setLine, say } from './text.js';
import { client, state, meId, online, lookupUser, userNodes, ACTED_KEEP } from './state.js';
import { actionLabel } from './queue.js';
import { auditSoon } from './audit.js';

let acted = []; // newest first: {d, at}

export function startSanctions() {
  $('act-action').addEventListener('change', syncDurationRow);
  syncDurationRow();
  $('act-lookup').addEventListener('click', showUserInfo);
  $('act-user').addEventListener('change', showUserInfo);
  const submit = $('act-submit');
  $('act-form').addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, submitAct);
  });
}

/** Forgets the list and the form's messages (log-out). */
export function resetSanctions() {
  acted = [];
  $('acted-list').replaceChildren();
  setLine($('act-msg'), null);
  $('act-user-info').hidden = true;
}

/** From a card's 处理此用户: the user goes into the form, the form comes into view. */
export function pickUser(userId) {
  $('act-user').value = userId;
  showUserInfo();
  $('act-panel').scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  $('act-reason').focus({ preventScroll: true });
}

/** Shows who the user of the form is (called again after a language switch). */
export async function showUserInfo() {
  const id = parseInt($('act-user').value, 10);
  const info = $('act-user-info');
  if (!(id > 0)) {
    info.hidden = true;
    return;
  }
  info.hidden = false;
  if (!state.userInfo.has(id)) info.textContent = t('status.loading');
  const u = await lookupUser(id);
  if (parseInt($('act-user').value, 10) !== id) return;
  if (u) clear(info, '#' + id + ' · ', userNodes(u));
  else clear(info, t('console.act.no_user', { id }));
}

// A mute always has an end; a suspension may last until it is lifted.
function syncDurationRow() {
  const action = $('act-action').value;
  $('act-duration-row').hidden = !(action === 'mute' || action === 'suspend');
  const forever = $('act-duration-forever');
  forever.hidden = action !== 'suspend';
  forever.disabled = action !== 'suspend';
  if (action !== 'suspend' && $('act-duration').value === '') $('act-duration').value = '86400000';
}

const actMsg = (key, params, opts) => setLine($('act-msg'), key, params, opts);

// {"id","user_id","kind","until","reason","created_by","created_at"}
function sanctionParams(s) {
  return {
    id: s.id,
    kind: () => actionLabel(s.kind),
    until: () => (s.kind === 'warn' ? '' : s.until ? t('console.act.until_part', { time: formatDateTime(s.until) }) : t('console.act.forever_part')),
  };
}

async function submitAct() {
  actMsg(null);
  const userId = parseInt($('act-user').value, 10);
  if (!(userId > 0)) {
    actMsg('console.act.need_user', null, { cls: 'error' });
    $('act-user').focus();
    return;
  }
  const action = $('act-action').value;
  const reason = $('act-reason').value.trim();
  // Every action, a lift too, is audited with its reason.
  if (!reason) {
    actMsg('console.act.need_reason', null, { cls: 'error' });
    $('act-reason').focus();
    return;
  }
  if (userId === meId()) {
    actMsg('console.act.not_self', null, { cls: 'error' });
    return;
  }
  const data = { user_id: userId, action, reason };
  const dur = $('act-duration').value;
  if (action === 'mute' || (action === 'suspend' && dur !== '')) data.duration_ms = Number(dur);
  if (!online()) {
    actMsg('console.act.offline', null, { cls: 'error' });
    return;
  }
  try {
    const r = await client.request('mod.act', data);
    state.actUnavailable = false;
    const base = { action: () => actionLabel(action), user: userId };
    if (r.sanction) {
      actMsg('console.act.done_sanction', Object.assign(base, sanctionParams(r.sanction)), { cls: 'ok' });
    } else if (typeof r.lifted === 'number') {
      actMsg(r.lifted ? 'console.act.done_lifted' : 'console.act.done_nothing', Object.assign(base, { count: r.lifted }),
        { cls: r.lifted ? 'ok' : 'info' });
    } else {
      actMsg('console.act.done', base, { cls: 'ok' });
    }
    $('act-reason').value = '';
    auditSoon();
  } catch (err) {
    if (err.code === 'unknown_type') {
      state.actUnavailable = true;
      actMsg('console.not_available', { what: 'mod.act' }, { cls: 'unavailable' });
    } else {
      actMsg('console.act.failed', null, { err, cls: 'error' });
    }
  }
}

/** A `mod.acted` event: a line at the top of 最近的处理. */
export function addActed(d) {
  if (!d) return;
  const at = Date.now();
  const line = say(el('li'), 'console.act.line', {
    time: () => formatTime(at), by: d.by, user: d.user_id, action: () => actionLabel(d.action),
    until: () => (d.until ? t('console.act.until_part', { time: formatDateTime(d.until) })
      : d.action === 'suspend' ? t('console.act.forever_part') : ''),
  });
  acted.unshift(line);
  acted.length = Math.min(acted.length, ACTED_KEEP);
  const list = $('acted-list');
  list.prepend(line);
  while (list.children.length > ACTED_KEEP) list.lastChild.remove();
}
