/**
 * The account's standing (Me.standing): an age to declare (`age_undeclared`) or a guardian's
 * consent to get (`awaiting_guardian`, under 14). Until then chat and profile changes are
 * refused (`age_required`, `guardian_required`). The overlay `#standing-overlay` asks for it
 * (at login, or from the banner `#standing-banner` after 稍后); `openStandingPanel()` opens it
 * from anywhere (我的 → settings).
 *
 * @module pages/standing
 */
import { getClient, normalizePhone } from '/static/js/client.js';
import { t, errorText, onLocaleChange } from '/static/js/i18n.js';
import { el, $, busy } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { store, setMe, patchMe, onStore } from '/static/js/app/store.js';

const client = getClient();
let dialog = null;
let dismissed = false;

export const isRestriction = (err) => !!err && (err.code === 'age_required' || err.code === 'guardian_required');
const standingOf = () => (store.me && store.me.standing) || 'full';

function todayInChina() {
  return new Date(Date.now() + 8 * 3600000).toISOString().slice(0, 10);
}

/** The age fields (a date, or a bracket): used on the login page too. */
export function ageFields(prefix) {
  const date = el('input', { id: prefix + '-birth-date', type: 'date', autocomplete: 'bday', min: '1900-01-01', max: todayInChina() });
  const select = el('select', { id: prefix + '-bracket' },
    el('option', { value: '', 'data-i18n': 'age.none', text: t('age.none') }),
    ...['under_14', 'from_14_to_17', 'adult'].map((b) => el('option', { value: b, 'data-i18n': 'age.' + b, text: t('age.' + b) })));
  date.addEventListener('input', () => { if (date.value) select.value = ''; });
  select.addEventListener('change', () => { if (select.value) date.value = ''; });
  const read = () => {
    if (date.validity && date.validity.badInput) return { error: { code: 'invalid_field', field: 'birth_date' } };
    if (date.value) return { value: { birth_date: date.value } };
    if (select.value) return { value: { age_bracket: select.value } };
    return { value: {} };
  };
  const clearAll = () => { date.value = ''; select.value = ''; };
  const nodes = [
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'age.birth_date', text: t('age.birth_date') }), date),
    el('label', { class: 'field' }, el('span', { 'data-i18n': 'age.or_bracket', text: t('age.or_bracket') }), select),
  ];
  return { nodes, date, select, read, clear: clearAll };
}

/** A refused command says more than we knew: the standing it implies. */
export function noteRestriction(err) {
  const standing = err.code === 'age_required' ? 'age_undeclared' : 'awaiting_guardian';
  if (standingOf() === standing) return;
  dismissed = false;
  patchMe({ standing });
  refreshMe();
}

async function refreshMe() {
  try {
    const me = await client.api('GET', '/api/me');
    if (store.me) setMe(me);
  } catch (_) { /* the next refresh */ }
}

function applyAge(st) {
  const prev = standingOf();
  patchMe({ birth_date: st.birth_date ?? null, age_bracket: st.age_bracket ?? null, standing: st.standing });
  if (st.standing === 'full' && prev !== 'full') {
    showToast(t(prev === 'awaiting_guardian' ? 'guardian.consented' : 'age.recorded'));
  }
}

function errorLine(id) {
  return el('p', { id, class: 'form-error', role: 'alert', hidden: true });
}
function showError(node, err) {
  node.textContent = typeof err === 'string' ? err : errorText(err);
  node.hidden = false;
}

function ageStep(d) {
  const age = ageFields('age');
  const error = errorLine('age-error');
  const submit = el('button', { type: 'submit', id: 'age-submit', class: 'primary', text: t('action.confirm') });
  const later = el('button', { type: 'button', class: 'secondary', text: t('action.later'), onclick: () => dismiss() });
  const form = el('form', { class: 'stack', novalidate: true },
    el('p', { class: 'small', text: t('age.required_note') }),
    el('p', { class: 'small muted', text: t('age.once') }),
    ...age.nodes, error, el('div', { class: 'form-actions' }, later, submit));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, async () => {
      error.hidden = true;
      const a = age.read();
      if (a.error) return showError(error, a.error);
      if (!a.value.birth_date && !a.value.age_bracket) return showError(error, t('age.enter'));
      try {
        applyAge(await client.api('POST', '/api/me/age', a.value));
      } catch (err) {
        if (err.code === 'unauthorized') return;
        showError(error, err);
        if (err.code === 'invalid_field') refreshMe();
      }
    });
  });
  return el('div', { id: 'age-step' }, form);
}

