/**
 * One conversation (`#pane-conv`): the header (back, the peer's avatar, name, presence or
 * typing; a tap opens the peer's profile with 屏蔽 and 举报), the listing card, the messages
 * (history paging, read state, photos, 撤回, 举报, held 审核中, rejected 未通过 with 申诉/删除,
 * recalled and removed notices), and the composer (text, emoji, photo; disabled while muted).
 *
 *   const view = mountConversation(root, { onBack });
 *   view.open(conversationId);
 *
 * @module pages/conversation
 */
import { getClient } from '/static/js/client.js';
import { t, errorText, onLocaleChange, formatTime, formatDateTime, formatRelative, formatUntil } from '/static/js/i18n.js';
import { el, busy, patchChildren } from '/static/js/ui/dom.js';
import { openDialog, confirmDialog } from '/static/js/ui/dialog.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { icon } from '/static/js/ui/icons.js';
import { photoView, forgetPhoto } from '/static/js/ui/photo.js';
import { attachEmojiPicker } from '/static/js/ui/emoji.js';
import { store } from '/static/js/app/store.js';
import {
  chat, onChat, activeConv, presenceOf, ensureHistory, loadOlder, sendText, deliverText, sendPhoto, deliverPhoto,
  grantAndSendPhoto, discardPending, sendTyping, setBlocked, canRecall, recall, canAppeal, noteAppealed,
  isMuted, isTransient, serverNow, RECALL_WINDOW_MS, MAX_TEXT_CHARS,
} from '/static/js/pages/chat-data.js';
import { reportMessage, reportUser, openAppeal } from '/static/js/pages/report.js';

const client = getClient();
const meId = () => (store.me ? store.me.id : null);

export function presenceText(userId) {
  const p = presenceOf(userId);
  if (p.online) return t('presence.online');
  if (p.last_seen_at) return t('presence.last_seen', { time: formatRelative(p.last_seen_at) });
  return t('presence.offline');
}

