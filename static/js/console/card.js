/**
 * One queue item as a card: what to judge (text, picture, reported profile, appeal), the
 * findings, who holds it and for how long, and the claim / decide controls. Built once per
 * item (a focused reason box keeps its focus and its draft), painted on every change, ticked
 * every second.
 *
 * @module console/card
 */
import { el, clear } from '/static/js/ui/dom.js';
import { t, formatDateTime, formatTime } from '/static/js/i18n.js';
import { tx, say, setLine } from './text.js';
import {
  state, online, isMine, isReport, categoryOf, serverNow, duration, clock, labelOf,
  lookupUser, userNodes, MEDIA_ID, MEDIA_CONTENT, LEASE_LOW_MS,
} from './state.js';
import { mediaBox } from './media.js';
import { reasonsBox } from './reasons.js';
import { claim, release, decide } from './decide.js';
import { pickUser } from './sanctions.js';

/**
 * What approve and reject mean depends on the item: for a report, approving dismisses it and
 * rejecting upholds it (the content goes); for an appeal, approving restores the original.
 */
export function decisionKey(item, decision) {
  const group = item.kind === 'report_media' || (item.kind === 'media' && isReport(item)) ? 'media_report' : item.kind;
  const specific = `console.decide.${group}.${decision}`;
  return t(specific) !== specific ? specific : `console.decide.${decision}`;
}

export function categoryChip(code) {
  const chip = el('span', { class: 'category-chip', 'data-category': code || 'none' });
  say(chip, 'console.filter.category_title', null, { attr: 'title' });
  return say(chip, code ? 'reason.' + code : 'console.filter.none');
}

function fact(key, value, { cls = '', user = false } = {}) {
  return [tx('dt', {}, key), el('dd', { class: (cls + (user ? ' user-content' : '')).trim(), text: value })];
}

function contentText(text) {
  return text ? el('p', { class: 'content-text user-content', text })
    : tx('p', { class: 'content-text muted' }, 'console.card.empty');
}

// report_user: the profile as it was when reported (a JSON snapshot).
function profileSnapshot(item, card) {
  let snap = null;
  try { snap = JSON.parse(item.content); } catch (_) { snap = null; }
  if (!snap || typeof snap !== 'object') return [contentText(item.content)];
  const none = (v) => (v ? [v, true] : [t('console.card.none'), false]);
  const [intro, hasIntro] = none(snap.intro);
  const [avatar, hasAvatar] = none(snap.avatar);
  const dl = el('dl', { class: 'snapshot' },
    fact('profile.nickname', snap.nickname || '', { user: true }),
    [tx('dt', {}, 'profile.intro'), hasIntro ? el('dd', { class: 'content-text user-content', text: intro }) : tx('dd', { class: 'muted' }, 'console.card.none')],
    [tx('dt', {}, 'profile.avatar'), hasAvatar ? el('dd', { class: 'user-content', text: avatar }) : tx('dd', { class: 'muted' }, 'console.card.none')]);
  const nodes = [dl];
  const avatarId = typeof snap.avatar === 'string' &&
    (MEDIA_ID.test(snap.avatar) ? snap.avatar : (snap.avatar.match(MEDIA_CONTENT) || [])[1]);
  if (avatarId) nodes.push(mediaBox(item, avatarId, (v) => onView(card, item, v)));
  return nodes;
}

// A video has no picture hash: blocklisting it would do nothing.
function onView(card, item, view) {
  if (view.kind !== 'video') return;
  if (card.blockBtn) card.blockBtn.hidden = true;
  if (item.kind === 'media') say(card.kindBadge, 'console.kind.video');
  else if (item.kind === 'report_media') say(card.kindBadge, 'console.kind.report_video');
}

