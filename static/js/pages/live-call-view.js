/**
 * The call screen of an appraisal call (连线鉴定), the host's and the buyer's alike: the other
 * party's video large, this device's camera small (muted, mirrored), who it is, the status
 * (正在呼叫… / 连接中… / 通话中 with the time / 对方网络不稳定，正在重连… / 已结束 with the reason
 * in the user's language), 挂断 (取消 while the host rings), 缩小 to a small floating window
 * (the host keeps the console and the queue in reach, the buyer the room) and back, and 关闭
 * once ended. It sits over every tab (`#live-call-view`, fixed) for as long as the session of
 * live-call-session.js exists.
 *
 *   startCallView();   // once: follows the session from then on
 *
 * @module pages/live-call-view
 */
import { t, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { ensureLiveCss, nickOf } from '/static/js/pages/live-common.js';
import { onCall, currentCall, peerOf, hangUp, dismissCall } from '/static/js/pages/live-call-session.js';

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
  const top = el('header', { class: 'live-call-top' }, peer, el('span', { class: 'live-call-line' }, status, clock));
  const stage = el('div', { class: 'live-call-stage' }, remote, who, local);
  const controls = el('footer', { class: 'live-call-controls' }, minimize, hang, close);
  const root = el('section', { id: 'live-call-view', class: 'live-call', tabindex: '-1', hidden: true },
    stage, top, reason, controls, expand);
  document.body.append(root);

  minimize.addEventListener('click', () => { mini = true; render(); });
  expand.addEventListener('click', () => { mini = false; render(); root.focus(); });
  hang.addEventListener('click', () => hangUp());
  close.addEventListener('click', () => dismissCall());
  return { root, remote, local, who, peer, status, clock, reason, minimize, hang, close, expand };
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
  render();
}
