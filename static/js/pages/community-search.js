/**
 * 搜索 in the 社区 tab (view `search`): posts (`post.search`: Chinese found inside longer text,
 * "和田玉" in "新疆和田玉籽料手镯"; the typed phrase first, then likes, then the newest; paged by
 * offset) or users by nickname (GET /api/users?q=…, as people.js), chosen with 帖子 / 用户.
 * Typing searches after a pause; Enter at once.
 *
 *   const view = mountSearch(root, { onBack, onOpenPost, onOpenUser });  view.open();
 *
 * @module pages/community-search
 */
import { t, errorText, onLocaleChange } from '/static/js/i18n.js';
import { el, clear } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { searchPosts, searchUsers, isTransient, PAGE } from '/static/js/pages/community-data.js';
import { mountPostList, nickOf } from '/static/js/pages/community-feed.js';

const DEBOUNCE_MS = 400;
/** post.search reads the first 32 characters; a nickname search takes 24. */
const Q_MAX = 32;
const USER_Q_MAX = 24;

export function mountSearch(root, { onBack, onOpenPost, onOpenUser }) {
  const back = el('button', { type: 'button', id: 'cm-search-back', class: 'icon-btn' }, icon('back'));
  const label = el('label', { class: 'sr-only', for: 'cm-search-input' });
  const input = el('input', { id: 'cm-search-input', type: 'search', enterkeyhint: 'search', maxlength: Q_MAX * 2, autocomplete: 'off' });
  const kindPosts = el('button', { type: 'button', class: 'chip-btn', id: 'cm-search-kind-posts' });
  const kindUsers = el('button', { type: 'button', class: 'chip-btn', id: 'cm-search-kind-users' });
  const error = el('p', { id: 'cm-search-error', class: 'form-error cm-list-error', role: 'alert', hidden: true });
  const posts = el('ul', { id: 'cm-search-posts', class: 'cm-posts' });
  const users = el('ul', { id: 'cm-search-users', class: 'user-list cm-users', hidden: true });
  const empty = el('p', { id: 'cm-search-empty', class: 'cm-empty muted', hidden: true });
  const more = el('button', { type: 'button', id: 'cm-search-more', class: 'secondary block cm-more', hidden: true });
  root.replaceChildren(
    el('header', { class: 'page-head cm-search-head' }, back,
      el('div', { class: 'search-bar cm-search-bar' }, label, el('span', { class: 'search-icon', 'aria-hidden': 'true' }, icon('search', { size: 18 })), input)),
    el('div', { class: 'chips-row' }, kindPosts, kindUsers),
    error, posts, users, empty, more);

  const state = { q: '', kind: 'posts', users: [], next: null, more: false, loading: false, loaded: false, gen: 0, count: 0 };
  const list = mountPostList(posts, { onOpenPost, onOpenUser, onError: (err) => showError(err), onChange: (n) => { state.count = n; renderMeta(); } });

  const userRow = (u) => el('li', { class: 'user-item cm-user', dataset: { userId: String(u.id) } },
    el('button', { type: 'button', class: 'cm-user-btn', onclick: () => onOpenUser(u) },
      avatarView(u, { size: 44 }),
      el('span', { class: 'user-main' },
        el('span', { class: 'user-name', text: nickOf(u) }),
        el('span', { class: 'muted small clip', text: u.intro || '' })),
      el('span', { class: 'cm-chevron', 'aria-hidden': 'true', text: '›' })));

  function showError(err) {
    // A query of punctuation only is invalid_field (q): say what to type instead.
    const words = err && err.code === 'invalid_field' ? t('community.search_invalid') : errorText(err);
    clear(error, el('span', { text: words }),
      isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => load(false) }) : null);
    error.hidden = false;
  }

  function renderMeta() {
    const none = state.loaded && !state.loading && error.hidden && (state.kind === 'posts' ? state.count === 0 : state.users.length === 0);
    empty.hidden = !none && !!state.q;
    empty.textContent = state.q ? t('community.search_none') : t('community.search_hint');
    if (!state.q) empty.hidden = false;
    more.hidden = state.kind === 'posts' ? state.next == null : !state.more;
    more.disabled = state.loading;
    more.textContent = state.loading ? t('status.loading') : t('community.more');
  }

  function render() {
    back.setAttribute('aria-label', t('action.back'));
    label.textContent = t('community.search_label');
    input.placeholder = t('community.search_placeholder');
    kindPosts.textContent = t('community.search_posts');
    kindUsers.textContent = t('community.search_users');
    kindPosts.setAttribute('aria-pressed', String(state.kind === 'posts'));
    kindUsers.setAttribute('aria-pressed', String(state.kind === 'users'));
    posts.hidden = state.kind !== 'posts';
    users.hidden = state.kind !== 'users';
    users.replaceChildren(...state.users.map(userRow));
    renderMeta();
  }

  async function load(append) {
    const gen = ++state.gen;
    error.hidden = true;
    if (!state.q) {
      list.set([]);
      state.users = [];
      state.next = null;
      state.more = false;
      state.loaded = false;
      render();
      return;
    }
    state.loading = true;
    render();
    try {
      if (state.kind === 'posts') {
        const res = await searchPosts(state.q, { offset: append ? state.next || 0 : 0, limit: PAGE });
        if (gen !== state.gen) return;
        if (append) list.append(res.posts);
        else list.set(res.posts);
        state.next = res.next_offset ?? null;
      } else {
        const q = [...state.q].slice(0, USER_Q_MAX).join('');
        const last = append && state.users.length ? state.users[state.users.length - 1].id : null;
        const res = await searchUsers(q, { beforeId: last, limit: PAGE });
        if (gen !== state.gen) return;
        const got = res.users || [];
        state.users = append ? state.users.concat(got.filter((u) => !state.users.some((x) => x.id === u.id))) : got;
        state.more = !!res.more;
      }
      state.loaded = true;
    } catch (err) {
      if (gen !== state.gen) return;
      if (!append) { list.set([]); state.users = []; }
      state.next = null;
      state.more = false;
      showError(err);
    } finally {
      if (gen === state.gen) {
        state.loading = false;
        render();
      }
    }
  }

  const take = () => {
    const q = [...input.value.trim()].slice(0, Q_MAX).join('');
    if (q === state.q && state.loaded) return;
    state.q = q;
    load(false);
  };
  let timer = null;
  input.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(take, DEBOUNCE_MS); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.isComposing) { e.preventDefault(); clearTimeout(timer); state.loaded = false; take(); }
  });
  back.addEventListener('click', onBack);
  kindPosts.addEventListener('click', () => { if (state.kind !== 'posts') { state.kind = 'posts'; state.loaded = false; load(false); } });
  kindUsers.addEventListener('click', () => { if (state.kind !== 'users') { state.kind = 'users'; state.loaded = false; load(false); } });
  more.addEventListener('click', () => load(true));
  const off = onLocaleChange(() => { list.render(); render(); });
  render();

  return {
    open({ focus = true } = {}) {
      render();
      if (focus) input.focus();
    },
    close() { clearTimeout(timer); },
    destroy() { off(); list.destroy(); },
  };
}
