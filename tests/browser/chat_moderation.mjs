// End-to-end, in a real browser at phone size: a buyer's text with contact details is held for
// review, survives a reload, is rejected by a moderator in the console, stays rejected across a
// reload with its appeal, and is appealed once (in the in-page dialog). Then the buyer recalls
// a text (撤回) and both sides see the notice, and the seller reports a message through the
// report dialog, which reaches the console. See README.md for the environment it needs.
import {
  Run, env, fail, waitUntil, waitVisible, settle, loginApp, loginConsole, waitConnected,
  handleStanding, checkNoHorizontalScroll, englishOnlyErrors, visibleText, oneLine, POLICY_HINT,
  checkInsideScreen, checkFocusStaysIn, readMe as readAccount,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const BUYER_PHONE = env('DUOXIE_BUYER_PHONE');
const SELLER_PHONE = env('DUOXIE_SELLER_PHONE');
const MODERATOR_PHONE = env('DUOXIE_MODERATOR_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });

const TEXT = '加我微信 jade888，私下交易便宜';
const REJECT_REASON = '请勿在聊天中留联系方式或引导私下交易';
const APPEAL_REASON = '我只是问问';
// Texts no moderation rule holds (no contact details, none of the listed words): delivered at once.
const RECALL_TEXT = '这只翡翠手镯还在吗？';
const REPORT_TEXT = '先付全款，收到钱就发货，不走平台';
// Without the word 诈骗, so that 诈骗 on the console's card can only be the category.
const REPORT_REASON = '对方要求先付全款，不走平台担保';
const RECALLED_MINE = '你撤回了一条消息';
const RECALLED_PEER = '对方撤回了一条消息';
const REPORT_TOAST = '已提交，我们会尽快处理';
const CATEGORY_CHIPS = ['假货', '诈骗', '骚扰', '站外交易', '其他'];
// A number no step logs in with: the unticked login below must never reach a real account.
const VISITOR_PHONE = '13800138000';

const run = new Run({ artifacts: ARTIFACTS });

// The client shows no window dialogs (alert, confirm, prompt): reports and appeals are in-page.
// Should one open anyway it is accepted so nothing hangs, and step 14 fails the run.
const answerDialogs = () => true;

const englishSeen = new Set();
async function noteEnglish(entry, where) {
  for (const text of await englishOnlyErrors(entry.page)) {
    const key = entry.label + ':' + text;
    if (englishSeen.has(key)) continue;
    englishSeen.add(key);
    run.note(`English-only text visible on ${entry.label} (${where}): "${text}"`);
  }
}

// The buyer's bubbles of TEXT (held, rejected or sent).
const bubbles = (page) => page.locator('#message-list li.msg.mine').filter({ hasText: TEXT });
const buttonIn = (loc, name) => loc.getByRole('button', { name: new RegExp(name) });

// The logged-in account ({id, nickname}): the app shows no ids, so it is read from GET /api/me.
async function readMe(page) {
  const me = await readAccount(page);
  if (!me || !me.id) fail('GET /api/me did not answer the account');
  return { id: me.id, nickname: me.nickname, roles: me.roles || [] };
}

// The row of message `seq` in the open conversation (a bubble, or the recall notice).
const rowOf = (page, seq) => page.locator(`#message-list li[data-seq="${seq}"]`);

// Sends `text` from the composer; returns the committed message (fails when it is held).
async function sendText(entry, text) {
  const { page, ws } = entry;
  const mark = ws.mark();
  await page.locator('#composer-text').fill(text);
  await page.locator('#composer-send').click();
  const r = await waitUntil(`the chat.send reply for "${text}"`,
    () => ws.requests.slice(mark).find((q) => q.type === 'chat.send' && q.data.text === text && q.reply));
  if (!r.reply.ok) fail(`chat.send of "${text}" was refused: ${JSON.stringify(r.reply.error)}`);
  if (r.reply.data.held) fail(`"${text}" was held for review: the scenario needs a text no rule holds`);
  return r.reply.data.message;
}

// The modal dialog's markup: role=dialog, aria-modal, a title it is labelled by.
async function checkDialogMarkup(page, selector, title) {
  const d = await page.evaluate((sel) => {
    const n = document.querySelector(sel + ' [role=dialog]');
    if (!n) return null;
    const label = document.getElementById(n.getAttribute('aria-labelledby') || '');
    return { modal: n.getAttribute('aria-modal'), label: label ? label.innerText.trim() : null };
  }, selector);
  if (!d) fail(`${selector} has no element with role=dialog`);
  if (d.modal !== 'true') fail(`${selector} [role=dialog] has aria-modal="${d.modal}", not "true"`);
  if (!d.label || !title.test(d.label)) fail(`${selector} is labelled "${d.label}", expected ${title}`);
}

async function describeBubbles(page) {
  const rows = await page.locator('#message-list li').evaluateAll((lis) => lis.map((li) => `[${li.className}] ${li.innerText}`));
  return rows.length ? 'messages: ' + rows.join(' || ') : 'no messages shown; pane: ' +
    (await visibleText(page, '#pane-conv, #pane-empty, #conv-error, #app-error'));
}

// Opens the conversation with `seller` ({id, nickname}: the peer, whoever it is) from the
// (phone) conversation list.
async function openConversation(entry, seller) {
  const { page } = entry;
  const pane = page.locator(`#pane-conv[data-peer-id="${seller.id}"]`);
  const item = page.locator('#conv-list li.conv-item').filter({
    has: page.locator('.conv-name', { hasText: seller.nickname }),
  });
  // After a reload the address (#/messages/conversation:N) opens it once chat.list has
  // answered (on a phone that hides the list): then wait for the pane, not the list.
  if (/conversation/.test(new URL(page.url()).hash)) {
    await waitVisible(pane, `the conversation pane with #${seller.id} opened by the address`);
    return;
  }
  if (await pane.isVisible()) return;
  await waitVisible(item, `the conversation with ${seller.nickname} in the list`);
  await item.first().locator('.conv-row').click();
  await waitVisible(pane, `the conversation pane with #${seller.id} (#pane-conv[data-peer-id])`);
}

// After page.reload(): logged in again, connected, the conversation open, and the replies that
// fill it in (chat.held, chat.history, appeal.list) answered and rendered.
async function reloadAndReopen(entry, seller) {
  const { page, ws } = entry;
  const mark = ws.mark();
  await page.reload({ waitUntil: 'domcontentloaded' });
  await waitVisible(page.locator('#app-view'), 'the app view after the reload (stored login resumed)');
  await handleStanding(entry);
  await waitConnected(page);
  await openConversation(entry, seller);
  await waitUntil('the replies to chat.held, chat.history and appeal.list after the reload',
    () => ['chat.held', 'chat.history', 'appeal.list'].every((t) => ws.answered(t, mark)),
    { describe: () => 'sent since reload: ' + ws.requests.slice(mark).map((r) => `${r.type}${r.reply ? (r.reply.ok ? '✓' : '✗' + JSON.stringify(r.reply.error)) : '…'}`).join(' ') });
  await settle(page);
}

await run.main('chat_moderation', async () => {
  const buyer = await run.newPhonePage('buyer', { onDialog: answerDialogs });
  const seller = await run.newPhonePage('seller', { onDialog: answerDialogs });
  const mod = await run.newPhonePage('moderator', { onDialog: answerDialogs });
  const bp = buyer.page;
  let sellerInfo = null;

  // 0a: before anyone logs in, on a page of its own (closed afterwards).
  const jsDialogs = [];
  const visitor = await run.newPhonePage('visitor', { onDialog: (d) => { jsDialogs.push(d.type()); return false; } });
  await run.check('0a. login page: an unticked code login is refused (请先阅读并同意…); 《用户协议》 opens in a dialog that fits 390 px and closes', async () => {
    const vp = visitor.page;
    const logins = [];
    vp.on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/api/auth/login') logins.push(req);
    });
    await vp.goto(BASE + '/', { waitUntil: 'domcontentloaded' });
    await waitVisible(vp.locator('#login-view'), 'the login form (#login-view)');
    const box = vp.locator('#policy-agree');
    await waitVisible(box, 'the agreement checkbox (#policy-agree)');
    const label = oneLine(await vp.locator('#policy-agree-row').innerText());
    if (!label.includes('我已阅读并同意《用户协议》和《隐私政策》')) fail(`the agreement box says "${label}"`);
    if (await box.isChecked()) fail('the agreement box is ticked in advance');
    const submit = vp.locator('#code-form button[type=submit]');
    await waitUntil('the login button to be enabled (GET /api/legal/privacy_policy answered)',
      () => submit.isEnabled(), { describe: () => visibleText(vp, '#policy-agree-error, #login-error') });

    // Unticked: the hint, and no login (nothing sent, or the server's policy_not_accepted shown).
    await vp.locator('#code-phone').fill(VISITOR_PHONE);
    await vp.locator('#code-code').fill('000000');
    await submit.click();
    await waitUntil(`the hint "${POLICY_HINT}" (#login-error)`,
      async () => (await visibleText(vp, '#login-error')).includes(POLICY_HINT),
      { describe: async () => 'shown: ' + (await visibleText(vp, '#login-error, #login-info, #policy-agree-error')) });
    await settle(vp);
    for (const req of logins) {
      const res = await req.response();
      const body = res ? await res.json().catch(() => null) : null;
      const code = body && body.error && body.error.code;
      if (!res || res.status() !== 403 || code !== 'policy_not_accepted') {
        fail(`the unticked login was sent and answered ${res ? res.status() : 'nothing'} ${code || ''} ` +
          `(body ${oneLine(req.postData() || '')})`);
      }
    }
    console.log(`  unticked login: ${logins.length ? `sent ${logins.length}, refused policy_not_accepted` : 'not sent'}`);
    if (await vp.locator('#app-view').isVisible()) fail('the app opened without the agreement ticked');

    // The agreement, in full, in the page: readable at 390×844, scrolls inside itself, closes.
    await vp.locator('#login-view .legal-link[data-doc="user_agreement"]').click();
    const dialog = vp.locator('#legal-dialog');
    await waitVisible(dialog, 'the agreement dialog (#legal-dialog)');
    await waitUntil('the agreement text (多些用户协议) in the dialog (#legal-body)',
      async () => (await vp.locator('#legal-body').innerText()).includes('多些用户协议'),
      { describe: () => visibleText(vp, '#legal-dialog') });
    await settle(vp);
    const r = await checkNoHorizontalScroll(vp, 'agreement dialog');
    const fit = await vp.evaluate(() => {
      const rect = (n) => { const b = n.getBoundingClientRect(); return { left: b.left, top: b.top, right: b.right, bottom: b.bottom }; };
      const body = document.getElementById('legal-body');
      const before = body.scrollTop;
      body.scrollTop = body.scrollHeight;
      const scrolled = body.scrollTop > before;
      body.scrollTop = before;
      return {
        card: rect(document.querySelector('#legal-dialog .legal-card')),
        close: rect(document.getElementById('legal-close')),
        closeText: document.getElementById('legal-close').innerText.trim(),
        tall: body.scrollHeight > body.clientHeight + 1,
        scrolled,
        wide: body.scrollWidth > body.clientWidth + 1,
        vw: window.innerWidth,
        vh: window.innerHeight,
      };
    });
    const outside = (b) => b.left < -0.5 || b.top < -0.5 || b.right > Math.min(fit.vw, r.deviceWidth) + 0.5 || b.bottom > fit.vh + 0.5;
    const px = (b) => `${Math.round(b.left)},${Math.round(b.top)}–${Math.round(b.right)},${Math.round(b.bottom)}`;
    if (outside(fit.card)) fail(`the dialog (${px(fit.card)}) does not fit the ${r.deviceWidth}×${fit.vh} screen`);
    if (outside(fit.close)) fail(`the close button (${px(fit.close)}) is off the ${r.deviceWidth}×${fit.vh} screen`);
    if (!/关闭/.test(fit.closeText)) fail(`the close button says "${fit.closeText}", not 关闭`);
    if (fit.wide) fail('the agreement text is wider than the dialog');
    if (fit.tall && !fit.scrolled) fail('the agreement text is taller than the dialog but does not scroll');
    await run.screenshot(visitor, 'agreement');
    await vp.locator('#legal-close').click();
    await waitVisible(dialog, 'the agreement dialog to close', { state: 'hidden' });
    if (jsDialogs.length) fail(`the page used window dialogs (${jsDialogs.join(', ')}) instead of an in-page dialog`);
  });
  await visitor.page.context().close().catch(() => {});

  await run.step('seller logs in (to learn the id and nickname the buyer sees)', async () => {
    await loginApp(seller, BASE, SELLER_PHONE);
    sellerInfo = await readMe(seller.page);
    if (!sellerInfo.roles.includes('seller')) fail(`the seller account lacks the seller role (roles: ${sellerInfo.roles.join(', ')})`);
    console.log(`  seller is #${sellerInfo.id} ${sellerInfo.nickname}`);
  });

  // 1
  await run.step('1. buyer logs in on a phone-sized page', async () => {
    await loginApp(buyer, BASE, BUYER_PHONE);
    await noteEnglish(buyer, 'after login');
  });

  // 2
  await run.step('2. buyer opens a chat with the seller from the seller directory', async () => {
    // With no conversation yet the directory is the first screen; otherwise 找卖家 leads to it.
    await waitUntil('the 消息 tab (the directory or the conversation list)', async () =>
      (await bp.locator('#seller-list li.user-item').count()) > 0 || (await bp.locator('#conv-list li.conv-item').count()) > 0);
    if (await bp.locator('#find-btn').isVisible()) await bp.locator('#find-btn').click();
    const row = bp.locator(`#seller-list li.user-item[data-user-id="${sellerInfo.id}"]`);
    await waitVisible(row, `seller #${sellerInfo.id} in the directory`).catch(async (err) => {
      fail(err.message + ' — directory: ' + (await visibleText(bp, '#seller-list, #seller-empty, #app-error')));
    });
    await buttonIn(row.first(), '聊天').click();
    await waitVisible(bp.locator(`#pane-conv[data-peer-id="${sellerInfo.id}"]`), 'the conversation pane').catch(async (err) => {
      fail(err.message + ' — ' + (await visibleText(bp, '#people-error, #app-notice')));
    });
    // On a phone the conversation replaces the list.
    if (await bp.locator('#conv-list').isVisible()) run.note('the conversation list stays visible beside an open conversation at 390 px');
  });

  // 3
  await run.step('3. buyer sends the text; it is held: own bubble, 审核中, no 重试', async () => {
    await bp.locator('#composer-text').fill(TEXT);
    await bp.locator('#composer-send').click();
    const b = bubbles(bp);
    await waitUntil('the buyer\'s bubble with the 审核中 review tag',
      async () => (await b.count()) === 1 && (await b.locator('.review-tag', { hasText: '审核中' }).count()) === 1,
      { describe: () => describeBubbles(bp) });
    if (await buttonIn(b, '重试').count()) fail('the held text offers a 重试 (Retry) button: ' + (await describeBubbles(bp)));
    if (!(await b.evaluate((li) => li.classList.contains('held')))) fail('the bubble is not in the held state: ' + (await describeBubbles(bp)));
    if ((await bp.locator('#composer-text').inputValue()) !== '') fail('the composer was not cleared after sending');
    await run.screenshot(buyer, 'held');
    await noteEnglish(buyer, 'held text');
  });

  await run.step('3b. the seller did not receive the held text', async () => {
    const got = await seller.page.evaluate((t) => document.body.innerText.includes(t), 'jade888');
    if (got) fail('the seller\'s page shows the held text');
  });

  // 4
  await run.step('4. after a reload the held text is still shown with 审核中 (chat.held)', async () => {
    await reloadAndReopen(buyer, sellerInfo);
    const b = bubbles(bp);
    await waitUntil('the held bubble with 审核中 after the reload',
      async () => (await b.count()) === 1 && (await b.locator('.review-tag', { hasText: '审核中' }).count()) === 1,
      { describe: () => describeBubbles(bp) });
    if (await buttonIn(b, '重试').count()) fail('the restored held text offers 重试');
  });

  // 5
  await run.step('5. moderator rejects the chat_text item in the console', async () => {
    const mp = mod.page;
    await loginConsole(mod, BASE, MODERATOR_PHONE);
    const card = mp.locator('#queue article.item[data-kind="chat_text"]').filter({ hasText: TEXT });
    await waitVisible(card, 'the chat_text item with the text in the queue').catch(async (err) => {
      fail(err.message + ' — queue: ' + oneLineList(await mp.locator('#queue article').allInnerTexts()) +
        ' ' + (await visibleText(mp, '#queue-empty, #banner')));
    });
    await run.screenshot(mod, 'queue');
    await buttonIn(card, '认领').click();
    const reason = card.locator('.decide textarea');
    await waitVisible(reason, 'the decision form of the claimed item').catch(async (err) => {
      fail(err.message + ' — ' + (await card.innerText()));
    });
    await reason.fill(REJECT_REASON);
    await card.locator('.decide button.reject').click();
    await waitVisible(card, 'the decided item to leave the queue', { state: 'detached' }).catch(async (err) => {
      fail(err.message + ' — ' + (await card.innerText().catch(() => '')));
    });
    await waitUntil('the console to confirm the decision (#queue-flash)',
      async () => /已处理/.test((await visibleText(mp, '#queue-flash')) || ''));
    await run.screenshot(mod, 'decided');
    await noteEnglish(mod, 'after the decision');
  });

  // 6
  await run.step('6. buyer sees the bubble rejected (未通过) with 申诉 and 删除', async () => {
    const b = bubbles(bp);
    await waitUntil('the bubble to become rejected with 申诉 and 删除 buttons', async () =>
      (await b.count()) === 1 && /未通过/.test(await b.innerText()) &&
      (await buttonIn(b, '申诉').count()) === 1 && (await buttonIn(b, '删除').count()) === 1,
    { describe: () => describeBubbles(bp) });
    if (!(await b.innerText()).includes(REJECT_REASON)) run.note('the rejected bubble does not show the moderator\'s reason');
    if (await b.locator('.review-tag', { hasText: '审核中' }).count()) fail('the rejected bubble still says 审核中');
    await run.screenshot(buyer, 'rejected');
    await noteEnglish(buyer, 'rejected');
  });

  // 7
  await run.step('7. after a reload the rejected text is still shown with 申诉 (appeal.list)', async () => {
    await reloadAndReopen(buyer, sellerInfo);
    const b = bubbles(bp);
    await waitUntil('the rejected bubble with 申诉 after the reload', async () =>
      (await b.count()) === 1 && /未通过/.test(await b.innerText()) && (await buttonIn(b, '申诉').count()) === 1,
    { describe: () => describeBubbles(bp) });
  });

  // 8
  await run.step('8. buyer appeals in the in-page dialog: 已申诉 replaces 申诉 and a notice is shown', async () => {
    const b = bubbles(bp);
    const mark = buyer.ws.mark();
    await buttonIn(b, '申诉').click();
    const dialog = bp.locator('#appeal-dialog');
    await waitVisible(dialog, 'the appeal dialog (#appeal-dialog)');
    await checkDialogMarkup(bp, '#appeal-dialog', /申诉/);
    await bp.locator('#appeal-reason').fill(APPEAL_REASON);
    await bp.locator('#appeal-submit').click();
    await waitUntil('the appeal.create reply', () => buyer.ws.answered('appeal.create', mark),
      { describe: () => visibleText(bp, '#appeal-error') });
    const sent = buyer.ws.answered('appeal.create', mark);
    if (!sent.reply.ok) fail('appeal.create was refused: ' + JSON.stringify(sent.reply.error));
    if (sent.data.reason !== APPEAL_REASON) fail(`appeal.create sent the reason "${sent.data.reason}"`);
    await waitVisible(dialog, 'the appeal dialog to close', { state: 'hidden' });
    await waitUntil('已申诉 in place of the 申诉 button', async () =>
      (await b.locator('.review-tag', { hasText: '已申诉' }).count()) === 1 && (await buttonIn(b, '申诉').count()) === 0,
    { describe: () => describeBubbles(bp) });
    await waitUntil('the appeal confirmation (#toast)',
      async () => /申诉已提交/.test((await visibleText(bp, '#toast, #app-notice')) || ''),
      { describe: async () => 'notice: ' + (await visibleText(bp, '#app-notice, #app-error')) });
    await run.screenshot(buyer, 'appealed');
    await noteEnglish(buyer, 'appealed');
  });

  await run.check('8a. the 已申诉 tag is drawn with its bubble (not elsewhere on the page)', async () => {
    const b = bubbles(bp);
    const tag = b.locator('.review-tag', { hasText: '已申诉' });
    const [row, box] = [await b.boundingBox(), await tag.boundingBox()];
    if (!row || !box) fail('the bubble or its tag has no box');
    const inside = box.x >= row.x - 1 && box.y >= row.y - 1 &&
      box.x + box.width <= row.x + row.width + 1 && box.y + box.height <= row.y + row.height + 1;
    if (!inside) {
      const pos = await tag.evaluate((n) => getComputedStyle(n).position);
      fail(`the 已申诉 tag is drawn at x=${Math.round(box.x)} y=${Math.round(box.y)} (position: ${pos}), ` +
        `outside its message row (x=${Math.round(row.x)} y=${Math.round(row.y)} ${Math.round(row.width)}×${Math.round(row.height)})`);
    }
  });

  await run.step('8b. after a reload the text is still there, marked 已申诉, without 申诉 (appeal.list under_appeal)', async () => {
    await reloadAndReopen(buyer, sellerInfo);
    const b = bubbles(bp);
    await waitUntil('the appealed bubble with 已申诉 after the reload', async () =>
      (await b.count()) === 1 && (await b.locator('.review-tag', { hasText: '已申诉' }).count()) === 1,
    { describe: () => describeBubbles(bp) });
    if (await buttonIn(b, '申诉').count()) fail('the appealed text offers 申诉 again: ' + (await describeBubbles(bp)));
    await run.screenshot(buyer, 'appealed-reloaded');
  });

  // 9
  await run.step('9. the seller never received the text', async () => {
    for (const e of [buyer, seller, mod]) await noteEnglish(e, 'end');
    if (await seller.page.evaluate((t) => document.body.innerText.includes(t), 'jade888')) {
      fail('the seller\'s page shows the rejected text');
    }
  });

  await run.check('9a. no horizontal scrolling at 390 px: buyer chat view', async () => {
    await waitVisible(bp.locator('#pane-conv'), 'the buyer chat view');
    const r = await checkNoHorizontalScroll(bp, 'buyer chat view');
    console.log(`  scrollWidth ${r.scrollWidth}, innerWidth ${r.innerWidth}, device ${r.deviceWidth} px`);
    const clipped = await bp.locator('#conn-status').evaluate((n) => n.scrollWidth > n.clientWidth + 1 ? n.innerText : '');
    if (clipped) run.note(`the connection status in the buyer's top bar is clipped at 390 px (shows only its first characters of "${clipped}")`);
  });

  await run.check('9b. no horizontal scrolling at 390 px: moderation console', async () => {
    const r = await checkNoHorizontalScroll(mod.page, 'console');
    console.log(`  scrollWidth ${r.scrollWidth}, innerWidth ${r.innerWidth}, device ${r.deviceWidth} px`);
  });

  // 10–14: 撤回 on both sides, a report through the in-page dialog, the console receives it.
  const sp = seller.page;
  const buyerInfo = await run.step('10. buyer sends a text that is delivered at once; it offers 撤回', async () => {
    const me = await readMe(bp);
    console.log(`  buyer is #${me.id} ${me.nickname}`);
    const m = await sendText(buyer, RECALL_TEXT);
    me.recallSeq = m.seq;
    const row = rowOf(bp, m.seq);
    await waitUntil(`the buyer's own bubble of seq ${m.seq} with a 撤回 button`, async () =>
      (await row.count()) === 1 && (await row.evaluate((li) => li.classList.contains('mine'))) &&
      (await row.locator('.bubble').innerText()).includes(RECALL_TEXT) && (await buttonIn(row, '撤回').count()) === 1,
    { describe: () => describeBubbles(bp) });
    return me;
  });

  await run.step('10a. the seller opens the conversation with the buyer and sees the text', async () => {
    await openConversation(seller, buyerInfo);
    const row = rowOf(sp, buyerInfo.recallSeq);
    await waitUntil(`the buyer's text (seq ${buyerInfo.recallSeq}) on the seller's page`, async () =>
      (await row.count()) === 1 && (await row.innerText()).includes(RECALL_TEXT),
    { describe: () => describeBubbles(sp) });
    if (await buttonIn(row, '撤回').count()) fail('the seller is offered 撤回 on the buyer\'s message');
  });

  await run.step('10b. buyer recalls it (撤回): both sides show the notice live, the text is gone from both', async () => {
    const seq = buyerInfo.recallSeq;
    const mark = buyer.ws.mark();
    const sellerEvents = seller.ws.events.length;
    await buttonIn(rowOf(bp, seq), '撤回').click();
    await waitUntil('the chat.recall reply', () => buyer.ws.answered('chat.recall', mark));
    const sent = buyer.ws.answered('chat.recall', mark);
    if (!sent.reply.ok) fail('chat.recall was refused: ' + JSON.stringify(sent.reply.error));
    if (sent.data.seq !== seq) fail(`chat.recall named seq ${sent.data.seq}, not ${seq}`);
    for (const [entry, notice] of [[buyer, RECALLED_MINE], [seller, RECALLED_PEER]]) {
      const row = rowOf(entry.page, seq);
      await waitUntil(`"${notice}" in place of the message on the ${entry.label}'s page`, async () =>
        (await row.count()) === 1 && (await row.innerText()).trim() === notice,
      { describe: () => describeBubbles(entry.page) });
      if (await row.locator('.bubble, img').count()) fail(`the ${entry.label}'s recall notice still has a bubble or a picture`);
      const left = await entry.page.evaluate((t) => ({
        shown: document.body.innerText.includes(t),
        list: (document.getElementById('message-list').textContent || '').includes(t),
        preview: (document.getElementById('conv-list').textContent || '').includes(t),
      }), RECALL_TEXT);
      if (left.shown || left.list || left.preview) fail(`the ${entry.label}'s page still has the recalled text (${JSON.stringify(left)})`);
      await waitUntil(`the ${entry.label}'s conversation list preview to say "${notice}"`,
        async () => ((await entry.page.locator('#conv-list').textContent()) || '').includes(notice));
    }
    if (!seller.ws.events.slice(sellerEvents).some((e) => e.type === 'chat.recalled' && e.data && e.data.seq === seq)) {
      fail('the seller showed the notice without a chat.recalled event');
    }
    await run.screenshot(buyer, 'recalled');
    await run.screenshot(seller, 'recalled');
  });

  await run.step('10c. after a reload the buyer still sees 你撤回了一条消息 (chat.history)', async () => {
    await reloadAndReopen(buyer, sellerInfo);
    const row = rowOf(bp, buyerInfo.recallSeq);
    await waitUntil(`"${RECALLED_MINE}" for seq ${buyerInfo.recallSeq} after the reload`, async () =>
      (await row.count()) === 1 && (await row.innerText()).trim() === RECALLED_MINE,
    { describe: () => describeBubbles(bp) });
    if (await bp.evaluate((t) => document.body.innerText.includes(t), RECALL_TEXT)) fail('the recalled text is back after the reload');
  });

  let reportSeq = null;
  await run.step('11. buyer sends another text; the seller opens its 举报 dialog: five reason chips, none chosen, 提交 disabled', async () => {
    reportSeq = (await sendText(buyer, REPORT_TEXT)).seq;
    const row = rowOf(sp, reportSeq);
    await waitUntil(`the buyer's second text (seq ${reportSeq}) on the seller's page`, async () =>
      (await row.count()) === 1 && (await row.innerText()).includes(REPORT_TEXT),
    { describe: () => describeBubbles(sp) });
    await buttonIn(row, '举报').click();
    await waitVisible(sp.locator('#report-dialog'), 'the report dialog (#report-dialog)');
    await checkDialogMarkup(sp, '#report-dialog', /举报/);
    const chips = (await sp.locator('#report-dialog label.chip').allInnerTexts()).map((t) => t.trim());
    if (JSON.stringify(chips) !== JSON.stringify(CATEGORY_CHIPS)) fail(`the reason chips are ${JSON.stringify(chips)}, expected ${JSON.stringify(CATEGORY_CHIPS)}`);
    if (await sp.locator('input[name="report-category"]:checked').count()) fail('a reason is chosen in advance');
    if (await sp.locator('#report-submit').isEnabled()) fail('提交 is enabled before a reason is chosen');
  });

  await run.check('11a. the report dialog keeps the focus inside; Escape and 取消 close it', async () => {
    await checkFocusStaysIn(sp, '#report-dialog', ['Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']);
    await sp.keyboard.press('Escape');
    await waitVisible(sp.locator('#report-dialog'), 'the report dialog to close on Escape', { state: 'hidden' });
    await buttonIn(rowOf(sp, reportSeq), '举报').click();
    await waitVisible(sp.locator('#report-dialog'), 'the report dialog to open again');
    await sp.locator('#report-cancel').click();
    await waitVisible(sp.locator('#report-dialog'), 'the report dialog to close on 取消', { state: 'hidden' });
  });

  await run.step('11b. the seller chooses 诈骗 and gives a reason: 提交 is enabled, the counter counts', async () => {
    if (!(await sp.locator('#report-dialog').isVisible())) {
      await buttonIn(rowOf(sp, reportSeq), '举报').click();
      await waitVisible(sp.locator('#report-dialog'), 'the report dialog (#report-dialog)');
    }
    await sp.locator('#report-dialog label.chip', { hasText: '诈骗' }).click();
    const chosen = await sp.locator('input[name="report-category"]:checked').evaluateAll((ns) => ns.map((n) => n.value));
    if (JSON.stringify(chosen) !== '["fraud"]') fail(`choosing 诈骗 checked ${JSON.stringify(chosen)}`);
    await sp.locator('#report-reason').fill(REPORT_REASON);
    await waitUntil('提交 (#report-submit) to be enabled', () => sp.locator('#report-submit').isEnabled());
    const count = ((await sp.locator('#report-count').textContent()) || '').trim();
    if (count !== `${[...REPORT_REASON].length}/500`) fail(`the counter says "${count}", expected ${[...REPORT_REASON].length}/500`);
    await run.screenshot(seller, 'report-dialog');
  });

  await run.check('12. no horizontal scrolling at 390 px with the report dialog open; the dialog fits the screen', async () => {
    await settle(sp);
    const r = await checkNoHorizontalScroll(sp, 'seller page with the report dialog');
    console.log(`  scrollWidth ${r.scrollWidth}, innerWidth ${r.innerWidth}, device ${r.deviceWidth} px`);
    await checkInsideScreen(sp, '#report-dialog [role=dialog]', 'the report dialog');
    await checkInsideScreen(sp, '#report-submit', 'its 提交 button');
  });

  await run.step('12a. 提交: report.create with category fraud; the dialog closes with the toast', async () => {
    const mark = seller.ws.mark();
    await sp.locator('#report-submit').click();
    await waitUntil('the report.create reply', () => seller.ws.answered('report.create', mark),
      { describe: () => visibleText(sp, '#report-error') });
    const sent = seller.ws.answered('report.create', mark);
    if (!sent.reply.ok) fail('report.create was refused: ' + JSON.stringify(sent.reply.error));
    const d = sent.data;
    if (d.target !== 'message' || d.seq !== reportSeq || d.category !== 'fraud' || d.reason !== REPORT_REASON) {
      fail('report.create sent ' + JSON.stringify(d));
    }
    await waitVisible(sp.locator('#report-dialog'), 'the report dialog to close', { state: 'hidden' });
    await waitUntil(`the toast "${REPORT_TOAST}" (#toast)`,
      async () => (await visibleText(sp, '#toast')).includes(REPORT_TOAST),
      { describe: async () => 'shown: ' + (await visibleText(sp, '#toast, #app-notice, #app-error, #conv-error')) });
    await noteEnglish(seller, 'after the report');
  });

  await run.step('13. the moderator\'s console receives the reported message', async () => {
    const mp = mod.page;
    const card = mp.locator('#queue article.item[data-kind="report_message"]').filter({ hasText: REPORT_TEXT });
    await waitVisible(card, 'the report_message card with the reported text in the queue').catch(async (err) => {
      fail(err.message + ' — queue: ' + oneLineList(await mp.locator('#queue article').allInnerTexts()) +
        ' ' + (await visibleText(mp, '#queue-empty, #banner')));
    });
    await run.screenshot(mod, 'report');
    const chip = await card.first().evaluate((n) => {
      const c = n.querySelector('[data-category], [class*="category"]');
      return c ? c.innerText.trim() : null;
    });
    if (chip !== '诈骗') fail(`the card's category chip says ${JSON.stringify(chip)}, not 诈骗`);
  });

  // The console's 用户处理 form: one mod.act, answered in #act-msg.
  async function act(mp, userId, action, reason) {
    await mp.locator('#act-user').fill(String(userId));
    await mp.locator('#act-action').selectOption(action);
    if (action === 'mute') await mp.locator('#act-duration').selectOption('3600000');
    await mp.locator('#act-reason').fill(reason);
    const mark = mod.ws.mark();
    await mp.locator('#act-submit').click();
    const r = await waitUntil(`the mod.act reply (${action})`,
      () => mod.ws.requests.slice(mark).find((q) => q.type === 'mod.act' && q.reply));
    if (!r.reply.ok) fail(`mod.act ${action} was refused: ${JSON.stringify(r.reply)}`);
  }

  await run.step('13b. the moderator mutes the buyer: the composer is disabled live with the end time, also after a reload; a lift enables it', async () => {
    const bp = buyer.page;
    const me = await readMe(bp);
    const composer = bp.locator('#composer-text');
    await waitVisible(composer, "the buyer's composer (the conversation is open)");
    if (await composer.isDisabled()) fail('the composer is disabled before any mute');
    await act(mod.page, me.id, 'mute', '多次发送站外交易信息');
    const disabled = async () => (await composer.isDisabled()) && (await bp.locator('#composer-send').isDisabled());
    await waitUntil('the composer and 发送 disabled (live, from the mute event)', disabled,
      { describe: () => visibleText(bp, '#mute-banner, #app-notice') });
    const banner = await visibleText(bp, '#mute-banner');
    if (!banner.includes('禁言') || !/\d{1,2}:\d{2}/.test(banner)) fail(`the mute banner says "${banner}", not 禁言 with the end time`);
    if (!banner.includes('多次发送站外交易信息')) fail(`the mute banner does not give the reason: "${banner}"`);
    await bp.reload();
    await waitVisible(composer, "the buyer's composer after a reload");
    await waitUntil('the composer still disabled after a reload (muted_until from the server)', disabled);
    await act(mod.page, me.id, 'lift', '已核实，解除禁言');
    await waitUntil('the composer enabled again after the lift', async () => !(await composer.isDisabled()),
      { describe: () => visibleText(bp, '#mute-banner, #app-notice') });
    if (await bp.locator('#mute-banner').isVisible()) fail('the mute banner stays after the lift');
    const notice = await visibleText(bp, '#app-notice');
    if (!notice.includes('处罚已解除') || /\b(null|undefined)\b/.test(notice)) fail(`the lift notice says "${notice}"`);
  });

  await run.check('14. no window dialogs (alert, confirm, prompt) on any page', async () => {
    const all = [buyer, seller, mod].flatMap((e) => e.dialogs.map((d) => `${e.label}: ${d}`));
    if (all.length) fail(`the client opened window dialogs: ${all.join(' | ')}`);
  });

  for (const e of [buyer, seller, mod]) {
    if (e.errors.length) run.note(`${e.label} console errors: ${e.errors.map((x) => x.replace(/\s+/g, ' ')).join(' | ')}`);
  }
});

function oneLineList(list) {
  return list.length ? list.map((t) => t.replace(/\s+/g, ' ')).join(' || ') : '(none)';
}
