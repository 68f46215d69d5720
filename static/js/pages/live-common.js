/**
 * What the live pages share: the stylesheet, the category and status names, counts as a
 * Chinese app writes them (1.2万), the heart icon, and the comment stream (弹幕 list: newest at
 * the bottom, 昵称：text, kept scrolled to the newest unless the user scrolled up).
 *
 *   const stream = mountComments(box, { manage: (comment) => …, canManage: (comment) => bool, canMore: (comment) => bool, showTime });
 *   stream.render(roomState(7));
 *
 * @module pages/live-common
 */
import { t, getLocale, formatTime, formatDateTime } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { getClient } from '/static/js/client.js';

const NS = 'http://www.w3.org/2000/svg';

/** Links css/live.css once (index.html need not know it). */
export function ensureLiveCss() {
  if (document.querySelector('link[data-live-css], link[href="/static/css/live.css"]')) return;
  document.head.append(el('link', { rel: 'stylesheet', href: '/static/css/live.css', 'data-live-css': '' }));
}

export const categoryName = (c) => t('live.cat.' + (c || 'other'));
export const statusName = (s) => t('live.status.' + (s || 'scheduled'));

/** 1234 → 1234, 12345 → 1.2万 (zh-CN) / 12K (en). */
export function formatCount(n) {
  const v = Number(n) || 0;
  if (v < 10000) return String(v);
  try {
    return new Intl.NumberFormat(getLocale(), { notation: 'compact', maximumFractionDigits: 1 }).format(v);
  } catch (_) {
    return String(v);
  }
}

/** A small line heart (no emoji: the same on every phone). */
export function heartIcon(size = 24) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon live-heart');
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', 'M12 20s-7-4.4-7-10a4 4 0 0 1 7-2.6A4 4 0 0 1 19 10c0 5.6-7 10-7 10z');
  svg.append(path);
  return svg;
}

/** The status badge (直播中 / 暂停中 / 已结束 / 未开播). */
export function statusBadge(status, id = null) {
  return el('span', { id, class: 'live-badge live-badge-' + (status || 'scheduled'), text: statusName(status) });
}

/** The nickname of a comment's author (a deleted account has none of its own). */
export function nickOf(user) {
  return user && user.id != null ? user.nickname || '' : t('live.deleted_user');
}

/**
 * The comment stream of a room. `manage(comment)`: a 管理 button (`.live-manage`) on each
 * comment the viewer may act on (`canManage`: host powers), else a 更多 button
 * (`.live-comment-more`: 举报) on each one `canMore` allows, or null. Renders from the room's
 * state, reusing the rows it has.
 */
