/**
 * 账号与安全: the devices signed in (GET /api/me/sessions; 下线 one after an in-page
 * confirmation), the password (set, or change with the current one), the phone number (a code to
 * the current number and one to the new), the age declared and the account's standing (the age
 * / guardian panel of standing.js), and account deletion (typed confirmation; the cooling-off
 * date once requested, then logged out).
 *
 * @module pages/me-account
 */
import { el, busy } from '/static/js/ui/dom.js';
import { t, errorText, formatDateTime, formatRelative, formatDate } from '/static/js/i18n.js';
import { getClient, normalizePhone } from '/static/js/client.js';
import { store, setMe, patchMe } from '/static/js/app/store.js';
import { openDialog, confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { openStandingPanel } from '/static/js/pages/standing.js';
import { messageLine, keyValues, isTransient } from './me-common.js';

export const TITLE = 'me.account';

let sessions = null;
let sessionsError = null;
let sessionsGen = 0;
let phoneStep = null; // null | {masked, devOld, devNew}
let phoneMsg = null; // {text, kind} | {err}
let passwordMsg = null;
let deletionError = null;
let cooldownUntil = 0;
let cooldownTimer = null;
let ctxRef = null;

export function init(ctx) {
  ctxRef = ctx;
  return [getClient().on('online', () => { if (sessions) loadSessions(); })];
}

export function enter() {
  phoneMsg = null;
  passwordMsg = null;
  deletionError = null;
  loadSessions();
}

export function leave() {
  clearInterval(cooldownTimer);
  cooldownTimer = null;
}

export function reset() {
  sessionsGen += 1;
  sessions = null;
  sessionsError = null;
  phoneStep = null;
  phoneMsg = null;
  passwordMsg = null;
  deletionError = null;
  cooldownUntil = 0;
  leave();
}

const rerender = () => ctxRef && ctxRef.rerender();

// ---------------------------------------------------------------- sessions

async function loadSessions() {
  const gen = ++sessionsGen;
  try {
    const res = await getClient().api('GET', '/api/me/sessions');
    if (gen !== sessionsGen) return;
    sessions = res.sessions || [];
    sessionsError = null;
  } catch (err) {
    if (gen !== sessionsGen) return;
    sessionsError = err;
  }
  rerender();
}

async function revoke(s) {
  const device = s.device || t('settings.unknown_device');
  const ok = await confirmDialog({
    id: 'me-revoke-dialog',
    title: s.current ? t('action.logout') : t('settings.revoke'),
    text: s.current ? t('me.revoke_current_confirm') : t('settings.revoke_confirm', { device }),
    confirm: s.current ? t('action.logout') : t('settings.revoke'),
    danger: true,
  });
  if (!ok) return;
  try {
    await getClient().api('DELETE', '/api/me/sessions/' + encodeURIComponent(s.id));
    if (s.current) {
      await getClient().logout();
      return;
    }
    showToast(t('me.revoked', { device }));
  } catch (err) {
    showToast(errorText(err));
  }
  loadSessions();
}

function sessionsView() {
  let content;
  if (!sessions) {
    content = sessionsError
      ? el('p', { class: 'small error', role: 'alert' }, errorText(sessionsError), ' ',
        el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: loadSessions }))
      : el('p', { class: 'small muted', text: t('status.loading') });
  } else {
    const list = sessions.slice().sort((a, b) => (b.current ? 1 : 0) - (a.current ? 1 : 0) || b.last_used_at - a.last_used_at);
    content = el('ul', { class: 'me-sessions', id: 'me-sessions' }, list.map((s) => el('li', { class: 'me-session', 'data-session': String(s.id) },
      el('div', { class: 'me-session-main' },
        el('p', { class: 'me-session-device' },
          s.device ? el('strong', { class: 'me-user-data', text: s.device }) : el('strong', { text: t('settings.unknown_device') }),
          s.current ? el('span', { class: 'me-tag me-tag-ok', text: t('settings.this_device') }) : null),
        el('p', { class: 'small muted', text: t('me.session_times', { created: formatDateTime(s.created_at), used: formatRelative(s.last_used_at) }) }),
        el('p', { class: 'small muted', text: t('me.session_expires', { date: formatDate(s.expires_at) }) })),
      el('button', {
        type: 'button', class: 'secondary danger me-small-btn', id: 'me-revoke-' + s.id,
        text: s.current ? t('action.logout') : t('settings.revoke'), onclick: () => revoke(s),
      }))));
  }
  return el('section', { class: 'me-card', 'aria-labelledby': 'me-sessions-title' },
    el('div', { class: 'me-section-head' },
      el('h2', { class: 'me-section-title', id: 'me-sessions-title', text: t('settings.sessions') }),
      el('button', { type: 'button', class: 'link', id: 'me-sessions-refresh', text: t('action.refresh'), onclick: loadSessions })),
    content);
}

