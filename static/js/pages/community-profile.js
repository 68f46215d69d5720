/**
 * A user's community profile (view `user:<id>`): avatar, nickname, 粉丝 and 关注 counts (each a
 * way to its list), 关注 / 已关注 (`user.follow` / `user.unfollow`: the count follows the
 * reply), 分享 (a 口令 of the profile), and the user's posts (`feed.user`: all of one's own, any
 * status, for oneself). On one's own profile, 隐藏我的关注和粉丝 (`user.follows_privacy`).
 * And the lists (views `followers:<id>`, `following:<id>`): `user.followers` / `user.following`,
 * paged; a user who hides them is said to (`forbidden`).
 *
 *   const view = mountProfile(root, { onBack, onOpenPost, onOpenUser, onOpenList });  view.open(3, hintUser);
 *   const list = mountUserList(root, { onBack, onOpenUser });  list.open('followers', 3);
 *
 * @module pages/community-profile
 */
import { t, errorText, onLocaleChange } from '/static/js/i18n.js';
import { el, clear, busy } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { getClient } from '/static/js/client.js';
import { formatCount } from '/static/js/pages/live-common.js';
import {
  profileOf, setFollowing, followList, setFollowsHidden, userFeed, isTransient, onCommunity,
} from '/static/js/pages/community-data.js';
import { mountPostList, nickOf } from '/static/js/pages/community-feed.js';
import { openShare } from '/static/js/pages/community-share.js';

const isMe = (id) => !!(store.me && store.me.id === Number(id));

// The user's {id, nickname, avatar}: from the profile reply, else the one given, else the public profile.
async function userOf(id, profile, hint) {
  if (isMe(id)) return { id: store.me.id, nickname: store.me.nickname, avatar: store.me.avatar };
  if (profile && profile.user) return profile.user;
  if (hint && hint.nickname) return hint;
  try {
    const u = await getClient().api('GET', '/api/users/' + Number(id));
    return { id: u.id, nickname: u.nickname, avatar: u.avatar };
  } catch (_) {
    return { id: Number(id), nickname: '', avatar: null };
  }
}

