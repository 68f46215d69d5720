/**
 * The console's login: phone, SMS code (the dev code pre-filled where the server gives one),
 * the 《用户协议》《隐私政策》 box (a code login accepts the version in force, so nothing is sent
 * before it is ticked and that version is known), and the documents in an in-page dialog.
 *
 * @module console/login
 */
import { el, $, busy } from '/static/js/ui/dom.js';
import { t, errorText } from '/static/js/i18n.js';
import { deviceLabel } from '/static/js/client.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { say, setLine } from './text.js';
import { client } from './state.js';

const legal = {
  version: null, // the version in force, from GET /api/legal/privacy_policy
  error: null, // that fetch failed: no login can be sent
  gen: 0,
  texts: new Map(), // "<document>@<version>" → {document, version, title, text}
};
let onLoggedIn = () => {};
let cooldownTimer = null;

export function startLogin(h) {
  onLoggedIn = h.onLoggedIn;
  renderAgree();
  $('policy-agree').addEventListener('change', () => {
    if (!$('policy-agree').checked) return;
    $('policy-agree-row').classList.remove('attention');
    if ($('login-error').dataset.policy === '1') setError(null);
  });
  $('policy-retry-btn').addEventListener('click', loadPolicy);
  $('policy-agree-row').addEventListener('click', (e) => {
    const link = e.target.closest && e.target.closest('.legal-link');
    if (!link) return;
    e.preventDefault();
    openLegal(link.dataset.doc);
  });
  const sendBtn = $('send-code-btn');
  sendBtn.addEventListener('click', () => busy(sendBtn, sendCode));
  const form = $('login-form');
  const submit = form.querySelector('button[type=submit]');
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    busy(submit, doLogin).then(renderPolicy);
  });
}

/** Shows the login page, with an optional line of information (why one is here). */
export function showLogin(infoKey = null, infoParams = null, err = null) {
  $('login-view').hidden = false;
  $('app-view').hidden = true;
  setInfo(infoKey, infoParams, err);
  setError(null);
  $('policy-agree').checked = false; // never ticked in advance
  $('policy-agree-row').classList.remove('attention');
  $('login-phone').focus();
  loadPolicy();
}

export function hideLogin() {
  $('login-view').hidden = true;
  $('login-code').value = '';
  $('dev-code-note').hidden = true;
  setError(null);
  setInfo(null);
}

function setError(key, params = null, err = null) {
  setLine($('login-error'), key, params, { err });
  $('login-error').dataset.policy = key === 'legal.agree_required' ? '1' : '';
}

function setInfo(key, params = null, err = null) {
  setLine($('login-info'), key, params, { err });
}

/** 我已阅读并同意《用户协议》和《隐私政策》, with the two documents as buttons (again on a switch). */
export function renderAgree() {
  const parts = t('legal.agree').split(/(\{agreement\}|\{policy\})/);
  const box = $('policy-agree-text');
  box.replaceChildren(...parts.filter(Boolean).map((p, i) => {
    if (p === '{agreement}' || p === '{policy}') {
      const doc = p === '{agreement}' ? 'user_agreement' : 'privacy_policy';
      return el('button', { type: 'button', class: 'link-btn legal-link', 'data-doc': doc,
        text: t(doc === 'user_agreement' ? 'legal.user_agreement' : 'legal.privacy_policy') });
    }
    return i === 0 ? el('label', { for: 'policy-agree', text: p }) : p;
  }));
  renderPolicy();
}

async function fetchLegal(doc, version) {
  const key = doc + '@' + (version || '');
  if (version && legal.texts.has(key)) return legal.texts.get(key);
  const res = await client.api('GET', '/api/legal/' + encodeURIComponent(doc) +
    (version ? '?version=' + encodeURIComponent(version) : ''), undefined, { auth: false });
  legal.texts.set(res.document + '@' + res.version, res);
  return res;
}

// Each time the login page shows: the login sends this version as accepted_policy_version.
async function loadPolicy() {
  const gen = ++legal.gen;
  legal.error = null;
  renderPolicy();
  try {
    const res = await fetchLegal('privacy_policy');
    if (gen !== legal.gen) return;
    if (legal.version && legal.version !== res.version) $('policy-agree').checked = false;
    legal.version = res.version;
  } catch (err) {
    if (gen !== legal.gen) return;
    legal.version = null;
    legal.error = err;
  }
  renderPolicy();
}

