/**
 * A user's avatar: their approved avatar picture (an upload with purpose `avatar`, fetched with
 * the bearer token through the client library), or, without one or while it loads, a coloured
 * disc with the first character of the nickname. Used in lists, chats and profiles.
 *
 *   row.append(avatarView(user));            // {id, nickname, avatar}
 *   header.append(avatarView(me, { size: 64 }));
 *
 * Pictures are cached by media id for the page's life (object URLs); `forgetAvatar(id)` drops one
 * (a take-down or a new avatar).
 *
 * @module ui/avatar
 */
import { el } from './dom.js';
import { getClient } from '../client.js';

const cache = new Map(); // media id → Promise<object URL | null>

// Eight calm colours; the same user always gets the same one.
const COLOURS = ['#c0392b', '#d35400', '#b7950b', '#1e8449', '#117a65', '#1f618d', '#6c3483', '#7b7d7d'];

function colourOf(id) {
  const n = Number(id) || 0;
  return COLOURS[Math.abs(n) % COLOURS.length];
}

function initialOf(nickname) {
  const s = String(nickname || '').trim();
  return s ? [...s][0].toUpperCase() : '?';
}

function pictureUrl(mediaId) {
  if (!cache.has(mediaId)) {
    cache.set(mediaId, getClient().media(mediaId, 256)
      .then((blob) => URL.createObjectURL(blob))
      .catch(() => {
        cache.delete(mediaId); // a later view may try again (it may be approved by then)
        return null;
      }));
  }
  return cache.get(mediaId);
}

/**
 * The avatar of `user` (`{id, nickname, avatar}`), `size` px square. Decorative next to a
 * name (`alt=""`); with `label` it is named for screen readers instead.
 */
export function avatarView(user, { size = 40, label = null } = {}) {
  const u = user || {};
  const box = el('span', {
    class: 'avatar',
    style: `width:${size}px;height:${size}px;font-size:${Math.round(size * 0.45)}px;background:${colourOf(u.id)}`,
    role: label ? 'img' : null,
    'aria-label': label,
    'aria-hidden': label ? null : 'true',
    dataset: { userId: u.id != null ? String(u.id) : '' },
  }, el('span', { class: 'avatar-initial', text: initialOf(u.nickname) }));
  if (u.avatar) {
    box.dataset.mediaId = String(u.avatar);
    pictureUrl(u.avatar).then((url) => {
      if (!url) return;
      const img = el('img', { src: url, alt: '', width: size, height: size, decoding: 'async' });
      img.addEventListener('load', () => box.classList.add('has-picture'));
      box.append(img);
    });
  }
  return box;
}

/** Forgets a cached picture (a new avatar, or one taken down). */
export function forgetAvatar(mediaId) {
  const entry = cache.get(mediaId);
  cache.delete(mediaId);
  if (entry) entry.then((url) => { if (url) URL.revokeObjectURL(url); });
}
