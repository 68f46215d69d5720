/**
 * The bottom tab bar: 消息 / 直播 / 社区 / 我的 (safe-area padded, ≥ 44 px targets), with the
 * unread count on 消息. Follows nav.js: the current tab is `aria-current="page"`.
 *
 *   mountTabbar(document.getElementById('tabbar'));
 *   setBadge('messages', 3);
 *
 * @module ui/tabbar
 */
import { t, onLocaleChange } from '../i18n.js';
import { el } from './dom.js';
import { icon } from './icons.js';
import { TABS, navigate, onNavigate, currentView } from '../app/nav.js';

const buttons = new Map();
const badges = new Map();

function render() {
  const { tab } = currentView();
  for (const [name, b] of buttons) {
    b.querySelector('.tab-label').textContent = t('tab.' + name);
    if (name === tab) b.setAttribute('aria-current', 'page');
    else b.removeAttribute('aria-current');
    const n = badges.get(name) || 0;
    const badge = b.querySelector('.badge');
    badge.hidden = !n;
    badge.textContent = n > 99 ? '99+' : String(n);
    b.setAttribute('aria-label', t('tab.' + name) + (n ? ' ' + t('chat.unread_count', { count: n }) : ''));
  }
}

export function mountTabbar(root) {
  root.replaceChildren(...TABS.map((name) => {
    const b = el('button', { type: 'button', class: 'tab-btn', id: 'tab-btn-' + name, dataset: { tab: name },
      onclick: () => navigate(name) },
    el('span', { class: 'tab-icon', 'aria-hidden': 'true' }, icon(name)),
    el('span', { class: 'tab-label' }),
    el('span', { class: 'badge', hidden: true }));
    buttons.set(name, b);
    return b;
  }));
  onNavigate(render);
  onLocaleChange(render);
  render();
}

export function setBadge(tab, count) {
  badges.set(tab, count || 0);
  if (buttons.size) render();
}
