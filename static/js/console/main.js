/**
 * The moderator console (/console): boots the page, follows the session (login, resume, the
 * staff check, log-out, a suspension or another tab's log-out), the connection status and the
 * language switch, and starts the queue, sanctions and audit modules.
 *
 * @module console/main
 */
import { $, el, busy } from '/static/js/ui/dom.js';
import { t, getLocale, setLocale, onLocaleChange } from '/static/js/i18n.js';
import { closeAllDialogs } from '/static/js/ui/dialog.js';
import { say, setLine, relabel } from './text.js';
import { client, state, resetState, rolesText } from './state.js';
import { startLogin, showLogin, hideLogin, renderAgree } from './login.js';
import { startQueue, subscribe, render } from './queue.js';
import { startSanctions, resetSanctions, showUserInfo } from './sanctions.js';
import { startAudit, resetAudit } from './audit.js';

let conn = { kind: 'idle', retryInMs: 0 };

// ---------------------------------------------------------------- views

function setBanner(key, err = null, { info = false } = {}) {
  const b = $('banner');
  setLine(b, key, null, { err });
  b.classList.toggle('info-banner', !!info);
}

/** The status keeps its words at every width (the dot is drawn by CSS, .conn::before). */
function paintConn() {
  const c = $('conn-status');
  const { kind } = conn;
  c.classList.toggle('open', kind === 'online');
  c.classList.toggle('down', kind === 'offline');
  c.classList.toggle('idle', kind !== 'online' && kind !== 'connecting' && kind !== 'offline');
  c.dataset.state = kind;
  const key = {
    online: 'conn.online', connecting: 'conn.connecting', offline: 'console.conn.reconnecting',
    closed: 'conn.closed', forbidden: 'console.conn.not_subscribed',
  }[kind] || 'conn.closed';
  say(c, key);
  if (kind === 'offline') say(c, 'console.conn.retry_title', { seconds: Math.max(1, Math.ceil(conn.retryInMs / 1000)) }, { attr: 'title' });
  else say(c, kind === 'online' ? 'console.conn.online_title' : 'console.conn.click_title', null, { attr: 'title' });
}

function setConn(kind, retryInMs = 0) {
  conn = { kind, retryInMs };
  paintConn();
  if (state.subscribed) render(); // buttons follow the connection
}

function paintMe() {
  const me = state.me;
  const label = $('me-label');
  if (!me) {
    label.replaceChildren();
    return;
  }
  // The nickname is the user's own (kept as written in either language).
  const parts = [el('span', { class: 'user-content', text: me.nickname || '' }), ` · #${me.id}`];
  if (me.phone_masked) parts.push(' · ' + me.phone_masked);
  if (me.roles && me.roles.length) parts.push(' · ' + rolesText(me.roles));
  label.replaceChildren(...parts);
}

function clearConsole() {
  closeAllDialogs();
  resetState();
  $('queue').replaceChildren();
  $('category-filter').replaceChildren();
  resetSanctions();
  resetAudit();
  $('console-view').hidden = true;
  $('forbidden-view').hidden = true;
  setBanner(null);
  document.title = t('console.title');
}

// ---------------------------------------------------------------- session

function startSession(me) {
  clearConsole();
  state.me = me;
  hideLogin();
  $('app-view').hidden = false;
  paintMe();
  setConn(client.state === 'online' ? 'online' : 'connecting');
  // The client connects by itself (login, resume); 'online' subscribes.
  if (client.state === 'online') subscribe();
}

function endSession(infoKey) {
  clearConsole();
  setConn('idle');
  showLogin(infoKey);
}

function showForbidden(err) {
  state.forbidden = true;
  state.subscribed = false;
  client.disconnect(); // nothing else to do on this socket
  $('console-view').hidden = true;
  $('forbidden-view').hidden = false;
  const me = state.me;
  say($('forbidden-detail'), 'console.forbidden.detail', {
    who: me ? '#' + me.id + (me.phone_masked ? ' ' + me.phone_masked : '') : '',
  }, { err });
  setConn('forbidden');
}

async function logout() {
  await client.logout();
  endSession(null);
}

async function resume(attempt = 0) {
  let me;
  try {
    me = await client.resume();
  } catch (err) {
    if (err.code === 'unauthorized') {
      showLogin('conn.auth_expired');
      return;
    }
    // The server cannot be reached: the login page, and another try in a while.
    const delay = Math.min(30000, 1000 * 2 ** attempt);
    showLogin('console.login.resume_retry', { seconds: Math.ceil(delay / 1000) }, err);
    setTimeout(() => { if (!state.me && client.loggedIn) resume(attempt + 1); }, delay);
    return;
  }
  if (me) startSession(me);
  else showLogin();
}

function wireClient() {
  client.on('connecting', () => { if (state.me && !state.forbidden) setConn('connecting'); });
  client.on('online', () => {
    if (!state.me || state.forbidden) return;
    setConn('online');
    subscribe();
  });
  client.on('offline', ({ retryInMs }) => { if (state.me && !state.forbidden) setConn('offline', retryInMs); });
  client.on('closed', () => { if (state.me && !state.forbidden) setConn('closed'); });
  client.on('auth_expired', () => { if (state.me) endSession('conn.auth_expired'); });
  client.on('account_closed', () => { if (state.me) endSession('console.session.account_closed'); });
  client.on('suspended', () => { if (state.me) endSession('console.session.suspended'); });
  client.on('too_many_sockets', () => setBanner('conn.too_many_sockets'));
  // Another tab logged out, or in as someone else: start again from the stored login.
  client.on('logged_out', ({ reason }) => { if (reason === 'elsewhere') location.reload(); });
  $('conn-status').addEventListener('click', () => {
    if (client.state === 'offline') client.reconnectNow();
    else if (client.state === 'closed' && state.me && !state.forbidden) client.connect();
  });
}

// ---------------------------------------------------------------- language

function wireLanguage() {
  for (const btn of document.querySelectorAll('.lang-btn')) {
    btn.addEventListener('click', () => setLocale(getLocale() === 'en' ? 'zh-CN' : 'en'));
  }
  onLocaleChange(() => {
    relabel(document);
    renderAgree();
    paintConn();
    paintMe();
    render();
    if (!$('act-user-info').hidden) showUserInfo();
  });
}

function init() {
  relabel(document);
  wireLanguage();
  wireClient();
  startLogin({ onLoggedIn: startSession });
  startQueue({ onForbidden: showForbidden, onBanner: (key, err) => setBanner(key, err) });
  startSanctions();
  startAudit();
  const out = $('logout-btn');
  out.addEventListener('click', () => busy(out, logout));
  const out2 = $('forbidden-logout');
  out2.addEventListener('click', () => busy(out2, logout));
  paintConn();
  resume();
}

init();
