/**
 * The host's console of a room (view `host:<id>`): the room and its counts (viewers, likes,
 * comments, live), 开播 / 暂停 / 下播 (asked first), the pinned notice (置顶 / 取消置顶), the live
 * comments with the powers on each (删除, 禁言 for a chosen time, 解除禁言, 踢出, 拉黑, 设为场控),
 * the host's reply box, the helpers (场控: add by user id or from a comment, remove) and the
 * ban list (解除拉黑), and the 连线队列 (the appraisal queue and 呼叫下一位: live-call-host.js; the
 * call itself runs in live-call-view.js's screen). The host is a member of the room like a
 * viewer (room.join), so the stream and counts arrive as events.
 *
 *   const view = mountHost(root, { onBack, onViewer });
 *   view.open(7); view.close();
 *
 * @module pages/live-host
 */
import { t, errorText, onLocaleChange, formatDateTime } from '/static/js/i18n.js';
import { el, busy } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { categoryName, statusName, formatCount, mountComments, nickOf } from '/static/js/pages/live-common.js';
import { openManage } from '/static/js/pages/live-powers.js';
import { mountQueuePanel } from '/static/js/pages/live-call-host.js';
import { watchQueue, unwatchQueue } from '/static/js/pages/live-call-queue.js';
import {
  roomState, onLive, rejoin, startRoom, pauseRoom, endRoom, pin, addHelper, removeHelper, loadBans, unbanUser,
  sendComment, isTransient, PIN_MAX_CHARS, COMMENT_MAX_CHARS,
} from '/static/js/pages/live-data.js';

