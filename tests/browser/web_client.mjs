// End-to-end, in a real browser, at phone size (390×844) and on a desktop window (1280×800): the
// web client's shell and 消息 tab. Login with the agreement; the buyer finds the seller in the
// directory and by nickname; both sides chat live; a photo and an emoji go across; a recall;
// the tab bar; English and back; no horizontal scroll at 390 px; no console errors. See README.md.
import { makePng, runStamp,
  Run, env, fail, waitUntil, waitVisible, settle, loginApp, waitConnected, checkNoHorizontalScroll,
  visibleText, readMe, acceptPolicy,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const BUYER_PHONE = env('DUOXIE_BUYER_PHONE');
const SELLER_PHONE = env('DUOXIE_SELLER_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });
const CJK = /[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]/;
const TABS_EN = ['Messages', 'Live', 'Community', 'Me'];

const run = new Run({ artifacts: ARTIFACTS, overallMs: 420000 });

// A 24×24 photo (lib.mjs).
const photo = () => makePng({ width: 24, rgb: [200, 90, 40], paper: [250, 240, 230] });

const rowOf = (page, seq) => page.locator(`#message-list li[data-seq="${seq}"]`);
const describe = (page) => page.locator('#message-list li').evaluateAll((lis) => lis.map((li) => `[${li.className}] ${li.innerText}`).join(' || '))
  .catch(() => '(no messages)');

async function sendAndWait(entry, text) {
  const { page, ws } = entry;
  const mark = ws.mark();
  await page.locator('#composer-text').fill(text);
  await page.locator('#composer-send').click();
  const r = await waitUntil(`the chat.send reply for "${text}"`,
    () => ws.requests.slice(mark).find((q) => q.type === 'chat.send' && q.data.text === text && q.reply));
  if (!r.reply.ok || r.reply.data.held) fail(`"${text}" was not delivered: ${JSON.stringify(r.reply)}`);
  return r.reply.data.message;
}

async function seeMessage(entry, seq, text) {
  const row = rowOf(entry.page, seq);
  await waitUntil(`message ${seq} ("${text}") on the ${entry.label}'s page`,
    async () => (await row.count()) === 1 && (await row.innerText()).includes(text),
    { describe: () => describe(entry.page) });
}

async function openConvWith(entry, peer) {
  const { page } = entry;
  const item = page.locator('#conv-list li.conv-item').filter({ has: page.locator('.conv-name', { hasText: peer.nickname }) });
  await waitVisible(item, `the conversation with ${peer.nickname} in the ${entry.label}'s list`);
  await item.first().locator('.conv-row').click();
  await waitVisible(page.locator(`#pane-conv[data-peer-id="${peer.id}"]`), `the conversation with ${peer.nickname}`);
}

async function noScroll(entry, where, phone) {
  if (!phone) return;
  await settle(entry.page);
  await checkNoHorizontalScroll(entry.page, where);
}

async function tabText(page, sel) {
  return page.evaluate((s) => {
    const n = document.querySelector(s);
    if (!n) return '';
    const attrs = [...n.querySelectorAll('[placeholder],[aria-label],[title]')]
      .flatMap((x) => [x.getAttribute('placeholder'), x.getAttribute('aria-label'), x.getAttribute('title')]);
    return [n.innerText, ...attrs].filter(Boolean).join(' ');
  }, sel);
}

async function scenario(kind) {
  const phone = kind === 'phone';
  const open = (label) => (phone ? run.newPhonePage(label) : run.newDesktopPage(label));
  const seller = await open(`${kind}-seller`);
  const buyer = await open(`${kind}-buyer`);
  const bp = buyer.page;
  const sp = seller.page;
  const stamp = runStamp();
  let sellerMe;
  let buyerMe;

  await run.step(`${kind} 1. login page: the agreement box, the language switch; English and back`, async () => {
    await bp.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await waitVisible(bp.locator('#login-view #policy-agree'), 'the agreement checkbox');
    if (await bp.locator('#policy-agree').isChecked()) fail('the agreement box is ticked in advance');
    await noScroll(buyer, 'login page', phone);
    await bp.locator('#lang-toggle').click();
    await waitUntil('the login page in English', async () => /Log in/i.test(await bp.locator('#code-submit').innerText()));
    const text = (await tabText(bp, '#login-view')).replace('中文', '').replace('语言', ''); // the switch names both languages
    if (CJK.test(text)) fail(`Chinese left on the English login page: "${text.match(/.{0,20}[\u3400-\u9fff].{0,20}/)[0]}"`);
    await noScroll(buyer, 'English login page', phone);
    await run.screenshot(buyer, 'login-en');
    await bp.locator('#lang-toggle').click();
    await waitUntil('the login page in Chinese again', async () => /登录/.test(await bp.locator('#code-submit').innerText()));
  });

  await run.step(`${kind} 2. seller and buyer log in with the agreement`, async () => {
    await loginApp(seller, BASE, SELLER_PHONE);
    sellerMe = await readMe(sp);
    if (!(sellerMe.roles || []).includes('seller')) fail(`the seller account lacks the seller role (${JSON.stringify(sellerMe.roles)})`);
    await loginApp(buyer, BASE, BUYER_PHONE);
    buyerMe = await readMe(bp);
    console.log(`  seller #${sellerMe.id} ${sellerMe.nickname}, buyer #${buyerMe.id} ${buyerMe.nickname}`);
  });

  await run.step(`${kind} 3. the buyer's first screen: the seller directory (or, with chats, the list and a way to it)`, async () => {
    await waitUntil('the first screen of 消息 (the directory or the conversation list)', async () =>
      (await bp.locator('#seller-list li.user-item').count()) > 0 || (await bp.locator('#conv-list li.conv-item').count()) > 0,
    { describe: () => visibleText(bp, '#tab-messages') });
    await settle(bp);
    if (await bp.locator('#conv-list li.conv-item').count() && await bp.locator('#conv-list').isVisible()) {
      console.log('  the buyer has conversations: the list shows, with 找卖家');
      await bp.locator('#find-btn').click();
    } else if (!(await bp.locator('#people-note').isVisible())) fail('the directory shows without its first-screen note');
    const row = bp.locator(`#seller-list li.user-item[data-user-id="${sellerMe.id}"]`);
    await waitVisible(row, `seller #${sellerMe.id} in the directory`);
    if (!(await row.locator('.avatar').count())) fail('the directory row has no avatar');
    if (!(await row.getByRole('button', { name: /聊天/ }).count())) fail('the directory row has no 聊天 button');
    await noScroll(buyer, 'seller directory', phone);
    await run.screenshot(buyer, 'directory');
  });

  await run.step(`${kind} 4. search the seller by nickname`, async () => {
    const asked = [];
    const onReq = (req) => { if (/\/api\/users\?/.test(req.url()) && /[?&]q=/.test(req.url())) asked.push(req.url()); };
    bp.on('request', onReq);
    const q = [...sellerMe.nickname].slice(0, 4).join('');
    await bp.locator('#people-search').fill(q);
    await waitUntil('a search request (GET /api/users?q=…)', () => asked.length > 0);
    await waitUntil('the results heading', async () => /搜索结果/.test(await bp.locator('#people-title').innerText()));
    await waitVisible(bp.locator(`#seller-list li.user-item[data-user-id="${sellerMe.id}"]`), 'the seller in the search results');
    if (!decodeURIComponent(asked[asked.length - 1]).includes('q=' + q)) fail(`the search asked ${asked[asked.length - 1]}`);
    bp.off('request', onReq);
    await noScroll(buyer, 'search results', phone);
  });

  await run.step(`${kind} 5. 聊天 opens the conversation with the seller`, async () => {
    await bp.locator(`#seller-list li.user-item[data-user-id="${sellerMe.id}"]`).getByRole('button', { name: /聊天/ }).click();
    await waitVisible(bp.locator(`#pane-conv[data-peer-id="${sellerMe.id}"]`), 'the conversation pane');
    await waitVisible(bp.locator('#peer-name', { hasText: sellerMe.nickname }), 'the seller\'s name in the header');
    if (!(await bp.locator('.conv-head .avatar').count())) fail('no avatar in the chat header');
    const placeholder = await bp.locator('#composer-text').getAttribute('placeholder');
    if (/enter/i.test(placeholder || '')) fail(`the composer hint talks of Enter: "${placeholder}"`);
    if (!phone && !(await bp.locator('#conv-list').isVisible()) && !(await bp.locator('#people').isVisible())) {
      fail('desktop: the side list is not shown beside the conversation');
    }
    await noScroll(buyer, 'conversation', phone);
  });

  await run.step(`${kind} 6. buyer and seller exchange texts live`, async () => {
    const t1 = `你好，这只镯子还在吗 ${stamp}`;
    const m1 = await sendAndWait(buyer, t1);
    await seeMessage(buyer, m1.seq, t1);
    await openConvWith(seller, buyerMe);
    await seeMessage(seller, m1.seq, t1);
    const t2 = `在的，欢迎来看 ${stamp}`;
    const m2 = await sendAndWait(seller, t2);
    await seeMessage(buyer, m2.seq, t2);
    const row = rowOf(bp, m2.seq);
    if (await row.evaluate((li) => li.classList.contains('mine'))) fail('the seller\'s message shows as the buyer\'s own');
  });

  await run.step(`${kind} 7. the buyer sends a photo; the seller sees it`, async () => {
    const mark = buyer.ws.mark();
    await bp.locator('#photo-input').setInputFiles({ name: 'ring.png', mimeType: 'image/png', buffer: photo() });
    const sent = await waitUntil('the photo to be sent (or the album permission asked)', async () => {
      const allow = bp.locator('#message-list li.pending.consent button', { hasText: '允许并发送' });
      if (await allow.count()) {
        console.log('  the album permission was asked: 允许并发送');
        await allow.first().click();
      }
      return buyer.ws.requests.slice(mark).find((q) => q.type === 'chat.send' && q.data.media_id && q.reply && q.reply.ok);
    }, { describe: () => describe(bp) });
    if (sent.reply.data.held) fail('the photo was held for review');
    const seq = sent.reply.data.message.seq;
    for (const e of [buyer, seller]) {
      await waitUntil(`the photo (seq ${seq}) drawn on the ${e.label}'s page`, () => rowOf(e.page, seq).locator('img.photo')
        .evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false), { describe: () => describe(e.page) });
    }
    await run.screenshot(seller, 'photo');
  });

  await run.step(`${kind} 8. a non-image file is refused before upload`, async () => {
    let uploads = 0;
    const onReq = (req) => { if (req.url().includes('/api/media') && req.method() === 'POST') uploads++; };
    bp.on('request', onReq);
    await bp.locator('#photo-input').setInputFiles({ name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('hello') });
    await waitUntil('the "only pictures" text (#conv-error)', async () => /只能发送图片/.test(await visibleText(bp, '#conv-error')));
    bp.off('request', onReq);
    if (uploads) fail('the text file was uploaded');
  });

  let emojiSeq = null;
  await run.step(`${kind} 9. an emoji from the picker is sent (Escape closes the picker)`, async () => {
    await bp.locator('#emoji-btn').click();
    await waitVisible(bp.locator('#emoji-picker'), 'the emoji picker');
    await bp.keyboard.press('Escape');
    await waitVisible(bp.locator('#emoji-picker'), 'the picker to close on Escape', { state: 'hidden' });
    await bp.locator('#composer-text').fill(`好的 ${stamp}`);
    await bp.locator('#emoji-btn').click();
    const first = bp.locator('#emoji-picker button.emoji').first();
    const emoji = await first.innerText();
    const box = await first.boundingBox();
    if (!box || box.width < 43 || box.height < 43) fail(`an emoji cell is ${box && Math.round(box.width)}×${box && Math.round(box.height)} px, under 44`);
    await first.click();
    await waitVisible(bp.locator('#emoji-picker'), 'the picker to close on a pick', { state: 'hidden' });
    const value = await bp.locator('#composer-text').inputValue();
    if (!value.includes(emoji)) fail(`the composer says "${value}" without ${emoji}`);
    const mark = buyer.ws.mark();
    await bp.locator('#composer-send').click();
    const r = await waitUntil('the chat.send reply of the emoji text', () =>
      buyer.ws.requests.slice(mark).find((q) => q.type === 'chat.send' && q.data.text && q.data.text.includes(emoji) && q.reply));
    if (!r.reply.ok) fail('the emoji text was refused: ' + JSON.stringify(r.reply.error));
    emojiSeq = r.reply.data.message.seq;
    await seeMessage(seller, emojiSeq, emoji);
  });

  await run.step(`${kind} 10. recall (撤回): both sides show the notice`, async () => {
    // The seller's read receipt redraws the row; click once it has arrived, so that the click
    // cannot land on a button being replaced (seen once: the recall was never sent).
    await waitUntil('the read receipt (已读) on the emoji message', async () =>
      (await rowOf(bp, emojiSeq).innerText()).includes('已读'), { describe: () => describe(bp) });
    await rowOf(bp, emojiSeq).getByRole('button', { name: /撤回/ }).click();
    for (const [e, text] of [[buyer, '你撤回了一条消息'], [seller, '对方撤回了一条消息']]) {
      await waitUntil(`"${text}" on the ${e.label}'s page`, async () => (await rowOf(e.page, emojiSeq).innerText()).trim() === text,
        { describe: () => describe(e.page) });
    }
    await run.screenshot(buyer, 'recalled');
  });

  await run.step(`${kind} 11. the tab bar: 直播 shows its list, 社区 says what is coming; back to 消息; 我的 opens`, async () => {
    if (phone) {
      await bp.locator('#back-btn').click();
      await waitVisible(bp.locator('#tabbar'), 'the tab bar after leaving the conversation');
      await noScroll(buyer, 'conversation list', phone);
    }
    const bar = await bp.locator('#tabbar').boundingBox();
    if (!bar || bar.y + bar.height > (bp.viewportSize().height + 1)) fail('the tab bar is not at the bottom of the screen');
    for (const b of await bp.locator('#tabbar button').all()) {
      const bb = await b.boundingBox();
      if (bb.height < 44 || bb.width < 44) fail(`a tab button is ${Math.round(bb.width)}×${Math.round(bb.height)} px, under 44`);
    }
    for (const [tab, sel, text] of [['live', '#live-title', '直播'], ['community', '#cm-title', '社区']]) {
      await bp.locator(`#tab-btn-${tab}`).click();
      await waitVisible(bp.locator(sel), `the ${tab} tab`);
      if (!(await bp.locator(sel).innerText()).includes(text)) fail(`the ${tab} tab says "${await bp.locator(sel).innerText()}"`);
      if ((await bp.locator(`#tab-btn-${tab}`).getAttribute('aria-current')) !== 'page') fail(`the ${tab} tab button is not marked current`);
      await noScroll(buyer, `${tab} tab`, phone);
    }
    await bp.locator('#tab-btn-me').click();
    await waitVisible(bp.locator('#tab-me'), 'the 我的 tab');
    await settle(bp);
    await noScroll(buyer, 'me tab', phone);
    await bp.locator('#tab-btn-messages').click();
    await waitVisible(bp.locator('#tab-messages'), 'the 消息 tab again');
    await waitVisible(bp.locator('#conv-list li.conv-item'), 'the conversation list');
  });

  await run.step(`${kind} 12. English through setLocale: tab bar and composer without Chinese; and back`, async () => {
    await bp.locator('#conv-list li.conv-item .conv-row').first().click();
    await waitVisible(bp.locator('#composer'), 'the composer');
    await bp.evaluate(() => import('/static/js/i18n.js').then((m) => m.setLocale('en')));
    await waitUntil('the tab bar in English', async () =>
      JSON.stringify((await bp.locator('#tabbar .tab-label').allInnerTexts()).map((s) => s.trim())) === JSON.stringify(TABS_EN),
    { describe: async () => (await bp.locator('#tabbar .tab-label').allInnerTexts()).join(',') });
    for (const sel of ['#tabbar', '#composer', '.conv-head']) {
      const text = await tabText(bp, sel);
      if (CJK.test(text.split(sellerMe.nickname).join('').replace([...sellerMe.nickname][0], ''))) fail(`Chinese left in ${sel} in English: "${text}"`);
    }
    await noScroll(buyer, 'conversation in English', phone);
    await run.screenshot(buyer, 'english');
    await bp.evaluate(() => import('/static/js/i18n.js').then((m) => m.setLocale('zh-CN')));
    await waitUntil('the tab bar in Chinese again', async () => (await bp.locator('#tabbar .tab-label').first().innerText()).trim() === '消息');
  });

  await run.step(`${kind} 13. no console errors and no window dialogs`, async () => {
    for (const e of [buyer, seller]) {
      const errors = e.errors.filter((x) => !/\[console\.warning\]/.test(x));
      if (errors.length) fail(`${e.label}: ${errors.join(' | ')}`);
      if (e.dialogs.length) fail(`${e.label} opened window dialogs: ${e.dialogs.join(' | ')}`);
    }
  });
  await seller.page.context().close();
  await buyer.page.context().close();
}

await run.main('web_client', async () => {
  await scenario('phone');
  await scenario('desktop');
});
