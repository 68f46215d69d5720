/**
 * The web client's navigation: the four tabs of the tab bar (消息 / 直播 / 社区 / 我的) and,
 * inside a tab, a view named by a string (`messages` → `conversation:12`, `me` → `consents`).
 * The location hash mirrors it (`#/messages/conversation:12`), so the browser's back button
 * and a reload land where the user was.
 *
 *   registerTab('me', { mount(root) {…}, show(view) {…}, hide() {…} });
 *   navigate('messages', 'conversation:12');
 *   onNavigate(({ tab, view }) => …);
 *
 * `mount(root)` runs once, the first time the tab is shown, with the tab's own element;
 * `show(view)` every time it is shown (view null for the tab's first screen); `hide()` when
 * another tab takes over.
 *
 * @module app/nav
 */

export const TABS = Object.freeze(['messages', 'live', 'community', 'me']);

/**
 * Addresses outside the tabs that stand for a view inside one: `#/verdict/DX…`, the address of
 * an appraisal verdict one may pass on, is 我的's `verdict:DX…` (its buyer and appraiser see it
 * in full, anyone else its public view).
 */
const ALIASES = new Map([
  ['verdict', (rest) => (rest ? { tab: 'me', view: 'verdict:' + rest } : null)],
]);

const pages = new Map(); // tab → {page, root, mounted}
const listeners = new Set();
let current = { tab: null, view: null };

/** Declares the page of a tab and the element it draws into. */
export function registerTab(tab, page, root) {
  if (!TABS.includes(tab)) throw new Error(`unknown tab ${tab}`);
  pages.set(tab, { page, root, mounted: false });
}

/** Where the user is: `{tab, view}`. */
export function currentView() {
  return { ...current };
}

/** Calls `fn({tab, view})` after every navigation; returns the function that stops it. */
export function onNavigate(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function hashOf(tab, view) {
  return '#/' + tab + (view ? '/' + encodeURIComponent(view) : '');
}

/** Reads `#/tab/view` or an alias (`#/verdict/DX…`); unknown tabs → null. */
export function parseHash(hash = location.hash) {
  const m = /^#\/([a-z]+)(?:\/(.*))?$/.exec(hash || '');
  if (!m || !(TABS.includes(m[1]) || ALIASES.has(m[1]))) return null;
  let view = null;
  if (m[2]) {
    try { view = decodeURIComponent(m[2]); } catch (_) { view = null; }
  }
  return TABS.includes(m[1]) ? { tab: m[1], view } : ALIASES.get(m[1])(view);
}

/**
 * Shows `tab` (mounting it the first time) at `view`. `replace`: the history entry is replaced
 * instead of added (a redirect, not a step the back button should return to).
 */
export function navigate(tab, view = null, { replace = false } = {}) {
  const entry = pages.get(tab);
  if (!entry) return;
  const prev = current;
  if (prev.tab && prev.tab !== tab) {
    const old = pages.get(prev.tab);
    if (old) {
      old.root.hidden = true;
      if (old.page.hide) old.page.hide();
    }
  }
  current = { tab, view: view || null };
  const hash = hashOf(tab, current.view);
  if (location.hash !== hash) {
    if (replace) history.replaceState(null, '', hash);
    else history.pushState(null, '', hash);
  }
  entry.root.hidden = false;
  if (!entry.mounted) {
    entry.mounted = true;
    entry.page.mount(entry.root);
  }
  if (entry.page.show) entry.page.show(current.view);
  for (const fn of [...listeners]) fn({ ...current });
}

/** Follows the browser's back and forward buttons (call once at start-up). */
export function followHistory(fallbackTab = 'messages') {
  addEventListener('popstate', () => {
    const at = parseHash() || { tab: fallbackTab, view: null };
    navigate(at.tab, at.view, { replace: true });
  });
}

/** Forgets every mounted page (log-out): the next login mounts them afresh. */
export function resetTabs() {
  for (const entry of pages.values()) {
    if (entry.mounted && entry.page.unmount) entry.page.unmount();
    entry.mounted = false;
    entry.root.hidden = true;
    entry.root.replaceChildren();
  }
  current = { tab: null, view: null };
}