function guardianStep() {
  const phone = el('input', { id: 'guardian-phone', type: 'tel', inputmode: 'tel', autocomplete: 'off', placeholder: t('login.phone_placeholder') });
  const send = el('button', { type: 'button', id: 'guardian-send-btn', class: 'secondary', text: t('action.send_code') });
  const info = el('p', { class: 'small muted', role: 'status', hidden: true });
  const code = el('input', { id: 'guardian-code', inputmode: 'numeric', autocomplete: 'off', maxlength: 6, placeholder: t('login.code_placeholder') });
  const error = errorLine('guardian-error');
  const verify = el('button', { type: 'submit', id: 'guardian-verify-btn', class: 'primary', text: t('action.verify') });
  send.addEventListener('click', () => busy(send, async () => {
    error.hidden = true;
    const number = normalizePhone(phone.value);
    if (!number) return showError(error, t('login.enter_phone'));
    try {
      const res = await client.api('POST', '/api/me/guardian/code', { guardian_phone: number });
      info.textContent = t('guardian.code_sent', { phone: number.replace(/^(\d{3})\d{4}(\d{4})$/, '$1****$2') });
      info.hidden = false;
      if (res.dev_code) code.value = res.dev_code;
      code.focus();
    } catch (err) {
      if (err.code === 'unauthorized') return;
      showError(error, err);
      if (err.code === 'forbidden') refreshMe();
    }
  }));
  const form = el('form', { class: 'stack', novalidate: true },
    el('p', { class: 'small', text: t('guardian.note') }),
    el('p', { class: 'small attention', text: t('guardian.deadline') }),
    el('label', { class: 'field' }, el('span', { text: t('guardian.phone') }), el('span', { class: 'row' }, phone, send)),
    info,
    el('label', { class: 'field' }, el('span', { text: t('guardian.code') }), code),
    error,
    el('div', { class: 'form-actions' }, el('button', { type: 'button', class: 'secondary', text: t('action.later'), onclick: () => dismiss() }), verify));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(verify, async () => {
      error.hidden = true;
      if (!code.value.trim()) return showError(error, t('login.enter_code'));
      try {
        applyAge(await client.api('POST', '/api/me/guardian/verify', { code: code.value.trim() }));
      } catch (err) {
        if (err.code !== 'unauthorized') showError(error, err);
      }
    });
  });
  return el('div', { id: 'guardian-step' }, form);
}

function dismiss() {
  dismissed = true;
  close();
  renderBanner();
}

function close() {
  if (dialog) {
    const d = dialog;
    dialog = null;
    d.close();
  }
}

function render() {
  const standing = standingOf();
  const known = standing === 'age_undeclared' || standing === 'awaiting_guardian';
  renderBanner();
  if (!store.me || !known || dismissed) {
    close();
    return;
  }
  if (dialog && dialog.standing === standing) return;
  close();
  const d = openDialog({
    id: 'standing-overlay',
    className: 'standing-card',
    title: t(standing === 'age_undeclared' ? 'age.title' : 'guardian.title'),
    body: standing === 'age_undeclared' ? ageStep() : guardianStep(),
    dismissible: true,
    onClose: () => {
      if (dialog === d) {
        dialog = null;
        dismissed = true;
        renderBanner();
      }
    },
  });
  d.standing = standing;
  dialog = d;
}

function renderBanner() {
  const banner = $('standing-banner');
  if (!banner) return;
  const standing = store.me ? standingOf() : 'full';
  banner.hidden = standing === 'full';
  if (banner.hidden) return;
  banner.replaceChildren(
    el('span', { text: t(standing === 'age_undeclared' ? 'age.banner' : 'guardian.banner') }),
    el('button', { type: 'button', class: 'secondary small-btn', text: t(standing === 'age_undeclared' ? 'age.declare' : 'guardian.title'),
      onclick: openStandingPanel }));
}

/** Opens the age / guardian overlay (from the banner, or 我的 → settings). */
export function openStandingPanel() {
  dismissed = false;
  render();
}

let started = false;
/** Follows store.me: called once at boot. */
export function startStanding() {
  if (started) return;
  started = true;
  onStore('me', render);
  onStore('signed_out', () => { dismissed = false; close(); renderBanner(); });
  onLocaleChange(() => {
    renderBanner();
    if (dialog) { const s = dialog.standing; close(); dismissed = false; if (s) render(); }
  });
  client.on('account.standing', (d) => { if (d.standing) patchMe({ standing: d.standing }); refreshMe(); });
  client.on('restricted', () => { dismissed = false; patchMe({ standing: 'awaiting_guardian' }); refreshMe(); });
}
