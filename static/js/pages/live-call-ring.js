/**
 * The buyer's ringing sheet (`#live-call-ring`): 鉴定师正在呼叫你, who calls and about which
 * item, the seconds left to answer, 拒绝 and 接听. 接听 makes sure of the camera and microphone
 * first (the consent asked in the page when missing, then the device), then answers. The sheet
 * goes when the call was answered on another device or ended (the host cancelled, time ran
 * out), saying so in a toast. Shown over every tab, for every device of the buyer.
 *
 *   startRinging();   // once: follows live-call-session.js's ringing calls
 *
 * @module pages/live-call-ring
 */
import { t, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { ensureLiveCss, nickOf } from '/static/js/pages/live-common.js';
import { onCall, ringingCalls, ringEndOf, answerCall, declineCall, currentCall } from '/static/js/pages/live-call-session.js';
import { ensureCallConsent, openCamera, cameraErrorText } from '/static/js/pages/live-call-access.js';

let sheet = null; // {id, dialog, countdown, timer, parts}

function secondsLeft(ring) {
  return Math.max(0, Math.ceil((ring.deadline - Date.now()) / 1000));
}

function open(ring) {
  ensureLiveCss();
  const c = ring.call;
  const host = c.host || {};
  const countdown = el('p', { id: 'live-call-ring-countdown', class: 'live-ring-countdown', 'aria-live': 'off' });
  const title = el('p', { id: 'live-call-ring-title', class: 'live-ring-title' });
  const item = el('p', { class: 'live-ring-item small' });
  const body = el('div', { class: 'live-ring' },
    el('div', { class: 'live-ring-avatar' }, avatarView(host, { size: 88 })),
    el('strong', { class: 'live-ring-name', text: nickOf(host) }),
    title, item, countdown);
  let d = null;
  const s = { id: c.id, ring, countdown, title, item, timer: null, busy: false };
  const words = () => {
    title.textContent = t('live.call.ring_text');
    const desc = c.entry && c.entry.description;
    item.textContent = desc ? t('live.call.ring_item', { text: desc }) : '';
    item.hidden = !desc;
    countdown.textContent = t('live.call.ring_countdown', { n: secondsLeft(ring) });
  };
  d = openDialog({
    id: 'live-call-ring',
    className: 'live-ring-card',
    title: t('live.call.ring_title'),
    body,
    dismissible: false,
    actions: [
      { label: t('live.call.decline'), danger: true, id: 'live-call-decline', onClick: (h) => decline(h, s) },
      { label: t('live.call.answer'), primary: true, id: 'live-call-answer', onClick: (h) => answer(h, s) },
    ],
    onClose: () => {
      clearInterval(s.timer);
      if (sheet === s) sheet = null;
    },
  });
  s.dialog = d;
  s.words = words;
  words();
  s.timer = setInterval(() => { countdown.textContent = t('live.call.ring_countdown', { n: secondsLeft(ring) }); }, 1000);
  sheet = s;
}

async function answer(d, s) {
  if (s.busy) return;
  s.busy = true;
  d.setBusy(true);
  d.setError('');
  let stream = null;
  try {
    if (!(await ensureCallConsent())) {
      d.setError(t('live.call.consent_needed'));
      return;
    }
    stream = await openCamera();
    await answerCall(s.id, stream);
    d.close();
  } catch (err) {
    if (d.isOpen) d.setError(cameraErrorText(err));
  } finally {
    s.busy = false;
    if (d.isOpen) d.setBusy(false);
  }
}

async function decline(d, s) {
  if (s.busy) return;
  s.busy = true;
  s.declined = true; // said by this device: no toast about it
  d.setBusy(true);
  try {
    await declineCall(s.id);
    d.close();
  } catch (err) {
    // Ended or answered meanwhile: the sheet goes with the ring either way.
    d.close();
  } finally {
    s.busy = false;
  }
}

function follow() {
  const rings = ringingCalls();
  if (sheet && !rings.some((r) => r.call.id === sheet.id)) {
    const gone = sheet;
    sheet = null;
    if (gone.dialog.isOpen) gone.dialog.close();
    const mine = currentCall();
    if (!(mine && mine.id === gone.id) && !gone.declined) {
      const ended = ringEndOf(gone.id);
      showToast(ended ? ringEndText(ended) : t('live.call.answered_elsewhere'));
    }
  }
  if (!sheet && rings.length && !(currentCall() && currentCall().phase !== 'ended')) open(rings[0]);
}

function ringEndText(view) {
  if (view.end_reason === 'hangup') return t('live.call.ring_cancelled');
  if (view.end_reason === 'no_answer') return t('live.call.ring_missed');
  if (view.end_reason === 'declined') return t('live.call.ring_declined');
  return t('live.call.ring_over');
}

let started = false;
/** Follows the ringing calls from now on. */
export function startRinging() {
  if (started) return;
  started = true;
  onCall((what) => { if (what === 'ringing' || what === 'call') follow(); });
  onLocaleChange(() => { if (sheet && sheet.words) sheet.words(); });
  follow();
}
