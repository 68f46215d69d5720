// End-to-end, in a real browser: the 直播 tab (docs/live.md). The host (an appraiser) creates a
// room in the UI and goes live; two viewers find it in the list and open it; a comment and likes
// reach the other pages live; a dropped connection recovers the comments it missed; a pinned
// notice shows; a viewer reports another's comment and the room (举报); the host mutes, kicks and
// bans from the comment stream, each felt at once on the viewer's page (and a kicked or banned viewer cannot come back, even after a reload); the host
// ends the room; the list and the room page on a desktop window; no horizontal scroll at 390 px,
// no console errors, no window dialogs. See README.md.
import { makePng, runStamp,
  Run, env, fail, waitUntil, waitVisible, settle, loginApp, checkNoHorizontalScroll, readMe, visibleText, waitConnected,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const HOST_PHONE = env('DUOXIE_HOST_PHONE');
const VIEWER1_PHONE = env('DUOXIE_VIEWER1_PHONE');
const VIEWER2_PHONE = env('DUOXIE_VIEWER2_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });

const run = new Run({ artifacts: ARTIFACTS, overallMs: 480000 });
const stamp = runStamp();
const TITLE = `和田玉籽料鉴定${stamp}`;
const PIN = '本场只鉴定不交易';

// The room's cover: a small picture (lib.mjs).
const cover = () => makePng({ width: 48, rgb: [46, 125, 91], ink: (x, y) => (x * 3 + y) % 7 !== 0 });

const card = (page, id) => page.locator(`#live-list li.live-card[data-room-id="${id}"]`);
const commentIn = (page, box, text) => page.locator(`${box} li.live-comment:not(.pending)`).filter({ hasText: text });
const text = (page, sel) => page.locator(sel).first().innerText().catch(() => '');
const countOf = async (page, sel) => {
  const raw = (await page.locator(sel).first().getAttribute('data-count').catch(() => null)) ?? (await text(page, sel));
  const n = Number(String(raw).replace(/[^\d]/g, ''));
  return Number.isFinite(n) ? n : -1;
};

async function noScroll(entry, where) {
  await settle(entry.page);
  await checkNoHorizontalScroll(entry.page, where);
}

async function openLive(entry) {
  const { page } = entry;
  await page.locator('#tab-btn-live').click();
  await waitVisible(page.locator('#live-list-view'), `the 直播 list on the ${entry.label}'s page`);
}

// The room's card in the list (the list is read again with ↻ while it is not there yet).
async function findCard(entry, id) {
  const { page } = entry;
  let last = 0;
  await waitUntil(`room ${id} in the ${entry.label}'s 直播 list`, async () => {
    if (await card(page, id).count()) return true;
    if (Date.now() - last > 2000) {
      last = Date.now();
      if (await page.locator('#live-refresh').isEnabled()) await page.locator('#live-refresh').click();
    }
    return false;
  }, { describe: () => visibleText(page, '#live-list-view') });
}

async function openRoom(entry, id) {
  const { page } = entry;
  await findCard(entry, id);
  await card(page, id).locator('button').click();
  await waitVisible(page.locator('#live-room'), `the room page on the ${entry.label}'s page`);
  await waitUntil(`the ${entry.label} in the room (composer enabled)`, () => page.locator('#live-input').isEnabled(),
    { describe: () => visibleText(page, '#live-room') });
}

async function comment(entry, words) {
  const { page, ws } = entry;
  const mark = ws.mark();
  await page.locator('#live-input').fill(words);
  await page.locator('#live-send').click();
  const r = await waitUntil(`the room.comment reply for "${words}"`,
    () => ws.requests.slice(mark).find((q) => q.type === 'room.comment' && q.data.text === words && q.reply));
  if (!r.reply.ok) fail(`room.comment "${words}" was refused: ${JSON.stringify(r.reply.error)}`);
  if (!r.data.client_id) fail('room.comment was sent without a client_id');
  return r.reply.data.comment;
}

async function seeComment(entry, box, words) {
  await waitUntil(`"${words}" in the ${entry.label}'s comments`, async () => (await commentIn(entry.page, box, words).count()) === 1,
    { describe: () => visibleText(entry.page, box) });
}

// The host's 管理 sheet on the comment that says `words`, then one of its actions.
async function manage(host, words, action) {
  const { page } = host;
  const row = commentIn(page, '#live-host-comments', words);
  await waitVisible(row, `"${words}" in the host's stream`);
  await row.locator('.live-manage').click();
  await waitVisible(page.locator('#live-manage-dialog'), 'the 管理 sheet');
  await page.locator(action).click();
}

async function waitToast(page, pattern, what) {
  await waitUntil(what, async () => pattern.test(await text(page, '#toast')), { describe: () => text(page, '#toast') });
}

await run.main('live_room', async () => {
  const host = await run.newPhonePage('host');
  const v1 = await run.newPhonePage('viewer1');
  const v2 = await run.newPhonePage('viewer2');
  const hp = host.page;
  const p1 = v1.page;
  const p2 = v2.page;
  let me = {};
  let roomId = null;

  await run.step('1. the host (an appraiser) and two viewers log in', async () => {
    await loginApp(host, BASE, HOST_PHONE);
    me.host = await readMe(hp);
    if (!(me.host.roles || []).includes('appraiser')) fail(`the host account lacks the appraiser role (${JSON.stringify(me.host.roles)})`);
    await loginApp(v1, BASE, VIEWER1_PHONE);
    me.v1 = await readMe(p1);
    await loginApp(v2, BASE, VIEWER2_PHONE);
    me.v2 = await readMe(p2);
    console.log(`  host #${me.host.id} ${me.host.nickname}, viewer1 #${me.v1.id}, viewer2 #${me.v2.id}`);
  });

  let coverId = null;
  await run.step('2. the host creates a room in the UI (创建直播间: title, category, a cover from the album) and lands on its console', async () => {
    await openLive(host);
    await waitVisible(hp.locator('#live-mine'), '我的直播间 (an appraiser sees it)');
    await hp.locator('#live-create-btn').click();
    await waitVisible(hp.locator('#live-create-dialog'), 'the 创建直播间 dialog');
    await noScroll(host, 'the 创建直播间 dialog');
    await hp.locator('#live-create-title').fill(TITLE);
    await hp.locator('#live-create-cat-nephrite').check();
    // The cover: picked from the album (相册 granted in the page's dialog if asked), uploaded as a post_photo.
    const uploads = [];
    const onResponse = (r) => {
      if (r.request().method() === 'POST' && /\/api\/media\?purpose=post_photo&source=album/.test(r.url())) uploads.push(r);
    };
    hp.on('response', onResponse);
    await hp.locator('#live-cover-file').setInputFiles({ name: 'cover.png', mimeType: 'image/png', buffer: cover() });
    let asked = false;
    const upload = await waitUntil('the cover upload (or the album permission asked)', async () => {
      const allow = hp.locator('#live-album-dialog #live-album-allow');
      if (!asked && await allow.isVisible().catch(() => false)) {
        asked = true;
        console.log('  the album permission was asked: 允许');
        await allow.click();
      }
      return uploads.find((r) => r.ok()) || null;
    }, { describe: () => visibleText(hp, '#live-create-dialog, #live-album-dialog') });
    hp.off('response', onResponse);
    const media = await upload.json();
    if (media.status !== 'approved') fail(`the cover upload answered ${JSON.stringify(media)}, not approved`);
    coverId = media.id;
    await waitUntil('the cover ready in the dialog (preview and 封面已上传)', async () =>
      /封面已上传/.test(await text(hp, '#live-cover-note')) &&
      (await hp.locator('#live-cover-preview img').evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false)),
    { describe: () => visibleText(hp, '#live-create-dialog') });
    await noScroll(host, 'the 创建直播间 dialog with a cover');
    await run.screenshot(host, 'create-cover');
    const mark = host.ws.mark();
    await hp.locator('#live-create-ok').click();
    // What room.create answered, so that a failure here says why.
    const created = await waitUntil('the room.create reply', () =>
      host.ws.requests.slice(mark).find((q) => q.type === 'room.create' && q.reply),
    { describe: () => visibleText(hp, '#live-create-dialog .form-error, #app-notice') });
    if (!created.reply.ok) fail(`room.create was refused: ${JSON.stringify(created.reply.error)}`);
    if (created.data.cover !== coverId) fail(`room.create carried cover ${JSON.stringify(created.data.cover)}, not the upload #${coverId}`);
    if (created.reply.data.room.cover !== coverId) fail(`the new room's cover is ${JSON.stringify(created.reply.data.room.cover)}, not #${coverId}`);
    await waitUntil('the host console', () => hp.locator('#live-host').isVisible(),
      { describe: async () => `at ${hp.url()}: ${await visibleText(hp, '#live-create-dialog, #tab-live .form-error, #app-notice')}` });
    const m = /#\/live\/host(?::|%3A)(\d+)/.exec(hp.url());
    if (!m) fail(`the console's address names no room: ${hp.url()}`);
    roomId = Number(m[1]);
    await waitUntil('the console to show the title and 未开播', async () =>
      (await text(hp, '#live-host-title')) === TITLE && /未开播/.test(await text(hp, '#live-host-status')),
    { describe: async () => `${await text(hp, '#live-host-title')} / ${await text(hp, '#live-host-status')}` });
    console.log(`  room #${roomId}`);
  });

  await run.step('3. 开播: the console says 直播中; no horizontal scroll', async () => {
    await waitUntil('开播 enabled', () => hp.locator('#live-start').isEnabled());
    await hp.locator('#live-start').click();
    await waitUntil('the status 直播中', async () => /直播中/.test(await text(hp, '#live-host-status')),
      { describe: () => visibleText(hp, '#live-host-status, #live-host-error') });
    if (!(await hp.locator('#live-pause').isVisible()) || !(await hp.locator('#live-end').isVisible())) fail('暂停 and 下播 are not offered while live');
    await noScroll(host, 'the host console');
    await run.screenshot(host, 'console-live');
  });

  await run.step('4. both viewers find the room in the 直播 list (全部, and under 和田玉) and open it', async () => {
    await openLive(v1);
    await findCard(v1, roomId);
    const c = card(p1, roomId);
    const words = await c.innerText();
    if (!words.includes(TITLE)) fail(`the card does not show the title: "${words}"`);
    if (!/直播中/.test(words) || !/人在看/.test(words)) fail(`the card lacks 直播中 or the viewers: "${words}"`);
    if (!(await c.locator('.avatar').count())) fail('the card has no host avatar');
    await waitUntil('the cover picture on viewer 1\'s card', () => c.locator('.live-cover img.live-cover-img')
      .evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false), { describe: () => c.innerHTML() });
    await noScroll(v1, 'the 直播 list');
    await run.screenshot(v1, 'list');
    await p1.locator('#live-cat-nephrite').click();
    await waitUntil('和田玉 chosen', async () => (await p1.locator('#live-cat-nephrite').getAttribute('aria-pressed')) === 'true');
    await findCard(v1, roomId);
    await p1.locator('#live-cat-pearl').click();
    await waitUntil('the room not under 珍珠', async () => !(await card(p1, roomId).count()) && (await p1.locator('#live-list').getAttribute('aria-busy')) !== 'true');
    await p1.locator('#live-cat-all').click();
    await openRoom(v1, roomId);
    await openLive(v2);
    await openRoom(v2, roomId);
    for (const [e, label] of [[v1, 'viewer 1'], [v2, 'viewer 2']]) {
      const status = await text(e.page, '#live-status');
      if (!/直播中/.test(status)) fail(`${label}'s room page says "${status}", not 直播中`);
      if ((await text(e.page, '#live-room-title')) !== TITLE) fail(`${label}'s room page shows the title "${await text(e.page, '#live-room-title')}"`);
      if ((await text(e.page, '#live-host-name')) !== me.host.nickname) fail(`${label}'s room page names the host "${await text(e.page, '#live-host-name')}"`);
      if (!(await e.page.locator('#live-stage').isVisible())) fail(`${label}'s room page has no video area`);
      const box = await e.page.locator('#live-stage').boundingBox();
      if (Math.abs(box.width / box.height - 16 / 9) > 0.05) fail(`the video area is ${Math.round(box.width)}×${Math.round(box.height)}, not 16:9`);
      await waitUntil(`the cover behind ${label}'s video area`, () => e.page.locator('#live-stage img.live-cover-img')
        .evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false));
      await noScroll(e, `${label}'s room page`);
    }
    await run.screenshot(v2, 'room');
  });

  const first = `这块籽料是老坑的吗？${stamp}`;
  let firstComment = null;
  await run.step('5. viewer 1 comments: it shows on viewer 2\'s page and on the host\'s console', async () => {
    firstComment = await comment(v1, first);
    if (!firstComment || firstComment.seq == null) fail(`the room.comment reply carries no comment seq: ${JSON.stringify(firstComment)}`);
    await seeComment(v1, '#live-comments', first);
    await seeComment(v2, '#live-comments', first);
    await seeComment(host, '#live-host-comments', first);
    const row = await commentIn(p2, '#live-comments', first).innerText();
    if (!row.includes(me.v1.nickname)) fail(`the comment row does not name its author: "${row}"`);
  });

  await run.check('5a. a comment with contact details is refused: the reason shows, the text is back in the box, nobody sees it', async () => {
    const bad = '加我微信 jade888，私下交易便宜';
    const mark = v1.ws.mark();
    await p1.locator('#live-input').fill(bad);
    await p1.locator('#live-send').click();
    const r = await waitUntil('the room.comment reply', () => v1.ws.requests.slice(mark).find((q) => q.type === 'room.comment' && q.reply));
    if (r.reply.ok) fail('the comment with contact details was accepted');
    await waitUntil('the reason under the composer', async () => (await p1.locator('#live-composer-error').isVisible()) &&
      /[\u3400-\u9fff]/.test(await text(p1, '#live-composer-error')), { describe: () => text(p1, '#live-composer-error') });
    console.log(`  refused ${r.reply.error.code}: ${await text(p1, '#live-composer-error')}`);
    if ((await p1.locator('#live-input').inputValue()) !== bad) fail('the refused text is not back in the composer');
    if (await p1.locator('#live-comment-retry').count()) fail(`a permanent refusal (${r.reply.error.code}) offers 重试`);
    if (await commentIn(p2, '#live-comments', 'jade888').count()) fail('viewer 2 sees the refused comment');
    await p1.locator('#live-input').fill('');
  });

  await run.check('5b. viewer 2 drops its connection while viewer 1 comments; after the reconnect it shows the missed comment once (room.join with since_seq)', async () => {
    const missed = `断线期间的评论${stamp}`;
    const mark = v2.ws.mark();
    await p2.evaluate(async () => { (await import('/static/js/client.js')).getClient().disconnect(); });
    await comment(v1, missed);
    await p2.evaluate(async () => { (await import('/static/js/client.js')).getClient().connect(); });
    await waitConnected(p2);
    const join = await waitUntil('viewer 2\'s room.join again', () => v2.ws.requests.slice(mark).find((q) => q.type === 'room.join' && q.reply));
    if (join.data.since_seq == null) fail(`the join after the reconnect has no since_seq: ${JSON.stringify(join.data)}`);
    if (!join.reply.ok) fail(`the join after the reconnect was refused: ${JSON.stringify(join.reply.error)}`);
    await seeComment(v2, '#live-comments', missed);
    await seeComment(v2, '#live-comments', first);
    await waitUntil('viewer 2\'s composer enabled again', () => p2.locator('#live-input').isEnabled());
  });

  await run.step('6. viewer 2 taps 点赞 several times: batched (≤ 20 a frame, ≥ 300 ms apart) and the count rises on the other pages', async () => {
    await waitUntil('a first room.stats on the host\'s console', async () => (await countOf(hp, '#live-host-likes')) >= 0);
    const before1 = await countOf(p1, '#live-like-btn');
    const beforeHost = await countOf(hp, '#live-host-likes');
    const mark = v2.ws.mark();
    for (let i = 0; i < 7; i++) await p2.locator('#live-like-btn').click();
    const sent = await waitUntil('room.like frames carrying the 7 taps', () => {
      const likes = v2.ws.requests.slice(mark).filter((q) => q.type === 'room.like');
      return likes.reduce((n, q) => n + (q.data.count || 0), 0) >= 7 ? likes : null;
    });
    if (sent.some((q) => q.data.count > 20 || q.data.count < 1)) fail(`a room.like count out of 1–20: ${sent.map((q) => q.data.count).join(',')}`);
    for (let i = 1; i < sent.length; i++) {
      if (sent[i].at - sent[i - 1].at < 250) fail(`two room.like frames ${sent[i].at - sent[i - 1].at} ms apart`);
    }
    // How many frames the taps took depends on how fast the clicks came (load), not on the
    // client: what holds is the sum and the spacing above.
    const total = sent.reduce((n, q) => n + q.data.count, 0);
    if (total !== 7) fail(`the room.like frames carry ${total} taps, not 7`);
    if ((await countOf(p2, '#live-like-btn')) < 7) fail('the tapping page does not show its own taps');
    await waitUntil('the likes to rise on viewer 1\'s page', async () => (await countOf(p1, '#live-like-btn')) >= before1 + 7,
      { describe: async () => `before ${before1}, now ${await countOf(p1, '#live-like-btn')}` });
    await waitUntil('the likes to rise on the host\'s console', async () => (await countOf(hp, '#live-host-likes')) >= beforeHost + 7,
      { describe: async () => `before ${beforeHost}, now ${await countOf(hp, '#live-host-likes')}` });
  });

  await run.step('7. the host pins a notice: it shows on both viewers\' pages', async () => {
    await hp.locator('#live-pin-input').fill(PIN);
    await hp.locator('#live-pin-btn').click();
    for (const e of [v1, v2]) {
      await waitUntil(`the notice on the ${e.label}'s page`, async () => (await e.page.locator('#live-pinned').isVisible()) &&
        (await text(e.page, '#live-pinned-text')) === PIN, { describe: () => visibleText(e.page, '#live-pinned') });
    }
    await waitUntil('the console to show the pinned notice', async () => (await text(hp, '#live-host-pinned')).includes(PIN));
  });

  await run.step('7a. 暂停: the viewers\' pages say 暂停中 and the composer is disabled; 继续直播 opens it again', async () => {
    await hp.locator('#live-pause').click();
    for (const e of [v1, v2]) {
      await waitUntil(`暂停中 on the ${e.label}'s page`, async () => /暂停中/.test(await text(e.page, '#live-status')) &&
        (await e.page.locator('#live-input').isDisabled()), { describe: () => text(e.page, '#live-status') });
    }
    await waitUntil('继续直播 offered', async () => /继续直播/.test(await text(hp, '#live-start')) && (await hp.locator('#live-start').isEnabled()));
    await hp.locator('#live-start').click();
    for (const e of [v1, v2]) {
      await waitUntil(`直播中 again on the ${e.label}'s page`, async () => /直播中/.test(await text(e.page, '#live-status')) &&
        (await e.page.locator('#live-input').isEnabled()));
    }
  });

  await run.step('7b. 举报: viewer 2 reports viewer 1\'s comment (诈骗); viewer 1 has no 举报 on its own comment; viewer 1 reports the room', async () => {
    // Viewer 2 (a plain spectator): the comment's ⋯ opens a sheet with 举报 only.
    const row = commentIn(p2, '#live-comments', first);
    await waitVisible(row.locator('.live-comment-more'), 'the ⋯ on viewer 1\'s comment on viewer 2\'s page');
    if (await row.locator('.live-manage').count()) fail('a plain viewer (viewer 2) has 管理 on a comment');
    await row.locator('.live-comment-more').click();
    await waitVisible(p2.locator('#live-manage-dialog'), 'the comment sheet on viewer 2\'s page');
    if (await p2.locator('#live-act-remove, #live-act-mute, #live-act-kick, #live-act-ban').count()) fail('a plain viewer is offered host powers');
    await noScroll(v2, 'the comment sheet');
    await run.screenshot(v2, 'comment-sheet');
    await p2.locator('#live-act-report').click();
    const dialog = p2.locator('#report-dialog');
    await waitVisible(dialog, 'the report dialog on viewer 2\'s page');
    if ((await p2.locator('#live-manage-dialog').count()) && (await p2.locator('#live-manage-dialog').isVisible())) fail('the comment sheet stays open under the report dialog');
    const subject = await text(p2, '#report-subject');
    if (!subject.includes(me.v1.nickname) || !subject.includes(first.slice(0, 8))) fail(`the report dialog names "${subject}", not viewer 1's comment`);
    await noScroll(v2, 'the report dialog');
    await run.screenshot(v2, 'report');
    await dialog.locator('#report-categories label.chip').filter({ hasText: '诈骗' }).click();
    await p2.locator('#report-reason').fill('自称老坑籽料，要求私下转账');
    const mark = v2.ws.mark();
    await waitUntil('提交 enabled', () => p2.locator('#report-submit').isEnabled());
    await p2.locator('#report-submit').click();
    const r = await waitUntil('viewer 2\'s report.create reply', () => v2.ws.requests.slice(mark).find((q) => q.type === 'report.create' && q.reply));
    if (!r.reply.ok) fail(`the comment report was refused: ${JSON.stringify(r.reply.error)}`);
    const d = r.data;
    if (d.target !== 'room_comment' || d.room_id !== roomId || d.seq !== firstComment.seq || d.category !== 'fraud' || !d.reason) {
      fail(`the report.create frame is ${JSON.stringify(d)} (want room_comment, room ${roomId}, seq ${firstComment.seq}, fraud, a reason)`);
    }
    await waitUntil('the report dialog closed', async () => !(await dialog.count()) || !(await dialog.isVisible()));
    await waitToast(p2, /已提交/, 'the toast 已提交，我们会尽快处理 on viewer 2\'s page');

    // Viewer 1: no ⋯ (no 举报) on its own comment.
    const own = commentIn(p1, '#live-comments', first);
    await waitVisible(own, 'viewer 1\'s own comment');
    if (await own.locator('.live-comment-more, .live-manage').count()) fail('viewer 1 is offered 举报 on its own comment');

    // Viewer 1 shares the room: ⋯ → 分享直播间 makes a 口令 (share.create) shown in a sentence.
    await p1.locator('#live-room-more').click();
    await waitVisible(p1.locator('#live-room-menu'), 'the room menu on viewer 1\'s page');
    const markShare = v1.ws.mark();
    await p1.locator('#live-share-room').click();
    const shared = await waitUntil('viewer 1\'s share.create reply', () => v1.ws.requests.slice(markShare).find((q) => q.type === 'share.create' && q.reply));
    if (!shared.reply.ok || shared.data.target !== 'room' || shared.data.id !== roomId) fail(`share.create was ${JSON.stringify(shared)}`);
    const shareText = p1.locator('#cm-share-text');
    await waitVisible(shareText, 'the share text (#cm-share-text)');
    const sentence = await shareText.inputValue();
    if (!sentence.includes('￥' + shared.reply.data.code + '￥') || !sentence.includes(TITLE)) fail(`the share text is "${sentence}"`);
    await p1.keyboard.press('Escape');
    await waitVisible(p1.locator('#cm-share-dialog'), 'the share dialog to close', { state: 'hidden' });

    // Viewer 1 reports the room: the header's ⋯ → 举报直播间.
    await p1.locator('#live-room-more').click();
    await waitVisible(p1.locator('#live-room-menu'), 'the room menu on viewer 1\'s page');
    await p1.locator('#live-report-room').click();
    const dialog1 = p1.locator('#report-dialog');
    await waitVisible(dialog1, 'the room report dialog on viewer 1\'s page');
    if ((await text(p1, '#report-subject')) !== TITLE) fail(`the room report dialog names "${await text(p1, '#report-subject')}", not the room`);
    await dialog1.locator('#report-categories label.chip').filter({ hasText: '假货' }).click();
    await p1.locator('#report-reason').fill('直播间展示的籽料疑似染色');
    const mark1 = v1.ws.mark();
    await waitUntil('提交 enabled', () => p1.locator('#report-submit').isEnabled());
    await p1.locator('#report-submit').click();
    const r1 = await waitUntil('viewer 1\'s report.create reply', () => v1.ws.requests.slice(mark1).find((q) => q.type === 'report.create' && q.reply));
    if (!r1.reply.ok) fail(`the room report was refused: ${JSON.stringify(r1.reply.error)}`);
    if (r1.data.target !== 'room' || r1.data.room_id !== roomId || r1.data.category !== 'fake_goods' || r1.data.seq != null) {
      fail(`the report.create frame is ${JSON.stringify(r1.data)} (want room, room ${roomId}, fake_goods)`);
    }
    await waitUntil('the room report dialog closed', async () => !(await dialog1.count()) || !(await dialog1.isVisible()));
    await waitToast(p1, /已提交/, 'the toast 已提交，我们会尽快处理 on viewer 1\'s page');
    // Still in the room, the composer usable.
    if (!(await p1.locator('#live-input').isEnabled()) || !(await p2.locator('#live-input').isEnabled())) fail('a composer is disabled after a report');
  });

  await run.step('7c. the host makes viewer 2 a helper (场控) by user id; as a helper viewer 2 deletes viewer 1\'s comment, gone everywhere; the host removes the helper', async () => {
    await hp.locator('#live-helper-id').fill(String(me.v2.id));
    await hp.locator('#live-helper-add').click();
    const helperRow = hp.locator(`#live-helpers li[data-user-id="${me.v2.id}"]`);
    await waitVisible(helperRow, 'viewer 2 in the console\'s helpers', { timeout: 10000 }).catch(async (err) => fail(err.message + ' — ' + await visibleText(hp, '#live-helper-error')));
    const doomed = `这条会被场控删除${stamp}`;
    await comment(v1, doomed);
    await seeComment(v2, '#live-comments', doomed);
    // The helper's powers come with the join reply (me.helper): a reload joins again.
    await p2.reload({ waitUntil: 'domcontentloaded' });
    await waitConnected(p2);
    await waitVisible(p2.locator('#live-room'), 'viewer 2 back in the room after the reload');
    await waitUntil('场控 named on viewer 2\'s page', async () => /场控/.test(await text(p2, '#live-room-host')));
    const row = commentIn(p2, '#live-comments', doomed);
    await waitVisible(row.locator('.live-manage'), 'the 管理 button on viewer 1\'s comment for the helper');
    if (await p1.locator('#live-comments .live-manage').count()) fail('a plain viewer (viewer 1) sees 管理 buttons');
    await row.locator('.live-manage').click();
    await waitVisible(p2.locator('#live-manage-dialog'), 'the helper\'s 管理 sheet');
    if (await p2.locator('#live-act-helper').count()) fail('a helper is offered 设为场控');
    if (!(await p2.locator('#live-act-report').count())) fail('the helper\'s 管理 sheet has no 举报');
    await p2.locator('#live-act-remove').click();
    for (const [e, box] of [[v1, '#live-comments'], [v2, '#live-comments'], [host, '#live-host-comments']]) {
      await waitUntil(`the deleted comment gone from the ${e.label}'s page`, async () => (await commentIn(e.page, box, doomed).count()) === 0);
    }
    await helperRow.locator('.live-helper-remove').click();
    await waitUntil('viewer 2 off the helpers', async () => (await helperRow.count()) === 0,
      { describe: () => visibleText(hp, '#live-helpers, #live-helper-error') });
  });

  await run.step('8. the host mutes viewer 1 (禁言, 10 minutes): viewer 1\'s composer is disabled with the end time', async () => {
    await manage(host, first, '#live-act-mute');
    await waitVisible(hp.locator('#live-mute-dialog'), 'the 禁言 dialog');
    if (!(await hp.locator('#live-mute-10m').isChecked())) fail('10 minutes is not the preset length');
    await hp.locator('#live-mute-ok').click();
    await waitToast(hp, /禁言/, 'the toast 已禁言');
    await waitUntil('viewer 1\'s composer and 发送 disabled', async () => (await p1.locator('#live-input').isDisabled()) &&
      (await p1.locator('#live-send').isDisabled()), { describe: () => visibleText(p1, '#live-mute-note, #live-composer-error') });
    const note = await text(p1, '#live-mute-note');
    if (!/禁言/.test(note) || !/\d{1,2}:\d{2}/.test(note)) fail(`the mute note says "${note}" (no 禁言 or no end time)`);
    if (!(await p2.locator('#live-input').isEnabled())) fail('viewer 2 is muted too');
    await noScroll(v1, 'viewer 1 muted');
    await run.screenshot(v1, 'muted');
  });

  const second = `请问这个油性怎么样${stamp}`;
  await run.step('9. the host kicks viewer 2 (踢出): viewer 2 leaves the room with the reason; coming back is refused with the kick text', async () => {
    await comment(v2, second);
    await seeComment(host, '#live-host-comments', second);
    await manage(host, second, '#live-act-kick');
    await waitToast(hp, /移出/, 'the toast 已将…移出直播间');
    await waitVisible(p2.locator('#live-list-view'), 'viewer 2 back on the list');
    await waitUntil('the reason on viewer 2\'s list', async () => /移出直播间/.test(await text(p2, '#live-notice-text')),
      { describe: () => visibleText(p2, '#live-list-view') });
    await findCard(v2, roomId);
    await card(p2, roomId).locator('button').click();
    await waitUntil('the refusal on viewer 2\'s room page', async () => /移出直播间/.test(await text(p2, '#live-room-error-text')),
      { describe: () => visibleText(p2, '#live-room') });
    if (await p2.locator('#live-composer').isVisible()) fail('the composer shows on a refused room page');
    await noScroll(v2, 'viewer 2 refused');
    await run.screenshot(v2, 'kicked');
  });

  await run.step('10. the host bans viewer 1 (拉黑, asked first): viewer 1 is removed and cannot join again, even after a reload', async () => {
    await manage(host, first, '#live-act-ban');
    await waitVisible(hp.locator('#live-ban-confirm'), 'the 拉黑 confirmation');
    await hp.locator('#live-ban-confirm #confirm-ok').click();
    await waitToast(hp, /拉黑/, 'the toast 已拉黑');
    await waitVisible(p1.locator('#live-list-view'), 'viewer 1 back on the list');
    await waitUntil('the reason on viewer 1\'s list', async () => /拉黑/.test(await text(p1, '#live-notice-text')),
      { describe: () => visibleText(p1, '#live-list-view') });
    await p1.goto(`${BASE}/#/live/room:${roomId}`, { waitUntil: 'domcontentloaded' });
    await p1.reload({ waitUntil: 'domcontentloaded' });
    await waitConnected(p1);
    await waitUntil('the refusal after the reload', async () => /拉黑/.test(await text(p1, '#live-room-error-text')),
      { describe: () => visibleText(p1, '#live-room, #live-list-view') });
    await waitUntil('viewer 1 on the console\'s ban list', async () => (await hp.locator(`#live-bans li[data-user-id="${me.v1.id}"]`).count()) === 1,
      { describe: () => visibleText(hp, '#live-bans, #live-bans-note') });
  });

  await run.step('10a. the host lifts the ban (解除拉黑): viewer 1 leaves the ban list and can open the room again', async () => {
    const row = hp.locator(`#live-bans li[data-user-id="${me.v1.id}"]`);
    await row.locator('.live-unban').click();
    await waitToast(hp, /移出黑名单/, 'the toast 已将…移出黑名单');
    await waitUntil('viewer 1 off the ban list', async () => (await row.count()) === 0);
    await p1.locator('#live-error-back').click();
    await waitVisible(p1.locator('#live-list-view'), 'viewer 1 on the list');
    await findCard(v1, roomId);
    await card(p1, roomId).locator('button').click();
    await waitUntil('viewer 1 in the room again', async () => /直播中/.test(await text(p1, '#live-status')) &&
      !(await p1.locator('#live-room-error-text').count()) && (await p1.locator('#live-composer').isVisible()),
    { describe: () => visibleText(p1, '#live-room') });
  });

  const desk = await run.newDesktopPage('desktop');
  const dp = desk.page;
  await run.step('11. desktop 1280×800: the list shows the room; the room page opens (the host\'s account, as a viewer)', async () => {
    await loginApp(desk, BASE, HOST_PHONE);
    await openLive(desk);
    await findCard(desk, roomId);
    await checkNoHorizontalScroll(dp, 'the desktop list');
    await run.screenshot(desk, 'list');
    await card(dp, roomId).locator('button').click();
    await waitVisible(dp.locator('#live-room'), 'the desktop room page');
    await waitUntil('the desktop room page live', async () => /直播中/.test(await text(dp, '#live-status')));
    await waitUntil('the pinned notice on the desktop', async () => (await text(dp, '#live-pinned-text')) === PIN);
    await seeComment(desk, '#live-comments', second);
    await waitVisible(dp.locator('#live-to-host'), 'the way to the host console (the host is looking)');
    // The host shares its own room (⋯ → 分享直播间) and is not offered 举报 of it.
    await dp.locator('#live-room-more').click();
    await waitVisible(dp.locator('#live-room-menu'), 'the room menu on the host\'s desktop page');
    if (await dp.locator('#live-report-room').count()) fail('the host is offered 举报 of its own room');
    await dp.locator('#live-share-room').click();
    const hostShare = dp.locator('#cm-share-text');
    await waitVisible(hostShare, 'the host\'s share text (#cm-share-text)');
    const hostSentence = await hostShare.inputValue();
    if (!/￥[0-9A-Z]{10}￥/.test(hostSentence) || !hostSentence.includes(TITLE)) fail(`the host's share text is "${hostSentence}"`);
    await dp.keyboard.press('Escape');
    await waitVisible(dp.locator('#cm-share-dialog'), 'the host\'s share dialog to close', { state: 'hidden' });
    if (await dp.locator('#live-comments .live-comment-more').count()) fail('the host is offered 举报 on comments in its own room');
    await checkNoHorizontalScroll(dp, 'the desktop room page');
    await run.screenshot(desk, 'room');
  });

  await run.check('11a. English: the room page and the list show no Chinese but user data; back to Chinese', async () => {
    const chinese = (sel) => dp.evaluate((s) => {
      const root = document.querySelector(s);
      // User data stays as it is: nicknames, the title, comments, the notice, avatar initials.
      const style = document.createElement('style');
      style.textContent = '.live-comment-name, .live-comment-text, #live-room-title, #live-host-name, #live-pinned-text, .avatar, ' +
        '.live-card-title, .live-card-host-name, .live-arrival { visibility: hidden !important; }';
      document.head.append(style);
      const words = [root.innerText,
        // (A 管理 or ⋯ button and a card name the user or the room in their labels.)
        ...[...root.querySelectorAll('[placeholder],[aria-label]')].filter((x) => !x.matches('.live-manage, .live-comment-more, .live-card-btn')).map((x) => [x.getAttribute('placeholder'), x.getAttribute('aria-label')].join(' '))].join(' ');
      style.remove();
      const m = /.{0,12}[\u3400-\u9fff].{0,12}/.exec(words.replace(/\s+/g, ' '));
      return m ? m[0] : null;
    }, sel);
    await dp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('en'); });
    await waitUntil('the room page in English', async () => /Live|Ended/.test(await text(dp, '#live-status')));
    const inRoom = await chinese('#live-room');
    await checkNoHorizontalScroll(dp, 'the English room page');
    await run.screenshot(desk, 'room-en');
    await dp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('zh-CN'); });
    await waitUntil('the room page in Chinese again', async () => /直播中|已结束/.test(await text(dp, '#live-status')));
    if (inRoom) fail(`Chinese left on the English room page: "${inRoom}"`);
  });

  await run.step('12. the host ends the room (下播, asked first): the console and the room page say 已结束', async () => {
    await hp.locator('#live-end').click();
    await waitVisible(hp.locator('#live-end-confirm'), 'the 下播 confirmation');
    await noScroll(host, 'the 下播 confirmation');
    await hp.locator('#live-end-confirm #confirm-ok').click();
    await waitUntil('the console says 已结束', async () => /已结束/.test(await text(hp, '#live-host-status')),
      { describe: () => visibleText(hp, '#live-host-status, #live-host-error') });
    if (await hp.locator('#live-start').isVisible() || await hp.locator('#live-end').isVisible()) fail('开播 or 下播 is still offered');
    await waitUntil('the desktop room page says 已结束', async () => /已结束/.test(await text(dp, '#live-status')));
    if (!(await dp.locator('#live-input').isDisabled())) fail('the composer is still enabled in an ended room');
    await run.screenshot(host, 'ended');
    await hp.locator('#live-host-back').click();
    await waitVisible(hp.locator('#live-list-view'), 'the host back on the list');
    await waitUntil('the ended room under 我的直播间', async () =>
      /已结束/.test(await text(hp, `#live-mine-list li[data-room-id="${roomId}"]`)));
    await noScroll(host, 'the list with 我的直播间');
    await run.screenshot(host, 'list-mine');
    await dp.locator('#live-to-host').click();
    await waitVisible(dp.locator('#live-host'), 'the desktop host console');
    await waitUntil('the desktop console says 已结束', async () => /已结束/.test(await text(dp, '#live-host-status')));
    await checkNoHorizontalScroll(dp, 'the desktop host console');
    await run.screenshot(desk, 'console');
  });

  await run.check('13. no window dialog on any page', async () => {
    const all = run.pages.flatMap((e) => e.dialogs.map((d) => `${e.label}: ${d}`));
    if (all.length) fail(all.join('; '));
  });

  await run.check('14. no console errors, page errors or failed requests on any page', async () => {
    const all = run.pages.flatMap((e) => e.errors.map((x) => `${e.label}: ${x}`));
    if (all.length) fail(all.slice(0, 10).join(' | '));
  });
});
