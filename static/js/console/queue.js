/**
 * The live queue: `mod.subscribe` on every (re)connection, `mod.queue` to resync, the console
 * events (`mod.item`, `mod.claimed`, `mod.released`, `mod.decided`, `mod.acted`) on top, the
 * category filter, the queue health and the one-second tick.
 *
 * @module console/queue
 */
import { el, $ } from '/static/js/ui/dom.js';
import { t, formatDateTime } from '/static/js/i18n.js';
import { say, setLine, tx } from './text.js';
import {
  client, state, online, isMine, categoryOf, serverNow, duration, noteServerTime, CATEGORIES,
} from './state.js';
import { ensureCard, paintCard, tickCard } from './card.js';
import { disposeMedia } from './media.js';
import { addActed } from './sanctions.js';
import { loadAudit, auditSoon } from './audit.js';

const EVENTS = ['mod.item', 'mod.claimed', 'mod.released', 'mod.decided', 'mod.acted'];
let hooks = { onForbidden: () => {}, onBanner: () => {} };

/** Listens to the console events (once per page) and ticks the clocks. */
export function startQueue(h) {
  hooks = Object.assign(hooks, h);
  for (const type of EVENTS) client.on(type, (data) => onConsoleEvent(type, data));
  $('only-mine').addEventListener('change', render);
  setInterval(tick, 1000);
}

/** The socket is online: subscribe (the answer replaces the queue). */
export function subscribe() {
  if (state.forbidden) return;
  state.offset = null; // a fresh estimate per connection
  syncQueue('mod.subscribe');
}

// mod.subscribe (on every (re)connect) or mod.queue (a resync): the answer replaces the
// queue; events that came in the meantime are replayed on top of it, in order.
async function syncQueue(type) {
  if (state.syncing) {
    state.resyncAgain = true;
    return;
  }
  const me = state.me;
  state.syncing = true;
  state.buffered = [];
  try {
    const q = await client.request(type, {});
    if (me !== state.me) return;
    state.leaseMs = typeof q.lease_ms === 'number' ? q.lease_ms : state.leaseMs;
    const fresh = new Map();
    for (const it of q.items || []) {
      if (it && it.id != null && !state.decided.has(it.id)) fresh.set(it.id, it);
    }
    for (const id of state.items.keys()) if (!fresh.has(id)) forgetItem(id);
    state.items = fresh;
    const buffered = state.buffered;
    state.buffered = [];
    state.syncing = false;
    for (const [ty, d] of buffered) applyEvent(ty, d);
    const first = !state.subscribed;
    state.subscribed = true;
    state.syncedAt = Date.now();
    $('forbidden-view').hidden = true;
    $('console-view').hidden = false;
    hooks.onBanner(null);
    say($('h-updated'), 'console.health.synced', { time: () => formatDateTime(state.syncedAt) });
    if (type === 'mod.subscribe' && (first || state.auditLoaded) && !state.auditUnavailable) loadAudit();
  } catch (err) {
    if (me !== state.me) return;
    if (err.code === 'forbidden') {
      hooks.onForbidden(err);
    } else if (err.code === 'disconnected' || err.code === 'offline') {
      // The next connection subscribes again.
    } else {
      hooks.onBanner('console.banner.queue_failed', err);
      setTimeout(() => { if (online() && me === state.me && !state.subscribed) subscribe(); }, 3000);
    }
  } finally {
    if (me === state.me) {
      state.syncing = false;
      state.buffered = [];
      render();
      if (state.resyncAgain) {
        state.resyncAgain = false;
        if (state.subscribed && online()) syncQueue('mod.queue');
      }
    }
  }
}

let resyncTimer = null;
export function resyncSoon() {
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(() => {
    if (state.subscribed && online()) syncQueue('mod.queue');
  }, 500);
}

