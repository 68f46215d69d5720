/**
 * The web client's start: resumes a stored login or shows the login page; starts the session
 * (the chat, the standing, the four tabs); the connection status `#conn-status`; the notices
 * of moderation; the policy banner after a new policy version; and the endings (log-out,
 * expired login, account deletion, suspension), which go back to the login page.
 *
 * @module app/main
 */
import { getClient } from '/static/js/client.js';
import { t, errorText, applyI18n, onLocaleChange, formatUntil } from '/static/js/i18n.js';
import { el, $, show, clear } from '/static/js/ui/dom.js';
import { closeAllDialogs } from '/static/js/ui/dialog.js';
import { hideToast } from '/static/js/ui/toast.js';
import { forgetAllPhotos } from '/static/js/ui/photo.js';
import { mountTabbar, setBadge } from '/static/js/ui/tabbar.js';
import { store, setMe, setPolicy, clearSession, onStore } from '/static/js/app/store.js';
import { registerTab, navigate, parseHash, followHistory, resetTabs } from '/static/js/app/nav.js';
import { mountLogin, showLogin, hideLogin } from '/static/js/pages/login.js';
import { openLegal } from '/static/js/pages/legal.js';
import { startStanding } from '/static/js/pages/standing.js';
import { startChat, resetChat, onChat, totalUnread, applyMeMute } from '/static/js/pages/chat-data.js';
import { openAppeal } from '/static/js/pages/report.js';
import { noteAppealed } from '/static/js/pages/chat-data.js';
import * as messagesPage from '/static/js/pages/messages.js';
import * as livePage from '/static/js/pages/live.js';
import * as communityPage from '/static/js/pages/community.js';
import { mount as meMount, show as meShow, hide as meHide, unmount as meUnmount } from '/static/js/pages/me.js';

const client = getClient();
const DOCUMENTS = ['user_agreement', 'privacy_policy'];

// ---------------------------------------------------------------- connection status

let conn = { key: 'conn.connecting', params: null, cls: 'connecting', until: 0 };
let connTimer = null;
function renderConn() {
  const node = $('conn-status');
  let params = conn.params;
  if (conn.until) params = { seconds: Math.max(0, Math.ceil((conn.until - Date.now()) / 1000)) };
  node.textContent = t(conn.key, params);
  node.className = 'conn-status ' + conn.cls;
  node.title = conn.cls === 'offline' ? t('conn.retry_now') : '';
}
function setConn(key, cls, until = 0) {
  conn = { key, params: null, cls, until };
  clearInterval(connTimer);
  if (until) connTimer = setInterval(renderConn, 1000);
  renderConn();
}

// ---------------------------------------------------------------- notices

let notice = null; // {key, params, action: {key, fn}}
function showNotice(key, params, { warn = false, action = null } = {}) {
  notice = { key, params, warn, action };
  renderNotice();
}
function renderNotice() {
  const box = $('app-notice');
  box.hidden = !notice;
  if (!notice) return;
  box.classList.toggle('warn', !!notice.warn);
  clear(box,
    el('span', { id: 'app-notice-text', text: t(notice.key, notice.params) }),
    notice.action ? el('button', { type: 'button', class: 'link', text: t(notice.action.key), onclick: () => { const a = notice.action; notice = null; renderNotice(); a.fn(); } }) : null,
    el('button', { type: 'button', class: 'icon-btn notice-close', 'aria-label': t('action.close'), text: '×', onclick: () => { notice = null; renderNotice(); } }));
}

function onDecided(d) {
  const approved = d.decision === 'approve';
  const params = { reason: d.reason || '' };
  const appeal = !approved && d.kind !== 'appeal' && d.item_id != null
    ? { key: 'action.appeal', fn: () => openAppeal(d.item_id, { onDone: noteAppealed }) } : null;
  const key = {
    chat_text: approved ? null : 'mod.message_rejected',
    media: approved ? 'mod.photo_approved' : 'mod.photo_rejected',
    intro: approved ? 'profile.approved_generic' : 'profile.rejected_generic',
    nickname: approved ? 'profile.approved_generic' : 'profile.rejected_generic',
    report_message: approved ? null : 'mod.message_removed',
    report_media: approved ? null : 'mod.message_removed',
    report_user: approved ? null : 'mod.profile_reset',
    appeal: approved ? 'mod.appeal_upheld' : 'mod.appeal_rejected',
  }[d.kind];
  if (!key) return;
  showNotice(d.reason && !approved ? 'mod.with_reason' : key, { text: t(key), ...params }, { warn: !approved, action: appeal });
  if (['intro', 'nickname', 'report_user', 'appeal'].includes(d.kind)) refreshMe();
}

// ---------------------------------------------------------------- the policy banner

let policyTodo = [];
let acceptedAtLogin = null;

async function checkPolicy() {
  try {
    const cs = await client.request('consent.list', {});
    policyTodo = (cs.current || []).filter((c) => DOCUMENTS.includes(c.permission) && !c.granted).map((c) => c.permission);
    setPolicy({ version: cs.policy_version, accepted: !policyTodo.length });
    if (policyTodo.length && acceptedAtLogin && acceptedAtLogin === cs.policy_version) {
      acceptedAtLogin = null;
      await acceptPolicy();
      return;
    }
    acceptedAtLogin = null;
  } catch (_) {
    return; // asked again at the next connection
  }
  renderPolicy();
}

async function acceptPolicy() {
  for (const permission of DOCUMENTS) {
    await client.api('POST', '/api/me/consents', { permission, granted: true });
  }
  await checkPolicy();
  return true;
}

