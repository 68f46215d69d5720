/**
 * The host's 连线队列 panel in the console (`#live-queue-panel`): who waits to show an item on
 * camera, in order (place, avatar, nickname, what the item is, its photos), read again on each
 * change of the queue; 呼叫下一位; on each entry 呼叫 (out of turn: with a reason, told to the
 * buyer), 移到第一位 (with a reason) and 跳过 (with a reason). Calling makes sure of the host's own
 * camera and microphone first (the consent asked in the page, then the device); the call then
 * runs in live-call-view.js's screen. Helpers see the queue too (the server gives them the
 * entries) but only the host calls. Under the queue, the host's 本场连线 (live-call-records.js):
 * the calls held, each with 出具鉴定结果 or its verdict's number and 更正.
 *
 *   const panel = mountQueuePanel(card, { isHost: () => bool, roomStatus: () => 'live' });
 *   panel.open(7); panel.close();
 *
 * @module pages/live-call-host
 */
import { t, errorText, onLocaleChange, formatTime } from '/static/js/i18n.js';
import { el, busy } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { nickOf, coverUrl } from '/static/js/pages/live-common.js';
import {
  queueState, onQueue, hostEntries, skipEntry, moveEntry, loadQueue, REASON_MAX_CHARS,
} from '/static/js/pages/live-call-queue.js';
import { onCall, inCall, placeCall } from '/static/js/pages/live-call-session.js';
import { ensureCallConsent, openCamera, cameraErrorText } from '/static/js/pages/live-call-access.js';
import { mountCallRecords } from '/static/js/pages/live-call-records.js';

/**
 * Asks for the reason of a host's decision (跳过, 移到第一位, 呼叫 out of turn). Resolves the
 * text, or null when cancelled.
 */
export function askReason({ title, text, confirm, placeholder = '' }) {
  return new Promise((resolve) => {
    let answer = null;
    const input = el('textarea', { id: 'live-queue-reason', rows: '3', maxlength: String(REASON_MAX_CHARS * 2), autocomplete: 'off' });
    input.placeholder = placeholder;
    const count = el('span', { class: 'small muted form-count' });
    const counter = () => { count.textContent = t('live.chars', { n: [...input.value.trim()].length, max: REASON_MAX_CHARS }); };
    input.addEventListener('input', counter);
    counter();
    openDialog({
      id: 'live-queue-reason-dialog',
      title,
      body: [
        text ? el('p', { text }) : null,
        el('label', { class: 'field', for: 'live-queue-reason' }, el('span', { text: t('live.queue.reason_label') }), input),
        count,
      ],
      actions: [
        { label: t('action.cancel') },
        {
          label: confirm,
          primary: true,
          id: 'live-queue-reason-ok',
          onClick: (d) => {
            const value = input.value.trim();
            if (!value) { input.setAttribute('aria-invalid', 'true'); input.focus(); return d.setError(t('live.queue.reason_required')); }
            if ([...value].length > REASON_MAX_CHARS) return d.setError(t('live.queue.reason_too_long', { max: REASON_MAX_CHARS }));
            answer = value;
            d.close();
          },
        },
      ],
      onClose: () => resolve(answer),
    });
  });
}

