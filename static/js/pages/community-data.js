/**
 * The community's state (docs/protocol.md, "Community (晒宝社区)"), with no DOM: every post this
 * page has seen, by id (so a like or a comment counted in the post view shows in every list that
 * holds the post), the posts that arrived live (`feed.post`), the ones taken away
 * (`feed.post_removed`), the comments the post's author hears of (`feed.comment`), and the
 * community's commands as plain calls.
 *
 *   onCommunity((kind, data) => …);   // kind: 'post' (data: id) 'new' (Post, feed.post) 'created' (own Post) 'removed' (id)
 *                                     //   'comment' (Comment) 'consent' (ConsentRecord) 'follow' ({user_id})
 *                                     //   'decided' (moderation.decided of a post or comment of one's own)
 *   const { posts, next } = await homeFeed({ cursor: null });
 *   postOf(12);                       // the Post as last seen, or null
 *   await likePost(12);
 *
 * The shares (口令, `share.*`) and the discover feed (`feed.discover`) are here too; a server
 * without them answers `unknown_type`, which the pages show like any error.
 *
 * @module pages/community-data
 */
import { getClient } from '/static/js/client.js';
import { CATEGORIES as ROOM_CATEGORIES } from '/static/js/pages/live-data.js';

const client = getClient();

/** A post's categories are a room's. */
export const CATEGORIES = ROOM_CATEGORIES;
export const TEXT_MAX_CHARS = 2000;
export const TAGS_MAX = 5;
export const TAG_MAX_CHARS = 20;
export const PICTURES_MAX = 9;
export const COMMENT_MAX_CHARS = 500;
export const PAGE = 20;
/** The sorts of the discover feed, the default first. */
export const SORTS = Object.freeze(['recommended', 'recent', 'popular']);
/** The consent that personalises the discover feed. */
export const PERSONAL_PERMISSION = 'personalized_recommendation';
/** A share code: 10 of 0-9 A-Z without I L O U, between ￥ signs in a share text. */
export const CODE_RE = /^[0-9A-HJKMNP-TV-Z]{10}$/;

const TRANSIENT = new Set(['network', 'offline', 'timeout', 'disconnected', 'rate_limited', 'unavailable', 'internal', 'http_error']);
/** Failures a retry may change (a wait, the network); permanent refusals are not among them. */
export const isTransient = (err) => !err || !err.code || TRANSIENT.has(err.code);

const posts = new Map(); // id → Post
const removed = new Set(); // ids deleted or taken down while this page ran
const listeners = new Set();
let offs = [];

/** Calls `fn(kind, data)` after every change; returns the function that stops it. */
export function onCommunity(fn) {
  start();
  listeners.add(fn);
  return () => listeners.delete(fn);
}

function emit(kind, data) {
  for (const fn of [...listeners]) {
    try { fn(kind, data); } catch (err) { if (typeof reportError === 'function') reportError(err); }
  }
}

/** Keeps `post` (the newest copy wins) and tells the pages; returns the copy kept. */
export function notePost(post, { quiet = false } = {}) {
  if (!post || post.id == null) return post;
  const had = posts.get(post.id);
  const kept = had ? Object.assign(had, post) : Object.assign({}, post);
  posts.set(kept.id, kept);
  if (!quiet && had) emit('post', kept.id);
  return kept;
}

/** Keeps every post of a page; returns the copies kept, without the ones removed meanwhile. */
export function notePosts(list) {
  return (list || []).filter((p) => p && !removed.has(p.id)).map((p) => notePost(p, { quiet: true }));
}

/** The post as last seen, or null. */
export function postOf(id) {
  return posts.get(Number(id)) || null;
}

/** True when the post was deleted or taken down while this page ran. */
export function isRemoved(id) {
  return removed.has(Number(id));
}

function forget(id) {
  const n = Number(id);
  removed.add(n);
  posts.delete(n);
  emit('removed', n);
}

// ---------------------------------------------------------------- events

// Big authors (merged at read, not fanned out) tell their new posts only to the connections
// that listen (`feed.live`): once per connection, again after every reconnect.
function listenToBigAuthors() {
  client.request('feed.live', {}, { wait: false }).catch(() => {});
}

// Posts a screen shows, watched for their live counts (`post.watch`); watched again after a
// reconnect (a topic's membership ends with its connection).
const watched = new Set();

function onOnline() {
  listenToBigAuthors();
  for (const id of watched) req('post.watch', { post_id: id }).catch(() => {});
}

