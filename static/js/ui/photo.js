/**
 * Chat pictures: the 256 px thumbnail in a bubble (fetched with the bearer token through the
 * client library, cached as an object URL per media id and size), and the lightbox
 * (`#lightbox`) with the 1080 px picture.
 *
 *   bubble.append(photoView(mediaId, { onLoad: keepAtBottom }));
 *   forgetPhoto(mediaId);   // recalled or taken down
 *
 * @module ui/photo
 */
import { getClient } from '../client.js';
import { t, errorText } from '../i18n.js';
import { el } from './dom.js';

const cache = new Map(); // "<id>:<size>" → {url, error, promise}

function entry(id, size) {
  const key = id + ':' + size;
  let e = cache.get(key);
  if (!e) {
    e = { key, url: null, error: null, promise: null };
    e.promise = getClient().media(id, size)
      .then((blob) => { e.url = URL.createObjectURL(blob); }, (err) => { e.error = err; });
    cache.set(key, e);
  }
  return e;
}

/** Drops the cached copies of a picture (and closes the lightbox showing it). */
export function forgetPhoto(mediaId) {
  for (const size of [256, 1080]) {
    const e = cache.get(mediaId + ':' + size);
    if (!e) continue;
    if (e.url) URL.revokeObjectURL(e.url);
    cache.delete(e.key);
  }
  if (lightbox && lightbox.dataset.media === mediaId) closeLightbox();
}

/** Forgets every picture (log-out). */
export function forgetAllPhotos() {
  for (const e of cache.values()) if (e.url) URL.revokeObjectURL(e.url);
  cache.clear();
  closeLightbox();
}

/** A button with the picture; a tap opens the lightbox. `localUrl`: the file while it uploads. */
export function photoView(mediaId, { localUrl = null, onLoad = null } = {}) {
  const img = el('img', { class: 'photo', alt: t('chat.photo_alt') });
  if (onLoad) img.addEventListener('load', onLoad);
  const btn = el('button', { type: 'button', class: 'photo-btn', 'aria-label': t('chat.view_full'),
    onclick: () => openLightbox(mediaId, localUrl) }, img);
  img.addEventListener('error', () => {
    if (img.getAttribute('src')) btn.replaceWith(el('span', { class: 'photo-btn photo-error', text: t('chat.photo_broken') }));
  });
  if (localUrl) {
    img.src = localUrl;
    return btn;
  }
  const e = entry(mediaId, 256);
  if (e.url) img.src = e.url;
  else if (e.error) {
    const retry = el('button', { type: 'button', class: 'photo-btn photo-error', text: t('chat.photo_unavailable'),
      onclick: () => { cache.delete(e.key); retry.replaceWith(photoView(mediaId, { onLoad })); } });
    return retry;
  } else {
    btn.classList.add('loading');
    e.promise.then(() => {
      if (e.url) {
        img.src = e.url;
        btn.classList.remove('loading');
      } else if (btn.isConnected) btn.replaceWith(photoView(mediaId, { onLoad }));
    });
  }
  return btn;
}

let lightbox = null;
let returnFocus = null;

function onKey(e) {
  if (e.key === 'Escape') {
    e.preventDefault();
    closeLightbox();
  } else if (e.key === 'Tab') {
    e.preventDefault(); // one control: the close button keeps the focus
  }
}

export function openLightbox(mediaId, localUrl) {
  closeLightbox();
  returnFocus = document.activeElement;
  const img = el('img', { id: 'lightbox-img', alt: t('chat.photo_alt') });
  const msg = el('p', { class: 'small lightbox-msg', hidden: true });
  const close = el('button', { type: 'button', id: 'lightbox-close', class: 'close-x', 'aria-label': t('action.close'), text: '×',
    onclick: closeLightbox });
  lightbox = el('div', { id: 'lightbox', class: 'overlay lightbox', role: 'dialog', 'aria-modal': 'true', 'aria-label': t('chat.photo_alt'),
    dataset: { media: mediaId || '' } }, close, img, msg);
  lightbox.addEventListener('click', (e) => { if (e.target !== img) closeLightbox(); });
  document.addEventListener('keydown', onKey, true);
  document.body.append(lightbox);
  const small = mediaId ? cache.get(mediaId + ':256') : null;
  if (localUrl || (small && small.url)) img.src = localUrl || small.url;
  close.focus();
  if (!mediaId) return;
  const big = entry(mediaId, 1080);
  const box = lightbox;
  big.promise.then(() => {
    if (lightbox !== box) return;
    if (big.url) img.src = big.url;
    else if (big.error) {
      msg.textContent = errorText(big.error);
      msg.hidden = false;
      cache.delete(big.key);
    }
  });
}

export function closeLightbox() {
  if (!lightbox) return;
  lightbox.remove();
  lightbox = null;
  document.removeEventListener('keydown', onKey, true);
  if (returnFocus && document.contains(returnFocus)) returnFocus.focus();
  returnFocus = null;
}