// ---------------------------------------------------------------- password

async function savePassword(form, msg) {
  const me = store.me || {};
  const next = form.querySelector('#me-new-password');
  const current = form.querySelector('#me-current-password');
  if ([...next.value].length < 8) {
    msg.set(t('me.password_short'), 'error');
    next.focus();
    return;
  }
  const body = { password: next.value };
  if (me.has_password) body.current_password = current ? current.value : '';
  try {
    await getClient().api('POST', '/api/me/password', body);
    next.value = '';
    if (current) current.value = '';
    passwordMsg = { text: t('settings.password_saved'), kind: 'ok' };
    patchMe({ has_password: true });
    showToast(t('settings.password_saved'));
  } catch (err) {
    passwordMsg = null;
    // A wrong current password is invalid_credentials, whose text speaks of the phone too.
    if (err.code === 'invalid_credentials') msg.set(t('me.wrong_current_password'), 'error');
    else msg.error(err, () => savePassword(form, msg));
  }
}

function passwordView(me) {
  const msg = messageLine('me-password-msg');
  if (passwordMsg) msg.set(passwordMsg.text, passwordMsg.kind);
  const submit = el('button', { type: 'submit', class: 'primary', id: 'me-password-save', text: t('action.save') });
  const form = el('form', {
    class: 'stack', id: 'me-password-form', novalidate: true,
    onsubmit: (e) => { e.preventDefault(); busy(submit, () => savePassword(form, msg)); },
  },
  // A username field keeps password managers from guessing; it is the masked number.
  el('input', { type: 'text', autocomplete: 'username', value: me.phone_masked || '', hidden: true, 'aria-hidden': 'true', tabindex: '-1', readonly: true }),
  me.has_password ? el('label', { for: 'me-current-password' }, el('span', { text: t('settings.current_password') }),
    el('input', { type: 'password', id: 'me-current-password', autocomplete: 'current-password' })) : null,
  el('label', { for: 'me-new-password' }, el('span', { text: t('settings.new_password') }),
    el('input', { type: 'password', id: 'me-new-password', autocomplete: 'new-password', minlength: 8, maxlength: 128, 'aria-describedby': 'me-password-hint' }),
    el('span', { class: 'small muted', id: 'me-password-hint', text: t('me.password_hint') })),
  msg.node,
  el('div', { class: 'me-actions' }, submit));
  return el('section', { class: 'me-card', 'aria-labelledby': 'me-password-title' },
    el('h2', { class: 'me-section-title', id: 'me-password-title', text: t(me.has_password ? 'settings.change_password' : 'settings.set_password') }),
    form);
}

// ---------------------------------------------------------------- phone number

function startCooldown(ms) {
  cooldownUntil = Date.now() + ms;
  clearInterval(cooldownTimer);
  cooldownTimer = setInterval(() => {
    if (Date.now() >= cooldownUntil) {
      clearInterval(cooldownTimer);
      cooldownTimer = null;
    }
    rerender();
  }, 1000);
}

