/**
 * Lists of posts: the card of a post (author, time, text, up to nine pictures, category and
 * tags, 点赞 and 评论 with their counts; 审核中 / 未通过 on one's own held or refused post, which
 * nobody else sees), a list of cards that follows every change of the posts it holds
 * (community-data.js), and the two feeds of the 社区 tab: 关注 (`feed.home`, newest first, a
 * post of someone followed arriving live on top with `feed.post`) and 发现 (`feed.discover`:
 * category chips as the live list has, the sort 推荐 / 最新 / 最热, and a line saying whether the
 * recommendations are personalised, with the way to switch it; read again at once when the
 * `personalized_recommendation` consent changes, on this device or another).
 *
 *   const list = mountPostList(ul, { onOpenPost, onOpenUser });  list.set(posts); list.add(post);
 *   const home = mountFeed(root, { kind: 'home', onOpenPost, onOpenUser, onCompose });
 *   home.show(); home.hide(); home.add(post);
 *
 * @module pages/community-feed
 */
import { t, errorText, onLocaleChange, formatRelative, formatDateTime } from '/static/js/i18n.js';
import { el, clear, busy } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { photoView } from '/static/js/ui/photo.js';
import { icon } from '/static/js/ui/icons.js';
import { store } from '/static/js/app/store.js';
import { getClient } from '/static/js/client.js';
import { navigate } from '/static/js/app/nav.js';
import { categoryName, formatCount, heartIcon } from '/static/js/pages/live-common.js';
import {
  CATEGORIES, SORTS, PERSONAL_PERMISSION, PAGE, onCommunity, postOf, isRemoved, setLiked, homeFeed,
  discoverFeed, isTransient,
} from '/static/js/pages/community-data.js';
import { askConsent } from '/static/js/ui/ask-consent.js';
import { mergeConsentRecord } from '/static/js/pages/me-common.js';

/** A list card shows this many characters of the text (the post view shows it all). */
const CARD_TEXT_CHARS = 140;

export const nickOf = (user) => (user && user.nickname) || t('community.deleted_user');
export const isMine = (post) => !!(store.me && post && post.author && post.author.id === store.me.id);

/** 审核中 / 未通过 for one's own post that is not published; null otherwise. */
export function statusTag(post) {
  if (!post || post.status === 'published' || !post.status) return null;
  const key = post.status === 'screening' ? 'status.under_review' : 'community.status_rejected';
  return el('span', { class: 'cm-tag cm-status cm-status-' + post.status, text: t(key) });
}

/** The like button of a post: a heart and the count; a tap likes, a second takes it back. */
export function likeButton(post, { id = null, onError = null } = {}) {
  const btn = el('button', {
    type: 'button', id, class: 'cm-like' + (post.liked ? ' is-liked' : ''),
    'aria-pressed': String(!!post.liked), 'aria-label': t(post.liked ? 'community.unlike' : 'community.like'),
    dataset: { count: String(post.likes || 0) },
    disabled: post.status !== 'published',
  }, heartIcon(20), el('span', { class: 'cm-like-count', text: formatCount(post.likes || 0) }));
  btn.addEventListener('click', () => busy(btn, async () => {
    try {
      await setLiked(post.id, !post.liked);
    } catch (err) {
      if (onError) onError(err);
    }
  }));
  return btn;
}

export const commentIcon = (size = 20) => icon('comment', { size });
/** A small line arrow out of a tray (分享). */
export const shareIcon = (size = 20) => icon('share', { size });

/** How many shared the post (口令 made of it), or null when the server does not say. */
export function sharesCount(post, { id = null } = {}) {
  if (post.shares == null) return null;
  return el('span', { class: 'cm-shares', id, dataset: { count: String(post.shares) }, 'aria-label': t('community.shares_n', { count: post.shares }) },
    shareIcon(18), el('span', { class: 'cm-share-count', text: formatCount(post.shares) }));
}

function clip(text, n) {
  const chars = [...String(text || '')];
  return chars.length > n ? chars.slice(0, n).join('') + '…' : chars.join('');
}

