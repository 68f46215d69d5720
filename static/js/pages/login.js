/**
 * The login page (`#login-view`): a code login (which registers a new number, with its age)
 * or a password login, behind the 我已阅读并同意《用户协议》和《隐私政策》 box `#policy-agree`
 * (never ticked in advance; a code login carries the version it accepted), and a 中文/English
 * switch.
 *
 *   mountLogin(root, { onLoggedIn: (res, { acceptedVersion }) => … });
 *   showLogin({ info: t('conn.suspended') });
 *
 * @module pages/login
 */
import { getClient, normalizePhone } from '/static/js/client.js';
import { t, errorText, applyI18n, onLocaleChange, setLocale, getLocale } from '/static/js/i18n.js';
import { el, $, busy, show } from '/static/js/ui/dom.js';
import { fetchLegal, legalLink } from '/static/js/pages/legal.js';
import { ageFields } from '/static/js/pages/standing.js';

const client = getClient();
let root = null;
let onLoggedIn = () => {};
let policy = { version: null, error: null, gen: 0 };
let cooldownTimer = null;
let info = null; // {key, params} of the login-info line

const i18n = (tag, key, props = {}) => el(tag, Object.assign({ 'data-i18n': key, text: t(key) }, props));

function setError(err) {
  const node = $('login-error');
  node.hidden = !err;
  node.textContent = !err ? '' : typeof err === 'string' ? t(err) : errorText(err);
  node.dataset.key = typeof err === 'string' ? err : '';
}

function setInfo(key, params, notice = false) {
  info = key ? { key, params } : null;
  const node = $('login-info');
  node.hidden = !key;
  node.textContent = key ? t(key, params) : '';
  node.classList.toggle('notice', !!(key && notice));
}

async function loadPolicy() {
  const gen = ++policy.gen;
  policy.error = null;
  renderPolicy();
  try {
    const res = await fetchLegal('privacy_policy');
    if (gen !== policy.gen) return;
    if (policy.version && policy.version !== res.version) $('policy-agree').checked = false;
    policy.version = res.version;
  } catch (err) {
    if (gen !== policy.gen) return;
    policy.version = null;
    policy.error = err;
  }
  renderPolicy();
}

function renderPolicy() {
  const ready = !!policy.version;
  for (const id of ['code-submit', 'pw-submit']) {
    const b = $(id);
    if (b && b.dataset.busy !== '1') b.disabled = !ready;
  }
  $('policy-agree-row').dataset.version = policy.version || '';
  const box = $('policy-agree-error');
  box.hidden = !policy.error;
  $('policy-agree-error-text').textContent = policy.error ? t('login.policy_unavailable') + ' ' + errorText(policy.error) : '';
}

function agreed() {
  if (!policy.version) {
    setError('login.policy_loading');
    return false;
  }
  if ($('policy-agree').checked) return true;
  askToAgree();
  return false;
}

function askToAgree() {
  setError({ code: 'policy_not_accepted' });
  const row = $('policy-agree-row');
  row.classList.remove('attention');
  void row.offsetWidth; // restarts the highlight
  row.classList.add('attention');
  $('policy-agree').focus();
}

function refused(err) {
  if (err.code !== 'policy_not_accepted') {
    setError(err);
    return;
  }
  $('policy-agree').checked = false;
  askToAgree();
  loadPolicy();
}

function cooldown(button, ms) {
  clearInterval(cooldownTimer);
  const until = Date.now() + ms;
  const tick = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(cooldownTimer);
      button.disabled = false;
      button.textContent = t('action.send_code');
      return;
    }
    button.disabled = true;
    button.textContent = t('action.resend_in', { seconds: left });
  };
  tick();
  cooldownTimer = setInterval(tick, 1000);
}

function showTab(password) {
  $('tab-code').classList.toggle('active', !password);
  $('tab-code').setAttribute('aria-selected', String(!password));
  $('tab-password').classList.toggle('active', password);
  $('tab-password').setAttribute('aria-selected', String(password));
  show($('code-form'), !password);
  show($('password-form'), password);
  setError(null);
}