export function mountProfile(root, { onBack, onOpenPost, onOpenUser, onOpenList }) {
  const back = el('button', { type: 'button', id: 'cm-profile-back', class: 'icon-btn' }, icon('back'));
  const title = el('h1', { class: 'page-title', id: 'cm-profile-heading' });
  const share = el('button', { type: 'button', id: 'cm-profile-share', class: 'secondary small-btn', hidden: true });
  const error = el('p', { id: 'cm-profile-error', class: 'form-error cm-list-error', role: 'alert', hidden: true });
  const card = el('section', { id: 'cm-profile', class: 'cm-card cm-profile', hidden: true });
  const postsTitle = el('h2', { class: 'section-title cm-section', id: 'cm-profile-posts-title' });
  const posts = el('ul', { id: 'cm-profile-posts', class: 'cm-posts' });
  const postsEmpty = el('p', { class: 'muted small cm-empty', id: 'cm-profile-empty', hidden: true });
  const postsMore = el('button', { type: 'button', id: 'cm-profile-more', class: 'secondary block cm-more', hidden: true });
  root.replaceChildren(el('header', { class: 'page-head' }, back, title, share), error, card, postsTitle, posts, postsEmpty, postsMore);

  const state = { id: null, hint: null, user: null, profile: null, gen: 0, next: null, loadedPosts: false, busyFollow: false, privacyError: null };
  const showError = (err, retry = null) => {
    clear(error, el('span', { text: errorText(err) }),
      retry && isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: retry }) : null);
    error.hidden = false;
  };
  const list = mountPostList(posts, { onOpenPost, onOpenUser, onError: (err) => showError(err), onChange: () => renderPostsMeta() });

  function countButton(kind, n) {
    const p = state.profile;
    const hidden = p && p.follows_hidden && !isMe(state.id);
    return el('button', {
      type: 'button', class: 'cm-count', id: `cm-${kind}-btn`, dataset: { count: String(n || 0) },
      'aria-label': t('community.count_' + kind + '_label', { count: n || 0 }),
      onclick: () => onOpenList(kind, state.id),
    }, el('strong', { class: 'cm-count-n', text: formatCount(n || 0) }), el('span', { class: 'small muted', text: t('community.count_' + kind) }),
    hidden ? el('span', { class: 'sr-only', text: t('community.follows_hidden_short') }) : null);
  }

  function renderCard() {
    const p = state.profile;
    const u = state.user;
    title.textContent = u && u.nickname ? u.nickname : t('community.profile_title');
    share.textContent = t('community.share');
    share.hidden = !p;
    card.hidden = !p;
    if (!p) return;
    const mine = isMe(state.id);
    const followBtn = mine ? null : el('button', {
      type: 'button', id: 'cm-follow-btn', class: p.followed_by_me ? 'secondary cm-follow' : 'primary cm-follow',
      'aria-pressed': String(!!p.followed_by_me), disabled: state.busyFollow,
      text: p.followed_by_me ? t('community.following_btn') : t('community.follow'),
      onclick: (e) => busy(e.currentTarget, toggleFollow),
    });
    const privacy = mine ? el('label', { class: 'cm-switch-row', for: 'cm-hide-follows' },
      el('span', { class: 'cm-switch-text' }, el('span', { text: t('community.hide_follows') }),
        el('span', { class: 'small muted', text: t('community.hide_follows_note') })),
      el('span', { class: 'me-switch' },
        (() => {
          const box = el('input', { type: 'checkbox', role: 'switch', id: 'cm-hide-follows', class: 'me-switch-input', checked: !!p.follows_hidden,
            onchange: (e) => togglePrivacy(e.target) });
          box.checked = !!p.follows_hidden;
          return box;
        })(),
        el('span', { class: 'me-switch-track', 'aria-hidden': 'true' }))) : null;
    clear(card,
      el('div', { class: 'cm-profile-top' },
        avatarView(u || { id: state.id }, { size: 72 }),
        el('div', { class: 'cm-profile-main' },
          el('h2', { id: 'cm-profile-name', class: 'cm-profile-name', text: (u && u.nickname) || nickOf(u) }),
          el('div', { class: 'cm-counts' }, countButton('followers', p.followers), countButton('following', p.following))),
        followBtn),
      p.follows_hidden && !mine ? el('p', { class: 'small muted', id: 'cm-follows-hidden', text: t('community.follows_hidden') }) : null,
      privacy,
      state.privacyError ? el('p', { class: 'form-error small', role: 'alert', text: errorText(state.privacyError) }) : null);
  }

  function renderPostsMeta() {
    postsTitle.textContent = isMe(state.id) ? t('community.my_posts') : t('community.their_posts');
    postsEmpty.hidden = !state.loadedPosts || list.size > 0;
    postsEmpty.textContent = t('community.no_posts');
    postsMore.hidden = state.next == null;
    postsMore.textContent = t('community.more');
  }

  function render() {
    back.setAttribute('aria-label', t('action.back'));
    renderCard();
    renderPostsMeta();
  }

  async function toggleFollow() {
    const p = state.profile;
    if (!p) return;
    error.hidden = true;
    try {
      const res = await setFollowing(state.id, !p.followed_by_me);
      p.followed_by_me = !!res.following;
      if (res.followers != null) p.followers = res.followers;
    } catch (err) {
      showError(err);
    }
    renderCard();
  }

  async function togglePrivacy(box) {
    const want = box.checked;
    box.disabled = true;
    state.privacyError = null;
    try {
      const res = await setFollowsHidden(want);
      state.profile.follows_hidden = !!res.hidden;
    } catch (err) {
      state.privacyError = err;
    }
    renderCard();
  }

  async function loadProfile() {
    const gen = state.gen;
    const id = state.id;
    try {
      const p = await profileOf(id);
      if (gen !== state.gen) return;
      state.profile = p;
      state.user = await userOf(id, p, state.hint);
      if (gen !== state.gen) return;
      render();
    } catch (err) {
      if (gen !== state.gen) return;
      showError(err, loadProfile);
    }
  }

  async function loadPosts(append) {
    const gen = state.gen;
    try {
      const res = await userFeed(state.id, { cursor: append ? state.next : null });
      if (gen !== state.gen) return;
      if (append) list.append(res.posts);
      else list.set(res.posts);
      state.next = res.next || null;
      state.loadedPosts = true;
    } catch (err) {
      if (gen !== state.gen) return;
      showError(err, () => loadPosts(append));
    }
    renderPostsMeta();
  }

  back.addEventListener('click', onBack);
  share.addEventListener('click', () => openShare({
    target: 'profile', id: state.id,
    title: t('community.share_profile_of', { name: (state.user && state.user.nickname) || '' }),
  }));
  postsMore.addEventListener('click', () => loadPosts(true));
  const offs = [
    onLocaleChange(() => { if (state.id != null) { list.render(); render(); } }),
    onCommunity((kind, data) => {
      // One's own new post shows on one's own profile at once.
      if (kind === 'created' && isMe(state.id) && state.loadedPosts) list.add(data);
    }),
  ];

  return {
    open(id, hint = null) {
      const n = Number(id);
      state.gen++;
      error.hidden = true;
      if (state.id !== n) {
        state.id = n;
        state.profile = null;
        state.user = hint && hint.id === n ? hint : null;
        state.next = null;
        state.loadedPosts = false;
        list.set([]);
      }
      state.hint = hint;
      state.privacyError = null;
      render();
      loadProfile();
      loadPosts(false);
    },
    close() { state.gen++; },
    destroy() { for (const off of offs) off(); list.destroy(); },
  };
}

