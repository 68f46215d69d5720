/**
 * 发帖: the composer dialog (`#cm-compose-dialog`): the text (up to 2000 characters, counted),
 * up to nine pictures picked from the album (the 相册 permission asked in the page first:
 * ui/ask-consent.js; each uploaded as a `post_photo` through the media pipeline and usable once
 * `approved`: one a moderator holds shows 审核中 and is waited for — `moderation.decided`, and
 * read again before posting — before the post can go), the category (翡翠 和田玉 …, as a room's)
 * and up to five tags. `post.create` answers `published` or `screening` (a rule held the text:
 * only its author sees it, marked 审核中, until a moderator decides).
 *
 *   openComposer({ category: 'nephrite', onPosted: (post) => … });
 *
 * @module pages/community-composer
 */
import { getClient } from '/static/js/client.js';
import { t, errorText } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { askAlbum as askAlbumIn } from '/static/js/ui/ask-consent.js';
import { mergeConsentRecord } from '/static/js/pages/me-common.js';
import { categoryName } from '/static/js/pages/live-common.js';
import {
  CATEGORIES, TEXT_MAX_CHARS, TAGS_MAX, TAG_MAX_CHARS, PICTURES_MAX, createPost,
} from '/static/js/pages/community-data.js';

const client = getClient();

