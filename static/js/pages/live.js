/**
 * The 直播 tab (docs/protocol.md, "Live rooms"). Views (nav.js): null (the rooms live now, 我的直播间 and
 * 创建直播间 for an appraiser: live-list.js), `room:<id>` (the room as a viewer sees it:
 * live-room.js), `host:<id>` (the host's console: live-host.js). The room's state is
 * live-data.js's; this module joins the room a view shows and leaves it when the view goes.
 * On a phone a room fills the screen (no tab bar); from 900 px it sits in two columns.
 * An appraisal call (连线鉴定) is not a view: its ringing sheet (live-call-ring.js) and its screen
 * (live-call-view.js) sit over every tab, from the app's start, so a buyer's ring reaches
 * whichever tab is open.
 *
 *   registerTab('live', livePage, root)   // livePage: import * as livePage from '/static/js/pages/live.js'
 *
 * @module pages/live
 */
import { t, formatUntil } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { navigate } from '/static/js/app/nav.js';
import { store } from '/static/js/app/store.js';
import { ensureLiveCss } from '/static/js/pages/live-common.js';
import { mountList } from '/static/js/pages/live-list.js';
import { mountRoom } from '/static/js/pages/live-room.js';
import { mountHost } from '/static/js/pages/live-host.js';
import { watchRoom, unwatchRoom, roomState, onLive, resetLive } from '/static/js/pages/live-data.js';
import { startRinging } from '/static/js/pages/live-call-ring.js';
import { startCallView } from '/static/js/pages/live-call-view.js';

startRinging();
startCallView();

let root = null;
let parts = null;
let current = { kind: null, id: null }; // kind: 'list' | 'room' | 'host'
let watching = null; // the room id joined for the view
let offs = [];

function parseView(view) {
  const m = /^(room|host):(\d{1,15})$/.exec(view || '');
  return m ? { kind: m[1], id: Number(m[2]) } : { kind: 'list', id: null };
}

function removedText(removed) {
  if (!removed) return '';
  if (removed.reason === 'banned') return t('live.removed_banned');
  if (removed.reason === 'hidden') return t('live.removed_hidden');
  return removed.until ? t('live.removed_kicked_until', { until: formatUntil(removed.until) }) : t('live.removed_kicked');
}

function watch(id) {
  if (watching === id) return;
  if (watching != null) unwatchRoom(watching);
  watching = id;
  if (id != null) watchRoom(id);
}

function render() {
  if (!root) return;
  const { kind, id } = current;
  parts.listBox.hidden = kind !== 'list';
  parts.roomBox.hidden = kind !== 'room';
  parts.hostBox.hidden = kind !== 'host';
  document.body.classList.toggle('live-open', kind === 'room' || kind === 'host');
  root.classList.toggle('live-in-room', kind === 'room');
  if (kind === 'list') {
    parts.room.close();
    parts.host.close();
    parts.list.show();
  } else if (kind === 'room') {
    parts.list.hide();
    parts.host.close();
    parts.room.open(id);
  } else {
    parts.list.hide();
    parts.room.close();
    parts.host.open(id);
  }
}

// The user was removed from the room in view (kicked, banned, hidden): back to the list, saying why.
function onRemoved(id) {
  const s = roomState(id);
  if (!s || !s.removed || watching !== id) return;
  const text = removedText(s.removed);
  watching = null;
  unwatchRoom(id);
  parts.list.setNotice(text);
  navigate('live', null, { replace: true });
}

export function mount(node) {
  for (const off of offs) off();
  offs = [];
  root = node;
  ensureLiveCss();
  root.classList.add('live-page');
  const listBox = el('div', { id: 'live-list-view', class: 'live-list-view' });
  const roomBox = el('div', { id: 'live-room-view', class: 'live-room-view', hidden: true });
  const hostBox = el('div', { id: 'live-host-view', class: 'live-host-view', hidden: true });
  root.replaceChildren(listBox, roomBox, hostBox);
  parts = {
    listBox, roomBox, hostBox,
    list: mountList(listBox, {
      onOpen: (room) => navigate('live', 'room:' + room.id),
      onHost: (room) => navigate('live', 'host:' + room.id),
    }),
    room: mountRoom(roomBox, {
      onBack: () => navigate('live'),
      onHost: (id) => navigate('live', 'host:' + id, { replace: true }),
    }),
    host: mountHost(hostBox, {
      onBack: () => navigate('live'),
      onViewer: (id) => navigate('live', 'room:' + id),
    }),
  };
  offs = [
    onLive((id, p) => { if (p.has('removed')) onRemoved(id); }),
  ];
}

export function show(view) {
  if (!root) return;
  const next = parseView(view);
  // A viewer's link to a console that is not theirs: the room page (the server refuses powers anyway).
  if (next.kind === 'host') {
    const s = roomState(next.id);
    if (s && s.room && s.room.host && store.me && s.room.host.id !== store.me.id && s.me && !s.me.host) next.kind = 'room';
  }
  current = next;
  if (next.kind === 'list') {
    if (view) navigate('live', null, { replace: true });
    watch(null);
  } else {
    watch(next.id);
  }
  render();
  if (next.kind !== 'room' && root) root.scrollTop = 0;
}

export function hide() {
  watch(null);
  if (parts) {
    parts.list.hide();
    parts.room.close();
    parts.host.close();
  }
  document.body.classList.remove('live-open');
}

export function unmount() {
  watch(null);
  for (const off of offs) off();
  offs = [];
  if (parts) parts.list.destroy();
  resetLive();
  document.body.classList.remove('live-open');
  root = null;
  parts = null;
  current = { kind: null, id: null };
}