// ---------------------------------------------------------------- follower / following lists

export function mountUserList(root, { onBack, onOpenUser }) {
  const back = el('button', { type: 'button', id: 'cm-users-back', class: 'icon-btn' }, icon('back'));
  const title = el('h1', { class: 'page-title', id: 'cm-users-heading' });
  const note = el('p', { id: 'cm-users-hidden', class: 'cm-empty muted', hidden: true });
  const error = el('p', { id: 'cm-users-error', class: 'form-error cm-list-error', role: 'alert', hidden: true });
  const ul = el('ul', { id: 'cm-users-list', class: 'user-list cm-users' });
  const empty = el('p', { id: 'cm-users-empty', class: 'cm-empty muted', hidden: true });
  const more = el('button', { type: 'button', id: 'cm-users-more', class: 'secondary block cm-more', hidden: true });
  root.replaceChildren(el('header', { class: 'page-head' }, back, title), note, error, ul, empty, more);
  const state = { kind: 'followers', id: null, name: '', users: [], next: null, loaded: false, hidden: false, gen: 0 };

  const row = (u) => el('li', { class: 'user-item cm-user', dataset: { userId: String(u.id) } },
    el('button', { type: 'button', class: 'cm-user-btn', onclick: () => onOpenUser(u) },
      avatarView(u, { size: 44 }),
      el('span', { class: 'user-main' }, el('span', { class: 'user-name', text: nickOf(u) })),
      el('span', { class: 'cm-chevron', 'aria-hidden': 'true', text: '›' })));

  function render() {
    back.setAttribute('aria-label', t('action.back'));
    const mine = isMe(state.id);
    title.textContent = mine ? t('community.my_' + state.kind) : state.name
      ? t('community.their_' + state.kind, { name: state.name }) : t('community.count_' + state.kind);
    note.hidden = !state.hidden;
    note.textContent = t('community.follows_hidden');
    ul.replaceChildren(...state.users.map(row));
    empty.hidden = !state.loaded || state.hidden || state.users.length > 0;
    empty.textContent = t(state.kind === 'followers' ? 'community.no_followers' : 'community.no_following');
    more.hidden = state.next == null;
    more.textContent = t('community.more');
  }

  async function load(append) {
    const gen = ++state.gen;
    error.hidden = true;
    try {
      const res = await followList(state.kind, state.id, append ? state.next : null);
      if (gen !== state.gen) return;
      const got = res.users || [];
      state.users = append ? state.users.concat(got.filter((u) => !state.users.some((x) => x.id === u.id))) : got;
      state.next = res.next ?? null;
      state.hidden = false;
    } catch (err) {
      if (gen !== state.gen) return;
      if (err.code === 'forbidden') {
        state.hidden = true;
        state.users = [];
      } else {
        clear(error, el('span', { text: errorText(err) }),
          isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => load(append) }) : null);
        error.hidden = false;
      }
    }
    state.loaded = true;
    render();
  }

  back.addEventListener('click', onBack);
  more.addEventListener('click', () => load(true));
  const off = onLocaleChange(() => { if (state.id != null) render(); });

  return {
    open(kind, id, name = '') {
      state.kind = kind === 'following' ? 'following' : 'followers';
      state.id = Number(id);
      state.name = name;
      state.users = [];
      state.next = null;
      state.loaded = false;
      state.hidden = false;
      render();
      load(false);
    },
    close() { state.gen++; },
    destroy: off,
  };
}