async function requestCodes(input) {
  const newPhone = normalizePhone(input.value);
  if (!newPhone) {
    phoneMsg = { text: t('me.enter_new_phone'), kind: 'error' };
    rerender();
    return;
  }
  phoneMsg = null;
  try {
    const res = await getClient().api('POST', '/api/me/phone/codes', { new_phone: newPhone });
    phoneStep = { masked: newPhone.slice(-11, -8) + '****' + newPhone.slice(-4), devOld: res.dev_old_code || null, devNew: res.dev_new_code || null, fresh: true };
    startCooldown(60000);
  } catch (err) {
    phoneMsg = { err };
    if (err.retryAfterMs) startCooldown(err.retryAfterMs);
  }
  rerender();
}

async function confirmPhone(form) {
  const oldCode = form.querySelector('#me-phone-old-code').value.trim();
  const newCode = form.querySelector('#me-phone-new-code').value.trim();
  if (!oldCode || !newCode) {
    phoneMsg = { text: t('me.enter_both_codes'), kind: 'error' };
    rerender();
    return;
  }
  try {
    const me = await getClient().api('POST', '/api/me/phone', { old_code: oldCode, new_code: newCode });
    delete me.pending_review;
    phoneStep = null;
    const input = document.getElementById('me-phone-new');
    if (input) input.value = '';
    phoneMsg = { text: t('me.phone_changed', { phone: me.phone_masked }), kind: 'ok' };
    setMe(me);
  } catch (err) {
    // Those codes are spent: start again from the new number.
    if (err.code === 'too_many_attempts' || err.code === 'code_expired' || err.field === 'new_phone') phoneStep = null;
    phoneMsg = { err, extra: err.code === 'invalid_code' ? t('me.one_code_wrong') : '' };
  }
  rerender();
}