function renderPolicy() {
  const ready = !!legal.version;
  const submit = $('login-form').querySelector('button[type=submit]');
  submit.disabled = !ready;
  if (ready) say(submit, null, null, { attr: 'title' });
  else say(submit, legal.error ? 'console.login.policy_failed_short' : 'console.login.policy_loading', null, { attr: 'title' });
  $('policy-agree-row').dataset.version = legal.version || '';
  $('policy-agree-error').hidden = !legal.error;
  say($('policy-agree-error-text'), legal.error ? 'console.login.policy_failed' : null, null, { err: legal.error });
}

function askToAgree() {
  setError('legal.agree_required');
  const row = $('policy-agree-row');
  row.classList.remove('attention');
  void row.offsetWidth; // restarts the highlight
  row.classList.add('attention');
  $('policy-agree').focus();
}

// The user agreement or the privacy policy, in full, in a modal dialog.
function openLegal(doc) {
  const version = legal.version;
  const body = el('div', { id: 'legal-body', class: 'legal-body', tabindex: '0', 'aria-live': 'polite', text: t('status.loading') });
  const meta = el('p', { class: 'small muted legal-version', text: version ? t('console.legal.version', { version }) : '' });
  const d = openDialog({
    id: 'legal-dialog',
    className: 'legal-card',
    title: t(doc === 'user_agreement' ? 'legal.user_agreement' : 'legal.privacy_policy'),
    body: [meta, body],
    actions: [{ label: t('action.close'), id: 'legal-close' }],
  });
  const load = async () => {
    d.setError(null);
    body.textContent = t('status.loading');
    try {
      const res = await fetchLegal(doc, version);
      if (!d.isOpen) return;
      if (res.title) d.card.querySelector('.form-head h2').textContent = res.title;
      meta.textContent = t('console.legal.version', { version: res.version });
      // Verbatim, but without the blank lines some texts open with.
      body.textContent = (res.text || '').replace(/^\s*\n/, '');
      body.scrollTop = 0;
    } catch (err) {
      if (!d.isOpen) return;
      body.textContent = '';
      d.setError(t('console.legal.failed', { error: errorText(err) }));
      const retry = el('button', { type: 'button', class: 'link-btn', text: t('action.retry'), onclick: load });
      d.card.querySelector('.form-error').append(' ', retry);
    }
  };
  load();
}

function cooldown(ms) {
  const btn = $('send-code-btn');
  clearInterval(cooldownTimer);
  const until = Date.now() + ms;
  const step = () => {
    const left = Math.ceil((until - Date.now()) / 1000);
    if (left <= 0) {
      clearInterval(cooldownTimer);
      btn.disabled = false;
      say(btn, 'action.send_code');
      return;
    }
    btn.disabled = true;
    say(btn, 'action.resend_in', { seconds: left });
  };
  step();
  cooldownTimer = setInterval(step, 1000);
}

async function sendCode() {
  setError(null);
  setInfo(null);
  $('dev-code-note').hidden = true;
  const phone = $('login-phone').value.trim();
  if (!phone) {
    setError('login.enter_phone');
    $('login-phone').focus();
    return;
  }
  try {
    const res = await client.requestCode(phone);
    const minutes = res.expires_in_ms ? Math.round(res.expires_in_ms / 60000) : null;
    setInfo(minutes ? 'login.code_sent_valid' : 'login.code_sent', { minutes });
    if (res.dev_code) {
      $('login-code').value = res.dev_code;
      say($('dev-code-note'), 'login.dev_code', { code: res.dev_code });
      $('dev-code-note').hidden = false;
    }
    $('login-code').focus();
  } catch (err) {
    setError('console.raw', { text: () => errorText(err) });
    if (err.retryAfterMs) setTimeout(() => cooldown(err.retryAfterMs), 0);
  }
}

async function doLogin() {
  setError(null);
  // Nothing is sent before the box is ticked and the version in force is known.
  if (!legal.version) {
    renderPolicy();
    setError('console.login.policy_not_loaded');
    return;
  }
  if (!$('policy-agree').checked) {
    askToAgree();
    return;
  }
  const phone = $('login-phone').value.trim();
  const code = $('login-code').value.trim();
  if (!phone) {
    setError('login.enter_phone');
    return;
  }
  if (!code) {
    setError('login.enter_code');
    return;
  }
  try {
    const res = await client.login({ phone, code, accepted_policy_version: legal.version,
      device: t('console.device', { device: deviceLabel() }) });
    hideLogin();
    onLoggedIn(res.user);
  } catch (err) {
    if (err.code === 'policy_not_accepted') {
      // A version published since the page loaded: read and tick again.
      $('policy-agree').checked = false;
      askToAgree();
      loadPolicy();
    } else {
      setError('console.raw', { text: () => errorText(err) });
    }
  }
}
