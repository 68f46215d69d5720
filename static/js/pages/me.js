/**
 * The 我的 (Me) tab: the profile card and the settings list, and its views, each a module of
 * its own (`navigate('me', view)`): `profile` (me-profile.js: nickname, gender, intro, avatar),
 * `consents` (me-privacy.js: permission toggles, readable receipts), `export` (me-export.js),
 * `account` (me-account.js: devices, password, phone number, age, deletion), `wards`
 * (me-guardian.js), `verdicts` (我的鉴定: verdict-list.js) and `verdict:<number>` (one
 * verdict: verdict-detail.js; the part after the colon is the view's argument, given to its
 * `enter(ctx, arg)`; a view's `BACK` names where 返回 goes). A view re-renders on every change
 * of what it shows and on a language switch; what was typed into its fields survives a
 * re-render.
 *
 *   registerTab('me', mePage, root)   // mePage: import * as mePage from '/static/js/pages/me.js'
 *
 * @module pages/me
 */
import { el, clear } from '/static/js/ui/dom.js';
import { t, onLocaleChange, setLocale, getLocale, formatDateTime, errorText } from '/static/js/i18n.js';
import { getClient } from '/static/js/client.js';
import { store, setMe, onStore } from '/static/js/app/store.js';
import { openLegal } from '/static/js/pages/legal.js';
import { navigate } from '/static/js/app/nav.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { consents, loadConsents, onConsents, mergeConsentRecord, resetConsents, currentOf, DOCUMENTS } from './me-common.js';
import * as profileView from './me-profile.js';
import * as privacyView from './me-privacy.js';
import * as exportView from './me-export.js';
import * as accountView from './me-account.js';
import * as guardianView from './me-guardian.js';
import * as verdictListView from './verdict-list.js';
import * as verdictView from './verdict-detail.js';

const VIEWS = {
  profile: profileView,
  consents: privacyView,
  export: exportView,
  account: accountView,
  wards: guardianView,
  verdicts: verdictListView,
  verdict: verdictView,
};
/** The views that need their argument (`verdict:<number>`); without it they are the home view. */
const WITH_ARG = new Set(['verdict']);

let root = null;
let body = null;
let view = null; // null: the home view
let viewArg = null; // the part of `name:arg` after the colon
let visible = false;
let offs = [];
let renderQueued = false;

const ctx = {
  rerender: () => queueRender(),
  go: (v) => navigate('me', v),
  back: () => navigate('me', null),
  get visible() { return visible; },
};

/** Draws the tab into `root` and starts listening (once, the first time the tab is shown). */
export function mount(node) {
  // Mounted again after a log-out and a new login (the shell may not call unmount).
  for (const off of offs) off();
  offs = [];
  reset();
  root = node;
  // The tab's styles come with it (the shell need not know them).
  if (!document.querySelector('link[data-me-css], link[href="/static/css/me.css"]')) {
    document.head.append(el('link', { rel: 'stylesheet', href: '/static/css/me.css', 'data-me-css': '' }));
  }
  root.classList.add('me-page');
  body = el('div', { class: 'me-body' });
  clear(root, body);
  const client = getClient();
  offs = [
    onLocaleChange(() => renderNow()),
    onStore('me', () => queueRender()),
    onStore('policy', () => { loadConsents(); queueRender(); }),
    onStore('signed_out', () => reset()),
    onConsents(() => queueRender()),
    client.on('consent.changed', (r) => {
      const fresh = mergeConsentRecord(r);
      if (!fresh) queueRender();
      // Changed on another device while the switches are in view: say so.
      else if (visible && view === 'consents' && r && !privacyView.changing(r.permission)) showToast(t('consent.changed_elsewhere'));
    }),
    client.on('consent.policy_changed', () => loadConsents()),
    client.on('moderation.decided', (d) => onDecided(d)),
    client.on('account.standing', () => refreshMe()),
    client.on('restricted', () => refreshMe()),
    client.on('online', () => { if (visible) refreshMe(); }),
  ];
  for (const v of Object.values(VIEWS)) if (v.init) offs.push(...(v.init(ctx) || []));
  if (!store.me) refreshMe();
  loadConsents();
  guardianView.loadWards();
}

// `name` or `name:arg` → {name, arg}; an unknown view is the home view.
function parseView(v) {
  const m = /^([a-z]+)(?::(.+))?$/.exec(v || '');
  if (!m || !Object.hasOwn(VIEWS, m[1]) || WITH_ARG.has(m[1]) !== (m[2] != null)) return { name: null, arg: null };
  return { name: m[1], arg: m[2] != null ? m[2] : null };
}