export function mountComments(root, {
  manage = null, canManage = () => false, canMore = () => false, showTime = false, id = 'live-comments',
} = {}) {
  const list = el('ol', { class: 'live-comment-list' });
  const empty = el('p', { class: 'live-comment-empty muted small', hidden: true });
  const newer = el('button', { type: 'button', class: 'live-newer small-btn', hidden: true });
  const box = el('div', { id, class: 'live-comments' }, empty, list);
  root.replaceChildren(box, newer);
  const rows = new Map(); // seq → li
  let pendingRows = [];
  let stick = true;
  let frame = null;
  let last = null;

  const nearBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 40;
  box.addEventListener('scroll', () => {
    stick = nearBottom();
    if (stick) newer.hidden = true;
  }, { passive: true });
  newer.addEventListener('click', () => {
    stick = true;
    box.scrollTop = box.scrollHeight;
    newer.hidden = true;
  });

  function row(c, room) {
    const hostId = room && room.host ? room.host.id : null;
    const mine = store.me && c.user && c.user.id === store.me.id;
    const isHost = c.user && c.user.id != null && c.user.id === hostId;
    const name = nickOf(c.user);
    const powers = !!manage && canManage(c);
    const more = !powers && !!manage && canMore(c);
    const actions = powers || more ? el('button', {
      type: 'button', class: (powers ? 'live-manage' : 'live-comment-more') + ' icon-btn',
      'aria-label': t(powers ? 'live.manage_user' : 'live.more_comment', { name }),
      'aria-haspopup': 'dialog',
      onclick: () => manage(c),
    }, el('span', { 'aria-hidden': 'true', text: '⋯' })) : null;
    return el('li', {
      class: 'live-comment' + (mine ? ' mine' : '') + (isHost ? ' from-host' : ''),
      dataset: { seq: String(c.seq), userId: c.user && c.user.id != null ? String(c.user.id) : '' },
      title: formatDateTime(c.at),
    },
    el('span', { class: 'live-comment-body' },
      isHost ? el('span', { class: 'live-host-tag', text: t('live.host_tag') }) : null,
      el('span', { class: 'live-comment-name', text: name + t('live.name_colon') }),
      el('span', { class: 'live-comment-text', text: c.text || '' })),
    showTime ? el('time', { class: 'live-comment-time small', text: formatTime(c.at) }) : null,
    actions);
  }

  function pendingRow(p) {
    return el('li', { class: 'live-comment mine pending', dataset: { clientId: p.clientId } },
      el('span', { class: 'live-comment-body' },
        el('span', { class: 'live-comment-name', text: (store.me ? store.me.nickname : '') + t('live.name_colon') }),
        el('span', { class: 'live-comment-text', text: p.text }),
        el('span', { class: 'live-sending small', text: t('live.sending') })));
  }

  function draw() {
    frame = null;
    const s = last;
    if (!s) return;
    const wasBottom = stick || nearBottom();
    const keep = new Set();
    const nodes = [];
    for (const c of s.comments) {
      let li = rows.get(c.seq);
      if (!li || li.dataset.lang !== getLocale()) {
        li = row(c, s.room);
        li.dataset.lang = getLocale();
        rows.set(c.seq, li);
      }
      keep.add(c.seq);
      nodes.push(li);
    }
    for (const seq of [...rows.keys()]) if (!keep.has(seq)) rows.delete(seq);
    pendingRows = s.pending.filter((p) => p.seq == null || p.seq > (s.seq || 0)).map(pendingRow);
    const before = list.lastElementChild;
    list.replaceChildren(...nodes, ...pendingRows);
    empty.hidden = nodes.length + pendingRows.length > 0;
    empty.textContent = t('live.no_comments');
    newer.textContent = t('live.newer_comments');
    if (wasBottom) {
      box.scrollTop = box.scrollHeight;
      stick = true;
    } else if (list.lastElementChild !== before) {
      newer.hidden = false;
    }
  }

  return {
    /** Draws the stream of `state` (on the next frame: a busy room does not redraw per comment). */
    render(state, { now = false } = {}) {
      last = state;
      if (now) {
        if (frame) cancelAnimationFrame(frame);
        draw();
        return;
      }
      if (!frame) frame = requestAnimationFrame(draw);
    },
    /** Forgets the rows (another room, a language switch). */
    reset() {
      rows.clear();
      list.replaceChildren();
      stick = true;
      newer.hidden = true;
    },
    toBottom() {
      stick = true;
      box.scrollTop = box.scrollHeight;
    },
  };
}

/** The room's host line: avatar, nickname. */
export function hostLine(room, size = 28) {
  const host = (room && room.host) || {};
  return el('span', { class: 'live-card-host' }, avatarView(host, { size }), el('span', { class: 'live-card-host-name', text: host.nickname || '' }));
}

// ---------------------------------------------------------------- covers

/** Object URLs of cover pictures by media id (kept for the page's life: a handful of rooms). */
const coverUrls = new Map(); // id → Promise<string|null>
const COVERS_KEPT = 120;

/** The object URL of a cover (`client.media(id, 256)`), or null when it cannot be read. */
export function coverUrl(id) {
  if (id == null) return Promise.resolve(null);
  const key = String(id);
  if (!coverUrls.has(key)) {
    if (coverUrls.size >= COVERS_KEPT) {
      const [oldest, p] = coverUrls.entries().next().value;
      coverUrls.delete(oldest);
      p.then((u) => { if (u) URL.revokeObjectURL(u); });
    }
    const p = getClient().media(id, 256).then((blob) => (blob instanceof Blob && blob.size ? URL.createObjectURL(blob) : null))
      .catch(() => { coverUrls.delete(key); return null; });
    coverUrls.set(key, p);
  }
  return coverUrls.get(key);
}

/**
 * Puts room's cover picture into `box` (a `.live-cover` card or the stage) as an
 * `img.live-cover-img` under what the box shows; the box keeps its coloured placeholder until
 * the picture is there (and for good when there is none or it cannot be read).
 */
export function showCover(box, id) {
  const had = box.querySelector(':scope > img.live-cover-img');
  if (id == null) {
    if (had) had.remove();
    box.classList.remove('has-cover');
    delete box.dataset.cover;
    return;
  }
  if (box.dataset.cover === String(id) && had) return;
  box.dataset.cover = String(id);
  if (had) had.remove();
  box.classList.remove('has-cover');
  coverUrl(id).then((url) => {
    if (!url || box.dataset.cover !== String(id)) return;
    const img = el('img', { class: 'live-cover-img', alt: '', src: url, decoding: 'async' });
    img.addEventListener('load', () => box.classList.add('has-cover'), { once: true });
    img.addEventListener('error', () => { img.remove(); box.classList.remove('has-cover'); }, { once: true });
    box.prepend(img);
  });
}