/** `#和田玉 籽料，手镯` → ['和田玉', '籽料', '手镯'] (a leading # dropped, repeats once). */
export function parseTags(raw) {
  const out = [];
  for (const part of String(raw || '').split(/[\s,，、;；#＃]+/)) {
    const tag = part.trim();
    if (tag && !out.includes(tag)) out.push(tag);
  }
  return out;
}

function askAlbum() {
  return askAlbumIn({ id: 'cm-album-dialog', title: t('community.album_title'), text: t('community.album_text'), purpose: t('community.album_purpose'), onGranted: mergeConsentRecord });
}

export function openComposer({ category = null, onPosted }) {
  const text = el('textarea', { id: 'cm-compose-text', rows: 5, maxlength: TEXT_MAX_CHARS * 2, placeholder: t('community.compose_placeholder') });
  const count = el('span', { class: 'small muted form-count', id: 'cm-compose-count' });
  const counter = () => {
    const n = [...text.value].length;
    count.textContent = t('community.chars', { n, max: TEXT_MAX_CHARS });
    count.classList.toggle('error', n > TEXT_MAX_CHARS);
  };
  text.addEventListener('input', counter);
  counter();

  // Pictures: {key, file, url, status: 'uploading'|'in_review'|'approved'|'failed', id, error}
  let photos = [];
  let keySeq = 0;
  let queue = Promise.resolve();
  const file = el('input', {
    type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', multiple: true, id: 'cm-compose-file', class: 'cm-file',
    'aria-label': t('community.add_photos'),
    onchange: (e) => { const files = [...(e.target.files || [])]; e.target.value = ''; pick(files); },
  });
  const addBtn = el('button', { type: 'button', class: 'cm-photo-add', id: 'cm-compose-add', 'aria-label': t('community.add_photos'), onclick: () => file.click() },
    el('span', { 'aria-hidden': 'true', text: '+' }), el('span', { class: 'small', text: t('community.add_photos_short') }));
  const grid = el('ul', { class: 'cm-compose-photos', id: 'cm-compose-photos' });
  const photoNote = el('p', { class: 'small muted', id: 'cm-compose-photo-note', role: 'status' });

  function renderPhotos() {
    grid.replaceChildren(...photos.map((p) => el('li', { class: 'cm-compose-photo is-' + p.status, dataset: { status: p.status, mediaId: p.id || '' } },
      el('img', { src: p.url, alt: '' }),
      p.status !== 'approved' ? el('span', { class: 'cm-photo-state small', text: p.status === 'uploading' ? t('community.photo_uploading')
        : p.status === 'in_review' ? t('status.under_review') : t('community.photo_failed') }) : null,
      el('button', {
        type: 'button', class: 'cm-photo-remove', 'aria-label': t('community.remove_photo'), text: '×',
        onclick: () => { URL.revokeObjectURL(p.url); photos = photos.filter((x) => x !== p); renderPhotos(); },
      }))),
    photos.length < PICTURES_MAX ? el('li', { class: 'cm-compose-photo cm-compose-add-cell' }, addBtn) : null);
    const failed = photos.find((p) => p.status === 'failed');
    photoNote.textContent = failed ? errorText(failed.error) : t('community.photos_hint', { n: photos.length, max: PICTURES_MAX });
    photoNote.classList.toggle('form-error', !!failed);
    photoNote.classList.toggle('muted', !failed);
  }

  async function uploadOne(p) {
    for (let attempt = 0; ; attempt++) {
      try {
        const media = await client.api('POST', '/api/media?purpose=post_photo&source=album', undefined, { raw: p.file });
        p.id = media.id;
        p.status = media.status === 'approved' ? 'approved' : media.status === 'in_review' ? 'in_review' : 'failed';
        if (p.status === 'failed') p.error = { code: 'content_rejected' };
        return;
      } catch (err) {
        if (err.code === 'consent_required' && attempt === 0 && await askAlbum()) continue;
        p.status = 'failed';
        p.error = err.code === 'consent_required' ? { code: 'consent_required', missingPermissions: ['photo_album'] } : err;
        return;
      }
    }
  }

  async function pick(files) {
    const images = files.filter((f) => /^image\//.test(f.type || 'image/'));
    if (images.length < files.length) {
      d.setError(errorText('unsupported_media'));
    }
    const room = PICTURES_MAX - photos.length;
    if (images.length > room) d.setError(t('community.photos_max', { max: PICTURES_MAX }));
    const take = images.slice(0, Math.max(0, room));
    if (!take.length) return;
    // Ask for the album first when it is known to be missing (the upload would be refused).
    try {
      const check = await client.request('consent.check', { feature: 'post_photo', source: 'album' }, { wait: false });
      if (check && check.allowed === false && (check.missing || []).includes('photo_album') && !(await askAlbum())) {
        d.setError(errorText('consent_required', { missingPermissions: ['photo_album'] }));
        return;
      }
    } catch (_) { /* offline or unknown: the upload itself says */ }
    const added = take.map((f) => ({ key: ++keySeq, file: f, url: URL.createObjectURL(f), status: 'uploading', id: null, error: null }));
    photos = photos.concat(added);
    renderPhotos();
    // One after the other (the server decodes one picture per user at a time anyway).
    for (const p of added) {
      queue = queue.then(() => (photos.includes(p) ? uploadOne(p) : null)).then(() => renderPhotos());
    }
  }

  // A picture a moderator held: approved or refused while the dialog is open.
  const offDecided = client.on('moderation.decided', (m) => {
    if (!m || m.kind !== 'media') return;
    const p = photos.find((x) => x.id && x.id === m.ref);
    if (!p) return;
    p.status = m.decision === 'approve' ? 'approved' : 'failed';
    if (p.status === 'failed') p.error = { code: 'content_rejected' };
    renderPhotos();
  });

  // Pictures still in review are read again (an event may have been missed while offline).
  async function recheck() {
    for (const p of photos.filter((x) => x.status === 'in_review')) {
      try {
        const media = await client.api('GET', '/api/media/' + encodeURIComponent(p.id));
        if (media.status === 'approved') p.status = 'approved';
        else if (media.status === 'rejected') { p.status = 'failed'; p.error = { code: 'content_rejected' }; }
      } catch (_) { /* still unknown: counted as in review */ }
    }
    renderPhotos();
  }

  const chips = el('fieldset', { class: 'chips cm-compose-cats' },
    el('legend', { text: t('community.compose_category') }),
    ...CATEGORIES.map((c) => el('label', { class: 'chip' },
      el('input', { type: 'radio', name: 'cm-compose-cat', value: c, id: 'cm-compose-cat-' + c, checked: c === (category || 'other') }),
      el('span', { text: categoryName(c) }))));
  const tags = el('input', { id: 'cm-compose-tags', autocomplete: 'off', enterkeyhint: 'done', placeholder: t('community.tags_placeholder') });

  const d = openDialog({
    id: 'cm-compose-dialog',
    title: t('community.compose_title'),
    className: 'cm-compose-card',
    body: [
      el('label', { class: 'field', for: 'cm-compose-text' }, el('span', { text: t('community.compose_text') }), text),
      count,
      el('div', { class: 'cm-compose-photo-field' }, el('span', { class: 'cm-label', text: t('community.photos') }), grid, photoNote, file),
      chips,
      el('label', { class: 'field', for: 'cm-compose-tags' }, el('span', { text: t('community.tags') }), tags),
      el('p', { class: 'small muted', text: t('community.compose_note') }),
    ],
    actions: [
      { label: t('action.cancel'), id: 'cm-compose-cancel' },
      { label: t('community.publish'), primary: true, id: 'cm-compose-ok', onClick: submit },
    ],
    onClose: () => {
      offDecided();
      for (const p of photos) URL.revokeObjectURL(p.url);
      photos = [];
    },
  });
  renderPhotos();

  async function submit(h) {
    h.setError('');
    const body = text.value.trim();
    const tagList = parseTags(tags.value);
    const picked = chips.querySelector('input:checked');
    if ([...body].length > TEXT_MAX_CHARS) return h.setError(t('community.text_too_long', { max: TEXT_MAX_CHARS }));
    if (tagList.length > TAGS_MAX) return h.setError(t('community.tags_too_many', { max: TAGS_MAX }));
    if (tagList.some((x) => [...x].length > TAG_MAX_CHARS)) return h.setError(t('community.tag_too_long', { max: TAG_MAX_CHARS }));
    h.setBusy(true);
    try {
      // Uploads still running are waited for; pictures in review are asked about once more.
      await queue;
      if (photos.some((p) => p.status === 'in_review')) await recheck();
      if (photos.some((p) => p.status === 'uploading' || p.status === 'in_review')) {
        h.setBusy(false);
        return h.setError(t('community.photos_in_review'));
      }
      if (photos.some((p) => p.status === 'failed')) {
        h.setBusy(false);
        return h.setError(t('community.photos_failed'));
      }
      const media = photos.map((p) => p.id);
      if (!body && !media.length) {
        h.setBusy(false);
        text.setAttribute('aria-invalid', 'true');
        text.focus();
        return h.setError(t('community.text_required'));
      }
      const post = await createPost({ text: body, media, category: picked ? picked.value : 'other', tags: tagList });
      h.close();
      showToast(t(post.status === 'published' ? 'community.posted' : 'community.posted_review'));
      onPosted(post);
    } catch (err) {
      h.setBusy(false);
      h.setError(err && err.code === 'conflict' ? t('community.photos_in_review') : errorText(err));
    }
  }
  return d;
}