/** post.watch: the post as now, and its counts live (`feed.counts`) until unwatchPost. */
export async function watchPost(id) {
  const n = Number(id);
  watched.add(n);
  const reply = await req('post.watch', { post_id: n });
  return notePost(reply.post);
}

export function unwatchPost(id) {
  const n = Number(id);
  if (!watched.delete(n)) return;
  req('post.unwatch', { post_id: n }).catch(() => {});
}

function start() {
  if (offs.length) return;
  if (client.state === 'online') listenToBigAuthors();
  offs = [
    client.on('online', onOnline),
    // Aggregated counts of a watched post (at most one a second per node).
    client.on('feed.counts', (d) => {
      const p = d && posts.get(d.post_id);
      if (!p) return;
      Object.assign(p, { likes: d.likes, comments: d.comments, shares: d.shares });
      emit('post', p.id);
    }),
    client.on('feed.post', (d) => {
      const p = d && d.post;
      if (!p || removed.has(p.id)) return;
      emit('new', notePost(p, { quiet: true }));
    }),
    client.on('feed.post_removed', (d) => { if (d && d.post_id != null) forget(d.post_id); }),
    client.on('feed.comment', (d) => {
      const c = d && d.comment;
      if (!c) return;
      const p = posts.get(c.post_id);
      if (p) p.comments = (p.comments || 0) + 1;
      emit('comment', c);
      if (p) emit('post', p.id);
    }),
    client.on('consent.changed', (r) => emit('consent', r)),
    // A moderator published or refused one's held post (ref: its id): read it again, so every
    // list shows its new status; a held comment's post view reads its comments again.
    client.on('moderation.decided', (d) => {
      if (!d) return;
      if (d.kind === 'post' && /^\d+$/.test(String(d.ref || ''))) {
        getPost(Number(d.ref)).catch(() => {});
        emit('decided', d);
      } else if (d.kind === 'post_comment') {
        emit('decided', d);
      }
    }),
  ];
}

const req = (type, data) => client.request(type, data);

// ---------------------------------------------------------------- posts

/** post.create → the Post (`published` or `screening`). */
export async function createPost({ text, media = [], category, tags = [] }) {
  const reply = await req('post.create', { text, media, category, tags });
  const post = notePost(reply.post, { quiet: true });
  emit('created', post);
  return post;
}

/** post.get → the Post (kept). */
export async function getPost(id) {
  const reply = await req('post.get', { post_id: Number(id) });
  return notePost(reply.post);
}

/** post.delete: gone from every list of this page at once (the event follows for the others). */
export async function deletePost(id) {
  const reply = await req('post.delete', { post_id: Number(id) });
  forget(id);
  return reply;
}

/** post.like / post.unlike: the count and `liked` of the kept post follow the reply. */
export async function setLiked(id, liked) {
  const reply = await req(liked ? 'post.like' : 'post.unlike', { post_id: Number(id) });
  const p = posts.get(Number(id));
  if (p) {
    p.liked = !!reply.liked;
    if (reply.likes != null) p.likes = reply.likes;
    emit('post', p.id);
  }
  return reply;
}

/** post.comment → the Comment; a published one counts on the kept post. */
export async function addComment(postId, text, replyTo = null) {
  const data = { post_id: Number(postId), text };
  if (replyTo != null) data.reply_to = replyTo;
  const reply = await req('post.comment', data);
  const c = reply.comment;
  const p = posts.get(Number(postId));
  if (p && c && c.status === 'published') {
    p.comments = (p.comments || 0) + 1;
    emit('post', p.id);
  }
  return c;
}

/** post.comments → `{comments, next}` (oldest first). */
export function listComments(postId, after = null, limit = PAGE) {
  const data = { post_id: Number(postId), limit };
  if (after != null) data.after = after;
  return req('post.comments', data);
}

/** post.comment.delete; a published comment no longer counts on the kept post. */
export async function deleteComment(postId, comment) {
  const reply = await req('post.comment.delete', { comment_id: comment.id });
  const p = posts.get(Number(postId));
  if (p && comment.status === 'published' && p.comments) {
    p.comments -= 1;
    emit('post', p.id);
  }
  return reply;
}

// ---------------------------------------------------------------- feeds and search

async function page(type, data) {
  const reply = await req(type, data);
  return Object.assign({}, reply, { posts: notePosts(reply.posts) });
}