/** The pictures of a post (the author's screened uploads), as a grid of thumbnails. */
export function photoGrid(post, { max = 9 } = {}) {
  const media = (post.media || []).slice(0, max);
  if (!media.length) return null;
  return el('div', { class: 'cm-photos cm-photos-' + Math.min(media.length, 3) },
    media.map((id) => photoView(id)));
}

/** Category and tags. */
export function tagLine(post) {
  return el('div', { class: 'cm-tags' },
    post.category ? el('span', { class: 'cm-tag cm-cat', text: categoryName(post.category) }) : null,
    (post.tags || []).map((tag) => el('span', { class: 'cm-tag cm-hash', text: '#' + tag })));
}

/** The author line: avatar and nickname (a button to the profile), the time, a status tag. */
export function authorLine(post, onOpenUser, { id = null } = {}) {
  const when = post.published_at || post.created_at;
  return el('div', { class: 'cm-post-head' },
    el('button', {
      type: 'button', id, class: 'cm-author', 'aria-label': t('community.open_profile', { name: nickOf(post.author) }),
      onclick: () => post.author && post.author.id != null && onOpenUser(post.author),
    }, avatarView(post.author, { size: 36 }), el('span', { class: 'cm-author-name', text: nickOf(post.author) })),
    el('time', { class: 'small muted cm-time', title: formatDateTime(when), text: formatRelative(when) }),
    statusTag(post));
}

/** A post's card in a list. */
export function postCard(post, { onOpenPost, onOpenUser, onError = null }) {
  const text = clip(post.text, CARD_TEXT_CHARS);
  return el('li', { class: 'cm-post', dataset: { postId: String(post.id), status: post.status || '' } },
    authorLine(post, onOpenUser),
    text ? el('button', {
      type: 'button', class: 'cm-post-body', 'aria-label': t('community.open_post'),
      onclick: () => onOpenPost(post),
    }, el('span', { class: 'cm-post-text', text })) : null,
    photoGrid(post),
    tagLine(post),
    el('div', { class: 'cm-post-foot' },
      likeButton(post, { onError }),
      el('button', {
        type: 'button', class: 'cm-comments-btn', 'aria-label': t('community.comments_n', { count: post.comments || 0 }),
        dataset: { count: String(post.comments || 0) }, onclick: () => onOpenPost(post),
      }, commentIcon(20),
      el('span', { class: 'cm-comment-count', text: formatCount(post.comments || 0) })),
      sharesCount(post),
      el('button', { type: 'button', class: 'link cm-open', text: t('community.view_post'), onclick: () => onOpenPost(post) })));
}

/**
 * A `<ul>` of post cards. `set(posts)` replaces them, `append(posts)` adds a page, `add(post)`
 * puts one on top; each card is redrawn when its post changes and goes when it is removed.
 */
export function mountPostList(list, { onOpenPost, onOpenUser, onError = null, onChange = null }) {
  let ids = [];
  const cards = new Map(); // id → li
  const draw = (id) => {
    const p = postOf(id);
    if (!p) return null;
    const li = postCard(p, { onOpenPost, onOpenUser, onError });
    cards.set(id, li);
    return li;
  };
  const render = () => {
    ids = ids.filter((id) => postOf(id) && !isRemoved(id));
    cards.clear();
    list.replaceChildren(...ids.map(draw).filter(Boolean));
    if (onChange) onChange(ids.length);
  };
  const off = onCommunity((kind, data) => {
    if (kind === 'post' && cards.has(data)) {
      const li = draw(data);
      const old = list.querySelector(`li.cm-post[data-post-id="${data}"]`);
      if (old && li) old.replaceWith(li);
    } else if (kind === 'removed' && ids.includes(data)) {
      ids = ids.filter((id) => id !== data);
      const old = list.querySelector(`li.cm-post[data-post-id="${data}"]`);
      if (old) old.remove();
      cards.delete(data);
      if (onChange) onChange(ids.length);
    }
  });
  return {
    set(posts) { ids = posts.map((p) => p.id); render(); },
    append(posts) { ids = ids.concat(posts.map((p) => p.id).filter((id) => !ids.includes(id))); render(); },
    add(post) {
      if (!post || ids.includes(post.id)) return;
      ids.unshift(post.id);
      const li = draw(post.id);
      if (li) {
        li.classList.add('is-new');
        list.prepend(li);
      }
      if (onChange) onChange(ids.length);
    },
    has: (id) => ids.includes(id),
    get size() { return ids.length; },
    render,
    destroy: off,
  };
}