function onConsoleEvent(type, d) {
  // A claim's lease start is the server's "now" at publish: it feeds the clock estimate.
  if (type === 'mod.claimed' && state.leaseMs && typeof d.until === 'number') noteServerTime(d.until - state.leaseMs);
  if (!state.subscribed && !state.syncing) return;
  if (state.syncing) {
    state.buffered.push([type, d]);
    return;
  }
  applyEvent(type, d);
  render();
}

function applyEvent(type, d) {
  switch (type) {
    case 'mod.item': {
      if (!d || d.id == null || state.decided.has(d.id)) return;
      // Arrives twice around a subscribe: the copy already held is as new or newer.
      if (!state.items.has(d.id) && d.state !== 'decided') state.items.set(d.id, d);
      return;
    }
    case 'mod.claimed': {
      const it = state.items.get(d.item_id);
      if (!it) {
        if (!state.decided.has(d.item_id)) resyncSoon();
        return;
      }
      it.state = 'claimed';
      it.claimed_by = d.by;
      it.claim_expires_at = d.until;
      if (d.by !== (state.me && state.me.id)) state.drafts.delete(d.item_id);
      return;
    }
    case 'mod.released': {
      const it = state.items.get(d.item_id);
      if (!it) {
        if (!state.decided.has(d.item_id)) resyncSoon();
        return;
      }
      const wasMine = isMine(it);
      it.state = 'queued';
      it.claimed_by = null;
      it.claim_expires_at = null;
      if (d.why === 'lease expired') {
        state.msgs.set(d.item_id, wasMine
          ? { key: 'console.msg.my_lease_expired', cls: 'error' }
          : { key: 'console.msg.lease_expired', cls: 'info' });
      } else if (!wasMine) {
        state.msgs.delete(d.item_id);
      }
      return;
    }
    case 'mod.decided': {
      state.decided.add(d.item_id);
      const it = state.items.get(d.item_id);
      if (it && d.by !== (state.me && state.me.id)) {
        flash('console.flash.decided_by', { id: d.item_id, by: d.by, label: () => actionLabel(d.decision) });
      }
      state.items.delete(d.item_id);
      forgetItem(d.item_id);
      auditSoon();
      return;
    }
    case 'mod.acted':
      addActed(d);
      auditSoon();
      return;
    default:
  }
}

/** approve, reject, warn, mute … in the moderator's language (unknown ones as sent). */
export function actionLabel(code) {
  const key = 'console.action.' + code;
  return t(key) === key ? String(code || '') : t(key);
}

export function forgetItem(id) {
  state.drafts.delete(id);
  state.msgs.delete(id);
  state.pending.delete(id);
  disposeMedia(id);
  const card = state.cards.get(id);
  if (card) {
    card.root.remove();
    state.cards.delete(id);
  }
}

let flashTimer = null;
/** The line above the queue: what just happened (已处理, 已由…处理, 已不存在). */
export function flash(key, params, isError = false) {
  const f = $('queue-flash');
  setLine(f, key, params, { cls: isError ? 'error' : 'ok' });
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { f.hidden = true; }, 8000);
}

function sortedItems() {
  return [...state.items.values()].sort((a, b) => (a.priority - b.priority) || (a.id - b.id));
}

// The category filter above the queue: 全部 and the five categories, each with how many cards
// it would show (under 只看我认领的 too). Purely client-side.
function renderFilter(items) {
  const box = $('category-filter');
  if (!box.childElementCount) {
    for (const code of ['', ...CATEGORIES]) {
      const btn = el('button', { type: 'button', class: 'filter-chip', 'data-filter': code || 'all',
        'aria-pressed': 'false', onclick: () => { state.category = code; render(); } },
      tx('span', { class: 'filter-label' }, code ? 'reason.' + code : 'console.filter.all'),
      el('span', { class: 'filter-count', text: '0' }));
      box.append(btn);
    }
  }
  const counts = new Map([['', items.length]]);
  for (const it of items) {
    const c = categoryOf(it);
    if (c) counts.set(c, (counts.get(c) || 0) + 1);
  }
  for (const btn of box.children) {
    const code = btn.dataset.filter === 'all' ? '' : btn.dataset.filter;
    const n = counts.get(code) || 0;
    btn.setAttribute('aria-pressed', String(code === state.category));
    btn.classList.toggle('none', n === 0);
    btn.querySelector('.filter-count').textContent = String(n);
    btn.title = code ? t('console.filter.only', { category: t('reason.' + code), count: n })
      : t('console.filter.all_title', { count: n });
  }
}

