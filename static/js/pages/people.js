/**
 * Finding someone to talk to: the 卖家 directory (GET /api/users?role=seller, paged with
 * before_id) — the first thing a buyer without conversations sees — and a search of users or
 * sellers by nickname (GET /api/users?q=…&role=…, debounced, paged). Each row: avatar,
 * nickname, intro, and 聊天.
 *
 *   mountPeople(root, { onChat: (user) => … });
 *
 * @module pages/people
 */
import { getClient } from '/static/js/client.js';
import { t, errorText, onLocaleChange } from '/static/js/i18n.js';
import { el, busy, clear } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { icon } from '/static/js/ui/icons.js';
import { store } from '/static/js/app/store.js';
import { isTransient } from '/static/js/pages/chat-data.js';

const client = getClient();
const PAGE = 20;
const DEBOUNCE_MS = 300;

export function mountPeople(root, { onChat }) {
  const state = { q: '', role: 'seller', users: [], more: false, loading: false, error: null, gen: 0, intro: false };
  const input = el('input', { id: 'people-search', type: 'search', enterkeyhint: 'search', maxlength: 24, autocomplete: 'off' });
  const label = el('label', { class: 'sr-only', for: 'people-search' });
  const roleSeller = el('button', { type: 'button', class: 'chip-btn', id: 'role-seller' });
  const roleAll = el('button', { type: 'button', class: 'chip-btn', id: 'role-all' });
  const heading = el('h2', { class: 'section-title', id: 'people-title' });
  const note = el('p', { class: 'small muted', id: 'people-note', hidden: true });
  const list = el('ul', { id: 'seller-list', class: 'user-list' });
  const empty = el('p', { id: 'seller-empty', class: 'muted empty-note', hidden: true });
  const error = el('p', { id: 'people-error', class: 'form-error', role: 'alert', hidden: true });
  const more = el('button', { type: 'button', id: 'people-more', class: 'secondary block', hidden: true });
  root.replaceChildren(
    el('div', { class: 'search-bar' }, label, el('span', { class: 'search-icon', 'aria-hidden': 'true' }, icon('search', { size: 18 })), input),
    el('div', { class: 'chips-row' }, roleSeller, roleAll),
    note, heading, error, list, empty, more);

  const labels = () => {
    label.textContent = t('search.label');
    input.placeholder = t('search.placeholder');
    roleSeller.textContent = t('role.seller');
    roleAll.textContent = t('search.all_users');
    roleSeller.setAttribute('aria-pressed', String(state.role === 'seller'));
    roleAll.setAttribute('aria-pressed', String(state.role !== 'seller'));
    heading.textContent = state.q ? t('search.results') : t('sellers.title');
    note.textContent = t('sellers.first_note');
    note.hidden = !state.intro || !!state.q;
    more.textContent = t('action.more');
  };

  const row = (u) => el('li', { class: 'user-item', dataset: { userId: String(u.id) } },
    avatarView(u, { size: 48 }),
    el('div', { class: 'user-main' },
      el('div', { class: 'user-name', text: u.nickname }),
      el('div', { class: 'muted small clip', text: u.intro || t('profile.intro_empty') }),
      (u.roles || []).includes('seller') ? el('span', { class: 'role-tag', text: t('role.seller') }) : null),
    u.id === (store.me && store.me.id) ? null : el('button', {
      type: 'button', class: 'primary small-btn chat-btn', text: t('action.chat'), 'aria-label': t('action.chat_with', { name: u.nickname }),
      onclick: (e) => busy(e.currentTarget, async () => {
        try { await onChat(u); } catch (err) { showError(err); }
      }),
    }));

  const render = () => {
    labels();
    list.replaceChildren(...state.users.map(row));
    empty.hidden = state.loading || state.error || state.users.length > 0;
    empty.textContent = state.q ? t('search.none') : t('sellers.empty');
    more.hidden = !state.more;
    more.disabled = state.loading;
  };

  function showError(err) {
    clear(error, el('span', { text: errorText(err) }),
      isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => load(false) }) : null);
    error.hidden = false;
  }

  async function load(append) {
    const gen = ++state.gen;
    state.loading = true;
    error.hidden = true;
    render();
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (state.q) params.set('q', state.q);
    if (state.role === 'seller' || !state.q) params.set('role', 'seller');
    if (append && state.users.length) params.set('before_id', String(state.users[state.users.length - 1].id));
    try {
      const res = await client.api('GET', '/api/users?' + params);
      if (gen !== state.gen) return;
      const users = res.users || [];
      state.users = append ? state.users.concat(users.filter((u) => !state.users.some((x) => x.id === u.id))) : users;
      state.more = res.more != null ? !!res.more : users.length >= PAGE;
    } catch (err) {
      if (gen !== state.gen) return;
      state.more = false;
      if (!append) state.users = [];
      showError(err);
    } finally {
      if (gen === state.gen) state.loading = false;
      render();
    }
  }

  let timer = null;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const q = input.value.trim();
      if (q === state.q) return;
      state.q = [...q].slice(0, 24).join('');
      load(false);
    }, DEBOUNCE_MS);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      clearTimeout(timer);
      state.q = input.value.trim();
      load(false);
    }
  });
  roleSeller.addEventListener('click', () => { state.role = 'seller'; load(false); });
  roleAll.addEventListener('click', () => { state.role = 'all'; if (state.q) load(false); else render(); });
  more.addEventListener('click', () => load(true));
  onLocaleChange(render);
  render();
  return {
    /** Shows the directory (`intro`: the first-screen note) and loads it if it is not loaded. */
    show({ intro = false, focusSearch = false } = {}) {
      state.intro = intro;
      if (!state.users.length && !state.loading) load(false);
      else render();
      if (focusSearch) input.focus();
    },
    reload: () => load(false),
  };
}