function build() {
  const age = ageFields('code-age');
  age.date.id = 'code-birth-date';
  age.select.id = 'code-age-bracket';

  const phone = el('input', { id: 'code-phone', name: 'phone', type: 'tel', inputmode: 'tel', autocomplete: 'tel',
    'data-i18n-placeholder': 'login.phone_placeholder', placeholder: t('login.phone_placeholder'), required: true });
  const code = el('input', { id: 'code-code', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: 6,
    'data-i18n-placeholder': 'login.code_placeholder', placeholder: t('login.code_placeholder') });
  const sendBtn = i18n('button', 'action.send_code', { type: 'button', id: 'send-code-btn', class: 'secondary' });
  const devNote = el('p', { id: 'dev-code-note', class: 'note', hidden: true });
  const codeSubmit = i18n('button', 'action.login_register', { type: 'submit', id: 'code-submit', class: 'primary block', disabled: true });
  const codeForm = el('form', { id: 'code-form', class: 'stack', autocomplete: 'on', novalidate: true },
    el('label', { class: 'field' }, i18n('span', 'login.phone'), phone),
    el('label', { class: 'field' }, i18n('span', 'login.code'), el('span', { class: 'row' }, code, sendBtn)),
    devNote,
    el('details', { class: 'age-fields' },
      i18n('summary', 'age.for_new_account'),
      i18n('p', 'age.login_note', { class: 'small muted' }),
      ...age.nodes),
    i18n('p', 'login.new_account_hint', { class: 'small muted' }),
    codeSubmit);

  const pwPhone = el('input', { id: 'pw-phone', name: 'phone', type: 'tel', inputmode: 'tel', autocomplete: 'username',
    'data-i18n-placeholder': 'login.phone_placeholder', placeholder: t('login.phone_placeholder'), required: true });
  const pw = el('input', { id: 'pw-password', name: 'password', type: 'password', autocomplete: 'current-password',
    'data-i18n-placeholder': 'login.password_placeholder', placeholder: t('login.password_placeholder'), required: true });
  const pwSubmit = i18n('button', 'action.login', { type: 'submit', id: 'pw-submit', class: 'primary block', disabled: true });
  const pwForm = el('form', { id: 'password-form', class: 'stack', hidden: true, novalidate: true },
    el('label', { class: 'field' }, i18n('span', 'login.phone'), pwPhone),
    el('label', { class: 'field' }, i18n('span', 'login.password'), pw),
    pwSubmit);

  const agree = el('input', { type: 'checkbox', id: 'policy-agree' });
  const agreeRow = el('div', { id: 'policy-agree-row', class: 'agree-row' }, agree,
    el('span', { class: 'agree-text' }, i18n('label', 'login.agree_prefix', { for: 'policy-agree' }),
      legalLink('user_agreement'), i18n('span', 'login.agree_and'), legalLink('privacy_policy')));
  agree.addEventListener('change', () => {
    if (!agree.checked) return;
    agreeRow.classList.remove('attention');
    if (!$('login-error').hidden) setError(null);
  });

  const langBtn = el('button', { type: 'button', id: 'lang-toggle', class: 'link lang-toggle', 'aria-label': 'Language / 语言',
    onclick: () => setLocale(getLocale() === 'en' ? 'zh-CN' : 'en') },
  el('span', { class: getLocale() === 'en' ? '' : 'on', text: '中文' }), ' / ', el('span', { class: getLocale() === 'en' ? 'on' : '', text: 'English' }));

  const card = el('div', { class: 'card login-card' },
    el('div', { class: 'login-top' }, langBtn),
    el('h1', { class: 'login-brand' }, i18n('span', 'brand.name')),
    i18n('p', 'login.tagline', { class: 'muted login-tagline' }),
    el('div', { class: 'seg', role: 'tablist' },
      i18n('button', 'login.by_code', { type: 'button', class: 'seg-btn active', id: 'tab-code', role: 'tab', 'aria-selected': 'true', onclick: () => showTab(false) }),
      i18n('button', 'login.by_password', { type: 'button', class: 'seg-btn', id: 'tab-password', role: 'tab', 'aria-selected': 'false', onclick: () => showTab(true) })),
    codeForm, pwForm, agreeRow,
    el('p', { id: 'policy-agree-error', class: 'form-error small', role: 'alert', hidden: true },
      el('span', { id: 'policy-agree-error-text' }), ' ',
      i18n('button', 'action.retry', { type: 'button', class: 'link', id: 'policy-retry-btn', onclick: loadPolicy })),
    el('p', { id: 'login-info', class: 'small info', role: 'status', hidden: true }),
    el('p', { id: 'login-error', class: 'form-error', role: 'alert', hidden: true }));
  root.replaceChildren(card);

  sendBtn.addEventListener('click', () => busy(sendBtn, async () => {
    setError(null);
    setInfo(null);
    devNote.hidden = true;
    const number = normalizePhone(phone.value);
    if (!number) return setError('login.enter_phone');
    try {
      const res = await client.requestCode(number);
      const minutes = res.expires_in_ms ? Math.round(res.expires_in_ms / 60000) : null;
      if (minutes) setInfo('login.code_sent_valid', { minutes });
      else setInfo('login.code_sent');
      if (res.dev_code) {
        code.value = res.dev_code;
        devNote.textContent = t('login.dev_code', { code: res.dev_code });
        devNote.hidden = false;
      }
      code.focus();
    } catch (err) {
      setError(err);
      if (err.retryAfterMs) setTimeout(() => cooldown(sendBtn, err.retryAfterMs), 0);
    }
  }));

  codeForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(codeSubmit, async () => {
      setError(null);
      if (!agreed()) return;
      if (!normalizePhone(phone.value)) return setError('login.enter_phone');
      if (!code.value.trim()) return setError('login.enter_code');
      const a = age.read();
      if (a.error) return setError(a.error);
      try {
        const res = await client.login(Object.assign({ phone: phone.value, code: code.value, accepted_policy_version: policy.version }, a.value));
        code.value = '';
        age.clear();
        onLoggedIn(res, { acceptedVersion: null });
      } catch (err) {
        refused(err);
      }
    }).then(renderPolicy);
  });

  pwForm.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(pwSubmit, async () => {
      setError(null);
      if (!agreed()) return;
      if (!normalizePhone(pwPhone.value)) return setError('login.enter_phone');
      const accepted = policy.version;
      try {
        const res = await client.login({ phone: pwPhone.value, password: pw.value });
        pw.value = '';
        onLoggedIn(res, { acceptedVersion: accepted });
      } catch (err) {
        refused(err);
      }
    }).then(renderPolicy);
  });
}

/** Draws the login page into `rootEl` (once). */
export function mountLogin(rootEl, { onLoggedIn: cb } = {}) {
  root = rootEl;
  if (cb) onLoggedIn = cb;
  build();
  onLocaleChange(() => {
    applyI18n(root);
    const lang = $('lang-toggle');
    if (lang) {
      lang.children[0].className = getLocale() === 'en' ? '' : 'on';
      lang.children[1].className = getLocale() === 'en' ? 'on' : '';
    }
    const err = $('login-error');
    if (!err.hidden && err.dataset.key) err.textContent = t(err.dataset.key);
    else if (!err.hidden) err.hidden = true; // an errorText of the other language: said again on the next try
    if (info) setInfo(info.key, info.params, $('login-info').classList.contains('notice'));
    renderPolicy();
  });
}

/** Shows the page (asks the version in force again); `info`: a key to show (why we are here). */
export function showLogin({ info: key = null, params = null, notice = true } = {}) {
  show(root, true);
  setError(null);
  setInfo(key, params, notice);
  $('policy-agree').checked = false;
  $('dev-code-note').hidden = true;
  loadPolicy();
}

export function hideLogin() {
  show(root, false);
}
