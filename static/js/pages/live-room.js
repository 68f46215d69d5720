/**
 * A live room as a viewer sees it (view `room:<id>`): the 16:9 stage (the picture comes later:
 * it says so), 直播中 / 暂停中 / 已结束, title, host, viewers and likes as they change
 * (`room.stats`), the pinned notice, the comments (newest at the bottom, 昵称：text), the
 * composer (`room.comment`; errors through errorText, a host's mute disables it with its end),
 * 点赞 (taps batched by live-data.js, a small heart floats up), back. A helper (场控) gets the
 * host powers on each comment; the host a way to their console. Everyone but the host can 举报
 * a comment that is not their own (its ⋯: the 管理 sheet for a helper, a sheet with 举报 for
 * anyone else) and the room itself (the header's ⋯ → 举报直播间). Under the room's line, the
 * appraisal queue (申请连线鉴定, the place in it, 取消排队: live-call-join.js); on the stage, while
 * the host is in a call, 正在为某某连线鉴定 (`room.call.state`).
 *
 *   const view = mountRoom(root, { onBack, onHost });
 *   view.open(7); view.close();
 *
 * @module pages/live-room
 */
import { t, errorText, onLocaleChange, formatUntil } from '/static/js/i18n.js';
import { el, clear } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { categoryName, statusName, formatCount, heartIcon, mountComments, nickOf, showCover } from '/static/js/pages/live-common.js';
import { openManage, reportRoom } from '/static/js/pages/live-powers.js';
import { openShare } from '/static/js/pages/community-share.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { mountCallJoin } from '/static/js/pages/live-call-join.js';
import { queueState, onQueue, watchQueue, unwatchQueue } from '/static/js/pages/live-call-queue.js';
import {
  roomState, onLive, rejoin, sendComment, tapLike, mutedUntil, isTransient, COMMENT_MAX_CHARS,
} from '/static/js/pages/live-data.js';

const ARRIVAL_MS = 4000;