export function mountQueuePanel(card, { isHost, roomStatus }) {
  const head = el('h2', { class: 'live-box-title' });
  const count = el('span', { id: 'live-queue-count', class: 'small muted' });
  const next = el('button', { type: 'button', id: 'live-call-next', class: 'primary block' });
  const note = el('p', { id: 'live-queue-note', class: 'small muted' });
  const error = el('p', { id: 'live-queue-error', class: 'form-error small', role: 'alert', hidden: true });
  const list = el('ol', { id: 'live-queue-list', class: 'live-queue-list' });
  const empty = el('p', { id: 'live-queue-empty', class: 'small muted', hidden: true });
  const recordsBox = el('section', {});
  card.id = 'live-queue-panel';
  card.classList.add('live-queue-panel');
  card.replaceChildren(el('div', { class: 'live-box-head' }, head, count), next, note, error, empty, list, recordsBox);
  const records = mountCallRecords(recordsBox, { isHost });

  let roomId = null;
  const showErr = (err) => {
    error.textContent = typeof err === 'string' ? err : err && err.code === 'not_found' ? t('live.queue.nobody') : cameraErrorText(err);
    error.hidden = false;
  };

  function entryRow(e, place, canAct) {
    const photos = (e.photos || []).slice(0, 6);
    const thumbs = photos.length ? el('ul', { class: 'live-queue-photos' }, ...photos.map((id) => {
      const li = el('li', { class: 'live-queue-photo' });
      coverUrl(id).then((url) => { if (url) li.replaceChildren(el('img', { src: url, alt: '', decoding: 'async' })); });
      return li;
    })) : null;
    const called = e.status === 'called';
    const first = place === 1;
    const name = nickOf(e.user);
    const act = (cls, label, fn) => el('button', {
      type: 'button', class: 'secondary small-btn ' + cls, text: label, disabled: !canAct,
      'aria-label': t('live.queue.act_named', { action: label, name }), onclick: (ev) => busy(ev.currentTarget, fn),
    });
    return el('li', { class: 'live-queue-item' + (called ? ' is-called' : ''), dataset: { entryId: String(e.id), status: e.status } },
      el('span', { class: 'live-queue-place', text: called ? t('live.queue.calling') : String(place) }),
      avatarView(e.user || {}, { size: 36 }),
      el('div', { class: 'live-queue-main' },
        el('span', { class: 'live-queue-name', text: name }),
        el('p', { class: 'live-queue-desc', text: e.description || '' }),
        e.joined_at ? el('span', { class: 'small muted', text: t('live.queue.joined_at', { time: formatTime(e.joined_at) }) }) : null,
        thumbs,
        called || !isHost() ? null : el('div', { class: 'live-queue-actions' },
          act('live-queue-call', t('live.queue.call'), () => callEntry(e, first)),
          first ? null : act('live-queue-top', t('live.queue.to_top'), () => toTop(e)),
          act('live-queue-skip', t('live.queue.skip'), () => skip(e)))));
  }

  function render() {
    if (roomId == null) return;
    const s = queueState(roomId);
    const host = isHost();
    const status = roomStatus();
    const busyCall = inCall();
    head.textContent = t('live.queue.title');
    next.textContent = t('live.queue.call_next');
    empty.textContent = t('live.queue.empty');
    const entries = hostEntries(roomId);
    const waiting = entries.filter((e) => e.status === 'waiting');
    count.textContent = s && s.loaded ? t('live.queue.count', { n: s.length }) : '';
    next.hidden = !host || status === 'ended';
    next.disabled = status !== 'live' || busyCall || !waiting.length;
    note.hidden = false;
    note.textContent = !s || !s.loaded ? (s && s.error ? errorText(s.error) : t('status.loading'))
      : status === 'ended' ? t('live.queue.closed')
        : status !== 'live' ? t('live.queue.not_live')
          : busyCall ? t('live.queue.busy') : t('live.queue.hint');
    empty.hidden = !(s && s.loaded) || entries.length > 0;
    const canAct = host && status === 'live' && !busyCall;
    let place = 0;
    list.replaceChildren(...entries.map((e) => entryRow(e, e.status === 'waiting' ? ++place : 0, canAct)));
    records.render();
  }

  // 呼叫: the host's camera and microphone first, then room.call (out of turn with a reason).
  async function call(entry = null, reason = null) {
    error.hidden = true;
    try {
      if (!(await ensureCallConsent())) return showErr(t('live.call.consent_needed'));
      const stream = await openCamera();
      await placeCall(roomId, entry ? { entryId: entry.id, reason } : {}, stream);
    } catch (err) {
      showErr(err);
      if (err && (err.code === 'not_found' || err.code === 'call_busy')) loadQueue(roomId).catch(() => {});
    }
  }

  async function callEntry(e, first) {
    if (first) return call();
    const reason = await askReason({ title: t('live.queue.call_title', { name: nickOf(e.user) }), text: t('live.queue.call_text'),
      confirm: t('live.queue.call'), placeholder: t('live.queue.call_placeholder') });
    if (reason) await call(e, reason);
  }

  async function toTop(e) {
    const reason = await askReason({ title: t('live.queue.to_top_title', { name: nickOf(e.user) }), text: t('live.queue.to_top_text'),
      confirm: t('live.queue.to_top'), placeholder: t('live.queue.to_top_placeholder') });
    if (!reason) return;
    error.hidden = true;
    try {
      await moveEntry(roomId, e.id, 1, reason);
      showToast(t('live.queue.done.moved', { name: nickOf(e.user) }));
    } catch (err) { showErr(err); }
  }

  async function skip(e) {
    const reason = await askReason({ title: t('live.queue.skip_title', { name: nickOf(e.user) }), text: t('live.queue.skip_text'),
      confirm: t('live.queue.skip'), placeholder: t('live.queue.skip_placeholder') });
    if (!reason) return;
    error.hidden = true;
    try {
      await skipEntry(roomId, e.id, reason);
      showToast(t('live.queue.done.skipped', { name: nickOf(e.user) }));
    } catch (err) { showErr(err); }
  }

  next.addEventListener('click', async () => { await busy(next, () => call()); render(); });
  onQueue((id) => { if (id === roomId) render(); });
  onCall((what) => { if (what === 'call') render(); });
  onLocaleChange(() => render());

  return {
    open(id) {
      if (roomId !== id) {
        roomId = id;
        error.hidden = true;
      }
      records.open(id);
      render();
    },
    render,
    close() {
      roomId = null;
      records.close();
    },
  };
}
