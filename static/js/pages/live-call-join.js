/**
 * The spectator's side of the appraisal queue, on the room page (`#live-call-bar`): 申请连线鉴定
 * (a dialog: what the item is, up to 6 photos from the album, why the camera and microphone
 * are needed; the consent asked in the page, the device tried, then `room.queue.join`); once
 * queued, the place in the queue as it moves (第2位) with 取消排队; while rung or in the call,
 * a line saying so; and what the host did to the entry (skipped or moved with the reason,
 * missed, removed) as a notice until closed. The audience's 正在为某某连线鉴定 banner is the room
 * page's (live-room.js).
 *
 *   const bar = mountCallJoin(root, { roomInfo: () => ({ host, status, joined }) });
 *   bar.open(7); bar.render(); bar.close();
 *
 * @module pages/live-call-join
 */
import { t, errorText, onLocaleChange } from '/static/js/i18n.js';
import { el, busy } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { getClient } from '/static/js/client.js';
import { askAlbum } from '/static/js/ui/ask-consent.js';
import { mergeConsentRecord } from '/static/js/pages/me-common.js';
import {
  queueState, onQueue, myEntry, myPosition, joinQueue, leaveQueue, DESCRIPTION_MAX_CHARS, PHOTOS_MAX,
} from '/static/js/pages/live-call-queue.js';
import { onCall, inCall } from '/static/js/pages/live-call-session.js';
import { ensureCallConsent, openCamera, stopStream, cameraErrorText } from '/static/js/pages/live-call-access.js';

/** What a host's change to the entry says to its buyer (room.queue.entry). */
export function entryNoticeText(entry) {
  if (!entry) return '';
  const reason = entry.reason ? String(entry.reason) : '';
  switch (entry.status) {
    case 'skipped': return reason ? t('live.queue.notice.skipped', { reason }) : t('live.queue.notice.skipped_plain');
    case 'waiting': return reason ? t('live.queue.notice.moved', { reason }) : t('live.queue.notice.moved_plain');
    case 'called': return reason ? t('live.queue.notice.called', { reason }) : '';
    case 'missed': return t('live.queue.notice.missed');
    case 'removed': return t('live.queue.notice.removed');
    case 'declined': return t('live.queue.notice.declined');
    case 'left': return t('live.queue.notice.left');
    default: return '';
  }
}

export function mountCallJoin(root, { roomInfo }) {
  const noticeText = el('span', { id: 'live-queue-notice-text' });
  const noticeClose = el('button', { type: 'button', class: 'notice-close', id: 'live-queue-notice-close', text: '×' });
  const notice = el('div', { id: 'live-queue-notice', class: 'live-queue-notice small', role: 'status', hidden: true }, noticeText, noticeClose);
  const apply = el('button', { type: 'button', id: 'live-call-apply', class: 'secondary small-btn live-call-apply' });
  const line = el('span', { id: 'live-queue-position', class: 'live-queue-line small', role: 'status' });
  const leave = el('button', { type: 'button', id: 'live-queue-leave', class: 'link small live-queue-leave', hidden: true });
  const bar = el('div', { id: 'live-call-bar', class: 'live-call-bar', hidden: true },
    notice, el('div', { class: 'live-call-row' }, apply, line, leave));
  root.replaceChildren(bar);

  let roomId = null;
  let noticeShown = null; // the QueueEntry whose notice is up

  function render() {
    const info = roomId != null ? roomInfo() : null;
    const s = roomId != null ? queueState(roomId) : null;
    const open = !!info && !info.host && (info.status === 'live' || info.status === 'paused');
    // What the host did, until closed (a new one replaces it).
    if (s && s.notice && s.notice !== noticeShown) noticeShown = s.notice;
    const words = noticeShown ? entryNoticeText(noticeShown) : '';
    notice.hidden = !words;
    noticeText.textContent = words;
    bar.hidden = !open && !words;
    apply.textContent = t('live.call.apply');
    leave.textContent = t('live.queue.leave');
    noticeClose.setAttribute('aria-label', t('action.close'));
    const entry = roomId != null ? myEntry(roomId) : null;
    const pos = roomId != null ? myPosition(roomId) : null;
    const calling = roomId != null && inCall(roomId);
    apply.hidden = !open || !!entry || calling;
    apply.disabled = !(info && info.joined);
    leave.hidden = !open || !entry || entry.status !== 'waiting' || calling;
    let text = '';
    if (calling) text = t('live.queue.in_call');
    else if (entry && entry.status === 'called') text = t('live.queue.called');
    else if (entry && pos != null) text = t('live.queue.position', { n: pos });
    else if (entry) text = t('live.queue.waiting');
    else if (s && s.loaded) text = s.length ? t('live.queue.length', { n: s.length }) : t('live.queue.none');
    line.textContent = open ? text : '';
    line.dataset.position = pos != null ? String(pos) : '';
  }

  apply.addEventListener('click', () => { if (roomId != null) openApply(roomId); });
  leave.addEventListener('click', () => busy(leave, async () => {
    const entry = myEntry(roomId);
    if (!entry) return;
    try {
      await leaveQueue(roomId, entry.id);
      showToast(t('live.queue.left'));
    } catch (err) {
      showToast(errorText(err));
    }
  }));
  noticeClose.addEventListener('click', () => {
    const s = queueState(roomId);
    if (s) s.notice = null;
    noticeShown = null;
    render();
  });
  onQueue((id) => { if (id === roomId) render(); });
  onCall((what) => { if (what === 'call') render(); });
  onLocaleChange(() => render());

  return {
    open(id) {
      if (roomId !== id) {
        roomId = id;
        noticeShown = null;
      }
      render();
    },
    render,
    close() {
      roomId = null;
      bar.hidden = true;
    },
  };
}

