/**
 * The picture or video a moderator judges, fetched with the token through the client library
 * (an <img src> could not send it) and shown from an object URL, freed with its card.
 *
 * @module console/media
 */
import { el, busy } from '/static/js/ui/dom.js';
import { tx, say } from './text.js';
import { client, state, MEDIA_ID, MEDIA_PATH, bytes, labelOf } from './state.js';

// Videos up to this size load by themselves; larger ones wait for a click.
const AUTO_VIDEO_BYTES = 20 * 1024 * 1024;

/** Frees the media of card `id`: its main box and its pictures (keys `<id>:<n>`). */
export function disposeMedia(id) {
  for (const key of [...state.media.keys()]) {
    if (key === id || String(key).startsWith(id + ':')) disposeKey(key);
  }
}

function disposeKey(key) {
  const m = state.media.get(key);
  if (!m) return;
  m.disposed = true;
  if (m.url) URL.revokeObjectURL(m.url);
  state.media.delete(key);
}

/**
 * A box that loads `mediaId` (a media item's content_ref, a reported photo message's text, an
 * appealed picture's URL, one of a post's pictures). `onView(view)` gets the MediaView once
 * known (a video hides the blocklist button: a video has no picture hash). `key` tells the
 * boxes of one card apart (its pictures: `<id>:<n>`).
 */
export function mediaBox(item, mediaId, onView, key = item.id) {
  const box = el('div', { class: 'media-box' }, tx('div', { class: 'media-meta' }, 'status.loading'));
  if (!MEDIA_ID.test(mediaId || '')) {
    box.replaceChildren(tx('p', { class: 'media-error' }, 'console.media.unknown'),
      el('div', { class: 'media-meta user-content', text: mediaId || item.content || '' }));
    return box;
  }
  const entry = { url: null, disposed: false };
  disposeKey(key);
  state.media.set(key, entry);
  load(mediaId, box, entry, onView);
  return box;
}

async function load(mediaId, box, entry, onView) {
  let view = null;
  try {
    // MediaView says picture or video, size and dimensions; the bytes may load without it.
    view = await client.api('GET', '/api/media/' + mediaId).catch(() => null);
    if (entry.disposed) return;
    if (view && onView) onView(view);
    let path = `/api/media/${mediaId}/content`;
    if (view && view.kind === 'image' && Array.isArray(view.thumbnails)) {
      const big = view.thumbnails.find((x) => x.size === 1080);
      if (big && MEDIA_PATH.test(big.url)) path = big.url;
    }
    if (view && view.kind === 'video' && view.byte_size > AUTO_VIDEO_BYTES) {
      const btn = tx('button', { type: 'button', class: 'secondary small-btn' }, 'console.media.load_video', { size: bytes(view.byte_size) });
      btn.addEventListener('click', () => busy(btn, () => show(path, box, entry, view)));
      box.replaceChildren(btn, metaLine(view));
      return;
    }
    await show(path, box, entry, view);
  } catch (err) {
    if (entry.disposed) return;
    box.replaceChildren(say(el('p', { class: 'media-error' }), 'console.media.failed', null, { err }),
      el('div', { class: 'media-meta', text: mediaId }));
  }
}

function metaLine(view) {
  if (!view) return null;
  const parts = [];
  const add = (node) => { if (parts.length) parts.push(' · '); parts.push(node); };
  if (view.content_type) add(el('span', { text: view.content_type }));
  if (view.width && view.height) add(el('span', { text: `${view.width}×${view.height}` }));
  if (view.byte_size >= 0) add(el('span', { text: bytes(view.byte_size) }));
  if (view.source) add(tx('span', {}, 'console.media.source', { source: () => labelOf('console.media.src.', view.source) }));
  if (view.purpose) add(tx('span', {}, 'console.media.purpose', { purpose: () => labelOf('console.media.purpose.', view.purpose) }));
  if (view.status) add(tx('span', {}, 'console.media.status', { status: () => labelOf('console.media.st.', view.status) }));
  return el('div', { class: 'media-meta' }, parts);
}

async function show(path, box, entry, view) {
  try {
    if (!MEDIA_PATH.test(path)) throw Object.assign(new Error('media path'), { code: 'not_found' });
    const blob = await client.api('GET', path, undefined, { responseType: 'blob' });
    if (entry.disposed) return;
    if (entry.url) URL.revokeObjectURL(entry.url);
    entry.url = URL.createObjectURL(blob);
    const type = blob.type || (view && view.content_type) || '';
    const isVideo = (view && view.kind === 'video') || type.startsWith('video/');
    const node = isVideo
      ? say(el('video', { src: entry.url, controls: true, preload: 'metadata', playsinline: true }), 'console.media.video_alt', null, { attr: 'aria-label' })
      : say(el('img', { src: entry.url }), 'console.media.image_alt', null, { attr: 'alt' });
    if (isVideo) node.muted = true;
    box.replaceChildren(node, metaLine(view) || el('div', { class: 'media-meta', text: type }));
  } catch (err) {
    if (entry.disposed) return;
    box.replaceChildren(say(el('p', { class: 'media-error' }), 'console.media.failed', null, { err }));
  }
}