// The body of a card: what the moderator judges.
function itemContent(item, card) {
  const ref = el('p', { class: 'small muted ref' });
  const media = (id) => mediaBox(item, id, (v) => onView(card, item, v));
  switch (item.kind) {
    case 'media':
    case 'report_media':
      return [media(item.content_ref)];
    case 'report_message': {
      const [conv, seq] = (item.content_ref || '').split(':');
      say(ref, 'console.card.message_ref', { conv: conv || '?', seq: seq || '?', sender: item.subject_id });
      // A photo message's text is its media id: show the picture (staff may see it).
      if (MEDIA_ID.test(item.content || '')) return [ref, tx('p', { class: 'small muted' }, 'console.card.photo_message'), media(item.content)];
      return [ref, contentText(item.content)];
    }
    case 'report_user':
      say(ref, 'console.card.profile_ref');
      return [ref, ...profileSnapshot(item, card)];
    case 'appeal': {
      say(ref, 'console.card.appeal_ref', { item: item.content_ref });
      const m = (item.content || '').match(MEDIA_CONTENT);
      if (m) return [ref, media(m[1])];
      return [ref, contentText(item.content)];
    }
    default:
      return [contentText(item.content)];
  }
}

// The pictures or video a post comes with (a held post's, a reported post's), as its readers see
// them; nothing for other items.
function attachedMedia(item) {
  const ids = Array.isArray(item.media) ? item.media : [];
  if (!ids.length) return null;
  return el('div', { class: 'attached-media' + (ids.length > 1 ? ' grid' : '') },
    ids.map((m, i) => mediaBox(item, m, null, `${item.id}:${i}`)));
}

function subjectKey(item, report) {
  if (report) return 'console.card.reported_user';
  if (item.kind === 'appeal') return 'console.card.appellant';
  return 'console.card.author';
}

/** The card of `item`, built on first use. */
export function ensureCard(item) {
  let card = state.cards.get(item.id);
  if (card) return card;
  const id = item.id;
  card = { id };
  const report = isReport(item);
  const reportKind = /^report_/.test(item.kind);
  const category = categoryOf(item);
  card.stateBadge = el('span', { class: 'badge' });
  card.age = el('span', { class: 'age small muted' });
  card.nick = el('span', { class: 'small muted nick' });
  card.kindBadge = el('span', { class: 'badge kind' + (reportKind ? ' report' : '') });
  say(card.kindBadge, 'console.raw', { text: () => labelOf('console.kind.', item.kind) });
  const content = itemContent(item, card);
  card.holder = el('div', { class: 'holder small' });
  card.msg = el('p', { class: 'item-msg small', hidden: true, role: 'status' });
  card.claimBtn = tx('button', { type: 'button', class: 'primary small-btn claim-btn', onclick: () => claim(id) }, 'console.card.claim');
  card.releaseBtn = tx('button', { type: 'button', class: 'secondary small-btn release-btn', onclick: () => release(id) }, 'console.card.release');
  card.actions = el('div', { class: 'actions' }, card.claimBtn, card.releaseBtn);
  card.reason = el('textarea', { rows: 2, maxlength: 500 });
  say(card.reason, report ? 'console.card.reason_report' : 'console.card.reason_reject', null, { attr: 'placeholder' });
  say(card.reason, 'console.card.reason_label', null, { attr: 'aria-label' });
  card.reason.value = state.drafts.get(id) || '';
  card.reason.addEventListener('input', () => state.drafts.set(id, card.reason.value));
  card.approveBtn = tx('button', { type: 'button', class: 'approve small-btn', onclick: () => decide(id, 'approve') }, decisionKey(item, 'approve'));
  card.rejectBtn = tx('button', { type: 'button', class: 'reject small-btn', onclick: () => decide(id, 'reject') }, decisionKey(item, 'reject'));
  card.blockBtn = item.kind === 'media' || item.kind === 'report_media' ||
    (item.kind === 'report_message' && MEDIA_ID.test(item.content || ''))
    ? say(tx('button', { type: 'button', class: 'block small-btn', onclick: () => decide(id, 'reject_and_block') },
      decisionKey(item, 'reject_and_block')), 'console.card.block_title', null, { attr: 'title' })
    : null;
  card.decide = el('div', { class: 'decide' }, card.reason,
    el('div', { class: 'actions' }, card.approveBtn, card.rejectBtn, card.blockBtn));
  const prio = el('span', { class: 'badge prio' + (item.priority === 0 ? ' p0' : '') });
  say(prio, item.priority === 0 ? 'console.prio.urgent' : 'console.prio.n', { n: item.priority });
  say(prio, 'console.prio.title', { n: item.priority }, { attr: 'title' });
  const actOn = tx('button', { type: 'button', class: 'link-btn', onclick: () => pickUser(item.subject_id) }, 'console.card.act_on_user');
  card.root = el('article', {
    class: 'card item' + (report ? ' report' : ''), 'data-id': id, 'data-kind': item.kind,
    'data-category': category == null ? null : category || 'none',
  },
  el('div', { class: 'item-head' },
    el('span', { class: 'item-id', text: '#' + id }),
    category != null ? categoryChip(category) : null,
    card.kindBadge,
    report && !reportKind ? tx('span', { class: 'badge report' }, 'console.card.user_report') : null,
    prio, card.stateBadge, card.age),
  el('div', { class: 'subject small' },
    tx('span', {}, subjectKey(item, report), { id: item.subject_id }), card.nick, actOn),
  content,
  attachedMedia(item),
  reasonsBox(item),
  card.holder, card.msg, card.actions, card.decide);
  lookupUser(item.subject_id).then(() => paintNick(card, item));
  state.cards.set(id, card);
  return card;
}

