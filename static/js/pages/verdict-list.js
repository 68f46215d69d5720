/**
 * 我的鉴定, a view of the 我的 tab (`#/me/verdicts`): the verdicts this account received as a
 * buyer or gave as an appraiser (`verdict.mine`, the current version of each, newest first),
 * each with the item, the conclusion, the number and the date; a tap opens it
 * (`#/me/verdict:<number>`, verdict-detail.js). Read again on entering and when a verdict
 * arrives or changes.
 *
 * @module pages/verdict-list
 */
import { el } from '/static/js/ui/dom.js';
import { t, errorText, formatDateTime } from '/static/js/i18n.js';
import { store } from '/static/js/app/store.js';
import { myVerdicts, onVerdicts } from '/static/js/pages/verdict-data.js';
import { ensureVerdictCss, conclusionText, appraiserName, itemText } from '/static/js/pages/verdict-common.js';
import { isTransient } from '/static/js/pages/me-common.js';

export const TITLE = 'live.verdict.mine_title';

let list = null;
let error = null;
let loading = false;
let gen = 0;
let ctxRef = null;
let inView = false;

export function init(ctx) {
  ctxRef = ctx;
  // While a read is under way its answer is the newest already (myVerdicts reports what it brought).
  return [onVerdicts(() => { if (!inView) list = null; else if (!loading) load(); })];
}

export function enter() {
  inView = true;
  ensureVerdictCss();
  load();
}

export function leave() {
  inView = false;
}

export function reset() {
  gen += 1;
  list = null;
  error = null;
  loading = false;
  inView = false;
}

async function load() {
  const my = ++gen;
  loading = true;
  error = null;
  if (ctxRef) ctxRef.rerender();
  try {
    const verdicts = await myVerdicts();
    if (my !== gen) return;
    list = verdicts;
  } catch (err) {
    if (my !== gen) return;
    error = err;
  }
  loading = false;
  if (ctxRef) ctxRef.rerender();
}

function item(v, ctx) {
  const gave = store.me && v.appraiser && v.appraiser.id === store.me.id;
  return el('li', {},
    el('button', {
      type: 'button', class: 'verdict-item', dataset: { number: v.number, conclusion: v.conclusion },
      onclick: () => ctx.go('verdict:' + v.number),
    },
    el('span', { class: 'verdict-item-main' },
      el('span', { class: 'verdict-item-title me-user-data', text: itemText(v) }),
      el('span', { class: 'verdict-item-line small muted' },
        el('span', { class: 'verdict-number', text: v.number }),
        el('span', { text: formatDateTime(v.issued_at) })),
      el('span', { class: 'verdict-item-line small muted' },
        gave ? t('live.verdict.gave') : t('live.verdict.by', { name: appraiserName(v) }),
        v.version > 1 ? el('span', { class: 'verdict-tag', text: t('live.verdict.corrected_tag') }) : null)),
    el('span', { class: 'verdict-conclusion-chip is-' + v.conclusion, text: conclusionText(v.conclusion) }),
    el('span', { class: 'me-row-chevron', 'aria-hidden': 'true', text: '›' })));
}

export function render(ctx) {
  if (!list) {
    if (error) {
      return el('section', { class: 'me-card' },
        el('p', { class: 'form-error', role: 'alert', text: errorText(error) }),
        isTransient(error) ? el('button', { type: 'button', class: 'secondary', text: t('action.retry'), onclick: load }) : null);
    }
    return el('p', { class: 'muted me-loading', text: t('status.loading') });
  }
  if (!list.length) {
    return el('section', { class: 'me-card', id: 'verdict-list-empty' },
      el('p', { text: t('live.verdict.mine_empty') }),
      el('p', { class: 'small muted', text: t('live.verdict.mine_empty_hint') }));
  }
  return [
    el('p', { class: 'small muted', text: t('live.verdict.mine_hint') }),
    el('section', { class: 'me-card me-list-card' },
      el('ul', { class: 'me-list verdict-list', id: 'verdict-list' }, list.map((v) => item(v, ctx)))),
    loading ? el('p', { class: 'small muted', role: 'status', text: t('status.loading') }) : null,
  ];
}
