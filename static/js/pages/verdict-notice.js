/**
 * The buyer hears of a verdict (`verdict.issued`, every device of the buyer): a notice at the
 * top of the screen, over every tab and over the call screen (`#verdict-notice`), saying the
 * appraiser issued (or corrected) the verdict of their item, with 查看 (the call, if it goes
 * on, becomes its small window; an ended one is closed) and ×. It stays until closed, so a
 * verdict issued during the call is still there when the call is over. While the user is on
 * that verdict's page the page itself changes, and a toast says so instead.
 *
 *   startVerdictNotice({ uncover });   // once (live-call-view.js starts it with the call screen)
 *
 * @module pages/verdict-notice
 */
import { t, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { showToast } from '/static/js/ui/toast.js';
import { navigate, currentView } from '/static/js/app/nav.js';
import { onStore } from '/static/js/app/store.js';
import { onVerdicts } from '/static/js/pages/verdict-data.js';
import { ensureVerdictCss, conclusionText, appraiserName } from '/static/js/pages/verdict-common.js';

let box = null;
let uncover = () => {};
let shown = null; // the Verdict the notice is about

function words(v) {
  return v.version > 1
    ? t('live.verdict.notice_corrected', { name: appraiserName(v), version: v.version, conclusion: conclusionText(v.conclusion) })
    : t('live.verdict.notice_issued', { name: appraiserName(v), item: v.item_type, conclusion: conclusionText(v.conclusion) });
}

function render() {
  if (!shown) {
    if (box) box.hidden = true;
    return;
  }
  ensureVerdictCss();
  if (!box) {
    box = el('div', { id: 'verdict-notice', class: 'verdict-notice', role: 'status', 'aria-live': 'polite', hidden: true });
    document.body.append(box);
  }
  box.dataset.number = shown.number;
  box.dataset.version = String(shown.version);
  box.replaceChildren(
    el('span', { class: 'verdict-notice-text', id: 'verdict-notice-text', text: words(shown) }),
    el('button', { type: 'button', class: 'primary small-btn', id: 'verdict-notice-open', text: t('live.verdict.view'), onclick: openShown }),
    el('button', { type: 'button', class: 'icon-btn notice-close', id: 'verdict-notice-close', 'aria-label': t('action.close'), text: '×',
      onclick: () => { shown = null; render(); } }));
  box.hidden = false;
}

function openShown() {
  const v = shown;
  shown = null;
  render();
  if (!v) return;
  uncover();
  navigate('me', 'verdict:' + v.number);
}

let started = false;
/**
 * Follows the verdicts of this account's items from now on. `uncover()`: what 查看 does first so
 * that the verdict's page can be seen (the call screen: its small window, or closed once ended).
 */
export function startVerdictNotice(options = {}) {
  if (started) return;
  started = true;
  if (options.uncover) uncover = options.uncover;
  onVerdicts((v, { issued }) => {
    if (!issued) return;
    const at = currentView();
    if (at.tab === 'me' && at.view === 'verdict:' + v.number) {
      showToast(t('live.verdict.updated_toast', { version: v.version }));
      return;
    }
    shown = v;
    render();
  });
  onLocaleChange(() => render());
  onStore('signed_out', () => { shown = null; render(); });
}