function paintNick(card, item) {
  if (!state.userInfo.has(item.subject_id)) return;
  clear(card.nick, userNodes(state.userInfo.get(item.subject_id)));
}

export function paintMsg(card, id) {
  const m = state.msgs.get(id);
  if (!m) setLine(card.msg, null, null, { cls: '' });
  else setLine(card.msg, m.key, m.params, { err: m.err, cls: m.cls || 'info' });
}

/** Paints everything that depends on the item's state, the connection and the language. */
export function paintCard(card, item) {
  const mine = isMine(item);
  const claimed = item.state === 'claimed';
  const pending = state.pending.has(item.id) || !online();
  card.root.classList.toggle('claimed', claimed && !mine);
  card.root.classList.toggle('mine', mine);
  card.stateBadge.className = 'badge ' + (mine ? 'state-mine' : claimed ? 'state-claimed' : '');
  say(card.stateBadge, mine ? 'console.state.mine' : claimed ? 'console.state.claimed' : 'console.state.queued');
  card.claimBtn.hidden = mine;
  card.releaseBtn.hidden = !mine;
  card.decide.hidden = !mine;
  card.claimBtn.disabled = pending;
  card.releaseBtn.disabled = pending;
  card.approveBtn.disabled = pending;
  card.rejectBtn.disabled = pending;
  if (card.blockBtn) card.blockBtn.disabled = pending;
  paintNick(card, item);
  paintMsg(card, item.id);
  tickCard(card, item);
}

/** The parts that change with the clock: age, lease countdown, claimability. */
export function tickCard(card, item) {
  const now = serverNow();
  card.age.textContent = t('console.card.waiting', { time: duration(now - item.created_at) });
  card.age.title = t('console.card.submitted', { time: formatDateTime(item.created_at) });
  if (item.state === 'claimed') {
    const left = (item.claim_expires_at || 0) - now;
    const mine = isMine(item);
    // The last fifth of the lease (at most a minute) shows red.
    const low = Math.min(LEASE_LOW_MS, (state.leaseMs || 300000) / 5);
    const countdown = el('span', { class: 'countdown' + (left < low ? ' low' : ''),
      text: left > 0 ? clock(left) : t('console.card.expired') });
    card.holder.replaceChildren(
      t(mine ? 'console.card.holder_me' : 'console.card.holder', { id: item.claimed_by }), ' ', countdown, ' ',
      el('span', { class: 'muted', text: t('console.card.until', { time: formatTime(item.claim_expires_at) }) }));
    card.holder.hidden = false;
    if (!mine) {
      // Someone else's live lease: claiming would only answer conflict.
      const expired = left <= 0;
      card.claimBtn.disabled = card.claimBtn.disabled || !expired;
      say(card.claimBtn, expired ? 'console.card.claim_expired' : 'console.card.claim');
    }
  } else {
    card.holder.hidden = true;
    card.holder.replaceChildren();
    say(card.claimBtn, 'console.card.claim');
  }
}
