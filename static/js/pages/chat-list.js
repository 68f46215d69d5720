/**
 * The conversation list of the 消息 tab (`#conv-list`): avatar, name, listing chip, last
 * message or typing, time, unread badge; paged with 更多. With no conversation yet the tab
 * shows the seller directory instead (messages.js).
 *
 *   mountChatList(root, { onOpen: (id) => …, onFind: () => … });
 *
 * @module pages/chat-list
 */
import { t, errorText, onLocaleChange, formatRelative } from '/static/js/i18n.js';
import { el, clear } from '/static/js/ui/dom.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { store } from '/static/js/app/store.js';
import { chat, onChat, sortedConvs, presenceOf, loadMoreList, refreshList, isTransient } from '/static/js/pages/chat-data.js';

/** The one-line preview of a message. */
export function previewOf(m) {
  const mine = m.sender_id === (store.me && store.me.id);
  if (m.kind === 'recalled') return t(mine ? 'chat.recalled_self' : 'chat.recalled_peer');
  const body = m.kind === 'photo' ? t('chat.photo') : m.kind === 'removed' ? t('chat.removed_short') : m.text || '';
  return (mine ? t('chat.me_prefix') : '') + body;
}

export function mountChatList(root, { onOpen }) {
  const list = el('ul', { id: 'conv-list', class: 'conv-list' });
  const more = el('button', { type: 'button', id: 'conv-more-btn', class: 'secondary block', hidden: true });
  const error = el('p', { id: 'conv-list-error', class: 'form-error', role: 'alert', hidden: true });
  root.replaceChildren(error, list, more);

  const item = (c, now) => {
    const info = c.info;
    const typing = c.typingUntil > now;
    const last = info.last_message;
    const preview = typing ? t('chat.typing') : last ? previewOf(last) : t('chat.no_messages');
    const online = presenceOf(info.peer.id).online;
    return el('li', { class: 'conv-item' + (c.id === chat.activeId ? ' active' : ''), dataset: { convId: String(c.id) } },
      el('button', { type: 'button', class: 'conv-row', onclick: () => onOpen(c.id) },
        el('span', { class: 'conv-avatar' }, avatarView(info.peer, { size: 48 }),
          online ? el('span', { class: 'online-dot', 'aria-label': t('presence.online') }) : null),
        el('span', { class: 'conv-main' },
          el('span', { class: 'conv-line' },
            el('span', { class: 'conv-name', text: info.peer.nickname }),
            el('span', { class: 'conv-time small muted', text: formatRelative(info.last_message_at || info.created_at) })),
          el('span', { class: 'conv-line' },
            info.listing_ref ? el('span', { class: 'listing-chip small', text: t('chat.listing') + ' ' + info.listing_ref }) : null,
            el('span', { class: 'conv-preview small' + (typing ? ' typing' : ' muted'), text: preview }),
            info.unread > 0 ? el('span', { class: 'badge', text: info.unread > 99 ? '99+' : String(info.unread),
              'aria-label': t('chat.unread_count', { count: info.unread }) }) : null))));
  };

  const render = () => {
    const now = Date.now();
    list.replaceChildren(...sortedConvs().map((c) => item(c, now)));
    more.hidden = !chat.listMore;
    more.textContent = t('action.more');
    const err = chat.error;
    error.hidden = !err;
    if (err) {
      clear(error, el('span', { text: errorText(err) }),
        isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: refreshList }) : null);
    }
  };
  more.addEventListener('click', () => loadMoreList().catch((err) => {
    error.textContent = errorText(err);
    error.hidden = false;
  }));
  onChat((parts) => { if (parts.has('list') || parts.has('presence')) render(); });
  onLocaleChange(render);
  render();
  return { render };
}
