/**
 * What the verdict pages share (鉴定结果: verdict-form.js, verdict-detail.js, verdict-list.js,
 * verdict-notice.js, and the call pages that offer them): the stylesheet, the words for a
 * conclusion and an estimate, and the appraiser's name.
 *
 * @module pages/verdict-common
 */
import { t, getLocale } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';

/** Links css/verdict.css once (index.html need not know it). */
export function ensureVerdictCss() {
  if (document.querySelector('link[data-verdict-css], link[href="/static/css/verdict.css"]')) return;
  document.head.append(el('link', { rel: 'stylesheet', href: '/static/css/verdict.css', 'data-verdict-css': '' }));
}

/** 天然 / 优化处理 / 仿制品 / 视频无法判断. */
export const conclusionText = (c) => t('live.verdict.conclusion.' + (c || 'undetermined'));

/** 8000 → 8,000 (the user's language). */
function yuan(n) {
  try {
    return new Intl.NumberFormat(getLocale(), { maximumFractionDigits: 0 }).format(n);
  } catch (_) {
    return String(n);
  }
}

/** The estimate (8,000–12,000元), or '' when the appraiser gave none. */
export function priceText(v) {
  if (!v || v.price_low == null || v.price_high == null) return '';
  if (v.price_low === v.price_high) return t('live.verdict.price_one', { price: yuan(v.price_low) });
  return t('live.verdict.price_range', { low: yuan(v.price_low), high: yuan(v.price_high) });
}

/** The appraiser's name: the user's nickname (a Verdict) or the public name (the public view). */
export function appraiserName(v) {
  const a = v && v.appraiser;
  if (typeof a === 'string') return a;
  return a && a.id != null ? a.nickname || '' : t('live.deleted_user');
}

/** 手镯 · 翡翠 */
export const itemText = (v) => [v && v.item_type, v && v.material].filter(Boolean).join(' · ');