export function mountRoom(root, { onBack, onHost }) {
  const back = el('button', { type: 'button', id: 'live-back', class: 'icon-btn live-back' }, icon('back'));
  const host = el('div', { class: 'live-room-host', id: 'live-room-host' });
  const viewers = el('span', { id: 'live-viewers', class: 'live-viewers small' });
  const toHost = el('button', { type: 'button', id: 'live-to-host', class: 'secondary small-btn', hidden: true });
  const more = el('button', { type: 'button', id: 'live-room-more', class: 'icon-btn live-room-more', hidden: true, 'aria-haspopup': 'dialog' },
    icon('more'));
  const head = el('header', { class: 'live-room-head' }, back, host, viewers, toHost, more);

  const status = el('span', { id: 'live-status', class: 'live-badge' });
  const stageNote = el('p', { id: 'live-stage-note', class: 'live-stage-note' });
  const floats = el('div', { class: 'live-floats', 'aria-hidden': 'true' });
  const callBanner = el('p', { id: 'live-call-banner', class: 'live-call-banner small', role: 'status', hidden: true });
  const stage = el('div', { id: 'live-stage', class: 'live-stage' },
    el('span', { class: 'live-stage-icon', 'aria-hidden': 'true' }, icon('live', { size: 40 })), stageNote, status, callBanner, floats);

  const title = el('h1', { id: 'live-room-title', class: 'live-room-title' });
  const meta = el('p', { id: 'live-room-meta', class: 'small muted live-room-meta' });
  const pinnedText = el('span', { id: 'live-pinned-text', class: 'live-pinned-text' });
  const pinnedLabel = el('span', { class: 'live-pinned-label' });
  const pinned = el('p', { id: 'live-pinned', class: 'live-pinned', hidden: true }, pinnedLabel, pinnedText);
  const info = el('div', { class: 'live-info' }, title, meta, pinned);
  const callBox = el('div', { class: 'live-call-box' });

  const arrival = el('p', { id: 'live-arrival', class: 'live-arrival small', hidden: true, 'aria-hidden': 'true' });
  const commentsBox = el('div', { class: 'live-comments-wrap' });
  const joinNote = el('div', { id: 'live-room-error', class: 'live-room-error', hidden: true });

  const muteNote = el('p', { id: 'live-mute-note', class: 'live-mute-note small', role: 'status', hidden: true });
  const composerError = el('p', { id: 'live-composer-error', class: 'form-error small live-composer-error', role: 'alert', hidden: true });
  const input = el('input', { id: 'live-input', type: 'text', enterkeyhint: 'send', autocomplete: 'off', maxlength: COMMENT_MAX_CHARS + 50 });
  const inputLabel = el('label', { for: 'live-input', class: 'sr-only' });
  const send = el('button', { type: 'submit', id: 'live-send', class: 'primary live-send' });
  const likeCount = el('span', { id: 'live-like-count', class: 'live-like-count' });
  const like = el('button', { type: 'button', id: 'live-like-btn', class: 'live-like' }, heartIcon(26), likeCount);
  const composer = el('form', { id: 'live-composer', class: 'live-composer' }, inputLabel, input, send, like);
  const bottom = el('div', { class: 'live-bottom' }, muteNote, composerError, composer);

  const side = el('div', { class: 'live-room-side' }, arrival, commentsBox, joinNote, bottom);
  const mainCol = el('div', { class: 'live-room-main' }, stage, info, callBox);
  root.replaceChildren(el('section', { class: 'live-room', id: 'live-room' }, head, el('div', { class: 'live-room-body' }, mainCol, side)));

  let roomId = null;
  let muteTimer = null;
  let arrivalTimer = null;
  let lastErr = null;
  let queueRoom = null; // the room whose queue is watched
  const imHost = (s) => !!(s && ((s.me && s.me.host) ||
    (store.me && s.room && s.room.host && s.room.host.id != null && s.room.host.id === store.me.id)));
  const mine = (c) => !!(store.me && c.user && c.user.id != null && c.user.id === store.me.id);
  const canManage = (c) => {
    const s = roomState(roomId);
    if (!s || !s.me || !(s.me.helper || s.me.host) || !c.user || c.user.id == null) return false;
    const hostId = s.room && s.room.host ? s.room.host.id : null;
    return c.user.id !== hostId && !mine(c);
  };
  const stream = mountComments(commentsBox, {
    manage: (c) => {
      const s = roomState(roomId);
      const host = imHost(s);
      openManage(roomId, c, { host, powers: canManage(c), report: !host });
    },
    canManage,
    // 举报: anyone in the room but the host, on any comment not their own.
    canMore: (c) => {
      const s = roomState(roomId);
      return !!(s && s.me && store.me) && !imHost(s) && !mine(c);
    },
  });

  const callBar = mountCallJoin(callBox, {
    roomInfo: () => {
      const s = roomState(roomId);
      return { host: imHost(s), status: s && s.room ? s.room.status : null, joined: !!(s && s.joined) };
    },
  });

  // 正在为某某连线鉴定 while the room's call is connected.
  function renderCallBanner() {
    const q = roomId != null ? queueState(roomId) : null;
    const c = q && q.call;
    const on = !!c && c.state === 'connected' && !!c.guest;
    callBanner.hidden = !on;
    callBanner.textContent = on ? t('live.call.banner', { name: nickOf(c.guest) }) : '';
  }

  function labels() {
    back.setAttribute('aria-label', t('action.back'));
    more.setAttribute('aria-label', t('live.room_more'));
    toHost.textContent = t('live.to_console');
    inputLabel.textContent = t('live.comment_label');
    send.textContent = t('action.send');
    like.setAttribute('aria-label', t('live.like'));
    stageNote.textContent = t('live.stage_soon');
    pinnedLabel.textContent = t('live.pinned_label');
  }

  function renderHead(s) {
    const r = s.room || {};
    const hostUser = r.host || {};
    host.replaceChildren(avatarView(hostUser, { size: 36 }),
      el('span', { class: 'live-room-host-text' },
        el('strong', { id: 'live-host-name', class: 'live-host-name', text: hostUser.nickname || '' }),
        el('span', { class: 'small muted', text: s.me && s.me.helper ? t('live.you_helper') : t('live.host_role') })));
    viewers.textContent = r.viewers != null ? t('live.viewers', { count: formatCount(r.viewers), n: r.viewers }) : '';
    toHost.hidden = !(s.me && s.me.host);
    more.hidden = !s.room || !store.me;
  }

  // The header's ⋯: 分享直播间 (a 口令 to paste elsewhere) and, but for the host, 举报直播间.
  function openRoomMenu() {
    const s = roomState(roomId);
    if (!s || !s.room) return null;
    const room = Object.assign({ id: roomId }, s.room);
    let d = null;
    const sheet = el('div', { class: 'live-sheet' },
      el('button', {
        type: 'button', id: 'live-share-room', class: 'secondary block live-sheet-btn', text: t('live.share_room'),
        onclick: () => { d.close(); openShare({ target: 'room', id: roomId, title: room.title }); },
      }),
      imHost(s) ? null : el('button', {
        type: 'button', id: 'live-report-room', class: 'secondary block live-sheet-btn', text: t('live.report_room'),
        onclick: () => { d.close(); reportRoom(room); },
      }));
    d = openDialog({ id: 'live-room-menu', title: t('live.room_more'), body: sheet, actions: [{ label: t('action.cancel') }] });
    return d;
  }

  function renderStage(s) {
    const r = s.room || {};
    status.className = 'live-badge live-badge-' + (r.status || 'scheduled');
    status.textContent = statusName(r.status);
    stage.classList.toggle('is-live', r.status === 'live');
    stage.classList.toggle('is-ended', r.status === 'ended');
    // The room's cover (an approved post photo) behind the stage's note, dimmed; none: the dark stage.
    showCover(stage, r.cover != null ? r.cover : null);
    stageNote.textContent = r.status === 'ended' ? t('live.stage_ended') : r.status === 'paused' ? t('live.stage_paused')
      : r.status === 'scheduled' ? t('live.stage_scheduled') : t('live.stage_soon');
    title.textContent = r.title || '';
    meta.textContent = [r.category ? categoryName(r.category) : null].filter(Boolean).join(t('list.separator'));
    pinned.hidden = !r.pinned;
    pinnedText.textContent = r.pinned || '';
  }

  function renderLikes(s) {
    likeCount.textContent = formatCount(s.likes || 0);
    like.dataset.count = String(s.likes || 0);
  }

  function renderComposer(s) {
    const r = s.room || {};
    const until = mutedUntil(roomId);
    const live = r.status === 'live';
    const canSend = s.joined && live && !until;
    input.disabled = !canSend;
    send.disabled = !canSend;
    like.disabled = !(s.joined && live);
    composer.classList.toggle('is-muted', !!until);
    muteNote.hidden = !until;
    muteNote.textContent = until ? t('live.muted_until', { until: formatUntil(until) }) : '';
    input.placeholder = r.status === 'ended' ? t('live.ended_placeholder')
      : until ? t('live.muted_placeholder')
        : !s.joined ? t('live.joining')
          : r.status === 'paused' ? t('live.paused_placeholder')
            : r.status === 'scheduled' ? t('live.scheduled_placeholder') : t('live.comment_placeholder');
    clearTimeout(muteTimer);
    if (until) muteTimer = setTimeout(() => render(), Math.min(until - Date.now() + 200, 2147483000));
  }

  function renderJoin(s) {
    const err = s.error;
    const failed = !!err && !s.joined;
    joinNote.hidden = !failed && s.drawn;
    commentsBox.hidden = failed || !s.drawn;
    bottom.hidden = failed;
    if (failed) {
      joinNote.replaceChildren(el('p', { id: 'live-room-error-text', class: 'live-room-error-text', text: errorText(err) }),
        el('div', { class: 'live-room-error-actions' },
          isTransient(err) ? el('button', { type: 'button', class: 'primary small-btn', id: 'live-rejoin', text: t('action.retry'),
            onclick: () => rejoin(roomId) }) : null,
          el('button', { type: 'button', class: 'secondary small-btn', id: 'live-error-back', text: t('live.back_to_list'), onclick: () => onBack() })));
    } else if (!s.drawn) {
      joinNote.replaceChildren(el('p', { class: 'muted live-room-joining', text: t('live.joining') }));
    } else {
      joinNote.replaceChildren();
    }
  }

  function render(parts = null) {
    const s = roomState(roomId);
    if (!s) return;
    const all = !parts;
    labels();
    if (all || parts.has('room') || parts.has('me') || parts.has('stats') || parts.has('join')) renderHead(s);
    if (all || parts.has('room') || parts.has('status') || parts.has('pinned') || parts.has('join')) renderStage(s);
    if (all || parts.has('stats') || parts.has('join')) renderLikes(s);
    if (all || parts.has('status') || parts.has('me') || parts.has('join') || parts.has('room')) renderComposer(s);
    if (all || parts.has('join')) renderJoin(s);
    if (parts && parts.has('me')) stream.reset();
    if (all || parts.has('comments') || parts.has('pending') || parts.has('me') || parts.has('reset')) stream.render(s);
    if (parts && parts.has('arrival') && s.arrival) showArrival(s.arrival);
    if (all || parts.has('room') || parts.has('status') || parts.has('me') || parts.has('join')) callBar.render();
    if (all) renderCallBanner();
  }

  function showArrival(a) {
    arrival.textContent = t('live.arrived', { name: nickOf(a.user) });
    arrival.hidden = false;
    clearTimeout(arrivalTimer);
    arrivalTimer = setTimeout(() => { arrival.hidden = true; }, ARRIVAL_MS);
  }

  function showComposerError(err, retry) {
    lastErr = err;
    clear(composerError, el('span', { text: typeof err === 'string' ? err : errorText(err) }),
      retry ? el('button', { type: 'button', class: 'link', id: 'live-comment-retry', text: t('action.retry'), onclick: retry }) : null);
    composerError.hidden = false;
  }
  const hideComposerError = () => { composerError.hidden = true; lastErr = null; };

  async function submit(text = null, clientId = null) {
    const value = (text != null ? text : input.value).trim();
    if (!value || roomId == null || input.disabled) return;
    if ([...value].length > COMMENT_MAX_CHARS) return showComposerError(t('live.comment_too_long', { max: COMMENT_MAX_CHARS }));
    hideComposerError();
    if (text == null) input.value = '';
    stream.toBottom();
    const id = roomId;
    try {
      await sendComment(id, value, clientId);
    } catch (err) {
      if (id !== roomId) return;
      if (!input.value) input.value = value;
      const retry = isTransient(err) ? () => { input.value = ''; submit(value, err.clientId); } : null;
      showComposerError(err, retry);
    }
  }

  function floatHeart() {
    const h = el('span', { class: 'live-float' }, heartIcon(22));
    h.style.left = (20 + Math.random() * 40) + '%';
    h.addEventListener('animationend', () => h.remove());
    floats.append(h);
    while (floats.childElementCount > 12) floats.firstElementChild.remove();
  }

  back.addEventListener('click', () => onBack());
  toHost.addEventListener('click', () => onHost(roomId));
  more.addEventListener('click', () => openRoomMenu());
  composer.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  like.addEventListener('click', () => {
    if (roomId != null && tapLike(roomId)) floatHeart();
  });
  input.addEventListener('input', () => { if (lastErr && typeof lastErr !== 'string' && !isTransient(lastErr)) hideComposerError(); });

  onLive((id, parts) => { if (id === roomId) render(parts); });
  onQueue((id, parts) => { if (id === roomId && parts.has('call')) renderCallBanner(); });
  onLocaleChange(() => { if (roomId != null) { stream.reset(); render(); } });
  labels();

  return {
    open(id) {
      if (roomId !== id) {
        roomId = id;
        hideComposerError();
        input.value = '';
        stream.reset();
        floats.replaceChildren();
        arrival.hidden = true;
        if (queueRoom != null) unwatchQueue(queueRoom);
        queueRoom = id;
        watchQueue(id);
      }
      callBar.open(id);
      render();
    },
    close() {
      if (queueRoom != null) unwatchQueue(queueRoom);
      queueRoom = null;
      callBar.close();
      roomId = null;
      clearTimeout(muteTimer);
      clearTimeout(arrivalTimer);
    },
  };
}
