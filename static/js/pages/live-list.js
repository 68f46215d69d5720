/**
 * The 直播 tab's first screen: the rooms live now (`room.list`, most watched first, by category
 * 全部 翡翠 和田玉 珍珠 钻石 黄金 琥珀 文玩, paged with `next`), as two columns of cards (cover or a
 * placeholder, 直播中, viewers, title, host); and, for an appraiser, 我的直播间 (`room.mine`)
 * with 创建直播间 (title, category and an optional cover picked from the album: uploaded as a
 * `post_photo`, usable once approved) that opens the new room's host console.
 *
 *   const list = mountList(root, { onOpen: (room) => …, onHost: (room) => … });
 *   list.show(); list.setNotice(text);
 *
 * @module pages/live-list
 */
import { t, errorText, onLocaleChange, formatRelative } from '/static/js/i18n.js';
import { el, busy, clear } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { icon } from '/static/js/ui/icons.js';
import { store, onStore } from '/static/js/app/store.js';
import { getClient } from '/static/js/client.js';
import { categoryName, statusBadge, formatCount, hostLine, showCover } from '/static/js/pages/live-common.js';
import { CATEGORIES, TITLE_MAX_CHARS, listRooms, myRooms, noteRoom, createRoom, isTransient } from '/static/js/pages/live-data.js';
import { mergeConsentRecord } from '/static/js/pages/me-common.js';
import { askAlbum as askAlbumIn } from '/static/js/ui/ask-consent.js';

const PAGE = 20;
/** While the list is in view it is read again this often (the viewer counts move). */
const REFRESH_MS = 30000;
/** 我的直播间 shows this many rooms until 全部 is tapped. */
const MINE_SHOWN = 3;

export const isAppraiser = () => !!(store.me && (store.me.roles || []).includes('appraiser'));