function phoneView(me) {
  const msg = messageLine('me-phone-msg');
  if (phoneMsg && phoneMsg.err) {
    msg.error(phoneMsg.err);
    if (phoneMsg.extra) msg.node.append(' ' + phoneMsg.extra);
  } else if (phoneMsg) msg.set(phoneMsg.text, phoneMsg.kind);
  const left = Math.ceil((cooldownUntil - Date.now()) / 1000);
  const input = el('input', { id: 'me-phone-new', type: 'tel', inputmode: 'numeric', autocomplete: 'tel-national', maxlength: 20, placeholder: t('login.phone_placeholder') });
  const send = el('button', {
    type: 'submit', class: 'secondary', id: 'me-phone-send', disabled: left > 0,
    text: left > 0 ? t('action.resend_in', { seconds: left }) : phoneStep ? t('action.resend') : t('action.send_code'),
  });
  const first = el('form', {
    class: 'stack', id: 'me-phone-form', novalidate: true,
    onsubmit: (e) => { e.preventDefault(); busy(send, () => requestCodes(input)); },
  },
  el('label', { for: 'me-phone-new' }, el('span', { text: t('field.new_phone') }),
    el('span', { class: 'me-inline' }, input, send)));
  let second = null;
  if (phoneStep) {
    const fresh = phoneStep.fresh;
    phoneStep.fresh = false;
    const oldCode = el('input', { id: 'me-phone-old-code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 8 });
    const newCode = el('input', { id: 'me-phone-new-code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 8 });
    if (fresh) {
      oldCode.value = phoneStep.devOld || '';
      newCode.value = phoneStep.devNew || '';
      oldCode.dataset.fresh = '1';
      newCode.dataset.fresh = '1';
    }
    const ok = el('button', { type: 'submit', class: 'primary', id: 'me-phone-confirm', text: t('action.confirm') });
    second = el('form', {
      class: 'stack', id: 'me-phone-verify', novalidate: true,
      onsubmit: (e) => { e.preventDefault(); busy(ok, () => confirmPhone(second)); },
    },
    el('p', { class: 'small muted', text: t('me.phone_codes_sent', { current: me.phone_masked || '', next: phoneStep.masked }) }),
    phoneStep.devOld || phoneStep.devNew ? el('p', { class: 'small muted', text: t('me.dev_codes', { old: phoneStep.devOld || '—', next: phoneStep.devNew || '—' }) }) : null,
    el('label', { for: 'me-phone-old-code' }, el('span', { text: t('field.old_code') }), oldCode),
    el('label', { for: 'me-phone-new-code' }, el('span', { text: t('field.new_code') }), newCode),
    el('div', { class: 'me-actions' }, ok,
      el('button', { type: 'button', class: 'secondary', id: 'me-phone-cancel', text: t('action.cancel'), onclick: () => { phoneStep = null; phoneMsg = null; rerender(); } })));
  }
  return el('section', { class: 'me-card', 'aria-labelledby': 'me-phone-title' },
    el('h2', { class: 'me-section-title', id: 'me-phone-title', text: t('settings.change_phone') }),
    keyValues([[t('profile.phone'), me.phone_masked || '—']]),
    first, second, msg.node);
}

// ---------------------------------------------------------------- age and standing

function ageView(me) {
  const standing = me.standing || 'full';
  let age = t('status.not_set');
  if (me.birth_date) age = formatDate(Date.parse(me.birth_date + 'T00:00:00+08:00')) || me.birth_date;
  else if (me.age_bracket) age = t('age.' + me.age_bracket);
  return el('section', { class: 'me-card', 'aria-labelledby': 'me-age-title' },
    el('h2', { class: 'me-section-title', id: 'me-age-title', text: t('me.age_title') }),
    keyValues([
      [me.birth_date ? t('age.birth_date') : t('age.bracket'), age],
      [t('me.standing_label'), el('span', { id: 'me-standing', class: standing === 'full' ? 'ok' : 'attention', text: t('me.standing.' + standing) })],
    ]),
    me.birth_date || me.age_bracket ? el('p', { class: 'small muted', text: t('age.once') }) : null,
    standing !== 'full' ? el('button', {
      type: 'button', class: 'primary', id: 'me-standing-btn',
      text: t(standing === 'age_undeclared' ? 'age.declare' : 'me.ask_guardian'), onclick: () => openStandingPanel(),
    }) : null);
}

// ---------------------------------------------------------------- deletion

async function requestDeletion() {
  const phrase = t('me.delete_phrase');
  const ok = await confirmDialog({
    id: 'me-delete-dialog',
    title: t('settings.delete_account'),
    text: t('me.delete_text'),
    confirm: t('settings.delete_account'),
    danger: true,
    typed: phrase,
  });
  if (!ok) return;
  const client = getClient();
  deletionError = null;
  // Stop first: the server closes every socket of the account with 4003, and the answer, which
  // names the date, is what the user should see.
  client.disconnect();
  let due = null;
  try {
    const res = await client.api('POST', '/api/me/deletion', {});
    due = res.deletion ? res.deletion.due_at : null;
  } catch (err) {
    client.connect();
    deletionError = err;
    rerender();
    return;
  }
  const d = openDialog({
    id: 'me-deleted-dialog',
    title: t('me.deletion_requested'),
    body: el('p', { id: 'me-deletion-date', text: due ? t('settings.deletion_scheduled', { date: formatDateTime(due) }) : t('conn.account_closed') }),
    actions: [{ label: t('action.done'), primary: true, id: 'me-deleted-ok' }],
    dismissible: false,
  });
  await d.closed;
  await client.logout();
}

function deletionView() {
  const btn = el('button', { type: 'button', class: 'danger', id: 'me-delete-btn', text: t('settings.delete_account'), onclick: () => busy(btn, requestDeletion) });
  return el('section', { class: 'me-card me-danger-zone', 'aria-labelledby': 'me-delete-title' },
    el('h2', { class: 'me-section-title', id: 'me-delete-title', text: t('settings.delete_account') }),
    el('p', { class: 'small muted', text: t('me.delete_note') }),
    deletionError ? el('p', { class: 'small error', role: 'alert' }, errorText(deletionError),
      isTransient(deletionError) ? [' ', el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => busy(btn, requestDeletion) })] : null) : null,
    el('div', { class: 'me-actions' }, btn));
}

export function render() {
  const me = store.me;
  if (!me) return el('p', { class: 'muted', text: t('status.loading') });
  return [sessionsView(), passwordView(me), phoneView(me), ageView(me), deletionView()];
}