/** Shows the tab at `v` (null: the home view). */
export function show(v) {
  const next = parseView(v);
  if ((view !== next.name || viewArg !== next.arg) && view && VIEWS[view].leave) VIEWS[view].leave();
  view = next.name;
  viewArg = next.arg;
  visible = true;
  if (view && VIEWS[view].enter) VIEWS[view].enter(ctx, viewArg);
  if (!view) { loadConsents(); guardianView.loadWards(); }
  renderNow();
  if (root) root.scrollTop = 0;
  if (typeof scrollTo === 'function') scrollTo(0, 0);
}

export function hide() {
  visible = false;
  if (view && VIEWS[view].leave) VIEWS[view].leave();
}

/** Log-out: every listener goes, and what was shown (nav.resetTabs empties the root). */
export function unmount() {
  for (const off of offs) off();
  offs = [];
  reset();
  root = null;
  body = null;
}

function reset() {
  resetConsents();
  for (const v of Object.values(VIEWS)) if (v.reset) v.reset();
  view = null;
  viewArg = null;
}

/** GET /api/me → setMe (every page's avatars and names follow). */
export async function refreshMe() {
  try {
    const me = await getClient().api('GET', '/api/me');
    delete me.pending_review;
    setMe(me);
  } catch (_) {
    // A 401 ends the session (the client says so); otherwise the next change tries again.
  }
}

// Moderation decided about our profile: the fresh Me shows what now applies.
function onDecided(d) {
  if (!d) return;
  if (['nickname', 'intro', 'report_user', 'appeal', 'media'].includes(d.kind)) {
    profileView.onDecided(d, ctx);
    if (d.kind !== 'media') refreshMe();
  }
}

function queueRender() {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    renderNow();
  }, 0);
}

// Re-draws the current view; the values typed into its fields and the focus survive.
function renderNow() {
  if (!body || !visible) return;
  const kept = new Map();
  for (const n of body.querySelectorAll('input[id], textarea[id], select[id]')) {
    if (n.type === 'file') continue;
    kept.set(n.id, n.type === 'checkbox' || n.type === 'radio' ? { checked: n.checked } : { value: n.value });
  }
  const focused = document.activeElement && body.contains(document.activeElement) ? document.activeElement.id : null;
  const content = view ? viewFrame(VIEWS[view]) : homeView();
  clear(body, content);
  for (const [id, v] of kept) {
    const n = body.querySelector('#' + CSS.escape(id));
    if (!n || n.dataset.fresh === '1') continue;
    if ('checked' in v && (n.type === 'radio')) n.checked = v.checked;
    else if ('value' in v && n.type !== 'checkbox' && n.value !== v.value) {
      n.value = v.value;
      n.dispatchEvent(new Event('input')); // counters follow
    }
  }
  if (focused) {
    const n = body.querySelector('#' + CSS.escape(focused));
    if (n) n.focus({ preventScroll: true });
  }
}

function viewFrame(mod) {
  return [
    el('header', { class: 'me-head' },
      el('button', {
        type: 'button', class: 'me-back', id: 'me-back', 'aria-label': t('action.back'),
        onclick: () => (mod.BACK ? ctx.go(mod.BACK) : ctx.back()),
      }, el('span', { class: 'me-back-arrow', 'aria-hidden': 'true', text: '‹' }), el('span', { text: t('action.back') })),
      el('h1', { class: 'me-title', text: t(mod.TITLE) })),
    el('div', { class: 'me-view', id: 'me-view-' + view }, mod.render(ctx)),
  ];
}

// ---------------------------------------------------------------- the home view

function rolesText(me) {
  return (me.roles || []).map((r) => t('role.' + r)).join(t('list.separator'));
}

function profileCard(me) {
  return el('section', { class: 'me-card me-profile-card', 'aria-labelledby': 'me-nickname' },
    el('button', {
      type: 'button', class: 'me-card-avatar', 'aria-label': t('me.edit_profile'),
      onclick: () => ctx.go('profile'),
    }, avatarView(me, { size: 72 })),
    el('div', { class: 'me-card-main' },
      el('h1', { class: 'me-card-name me-user-data', id: 'me-nickname', text: me.nickname || '' }),
      el('p', { class: 'small muted me-card-line' },
        el('span', { text: t('profile.user_id') + ' ' }), el('span', { id: 'me-id', text: String(me.id) })),
      el('p', { class: 'small muted me-card-line' },
        el('span', { text: t('profile.roles') + ' ' }), el('span', { id: 'me-roles', text: rolesText(me) })),
      me.intro ? el('p', { class: 'small me-card-intro me-user-data', text: me.intro }) : null),
    el('button', {
      type: 'button', class: 'secondary me-card-edit', id: 'me-edit-btn',
      text: t('action.edit'), onclick: () => ctx.go('profile'),
    }));
}

