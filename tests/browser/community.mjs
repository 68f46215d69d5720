// End-to-end, in a real browser: the 社区 tab (static/js/pages/community*.js, docs/client.md
// "Community pages"). An author posts text with two pictures (the album asked in the page), a
// category and tags; a post with contact details shows 审核中 to its author only; a reader finds
// the post by searching 和田玉, opens it and the author's profile, follows (the count moves, the
// lists show), sees the lists hidden once the author hides them; likes (and takes it back) and
// comments, which reach the author live, who deletes the comment; a new post reaches the
// reader's 关注 feed live and leaves it live when deleted; a share code (口令) is made, copied,
// opened by hand and from the clipboard (the clipboard consent asked in the page before
// reading), and refused once revoked; 发现 says whether it is personalised and switches at once
// when the consent is granted and withdrawn; 390 px without sideways scrolling, a 1280×800
// feed, English, no console errors, no window dialogs. See README.md, "community.mjs".
import {
  makePng, runStamp, Run, env, fail, waitUntil, waitVisible, settle, loginApp, loginConsole, checkNoHorizontalScroll, readMe,
  visibleText, oneLine, WAIT_MS,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const AUTHOR_PHONE = env('DUOXIE_AUTHOR_PHONE');
const READER_PHONE = env('DUOXIE_READER_PHONE');
const MODERATOR_PHONE = env('DUOXIE_MODERATOR_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });

const run = new Run({ artifacts: ARTIFACTS, overallMs: 180000 });
const stamp = runStamp();
const POST_TEXT = `新疆和田玉籽料手镯${stamp}，油润细腻，皮色自然`;
const HELD_TEXT = `出一只翡翠手镯${stamp}，加我微信 jade888 看实物`;
const LIVE_TEXT = `今天新到的南红${stamp}`;
const COMMENT = `种水真好${stamp}`;
const CODE_RE = /￥([0-9A-HJKMNP-TV-Z]{10})￥/;

// The two pictures (lib.mjs): green stripes and a red check.
const png1 = () => makePng({ width: 40, rgb: [46, 125, 91], ink: (x, y) => (x * 2 + y) % 7 !== 0 });
const png2 = () => makePng({ width: 44, rgb: [178, 60, 40], paper: [250, 240, 230], ink: (x, y) => ((x >> 2) + (y >> 2)) % 2 === 0 });

const text = (page, sel) => page.locator(sel).first().innerText().catch(() => '');
const card = (page, list, id) => page.locator(`${list} li.cm-post[data-post-id="${id}"]`);
const countOf = async (page, sel) => Number(await page.locator(sel).first().getAttribute('data-count'));

async function noScroll(entry, where) {
  await settle(entry.page);
  await checkNoHorizontalScroll(entry.page, where);
}

// The reply of the first `type` command sent after `mark` (matching `pred` on its data).
async function replyOf(entry, type, mark, pred = () => true, what = type) {
  const r = await waitUntil(`the ${what} reply on the ${entry.label}'s page`,
    () => entry.ws.requests.slice(mark).find((q) => q.type === type && q.reply && pred(q.data)));
  return r.reply;
}
async function okReply(entry, type, mark, pred, what) {
  const reply = await replyOf(entry, type, mark, pred, what);
  if (!reply.ok) fail(`${what || type} was refused: ${JSON.stringify(reply.error)}`);
  return reply.data;
}

const tokenOf = (page) => page.evaluate(() => localStorage.getItem('duoxie.token'));

async function api(method, path, token, body) {
  const res = await fetch(BASE + path, {
    method, headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  return { status: res.status, json };
}

// Withdraws `permissions` that are granted (an account used before keeps its grants).
async function withdraw(token, permissions) {
  const cs = await api('GET', '/api/me/consents', token);
  for (const p of permissions) {
    const c = (cs.json.current || []).find((x) => x.permission === p);
    if (c && c.granted) {
      const r = await api('POST', '/api/me/consents', token, { permission: p, granted: false });
      if (r.status !== 200) fail(`withdrawing ${p} answered ${r.status} ${oneLine(JSON.stringify(r.json))}`);
    }
  }
}

async function openCommunity(entry) {
  const { page } = entry;
  await page.locator('#tab-btn-community').click();
  await waitVisible(page.locator('#cm-feeds'), `the 社区 feeds on the ${entry.label}'s page`);
}

async function go(entry, view, sel) {
  await entry.page.evaluate((v) => { location.hash = '#/community/' + v; }, view);
  await waitVisible(entry.page.locator(sel), `${sel} on the ${entry.label}'s page`);
}

// Visible Chinese in `root`, outside what users wrote (posts, names, tags) and 《》 titles.
async function chineseIn(page, root) {
  return page.evaluate((sel) => {
    const box = document.querySelector(sel);
    if (!box) return ['(no ' + sel + ')'];
    const user = '.cm-post-text, .cm-author-name, .cm-hash, .cm-comment-text, .cm-comment-name, .cm-profile-name, .user-name, .avatar, .clip, #cm-profile-heading, textarea, .cm-comment-quote';
    const out = [];
    const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (!p || !p.getClientRects().length || p.closest(user)) continue;
      const s = n.textContent.replace(/《[^》]*》/g, '');
      if (/[\u3400-\u9fff]/.test(s)) out.push(s.trim().slice(0, 60));
    }
    for (const n of box.querySelectorAll('[aria-label], [placeholder]')) {
      if (!n.getClientRects().length || n.closest('.cm-comment-quote')) continue;
      for (const a of ['aria-label', 'placeholder']) {
        const v = n.getAttribute(a) || '';
        // An aria-label may name a user ("Open the profile of 用户3"): only the words around it count.
        const words = v.replace(/of .*$/, '');
        if (/[\u3400-\u9fff]/.test(words)) out.push(`${a}=${v}`);
      }
    }
    return out;
  }, root);
}

await run.main('community', async () => {
  const author = await run.newPhonePage('author');
  const reader = await run.newPhonePage('reader');
  const ap = author.page;
  const rp = reader.page;
  for (const e of [author, reader]) await e.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
  let authorMe;
  let readerMe;
  let authorToken;
  let readerToken;

  await run.step('0. author and reader log in; the album, clipboard and personalisation consents start withdrawn', async () => {
    await loginApp(author, BASE, AUTHOR_PHONE);
    await loginApp(reader, BASE, READER_PHONE);
    authorMe = await readMe(ap);
    readerMe = await readMe(rp);
    authorToken = await tokenOf(ap);
    readerToken = await tokenOf(rp);
    await withdraw(authorToken, ['photo_album', 'clipboard']);
    await withdraw(readerToken, ['clipboard', 'personalized_recommendation']);
    await openCommunity(author);
    await openCommunity(reader);
    if (!/社区/.test(await text(ap, '#cm-title'))) fail(`the tab's title says "${await text(ap, '#cm-title')}"`);
    if ((await ap.locator('#cm-tab-home').getAttribute('aria-selected')) !== 'true') fail('关注 is not the selected sub-tab');
  });
  await run.check('0a. the 关注 feed: no horizontal scroll at 390 px', () => noScroll(reader, 'the 关注 feed'));

  let postId;
  await run.step('1. the author posts text, two pictures (the album asked in the page), 和田玉 and two tags: published, in the feed', async () => {
    await ap.locator('#cm-compose-btn').click();
    await waitVisible(ap.locator('#cm-compose-dialog'), 'the composer');
    await ap.locator('#cm-compose-text').fill(POST_TEXT);
    await ap.locator('#cm-compose-file').setInputFiles([
      { name: 'bangle-1.png', mimeType: 'image/png', buffer: png1() },
      { name: 'bangle-2.png', mimeType: 'image/png', buffer: png2() },
    ]);
    await waitVisible(ap.locator('#cm-album-dialog'), 'the in-page album permission dialog');
    await noScroll(author, 'the album dialog');
    await ap.locator('#cm-album-allow').click();
    await waitUntil('both pictures uploaded and approved', async () =>
      (await ap.locator('#cm-compose-photos li.cm-compose-photo[data-status="approved"]').count()) === 2,
    { describe: () => visibleText(ap, '#cm-compose-dialog') });
    await ap.locator('#cm-compose-cat-nephrite').check();
    await ap.locator('#cm-compose-tags').fill('#和田玉 籽料');
    await noScroll(author, 'the composer with two pictures');
    await run.screenshot(author, 'composer');
    const mark = author.ws.mark();
    await ap.locator('#cm-compose-ok').click();
    const data = await okReply(author, 'post.create', mark, (d) => d.text === POST_TEXT);
    const sent = author.ws.requests.slice(mark).find((q) => q.type === 'post.create');
    if ((sent.data.media || []).length !== 2) fail(`post.create carried ${JSON.stringify(sent.data.media)}, not two uploads`);
    if (sent.data.category !== 'nephrite' || JSON.stringify(sent.data.tags) !== JSON.stringify(['和田玉', '籽料'])) {
      fail(`post.create carried category ${sent.data.category} and tags ${JSON.stringify(sent.data.tags)}`);
    }
    if (data.post.status !== 'published') fail(`the post is ${data.post.status}, not published`);
    postId = data.post.id;
    await waitVisible(ap.locator('#cm-compose-dialog'), 'the composer to close', { state: 'hidden' });
    const c = card(ap, '#cm-home-list', postId);
    await waitVisible(c, 'the new post in the author\'s 关注 feed');
    if (!(await c.innerText()).includes(POST_TEXT.slice(0, 12))) fail('the card does not show the text');
    if (await c.locator('.cm-status').count()) fail(`the published post is tagged "${await c.locator('.cm-status').innerText()}"`);
    await waitUntil('two pictures drawn on the card', async () => (await c.locator('.cm-photos img.photo[src]').count()) === 2);
    if (!/和田玉/.test(await c.locator('.cm-cat').innerText())) fail('the card does not show the category 和田玉');
    if ((await c.locator('.cm-hash').count()) !== 2) fail('the card does not show the two tags');
    await run.screenshot(author, 'feed-posted');
  });

  let heldId;
  await run.step('1b. a post with contact details (加我微信 jade888) and a picture: 审核中 on the author\'s card', async () => {
    await ap.locator('#cm-compose-btn').click();
    await waitVisible(ap.locator('#cm-compose-dialog'), 'the composer');
    await ap.locator('#cm-compose-text').fill(HELD_TEXT);
    // The album was granted in step 1: no dialog this time.
    await ap.locator('#cm-compose-file').setInputFiles([{ name: 'held.png', mimeType: 'image/png', buffer: png2() }]);
    await waitUntil('the picture uploaded and approved', async () =>
      (await ap.locator('#cm-compose-photos li.cm-compose-photo[data-status="approved"]').count()) === 1,
    { describe: () => visibleText(ap, '#cm-compose-dialog') });
    const mark = author.ws.mark();
    await ap.locator('#cm-compose-ok').click();
    const data = await okReply(author, 'post.create', mark, (d) => d.text === HELD_TEXT);
    if (data.post.status !== 'screening') fail(`a post with a WeChat id is ${data.post.status}, not screening`);
    heldId = data.post.id;
    const c = card(ap, '#cm-home-list', heldId);
    await waitVisible(c, 'the held post in the author\'s feed');
    if (!/审核中/.test(await c.locator('.cm-status').innerText().catch(() => ''))) fail('the held post is not tagged 审核中');
    if (!(await c.locator('.cm-like').isDisabled())) fail('a held post can be liked');
  });

  await run.step('2. the reader searches 和田玉 and finds the post; opens it', async () => {
    await rp.locator('#cm-search-btn').click();
    await waitVisible(rp.locator('#cm-search-view'), 'the search view');
    const mark = reader.ws.mark();
    await rp.locator('#cm-search-input').fill('和田玉');
    await rp.locator('#cm-search-input').press('Enter');
    await okReply(reader, 'post.search', mark, (d) => d.q === '和田玉');
    const c = card(rp, '#cm-search-posts', postId);
    await waitVisible(c, 'the author\'s post among the results', { timeout: WAIT_MS });
    if (await card(rp, '#cm-search-posts', heldId).count()) fail('the held post is found by the reader');
    await noScroll(reader, 'the search results');
    await run.screenshot(reader, 'search');
    await c.locator('.cm-post-body').click();
    await waitVisible(rp.locator('#cm-post-view #cm-post'), 'the post view');
    await waitUntil('the post view to show the whole text', async () => (await text(rp, '#cm-post-text')).includes(POST_TEXT));
    await waitUntil('both pictures in the post view', async () => (await rp.locator('#cm-post .cm-photos img.photo[src]').count()) === 2);
  });
  await run.check('2a. the post view: no horizontal scroll at 390 px', () => noScroll(reader, 'the post view'));

  await run.step('2b. the reader opens the author\'s profile (nickname, counts, posts without the held one) and follows: the count moves', async () => {
    await rp.locator('#cm-post-author').click();
    await waitVisible(rp.locator('#cm-profile'), 'the author\'s profile');
    await waitUntil('the nickname on the profile', async () => (await text(rp, '#cm-profile-name')) === authorMe.nickname,
      { describe: () => text(rp, '#cm-profile-name') });
    await waitVisible(card(rp, '#cm-profile-posts', postId), 'the post on the author\'s profile');
    if (await card(rp, '#cm-profile-posts', heldId).count()) fail('the reader sees the held post on the author\'s profile');
    const before = await countOf(rp, '#cm-followers-btn');
    if ((await rp.locator('#cm-follow-btn').getAttribute('aria-pressed')) !== 'false') fail('the reader already follows the author');
    const mark = reader.ws.mark();
    await rp.locator('#cm-follow-btn').click();
    await okReply(reader, 'user.follow', mark);
    await waitUntil('已关注 and the follower count up by one', async () =>
      (await rp.locator('#cm-follow-btn').getAttribute('aria-pressed')) === 'true' && (await countOf(rp, '#cm-followers-btn')) === before + 1,
    { describe: async () => `${await text(rp, '#cm-follow-btn')} / ${await countOf(rp, '#cm-followers-btn')}` });
    if (!/已关注/.test(await text(rp, '#cm-follow-btn'))) fail(`the button says "${await text(rp, '#cm-follow-btn')}"`);
    await noScroll(reader, 'the profile');
    await run.screenshot(reader, 'profile');
  });

  await run.step('2c. the follower list shows the reader; the reader\'s own following list shows the author', async () => {
    await rp.locator('#cm-followers-btn').click();
    await waitVisible(rp.locator(`#cm-users-list li.cm-user[data-user-id="${readerMe.id}"]`), 'the reader in the author\'s followers');
    await noScroll(reader, 'the follower list');
    await rp.locator('#cm-users-back').click();
    await waitVisible(rp.locator('#cm-profile'), 'the profile again');
    await go(reader, 'following:' + readerMe.id, '#cm-users-view');
    await waitVisible(rp.locator(`#cm-users-list li.cm-user[data-user-id="${authorMe.id}"]`), 'the author in the reader\'s following');
    if (!/我的关注/.test(await text(rp, '#cm-users-heading'))) fail(`the list is titled "${await text(rp, '#cm-users-heading')}"`);
  });

  await run.step('2d. the author hides their follows (own profile switch); the reader sees them hidden', async () => {
    await ap.locator('#cm-mine-btn').click();
    await waitVisible(ap.locator('#cm-hide-follows'), 'the author\'s own profile with the privacy switch');
    if (await ap.locator('#cm-follow-btn').count() && await ap.locator('#cm-follow-btn').isVisible()) fail('关注 is offered on one\'s own profile');
    const mark = author.ws.mark();
    await ap.locator('#cm-hide-follows').check();
    const d = await okReply(author, 'user.follows_privacy', mark);
    if (d.hidden !== true) fail(`user.follows_privacy answered ${JSON.stringify(d)}`);
    await go(reader, 'user:' + authorMe.id, '#cm-profile');
    await waitVisible(rp.locator('#cm-follows-hidden'), 'TA隐藏了关注和粉丝列表 on the author\'s profile');
    await rp.locator('#cm-followers-btn').click();
    await waitVisible(rp.locator('#cm-users-hidden'), 'the hidden-lists note instead of the followers');
    if (await rp.locator('#cm-users-list li').count()) fail('the reader still sees a follower list');
    await rp.locator('#cm-users-back').click();
    await waitVisible(rp.locator('#cm-profile'), 'the profile again');
  });

  await run.step('3. the reader likes the post (the count moves), takes it back, and comments', async () => {
    // The author watches the post, to hear of the comment.
    await go(author, 'post:' + postId, '#cm-post-view #cm-post');
    await card(rp, '#cm-profile-posts', postId).locator('.cm-post-body').click();
    await waitVisible(rp.locator('#cm-like-btn'), 'the like button');
    const likes = await countOf(rp, '#cm-like-btn');
    await rp.locator('#cm-like-btn').click();
    await waitUntil('liked, the count up by one', async () =>
      (await rp.locator('#cm-like-btn').getAttribute('aria-pressed')) === 'true' && (await countOf(rp, '#cm-like-btn')) === likes + 1);
    // The author's open post watches its counts (post.watch): the like arrives live, aggregated.
    await waitUntil('feed.counts with the like on the author\'s page', () =>
      author.ws.events.find((e) => e.type === 'feed.counts' && e.data.post_id === postId && e.data.likes === likes + 1));
    await waitUntil('the like count on the author\'s open post', async () => (await countOf(ap, '#cm-like-btn')) === likes + 1);
    await rp.locator('#cm-like-btn').click();
    await waitUntil('unliked, the count back', async () =>
      (await rp.locator('#cm-like-btn').getAttribute('aria-pressed')) === 'false' && (await countOf(rp, '#cm-like-btn')) === likes);
    const mark = reader.ws.mark();
    await rp.locator('#cm-comment-input').fill(COMMENT);
    await rp.locator('#cm-comment-send').click();
    const d = await okReply(reader, 'post.comment', mark);
    if (d.comment.status !== 'published') fail(`the comment is ${d.comment.status}`);
    await waitVisible(rp.locator('#cm-comments li.cm-comment').filter({ hasText: COMMENT }), 'the comment on the reader\'s page');
    if (await rp.locator('#cm-comments li.cm-comment').filter({ hasText: COMMENT }).locator('.cm-comment-report').count()) fail('举报 is offered on one\'s own comment');
    await noScroll(reader, 'the post with a comment');
  });

  await run.step('3a. the author sees the comment live (feed.comment) with the count, and deletes it', async () => {
    await waitUntil('feed.comment on the author\'s page', () => author.ws.events.find((e) => e.type === 'feed.comment'));
    const row = ap.locator('#cm-comments li.cm-comment').filter({ hasText: COMMENT });
    await waitVisible(row, 'the reader\'s comment on the author\'s open post');
    await waitUntil('the comment count 1 on the author\'s page', async () => (await countOf(ap, '#cm-post-comments')) === 1);
    await run.screenshot(author, 'comment-arrived');
    await row.locator('.cm-comment-delete').click();
    await waitVisible(ap.locator('#cm-comment-delete-dialog'), 'the delete confirmation');
    const mark = author.ws.mark();
    await ap.locator('#cm-comment-delete-dialog #confirm-ok').click();
    await okReply(author, 'post.comment.delete', mark);
    await waitVisible(row, 'the comment to go', { state: 'detached' });
    await waitUntil('the comment count 0', async () => (await countOf(ap, '#cm-post-comments')) === 0);
  });

  let liveId;
  await run.step('4. with the reader on 关注, the author posts: the post arrives live (feed.post)', async () => {
    await openCommunity(reader);
    await waitVisible(card(rp, '#cm-home-list', postId), 'the followed author\'s post in the reader\'s 关注 feed');
    // The connection listens to big authors' new posts (merged at read, not fanned out).
    await waitUntil('feed.live answered on the reader\'s connection', () =>
      reader.ws.requests.find((q) => q.type === 'feed.live' && q.reply && q.reply.ok));
    if (await card(rp, '#cm-home-list', heldId).count()) fail('the held post is in the reader\'s feed');
    await openCommunity(author);
    await ap.locator('#cm-compose-btn').click();
    await waitVisible(ap.locator('#cm-compose-dialog'), 'the composer');
    await ap.locator('#cm-compose-text').fill(LIVE_TEXT);
    const mark = author.ws.mark();
    await ap.locator('#cm-compose-ok').click();
    liveId = (await okReply(author, 'post.create', mark, (d) => d.text === LIVE_TEXT)).post.id;
    await waitUntil('feed.post on the reader\'s page', () => reader.ws.events.find((e) => e.type === 'feed.post' && e.data.post.id === liveId));
    await waitVisible(card(rp, '#cm-home-list', liveId), 'the new post on top of the reader\'s feed (no reload)');
    const first = await rp.locator('#cm-home-list li.cm-post').first().getAttribute('data-post-id');
    if (Number(first) !== liveId) fail(`the first card is post ${first}, not the new ${liveId}`);
  });

  await run.step('4a. the author deletes it (⋯ › 删除帖子): it leaves the reader\'s screen live (feed.post_removed)', async () => {
    await card(ap, '#cm-home-list', liveId).locator('.cm-post-body').click();
    await waitVisible(ap.locator('#cm-post-more'), 'the post view\'s ⋯');
    await ap.locator('#cm-post-more').click();
    await waitVisible(ap.locator('#cm-menu-delete'), '删除帖子 in the post menu');
    await ap.locator('#cm-menu-delete').click();
    await waitVisible(ap.locator('#cm-post-delete-dialog'), 'the delete confirmation');
    await ap.locator('#cm-post-delete-dialog #confirm-ok').click();
    await waitUntil('feed.post_removed on the reader\'s page', () => reader.ws.events.find((e) => e.type === 'feed.post_removed' && e.data.post_id === liveId));
    await waitVisible(card(rp, '#cm-home-list', liveId), 'the deleted post to leave the reader\'s feed', { state: 'detached' });
    await waitVisible(card(ap, '#cm-home-list', liveId), 'the deleted post to leave the author\'s feed', { state: 'detached' });
  });

  await run.step('4b. a moderator publishes the held post: 审核中 goes from the author\'s card live, and the post reaches the reader\'s 关注', async () => {
    const mod = await run.newPhonePage('moderator');
    await loginConsole(mod, BASE, MODERATOR_PHONE);
    // The console's own queue: the post's card, claimed and published (通过).
    const mp = mod.page;
    const item = mp.locator('#queue article.item[data-kind="post"]').filter({ hasText: HELD_TEXT });
    await waitVisible(item, 'the held post\'s card (社区帖子) in the console queue').catch(async (err) => {
      fail(err.message + ' — queue: ' + (await mp.locator('#queue article').allInnerTexts()).join(' || '));
    });
    // The post's picture beside its text, as its readers would see it.
    await waitUntil('the held post\'s picture drawn on its console card', async () =>
      (await item.locator('.attached-media .media-box img[src^="blob:"]').count()) === 1);
    await item.getByRole('button', { name: /认领/ }).click();
    await waitVisible(item.locator('.decide button.approve'), 'the decision form of the claimed post');
    await item.locator('.decide button.approve').click();
    await waitVisible(item, 'the decided post to leave the queue', { state: 'detached' });
    const c = card(ap, '#cm-home-list', heldId);
    await waitUntil('the author\'s card of the held post published (no 审核中)', async () =>
      (await c.getAttribute('data-status')) === 'published' && !(await c.locator('.cm-status').count()),
    { describe: () => c.innerText() });
    await waitUntil('通过审核 said to the author', async () => /通过审核/.test(await text(ap, '#toast')));
    await waitUntil('feed.post of the approved post on the reader\'s page', () =>
      reader.ws.events.find((e) => e.type === 'feed.post' && e.data.post.id === heldId));
    await waitVisible(card(rp, '#cm-home-list', heldId), 'the approved post in the reader\'s feed, without a reload');
    await mod.page.close();
  });

  let shareText;
  let code;
  await run.step('5. the author makes a 口令 for the post: the text with ￥CODE￥ is shown and copied', async () => {
    await card(ap, '#cm-home-list', postId).locator('.cm-post-body').click();
    await waitVisible(ap.locator('#cm-post-share'), '分享 on the post');
    const mark = author.ws.mark();
    await ap.locator('#cm-post-share').click();
    await waitVisible(ap.locator('#cm-share-dialog'), 'the share dialog');
    const d = await okReply(author, 'share.create', mark);
    if (d.target !== 'post' || d.id !== postId) fail(`share.create answered ${JSON.stringify(d)}`);
    await waitVisible(ap.locator('#cm-share-text'), 'the share text');
    shareText = await ap.locator('#cm-share-text').inputValue();
    const m = CODE_RE.exec(shareText);
    if (!m || m[1] !== d.code) fail(`the share text "${shareText}" does not hold ￥${d.code}￥`);
    if (!/^【多些】/.test(shareText)) fail(`the share text "${shareText}" does not follow the pattern`);
    code = m[1];
    await ap.locator('#cm-share-copy').click();
    await waitUntil('已复制', async () => /已复制/.test(await text(ap, '#toast')));
    const copied = await ap.evaluate(() => navigator.clipboard.readText());
    if (copied !== shareText) fail(`the clipboard holds "${copied}"`);
    await noScroll(author, 'the share dialog');
    await run.screenshot(author, 'share');
    await ap.keyboard.press('Escape');
    await waitVisible(ap.locator('#cm-share-dialog'), 'the share dialog to close', { state: 'hidden' });
  });

  await run.step('5a. the reader pastes the text into the 口令 field and lands on the post', async () => {
    await openCommunity(reader);
    await rp.locator('#cm-share-btn').click();
    await waitVisible(rp.locator('#cm-code-input'), 'the 口令 view');
    await noScroll(reader, 'the 口令 view');
    await rp.locator('#cm-code-input').fill(shareText);
    const mark = reader.ws.mark();
    await rp.locator('#cm-code-open').click();
    const d = await okReply(reader, 'share.resolve', mark);
    if (d.target !== 'post' || !d.post || d.post.id !== postId) fail(`share.resolve answered ${oneLine(JSON.stringify(d))}`);
    await waitUntil('the reader on the shared post', async () =>
      (await rp.locator('#cm-post-view').isVisible()) && Number(await rp.locator('#cm-post').getAttribute('data-post-id')) === postId);
  });

  await run.step('5b. 粘贴口令: the clipboard consent is asked in the page before anything is read; then the post opens', async () => {
    await rp.evaluate((s) => navigator.clipboard.writeText(s), shareText);
    await rp.evaluate(() => {
      window.__cmReads = 0;
      const orig = navigator.clipboard.readText.bind(navigator.clipboard);
      navigator.clipboard.readText = () => { window.__cmReads += 1; return orig(); };
    });
    await go(reader, 'share', '#cm-code-paste');
    await rp.locator('#cm-code-input').fill('');
    await rp.locator('#cm-code-paste').click();
    await waitVisible(rp.locator('#cm-clipboard-dialog'), 'the in-page clipboard permission dialog');
    if (await rp.evaluate(() => window.__cmReads)) fail('the clipboard was read before the consent was given');
    await noScroll(reader, 'the clipboard dialog');
    await run.screenshot(reader, 'clipboard-ask');
    const mark = reader.ws.mark();
    await rp.locator('#cm-clipboard-allow').click();
    await okReply(reader, 'share.resolve', mark);
    await waitUntil('the reader on the shared post again', async () =>
      (await rp.locator('#cm-post-view').isVisible()) && Number(await rp.locator('#cm-post').getAttribute('data-post-id')) === postId);
    if ((await rp.evaluate(() => window.__cmReads)) !== 1) fail(`the clipboard was read ${await rp.evaluate(() => window.__cmReads)} times`);
    const cs = await api('GET', '/api/me/consents', readerToken);
    if (!(cs.json.current || []).find((c) => c.permission === 'clipboard' && c.granted)) fail('the clipboard grant is not in the ledger');
  });

  await run.step('5c. the author revokes the code (我的口令 › 撤销); the reader\'s 打开 says 口令无效或已失效', async () => {
    await go(author, 'share', '#cm-code-input');
    const item = ap.locator(`#cm-codes li.cm-code-item[data-code="${code}"]`);
    await waitVisible(item, 'the code under 我的口令');
    const mark = author.ws.mark();
    await item.locator('.cm-code-revoke').click();
    await waitVisible(ap.locator('#cm-revoke-dialog'), 'the revoke confirmation');
    await ap.locator('#cm-revoke-dialog #confirm-ok').click();
    await okReply(author, 'share.revoke', mark);
    await waitVisible(item, 'the revoked code to leave the list', { state: 'detached' });
    await go(reader, 'share', '#cm-code-input');
    await rp.locator('#cm-code-input').fill(shareText);
    const rmark = reader.ws.mark();
    await rp.locator('#cm-code-open').click();
    const r = await replyOf(reader, 'share.resolve', rmark);
    if (r.ok || r.error.code !== 'share_code_invalid') fail(`share.resolve of a revoked code answered ${JSON.stringify(r)}`);
    await waitUntil('口令无效或已失效 under the field', async () => /口令无效或已失效/.test(await text(rp, '#cm-code-error')),
      { describe: () => text(rp, '#cm-code-error') });
    if (await rp.locator('#cm-post-view').isVisible()) fail('a revoked code still opened the post');
  });

  await run.check('5d. a 口令 of the author\'s profile (分享 on the profile) opens the profile on the reader\'s page', async () => {
    await go(author, 'user:' + authorMe.id, '#cm-profile-share');
    const mark = author.ws.mark();
    await ap.locator('#cm-profile-share').click();
    const d = await okReply(author, 'share.create', mark);
    if (d.target !== 'profile' || d.id !== authorMe.id) fail(`share.create answered ${JSON.stringify(d)}`);
    await waitVisible(ap.locator('#cm-share-text'), 'the profile\'s share text');
    const words = await ap.locator('#cm-share-text').inputValue();
    if (!words.includes('￥' + d.code + '￥')) fail(`the share text "${words}" does not hold the code`);
    await ap.keyboard.press('Escape');
    await waitVisible(ap.locator('#cm-share-dialog'), 'the share dialog to close', { state: 'hidden' });
    await go(reader, 'share', '#cm-code-input');
    // Typed by hand, in lower case with a space: the server finds the code all the same.
    await rp.locator('#cm-code-input').fill(d.code.slice(0, 5).toLowerCase() + ' ' + d.code.slice(5).toLowerCase());
    const rmark = reader.ws.mark();
    await rp.locator('#cm-code-open').click();
    const r = await okReply(reader, 'share.resolve', rmark);
    if (r.target !== 'profile' || !r.user || r.user.id !== authorMe.id) fail(`share.resolve answered ${oneLine(JSON.stringify(r))}`);
    await waitVisible(rp.locator('#cm-profile'), 'the author\'s profile on the reader\'s page');
    await waitUntil('the author\'s nickname on it', async () => (await text(rp, '#cm-profile-name')) === authorMe.nickname);
  });

  await run.step('6. 发现 without the consent: not personalised; granting it in the page: personalised', async () => {
    await openCommunity(reader);
    const mark = reader.ws.mark();
    await rp.locator('#cm-tab-discover').click();
    const d = await okReply(reader, 'feed.discover', mark);
    if (d.personalized !== false) fail(`feed.discover without the consent answered personalized ${d.personalized}`);
    await waitUntil('the line says not personalised', async () =>
      (await rp.locator('#cm-discover-line').getAttribute('data-personalized')) === 'false' && /个性化推荐已关闭/.test(await text(rp, '#cm-discover-line')));
    await waitVisible(rp.locator('#cm-cat-nephrite'), 'the category chips');
    await noScroll(reader, 'the 发现 feed');
    await run.screenshot(reader, 'discover-off');
    const gmark = reader.ws.mark();
    await rp.locator('#cm-personal-on').click();
    await waitVisible(rp.locator('#cm-personal-dialog'), 'the in-page personalisation consent');
    await rp.locator('#cm-personal-allow').click();
    const g = await okReply(reader, 'feed.discover', gmark);
    if (g.personalized !== true) fail(`feed.discover after the grant answered personalized ${g.personalized}`);
    await waitUntil('the line says personalised', async () =>
      (await rp.locator('#cm-discover-line').getAttribute('data-personalized')) === 'true' && /根据你的兴趣推荐/.test(await text(rp, '#cm-discover-line')));
  });

  await run.step('6a. the consent withdrawn (another session, as from 我的 › 隐私): 发现 switches back at once, without a reload', async () => {
    const mark = reader.ws.mark();
    const nav = await rp.evaluate(() => performance.getEntriesByType('navigation').length + ':' + performance.timeOrigin);
    const r = await api('POST', '/api/me/consents', readerToken, { permission: 'personalized_recommendation', granted: false });
    if (r.status !== 200) fail(`withdrawing answered ${r.status}`);
    await waitUntil('consent.changed on the reader\'s page', () => reader.ws.events.find((e) => e.type === 'consent.changed' && e.data.permission === 'personalized_recommendation' && !e.data.granted));
    const d = await okReply(reader, 'feed.discover', mark);
    if (d.personalized !== false) fail(`feed.discover after the withdrawal answered personalized ${d.personalized}`);
    await waitUntil('the line says not personalised again', async () =>
      (await rp.locator('#cm-discover-line').getAttribute('data-personalized')) === 'false');
    if (nav !== await rp.evaluate(() => performance.getEntriesByType('navigation').length + ':' + performance.timeOrigin)) fail('the page was reloaded');
  });

  await run.check('6b. 发现 by category 和田玉 and sort 最新 lists the post', async () => {
    const mark = reader.ws.mark();
    await rp.locator('#cm-cat-nephrite').click();
    await okReply(reader, 'feed.discover', mark, (x) => x.category === 'nephrite');
    const m2 = reader.ws.mark();
    await rp.locator('#cm-sort-recent').click();
    await okReply(reader, 'feed.discover', m2, (x) => x.sort === 'recent' && x.category === 'nephrite');
    await waitVisible(card(rp, '#cm-discover-list', postId), 'the post under 和田玉 · 最新');
    if (!(await rp.locator('#cm-discover-line').isHidden())) fail('the personalisation line shows for 最新');
  });

  await run.check('7. English: the feed, the post, the profile and the 口令 view show no Chinese but what users wrote; back to Chinese', async () => {
    await rp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('en'); });
    await waitUntil('the sub-tabs in English', async () => /Following/.test(await text(rp, '#cm-tab-home')));
    const feed = await chineseIn(rp, '#cm-feeds');
    await noScroll(reader, 'the English 发现 feed');
    await go(reader, 'post:' + postId, '#cm-post');
    await waitUntil('the post view in English', async () => /Comments/.test(await text(rp, '#cm-comments-title')));
    const post = await chineseIn(rp, '#cm-post-view');
    await run.screenshot(reader, 'post-en');
    await go(reader, 'user:' + authorMe.id, '#cm-profile');
    await waitUntil('the profile in English', async () => /Followers/.test(await text(rp, '#cm-followers-btn')));
    const profile = await chineseIn(rp, '#cm-profile-view');
    await go(reader, 'share', '#cm-code-input');
    await waitUntil('the 口令 view in English', async () => /Paste code/.test(await text(rp, '#cm-code-paste')));
    const share = await chineseIn(rp, '#cm-share-view');
    await noScroll(reader, 'the English 口令 view');
    await go(reader, 'post:' + postId, '#cm-post');
    await rp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('zh-CN'); });
    await waitUntil('Chinese again', async () => /评论/.test(await text(rp, '#cm-comments-title')));
    const left = [...feed, ...post, ...profile, ...share];
    if (left.length) fail(`Chinese left: ${left.slice(0, 6).join(' | ')}`);
  });

  await run.check('7a. a 1280×800 window: the 关注 feed, no horizontal scroll (the author\'s second device)', async () => {
    const desk = await run.newDesktopPage('desktop');
    await desk.page.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await desk.page.evaluate((tk) => localStorage.setItem('duoxie.token', tk), authorToken);
    // Another address than the first (a query), so that this is a new document, not a hash change.
    await desk.page.goto(BASE + '/?desk=1#/community/home', { waitUntil: 'domcontentloaded' });
    await waitVisible(card(desk.page, '#cm-home-list', postId), 'the post in the desktop 关注 feed');
    await noScroll(desk, 'the desktop 关注 feed');
    const box = await desk.page.locator('#cm-feeds').boundingBox();
    if (!box || box.width > 760) fail(`the feed column is ${box && Math.round(box.width)} px wide at 1280`);
    await run.screenshot(desk, 'feed');
  });

  await run.check('8. no window dialog on any page', async () => {
    const all = run.pages.flatMap((e) => e.dialogs.map((d) => `${e.label}: ${d}`));
    if (all.length) fail(all.join('; '));
  });

  await run.check('9. no console errors, page errors or failed requests on any page', async () => {
    const all = run.pages.flatMap((e) => e.errors.map((x) => `${e.label}: ${x}`));
    if (all.length) fail(all.slice(0, 10).join(' | '));
  });
});
