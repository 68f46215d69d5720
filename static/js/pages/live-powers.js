/**
 * The host powers on one comment (the host's console, and a helper's 场控 on the spectator
 * page): 删除 the comment, 禁言 its author for a chosen time, 踢出, 拉黑 (asked first), and, for
 * the host, 设为场控. An action sheet (`#live-manage-dialog`), then the follow-up dialog. On the
 * spectator page the sheet also offers 举报 (`report: true`); a spectator without powers gets
 * the same sheet with 举报 only (`powers: false`). 举报 opens the report dialog of report.js
 * (`report.create` with target `room_comment`, or `room` for the room itself).
 *
 *   openManage(roomId, comment, { host: true });
 *   openManage(roomId, comment, { powers: false, report: true });
 *   reportComment(roomId, comment); reportRoom(room);
 *
 * @module pages/live-powers
 */
import { t, errorText, formatUntil } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { openDialog, confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { nickOf } from '/static/js/pages/live-common.js';
import { openReport } from '/static/js/pages/report.js';
import { removeComment, muteUser, unmuteUser, kickUser, banUser, addHelper } from '/static/js/pages/live-data.js';

/** The mute lengths offered (1 s – 30 days are allowed). */
export const MUTE_CHOICES = Object.freeze([
  ['5m', 5 * 60000], ['10m', 10 * 60000], ['1h', 3600000], ['1d', 86400000], ['7d', 7 * 86400000], ['30d', 30 * 86400000],
]);
const DEFAULT_MUTE = '10m';

/** Runs `fn` with the dialog busy; closes it and toasts `done` on success, shows the error otherwise. */
async function act(d, fn, done) {
  d.setBusy(true);
  d.setError('');
  try {
    const res = await fn();
    d.close();
    if (done) showToast(typeof done === 'function' ? done(res) : done);
    return res;
  } catch (err) {
    d.setBusy(false);
    d.setError(errorText(err));
    return null;
  }
}

const excerpt = (text, max) => {
  const chars = [...(text || '')];
  return chars.slice(0, max).join('') + (chars.length > max ? '…' : '');
};

/** 举报 a comment of room `roomId` (not one's own: the caller offers it only on others'). */
export function reportComment(roomId, comment) {
  return openReport({
    title: t('live.report_comment'),
    subject: t('live.report_comment_subject', { name: nickOf(comment.user), text: excerpt(comment.text, 60) }),
    data: { target: 'room_comment', room_id: Number(roomId), seq: comment.seq },
  });
}

/** 举报 the room `room` ({id, title}; not one's own). */
export function reportRoom(room) {
  return openReport({
    title: t('live.report_room'),
    subject: room.title || '',
    data: { target: 'room', room_id: Number(room.id) },
  });
}

/**
 * The action sheet for `comment` in room `roomId`. `host`: the viewer is the room's host (a
 * helper cannot appoint helpers). `powers`: false for a spectator without host powers (the
 * sheet then has 举报 only). `report`: offer 举报 (the spectator page).
 */
export function openManage(roomId, comment, { host = false, powers = true, report = false } = {}) {
  const user = comment.user || {};
  const name = nickOf(user);
  const quote = excerpt(comment.text, 40);
  const btn = (id, label, onclick, danger = false) => el('button', {
    type: 'button', id, class: (danger ? 'danger' : 'secondary') + ' block live-sheet-btn', text: label, onclick,
  });
  let d = null;
  const sheet = el('div', { class: 'live-sheet' },
    el('div', { class: 'live-sheet-who' }, avatarView(user, { size: 40 }),
      el('div', { class: 'live-sheet-text' },
        el('strong', { class: 'live-sheet-name', text: name }),
        el('span', { class: 'small muted live-sheet-quote', text: quote }))),
    powers ? btn('live-act-remove', t('live.act.remove'), () => act(d, () => removeComment(roomId, comment.seq), t('live.done.removed'))) : null,
    powers && user.id != null ? btn('live-act-mute', t('live.act.mute'), () => { d.close(); openMute(roomId, user); }) : null,
    powers && user.id != null ? btn('live-act-unmute', t('live.act.unmute'), () => act(d, () => unmuteUser(roomId, user.id),
      t('live.done.unmuted', { name }))) : null,
    powers && user.id != null ? btn('live-act-kick', t('live.act.kick'), () => act(d, () => kickUser(roomId, user.id),
      (res) => t('live.done.kicked', { name, until: formatUntil(res && res.until) }))) : null,
    powers && user.id != null ? btn('live-act-ban', t('live.act.ban'), async () => {
      const ok = await confirmDialog({ id: 'live-ban-confirm', title: t('live.act.ban'), text: t('live.ban_confirm', { name }),
        confirm: t('live.act.ban'), danger: true });
      if (ok) act(d, () => banUser(roomId, user.id), t('live.done.banned', { name }));
    }, true) : null,
    powers && host && user.id != null ? btn('live-act-helper', t('live.act.helper'), () => act(d, () => addHelper(roomId, user.id),
      t('live.done.helper', { name }))) : null,
    report ? btn('live-act-report', t('live.report_comment'), () => { d.close(); reportComment(roomId, comment); }) : null);
  d = openDialog({ id: 'live-manage-dialog', title: t(powers ? 'live.manage_title' : 'live.comment_title'), body: sheet,
    actions: [{ label: t('action.cancel') }] });
  return d;
}

/** 禁言: the length to choose (10 minutes ticked), then room.mute. */
export function openMute(roomId, user) {
  const name = nickOf(user);
  const chips = el('fieldset', { class: 'chips live-mute-chips' },
    el('legend', { text: t('live.mute_how_long', { name }) }),
    ...MUTE_CHOICES.map(([key, ms]) => el('label', { class: 'chip' },
      el('input', { type: 'radio', name: 'live-mute-dur', value: String(ms), checked: key === DEFAULT_MUTE, id: 'live-mute-' + key }),
      el('span', { text: t('live.mute.' + key) }))));
  const d = openDialog({
    id: 'live-mute-dialog',
    title: t('live.act.mute'),
    body: chips,
    actions: [
      { label: t('action.cancel') },
      {
        label: t('live.act.mute'), primary: true, id: 'live-mute-ok',
        onClick: (h) => {
          const picked = chips.querySelector('input:checked');
          const ms = picked ? Number(picked.value) : 600000;
          act(h, () => muteUser(roomId, user.id, ms), (res) => t('live.done.muted', { name, until: formatUntil(res && res.muted_until) }));
        },
      },
    ],
  });
  return d;
}
