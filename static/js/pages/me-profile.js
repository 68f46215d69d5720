/**
 * 编辑资料: the avatar (picked from the album, uploaded through the media pipeline, then set with
 * PATCH /api/me), the nickname, gender and introduction (PATCH /api/me: a field held for a
 * moderator shows 审核中 and the old text stays; content_rejected shows its errorText).
 *
 * @module pages/me-profile
 */
import { el, busy } from '/static/js/ui/dom.js';
import { t, errorText } from '/static/js/i18n.js';
import { getClient } from '/static/js/client.js';
import { store, setMe } from '/static/js/app/store.js';
import { avatarView, forgetAvatar } from '/static/js/ui/avatar.js';
import { confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { noteRestriction, isRestriction } from '/static/js/pages/standing.js';
import { messageLine, mergeConsentRecord, isTransient } from './me-common.js';
import { askAlbum as askAlbumIn } from '/static/js/ui/ask-consent.js';

export const TITLE = 'me.edit_profile';

const INTRO_MAX = 200;
const NICKNAME_MAX = 24;
const GENDERS = ['unspecified', 'female', 'male', 'other'];
// An avatar upload waiting for a moderator, by account: set once it is approved.
const PENDING_AVATAR_KEY = 'duoxie.me.pending_avatar';

let pendingReview = {}; // field → the text held for review
let avatarState = null; // null | {status: 'uploading'|'saving'|'in_review', mediaId}
let avatarError = null; // an error of the last avatar step
let formMsg = null; // {text, kind}
let freshForm = false; // the next render takes the fields from Me (not what was typed)
let ctxRef = null;

export function init(ctx) {
  ctxRef = ctx;
  const pending = readPending();
  if (pending) avatarState = { status: 'in_review', mediaId: pending };
  return [];
}

export function enter() {
  freshForm = true;
  formMsg = null;
  avatarError = null;
}

export function reset() {
  pendingReview = {};
  avatarState = null;
  avatarError = null;
  formMsg = null;
}

function readPending() {
  try {
    const raw = localStorage.getItem(PENDING_AVATAR_KEY);
    const v = raw ? JSON.parse(raw) : null;
    return v && store.me && v.user === store.me.id ? v.id : (v && !store.me ? v.id : null);
  } catch (_) { return null; }
}

function writePending(id) {
  try {
    if (id && store.me) localStorage.setItem(PENDING_AVATAR_KEY, JSON.stringify({ user: store.me.id, id }));
    else localStorage.removeItem(PENDING_AVATAR_KEY);
  } catch (_) { /* this page only */ }
}

/** moderation.decided about the profile (me.js calls it). */
export function onDecided(d, ctx) {
  if (d.kind === 'nickname' || d.kind === 'intro') {
    delete pendingReview[d.kind];
    freshForm = true;
    const field = t('field.' + d.kind);
    formMsg = { text: t(d.decision === 'approve' ? 'profile.approved' : 'profile.rejected', { field }), kind: d.decision === 'approve' ? 'ok' : 'error' };
  } else if (d.kind === 'report_user' && d.decision !== 'approve') {
    pendingReview = {};
    freshForm = true;
    formMsg = { text: t('mod.profile_reset'), kind: 'error' };
  } else if (d.kind === 'media' && avatarState && avatarState.mediaId === d.ref) {
    if (d.decision === 'approve') {
      setAvatar(d.ref).then(() => showToast(t('me.avatar_approved')));
    } else {
      writePending(null);
      avatarState = null;
      avatarError = { code: 'content_rejected' };
      showToast(t('me.avatar_rejected'));
    }
  }
  ctx.rerender();
}

// ---------------------------------------------------------------- avatar

function upload(file) {
  return getClient().api('POST', '/api/media?purpose=avatar&source=album', undefined, { raw: file });
}

// The photo_album permission, asked in the page: resolves true once granted.
function askAlbum() {
  return askAlbumIn({ id: 'me-album-dialog', title: t('me.album_title'), text: t('me.album_text'), purpose: t('me.album_purpose'), onGranted: mergeConsentRecord });
}

async function setAvatar(id) {
  const old = store.me && store.me.avatar;
  avatarState = { status: 'saving', mediaId: id };
  ctxRef && ctxRef.rerender();
  try {
    const me = await getClient().api('PATCH', '/api/me', { avatar: id });
    delete me.pending_review;
    writePending(null);
    avatarState = null;
    if (old && old !== me.avatar) forgetAvatar(old);
    setMe(me);
    return true;
  } catch (err) {
    avatarState = null;
    avatarError = err;
    ctxRef && ctxRef.rerender();
    return false;
  }
}

async function onPicked(file) {
  if (!file) return;
  avatarError = null;
  if (!/^image\//.test(file.type || 'image/')) {
    avatarError = { code: 'unsupported_media' };
    ctxRef.rerender();
    return;
  }
  // Ask for the album first when it is known to be missing (the upload would be refused).
  try {
    const check = await getClient().request('consent.check', { feature: 'avatar', source: 'album' }, { wait: false });
    if (check && check.allowed === false && (check.missing || []).includes('photo_album') && !(await askAlbum())) {
      avatarError = { code: 'consent_required', missingPermissions: ['photo_album'] };
      ctxRef.rerender();
      return;
    }
  } catch (_) { /* offline or unknown: the upload itself says */ }
  avatarState = { status: 'uploading' };
  ctxRef.rerender();
  let media;
  for (let attempt = 0; ; attempt++) {
    try {
      media = await upload(file);
      break;
    } catch (err) {
      if (err.code === 'consent_required' && attempt === 0 && await askAlbum()) continue;
      avatarState = null;
      avatarError = err.code === 'consent_required' ? { code: 'consent_required', missingPermissions: ['photo_album'] } : err;
      ctxRef.rerender();
      return;
    }
  }
  if (media.status === 'in_review') {
    avatarState = { status: 'in_review', mediaId: media.id };
    writePending(media.id);
    ctxRef.rerender();
    return;
  }
  if (media.status === 'rejected') {
    avatarState = null;
    avatarError = { code: 'content_rejected' };
    ctxRef.rerender();
    return;
  }
  if (await setAvatar(media.id)) showToast(t('me.avatar_saved'));
}

async function removeAvatar() {
  const ok = await confirmDialog({ title: t('me.avatar_remove'), text: t('me.avatar_remove_confirm'), confirm: t('me.avatar_remove'), danger: true, id: 'me-avatar-remove-dialog' });
  if (!ok) return;
  const old = store.me && store.me.avatar;
  try {
    const me = await getClient().api('PATCH', '/api/me', { avatar: null });
    delete me.pending_review;
    if (old) forgetAvatar(old);
    setMe(me);
    showToast(t('me.avatar_removed'));
  } catch (err) {
    avatarError = err;
    ctxRef.rerender();
  }
}

function avatarSection(me) {
  const input = el('input', {
    type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', id: 'me-avatar-file', class: 'me-file',
    'aria-label': t('me.avatar_change'),
    onchange: (e) => { const f = e.target.files && e.target.files[0]; e.target.value = ''; onPicked(f); },
  });
  const working = avatarState && (avatarState.status === 'uploading' || avatarState.status === 'saving');
  let status = null;
  if (working) status = el('p', { class: 'small muted', role: 'status', id: 'me-avatar-status', text: t('me.avatar_uploading') });
  else if (avatarState && avatarState.status === 'in_review') {
    status = el('p', { class: 'small me-review', role: 'status', id: 'me-avatar-status', text: t('me.avatar_in_review') });
  } else if (avatarError) {
    status = el('p', { class: 'small error', role: 'alert', id: 'me-avatar-status', text: errorText(avatarError) });
  }
  return el('section', { class: 'me-card me-avatar-edit', 'aria-label': t('profile.avatar') },
    el('div', { class: 'me-avatar-big', id: 'me-avatar-preview' }, avatarView(me, { size: 96, label: t('profile.avatar') })),
    el('div', { class: 'me-avatar-actions' },
      input,
      el('button', {
        type: 'button', class: 'primary', id: 'me-avatar-btn', disabled: working,
        text: t('me.avatar_change'), onclick: () => input.click(),
      }),
      me.avatar ? el('button', {
        type: 'button', class: 'secondary', id: 'me-avatar-remove', disabled: working,
        text: t('me.avatar_remove'), onclick: removeAvatar,
      }) : null,
      status));
}

// ---------------------------------------------------------------- the form

async function save(form, msg) {
  const me = store.me;
  if (!me) return;
  const nickname = form.querySelector('#me-edit-nickname').value.trim();
  const intro = form.querySelector('#me-edit-intro').value.trim();
  const gender = form.querySelector('#me-edit-gender').value;
  // Only what changed: every field sent is screened again.
  const body = {};
  if (nickname !== (me.nickname || '')) body.nickname = nickname;
  if (intro !== (me.intro || '')) body.intro = intro || null; // null clears it
  if (gender !== (me.gender || 'unspecified')) body.gender = gender;
  if (!Object.keys(body).length) {
    formMsg = { text: t('status.nothing_changed'), kind: '' };
    msg.set(formMsg.text);
    return;
  }
  if ('nickname' in body && !nickname) {
    formMsg = { text: t('me.nickname_required'), kind: 'error' };
    msg.set(formMsg.text, 'error');
    return;
  }
  try {
    const fresh = await getClient().api('PATCH', '/api/me', body);
    const held = fresh.pending_review || [];
    delete fresh.pending_review;
    for (const field of Object.keys(body)) {
      if (held.includes(field)) pendingReview[field] = body[field] || '';
      else delete pendingReview[field];
    }
    formMsg = held.length
      ? { text: t('me.profile_held', { fields: held.map((f) => t('field.' + f)).join(t('list.separator')) }), kind: '' }
      : { text: t('status.saved'), kind: 'ok' };
    setMe(fresh);
    if (!held.length) showToast(t('status.saved'));
  } catch (err) {
    formMsg = null;
    if (isRestriction(err)) noteRestriction(err);
    msg.error(err, isTransient(err) ? () => save(form, msg) : null);
  }
}

function counter(input, max) {
  const node = el('span', { class: 'small muted me-counter', 'aria-live': 'polite' });
  const update = () => { node.textContent = `${[...input.value].length}/${max}`; };
  input.addEventListener('input', update);
  update();
  return node;
}

function reviewTag(field) {
  if (!(field in pendingReview)) return null;
  return el('span', { class: 'me-tag me-tag-review', id: 'me-review-' + field, title: pendingReview[field], text: t('status.under_review') });
}

export function render() {
  const me = store.me;
  if (!me) return el('p', { class: 'muted', text: t('status.loading') });
  const fresh = freshForm;
  freshForm = false;
  const msg = messageLine('me-profile-msg');
  const mark = (n) => { if (fresh) n.dataset.fresh = '1'; return n; };
  const nickname = mark(el('input', { id: 'me-edit-nickname', name: 'nickname', maxlength: NICKNAME_MAX * 2, autocomplete: 'nickname', value: me.nickname || '' }));
  nickname.value = me.nickname || '';
  const intro = mark(el('textarea', { id: 'me-edit-intro', name: 'intro', rows: 3, maxlength: INTRO_MAX, placeholder: t('profile.intro_empty') }));
  intro.value = me.intro || '';
  const gender = mark(el('select', { id: 'me-edit-gender', name: 'gender' },
    GENDERS.map((g) => el('option', { value: g, text: t('gender.' + g) }))));
  gender.value = me.gender || 'unspecified';
  const submit = el('button', { type: 'submit', class: 'primary', id: 'me-save-profile', text: t('action.save') });
  const form = el('form', {
    class: 'me-card stack me-form', id: 'me-profile-form', novalidate: true,
    onsubmit: (e) => { e.preventDefault(); busy(submit, () => save(form, msg)); },
  },
  el('label', { for: 'me-edit-nickname' },
    el('span', { class: 'me-label' }, t('profile.nickname'), reviewTag('nickname')), nickname,
    pendingReview.nickname != null ? el('span', { class: 'small muted me-user-data', text: t('me.review_value', { value: pendingReview.nickname }) }) : null),
  el('label', { for: 'me-edit-gender' }, el('span', { class: 'me-label', text: t('profile.gender') }), gender),
  el('label', { for: 'me-edit-intro' },
    el('span', { class: 'me-label' }, t('profile.intro'), reviewTag('intro'), el('span', { class: 'small muted me-optional', text: t('status.optional') })),
    intro, counter(intro, INTRO_MAX),
    pendingReview.intro != null ? el('span', { class: 'small muted me-user-data', text: t('me.review_value', { value: pendingReview.intro || '—' }) }) : null),
  msg.node,
  el('div', { class: 'me-actions' }, submit));
  if (formMsg) msg.set(formMsg.text, formMsg.kind);
  return [avatarSection(me), form];
}