/** feed.home → `{posts, next}` (Cursor paging). */
export function homeFeed({ cursor = null, limit = PAGE } = {}) {
  const data = { limit };
  if (cursor) data.cursor = cursor;
  return page('feed.home', data);
}

/** feed.user → `{posts, next}`. */
export function userFeed(userId, { cursor = null, limit = PAGE } = {}) {
  const data = { user_id: Number(userId), limit };
  if (cursor) data.cursor = cursor;
  return page('feed.user', data);
}

/** feed.discover → `{posts, next_offset, personalized}`. */
export function discoverFeed({ category = null, sort = 'recommended', offset = 0, limit = PAGE } = {}) {
  const data = { sort, offset, limit };
  if (category) data.category = category;
  return page('feed.discover', data);
}

/** post.search → `{posts, next_offset}`. */
export function searchPosts(q, { offset = 0, limit = PAGE } = {}) {
  return page('post.search', { q, offset, limit });
}

/** Users whose nickname holds `q` (GET /api/users?q=…, as people.js): `{users, more}`. */
export function searchUsers(q, { beforeId = null, limit = PAGE } = {}) {
  const params = new URLSearchParams({ q, limit: String(limit) });
  if (beforeId != null) params.set('before_id', String(beforeId));
  return client.api('GET', '/api/users?' + params);
}

// ---------------------------------------------------------------- follows

/** user.profile → `{user_id, followers, following, follows_hidden, followed_by_me, user?}`. */
export const profileOf = (userId) => req('user.profile', { user_id: Number(userId) });

/** user.follow / user.unfollow → `{following, followers}`. */
export async function setFollowing(userId, on) {
  const reply = await req(on ? 'user.follow' : 'user.unfollow', { user_id: Number(userId) });
  emit('follow', { user_id: Number(userId), following: !!reply.following, followers: reply.followers });
  return reply;
}

/** user.followers / user.following → `{users, next}`. */
export function followList(kind, userId, after = null, limit = PAGE) {
  const data = { user_id: Number(userId), limit };
  if (after != null) data.after = after;
  return req(kind === 'followers' ? 'user.followers' : 'user.following', data);
}

/** user.follows_privacy → `{hidden}`. */
export const setFollowsHidden = (hidden) => req('user.follows_privacy', { hidden: !!hidden });

// ---------------------------------------------------------------- shares (口令)

/** share.create → `{code, target, id, expires_at, shares?}`; a post's `shares` count follows the reply. */
export async function createShare(target, id) {
  const reply = await req('share.create', { target, id: Number(id) });
  const p = target === 'post' ? posts.get(Number(id)) : null;
  if (p && reply && reply.shares != null) {
    p.shares = reply.shares;
    emit('post', p.id);
  }
  return reply;
}

/**
 * share.resolve → `{target:'post', post}` | `{target:'room', room}` | `{target:'profile', user, profile}`
 * (a post is kept). `text`: a code or a whole pasted share text (the server finds ￥CODE￥).
 */
export async function resolveShare(text) {
  const reply = await req('share.resolve', { code: text });
  if (reply && reply.target === 'post' && reply.post) reply.post = notePost(reply.post);
  return reply;
}

/** share.revoke → `{revoked: true}`. */
export const revokeShare = (code) => req('share.revoke', { code });

/** share.mine → `{codes, next}`: the caller's live codes. */
export function myShares(after = null, limit = PAGE) {
  const data = { limit };
  if (after != null) data.after = after;
  return req('share.mine', data);
}

/**
 * The code inside a pasted text (￥K7Q2MX9PRT￥, also lower case, with spaces, full-width or
 * half-width ￥/¥), or the text itself when it is a bare code; null when there is none.
 */
export function findCode(text) {
  const s = String(text || '').toUpperCase();
  const m = /[￥¥]\s*([0-9A-Z][0-9A-Z\s]{8,20}[0-9A-Z])\s*[￥¥]/.exec(s);
  const raw = (m ? m[1] : s).replace(/\s+/g, '');
  return CODE_RE.test(raw) ? raw : null;
}

// ---------------------------------------------------------------- consent

/** consent.check of a feature: `{allowed, missing}` (rejects when it cannot be asked). */
export const checkFeature = (feature) => client.request('consent.check', { feature }, { wait: false });

/** Log-out: forgets every post and stops listening. */
export function resetCommunity() {
  watched.clear();
  posts.clear();
  removed.clear();
  for (const off of offs) off();
  offs = [];
  listeners.clear();
}
