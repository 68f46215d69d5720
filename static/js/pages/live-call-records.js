/**
 * The host's 本场连线 in the console's 连线队列 panel (`#live-call-records`): this room's calls the
 * buyer answered (`room.calls`), newest first, each with the buyer, when it was, and its
 * verdict (鉴定结果): 出具鉴定结果 until DUOXIE_LIVE_VERDICT_WINDOW_MS (24 h) after the call
 * ended, or, once issued, the number with 查看 (`#/me/verdict:<number>`) and 更正. A snapshot can
 * be taken only of the call in progress (its video, live-call-view.js). Read again when a call
 * of this device starts or ends and when the panel opens; a verdict is shown the moment it is
 * issued or corrected.
 *
 *   const records = mountCallRecords(box, { isHost: () => bool });
 *   records.open(7); records.close();
 *
 * @module pages/live-call-records
 */
import { t, formatTime, formatDateTime, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { getClient } from '/static/js/client.js';
import { store } from '/static/js/app/store.js';
import { navigate } from '/static/js/app/nav.js';
import { nickOf } from '/static/js/pages/live-common.js';
import { onCall, currentCall } from '/static/js/pages/live-call-session.js';
import { captureRemoteFrame } from '/static/js/pages/live-call-view.js';
import { onVerdicts, verdictOfCall, myVerdicts, VERDICT_WINDOW_MS } from '/static/js/pages/verdict-data.js';
import { openVerdictForm } from '/static/js/pages/verdict-form.js';
import { ensureVerdictCss, conclusionText } from '/static/js/pages/verdict-common.js';

/** How many of the account's call records are read: a room's session rarely has more. */
const CALLS_READ = 50;

export function mountCallRecords(box, { isHost }) {
  ensureVerdictCss();
  const head = el('h3', { class: 'live-records-title', id: 'live-call-records-title' });
  const list = el('ol', { class: 'live-records', id: 'live-call-records-list' });
  box.id = 'live-call-records';
  box.classList.add('live-call-records');
  box.setAttribute('aria-labelledby', 'live-call-records-title');
  box.hidden = true;
  box.replaceChildren(head, list);

  let roomId = null;
  let calls = []; // this room's answered calls, as the host, newest first
  let gen = 0;
  let lastStage = null; // the call of this device and how far it got
  let readFor = null; // the room the records were (being) read for: the host's powers may be known later

  async function load() {
    const my = ++gen;
    const room = roomId;
    if (room == null || !isHost()) return render();
    readFor = room;
    try {
      const [{ calls: all }] = await Promise.all([
        getClient().request('room.calls', { limit: CALLS_READ }),
        // The verdicts already issued, so that 出具 is not offered twice (a reload forgets).
        myVerdicts(),
      ]);
      if (my !== gen || room !== roomId) return undefined;
      const me = store.me ? store.me.id : null;
      calls = (all || []).filter((c) => c.room_id === room && c.answered_at != null && c.host && c.host.id === me);
    } catch (_) {
      // Offline: the list stays as it was and is read again at the next change.
    }
    return render();
  }

  // A snapshot only of the call in progress on this device.
  const captureFor = (call) => {
    const c = currentCall();
    return c && c.id === call.id && c.phase !== 'ended' ? captureRemoteFrame : null;
  };

  function row(call) {
    const v = verdictOfCall(call.id);
    const live = call.ended_at == null;
    const open = live || Date.now() < call.ended_at + VERDICT_WINDOW_MS;
    const name = nickOf(call.guest);
    const act = (cls, label, fn, id = null) => el('button', { type: 'button', class: 'secondary small-btn ' + cls, id, text: label,
      'aria-label': t('live.queue.act_named', { action: label, name }), onclick: fn });
    let verdictPart;
    if (v) {
      verdictPart = el('div', { class: 'live-record-verdict' },
        el('p', { class: 'small' },
          el('span', { text: t('live.verdict.issued_line') }),
          el('strong', { class: 'verdict-number live-record-number', text: v.number }),
          el('span', { class: 'verdict-conclusion-chip is-' + v.conclusion, text: conclusionText(v.conclusion) }),
          v.version > 1 ? el('span', { class: 'muted', text: t('live.verdict.version', { version: v.version }) }) : null),
        el('div', { class: 'live-queue-actions' },
          act('live-record-view', t('live.verdict.view'), () => navigate('me', 'verdict:' + v.number)),
          act('live-record-correct', t('live.verdict.correct_btn'), () => openVerdictForm({ verdict: v, buyer: call.guest, capture: captureFor(call) }))));
    } else if (open) {
      verdictPart = el('div', { class: 'live-queue-actions' },
        act('live-record-issue', t('live.verdict.issue_btn'), () => openVerdictForm({ callId: call.id, buyer: call.guest, capture: captureFor(call) })));
    } else {
      verdictPart = el('p', { class: 'small muted', text: t('live.verdict.window_passed') });
    }
    return el('li', { class: 'live-record', dataset: { callId: String(call.id) } },
      avatarView(call.guest || {}, { size: 36 }),
      el('div', { class: 'live-queue-main' },
        el('span', { class: 'live-queue-name', text: name }),
        el('span', { class: 'small muted', title: formatDateTime(call.answered_at),
          text: live ? t('live.verdict.record_live', { time: formatTime(call.answered_at) }) : t('live.verdict.record_at', { time: formatTime(call.answered_at) }) }),
        call.entry && call.entry.description ? el('p', { class: 'live-queue-desc small', text: call.entry.description }) : null,
        verdictPart));
  }

  function render() {
    if (roomId != null && readFor !== roomId && isHost()) {
      load();
      return;
    }
    const show = roomId != null && isHost() && calls.length > 0;
    box.hidden = !show;
    if (!show) return;
    head.textContent = t('live.verdict.records_title');
    list.replaceChildren(...calls.map(row));
  }

  // A call of this device was answered or ended: the records change. 挂断 ends the call here before
  // the server has: the record is read again once the server's ended call came back too.
  onCall((what) => {
    if (what !== 'call' && what !== 'link') return;
    const c = currentCall();
    const stage = c ? [c.id, c.phase === 'ended' ? 'ended' : c.phase === 'calling' ? 'calling' : 'on',
      c.view && c.view.ended_at != null ? 'recorded' : ''].join(':') : null;
    if (stage === lastStage) return;
    lastStage = stage;
    if (roomId != null && c && c.roomId === roomId && c.phase !== 'calling') load();
  });
  onVerdicts(() => render());
  onLocaleChange(() => render());

  return {
    open(id) {
      if (roomId !== id) {
        roomId = id;
        calls = [];
        readFor = null;
      }
      load();
    },
    render,
    close() {
      roomId = null;
      readFor = null;
      gen += 1;
      calls = [];
      box.hidden = true;
    },
  };
}