/** Draws the queue from the state (moves only cards out of place: a focused box keeps focus). */
export function render() {
  const queue = $('queue');
  const onlyMine = $('only-mine').checked;
  const items = sortedItems();
  const mineOrAll = onlyMine ? items.filter(isMine) : items;
  renderFilter(mineOrAll);
  const visible = state.category ? mineOrAll.filter((it) => categoryOf(it) === state.category) : mineOrAll;
  const shown = new Set(visible.map((it) => it.id));
  for (const [id, card] of state.cards) {
    if (!shown.has(id) && card.root.parentNode) card.root.remove();
  }
  visible.forEach((it, i) => {
    const card = ensureCard(it);
    paintCard(card, it);
    if (queue.children[i] !== card.root) queue.insertBefore(card.root, queue.children[i] || null);
  });
  const empty = $('queue-empty');
  empty.hidden = !state.subscribed || visible.length > 0;
  if (state.category && mineOrAll.length) {
    say(empty, onlyMine ? 'console.queue.empty_category_mine' : 'console.queue.empty_category',
      { category: () => t('reason.' + state.category) });
  } else {
    say(empty, onlyMine && items.length ? 'console.queue.empty_mine' : 'console.queue.empty');
  }
  const stale = !online() && state.subscribed;
  $('queue-stale').hidden = !stale;
  queue.classList.toggle('stale', stale);
  renderHealth();
}

function renderHealth() {
  const items = [...state.items.values()];
  const queued = items.filter((it) => it.state !== 'claimed');
  const claimed = items.filter((it) => it.state === 'claimed');
  $('h-queued').textContent = String(queued.length);
  $('h-claimed').textContent = String(claimed.length);
  $('h-mine').textContent = String(claimed.filter(isMine).length);
  const byPrio = new Map();
  for (const it of items) {
    const p = byPrio.get(it.priority) || { queued: 0, claimed: 0 };
    if (it.state === 'claimed') p.claimed += 1; else p.queued += 1;
    byPrio.set(it.priority, p);
  }
  const chips = [...byPrio.entries()].sort((a, b) => a[0] - b[0]).map(([prio, c]) =>
    el('span', { class: 'prio-chip' + (prio === 0 ? ' p0' : '') },
      t(prio === 0 ? 'console.prio.urgent' : 'console.prio.n', { n: prio }), t('console.health.sep'),
      t('console.health.prio_queued', { count: c.queued }),
      c.claimed ? ' · ' + t('console.health.prio_claimed', { count: c.claimed }) : null));
  $('h-priorities').replaceChildren(...chips);
  tickHealth();
  document.title = queued.length ? t('console.title_count', { count: queued.length }) : t('console.title');
}

function tickHealth() {
  let oldest = null;
  for (const it of state.items.values()) {
    if (it.state !== 'claimed' && (oldest == null || it.created_at < oldest)) oldest = it.created_at;
  }
  const node = $('h-oldest');
  if (oldest == null) {
    node.textContent = '—';
    node.className = 'stat-num';
    node.title = '';
    return;
  }
  const age = serverNow() - oldest;
  node.textContent = duration(age);
  node.title = t('console.card.submitted', { time: formatDateTime(oldest) });
  node.className = 'stat-num' + (age > 3600000 ? ' alert' : age > 900000 ? ' warning' : '');
}

function tick() {
  if (!state.subscribed) return;
  for (const [id, card] of state.cards) {
    const it = state.items.get(id);
    if (it && card.root.parentNode) {
      card.claimBtn.disabled = state.pending.has(id) || !online();
      tickCard(card, it);
    }
  }
  tickHealth();
}