function renderPolicy() {
  const box = $('policy-banner');
  // The version last checked against the ledger (a test waits on it before looking).
  box.dataset.version = store.policy.version || '';
  box.hidden = !store.me || !policyTodo.length;
  if (box.hidden) return;
  const err = el('span', { class: 'form-error small', role: 'alert', hidden: true });
  const btn = el('button', { type: 'button', id: 'policy-accept-btn', class: 'primary small-btn', text: t('action.agree') });
  btn.addEventListener('click', async () => {
    btn.disabled = true;
    try { await acceptPolicy(); } catch (e) { err.textContent = errorText(e); err.hidden = false; btn.disabled = false; }
  });
  const link = (doc) => el('button', { type: 'button', class: 'link legal-link', dataset: { doc }, text: t('legal.' + doc),
    onclick: () => openLegal(doc, { accept: acceptPolicy }) });
  box.replaceChildren(el('span', { class: 'policy-text', text: t('legal.policy_banner') }),
    el('span', { class: 'policy-links' }, link('user_agreement'), link('privacy_policy')), btn, err);
}

// ---------------------------------------------------------------- the session

async function refreshMe() {
  try {
    const me = await client.api('GET', '/api/me');
    if (store.me) setMe(me);
  } catch (_) { /* the next time */ }
}

let tabsRegistered = false;
function registerTabs() {
  if (tabsRegistered) return;
  tabsRegistered = true;
  registerTab('messages', messagesPage, $('tab-messages'));
  registerTab('live', livePage, $('tab-live'));
  registerTab('community', communityPage, $('tab-community'));
  registerTab('me', { mount: meMount, show: meShow, hide: meHide, unmount: meUnmount }, $('tab-me'));
  mountTabbar($('tabbar'));
  followHistory('messages');
}

function startSession(me, { deletionCancelled = false } = {}) {
  setMe(me);
  hideLogin();
  show($('app-view'), true);
  registerTabs();
  startChat();
  applyMeMute(me);
  const at = parseHash() || { tab: 'messages', view: null };
  navigate(at.tab, at.view, { replace: true });
  if (deletionCancelled) showNotice('login.deletion_cancelled');
  renderPolicy();
}

function endSession(infoKey = null) {
  closeAllDialogs();
  hideToast();
  resetChat();
  resetTabs();
  forgetAllPhotos();
  clearSession();
  policyTodo = [];
  notice = null;
  renderNotice();
  renderPolicy();
  show($('app-view'), false);
  document.body.classList.remove('conv-open');
  document.title = t('brand.title');
  if (location.hash) history.replaceState(null, '', location.pathname);
  showLogin({ info: infoKey });
}

async function resume(attempt = 0) {
  try {
    const me = await client.resume();
    if (me) startSession(me);
    else showLogin();
  } catch (err) {
    if (err.code === 'unauthorized') return; // auth_expired shows the login
    showLogin({ info: 'login.resume_failed', notice: false });
    const delay = Math.min(30000, 1000 * 2 ** attempt);
    setTimeout(() => { if (!store.me && client.loggedIn) resume(attempt + 1); }, delay);
  }
}

function boot() {
  applyI18n(document);
  document.title = t('brand.title');
  mountLogin($('login-view'), {
    onLoggedIn: (res, { acceptedVersion }) => {
      acceptedAtLogin = acceptedVersion;
      startSession(res.user, { deletionCancelled: !!res.deletion_cancelled });
    },
  });
  startStanding();

  client.on('connecting', () => setConn('conn.connecting', 'connecting'));
  client.on('online', () => { setConn('conn.online', 'open'); checkPolicy(); refreshMe(); });
  client.on('offline', ({ retryInMs }) => setConn('conn.retry_in', 'offline', Date.now() + (retryInMs || 0)));
  client.on('closed', () => setConn('conn.closed', 'closed'));
  $('conn-status').addEventListener('click', () => client.reconnectNow());

  client.on('auth_expired', () => { if (store.me) endSession('conn.auth_expired'); else showLogin({ info: 'conn.auth_expired' }); });
  client.on('account_closed', () => endSession('conn.account_closed'));
  client.on('suspended', () => endSession('conn.suspended'));
  client.on('logged_out', ({ reason }) => endSession(reason === 'elsewhere' ? 'conn.logged_out_elsewhere' : null));
  client.on('too_many_sockets', () => showNotice('conn.too_many_sockets', null, { warn: true }));
  client.on('restricted', () => showNotice('guardian.withdrawn', null, { warn: true }));
  client.on('consent.policy_changed', () => { checkPolicy(); showNotice('legal.policy_updated', null, { warn: true }); });
  client.on('moderation.warning', (d) => showNotice('mod.warning', { reason: d.reason || '' }, { warn: true }));
  client.on('moderation.muted', (d) => showNotice('mod.muted', { until: formatUntil(d.until) }, { warn: true }));
  client.on('moderation.lifted', () => { showNotice('mod.lifted'); refreshMe(); });
  client.on('moderation.decided', onDecided);

  onChat((parts) => {
    if (!parts.has('list')) return;
    const n = totalUnread();
    setBadge('messages', n);
    document.title = n ? t('brand.title_unread', { count: n }) : t('brand.title');
  });
  onStore('me', (me) => { if (me) applyMeMute(me); });
  onLocaleChange(() => {
    applyI18n(document);
    renderConn();
    renderNotice();
    renderPolicy();
    const n = totalUnread();
    document.title = n ? t('brand.title_unread', { count: n }) : t('brand.title');
  });
  renderConn();
  resume();
}

boot();

