/**
 * The 直播 tab: live appraisal rooms are coming; until then it says so.
 *
 * @module pages/live
 */
import { t, applyI18n, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';

export function mount(root) {
  root.replaceChildren(el('div', { class: 'coming' },
    el('div', { class: 'coming-icon', 'aria-hidden': 'true' }, icon('live', { size: 56 })),
    el('h1', { 'data-i18n': 'live.title', text: t('live.title') }),
    el('p', { id: 'live-coming', class: 'muted', 'data-i18n': 'live.coming_soon', text: t('live.coming_soon') })));
  onLocaleChange(() => applyI18n(root));
}
export function show() {}
export function hide() {}
