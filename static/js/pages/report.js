/**
 * The report dialog (`#report-dialog`: the kind of wrong — 假货 诈骗 骚扰 站外交易 其他, none
 * chosen in advance — and what happened) and the appeal dialog (`#appeal-dialog`: why a
 * moderator's decision about one's own content is wrong; once per decision).
 *
 *   reportMessage(message); reportUser(user); openAppeal(itemId, { onDone });
 *
 * @module pages/report
 */
import { getClient } from '/static/js/client.js';
import { t, errorText } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';

const client = getClient();
const REASON_MAX = 500;
export const CATEGORIES = ['fake_goods', 'fraud', 'harassment', 'off_platform', 'other'];

function reasonBox(id, placeholderKey) {
  const box = el('textarea', { id, rows: 4, maxlength: REASON_MAX, required: true, 'aria-describedby': id.replace('reason', 'count'),
    placeholder: t(placeholderKey) });
  const count = el('span', { id: id.replace('reason', 'count'), 'aria-live': 'polite', text: `0/${REASON_MAX}` });
  box.addEventListener('input', () => {
    const n = [...box.value].length;
    count.textContent = `${n}/${REASON_MAX}`;
    count.classList.toggle('error', n > REASON_MAX);
    if (box.value.trim()) box.removeAttribute('aria-invalid');
  });
  return { box, count };
}

/** Opens the report dialog for `data` (report.create without category and reason). */
export function openReport({ title, subject = '', data }) {
  const chips = el('fieldset', { id: 'report-categories', class: 'chips' },
    el('legend', { text: t('report.choose_reason') }),
    ...CATEGORIES.map((c) => el('label', { class: 'chip' },
      el('input', { type: 'radio', name: 'report-category', value: c }), el('span', { text: t('reason.' + c) }))));
  const { box, count } = reasonBox('report-reason', 'report.detail_placeholder');
  let sending = false;
  const category = () => {
    const c = chips.querySelector('input:checked');
    return c ? c.value : null;
  };
  const d = openDialog({
    id: 'report-dialog',
    title,
    body: [
      subject ? el('p', { id: 'report-subject', class: 'small muted form-subject', text: subject }) : null,
      chips,
      el('label', { class: 'field', for: 'report-reason' }, el('span', { text: t('report.detail_label') })),
      box,
      el('p', { class: 'form-count small muted' }, count),
    ],
    actions: [
      { label: t('action.cancel'), id: 'report-cancel' },
      { label: t('action.submit'), primary: true, id: 'report-submit', disabled: true, onClick: submit },
    ],
  });
  const submitBtn = d.actions[1];
  chips.addEventListener('change', () => {
    if (!sending) submitBtn.disabled = !category();
    d.setError('');
  });
  async function submit() {
    const cat = category();
    const reason = box.value.trim();
    if (!cat) return d.setError(t('report.choose_reason'));
    if (!reason) {
      box.setAttribute('aria-invalid', 'true');
      box.focus();
      return d.setError(t('report.detail_required'));
    }
    if ([...reason].length > REASON_MAX) return d.setError(t('report.too_long', { max: REASON_MAX }));
    sending = true;
    d.setBusy(true);
    d.setError('');
    try {
      await client.request('report.create', Object.assign({}, data, { category: cat, reason }), { resend: true });
      d.close();
      showToast(t('report.done'));
    } catch (err) {
      d.setBusy(false);
      submitBtn.disabled = !category();
      d.setError(errorText(err));
    } finally {
      sending = false;
    }
  }
  return d;
}

/** 举报 a message (a text, or a photo). */
export function reportMessage(m) {
  const photo = m.kind === 'photo';
  const chars = [...(m.text || '')];
  const excerpt = chars.slice(0, 60).join('') + (chars.length > 60 ? '…' : '');
  return openReport({
    title: t(photo ? 'report.photo' : 'report.message'),
    subject: photo ? t('report.photo_subject') : t('report.quote', { text: excerpt }),
    data: { target: 'message', conversation_id: m.conversation_id, seq: m.seq },
  });
}

/** 举报 a user ({id, nickname}). */
export function reportUser(user) {
  return openReport({
    title: t('report.user'),
    subject: user.nickname || '',
    data: { target: 'user', user_id: user.id },
  });
}

/** 申诉 the decision `itemId`; `onDone(itemId)` after it was sent (or was already). */
export function openAppeal(itemId, { onDone = null } = {}) {
  const { box, count } = reasonBox('appeal-reason', 'appeal.detail_placeholder');
  const d = openDialog({
    id: 'appeal-dialog',
    title: t('appeal.title'),
    body: [
      el('p', { id: 'appeal-help', class: 'small muted form-subject', text: t('appeal.help') }),
      el('label', { class: 'field', for: 'appeal-reason' }, el('span', { text: t('appeal.reason_label') })),
      box,
      el('p', { class: 'form-count small muted' }, count),
    ],
    actions: [
      { label: t('action.cancel'), id: 'appeal-cancel' },
      { label: t('action.submit'), primary: true, id: 'appeal-submit', onClick: submit },
    ],
  });
  async function submit() {
    const reason = box.value.trim();
    if (!reason) {
      box.setAttribute('aria-invalid', 'true');
      box.focus();
      return d.setError(t('appeal.detail_placeholder'));
    }
    if ([...reason].length > REASON_MAX) return d.setError(t('report.too_long', { max: REASON_MAX }));
    d.setBusy(true);
    d.setError('');
    try {
      await client.request('appeal.create', { item_id: itemId, reason });
      d.close();
      if (onDone) onDone(itemId);
      showToast(t('appeal.done'));
    } catch (err) {
      if (err.code === 'conflict' && onDone) onDone(itemId);
      d.setBusy(false);
      d.setError(err.code === 'conflict' ? t('appeal.once') : errorText(err));
    }
  }
  return d;
}
