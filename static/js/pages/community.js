/**
 * The 社区 tab (晒宝社区, docs/protocol.md "Community"). Views (nav.js): null or `home` (关注:
 * the home feed), `discover` (发现), `search` (community-search.js), `share` (口令: open a
 * code, one's live codes: community-share.js), `post:<id>` (one post and its comments:
 * community-post.js), `user:<id>` (a profile: community-profile.js), `followers:<id>` and
 * `following:<id>` (its lists). The first screen has the two sub-tabs 关注 / 发现, 搜索, 口令,
 * 我的主页 and 发帖 (community-composer.js); the posts' state is community-data.js's.
 *
 *   registerTab('community', communityPage, root)   // import * as communityPage from '/static/js/pages/community.js'
 *
 * @module pages/community
 */
import { t, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { navigate } from '/static/js/app/nav.js';
import { store } from '/static/js/app/store.js';
import { showToast } from '/static/js/ui/toast.js';
import { resetCommunity, onCommunity } from '/static/js/pages/community-data.js';
import { mountFeed } from '/static/js/pages/community-feed.js';
import { mountPost } from '/static/js/pages/community-post.js';
import { mountProfile, mountUserList } from '/static/js/pages/community-profile.js';
import { mountSearch } from '/static/js/pages/community-search.js';
import { mountShareView } from '/static/js/pages/community-share.js';
import { openComposer } from '/static/js/pages/community-composer.js';

/** Links css/community.css once (index.html need not know it). */
export function ensureCommunityCss() {
  if (document.querySelector('link[data-community-css], link[href="/static/css/community.css"]')) return;
  document.head.append(el('link', { rel: 'stylesheet', href: '/static/css/community.css', 'data-community-css': '' }));
}

const SIMPLE = new Set(['home', 'discover', 'search', 'share']);

let root = null;
let parts = null;
let current = { kind: null, id: null };
let offs = [];
/** What a list or a post said about a user ({id, nickname, avatar}), for a profile's first paint. */
const known = new Map();

function parseView(view) {
  const v = view || 'home';
  if (SIMPLE.has(v)) return { kind: v, id: null };
  const m = /^(post|user|followers|following):(\d{1,15})$/.exec(v);
  return m ? { kind: m[1], id: Number(m[2]) } : { kind: 'home', id: null };
}

const note = (u) => { if (u && u.id != null) known.set(u.id, u); return u; };
const openPost = (post) => { note(post.author); navigate('community', 'post:' + post.id); };
const openUser = (user) => { note(user); navigate('community', 'user:' + user.id); };
const openList = (kind, id) => navigate('community', kind + ':' + id);
/** The views shown in this tab, oldest first: 返回 goes back through them, then to 关注. */
let trail = [];
const back = () => {
  if (trail.length > 1) history.back();
  else navigate('community', null, { replace: true });
};

function compose() {
  openComposer({
    category: current.kind === 'discover' && parts ? parts.discover.category() : null,
    // One's own new post shows on top of 关注 (and of one's own profile, if that is open).
    onPosted: () => { if (current.kind !== 'home' && current.kind !== 'user') navigate('community', 'home'); },
  });
}

// A share code opened: its post, its room (the 直播 tab's room view) or its profile.
function onResolved(reply) {
  if (!reply) return;
  if (reply.target === 'post' && reply.post) openPost(reply.post);
  else if (reply.target === 'room' && reply.room) navigate('live', 'room:' + reply.room.id);
  else if (reply.target === 'profile' && reply.user) openUser(reply.user);
}

function renderHead() {
  const p = parts;
  p.title.textContent = t('community.title');
  p.searchBtn.setAttribute('aria-label', t('community.search'));
  p.codeBtn.textContent = t('community.code_short');
  p.codeBtn.setAttribute('aria-label', t('community.code_title'));
  p.mineBtn.setAttribute('aria-label', t('community.my_profile'));
  p.composeBtn.textContent = t('community.compose');
  p.tabs.setAttribute('aria-label', t('community.title'));
  p.tabHome.textContent = t('community.tab_home');
  p.tabDiscover.textContent = t('community.tab_discover');
  p.tabHome.setAttribute('aria-selected', String(current.kind === 'home'));
  p.tabDiscover.setAttribute('aria-selected', String(current.kind === 'discover'));
  p.tabHome.tabIndex = current.kind === 'home' ? 0 : -1;
  p.tabDiscover.tabIndex = current.kind === 'discover' ? 0 : -1;
}

function render() {
  const { kind, id } = current;
  const p = parts;
  const feeds = kind === 'home' || kind === 'discover';
  p.feedsBox.hidden = !feeds;
  p.homeBox.hidden = kind !== 'home';
  p.discoverBox.hidden = kind !== 'discover';
  p.postBox.hidden = kind !== 'post';
  p.profileBox.hidden = kind !== 'user';
  p.usersBox.hidden = kind !== 'followers' && kind !== 'following';
  p.searchBox.hidden = kind !== 'search';
  p.shareBox.hidden = kind !== 'share';
  root.dataset.view = kind;
  renderHead();
  if (kind === 'home') { p.discover.hide(); p.home.show(); } else p.home.hide();
  if (kind === 'discover') p.discover.show(); else p.discover.hide();
  if (kind === 'post') p.post.open(id); else p.post.close();
  if (kind === 'user') p.profile.open(id, known.get(id) || null); else p.profile.close();
  if (kind === 'followers' || kind === 'following') {
    const u = known.get(id);
    p.users.open(kind, id, u ? u.nickname : '');
  } else p.users.close();
  if (kind === 'search') p.search.open({ focus: false }); else p.search.close();
  if (kind === 'share') p.share.open(); else p.share.close();
}

export function mount(node) {
  for (const off of offs) off();
  offs = [];
  root = node;
  ensureCommunityCss();
  root.classList.add('cm-page');
  const title = el('h1', { class: 'page-title', id: 'cm-title' });
  const searchBtn = el('button', { type: 'button', id: 'cm-search-btn', class: 'icon-btn', onclick: () => navigate('community', 'search') }, icon('search'));
  const codeBtn = el('button', { type: 'button', id: 'cm-share-btn', class: 'secondary small-btn cm-code-btn', onclick: () => navigate('community', 'share') });
  const mineBtn = el('button', { type: 'button', id: 'cm-mine-btn', class: 'icon-btn', onclick: () => { if (store.me) openUser({ id: store.me.id, nickname: store.me.nickname, avatar: store.me.avatar }); } }, icon('me'));
  const composeBtn = el('button', { type: 'button', id: 'cm-compose-btn', class: 'primary small-btn', onclick: compose });
  const tabHome = el('button', { type: 'button', role: 'tab', id: 'cm-tab-home', class: 'cm-subtab', 'aria-controls': 'cm-home-view', onclick: () => navigate('community', 'home') });
  const tabDiscover = el('button', { type: 'button', role: 'tab', id: 'cm-tab-discover', class: 'cm-subtab', 'aria-controls': 'cm-discover-view', onclick: () => navigate('community', 'discover') });
  const tabs = el('div', { class: 'cm-subtabs', role: 'tablist' }, tabHome, tabDiscover);
  tabs.addEventListener('keydown', (e) => {
    if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
    e.preventDefault();
    const next = current.kind === 'home' ? 'discover' : 'home';
    navigate('community', next);
    (next === 'home' ? tabHome : tabDiscover).focus();
  });
  const homeBox = el('div', { id: 'cm-home-view', role: 'tabpanel', 'aria-labelledby': 'cm-tab-home' });
  const discoverBox = el('div', { id: 'cm-discover-view', role: 'tabpanel', 'aria-labelledby': 'cm-tab-discover', hidden: true });
  const feedsBox = el('div', { id: 'cm-feeds', class: 'cm-feeds' },
    el('header', { class: 'page-head cm-head' }, title, searchBtn, codeBtn, mineBtn, composeBtn),
    tabs, homeBox, discoverBox);
  const postBox = el('div', { id: 'cm-post-view', class: 'cm-view', hidden: true });
  const profileBox = el('div', { id: 'cm-profile-view', class: 'cm-view', hidden: true });
  const usersBox = el('div', { id: 'cm-users-view', class: 'cm-view', hidden: true });
  const searchBox = el('div', { id: 'cm-search-view', class: 'cm-view', hidden: true });
  const shareBox = el('div', { id: 'cm-share-view', class: 'cm-view', hidden: true });
  root.replaceChildren(feedsBox, postBox, profileBox, usersBox, searchBox, shareBox);
  const handlers = { onOpenPost: openPost, onOpenUser: openUser };
  parts = {
    title, searchBtn, codeBtn, mineBtn, composeBtn, tabs, tabHome, tabDiscover,
    feedsBox, homeBox, discoverBox, postBox, profileBox, usersBox, searchBox, shareBox,
    home: mountFeed(homeBox, { kind: 'home', onCompose: compose, ...handlers }),
    discover: mountFeed(discoverBox, { kind: 'discover', onCompose: compose, ...handlers }),
    post: mountPost(postBox, { onBack: back, onOpenUser: openUser }),
    profile: mountProfile(profileBox, { onBack: back, onOpenList: openList, ...handlers }),
    users: mountUserList(usersBox, { onBack: back, onOpenUser: openUser }),
    search: mountSearch(searchBox, { onBack: back, ...handlers }),
    share: mountShareView(shareBox, { onBack: back, onResolved }),
  };
  offs = [
    onLocaleChange(() => { if (parts) renderHead(); }),
    // A moderator decided about one's held post or comment: said wherever the user is.
    onCommunity((kind, d) => {
      if (kind !== 'decided') return;
      const what = d.kind === 'post' ? 'post' : 'comment';
      const ok = d.decision === 'approve';
      showToast(t(`community.${what}_${ok ? 'approved' : 'rejected'}`) + (!ok && d.reason ? t('community.reason_suffix', { reason: d.reason }) : ''));
    }),
  ];
}

export function show(view) {
  if (!root) return;
  if (view && !SIMPLE.has(view) && !/^(post|user|followers|following):\d{1,15}$/.test(view)) {
    navigate('community', null, { replace: true });
    return;
  }
  const next = parseView(view);
  const same = next.kind === current.kind && next.id === current.id;
  current = next;
  const key = view || 'home';
  if (trail.length > 1 && trail[trail.length - 2] === key) trail.pop();
  else if (trail[trail.length - 1] !== key) trail.push(key);
  if (trail.length > 50) trail = trail.slice(-50);
  render();
  if (!same) root.scrollTop = 0;
}

export function hide() {
  if (!parts) return;
  parts.home.hide();
  parts.discover.hide();
  parts.search.close();
}

export function unmount() {
  for (const off of offs) off();
  offs = [];
  if (parts) for (const k of ['home', 'discover', 'post', 'profile', 'users', 'search', 'share']) parts[k].destroy();
  resetCommunity();
  known.clear();
  trail = [];
  root = null;
  parts = null;
  current = { kind: null, id: null };
}