export function mountList(root, { onOpen, onHost }) {
  const state = {
    category: null, rooms: [], next: null, loading: false, error: null, gen: 0, loaded: false,
    mine: null, mineError: null, mineAll: false, notice: null, visible: false,
  };
  const title = el('h1', { class: 'page-title', id: 'live-title' });
  const createBtn = el('button', { type: 'button', id: 'live-create-btn', class: 'primary small-btn', hidden: true });
  const refreshBtn = el('button', { type: 'button', id: 'live-refresh', class: 'icon-btn live-refresh' },
    el('span', { 'aria-hidden': 'true', text: '↻' }));
  const notice = el('div', { id: 'live-notice', class: 'banner warn live-notice', role: 'status', hidden: true });
  const mineBox = el('section', { id: 'live-mine', class: 'live-mine', hidden: true });
  const cats = el('div', { class: 'live-cats', role: 'toolbar' });
  const error = el('p', { id: 'live-list-error', class: 'form-error live-list-error', role: 'alert', hidden: true });
  const grid = el('ul', { id: 'live-list', class: 'live-grid' });
  const empty = el('div', { id: 'live-empty', class: 'live-empty muted', hidden: true });
  const more = el('button', { type: 'button', id: 'live-more', class: 'secondary block live-more', hidden: true });
  root.replaceChildren(
    el('header', { class: 'page-head live-list-head' }, title, createBtn, refreshBtn),
    notice, mineBox, cats, error, grid, empty, more);

  const catButtons = [null, ...CATEGORIES].map((c) => el('button', {
    type: 'button', class: 'chip-btn live-cat', id: 'live-cat-' + (c || 'all'), dataset: { category: c || '' },
    onclick: () => {
      if (state.category === c) return;
      state.category = c;
      load(false);
    },
  }));
  cats.replaceChildren(...catButtons);

  function card(room) {
    const cover = el('div', { class: 'live-cover live-cover-' + (room.category || 'other') },
      el('span', { class: 'live-cover-cat', text: categoryName(room.category) }),
      statusBadge(room.status),
      el('span', { class: 'live-cover-viewers', text: t('live.viewers', { count: formatCount(room.viewers), n: room.viewers }) }));
    if (room.cover != null) showCover(cover, room.cover);
    return el('li', { class: 'live-card', dataset: { roomId: String(room.id) } },
      el('button', {
        type: 'button', class: 'live-card-btn', 'aria-label': t('live.open_room', { title: room.title }),
        onclick: () => onOpen(room),
      },
      cover,
      el('span', { class: 'live-card-title', text: room.title }),
      hostLine(room, 22)));
  }

  function mineRow(room) {
    const when = room.status === 'ended' ? room.ended_at : room.started_at || room.created_at;
    return el('li', { class: 'live-mine-item' + (room.status === 'ended' ? ' ended' : ''), dataset: { roomId: String(room.id) } },
      el('button', { type: 'button', class: 'live-mine-btn', onclick: () => onHost(room) },
        el('span', { class: 'live-mine-main' },
          el('span', { class: 'live-mine-title', text: room.title }),
          el('span', { class: 'small muted', text: categoryName(room.category) + t('list.separator') + formatRelative(when) })),
        statusBadge(room.status),
        el('span', { class: 'me-row-chevron live-chevron', 'aria-hidden': 'true', text: '›' })));
  }

  function renderMine() {
    const show = isAppraiser();
    mineBox.hidden = !show;
    createBtn.hidden = !show;
    createBtn.textContent = t('live.create');
    if (!show) return;
    const rooms = state.mine || [];
    // Open rooms first (newest first within each group), then the ended ones.
    const sorted = [...rooms.filter((r) => r.status !== 'ended'), ...rooms.filter((r) => r.status === 'ended')];
    const shown = state.mineAll ? sorted : sorted.slice(0, MINE_SHOWN);
    clear(mineBox,
      el('h2', { class: 'section-title', text: t('live.mine') }),
      state.mineError ? el('p', { class: 'form-error small live-mine-error', text: errorText(state.mineError) }) : null,
      state.mine && !rooms.length ? el('p', { class: 'small muted live-mine-empty', text: t('live.mine_empty') }) : null,
      state.mine == null && !state.mineError ? el('p', { class: 'small muted', text: t('status.loading') }) : null,
      rooms.length ? el('ul', { id: 'live-mine-list', class: 'live-mine-list' }, ...shown.map(mineRow)) : null,
      sorted.length > MINE_SHOWN ? el('button', {
        type: 'button', class: 'link live-mine-all', id: 'live-mine-all',
        text: state.mineAll ? t('live.mine_fewer') : t('live.mine_all', { count: sorted.length }),
        onclick: () => { state.mineAll = !state.mineAll; renderMine(); },
      }) : null);
  }

  function render() {
    title.textContent = t('live.title');
    refreshBtn.setAttribute('aria-label', t('action.refresh'));
    cats.setAttribute('aria-label', t('live.categories'));
    catButtons.forEach((b, i) => {
      const c = i === 0 ? null : CATEGORIES[i - 1];
      b.textContent = c ? categoryName(c) : t('live.cat_all');
      b.setAttribute('aria-pressed', String(state.category === c));
    });
    notice.hidden = !state.notice;
    if (state.notice) {
      notice.replaceChildren(el('span', { id: 'live-notice-text', text: state.notice }),
        el('button', { type: 'button', class: 'icon-btn notice-close', 'aria-label': t('action.close'), text: '×',
          onclick: () => { state.notice = null; render(); } }));
    }
    renderMine();
    grid.replaceChildren(...state.rooms.map(card));
    grid.setAttribute('aria-busy', state.loading ? 'true' : 'false');
    const none = state.loaded && !state.loading && !state.error && !state.rooms.length;
    empty.hidden = !none;
    if (none) {
      empty.replaceChildren(el('span', { class: 'live-empty-icon', 'aria-hidden': 'true' }, icon('live', { size: 48 })),
        el('p', { text: state.category ? t('live.empty_category', { category: categoryName(state.category) }) : t('live.empty') }));
    }
    more.hidden = !state.next;
    more.disabled = state.loading;
    more.textContent = state.loading ? t('status.loading') : t('live.more');
  }

  function showError(err) {
    clear(error, el('span', { text: errorText(err) }),
      isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: () => load(false) }) : null);
    error.hidden = false;
  }

  async function load(append) {
    const gen = ++state.gen;
    state.loading = true;
    error.hidden = true;
    if (!append) state.next = null;
    render();
    try {
      const res = await listRooms({ category: state.category, after: append ? state.next : null, limit: PAGE });
      if (gen !== state.gen) return;
      const rooms = res.rooms || [];
      state.rooms = append ? state.rooms.concat(rooms.filter((r) => !state.rooms.some((x) => x.id === r.id))) : rooms;
      state.next = res.next || null;
      state.loaded = true;
    } catch (err) {
      if (gen !== state.gen) return;
      if (!append) state.rooms = [];
      state.next = null;
      showError(err);
    } finally {
      if (gen === state.gen) {
        state.loading = false;
        render();
      }
    }
  }

  async function loadMine() {
    if (!isAppraiser()) return;
    try {
      state.mine = await myRooms();
      state.mineError = null;
      for (const r of state.mine) noteRoom(r);
    } catch (err) {
      state.mineError = err;
    }
    render();
  }

  // The new room goes into the shared room state (live-data's createRoom).
  function create(title, category, cover) {
    return createRoom({ title, category, cover: cover == null ? null : cover });
  }

  // The photo_album permission, asked in the page: resolves true once granted.
  function askAlbum() {
    return askAlbumIn({ id: 'live-album-dialog', title: t('live.album_title'), text: t('live.album_text'), purpose: t('live.album_purpose'), onGranted: mergeConsentRecord });
  }

  function openCreate() {
    const input = el('input', { id: 'live-create-title', maxlength: TITLE_MAX_CHARS * 2, autocomplete: 'off', enterkeyhint: 'done' });
    const count = el('span', { class: 'small muted form-count', id: 'live-create-count' });
    const chips = el('fieldset', { class: 'chips live-create-cats' },
      el('legend', { text: t('live.create_category') }),
      ...CATEGORIES.map((c) => el('label', { class: 'chip' },
        el('input', { type: 'radio', name: 'live-create-cat', value: c, id: 'live-create-cat-' + c, checked: c === (state.category || 'jade') }),
        el('span', { text: categoryName(c) }))));
    const counter = () => { count.textContent = t('live.chars', { n: [...input.value.trim()].length, max: TITLE_MAX_CHARS }); };
    input.addEventListener('input', counter);
    counter();

    // The cover: null | {status: 'uploading'|'approved'|'in_review', id, url} ; coverError: the last step's error.
    let cover = null;
    let coverError = null;
    let uploading = null; // the upload's promise while it runs
    let gen = 0;
    const file = el('input', {
      type: 'file', accept: 'image/jpeg,image/png,image/webp,image/gif', id: 'live-cover-file', hidden: true,
      onchange: (e) => { const f = e.target.files && e.target.files[0]; e.target.value = ''; if (f) pick(f); },
    });
    const thumb = el('span', { class: 'live-cover-thumb', id: 'live-cover-preview', 'aria-hidden': 'true' });
    const pickBtn = el('button', { type: 'button', class: 'secondary small-btn', id: 'live-cover-pick', onclick: () => file.click() });
    const removeBtn = el('button', { type: 'button', class: 'link', id: 'live-cover-remove', onclick: () => setCover(null) });
    const coverNote = el('p', { class: 'small live-cover-note', id: 'live-cover-note', role: 'status' });
    const coverBox = el('div', { class: 'live-cover-field' },
      el('span', { class: 'live-cover-label', id: 'live-cover-label' }),
      el('div', { class: 'live-cover-row' }, thumb, el('span', { class: 'live-cover-btns' }, pickBtn, removeBtn)),
      coverNote, file);

    function setCover(next, err = null) {
      if (cover && cover.url && (!next || next.url !== cover.url)) URL.revokeObjectURL(cover.url);
      if (!next) gen++;
      cover = next;
      coverError = err;
      renderCover();
    }
    function renderCover() {
      coverBox.querySelector('.live-cover-label').textContent = t('live.cover_label');
      thumb.replaceChildren(cover && cover.url ? el('img', { src: cover.url, alt: '' }) : el('span', { text: '+' }));
      thumb.classList.toggle('is-pending', !!cover && cover.status !== 'approved');
      pickBtn.textContent = cover ? t('live.cover_change') : t('live.cover_pick');
      pickBtn.disabled = !!(cover && cover.status === 'uploading');
      removeBtn.textContent = t('live.cover_remove');
      removeBtn.hidden = !cover || cover.status === 'uploading';
      const text = coverError ? errorText(coverError)
        : !cover ? t('live.cover_hint')
          : cover.status === 'uploading' ? t('live.cover_uploading')
            : cover.status === 'in_review' ? t('live.cover_in_review') : t('live.cover_ready');
      coverNote.textContent = text;
      coverNote.classList.toggle('form-error', !!coverError);
      coverNote.classList.toggle('is-review', !coverError && !!cover && cover.status === 'in_review');
      coverNote.classList.toggle('muted', !coverError && !(cover && cover.status === 'in_review'));
    }
    renderCover();

    async function pick(f) {
      const mine = ++gen;
      if (!/^image\//.test(f.type || 'image/')) return setCover(null, { code: 'unsupported_media' });
      const url = URL.createObjectURL(f);
      const run = (async () => {
        // Ask for the album first when it is known to be missing (the upload would be refused).
        try {
          const check = await getClient().request('consent.check', { feature: 'post_photo', source: 'album' }, { wait: false });
          if (check && check.allowed === false && (check.missing || []).includes('photo_album') && !(await askAlbum())) {
            URL.revokeObjectURL(url);
            if (mine === gen) setCover(null, { code: 'consent_required', missingPermissions: ['photo_album'] });
            return;
          }
        } catch (_) { /* offline or unknown: the upload itself says */ }
        if (mine !== gen) { URL.revokeObjectURL(url); return; }
        setCover({ status: 'uploading', id: null, url });
        let media = null;
        for (let attempt = 0; ; attempt++) {
          try {
            media = await getClient().api('POST', '/api/media?purpose=post_photo&source=album', undefined, { raw: f });
            break;
          } catch (err) {
            if (err.code === 'consent_required' && attempt === 0 && await askAlbum()) continue;
            if (mine === gen) setCover(null, err.code === 'consent_required' ? { code: 'consent_required', missingPermissions: ['photo_album'] } : err);
            return;
          }
        }
        if (mine !== gen) return;
        if (media.status === 'approved') setCover({ status: 'approved', id: media.id, url });
        else if (media.status === 'in_review') setCover({ status: 'in_review', id: media.id, url });
        else setCover(null, { code: 'content_rejected' });
      })();
      uploading = run;
      try { await run; } finally { if (uploading === run) uploading = null; }
    }

    const d = openDialog({
      id: 'live-create-dialog',
      title: t('live.create'),
      body: [
        el('label', { class: 'field', for: 'live-create-title' }, el('span', { text: t('live.create_title') }), input),
        count,
        chips,
        coverBox,
        el('p', { class: 'small muted', text: t('live.create_note') }),
      ],
      actions: [
        { label: t('action.cancel') },
        { label: t('live.create_go'), primary: true, id: 'live-create-ok', onClick: submit },
      ],
      onClose: () => { gen++; if (cover && cover.url) URL.revokeObjectURL(cover.url); cover = null; },
    });
    input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.isComposing) { e.preventDefault(); submit(d); } });
    async function submit(h) {
      const value = input.value.trim();
      const picked = chips.querySelector('input:checked');
      if (!value) {
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return h.setError(t('live.title_required'));
      }
      if ([...value].length > TITLE_MAX_CHARS) return h.setError(t('live.title_too_long', { max: TITLE_MAX_CHARS }));
      h.setBusy(true);
      h.setError('');
      try {
        // A cover still uploading is waited for; one in review is not sent (it cannot be a cover yet).
        if (uploading) await uploading;
        const coverId = cover && cover.status === 'approved' ? cover.id : null;
        const room = await create(value, picked ? picked.value : 'other', coverId);
        h.close();
        state.mine = [room, ...(state.mine || []).filter((r) => r.id !== room.id)];
        render();
        onHost(room);
      } catch (err) {
        h.setBusy(false);
        if (err && err.code === 'invalid_field' && err.field === 'cover') {
          setCover(null, err);
          return h.setError(t('live.cover_refused'));
        }
        h.setError(errorText(err));
      }
    }
  }

  let timer = null;
  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => {
      // Only a first page is read again (a reader of page 3 keeps their place).
      if (state.visible && !state.loading && document.visibilityState === 'visible' && state.rooms.length <= PAGE) load(false);
    }, REFRESH_MS);
  }

  createBtn.addEventListener('click', () => openCreate());
  refreshBtn.addEventListener('click', (e) => busy(e.currentTarget, async () => { await Promise.all([load(false), loadMine()]); }));
  more.addEventListener('click', () => load(true));
  const offs = [
    onLocaleChange(render),
    onStore('me', () => { if (state.visible) { if (isAppraiser() && state.mine == null) loadMine(); render(); } }),
  ];
  render();

  return {
    show() {
      state.visible = true;
      load(false);
      loadMine();
      schedule();
    },
    hide() {
      state.visible = false;
      clearInterval(timer);
    },
    /** A line above the list (why the user left a room), until closed. */
    setNotice(text) {
      state.notice = text || null;
      render();
    },
    /** A room known to have changed (the host's console): 我的直播间 is read again on the next show. */
    forgetMine() {
      state.mine = null;
    },
    destroy() {
      clearInterval(timer);
      for (const off of offs) off();
    },
  };
}
