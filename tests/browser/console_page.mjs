// The moderator console (/console, static/js/console/*.js) in a real browser, at phone size
// (390×844) and at desktop width (1280×800): a plain account sees the forbidden view in
// Chinese; the moderator logs in; reports made through the protocol (report.create, by the
// buyer, with a category) show live as cards with their category chip; the English switch
// turns the console into English (no Chinese but user content) and back, and is remembered
// over a reload; an item is claimed and decided and leaves the queue; nothing scrolls
// sideways, touch targets are at least 44 px on the phone, the two columns sit side by side
// on the desktop; no window dialogs and no console errors. See README.md.
import { runStamp,
  Run, env, fail, waitUntil, waitVisible, settle, acceptPolicy, checkNoHorizontalScroll,
  checkInsideScreen, visibleText, oneLine,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const MODERATOR_PHONE = env('DUOXIE_MODERATOR_PHONE');
const BUYER_PHONE = env('DUOXIE_BUYER_PHONE');
const SELLER_PHONE = env('DUOXIE_SELLER_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });

const CJK = /[\u3400-\u9fff\uff00-\uffef\u3000-\u303f]/;
const DESKTOP = { width: 1280, height: 800 };

const run = new Run({ artifacts: ARTIFACTS, overallMs: 300000 });

// ---------------------------------------------------------------- the protocol, from a page

// A page of the server's origin (no UI) where the buyer and the seller use the client library
// itself (report.create, chat.open, chat.send): made once, kept on window.dx.
async function apiPage() {
  const entry = await run.newPhonePage('api');
  const res = await entry.page.goto(BASE + '/healthz', { waitUntil: 'domcontentloaded' });
  if (!res || !res.ok()) fail(`GET /healthz answered ${res ? res.status() : 'nothing'}`);
  const who = await entry.page.evaluate(async ({ buyer, seller }) => {
    const m = await import('/static/js/client.js');
    const make = async (phone) => {
      const c = m.createClient({ storage: m.memoryStorage(), browserEvents: false });
      const { dev_code: code } = await c.requestCode(phone);
      const policy = await c.api('GET', '/api/legal/privacy_policy', undefined, { auth: false });
      const { user } = await c.login({ phone, code, accepted_policy_version: policy.version, age_bracket: 'adult' });
      await new Promise((resolve) => (c.state === 'online' ? resolve() : c.once('online', resolve)));
      return { c, user };
    };
    const b = await make(buyer);
    const s = await make(seller);
    window.dx = { buyer: b.c, seller: s.c };
    return { buyer: b.user, seller: s.user };
  }, { buyer: BUYER_PHONE, seller: SELLER_PHONE });
  return { entry, who };
}

// The buyer reports the seller's profile (report_user) with `category`.
async function reportUser(api, sellerId, category, reason) {
  return api.page.evaluate(({ sellerId, category, reason }) =>
    window.dx.buyer.request('report.create', { target: 'user', user_id: sellerId, category, reason }),
  { sellerId, category, reason });
}

// The seller sends `text` to the buyer; the buyer reports that message (report_message).
async function reportMessage(api, buyerId, text, category, reason) {
  return api.page.evaluate(async ({ buyerId, text, category, reason }) => {
    const { conversation } = await window.dx.seller.request('chat.open', { peer_id: buyerId });
    const { message } = await window.dx.seller.send(conversation.id, text);
    if (!message || !message.seq) throw new Error('the message was held: ' + JSON.stringify(message));
    return window.dx.buyer.request('report.create', { target: 'message', conversation_id: conversation.id,
      seq: message.seq, category, reason });
  }, { buyerId, text, category, reason });
}

// ---------------------------------------------------------------- the console

// Logs `phone` in through the console's form; resolves 'console' or 'forbidden'.
async function consoleLogin(entry, phone) {
  const { page } = entry;
  await waitVisible(page.locator('#login-view'), 'the console login form (#login-view)');
  await page.locator('#login-phone').fill(phone);
  await page.locator('#send-code-btn').click();
  await waitUntil('the console to pre-fill the dev code (#login-code)',
    async () => /^\d{4,8}$/.test(await page.locator('#login-code').inputValue()),
    { describe: () => visibleText(page, '#login-error, #login-info') });
  await acceptPolicy(page, '#login-form button[type=submit]');
  await page.locator('#login-form button[type=submit]').click();
  return waitUntil('the console (#console-view) or the forbidden view (#forbidden-view)', async () => {
    if (await page.locator('#forbidden-view').isVisible()) return 'forbidden';
    if (await page.locator('#console-view').isVisible()) return 'console';
    return null;
  }, { describe: () => visibleText(page, '#login-error, #login-info, #banner') });
}

// Every text a moderator sees (text nodes, placeholders, labels, the title), without user
// content (.user-content: nicknames, reasons, reported texts) and without 《…》 titles.
async function chineseOutsideUserContent(page) {
  return page.evaluate((cjkSource) => {
    const cjk = new RegExp(cjkSource);
    const out = [];
    const shown = (n) => n.getClientRects().length && getComputedStyle(n).visibility !== 'hidden';
    const strip = (s) => s.replace(/《[^》]*》/g, '');
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (!p || p.closest('.user-content, script, style, noscript') || !shown(p)) continue;
      const s = strip(n.textContent);
      if (cjk.test(s)) out.push(`${p.tagName.toLowerCase()}${p.id ? '#' + p.id : ''}${p.className && typeof p.className === 'string' ? '.' + p.className.trim().split(/\s+/).join('.') : ''}: "${s.trim().slice(0, 80)}"`);
    }
    for (const n of document.querySelectorAll('[placeholder], [aria-label], [title], [data-label]')) {
      if (n.closest('.user-content') || !shown(n)) continue;
      for (const a of ['placeholder', 'aria-label', 'title', 'data-label']) {
        const v = n.getAttribute(a);
        if (v && cjk.test(strip(v))) out.push(`${n.tagName.toLowerCase()}${n.id ? '#' + n.id : ''} [${a}]: "${v.slice(0, 80)}"`);
      }
    }
    if (cjk.test(strip(document.title))) out.push(`title: "${document.title}"`);
    return out;
  }, CJK.source);
}

// Buttons, selects, text inputs and links in the app view, where a finger must hit them.
async function smallTargets(page) {
  return page.evaluate(() => {
    const out = [];
    for (const n of document.querySelectorAll('#app-view button, #app-view select, #app-view input:not([type=checkbox]), #app-view a, #app-view label.inline-check')) {
      if (!n.getClientRects().length || getComputedStyle(n).visibility === 'hidden') continue;
      const r = n.getBoundingClientRect();
      if (r.height < 43.5 || r.width < 43.5) {
        out.push(`${n.tagName.toLowerCase()}${n.id ? '#' + n.id : ''}${n.className && typeof n.className === 'string' ? '.' + n.className.trim().split(/\s+/).join('.') : ''} "${(n.innerText || n.value || '').trim().slice(0, 20)}" ${Math.round(r.width)}×${Math.round(r.height)}`);
      }
    }
    return out;
  });
}

const cardOf = (page, kind, text) => page.locator(`#queue article.item[data-kind="${kind}"]`).filter({ hasText: text });

async function describeQueue(page) {
  const cards = await page.locator('#queue article').allInnerTexts();
  return 'queue: ' + (cards.length ? cards.map((x) => oneLine(x).slice(0, 160)).join(' || ') : '(none)') +
    ' ' + (await visibleText(page, '#queue-empty, #banner, #conn-status'));
}

async function switchLanguage(page, to) {
  const btn = page.locator('#app-view .topbar .lang-btn');
  await btn.click();
  await waitUntil(`<html lang="${to}">`, async () => (await page.evaluate(() => document.documentElement.lang)) === to);
  await settle(page);
}

// ---------------------------------------------------------------- one run, at one size

async function scenario(tag, size, api) {
  const desktop = size.width > 390;
  // lib.mjs's desktop window when it has one (not a phone), else a phone context made wide.
  const mod = desktop && typeof run.newDesktopPage === 'function'
    ? await run.newDesktopPage(tag + '-moderator')
    : await run.newPhonePage(tag + '-moderator');
  const { page } = mod;
  if (desktop && page.viewportSize().width !== size.width) await page.setViewportSize(size);
  const seller = api.who.seller;
  const buyer = api.who.buyer;
  const stamp = runStamp(8);

  await run.step(`${tag} 1. a plain account at /console sees the forbidden view, in Chinese, and logs out`, async () => {
    const res = await page.goto(BASE + '/console', { waitUntil: 'domcontentloaded' });
    if (!res || !res.ok()) fail(`GET /console answered ${res ? res.status() : 'nothing'}`);
    await waitVisible(page.locator('#login-view'), 'the console login form (#login-view)');
    await run.screenshot(mod, 'login');
    if (!desktop) {
      // 《用户协议》 in full, in the in-page dialog (never a window dialog), and closed again.
      await page.locator('#login-view .legal-link[data-doc="user_agreement"]').click();
      await waitVisible(page.locator('#legal-dialog [role=dialog][aria-modal=true]'), 'the agreement dialog (#legal-dialog)');
      await waitUntil('the agreement text (多些用户协议) in #legal-body',
        async () => (await page.locator('#legal-body').innerText()).includes('多些用户协议'),
        { describe: () => visibleText(page, '#legal-dialog') });
      await checkInsideScreen(page, '#legal-close', 'the dialog\'s 关闭');
      await checkNoHorizontalScroll(page, 'the agreement dialog');
      await page.locator('#legal-close').click();
      await waitVisible(page.locator('#legal-dialog'), 'the agreement dialog to close', { state: 'detached' });
    }
    const where = await consoleLogin(mod, BUYER_PHONE);
    if (where !== 'forbidden') fail('the buyer (no moderator role) was let into the console');
    const text = await visibleText(page, '#forbidden-view');
    if (!text.includes('此账号不是审核员')) fail(`the forbidden view says "${text}"`);
    if (!CJK.test(await visibleText(page, '#forbidden-detail'))) fail('the forbidden detail is not in Chinese: ' + (await visibleText(page, '#forbidden-detail')));
    await checkInsideScreen(page, '#forbidden-logout', 'the log-out button of the forbidden view');
    await run.screenshot(mod, 'forbidden');
    await page.locator('#forbidden-logout').click();
    await waitVisible(page.locator('#login-view'), 'the login form after logging out');
  });

  await run.step(`${tag} 2. the moderator logs in: the console, connected, log-out and status on screen`, async () => {
    const where = await consoleLogin(mod, MODERATOR_PHONE);
    if (where !== 'console') fail('the moderator sees the forbidden view: ' + (await visibleText(page, '#forbidden-detail')));
    await waitUntil('the connection status to say 已连接 (#conn-status.open)',
      async () => (await page.locator('#conn-status.open').count()) && (await page.locator('#conn-status').innerText()).includes('已连接'),
      { describe: async () => 'status: ' + (await page.locator('#conn-status').innerText()) });
    await checkInsideScreen(page, '#logout-btn', 'the log-out button');
    await checkInsideScreen(page, '#conn-status', 'the connection status');
  });

  // The item of this run: the buyer reports the seller's profile (fraud); on the desktop a
  // message of the seller's (fake goods), so both card shapes are seen.
  const reason = `console-${tag}-${stamp} 对方资料可疑`;
  const kind = desktop ? 'report_message' : 'report_user';
  const category = desktop ? 'fake_goods' : 'fraud';
  const chipZh = desktop ? '假货' : '诈骗';
  const chipEn = desktop ? 'Counterfeit goods' : 'Fraud';
  const msgText = `console test ${stamp}: 这只手镯是天然的`;
  let card = null;

  await run.step(`${tag} 3. a report made through report.create shows live with its category chip ${chipZh}`, async () => {
    const r = desktop
      ? await reportMessage(api.entry, buyer.id, msgText, category, reason)
      : await reportUser(api.entry, seller.id, category, reason);
    console.log(`  report.create → item #${r.item_id}`);
    card = cardOf(page, kind, reason);
    await waitVisible(card, `the ${kind} card with the reporter's reason`).catch(async (err) => fail(err.message + ' — ' + (await describeQueue(page))));
    const chip = oneLine(await card.locator('.item-head .category-chip').innerText());
    if (chip !== chipZh) fail(`the category chip says "${chip}", not ${chipZh}`);
    const id = await card.getAttribute('data-id');
    if (String(r.item_id) !== id) fail(`the card is #${id}, report.create answered #${r.item_id}`);
    if (desktop && !(await card.innerText()).includes(msgText)) fail('the reported message text is not on the card');
    const filter = oneLine(await page.locator(`#category-filter [data-filter="${category}"]`).innerText());
    if (!filter.includes(chipZh) || /\b0\b/.test(filter)) fail(`the ${chipZh} filter chip says "${filter}"`);
    await run.screenshot(mod, 'card');
  });

  await run.check(`${tag} 4. no horizontal scroll${desktop ? '' : ', touch targets ≥44 px'}, ${desktop ? 'two columns' : 'one column'}`, async () => {
    const r = await checkNoHorizontalScroll(page, `${tag} console with a card`);
    console.log(`  scrollWidth ${r.scrollWidth}, innerWidth ${r.innerWidth}, device ${r.deviceWidth} px`);
    const cols = await page.evaluate(() => {
      const q = document.querySelector('.queue-col').getBoundingClientRect();
      const s = document.querySelector('.side-col').getBoundingClientRect();
      return { qRight: q.right, sLeft: s.left, qTop: q.top, sTop: s.top };
    });
    if (desktop && !(cols.sLeft >= cols.qRight - 1 && Math.abs(cols.sTop - cols.qTop) < 2)) {
      fail(`at ${size.width} px the side panels are not beside the queue: ${JSON.stringify(cols)}`);
    }
    if (!desktop) {
      const small = await smallTargets(page);
      if (small.length) fail('touch targets under 44 px: ' + small.join('; '));
    }
  });

  await run.step(`${tag} 5. claim: 我已认领 with a lease countdown; reject without a reason is refused`, async () => {
    await card.getByRole('button', { name: /认领/ }).click();
    const box = card.locator('.decide textarea');
    await waitVisible(box, 'the decision form of the claimed card').catch(async (err) => fail(err.message + ' — ' + (await card.innerText())));
    await waitUntil('the card to say 我已认领 with a lease countdown',
      async () => /我已认领/.test(await card.innerText()) && /\d+:\d\d/.test(await card.locator('.holder').innerText()));
    await card.locator('.decide button.reject').click();
    await waitUntil('the card to ask for a reason (.item-msg)',
      async () => /必须填写原因/.test(await card.locator('.item-msg').innerText()));
  });

  await run.step(`${tag} 6. the English switch: the console in English (only user content is Chinese), the chip says ${chipEn}`, async () => {
    await switchLanguage(page, 'en');
    const left = await chineseOutsideUserContent(page);
    if (left.length) fail('Chinese left in English: ' + left.slice(0, 12).join(' | '));
    const chip = oneLine(await card.locator('.item-head .category-chip').innerText());
    if (chip !== chipEn) fail(`the category chip says "${chip}" in English, not ${chipEn}`);
    if (!(await page.locator('#conn-status').innerText()).includes('Connected')) fail('the status is not in English: ' + (await page.locator('#conn-status').innerText()));
    if (!/needs a reason/.test(await card.locator('.item-msg').innerText())) fail('the card\'s message did not follow the switch: ' + (await card.locator('.item-msg').innerText()));
    await run.screenshot(mod, 'english');
    const r = await checkNoHorizontalScroll(page, `${tag} console in English`);
    console.log(`  in English: scrollWidth ${r.scrollWidth}, innerWidth ${r.innerWidth}`);
  });

  await run.step(`${tag} 7. English is remembered over a reload (the claim too), and the switch turns it back to Chinese`, async () => {
    await page.reload({ waitUntil: 'domcontentloaded' });
    await waitVisible(page.locator('#console-view'), 'the console after the reload (stored login resumed)');
    await waitVisible(card.locator('.decide textarea'), 'the claimed card with its decision form after the reload').catch(async (err) => fail(err.message + ' — ' + (await describeQueue(page))));
    if ((await page.evaluate(() => document.documentElement.lang)) !== 'en') fail('the reload forgot English');
    const left = await chineseOutsideUserContent(page);
    if (left.length) fail('Chinese after the reload in English: ' + left.slice(0, 12).join(' | '));
    await switchLanguage(page, 'zh-CN');
    const chip = oneLine(await card.locator('.item-head .category-chip').innerText());
    if (chip !== chipZh) fail(`back in Chinese the chip says "${chip}"`);
    const head = await visibleText(page, '.queue-col .col-head h2');
    if (head !== '审核队列') fail(`back in Chinese the queue is titled "${head}"`);
    const left2 = await page.evaluate(() => document.querySelector('#console-view').innerText);
    if (/\b(Claim|Release|Reject|Waiting|Review queue)\b/.test(left2)) fail('English left after switching back: ' + oneLine(left2).slice(0, 300));
  });

  await run.step(`${tag} 8. decide with a reason (${desktop ? 'uphold' : 'dismiss'}): the card leaves the queue, 已处理`, async () => {
    await card.locator('.decide textarea').fill(desktop ? '商品描述与实物不符' : '资料正常，驳回举报');
    if (desktop) await card.locator('.decide button.reject').click();
    else await card.locator('.decide button.approve').click();
    await waitVisible(card, 'the decided card to leave the queue', { state: 'detached' }).catch(async (err) => fail(err.message + ' — ' + (await describeQueue(page))));
    await waitUntil('the console to confirm the decision (#queue-flash 已处理)',
      async () => /已处理/.test((await visibleText(page, '#queue-flash')) || ''));
    await run.screenshot(mod, 'decided');
  });

  if (!desktop) {
    await run.step(`${tag} 8b. a held chat text (contact details) shows as a chat_text card; claimed and rejected as chat_moderation.mjs does`, async () => {
      const text = `加我微信 jade${stamp}，私下交易便宜`;
      const held = await api.entry.page.evaluate(async ({ sellerId, text }) => {
        const { conversation } = await window.dx.buyer.request('chat.open', { peer_id: sellerId });
        return window.dx.buyer.send(conversation.id, text);
      }, { sellerId: seller.id, text });
      if (!held.held) fail('the text was not held: ' + JSON.stringify(held));
      const c = cardOf(page, 'chat_text', text);
      await waitVisible(c, 'the chat_text card').catch(async (err) => fail(err.message + ' — ' + (await describeQueue(page))));
      if (await c.locator('.category-chip').count()) fail('a chat_text card shows a category chip');
      if (!/联系方式/.test(await c.locator('.reasons').innerText())) fail('the finding is not shown as 联系方式: ' + (await c.locator('.reasons').innerText()));
      await c.getByRole('button', { name: /认领/ }).click();
      await waitVisible(c.locator('.decide textarea'), 'the decision form');
      await c.locator('.decide textarea').fill('请勿在聊天中留联系方式');
      await c.locator('.decide button.reject').click();
      await waitVisible(c, 'the decided card to leave the queue', { state: 'detached' });
      await waitUntil('#queue-flash 已处理（拒绝）', async () => /已处理（拒绝）/.test(await visibleText(page, '#queue-flash')));
    });
  }

  await run.check(`${tag} 9. no window dialogs, no console errors`, async () => {
    if (mod.dialogs.length) fail('window dialogs: ' + mod.dialogs.join(' | '));
    if (mod.errors.length) fail('console errors: ' + mod.errors.map(oneLine).join(' | '));
  });
  await page.context().close().catch(() => {});
}

await run.main('console_page', async () => {
  const api = await run.step('0. the buyer and the seller log in through the client library (in a page)', async () => {
    const a = await apiPage();
    console.log(`  buyer #${a.who.buyer.id}, seller #${a.who.seller.id}`);
    return a;
  });
  await scenario('phone', { width: 390, height: 844 }, api);
  await scenario('desktop', DESKTOP, api);
  if (api.entry.errors.length) run.note('api page errors: ' + api.entry.errors.map(oneLine).join(' | '));
});