// ---------------------------------------------------------------- the two feeds

export function mountFeed(root, { kind, onOpenPost, onOpenUser, onCompose }) {
  const discover = kind === 'discover';
  const state = {
    loaded: false, loading: false, error: null, gen: 0, next: null, visible: false, stale: false,
    category: null, sort: SORTS[0], personalized: null,
  };
  const cats = discover ? el('div', { class: 'cm-cats', role: 'toolbar' }) : null;
  const sorts = discover ? el('div', { class: 'cm-sorts', role: 'toolbar' }) : null;
  const line = discover ? el('p', { id: 'cm-discover-line', class: 'cm-personal small', role: 'status' }) : null;
  const error = el('p', { id: `cm-${kind}-error`, class: 'form-error cm-list-error', role: 'alert', hidden: true });
  const ul = el('ul', { id: `cm-${kind}-list`, class: 'cm-posts' });
  const empty = el('div', { id: `cm-${kind}-empty`, class: 'cm-empty muted', hidden: true });
  const more = el('button', { type: 'button', id: `cm-${kind}-more`, class: 'secondary block cm-more', hidden: true });
  root.replaceChildren(...[cats, sorts, line, error, ul, empty, more].filter(Boolean));
  const showError = (err) => {
    clear(error, el('span', { text: errorText(err) }),
      isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => load(false) }) : null);
    error.hidden = false;
  };
  const list = mountPostList(ul, { onOpenPost, onOpenUser, onError: showError, onChange: () => renderEmpty() });

  const catButtons = discover ? [null, ...CATEGORIES].map((c) => el('button', {
    type: 'button', class: 'chip-btn cm-cat-btn', id: 'cm-cat-' + (c || 'all'), dataset: { category: c || '' },
    onclick: () => { if (state.category !== c) { state.category = c; load(false); } },
  })) : [];
  const sortButtons = discover ? SORTS.map((s) => el('button', {
    type: 'button', class: 'chip-btn cm-sort', id: 'cm-sort-' + s, dataset: { sort: s },
    onclick: () => { if (state.sort !== s) { state.sort = s; load(false); } },
  })) : [];
  if (discover) {
    cats.replaceChildren(...catButtons);
    sorts.replaceChildren(...sortButtons);
  }

  function renderLine() {
    if (!line) return;
    const shown = state.sort === 'recommended' && state.personalized != null;
    line.hidden = !shown;
    line.dataset.personalized = state.personalized == null ? '' : String(state.personalized);
    if (!shown) return;
    if (state.personalized) {
      clear(line, el('span', { text: t('community.personalized_on') }), ' · ',
        el('button', { type: 'button', class: 'link', id: 'cm-personal-settings', text: t('community.personalized_manage'),
          onclick: () => navigate('me', 'consents') }));
    } else {
      clear(line, el('span', { text: t('community.personalized_off') }), ' · ',
        el('button', { type: 'button', class: 'link', id: 'cm-personal-on', text: t('community.personalized_enable'), onclick: enablePersonal }),
        ' · ',
        el('button', { type: 'button', class: 'link', id: 'cm-personal-settings', text: t('community.personalized_settings'),
          onclick: () => navigate('me', 'consents') }));
    }
  }

  async function enablePersonal() {
    const ok = await askConsent({
      id: 'cm-personal-dialog', permissions: [PERSONAL_PERMISSION], onGranted: mergeConsentRecord,
      title: t('community.personal_title'), text: t('community.personal_text'), purpose: t('community.personal_purpose'),
    });
    // The consent.changed event reads the feed again; our own reply does too (the event may be late).
    if (ok) load(false);
  }

  function renderEmpty() {
    const none = state.loaded && !state.loading && !state.error && !list.size;
    empty.hidden = !none;
    if (!none) return;
    if (discover) {
      empty.replaceChildren(el('p', { text: state.category
        ? t('community.discover_empty_category', { category: categoryName(state.category) }) : t('community.discover_empty') }));
    } else {
      empty.replaceChildren(
        el('span', { class: 'cm-empty-icon', 'aria-hidden': 'true' }, icon('community', { size: 44 })),
        el('p', { text: t('community.home_empty') }),
        el('button', { type: 'button', class: 'primary small-btn', id: 'cm-home-empty-post', text: t('community.compose'), onclick: onCompose }));
    }
  }

  function render() {
    if (discover) {
      cats.setAttribute('aria-label', t('community.categories'));
      sorts.setAttribute('aria-label', t('community.sort'));
      catButtons.forEach((b, i) => {
        const c = i === 0 ? null : CATEGORIES[i - 1];
        b.textContent = c ? categoryName(c) : t('live.cat_all');
        b.setAttribute('aria-pressed', String(state.category === c));
      });
      sortButtons.forEach((b) => {
        b.textContent = t('community.sort_' + b.dataset.sort);
        b.setAttribute('aria-pressed', String(state.sort === b.dataset.sort));
      });
      renderLine();
    }
    ul.setAttribute('aria-busy', state.loading ? 'true' : 'false');
    ul.setAttribute('aria-label', t(discover ? 'community.tab_discover' : 'community.tab_home'));
    more.hidden = state.next == null;
    more.disabled = state.loading;
    more.textContent = state.loading ? t('status.loading') : t('community.more');
    renderEmpty();
  }

  async function load(append) {
    const gen = ++state.gen;
    state.loading = true;
    state.stale = false;
    error.hidden = true;
    state.error = null;
    if (!append) state.next = null;
    render();
    try {
      let res;
      if (discover) {
        res = await discoverFeed({ category: state.category, sort: state.sort, offset: append ? state.next || 0 : 0, limit: PAGE });
      } else {
        res = await homeFeed({ cursor: append ? state.next : null, limit: PAGE });
      }
      if (gen !== state.gen) return;
      if (append) list.append(res.posts);
      else list.set(res.posts);
      state.next = discover ? (res.next_offset ?? null) : (res.next || null);
      if (discover) state.personalized = typeof res.personalized === 'boolean' ? res.personalized : null;
      state.loaded = true;
    } catch (err) {
      if (gen !== state.gen) return;
      if (!append) list.set([]);
      state.next = null;
      state.error = err;
      showError(err);
    } finally {
      if (gen === state.gen) {
        state.loading = false;
        render();
      }
    }
  }

  more.addEventListener('click', () => load(true));
  const offs = [
    onLocaleChange(() => { list.render(); render(); }),
    onCommunity((what, data) => {
      if ((what === 'new' || what === 'created') && !discover && state.loaded) list.add(data);
      // Following someone (or no longer) changes whose posts 关注 holds: read again when next shown.
      if (what === 'follow' && !discover) {
        if (state.visible) load(false);
        else state.stale = true;
      }
      // The personalisation consent changed (here, in 我的, or on another device): read again at once.
      if (what === 'consent' && discover && data && data.permission === PERSONAL_PERMISSION) {
        if (state.visible) load(false);
        else state.stale = true;
      }
    }),
    getClient().on('online', () => { if (state.loaded && state.visible) load(false); }),
  ];
  render();

  return {
    show() {
      state.visible = true;
      if (!state.loaded || state.stale) load(false);
    },
    hide() { state.visible = false; },
    reload: () => load(false),
    /** The category chosen (发现), for a new post's default. */
    category: () => state.category,
    destroy() { for (const off of offs) off(); list.destroy(); },
  };
}