function row({ id, label, detail = null, onClick, badge = null }) {
  return el('li', {},
    el('button', { type: 'button', class: 'me-row', id, onclick: onClick },
      el('span', { class: 'me-row-label', text: label }),
      badge ? el('span', { class: 'me-badge', text: badge }) : null,
      detail ? el('span', { class: 'me-row-detail small muted', text: detail }) : null,
      el('span', { class: 'me-row-chevron', 'aria-hidden': 'true', text: '›' })));
}

function documentDetail(doc) {
  const cs = consents.state;
  if (!cs) return consents.error ? errorText(consents.error) : t('status.loading');
  const c = currentOf(doc);
  if (c.granted) {
    return t('me.doc_accepted', { version: c.policy_version, date: formatDateTime(c.since) });
  }
  return t('me.doc_not_accepted', { version: cs.policy_version });
}

function openDocument(doc) {
  const cs = consents.state;
  const c = currentOf(doc);
  const version = (c.granted && c.policy_version) || (cs && cs.policy_version) || undefined;
  openLegal(doc, { version });
}

function languageSwitch() {
  const current = getLocale();
  const option = (locale, label) => el('button', {
    type: 'button',
    class: 'me-seg' + (current === locale ? ' active' : ''),
    id: 'me-lang-' + locale,
    lang: locale,
    'aria-pressed': current === locale ? 'true' : 'false',
    text: label,
    onclick: () => setLocale(locale),
  });
  return el('li', { class: 'me-row me-row-static' },
    el('span', { class: 'me-row-label', id: 'me-lang-label', text: t('me.language') }),
    el('span', { class: 'me-segs', role: 'group', 'aria-labelledby': 'me-lang-label' },
      option('zh-CN', '中文'), option('en', 'English')));
}

function homeView() {
  const me = store.me;
  if (!me) return el('p', { class: 'muted me-loading', text: t('status.loading') });
  const wards = guardianView.wardCount();
  const standing = me.standing || 'full';
  return [
    profileCard(me),
    standing !== 'full' ? el('p', { class: 'me-attention small', role: 'status' },
      t(standing === 'age_undeclared' ? 'me.standing_age' : 'me.standing_guardian')) : null,
    el('nav', { class: 'me-card me-list-card', 'aria-label': t('tab.me') },
      el('ul', { class: 'me-list' },
        row({ id: 'me-row-profile', label: t('me.edit_profile'), onClick: () => ctx.go('profile') }),
        row({ id: 'me-row-verdicts', label: t('live.verdict.mine_title'), onClick: () => ctx.go('verdicts') }),
        row({ id: 'me-row-consents', label: t('me.privacy'), detail: t('me.privacy_detail'), onClick: () => ctx.go('consents') }),
        row({ id: 'me-row-export', label: t('settings.export'), onClick: () => ctx.go('export') }),
        row({ id: 'me-row-account', label: t('me.account'), detail: me.phone_masked || null, onClick: () => ctx.go('account') }),
        wards ? row({ id: 'me-row-wards', label: t('me.wards'), badge: String(wards), onClick: () => ctx.go('wards') }) : null)),
    el('section', { class: 'me-card me-list-card', 'aria-labelledby': 'me-general-title' },
      el('h2', { class: 'me-section-title', id: 'me-general-title', text: t('me.general') }),
      el('ul', { class: 'me-list' },
        languageSwitch(),
        DOCUMENTS.map((doc) => row({
          id: 'me-doc-' + doc,
          label: t('legal.' + doc),
          detail: documentDetail(doc),
          onClick: () => openDocument(doc),
        })))),
    el('button', {
      type: 'button', class: 'secondary danger me-logout', id: 'me-logout-btn',
      text: t('action.logout'), onclick: logout,
    }),
    el('p', { class: 'small muted me-foot', text: t('me.brand_foot') }),
  ];
}

async function logout() {
  const ok = await confirmDialog({ title: t('action.logout'), text: t('me.logout_confirm'), confirm: t('action.logout'), id: 'me-logout-dialog' });
  if (!ok) return;
  await getClient().logout();
}