export function mountConversation(root, { onBack }) {
  const back = el('button', { type: 'button', id: 'back-btn', class: 'icon-btn back-btn' });
  const peerBtn = el('button', { type: 'button', id: 'peer-profile-btn', class: 'peer-btn' });
  const moreBtn = el('button', { type: 'button', id: 'conv-more', class: 'icon-btn' }, icon('more'));
  const head = el('header', { class: 'conv-head' }, back, peerBtn, moreBtn);
  const listing = el('div', { id: 'conv-listing', class: 'listing-card', hidden: true });
  const older = el('button', { type: 'button', id: 'older-btn', class: 'link older-btn', hidden: true });
  const list = el('ol', { id: 'message-list', class: 'message-list' });
  const box = el('div', { id: 'messages', class: 'messages' }, listing, older, list);
  const convError = el('p', { id: 'conv-error', class: 'form-error conv-error', role: 'alert', hidden: true });
  const muteBanner = el('p', { id: 'mute-banner', class: 'mute-banner small', role: 'status', hidden: true });
  const blockedNote = el('p', { id: 'blocked-note', class: 'small muted blocked-note', hidden: true });
  const photoBtn = el('button', { type: 'button', id: 'photo-btn', class: 'icon-btn' }, icon('photo'));
  const fileInput = el('input', { type: 'file', id: 'photo-input', accept: 'image/jpeg,image/png,image/webp,image/gif', hidden: true });
  const emojiBtn = el('button', { type: 'button', id: 'emoji-btn', class: 'icon-btn' }, icon('smile'));
  const text = el('textarea', { id: 'composer-text', rows: 1, enterkeyhint: 'send', maxlength: MAX_TEXT_CHARS + 100 });
  const textLabel = el('label', { for: 'composer-text', class: 'sr-only' });
  const send = el('button', { type: 'submit', id: 'composer-send', class: 'primary send-btn' });
  const composer = el('form', { id: 'composer', class: 'composer' }, photoBtn, fileInput, emojiBtn, textLabel, text, send);
  root.replaceChildren(head, box, convError, blockedNote, muteBanner, composer);
  attachEmojiPicker(emojiBtn, text, { container: composer });

  let stick = true;
  let shownId = null;
  let recallTimer = null;

  function showError(err) {
    convError.textContent = typeof err === 'string' ? err : errorText(err);
    convError.hidden = false;
  }
  const hideError = () => { convError.hidden = true; };

  function labels() {
    back.setAttribute('aria-label', t('action.back'));
    if (!back.firstChild) back.append(icon('back'));
    moreBtn.setAttribute('aria-label', t('action.view_profile'));
    photoBtn.setAttribute('aria-label', t('chat.send_photo'));
    emojiBtn.setAttribute('aria-label', t('chat.emoji'));
    textLabel.textContent = t('chat.input_label');
    send.textContent = t('action.send');
  }

  function renderHead(c) {
    const peer = c.info.peer;
    const typing = c.typingUntil > Date.now();
    root.dataset.peerId = String(peer.id);
    peerBtn.setAttribute('aria-label', t('action.view_profile') + ' ' + peer.nickname);
    peerBtn.replaceChildren(avatarView(peer, { size: 36 }),
      el('span', { class: 'peer-text' },
        el('strong', { id: 'peer-name', text: peer.nickname }),
        el('span', { id: typing ? 'peer-typing' : 'peer-presence', class: 'small ' + (typing ? 'typing' : 'muted'),
          text: typing ? t('chat.typing') : presenceText(peer.id) })));
    listing.hidden = !c.info.listing_ref;
    if (c.info.listing_ref) {
      listing.replaceChildren(el('span', { class: 'listing-icon', 'aria-hidden': 'true' }, icon('tag', { size: 28 })),
        el('span', { class: 'listing-main' }, el('span', { class: 'listing-label', text: t('chat.listing') }),
          el('span', { class: 'listing-ref', text: c.info.listing_ref })));
    }
    const blocked = chat.blocked.has(peer.id);
    blockedNote.hidden = !blocked;
    blockedNote.textContent = t('chat.blocked_note');
  }

  function renderComposer() {
    const muted = isMuted();
    muteBanner.hidden = !muted;
    muteBanner.textContent = muted ? t('mod.muted', { until: formatUntil(chat.mute.until) }) + (chat.mute.reason ? ' ' + t('mod.reason', { reason: chat.mute.reason }) : '') : '';
    for (const n of [text, send, photoBtn, emojiBtn]) n.disabled = muted;
    composer.classList.toggle('is-muted', muted);
    text.placeholder = muted ? t('chat.muted_placeholder') : t('chat.input_placeholder');
  }

  const link = (label, onclick, cls = 'link') => el('button', { type: 'button', class: cls, text: label, onclick });
  const appealBits = (itemId, onDone) => canAppeal(itemId)
    ? link(t('action.appeal'), () => openAppeal(itemId, { onDone: (id) => { noteAppealed(id); if (onDone) onDone(); } }))
    : chat.appealed.has(itemId) ? el('span', { class: 'review-tag', text: t('appeal.appealed') }) : null;

  function messageItem(m, peerRead, prev) {
    const mine = m.sender_id === meId();
    if (m.kind === 'recalled') {
      return el('li', { class: 'msg notice recalled', 'data-seq': m.seq, 'data-key': 'r' + m.seq, title: formatDateTime(m.created_at) },
        el('span', { class: 'notice-text', text: t(mine ? 'chat.recalled_self' : 'chat.recalled_peer') }));
    }
    let bubble;
    if (m.kind === 'photo') bubble = el('div', { class: 'bubble photo-bubble' }, photoView(m.text, { onLoad: keepBottom }));
    else if (m.kind === 'removed') bubble = el('div', { class: 'bubble removed', text: t('chat.removed') });
    else bubble = el('div', { class: 'bubble', text: m.text || '' });
    const recalling = chat.recalling.has(m.conversation_id + ':' + m.seq);
    const recallBtn = canRecall(m) ? el('button', { type: 'button', class: 'link recall-link', disabled: recalling,
      text: recalling ? t('status.working') : t('chat.recall'),
      onclick: () => recall(m).catch((err) => showError(err.code === 'recall_expired'
        ? t('chat.recall_expired', { minutes: RECALL_WINDOW_MS / 60000 }) : err)) }) : null;
    const report = !mine && m.kind !== 'removed' ? link(t('action.report'), () => reportMessage(m), 'link report-link') : null;
    const appeal = mine && m.kind === 'removed' && m.removed_item_id != null ? appealBits(m.removed_item_id) : null;
    const c = activeConv();
    const showAvatar = !mine && (!prev || prev.sender_id !== m.sender_id || prev.kind === 'recalled');
    return el('li', { class: 'msg' + (mine ? ' mine' : ' theirs'), 'data-seq': m.seq, 'data-key': 'm' + m.seq },
      !mine ? el('span', { class: 'msg-avatar' }, showAvatar && c ? avatarView(c.info.peer, { size: 32 }) : null) : null,
      el('div', { class: 'msg-body' },
        bubble,
        el('div', { class: 'meta' },
          el('time', { text: formatTime(m.created_at), title: formatDateTime(m.created_at) }),
          // Always there on one's own messages (hidden until read), so that a receipt changes
          // one attribute and the row's buttons stay the nodes they were (patchChildren).
          mine ? el('span', { class: 'read', text: t('chat.read'), hidden: m.seq > peerRead }) : null,
          recallBtn, report, appeal)));
  }

  function pendingItem(c, p) {
    const photo = p.kind === 'photo';
    const status = {
      sending: t('chat.sending'), uploading: t('chat.uploading'), waiting: t('chat.waiting'), held: t('chat.held_note'),
      rejected: t('chat.rejected') + (p.reason ? ' ' + t('mod.reason', { reason: p.reason }) : ''),
      consent: t('chat.photo_consent'), failed: p.error ? t('chat.failed_why', { reason: errorText(p.error) }) : t('chat.failed'),
    }[p.state] || '';
    const retry = p.state === 'failed' && isTransient(p.error)
      ? link(t('action.retry'), () => (photo ? deliverPhoto(c, p) : deliverText(c, p))) : null;
    const actions = [
      retry,
      p.state === 'consent' ? link(t('action.allow_and_send'), () => grantAndSendPhoto(c, p), 'primary small-btn') : null,
      p.state === 'rejected' && p.item_id != null ? appealBits(p.item_id) : null,
      ['failed', 'rejected', 'consent'].includes(p.state) ? link(t('action.delete'), () => discardPending(c, p)) : null,
    ];
    const notImage = p.state === 'failed' && p.error && ['unsupported_media', 'media_type_mismatch', 'invalid_media'].includes(p.error.code);
    const content = photo
      ? (notImage ? el('span', { class: 'photo-btn photo-error', text: t('chat.only_images') })
        : p.localUrl || p.media_id ? photoView(p.media_id, { localUrl: p.localUrl, onLoad: keepBottom }) : null)
      : p.text;
    return el('li', { class: `msg mine pending ${photo ? 'photo ' : ''}${p.state}` },
      el('div', { class: 'msg-body' },
        el('div', { class: 'bubble' + (photo ? ' photo-bubble' : '') }, content,
          p.state === 'held' ? el('span', { class: 'review-tag', text: t('chat.held') }) : null,
          p.state === 'rejected' ? el('span', { class: 'review-tag rejected', text: t('chat.rejected_tag') }) : null),
        el('div', { class: 'meta' },
          el('span', { class: ['failed', 'rejected'].includes(p.state) ? 'error' : '', text: status }), ...actions)));
  }

  function keepBottom() {
    if (stick) box.scrollTop = box.scrollHeight;
  }

  function renderMessages(c, { toBottom = false } = {}) {
    const fromBottom = box.scrollHeight - box.scrollTop;
    const nearBottom = fromBottom - box.clientHeight < 80;
    const firstSeq = list.firstElementChild ? list.firstElementChild.dataset.seq : null;
    const peerRead = c.info.peer_last_read_seq || 0;
    const msgs = [...c.msgs.values()].sort((a, b) => a.seq - b.seq);
    const rows = msgs.map((m, i) => messageItem(m, peerRead, msgs[i - 1]));
    for (const p of c.pending) rows.push(pendingItem(c, p));
    if (!rows.length && c.historyLoaded) rows.push(el('li', { class: 'empty muted', text: t('chat.empty') }));
    if (!rows.length && c.historyError) {
      rows.push(el('li', { class: 'empty' }, el('span', { class: 'error', text: errorText(c.historyError) }),
        isTransient(c.historyError) ? link(t('action.retry'), () => ensureHistory(c)) : null));
    }
    patchChildren(list, rows);
    older.hidden = !(c.historyLoaded && c.minSeq > 1);
    older.disabled = c.loadingOlder;
    older.textContent = c.loadingOlder ? t('status.loading') : t('chat.load_older');
    const olderLoaded = firstSeq && list.firstElementChild && list.firstElementChild.dataset.seq !== firstSeq && !nearBottom;
    if (olderLoaded) box.scrollTop = box.scrollHeight - fromBottom;
    else if (toBottom || nearBottom) box.scrollTop = box.scrollHeight;
    stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    scheduleRecallExpiry(c);
  }

  function scheduleRecallExpiry(c) {
    clearTimeout(recallTimer);
    let next = Infinity;
    for (const m of c.msgs.values()) if (canRecall(m)) next = Math.min(next, m.created_at + RECALL_WINDOW_MS - serverNow());
    if (next < Infinity) recallTimer = setTimeout(() => render(), Math.max(0, next) + 100);
  }

  function render(opts) {
    const c = activeConv();
    if (!c || !c.info) return;
    labels();
    renderHead(c);
    renderComposer();
    renderMessages(c, opts);
  }

  function openProfile() {
    const c = activeConv();
    if (!c) return;
    const peer = c.info.peer;
    const bodyBox = el('div', { class: 'peer-profile' }, avatarView(peer, { size: 72 }),
      el('p', { class: 'muted small', text: t('status.loading') }));
    const blocked = () => chat.blocked.has(peer.id);
    const d = openDialog({
      id: 'peer-dialog',
      title: peer.nickname,
      body: bodyBox,
      actions: [
        { label: t('action.report'), id: 'report-user-btn', onClick: (h) => { h.close(); reportUser(peer); } },
        { label: blocked() ? t('action.unblock') : t('action.block'), danger: !blocked(), id: 'block-btn', onClick: toggleBlock },
        { label: t('action.close') },
      ],
    });
    async function toggleBlock(h) {
      const block = !blocked();
      if (block && !(await confirmDialog({ title: t('action.block'), text: t('chat.block_confirm', { name: peer.nickname }),
        confirm: t('action.block'), danger: true }))) return;
      h.setBusy(true);
      try {
        await setBlocked(peer.id, block);
        h.close();
      } catch (err) {
        h.setBusy(false);
        h.setError(errorText(err));
      }
    }
    client.api('GET', '/api/users/' + encodeURIComponent(peer.id)).then((u) => {
      if (!d.isOpen) return;
      const facts = [
        [t('profile.intro'), u.intro || t('profile.intro_empty')],
        [t('profile.roles'), (u.roles || []).map((r) => t('role.' + r)).join(t('list.separator'))],
        [t('profile.joined'), formatDateTime(u.created_at)],
        [t('presence.title'), presenceText(u.id)],
      ];
      bodyBox.replaceChildren(avatarView(u, { size: 72 }),
        el('dl', { class: 'facts' }, ...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })])));
      if (u.deleted) d.actions[0].hidden = true;
    }, (err) => {
      if (d.isOpen) bodyBox.lastChild.replaceWith(el('p', { class: 'error small', text: errorText(err) }));
    });
  }

  function submit() {
    const c = activeConv();
    const value = text.value.trim();
    if (!c || !value || isMuted()) return;
    if ([...value].length > MAX_TEXT_CHARS) return showError(t('chat.too_long', { max: MAX_TEXT_CHARS }));
    hideError();
    text.value = '';
    autoGrow();
    stick = true;
    sendText(c, value);
  }

  function autoGrow() {
    text.style.height = 'auto';
    text.style.height = Math.min(text.scrollHeight, 120) + 'px';
  }

  back.addEventListener('click', () => onBack());
  peerBtn.addEventListener('click', openProfile);
  moreBtn.addEventListener('click', openProfile);
  older.addEventListener('click', () => loadOlder(activeConv()).catch(showError));
  photoBtn.addEventListener('click', () => { fileInput.value = ''; fileInput.click(); });
  fileInput.addEventListener('change', () => {
    const file = fileInput.files && fileInput.files[0];
    fileInput.value = '';
    const c = activeConv();
    if (!file || !c) return;
    if (!/^image\/(jpeg|png|webp|gif)$/i.test(file.type || '')) return showError(t('chat.only_images'));
    hideError();
    stick = true;
    sendPhoto(c, file);
  });
  box.addEventListener('scroll', () => { stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80; }, { passive: true });
  composer.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  text.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
      e.preventDefault();
      submit();
    }
  });
  text.addEventListener('input', () => {
    autoGrow();
    if (text.value.trim()) sendTyping(activeConv());
  });

  onChat((parts) => {
    if (shownId == null || root.hidden) return;
    if (parts.has('conv') || parts.has('presence') || parts.has('mute')) render();
  });
  onLocaleChange(() => { if (shownId != null) render(); });
  client.on('chat.recalled', (d) => {
    const m = chat.convs.get(d.conversation_id)?.msgs.get(d.seq);
    if (m && m.kind === 'photo') forgetPhoto(m.text);
  });
  labels();

  return {
    open(id) {
      const changedConv = shownId !== id;
      shownId = id;
      if (changedConv) {
        hideError();
        list.replaceChildren();
        text.value = '';
        autoGrow();
      }
      if (changedConv) stick = true;
      render({ toBottom: changedConv });
      if (changedConv && matchMedia('(min-width: 900px)').matches) text.focus();
    },
    close() {
      shownId = null;
      clearTimeout(recallTimer);
    },
  };
}
