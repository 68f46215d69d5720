/**
 * Share codes (口令): 分享 on a post, a room or a profile makes a code (`share.create`) and
 * shows the share text written here from the locale's pattern (【多些】{title} ￥CODE￥ …) with
 * 复制 (writing the clipboard needs no consent) and 撤销口令; the 口令 view (`share`) opens a
 * code typed or pasted into its field (no consent needed), or 粘贴口令 reads the clipboard — only
 * with the `clipboard` consent (feature `share_code`), asked in the page first when missing —
 * and lists the caller's live codes (`share.mine`) with 撤销 each. A code opens the post, the
 * room (the 直播 tab's room view) or the profile it stands for.
 *
 *   openShare({ target: 'post', id: 12, title: '…' });
 *   const view = mountShareView(root, { onBack, onResolved: (reply) => … });  view.open(); view.close();
 *
 * @module pages/community-share
 */
import { t, errorText, onLocaleChange, formatDateTime } from '/static/js/i18n.js';
import { el, busy } from '/static/js/ui/dom.js';
import { openDialog, confirmDialog } from '/static/js/ui/dialog.js';
import { askConsent } from '/static/js/ui/ask-consent.js';
import { showToast } from '/static/js/ui/toast.js';
import { icon } from '/static/js/ui/icons.js';
import { mergeConsentRecord } from '/static/js/pages/me-common.js';
import {
  createShare, resolveShare, revokeShare, myShares, findCode, checkFeature,
} from '/static/js/pages/community-data.js';

const TITLE_CHARS = 24;

const clipTitle = (s) => {
  const chars = [...String(s || '').replace(/\s+/g, ' ').trim()];
  return chars.length > TITLE_CHARS ? chars.slice(0, TITLE_CHARS).join('') + '…' : chars.join('');
};

/** The share text of a code, from the locale's pattern. */
export function shareText(title, code) {
  return t('community.share_text', { title: clipTitle(title) || t('community.share_title_default'), code });
}

async function copyText(text, box) {
  try {
    if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
    await navigator.clipboard.writeText(text);
    showToast(t('status.copied'));
    return true;
  } catch (_) {
    // Writing was refused (an old browser, no focus): the text is selected for a long press.
    if (box) { box.focus(); box.select(); }
    showToast(t('status.copy_by_hand'));
    return false;
  }
}

/** 分享: makes a code for `target` `id` and shows its share text with 复制 and 撤销口令. */
export function openShare({ target, id, title }) {
  const status = el('p', { class: 'small muted', id: 'cm-share-status', role: 'status', text: t('status.loading') });
  const box = el('textarea', { id: 'cm-share-text', class: 'cm-share-text', rows: 3, readonly: true, hidden: true, 'aria-label': t('community.share_text_label') });
  const expires = el('p', { class: 'small muted', id: 'cm-share-expires', hidden: true });
  let share = null;
  const d = openDialog({
    id: 'cm-share-dialog',
    title: t('community.share_title'),
    body: [el('p', { class: 'small muted', text: t('community.share_help') }), status, box, expires],
    actions: [
      { label: t('community.share_revoke'), id: 'cm-share-revoke', disabled: true, onClick: revoke },
      { label: t('action.copy'), primary: true, id: 'cm-share-copy', disabled: true, onClick: () => copyText(box.value, box) },
    ],
  });
  const [revokeBtn, copyBtn] = d.actions;
  async function revoke(h) {
    if (!share) return;
    h.setBusy(true);
    h.setError('');
    try {
      await revokeShare(share.code);
      showToast(t('community.share_revoked'));
      h.close();
    } catch (err) {
      h.setBusy(false);
      h.setError(errorText(err));
    }
  }
  createShare(target, id).then((res) => {
    if (!d.isOpen) return;
    share = res;
    box.value = shareText(title, res.code);
    box.dataset.code = res.code;
    box.hidden = false;
    status.hidden = true;
    if (res.expires_at) {
      expires.textContent = t('community.share_expires', { time: formatDateTime(res.expires_at) });
      expires.hidden = false;
    }
    copyBtn.disabled = false;
    revokeBtn.disabled = false;
  }, (err) => {
    if (!d.isOpen) return;
    status.hidden = true;
    d.setError(errorText(err));
  });
  return d;
}

// ---------------------------------------------------------------- the 口令 view

const targetName = (target) => t('community.share_target_' + (target || 'post'));

