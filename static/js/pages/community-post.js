/**
 * One post (view `post:<id>`): the author (a tap opens the profile), the whole text, every
 * picture (a tap opens the lightbox), category and tags, 点赞 with its count (a second tap takes
 * it back), 分享 (a 口令), and under ⋯ 举报 (someone else's post) or 删除 (one's own); then the
 * comments (`post.comments`, oldest first, paged; one's own held comment marked 审核中), each
 * with 回复, 删除 for its author and for the post's author, 举报 for the others; and the
 * composer (`post.comment`). A comment on one's own post arrives live (`feed.comment`); a post
 * deleted or taken down while open says so (`feed.post_removed`).
 *
 *   const view = mountPost(root, { onBack, onOpenUser });
 *   view.open(12); view.close();
 *
 * @module pages/community-post
 */
import { t, errorText, onLocaleChange, formatRelative, formatDateTime } from '/static/js/i18n.js';
import { el, clear, busy } from '/static/js/ui/dom.js';
import { icon } from '/static/js/ui/icons.js';
import { avatarView } from '/static/js/ui/avatar.js';
import { openDialog, confirmDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { store } from '/static/js/app/store.js';
import { openReport } from '/static/js/pages/report.js';
import { formatCount } from '/static/js/pages/live-common.js';
import {
  COMMENT_MAX_CHARS, onCommunity, postOf, isRemoved, watchPost, unwatchPost, deletePost, addComment, listComments, deleteComment,
  isTransient,
} from '/static/js/pages/community-data.js';
import { authorLine, photoGrid, tagLine, likeButton, nickOf, isMine, commentIcon, sharesCount } from '/static/js/pages/community-feed.js';
import { openShare } from '/static/js/pages/community-share.js';

const clip = (s, n) => {
  const chars = [...String(s || '')];
  return chars.length > n ? chars.slice(0, n).join('') + '…' : chars.join('');
};

export function mountPost(root, { onBack, onOpenUser }) {
  const back = el('button', { type: 'button', id: 'cm-post-back', class: 'icon-btn' }, icon('back'));
  const title = el('h1', { class: 'page-title', id: 'cm-post-heading' });
  const more = el('button', { type: 'button', id: 'cm-post-more', class: 'icon-btn', 'aria-haspopup': 'dialog', hidden: true }, icon('more'));
  const error = el('p', { id: 'cm-post-error', class: 'form-error cm-list-error', role: 'alert', hidden: true });
  const gone = el('p', { id: 'cm-post-gone', class: 'banner warn cm-gone', role: 'status', hidden: true });
  const article = el('article', { id: 'cm-post', class: 'cm-post cm-post-full', hidden: true });
  const commentsTitle = el('h2', { class: 'section-title cm-section', id: 'cm-comments-title' });
  const commentsList = el('ul', { id: 'cm-comments', class: 'cm-comments' });
  const commentsEmpty = el('p', { class: 'small muted cm-comments-empty', id: 'cm-comments-empty', hidden: true });
  const commentsMore = el('button', { type: 'button', id: 'cm-comments-more', class: 'secondary block', hidden: true });
  const replyChip = el('div', { class: 'cm-reply-chip small', id: 'cm-reply-chip', hidden: true });
  const input = el('textarea', { id: 'cm-comment-input', rows: 1, maxlength: COMMENT_MAX_CHARS * 2, enterkeyhint: 'send' });
  const send = el('button', { type: 'button', id: 'cm-comment-send', class: 'primary small-btn cm-send' });
  const composerError = el('p', { id: 'cm-comment-error', class: 'form-error small', role: 'alert', hidden: true });
  const inputLabel = el('label', { class: 'sr-only', for: 'cm-comment-input' });
  const composer = el('div', { class: 'cm-composer', id: 'cm-composer', hidden: true },
    replyChip, el('div', { class: 'cm-composer-row' }, inputLabel, input, send), composerError);
  const commentsBox = el('section', { class: 'cm-comments-box', id: 'cm-comments-box', hidden: true },
    commentsTitle, commentsList, commentsEmpty, commentsMore);
  root.replaceChildren(
    el('header', { class: 'page-head' }, back, title, more),
    gone, error, article, commentsBox, composer);

  const state = { id: null, gen: 0, comments: [], next: null, loading: false, replyTo: null, removed: false };

  const showError = (box, err, retry = null) => {
    clear(box, el('span', { text: typeof err === 'string' ? err : errorText(err) }),
      retry && typeof err !== 'string' && isTransient(err) ? el('button', { type: 'button', class: 'link', text: t('action.retry'), onclick: retry }) : null);
    box.hidden = false;
  };

  function renderPost() {
    const p = postOf(state.id);
    article.hidden = !p || state.removed;
    more.hidden = !p || state.removed;
    if (!p || state.removed) return;
    article.dataset.postId = String(p.id);
    article.dataset.status = p.status || '';
    clear(article,
      authorLine(p, onOpenUser, { id: 'cm-post-author' }),
      p.text ? el('p', { id: 'cm-post-text', class: 'cm-post-text cm-post-text-full', text: p.text }) : null,
      photoGrid(p),
      tagLine(p),
      p.edited_at ? el('p', { class: 'small muted', text: t('community.edited_at', { time: formatDateTime(p.edited_at) }) }) : null,
      p.status === 'screening' ? el('p', { class: 'small cm-review-note', id: 'cm-post-review', text: t('community.post_in_review') }) : null,
      el('div', { class: 'cm-post-foot' },
        likeButton(p, { id: 'cm-like-btn', onError: (err) => showError(error, err) }),
        el('span', { class: 'cm-comments-btn', id: 'cm-post-comments', dataset: { count: String(p.comments || 0) } },
          commentIcon(20), el('span', { class: 'cm-comment-count', text: formatCount(p.comments || 0) })),
        sharesCount(p, { id: 'cm-post-shares' }),
        p.status === 'published' ? el('button', { type: 'button', class: 'secondary small-btn cm-share-btn', id: 'cm-post-share', text: t('community.share'),
          onclick: () => openShare({ target: 'post', id: p.id, title: p.text || t('community.share_post_of', { name: nickOf(p.author) }) }) }) : null));
    commentsTitle.textContent = t('community.comments_title', { count: p.comments || 0 });
  }

  function canDelete(c) {
    const me = store.me && store.me.id;
    const p = postOf(state.id);
    return me != null && ((c.author && c.author.id === me) || (p && p.author && p.author.id === me));
  }

  function commentRow(c) {
    const mine = store.me && c.author && c.author.id === store.me.id;
    const parent = c.reply_to != null ? state.comments.find((x) => x.id === c.reply_to) : null;
    return el('li', { class: 'cm-comment' + (mine ? ' mine' : ''), dataset: { commentId: String(c.id), status: c.status || '' } },
      el('button', { type: 'button', class: 'cm-comment-avatar', 'aria-label': t('community.open_profile', { name: nickOf(c.author) }),
        onclick: () => c.author && c.author.id != null && onOpenUser(c.author) }, avatarView(c.author, { size: 32 })),
      el('div', { class: 'cm-comment-main' },
        el('div', { class: 'cm-comment-line' },
          el('span', { class: 'cm-comment-name', text: nickOf(c.author) }),
          c.status === 'screening' ? el('span', { class: 'cm-tag cm-status cm-status-screening', text: t('status.under_review') }) : null,
          el('time', { class: 'small muted', title: formatDateTime(c.created_at), text: formatRelative(c.created_at) })),
        parent ? el('p', { class: 'small muted cm-comment-quote', text: t('community.reply_to', { name: nickOf(parent.author) }) }) : null,
        el('p', { class: 'cm-comment-text', text: c.text || '' }),
        el('div', { class: 'cm-comment-actions' },
          c.status === 'published' ? el('button', { type: 'button', class: 'link small cm-comment-reply', text: t('community.reply'),
            onclick: () => { state.replyTo = c; renderReply(); input.focus(); } }) : null,
          canDelete(c) ? el('button', { type: 'button', class: 'link small cm-comment-delete', text: t('action.delete'),
            onclick: () => removeComment(c) }) : null,
          !mine && c.status === 'published' ? el('button', { type: 'button', class: 'link small cm-comment-report', text: t('action.report'),
            onclick: () => openReport({ title: t('community.report_comment'), subject: t('report.quote', { text: clip(c.text, 60) }), data: { target: 'post_comment', comment_id: c.id } }) }) : null)));
  }

  function renderComments() {
    const p = postOf(state.id);
    commentsBox.hidden = !p || state.removed;
    composer.hidden = !p || state.removed || p.status !== 'published';
    commentsList.replaceChildren(...state.comments.map(commentRow));
    commentsEmpty.hidden = state.loading || state.comments.length > 0;
    commentsEmpty.textContent = t('community.no_comments');
    commentsMore.hidden = state.next == null;
    commentsMore.textContent = t('community.more');
  }

  function renderReply() {
    replyChip.hidden = !state.replyTo;
    if (state.replyTo) {
      clear(replyChip, el('span', { text: t('community.reply_to', { name: nickOf(state.replyTo.author) }) }),
        el('button', { type: 'button', class: 'icon-btn notice-close', 'aria-label': t('action.cancel'), text: '×',
          onclick: () => { state.replyTo = null; renderReply(); } }));
    }
    input.placeholder = state.replyTo ? t('community.reply_to', { name: nickOf(state.replyTo.author) }) : t('community.comment_placeholder');
  }

  function render() {
    back.setAttribute('aria-label', t('action.back'));
    more.setAttribute('aria-label', t('action.more'));
    title.textContent = t('community.post_title');
    gone.textContent = t('community.post_gone');
    gone.hidden = !state.removed;
    send.textContent = t('action.send');
    inputLabel.textContent = t('community.comment_label');
    renderPost();
    renderComments();
    renderReply();
  }

  async function load(id) {
    const gen = ++state.gen;
    error.hidden = true;
    try {
      // Watched while shown: likes, comments and shares move live.
      await watchPost(id);
    } catch (err) {
      if (gen !== state.gen) return;
      if (!postOf(id)) showError(error, err, () => load(id));
      if (err.code === 'not_found') { state.removed = true; render(); }
      return;
    }
    if (gen !== state.gen) return;
    render();
  }

  async function loadComments(append) {
    const gen = state.gen;
    const id = state.id;
    state.loading = true;
    try {
      const res = await listComments(id, append ? state.next : null);
      if (gen !== state.gen || id !== state.id) return;
      const got = res.comments || [];
      state.comments = append ? state.comments.concat(got.filter((c) => !state.comments.some((x) => x.id === c.id))) : got;
      state.next = res.next ?? null;
    } catch (err) {
      if (gen !== state.gen) return;
      if (!state.removed) showError(error, err, () => loadComments(append));
    } finally {
      if (gen === state.gen) {
        state.loading = false;
        renderComments();
      }
    }
  }

  async function removeComment(c) {
    const ok = await confirmDialog({ id: 'cm-comment-delete-dialog', title: t('community.delete_comment'), text: t('community.delete_comment_text'), confirm: t('action.delete'), danger: true });
    if (!ok) return;
    try {
      await deleteComment(state.id, c);
      state.comments = state.comments.filter((x) => x.id !== c.id);
      render();
      showToast(t('community.comment_deleted'));
    } catch (err) {
      showError(error, err);
    }
  }

  async function submitComment() {
    const text = input.value.trim();
    composerError.hidden = true;
    if (!text) { input.focus(); return; }
    if ([...text].length > COMMENT_MAX_CHARS) return showError(composerError, t('community.comment_too_long', { max: COMMENT_MAX_CHARS }));
    try {
      const c = await addComment(state.id, text, state.replyTo ? state.replyTo.id : null);
      input.value = '';
      state.replyTo = null;
      if (c && !state.comments.some((x) => x.id === c.id)) state.comments.push(c);
      render();
      if (c && c.status === 'screening') showToast(t('community.comment_in_review'));
    } catch (err) {
      showError(composerError, err);
    }
  }

  function openMore() {
    const p = postOf(state.id);
    if (!p) return;
    const mine = isMine(p);
    const d = openDialog({
      id: 'cm-post-menu',
      title: t('community.post_actions'),
      body: el('div', { class: 'cm-menu' },
        p.status === 'published' ? el('button', { type: 'button', class: 'secondary block', id: 'cm-menu-share', text: t('community.share'),
          onclick: () => { d.close(); openShare({ target: 'post', id: p.id, title: p.text || t('community.share_post_of', { name: nickOf(p.author) }) }); } }) : null,
        mine ? el('button', { type: 'button', class: 'danger block', id: 'cm-menu-delete', text: t('community.delete_post'),
          onclick: async () => { d.close(); await removePost(p); } })
          : el('button', { type: 'button', class: 'secondary block', id: 'cm-menu-report', text: t('community.report_post'),
            onclick: () => { d.close(); openReport({ title: t('community.report_post'), subject: t('report.quote', { text: clip(p.text, 60) }), data: { target: 'post', post_id: p.id } }); } })),
      actions: [{ label: t('action.cancel') }],
    });
  }

  async function removePost(p) {
    const ok = await confirmDialog({ id: 'cm-post-delete-dialog', title: t('community.delete_post'), text: t('community.delete_post_text'), confirm: t('action.delete'), danger: true });
    if (!ok) return;
    try {
      await deletePost(p.id);
      showToast(t('community.post_deleted'));
      onBack();
    } catch (err) {
      showError(error, err);
    }
  }

  back.addEventListener('click', onBack);
  more.addEventListener('click', openMore);
  send.addEventListener('click', (e) => busy(e.currentTarget, submitComment));
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); busy(send, submitComment); }
  });
  commentsMore.addEventListener('click', () => loadComments(true));
  const offs = [
    onLocaleChange(() => { if (state.id != null) render(); }),
    onCommunity((kind, data) => {
      if (state.id == null) return;
      if (kind === 'post' && data === state.id) renderPost();
      else if (kind === 'removed' && data === state.id) { state.removed = true; render(); }
      else if (kind === 'decided' && data.kind === 'post_comment') loadComments(false);
      else if (kind === 'comment' && data && data.post_id === state.id && !state.comments.some((x) => x.id === data.id)) {
        state.comments.push(data);
        renderComments();
      }
    }),
  ];

  return {
    open(id) {
      const n = Number(id);
      if (state.id !== n) {
        state.id = n;
        state.comments = [];
        state.next = null;
        state.replyTo = null;
        input.value = '';
        composerError.hidden = true;
      }
      state.removed = isRemoved(n);
      render();
      if (!state.removed) {
        load(n);
        loadComments(false);
      }
    },
    close() {
      state.gen++;
      if (state.id != null) unwatchPost(state.id);
      state.id = null;
    },
    destroy() { for (const off of offs) off(); },
  };
}
