/**
 * 《用户协议》《隐私政策》 in full, in the page (`#legal-dialog`), from the login page, the policy
 * banner or 我的 → settings. Texts of a named version never change and are fetched once.
 *
 *   openLegal('privacy_policy');
 *   openLegal('user_agreement', { version: '2', accept: async () => true });
 *
 * @module pages/legal
 */
import { getClient } from '/static/js/client.js';
import { t, errorText } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';

const client = getClient();
const texts = new Map(); // "<doc>@<version>" → {document, version, title, text}

/** GET /api/legal/{doc}[?version=]: the version in force without one. */
export async function fetchLegal(doc, version) {
  const key = doc + '@' + (version || '');
  if (version && texts.has(key)) return texts.get(key);
  const res = await client.api('GET', '/api/legal/' + encodeURIComponent(doc) +
    (version ? '?version=' + encodeURIComponent(version) : ''), undefined, { auth: false });
  texts.set(res.document + '@' + res.version, res);
  return res;
}

/**
 * Opens the document (`'user_agreement'` or `'privacy_policy'`) of `version` (default: the
 * one in force). With `accept` (an async function resolving true when accepted), the dialog
 * also offers 同意.
 */
export function openLegal(doc, { version = null, accept = null } = {}) {
  const which = doc === 'user_agreement' ? 'user_agreement' : 'privacy_policy';
  const versionLine = el('p', { class: 'small muted legal-version' });
  const body = el('div', { id: 'legal-body', class: 'legal-body', tabindex: '0', text: t('status.loading') });
  const actions = [];
  if (accept) {
    actions.push({
      label: t('action.agree'),
      primary: true,
      id: 'legal-accept',
      onClick: async (d) => {
        d.setBusy(true);
        d.setError('');
        try {
          if (await accept()) d.close();
        } catch (err) {
          d.setError(errorText(err));
        } finally {
          d.setBusy(false);
        }
      },
    });
  }
  actions.push({ label: t('action.close'), id: 'legal-close' });
  const d = openDialog({
    id: 'legal-dialog',
    className: 'legal-card',
    title: t('legal.' + which),
    body: [versionLine, body],
    actions,
  });
  const load = async () => {
    d.setError('');
    body.textContent = t('status.loading');
    try {
      const res = await fetchLegal(which, version);
      if (!d.isOpen) return;
      d.card.querySelector('h2').textContent = res.title || t('legal.' + which);
      versionLine.textContent = t('legal.version', { version: res.version });
      body.textContent = (res.text || '').replace(/^\s*\n/, '');
      body.scrollTop = 0;
    } catch (err) {
      if (!d.isOpen) return;
      body.replaceChildren(el('span', { class: 'error', text: errorText(err) }), ' ',
        el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: load }));
    }
  };
  load();
  return d;
}

/** The 《用户协议》/《隐私政策》 title buttons, for a sentence that names them. */
export function legalLink(doc) {
  return el('button', {
    type: 'button',
    class: 'link legal-link',
    dataset: { doc },
    'data-i18n': 'legal.' + doc,
    text: t('legal.' + doc),
    onclick: (e) => {
      e.preventDefault();
      openLegal(doc);
    },
  });
}
