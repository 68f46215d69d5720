/**
 * The 社区 tab: posts and the community are coming; until then it says so.
 *
 * @module pages/community
 */
import { t, applyI18n, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';

export function mount(root) {
  root.replaceChildren(el('div', { class: 'coming' },
    el('div', { class: 'coming-icon', 'aria-hidden': 'true' }, icon('community', { size: 56 })),
    el('h1', { 'data-i18n': 'community.title', text: t('community.title') }),
    el('p', { id: 'community-coming', class: 'muted', 'data-i18n': 'community.coming_soon', text: t('community.coming_soon') })));
  onLocaleChange(() => applyI18n(root));
}
export function show() {}
export function hide() {}
