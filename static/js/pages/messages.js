/**
 * The 消息 tab: the conversation list (or, with none yet, the 卖家 directory), the seller
 * directory and user search, and the open conversation. Views (nav.js): null (the list),
 * `find` (directory and search), `conversation:<id>`. On a phone one view fills the screen;
 * from 900 px the list and the conversation sit side by side.
 *
 * @module pages/messages
 */
import { t, onLocaleChange } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { navigate, currentView } from '/static/js/app/nav.js';
import { chat, onChat, sortedConvs, setActive, openWith, markRead } from '/static/js/pages/chat-data.js';
import { mountChatList } from '/static/js/pages/chat-list.js';
import { mountPeople } from '/static/js/pages/people.js';
import { mountConversation } from '/static/js/pages/conversation.js';

let root = null;
let parts = null;
let view = null;

function openConversation(id) {
  navigate('messages', 'conversation:' + id);
}

async function chatWith(user) {
  const id = await openWith(user.id);
  openConversation(id);
}

function render() {
  if (!root) return;
  const m = /^conversation:(\d+)$/.exec(view || '');
  const convId = m ? Number(m[1]) : null;
  const c = convId != null ? chat.convs.get(convId) : null;
  const noConvs = chat.listLoaded && !sortedConvs().length;
  const find = view === 'find' || (!c && noConvs);
  document.body.classList.toggle('conv-open', !!c);
  parts.title.textContent = find && view === 'find' ? t('search.title') : t('tab.messages');
  parts.findBtn.textContent = t('sellers.find');
  parts.findBtn.hidden = find;
  parts.backBtn.hidden = view !== 'find';
  parts.backBtn.setAttribute('aria-label', t('action.back'));
  parts.listBox.hidden = find;
  parts.peopleBox.hidden = !find;
  parts.empty.hidden = !!c;
  parts.empty.textContent = t('chat.pick');
  parts.convBox.hidden = !c;
  root.classList.toggle('has-conv', !!c);
  if (find) parts.people.show({ intro: noConvs && view !== 'find' });
  if (c && c.info) {
    if (chat.activeId !== c.id) setActive(c.id);
    parts.conv.open(c.id);
  } else {
    if (chat.activeId != null) setActive(null);
    parts.conv.close();
  }
}

export function mount(rootEl) {
  root = rootEl;
  const title = el('h1', { class: 'page-title' });
  const findBtn = el('button', { type: 'button', id: 'find-btn', class: 'secondary small-btn' });
  const backBtn = el('button', { type: 'button', id: 'find-back', class: 'icon-btn', onclick: () => navigate('messages') }, icon('back'));
  const listBox = el('div', { class: 'side-list' });
  const peopleBox = el('div', { id: 'people', class: 'side-people', hidden: true });
  const convBox = el('section', { id: 'pane-conv', class: 'conv', hidden: true });
  const empty = el('div', { id: 'pane-empty', class: 'pane-empty muted' });
  root.replaceChildren(
    el('div', { class: 'msg-layout' },
      el('div', { class: 'msg-side' },
        el('header', { class: 'page-head' }, backBtn, title, findBtn),
        listBox, peopleBox),
      el('div', { class: 'msg-main' }, empty, convBox)));
  findBtn.addEventListener('click', () => navigate('messages', 'find'));
  parts = {
    title, findBtn, backBtn, listBox, peopleBox, convBox, empty,
    list: mountChatList(listBox, { onOpen: openConversation }),
    people: mountPeople(peopleBox, { onChat: chatWith }),
    conv: mountConversation(convBox, { onBack: () => navigate('messages') }),
  };
  onChat((p) => { if (p.has('list')) render(); });
  onLocaleChange(render);
  document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') markRead(); });
}

export function show(v) {
  view = v;
  render();
}

export function hide() {
  document.body.classList.remove('conv-open');
  if (parts) parts.conv.close();
  if (chat.activeId != null) setActive(null);
}

export function unmount() {
  root = null;
  parts = null;
  view = null;
  document.body.classList.remove('conv-open');
}