// ---------------------------------------------------------------- 申请连线鉴定

function openApply(roomId) {
  const desc = el('textarea', { id: 'live-call-desc', rows: '3', maxlength: String(DESCRIPTION_MAX_CHARS * 2), autocomplete: 'off' });
  const count = el('span', { class: 'small muted form-count', id: 'live-call-desc-count' });
  const counter = () => { count.textContent = t('live.chars', { n: [...desc.value.trim()].length, max: DESCRIPTION_MAX_CHARS }); };
  desc.placeholder = t('live.call.desc_placeholder');
  desc.addEventListener('input', counter);
  counter();

  // Photos: {file, url, status: 'uploading'|'approved'|'in_review'|'failed', id, error}.
  const photos = [];
  let uploads = Promise.resolve();
  let closed = false;
  const file = el('input', {
    type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', id: 'live-call-photo-file', multiple: true, hidden: true,
    onchange: (e) => { const files = [...(e.target.files || [])]; e.target.value = ''; addFiles(files); },
  });
  const pick = el('button', { type: 'button', class: 'live-call-photo-add', id: 'live-call-photo-pick', onclick: () => file.click() },
    el('span', { 'aria-hidden': 'true', text: '+' }));
  const grid = el('ul', { class: 'live-call-photos', id: 'live-call-photos' });
  const photoNote = el('p', { class: 'small muted', id: 'live-call-photo-note', role: 'status' });

  function renderPhotos() {
    pick.setAttribute('aria-label', t('live.call.photo_add'));
    grid.replaceChildren(...photos.map((p) => el('li', { class: 'live-call-photo is-' + p.status, dataset: { status: p.status } },
      el('img', { src: p.url, alt: '' }),
      p.status !== 'approved' ? el('span', { class: 'live-call-photo-state', text: t('live.call.photo_' + p.status) }) : null,
      el('button', { type: 'button', class: 'live-call-photo-remove', 'aria-label': t('live.call.photo_remove'), text: '×',
        onclick: () => { const at = photos.indexOf(p); if (at >= 0) photos.splice(at, 1); URL.revokeObjectURL(p.url); renderPhotos(); } }))),
    photos.length < PHOTOS_MAX ? el('li', { class: 'live-call-photo' }, pick) : null);
    const failed = photos.find((p) => p.status === 'failed' && p.error);
    photoNote.textContent = failed ? errorText(failed.error)
      : photos.some((p) => p.status === 'in_review') ? t('live.call.photo_review_note') : t('live.call.photo_hint', { max: PHOTOS_MAX });
    photoNote.classList.toggle('form-error', !!failed);
  }

  const album = () => askAlbum({ id: 'live-call-album-dialog', title: t('live.album_title'), text: t('live.call.album_text'),
    purpose: t('live.album_purpose'), onGranted: mergeConsentRecord });

  // The album permission first when it is known to be missing; then each photo as a post_photo
  // (a post photo that passed screening is what the host may see).
  async function albumReady() {
    try {
      const check = await getClient().request('consent.check', { feature: 'post_photo', source: 'album' }, { wait: false });
      if (check && check.allowed === false && (check.missing || []).includes('photo_album')) return album();
    } catch (_) { /* offline or unknown: the upload says */ }
    return true;
  }

  function addFiles(files) {
    const room = PHOTOS_MAX - photos.length;
    const take = files.filter((f) => /^image\//.test(f.type || 'image/')).slice(0, Math.max(0, room));
    if (!take.length) return;
    const batch = take.map((f) => ({ file: f, url: URL.createObjectURL(f), status: 'uploading', id: null, error: null }));
    photos.push(...batch);
    renderPhotos();
    uploads = uploads.then(async () => {
      if (!(await albumReady())) {
        for (const p of batch) { p.status = 'failed'; p.error = { code: 'consent_required', missingPermissions: ['photo_album'] }; }
        if (!closed) renderPhotos();
        return;
      }
      for (const p of batch) {
        if (closed || !photos.includes(p)) continue;
        await upload(p);
        if (!closed) renderPhotos();
      }
    });
  }

  async function upload(p) {
    for (let attempt = 0; ; attempt++) {
      try {
        const media = await getClient().api('POST', '/api/media?purpose=post_photo&source=album', undefined, { raw: p.file });
        p.id = media.id;
        p.status = media.status === 'approved' ? 'approved' : media.status === 'in_review' ? 'in_review' : 'failed';
        if (p.status === 'failed') p.error = { code: 'content_rejected' };
        return;
      } catch (err) {
        if (err.code === 'consent_required' && attempt === 0 && await album()) continue;
        p.status = 'failed';
        p.error = err;
        return;
      }
    }
  }

  renderPhotos();
  const d = openDialog({
    id: 'live-call-apply-dialog',
    title: t('live.call.apply'),
    body: [
      el('label', { class: 'field', for: 'live-call-desc' }, el('span', { text: t('live.call.desc_label') }), desc),
      count,
      el('div', { class: 'live-call-photo-field' },
        el('span', { class: 'live-cover-label', text: t('live.call.photos_label') }), grid, photoNote, file),
      el('p', { class: 'small live-call-needs', id: 'live-call-needs', text: t('live.call.needs_camera') }),
    ],
    actions: [
      { label: t('action.cancel') },
      { label: t('live.call.apply_go'), primary: true, id: 'live-call-apply-ok', onClick: (h) => submit(h) },
    ],
    onClose: () => {
      closed = true;
      for (const p of photos) URL.revokeObjectURL(p.url);
    },
  });

  async function submit(h) {
    const value = desc.value.trim();
    if (!value) {
      desc.setAttribute('aria-invalid', 'true');
      desc.focus();
      return h.setError(t('live.call.desc_required'));
    }
    if ([...value].length > DESCRIPTION_MAX_CHARS) return h.setError(t('live.call.desc_too_long', { max: DESCRIPTION_MAX_CHARS }));
    desc.removeAttribute('aria-invalid');
    h.setBusy(true);
    h.setError('');
    try {
      await uploads;
      if (!(await ensureCallConsent())) {
        h.setBusy(false);
        return h.setError(t('live.call.consent_needed'));
      }
      // The device is tried now (the browser asks once), then let go until the call: no camera
      // light while the user waits in the queue.
      stopStream(await openCamera());
      const ids = photos.filter((p) => p.status === 'approved').map((p) => p.id);
      await joinQueue(roomId, { description: value, photos: ids });
      h.close();
      showToast(t('live.queue.joined'));
    } catch (err) {
      h.setBusy(false);
      h.setError(cameraErrorText(err));
    }
  }
  return d;
}