export function mountHost(root, { onBack, onViewer }) {
  const back = el('button', { type: 'button', id: 'live-host-back', class: 'icon-btn' }, icon('back'));
  const heading = el('h1', { class: 'page-title', id: 'live-host-heading' });
  const viewerBtn = el('button', { type: 'button', id: 'live-host-view', class: 'secondary small-btn' });
  const head = el('header', { class: 'page-head live-host-head' }, back, heading, viewerBtn);

  // The room and its controls.
  const title = el('h2', { id: 'live-host-title', class: 'live-host-title' });
  const status = el('span', { id: 'live-host-status', class: 'live-badge' });
  const sub = el('p', { class: 'small muted', id: 'live-host-sub' });
  const counts = el('dl', { class: 'live-counts', id: 'live-host-counts' });
  const startBtn = el('button', { type: 'button', id: 'live-start', class: 'primary' });
  const pauseBtn = el('button', { type: 'button', id: 'live-pause', class: 'secondary' });
  const endBtn = el('button', { type: 'button', id: 'live-end', class: 'danger' });
  const controlError = el('p', { id: 'live-host-error', class: 'form-error small', role: 'alert', hidden: true });
  const joinNote = el('p', { id: 'live-host-join', class: 'small muted', hidden: true });
  const roomCard = el('section', { class: 'live-card-box live-host-room' },
    el('div', { class: 'live-host-title-row' }, title, status), sub, counts,
    el('div', { class: 'live-host-actions' }, startBtn, pauseBtn, endBtn), controlError, joinNote);

  // The appraisal queue (连线队列).
  const queueCard = el('section', { class: 'live-card-box' });

  // The pinned notice.
  const pinHead = el('h2', { class: 'live-box-title' });
  const pinNow = el('p', { id: 'live-host-pinned', class: 'live-host-pinned small' });
  const pinInput = el('input', { id: 'live-pin-input', autocomplete: 'off', maxlength: PIN_MAX_CHARS * 2 });
  const pinLabel = el('label', { for: 'live-pin-input', class: 'sr-only' });
  const pinBtn = el('button', { type: 'submit', id: 'live-pin-btn', class: 'primary small-btn' });
  const unpinBtn = el('button', { type: 'button', id: 'live-unpin-btn', class: 'secondary small-btn' });
  const pinError = el('p', { class: 'form-error small', id: 'live-pin-error', role: 'alert', hidden: true });
  const pinForm = el('form', { class: 'row live-pin-form' }, pinLabel, pinInput, pinBtn);
  const pinCard = el('section', { class: 'live-card-box' }, pinHead, pinNow, pinForm, unpinBtn, pinError);

  // The comments, and the host's own reply.
  const streamHead = el('h2', { class: 'live-box-title' });
  const streamBox = el('div', { class: 'live-comments-wrap live-host-comments' });
  const sayInput = el('input', { id: 'live-host-input', autocomplete: 'off', enterkeyhint: 'send', maxlength: COMMENT_MAX_CHARS + 50 });
  const sayLabel = el('label', { for: 'live-host-input', class: 'sr-only' });
  const sayBtn = el('button', { type: 'submit', id: 'live-host-send', class: 'primary small-btn' });
  const sayError = el('p', { class: 'form-error small', id: 'live-host-say-error', role: 'alert', hidden: true });
  const sayForm = el('form', { class: 'row live-say-form' }, sayLabel, sayInput, sayBtn);
  const streamCard = el('section', { class: 'live-card-box live-host-stream' }, streamHead, streamBox, sayForm, sayError);

  // Helpers.
  const helpersHead = el('h2', { class: 'live-box-title' });
  const helpersNote = el('p', { class: 'small muted', id: 'live-helpers-note' });
  const helpersList = el('ul', { id: 'live-helpers', class: 'live-people' });
  const helperInput = el('input', { id: 'live-helper-id', inputmode: 'numeric', autocomplete: 'off', pattern: '[0-9]*' });
  const helperLabel = el('label', { for: 'live-helper-id', class: 'sr-only' });
  const helperBtn = el('button', { type: 'submit', id: 'live-helper-add', class: 'secondary small-btn' });
  const helperError = el('p', { class: 'form-error small', id: 'live-helper-error', role: 'alert', hidden: true });
  const helperForm = el('form', { class: 'row' }, helperLabel, helperInput, helperBtn);
  const helpersCard = el('section', { class: 'live-card-box' }, helpersHead, helpersNote, helpersList, helperForm, helperError);

  // The ban list.
  const bansHead = el('h2', { class: 'live-box-title' });
  const bansReload = el('button', { type: 'button', id: 'live-bans-load', class: 'link' });
  const bansList = el('ul', { id: 'live-bans', class: 'live-people' });
  const bansNote = el('p', { class: 'small muted', id: 'live-bans-note' });
  const bansCard = el('section', { class: 'live-card-box' }, el('div', { class: 'live-box-head' }, bansHead, bansReload), bansNote, bansList);

  root.replaceChildren(el('section', { id: 'live-host', class: 'live-host' }, head,
    // One column on a phone (the stream right under the controls); two from 900 px (live-host-body's grid).
    el('div', { class: 'live-host-body' }, roomCard, queueCard, streamCard, pinCard, helpersCard, bansCard)));

  let roomId = null;
  let queueRoom = null; // the room whose queue is watched
  const queuePanel = mountQueuePanel(queueCard, {
    isHost: () => {
      const s = roomState(roomId);
      return !!(s && ((s.me && s.me.host) || (store.me && s.room && s.room.host && s.room.host.id === store.me.id)));
    },
    roomStatus: () => {
      const s = roomState(roomId);
      return s && s.room ? s.room.status : null;
    },
  });
  const stream = mountComments(streamBox, {
    id: 'live-host-comments',
    showTime: true,
    manage: (c) => openManage(roomId, c, { host: true }),
    canManage: (c) => !!(c.user && c.user.id != null && !(store.me && c.user.id === store.me.id)),
  });

  const showErr = (node, err) => {
    node.textContent = typeof err === 'string' ? err : errorText(err);
    node.hidden = false;
  };

  function labels() {
    back.setAttribute('aria-label', t('action.back'));
    heading.textContent = t('live.console');
    viewerBtn.textContent = t('live.as_viewer');
    pinHead.textContent = t('live.pin_title');
    pinLabel.textContent = t('live.pin_label');
    pinInput.placeholder = t('live.pin_placeholder');
    pinBtn.textContent = t('live.pin');
    unpinBtn.textContent = t('live.unpin');
    streamHead.textContent = t('live.comments');
    sayLabel.textContent = t('live.comment_label');
    sayInput.placeholder = t('live.host_say_placeholder');
    sayBtn.textContent = t('action.send');
    helpersHead.textContent = t('live.helpers');
    helperLabel.textContent = t('live.helper_id_label');
    helperInput.placeholder = t('live.helper_id_placeholder');
    helperBtn.textContent = t('live.helper_add');
    bansHead.textContent = t('live.bans');
    bansReload.textContent = t('action.refresh');
  }

  function renderRoom(s) {
    const r = s.room || {};
    title.textContent = r.title || '';
    status.className = 'live-badge live-badge-' + (r.status || 'scheduled');
    status.textContent = statusName(r.status);
    sub.textContent = [r.category ? categoryName(r.category) : '', r.started_at ? t('live.started_at', { time: formatDateTime(r.started_at) }) : '']
      .filter(Boolean).join(t('list.separator'));
    const fact = (id, label, value) => [el('dt', { text: label }), el('dd', { id, text: value })];
    counts.replaceChildren(
      ...fact('live-host-viewers', t('live.count_viewers'), formatCount(r.viewers || 0)),
      ...fact('live-host-likes', t('live.count_likes'), formatCount(Math.max(s.likes || 0, r.likes || 0))));
    const ended = r.status === 'ended';
    startBtn.hidden = ended || r.status === 'live';
    startBtn.textContent = r.status === 'paused' ? t('live.resume') : t('live.start');
    pauseBtn.hidden = r.status !== 'live';
    pauseBtn.textContent = t('live.pause');
    endBtn.hidden = ended;
    endBtn.textContent = t('live.end');
    const failed = s.error && !s.joined;
    joinNote.hidden = !(ended || failed || !s.joined);
    joinNote.textContent = ended ? t('live.ended_note') : failed ? errorText(s.error) : t('live.joining');
    if (failed && isTransient(s.error)) {
      joinNote.append(' ', el('button', { type: 'button', class: 'link', id: 'live-host-rejoin', text: t('action.retry'), onclick: () => rejoin(roomId) }));
    }
    for (const b of [startBtn, pauseBtn, endBtn]) if (b.dataset.busy !== '1') b.disabled = !!failed && !s.room;
    pinNow.textContent = r.pinned ? t('live.pinned_now', { text: r.pinned }) : t('live.pinned_none');
    unpinBtn.hidden = !r.pinned || ended;
    pinForm.hidden = ended;
    sayForm.hidden = ended;
    const open = s.joined && !ended;
    pinInput.disabled = !open;
    pinBtn.disabled = !open;
    sayInput.disabled = !(s.joined && r.status === 'live');
    sayBtn.disabled = sayInput.disabled;
    viewerBtn.hidden = ended;
  }

  function person(u, extra, action) {
    return el('li', { class: 'live-person', dataset: { userId: u && u.id != null ? String(u.id) : '' } },
      avatarView(u, { size: 32 }),
      el('span', { class: 'live-person-main' }, el('span', { class: 'live-person-name', text: nickOf(u) }),
        extra ? el('span', { class: 'small muted', text: extra }) : null),
      action);
  }

  function renderHelpers(s) {
    const list = s.helpers || [];
    helpersNote.textContent = s.helpers == null ? t('live.helpers_unknown') : list.length ? t('live.helpers_note') : t('live.helpers_none');
    helpersList.replaceChildren(...list.map((u) => person(u, t('live.user_id', { id: u.id }), el('button', {
      type: 'button', class: 'link live-helper-remove', text: t('live.helper_remove'),
      'aria-label': t('live.helper_remove_named', { name: nickOf(u) }),
      onclick: (e) => busy(e.currentTarget, async () => {
        try { await removeHelper(roomId, u.id); showToast(t('live.done.helper_removed', { name: nickOf(u) })); } catch (err) { showErr(helperError, err); }
      }),
    }))));
  }

  function renderBans(s) {
    const bans = s.bans;
    bansNote.hidden = !!(bans && bans.length) && !s.bansError;
    bansNote.textContent = s.bansError ? errorText(s.bansError) : bans == null ? t('status.loading') : t('live.bans_none');
    bansList.replaceChildren(...(bans || []).map((b) => person(b.user,
      [b.reason ? t('live.ban_reason', { reason: b.reason }) : null, formatDateTime(b.at)].filter(Boolean).join(t('list.separator')),
      el('button', {
        type: 'button', class: 'link live-unban', text: t('live.unban'), 'aria-label': t('live.unban_named', { name: nickOf(b.user) }),
        onclick: (e) => busy(e.currentTarget, async () => {
          try { await unbanUser(roomId, b.user.id); showToast(t('live.done.unbanned', { name: nickOf(b.user) })); } catch (err) { showErr(bansNote, err); }
        }),
      }))));
  }

  function render(parts = null) {
    const s = roomState(roomId);
    if (!s) return;
    labels();
    const all = !parts;
    if (all || ['room', 'status', 'stats', 'pinned', 'join', 'comments', 'me'].some((p) => parts.has(p))) renderRoom(s);
    if (all || parts.has('helpers')) renderHelpers(s);
    if (all || parts.has('bans')) renderBans(s);
    if (all || parts.has('room') || parts.has('status') || parts.has('me') || parts.has('join')) queuePanel.render();
    if (all || parts.has('comments') || parts.has('pending') || parts.has('reset')) stream.render(s);
  }

  async function control(button, fn, done) {
    controlError.hidden = true;
    await busy(button, async () => {
      try {
        await fn(roomId);
        if (done) showToast(done);
      } catch (err) {
        showErr(controlError, err);
      }
    });
    render();
  }

  back.addEventListener('click', () => onBack());
  viewerBtn.addEventListener('click', () => onViewer(roomId));
  startBtn.addEventListener('click', () => control(startBtn, startRoom, null));
  pauseBtn.addEventListener('click', () => control(pauseBtn, pauseRoom, null));
  endBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({ id: 'live-end-confirm', title: t('live.end_title'), text: t('live.end_confirm'), confirm: t('live.end'), danger: true });
    if (ok) control(endBtn, endRoom, t('live.done.ended'));
  });
  pinForm.addEventListener('submit', (e) => {
    e.preventDefault();
    const text = pinInput.value.trim();
    pinError.hidden = true;
    if (!text) return showErr(pinError, t('live.pin_required'));
    if ([...text].length > PIN_MAX_CHARS) return showErr(pinError, t('live.pin_too_long', { max: PIN_MAX_CHARS }));
    busy(pinBtn, async () => {
      try { await pin(roomId, text); pinInput.value = ''; showToast(t('live.done.pinned')); } catch (err) { showErr(pinError, err); }
    });
  });
  unpinBtn.addEventListener('click', () => busy(unpinBtn, async () => {
    pinError.hidden = true;
    try { await pin(roomId, null); showToast(t('live.done.unpinned')); } catch (err) { showErr(pinError, err); }
  }));
  sayForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = sayInput.value.trim();
    sayError.hidden = true;
    if (!text) return;
    if ([...text].length > COMMENT_MAX_CHARS) return showErr(sayError, t('live.comment_too_long', { max: COMMENT_MAX_CHARS }));
    sayInput.value = '';
    stream.toBottom();
    try { await sendComment(roomId, text); } catch (err) {
      if (!sayInput.value) sayInput.value = text;
      showErr(sayError, err);
    }
  });
  helperForm.addEventListener('submit', (e) => {
    e.preventDefault();
    helperError.hidden = true;
    const v = helperInput.value.trim();
    if (!/^\d{1,15}$/.test(v)) return showErr(helperError, t('live.helper_id_invalid'));
    busy(helperBtn, async () => {
      try { await addHelper(roomId, Number(v)); helperInput.value = ''; showToast(t('live.done.helper_added')); } catch (err) { showErr(helperError, err); }
    });
  });
  bansReload.addEventListener('click', () => busy(bansReload, () => loadBans(roomId)));

  onLive((id, parts) => { if (id === roomId) render(parts); });
  onLocaleChange(() => { if (roomId != null) { stream.reset(); render(); } });
  labels();

  return {
    open(id) {
      if (roomId !== id) {
        roomId = id;
        stream.reset();
        for (const n of [controlError, pinError, sayError, helperError]) n.hidden = true;
        pinInput.value = '';
        sayInput.value = '';
        helperInput.value = '';
        loadBans(id);
        if (queueRoom != null) unwatchQueue(queueRoom);
        queueRoom = id;
        watchQueue(id);
      }
      queuePanel.open(id);
      render();
    },
    close() {
      if (queueRoom != null) unwatchQueue(queueRoom);
      queueRoom = null;
      queuePanel.close();
      roomId = null;
    },
  };
}