export function mountShareView(root, { onBack, onResolved }) {
  const back = el('button', { type: 'button', id: 'cm-share-back', class: 'icon-btn' }, icon('back'));
  const title = el('h1', { class: 'page-title', id: 'cm-share-heading' });
  const label = el('label', { for: 'cm-code-input', class: 'cm-label' });
  const input = el('textarea', { id: 'cm-code-input', rows: 2, autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'go' });
  const openBtn = el('button', { type: 'button', id: 'cm-code-open', class: 'primary' });
  const pasteBtn = el('button', { type: 'button', id: 'cm-code-paste', class: 'secondary' });
  const hint = el('p', { class: 'small muted', id: 'cm-code-hint' });
  const error = el('p', { id: 'cm-code-error', class: 'form-error', role: 'alert', hidden: true });
  const mineTitle = el('h2', { class: 'section-title cm-section', id: 'cm-codes-title' });
  const mineList = el('ul', { id: 'cm-codes', class: 'cm-codes' });
  const mineNote = el('p', { class: 'small muted cm-codes-note', id: 'cm-codes-note' });
  const mineMore = el('button', { type: 'button', id: 'cm-codes-more', class: 'secondary block', hidden: true });
  root.replaceChildren(
    el('header', { class: 'page-head' }, back, title),
    el('section', { class: 'cm-card cm-code-form' }, label, input, hint, error, el('div', { class: 'cm-row' }, pasteBtn, openBtn)),
    mineTitle, mineNote, mineList, mineMore);
  const state = { codes: [], next: null, loaded: false, error: null };

  const setError = (err) => {
    error.textContent = err ? (typeof err === 'string' ? err : errorText(err)) : '';
    error.hidden = !err;
  };

  function render() {
    back.setAttribute('aria-label', t('action.back'));
    title.textContent = t('community.code_title');
    label.textContent = t('community.code_label');
    input.placeholder = t('community.code_placeholder');
    openBtn.textContent = t('community.code_open');
    pasteBtn.textContent = t('community.code_paste');
    hint.textContent = t('community.code_hint');
    mineTitle.textContent = t('community.codes_mine');
    mineMore.textContent = t('community.more');
    mineMore.hidden = state.next == null;
    mineNote.hidden = false;
    mineNote.textContent = state.error ? errorText(state.error) : !state.loaded ? t('status.loading') : state.codes.length ? t('community.codes_note') : t('community.codes_empty');
    mineNote.classList.toggle('form-error', !!state.error);
    mineList.replaceChildren(...state.codes.map(codeRow));
  }

  function codeRow(c) {
    return el('li', { class: 'cm-code-item', dataset: { code: c.code, target: c.target, targetId: String(c.target_id) } },
      el('div', { class: 'cm-code-main' },
        el('span', { class: 'cm-code', text: c.code }),
        el('span', { class: 'small muted', text: targetName(c.target) + t('list.separator') + t('community.share_expires', { time: formatDateTime(c.expires_at) }) })),
      el('button', {
        type: 'button', class: 'secondary small-btn cm-code-revoke', text: t('community.code_revoke'),
        'aria-label': t('community.code_revoke_named', { code: c.code }),
        onclick: async () => {
          const ok = await confirmDialog({ id: 'cm-revoke-dialog', title: t('community.code_revoke'), text: t('community.code_revoke_text'), confirm: t('community.code_revoke'), danger: true });
          if (!ok) return;
          try {
            await revokeShare(c.code);
            state.codes = state.codes.filter((x) => x.code !== c.code);
            render();
            showToast(t('community.share_revoked'));
          } catch (err) {
            state.error = err;
            render();
          }
        },
      }));
  }

  async function loadMine(append = false) {
    try {
      const res = await myShares(append ? state.next : null);
      state.codes = append ? state.codes.concat(res.codes || []) : (res.codes || []);
      state.next = res.next ?? null;
      state.error = null;
    } catch (err) {
      state.error = err;
    }
    state.loaded = true;
    render();
  }

  async function resolve(text) {
    const raw = String(text || '').trim();
    setError(null);
    if (!raw) {
      input.setAttribute('aria-invalid', 'true');
      setError(t('community.code_required'));
      return;
    }
    input.removeAttribute('aria-invalid');
    try {
      const reply = await resolveShare(findCode(raw) || raw);
      onResolved(reply);
    } catch (err) {
      // invalid_field names `code`, whose generic label is the login's 验证码: say what is meant.
      setError(err && err.code === 'invalid_field' ? t('community.code_none') : err);
      if (err && (err.code === 'share_code_invalid' || err.code === 'invalid_field')) input.setAttribute('aria-invalid', 'true');
    }
  }

  async function paste() {
    setError(null);
    // The clipboard is read only with the user's consent (feature share_code), asked here first.
    let check;
    try {
      check = await checkFeature('share_code');
    } catch (err) {
      setError(err);
      return;
    }
    if (check.allowed === false) {
      const ok = await askConsent({
        id: 'cm-clipboard-dialog', permissions: ['clipboard'], onGranted: mergeConsentRecord,
        title: t('community.clipboard_title'), text: t('community.clipboard_text'), purpose: t('community.clipboard_purpose'),
      });
      if (!ok) {
        setError(errorText('consent_required', { missingPermissions: ['clipboard'] }));
        return;
      }
    }
    let text = '';
    try {
      if (!navigator.clipboard || !navigator.clipboard.readText) throw new Error('no clipboard');
      text = await navigator.clipboard.readText();
    } catch (_) {
      setError(t('community.paste_failed'));
      input.focus();
      return;
    }
    if (!String(text).trim()) {
      setError(t('community.paste_empty'));
      return;
    }
    input.value = text;
    await resolve(text);
  }

  back.addEventListener('click', onBack);
  openBtn.addEventListener('click', (e) => busy(e.currentTarget, () => resolve(input.value)));
  pasteBtn.addEventListener('click', (e) => busy(e.currentTarget, paste));
  mineMore.addEventListener('click', () => loadMine(true));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); busy(openBtn, () => resolve(input.value)); }
  });
  input.addEventListener('input', () => { input.removeAttribute('aria-invalid'); setError(null); });
  const offs = [onLocaleChange(render)];
  render();

  return {
    open() {
      setError(null);
      state.loaded = false;
      render();
      loadMine(false);
    },
    close() {},
    destroy() { for (const off of offs) off(); },
  };
}
