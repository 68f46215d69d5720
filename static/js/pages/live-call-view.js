/**
 * The call screen of an appraisal call (连线鉴定), the host's and the buyer's alike: the other
 * party's video large, this device's camera small (muted, mirrored), who it is, the status
 * (正在呼叫… / 连接中… / 通话中 with the time / 对方网络不稳定，正在重连… / 已结束 with the reason
 * in the user's language), 挂断 (取消 while the host rings), 缩小 to a small floating window
 * (the host keeps the console and the queue in reach, the buyer the room) and back, and 关闭
 * once ended. It sits over every tab (`#live-call-view`, fixed) for as long as the session of
 * live-call-session.js exists. The host also has 出具鉴定结果 there, once the buyer answered (in
 * the call and after it ended), then the verdict's number and 更正 (verdict-form.js); the
 * buyer hears of the verdict from verdict-notice.js, started with this screen because a verdict
 * follows its call over every tab the same way.
 *
 *   startCallView();        // once: follows the session from then on
 *   uncoverCallView();      // makes way for a page under it (small window, or closed once ended)
 *   captureRemoteFrame();   // a PNG Blob of the other party's video now, for a snapshot
 *
 * @module pages/live-call-view
 */
import { t, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { ensureLiveCss, nickOf } from '/static/js/pages/live-common.js';
import { onCall, currentCall, peerOf, hangUp, dismissCall } from '/static/js/pages/live-call-session.js';
import { onVerdicts, verdictOfCall, myVerdicts } from '/static/js/pages/verdict-data.js';
import { openVerdictForm, captureFrame } from '/static/js/pages/verdict-form.js';
import { startVerdictNotice } from '/static/js/pages/verdict-notice.js';

let ui = null;
let timer = null;
let mini = false;
let shownCallId = null;

/** The words for why a call ended, from this party's side. */
export function endReasonText(c) {
  const reason = c && c.endReason;
  const mine = store.me && c.endedBy != null && c.endedBy === store.me.id;
  const guest = c && c.role === 'answerer';
  switch (reason) {
    case 'hangup':
      if (c.endedRinging) return t(mine ? 'live.call.end.cancelled_self' : 'live.call.end.cancelled');
      return t(mine ? 'live.call.end.hangup_self' : 'live.call.end.hangup');
    case 'kicked': return t(guest ? 'live.call.end.kicked_self' : 'live.call.end.kicked');
    case 'banned': return t(guest ? 'live.call.end.banned_self' : 'live.call.end.banned');
    case 'declined': case 'no_answer': case 'dropped': case 'time_limit': case 'consent_withdrawn':
    case 'room_ended': case 'hidden':
      return t('live.call.end.' + reason);
    default: return t('live.call.end.unknown');
  }
}

/** The status line of a session. */
export function statusText(c) {
  if (!c) return '';
  if (c.phase === 'ended') return t('live.call.status.ended');
  if (c.peerAway) return t('live.call.status.peer_away');
  if (c.link === 'offline') return t('live.call.status.offline');
  if (c.phase === 'calling') return t('live.call.status.calling', { name: nickOf(peerOf(c)) });
  if (c.phase === 'connecting') return t('live.call.status.connecting');
  if (c.link === 'unstable') return t('live.call.status.unstable');
  return t('live.call.status.connected');
}

const two = (n) => String(n).padStart(2, '0');
function elapsed(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  return (h ? h + ':' + two(Math.floor(s / 60) % 60) : two(Math.floor(s / 60))) + ':' + two(s % 60);
}

function build() {
  ensureLiveCss();
  const remote = el('video', { id: 'live-call-remote', class: 'live-call-remote', autoplay: true, playsinline: true });
  const local = el('video', { id: 'live-call-local', class: 'live-call-local', autoplay: true, playsinline: true, muted: true });
  local.muted = true;
  const who = el('div', { class: 'live-call-who', id: 'live-call-who' });
  const peer = el('strong', { id: 'live-call-peer', class: 'live-call-peer' });
  const status = el('p', { id: 'live-call-status', class: 'live-call-status', role: 'status', 'aria-live': 'polite' });
  const clock = el('span', { id: 'live-call-timer', class: 'live-call-timer', hidden: true });
  const reason = el('p', { id: 'live-call-reason', class: 'live-call-reason', hidden: true });
  const minimize = el('button', { type: 'button', id: 'live-call-minimize', class: 'live-call-btn live-call-minimize' });
  const hang = el('button', { type: 'button', id: 'live-call-hangup', class: 'live-call-btn live-call-hangup' });
  const close = el('button', { type: 'button', id: 'live-call-close', class: 'live-call-btn live-call-close', hidden: true });
  const expand = el('button', { type: 'button', id: 'live-call-expand', class: 'live-call-expand' });
  const verdictLine = el('p', { id: 'live-call-verdict-line', class: 'live-call-verdict-line', role: 'status', hidden: true });
  const verdict = el('button', { type: 'button', id: 'live-call-verdict', class: 'live-call-verdict', hidden: true });
  const tools = el('div', { class: 'live-call-tools' }, verdictLine, verdict);
  const top = el('header', { class: 'live-call-top' }, peer, el('span', { class: 'live-call-line' }, status, clock));
  const stage = el('div', { class: 'live-call-stage' }, remote, who, local);
  const controls = el('footer', { class: 'live-call-controls' }, minimize, hang, close);
  const root = el('section', { id: 'live-call-view', class: 'live-call', tabindex: '-1', hidden: true },
    stage, top, reason, tools, controls, expand);
  document.body.append(root);

  minimize.addEventListener('click', () => { mini = true; render(); });
  expand.addEventListener('click', () => { mini = false; render(); root.focus(); });
  hang.addEventListener('click', () => hangUp());
  close.addEventListener('click', () => dismissCall());
  verdict.addEventListener('click', () => openVerdict());
  return { root, remote, local, who, peer, status, clock, reason, minimize, hang, close, expand, tools, verdict, verdictLine };
}

/** The buyer answered: there is an item to appraise (during the call, and after it ended). */
const answered = (c) => !!c && (c.connectedAt != null || (c.view && c.view.answered_at != null));

/** A PNG Blob of the other party's video now; rejects `{code: 'no_frame'}` when none is playing. */
export function captureRemoteFrame() {
  const c = currentCall();
  if (!ui || !c || c.phase === 'ended' || ui.remote.hidden) return Promise.reject(Object.assign(new Error('no frame'), { code: 'no_frame' }));
  return captureFrame(ui.remote);
}

/**
 * Makes way for a page under the call screen: the small window while the call goes on, closed
 * once it has ended.
 */
export function uncoverCallView() {
  const c = currentCall();
  if (!ui || !c) return;
  if (c.phase === 'ended') {
    dismissCall();
    return;
  }
  mini = true;
  render();
}

// 出具鉴定结果 for this call, or 更正 once it has its verdict; snapshots only while the video plays.
function openVerdict() {
  const c = currentCall();
  if (!c || c.role !== 'offerer' || !answered(c)) return;
  const existing = verdictOfCall(c.id);
  const live = c.phase !== 'ended';
  openVerdictForm({
    callId: c.id,
    verdict: existing,
    buyer: peerOf(c),
    capture: live ? captureRemoteFrame : null,
  });
}

// The host's part: the button, and the number once issued. A console reloaded mid-call has not
// seen the verdict it issued: it reads the account's verdicts once per call.
let verdictsReadFor = null;
function renderVerdict(c) {
  const host = c.role === 'offerer' && answered(c);
  const v = host ? verdictOfCall(c.id) : null;
  if (host && !v && verdictsReadFor !== c.id) {
    verdictsReadFor = c.id;
    myVerdicts().catch(() => { /* offline: 出具 answers conflict if it exists */ });
  }
  ui.verdict.hidden = !host;
  ui.verdict.textContent = t(v ? 'live.verdict.correct_long' : 'live.verdict.issue_btn');
  ui.verdictLine.hidden = !v;
  ui.verdictLine.replaceChildren(...(v ? [
    el('span', { text: t('live.verdict.issued_line') }),
    el('strong', { id: 'live-call-verdict-number', class: 'verdict-number', text: v.number }),
    v.version > 1 ? el('span', { text: t('live.verdict.version', { version: v.version }) }) : '',
  ] : []));
  ui.tools.hidden = ui.verdict.hidden && ui.verdictLine.hidden;
}

function attach(video, stream) {
  if (video.srcObject !== stream) {
    video.srcObject = stream || null;
    // Autoplay may wait for a tap on some phones; the user tapped 呼叫 or 接听 just before.
    if (stream) video.play().catch(() => {});
  }
}

function render() {
  const c = currentCall();
  if (!c) {
    if (ui) {
      ui.root.hidden = true;
      attach(ui.remote, null);
      attach(ui.local, null);
    }
    document.body.classList.remove('live-call-open');
    clearInterval(timer);
    timer = null;
    shownCallId = null;
    mini = false;
    return;
  }
  if (!ui) ui = build();
  const fresh = shownCallId !== c.id;
  if (fresh) {
    shownCallId = c.id;
    mini = false;
  }
  const ended = c.phase === 'ended';
  const p = peerOf(c);
  ui.root.hidden = false;
  ui.root.classList.toggle('is-mini', mini);
  ui.root.classList.toggle('is-ended', ended);
  ui.root.setAttribute('aria-label', t('live.call.title'));
  document.body.classList.toggle('live-call-open', !mini);
  ui.peer.textContent = nickOf(p) || t('live.call.title');
  ui.status.textContent = statusText(c);
  ui.reason.hidden = !ended;
  ui.reason.textContent = ended ? endReasonText(c) : '';
  const liveRemote = !ended && c.remote && c.remote.getVideoTracks().some((x) => x.readyState === 'live');
  attach(ui.remote, ended ? null : c.remote);
  attach(ui.local, ended ? null : c.local);
  ui.remote.hidden = !liveRemote;
  ui.local.hidden = ended || !c.local || !c.local.getVideoTracks().some((x) => x.readyState === 'live');
  ui.who.hidden = !!liveRemote && c.phase === 'connected';
  ui.who.replaceChildren(avatarView(p || {}, { size: 72 }),
    el('span', { class: 'live-call-who-name', text: nickOf(p) }));
  ui.minimize.hidden = ended;
  ui.minimize.textContent = t('live.call.minimize');
  ui.hang.hidden = ended;
  ui.hang.textContent = c.phase === 'calling' ? t('live.call.cancel') : t('live.call.hangup');
  ui.close.hidden = !ended;
  ui.close.textContent = t('action.close');
  ui.expand.hidden = !mini;
  ui.expand.setAttribute('aria-label', t('live.call.expand'));
  renderVerdict(c);
  tick(c);
  if (c.phase === 'connected' && !timer) timer = setInterval(() => tick(currentCall()), 1000);
  if (c.phase !== 'connected' && timer) { clearInterval(timer); timer = null; }
  // After the ringing sheet or a dialog that led here has closed and given its focus back.
  if (fresh) setTimeout(() => { if (ui && !ui.root.hidden) ui.root.focus(); }, 0);
}

function tick(c) {
  if (!ui) return;
  const on = !!c && c.phase === 'connected' && c.connectedAt;
  ui.clock.hidden = !on;
  if (on) ui.clock.textContent = elapsed(Date.now() - c.connectedAt);
}

let started = false;
/** Follows the session: the screen shows while a call exists on this device. */
export function startCallView() {
  if (started) return;
  started = true;
  onCall(() => render());
  onLocaleChange(() => { if (currentCall()) render(); });
  onVerdicts((v) => { const c = currentCall(); if (c && v.call_id === c.id) render(); });
  startVerdictNotice({ uncover: uncoverCallView });
  render();
}
