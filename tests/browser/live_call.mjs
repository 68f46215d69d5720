// End-to-end, in a real browser: appraisal calls (连线鉴定, docs/protocol.md "Appraisal calls").
// The host (an appraiser) creates a room in the UI and goes live; the buyer opens it, taps
// 申请连线鉴定, describes the item, adds a photo from the album (相册 granted in the page),
// grants the camera and microphone in the page's own explanation (直播鉴定的视频和声音) and joins
// the queue at place 1; the host's 连线队列 shows the entry (nickname, description, photo); the
// host taps 呼叫下一位 (its own camera and microphone asked in the page too); the buyer's
// ringing sheet shows and 接听 answers; both pages' RTCPeerConnections reach `connected` and
// decode the other side's video (Chromium's fake camera); the audience's banner names the
// buyer; 缩小 and back. The buyer's socket drops (the host sees 对方网络不稳定) and comes back
// (room.call.resume: new peer connections on both sides, video again); the host reloads the
// console mid-call and the call resumes. Then the buyer withdraws the camera in 我的 → 权限与隐私
// (on a second tab of the same browser: another device of the same user): the host's call
// screen says 已结束 with the consent_withdrawn reason (also in English), and so does the
// buyer's. The buyer applies again (the camera asked again) and the host skips the entry with
// a reason the buyer sees; a call the buyer declines (拒绝). In a last call the host issues the
// verdict (鉴定结果) from the call screen: the form states its basis (视频连线鉴定意见，非实验室检测
// 证书), 截图 uploads a frame of the buyer's video (approved), 手镯 翡翠 天然 冰种 8000–12000 goes
// out as verdict.issue and its number (DX + 12) shows; the buyer's page gets verdict.issued and a
// notice over the call screen; the host ends the call (挂断); the buyer's 查看 opens the verdict
// in 我的 (every field, the snapshot, the basis first, 验证 → 已验证); the host corrects it from
// the console's 本场连线 (优化处理, a reason required) and the buyer's open page shows version 2;
// 验证 of version 1 says 已被更正 (the first frame's signed record checked without an account too:
// authentic, not current; altered: invalid_receipt); the page in English; 我的 → 我的鉴定 lists it;
// #/verdict/<number> opens it; the public GET /api/verdicts/<number> has no buyer. The host ends
// the room. No console errors, no window dialogs, no horizontal scroll at 390 px.
//
// Run (the server with DUOXIE_AUTH_DEV_CODES=true, DUOXIE_AUTH_CODE_RESEND_MS=0; the host phone
// an appraiser: `duoxie admin grant-role --phone … --role appraiser`):
//   DUOXIE_BASE_URL=http://127.0.0.1:18300 DUOXIE_HOST_PHONE=… DUOXIE_BUYER_PHONE=… node live_call.mjs
// Optional: DUOXIE_ARTIFACTS (screenshots, and logs on failure), DUOXIE_ICE_POLICY=relay (both
// pages use TURN relays only: localStorage duoxie.iceTransportPolicy, the client's test hook;
// every connection must then be relay–relay; needs a TURN server in the server's
// DUOXIE_LIVE_TURN_URLS), DUOXIE_STATIC_FROM_DISK (lib.mjs).
// Prints `ok: <step>` / `FAIL: <step>: <reason>`, then `PASS: live_call` (exit 0) or exit 1.
import { makePng,
  Run, env, fail, waitUntil, waitVisible, settle, loginApp, checkNoHorizontalScroll, readMe, visibleText, waitConnected,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const HOST_PHONE = env('DUOXIE_HOST_PHONE');
const BUYER_PHONE = env('DUOXIE_BUYER_PHONE');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });
const ICE_POLICY = env('DUOXIE_ICE_POLICY', { required: false });

const run = new Run({
  artifacts: ARTIFACTS,
  overallMs: 420000,
  // A camera and microphone that need no device and no permission prompt.
  chromiumArgs: ['--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream'],
});
// Plain words only: a random stamp can look like contact details to the screening (a 'qq').
const TITLE = '翡翠手镯连线鉴定';
const ITEM = '冰种翡翠手镯，想看种水';
const ITEM2 = '和田玉吊坠，看看是不是籽料';
// The verdict the host issues for the last call, and its correction.
const VERDICT = { item: '手镯', material: '翡翠', grade: '冰种', notes: '种水好，有少量棉絮', low: 8000, high: 12000 };
const CORRECTION = '复看视频，有充胶迹象';
const NUMBER = /^DX[0-9A-HJKMNP-TV-Z]{12}$/;

// The item's photo: a small picture (lib.mjs).
const itemPhoto = () => makePng({ width: 40, rgb: [60, 150, 110], paper: [235, 240, 230], ink: (x, y) => (x + 2 * y) % 5 !== 0 });

const text = (page, sel) => page.locator(sel).first().innerText().catch(() => '');
const card = (page, id) => page.locator(`#live-list li.live-card[data-room-id="${id}"]`);

async function noScroll(entry, where) {
  await settle(entry.page);
  await checkNoHorizontalScroll(entry.page, where);
}

// The reply to the first `type` command sent after `mark`; a refusal fails the step.
async function replyTo(entry, type, mark, { ok = true } = {}) {
  const r = await waitUntil(`the ${entry.label}'s ${type} reply`, () => entry.ws.requests.slice(mark).find((q) => q.type === type && q.reply),
    { describe: () => entry.ws.lines.slice(-8).join(' / ') });
  if (ok && !r.reply.ok) fail(`${type} was refused on the ${entry.label}'s page: ${JSON.stringify(r.reply.error)}`);
  return r;
}

// Camera and microphone not granted, so that the page has to ask (a rerun with the same
// accounts starts from the same state). Through the REST API with the page's own login.
async function withdrawCallConsents(entry) {
  const withdrawn = await entry.page.evaluate(async () => {
    const token = localStorage.getItem('duoxie.token');
    const headers = { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' };
    const state = await (await fetch('/api/me/consents', { headers })).json();
    const out = [];
    for (const c of state.current || []) {
      if ((c.permission === 'camera' || c.permission === 'microphone') && c.granted) {
        const res = await fetch('/api/me/consents', { method: 'POST', headers, body: JSON.stringify({ permission: c.permission, granted: false }) });
        if (!res.ok) throw new Error(`withdrawing ${c.permission} answered ${res.status}`);
        out.push(c.permission);
      }
    }
    return out;
  });
  if (withdrawn.length) console.log(`  ${entry.label}: withdrew ${withdrawn.join(', ')} granted by an earlier run`);
}

// Rooms an earlier, interrupted run left open (a host may hold only a few): ended, through the
// page's client.
async function endLeftoverRooms(entry) {
  const ended = await entry.page.evaluate(async () => {
    const client = (await import('/static/js/client.js')).getClient();
    const { rooms } = await client.request('room.mine', {});
    const open = (rooms || []).filter((r) => r.status !== 'ended');
    for (const r of open) await client.request('room.end', { room_id: r.id });
    return open.map((r) => r.id);
  });
  if (ended.length) console.log(`  ${entry.label}: ended room(s) ${ended.join(', ')} left open by an earlier run`);
}

// The in-page 相机和麦克风 explanation: shown, naming what is missing and the purpose; 允许
// grants exactly that (`missing`: the permissions the ledger lacks).
async function grantCallConsent(entry, mark, missing = ['camera', 'microphone']) {
  const { page } = entry;
  const dialog = page.locator('#live-call-consent-dialog');
  await waitVisible(dialog, `the camera and microphone explanation on the ${entry.label}'s page`);
  const words = await dialog.innerText();
  const names = { camera: '相机', microphone: '麦克风' };
  for (const p of missing) if (!words.includes(names[p])) fail(`the explanation does not name ${names[p]}: "${words}"`);
  if (!/直播鉴定的视频和声音/.test(words)) fail(`the explanation does not give the purpose 直播鉴定的视频和声音: "${words}"`);
  await noScroll(entry, `the ${entry.label}'s camera and microphone explanation`);
  await run.screenshot(entry, 'consent');
  await page.locator('#live-call-consent-allow').click();
  await waitVisible(dialog, 'the explanation to close', { state: 'hidden' }).catch(async (err) =>
    fail(err.message + ' — ' + await visibleText(page, '#live-call-consent-dialog .form-error')));
  const grants = entry.ws.requests.slice(mark).filter((q) => q.type === 'consent.grant');
  const granted = grants.filter((q) => q.reply && q.reply.ok).map((q) => q.data.permission).sort().join(',');
  if (granted !== missing.slice().sort().join(',')) fail(`consent.grant was answered for "${granted}", not ${missing.join(' and ')}`);
}

// What the page's peer connection says: its state and the video frames it decoded.
async function rtcState(page) {
  return page.evaluate(async () => {
    const c = window.__duoxieCall;
    if (!c || !c.pc) return { exists: !!c, state: c ? c.state : null, callId: c ? c.callId : null };
    let frames = 0;
    let inbound = 0;
    let path = null; // the local and remote candidate types of the pair in use (relay: through TURN)
    try {
      const report = await c.pc.getStats();
      const byId = new Map();
      report.forEach((s) => byId.set(s.id, s));
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && (s.kind === 'video' || s.mediaType === 'video')) {
          inbound += 1;
          frames += s.framesDecoded || 0;
        }
        if (s.type === 'transport' && s.selectedCandidatePairId) {
          const pair = byId.get(s.selectedCandidatePairId);
          const local = pair && byId.get(pair.localCandidateId);
          const remote = pair && byId.get(pair.remoteCandidateId);
          path = `${local ? local.candidateType : '?'}-${remote ? remote.candidateType : '?'}`;
        }
      });
    } catch (_) { /* a closed connection */ }
    return { exists: true, callId: c.callId, state: c.state, old: !!c.pc.__beforeDrop, connection: c.pc.connectionState, ice: c.pc.iceConnectionState, frames, inbound, path };
  });
}

async function waitMedia(entry) {
  let last = null;
  await waitUntil(`the ${entry.label}'s peer connection connected and decoding the other side's video`, async () => {
    last = await rtcState(entry.page);
    return last.connection === 'connected' && last.frames > 0 && (ICE_POLICY !== 'relay' || /^relay-/.test(last.path || ''));
  }, { describe: async () => JSON.stringify(last) + ' — ' + (await visibleText(entry.page, '#live-call-view')) });
  return last;
}

// No rtc.* or room.call* command of the page was refused.
function signallingRefusals(entry, mark) {
  return entry.ws.requests.slice(mark).filter((q) => /^(rtc\.|room\.call)/.test(q.type) && q.reply && !q.reply.ok)
    .map((q) => `${q.type}: ${JSON.stringify(q.reply.error)}`);
}

async function openLive(entry) {
  await entry.page.locator('#tab-btn-live').click();
  await waitVisible(entry.page.locator('#live-list-view'), `the 直播 list on the ${entry.label}'s page`);
}

async function openRoom(entry, id) {
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
  await card(page, id).locator('button').click();
  await waitVisible(page.locator('#live-room'), `the room page on the ${entry.label}'s page`);
  await waitUntil(`the ${entry.label} in the room (composer enabled)`, () => page.locator('#live-input').isEnabled(),
    { describe: () => visibleText(page, '#live-room') });
}

// 申请连线鉴定 up to the consent: the dialog, the description, optionally a photo.
async function apply(entry, item, { photo = false } = {}) {
  const { page } = entry;
  await waitVisible(page.locator('#live-call-apply'), '申请连线鉴定 on the room page');
  await waitUntil('申请连线鉴定 enabled', () => page.locator('#live-call-apply').isEnabled());
  await page.locator('#live-call-apply').click();
  const dialog = page.locator('#live-call-apply-dialog');
  await waitVisible(dialog, 'the 申请连线鉴定 dialog');
  const words = await dialog.innerText();
  if (!/相机/.test(words) || !/麦克风/.test(words)) fail(`the dialog does not say the camera and microphone are needed: "${words}"`);
  await page.locator('#live-call-desc').fill(item);
  let mediaId = null;
  if (photo) {
    const uploads = [];
    const onResponse = (r) => {
      if (r.request().method() === 'POST' && /\/api\/media\?purpose=(post|chat)_photo&source=album/.test(r.url())) uploads.push(r);
    };
    page.on('response', onResponse);
    await page.locator('#live-call-photo-file').setInputFiles({ name: 'bangle.png', mimeType: 'image/png', buffer: itemPhoto() });
    let asked = false;
    const upload = await waitUntil('the photo upload (or the album permission asked)', async () => {
      const allow = page.locator('#live-call-album-dialog #live-call-album-allow');
      if (!asked && await allow.isVisible().catch(() => false)) {
        asked = true;
        console.log('  the album permission was asked: 允许');
        await allow.click();
      }
      return uploads.find((r) => r.ok()) || null;
    }, { describe: () => visibleText(page, '#live-call-apply-dialog, #live-call-album-dialog') });
    page.off('response', onResponse);
    const media = await upload.json();
    if (media.status !== 'approved') fail(`the photo upload answered ${JSON.stringify(media)}, not approved`);
    mediaId = media.id;
    await waitUntil('the photo shown as uploaded in the dialog', async () =>
      (await page.locator('#live-call-photos li[data-status="approved"] img').count()) === 1,
    { describe: () => visibleText(page, '#live-call-apply-dialog') });
  }
  await noScroll(entry, 'the 申请连线鉴定 dialog');
  await run.screenshot(entry, 'apply');
  const mark = entry.ws.mark();
  await page.locator('#live-call-apply-ok').click();
  return { mark, mediaId };
}

async function waitJoined(entry, mark, item, mediaId) {
  const { page } = entry;
  const joined = await replyTo(entry, 'room.queue.join', mark);
  if (joined.data.description !== item) fail(`room.queue.join carried "${joined.data.description}", not the description typed`);
  if (mediaId && JSON.stringify(joined.data.photos || []) !== JSON.stringify([mediaId])) {
    fail(`room.queue.join carried photos ${JSON.stringify(joined.data.photos)}, not [${mediaId}]`);
  }
  const consentAt = entry.ws.requests.slice(mark).findIndex((q) => q.type === 'consent.check');
  const joinAt = entry.ws.requests.slice(mark).findIndex((q) => q.type === 'room.queue.join');
  if (consentAt < 0 || consentAt > joinAt) fail('room.queue.join went out before consent.check {feature: live_connect}');
  await waitVisible(page.locator('#live-call-apply-dialog'), 'the dialog to close', { state: 'hidden' });
  await waitUntil('第1位 on the buyer\'s room page', async () =>
    /第1位/.test(await text(page, '#live-queue-position')) &&
    (await page.locator('#live-queue-position').getAttribute('data-position')) === '1',
  { describe: () => visibleText(page, '#live-call-bar') });
  if (!(await page.locator('#live-queue-leave').isVisible())) fail('取消排队 is not offered while waiting');
  if (await page.locator('#live-call-apply').isVisible()) fail('申请连线鉴定 is still offered while queued');
  return joined.reply.data.entry;
}

// The host's 呼叫下一位, then the buyer's ringing sheet and 接听; both connect with video.
async function callAndAnswer(host, buyer, entryId, { hostAsked, buyerItem }) {
  const hp = host.page;
  const bp = buyer.page;
  const row = hp.locator(`#live-queue-list li[data-entry-id="${entryId}"]`);
  await waitVisible(row, 'the entry in the host\'s 连线队列');
  await waitUntil('呼叫下一位 enabled', () => hp.locator('#live-call-next').isEnabled(),
    { describe: () => visibleText(hp, '#live-queue-panel') });
  const hmark = host.ws.mark();
  await hp.locator('#live-call-next').click();
  if (hostAsked) await grantCallConsent(host, hmark);
  const placed = await replyTo(host, 'room.call', hmark);
  if (placed.data.entry_id != null || placed.data.reason != null) fail(`呼叫下一位 sent ${JSON.stringify(placed.data)}, not just the room`);
  if (placed.reply.data.role !== 'offerer') fail(`the host's CallSide has role ${placed.reply.data.role}, not offerer`);
  await waitVisible(hp.locator('#live-call-view'), 'the host\'s call screen');
  const callId = placed.reply.data.call.id;

  const ring = bp.locator('#live-call-ring');
  await waitVisible(ring, 'the buyer\'s ringing sheet');
  const words = await ring.innerText();
  if (!/鉴定师正在呼叫你/.test(words)) fail(`the ringing sheet says "${words}"`);
  if (!words.includes(buyerItem)) fail(`the ringing sheet does not name the item: "${words}"`);
  if (!/\d+秒/.test(await text(bp, '#live-call-ring-countdown'))) fail(`no countdown on the ringing sheet: "${await text(bp, '#live-call-ring-countdown')}"`);
  await noScroll(buyer, 'the ringing sheet');
  await run.screenshot(buyer, 'ringing');
  const bmark = buyer.ws.mark();
  await bp.locator('#live-call-answer').click();
  const answered = await replyTo(buyer, 'room.call.answer', bmark);
  if (answered.data.call_id !== callId) fail(`room.call.answer for call ${answered.data.call_id}, not ${callId}`);
  if (answered.reply.data.role !== 'answerer') fail(`the buyer's CallSide has role ${answered.reply.data.role}, not answerer`);
  await waitVisible(ring, 'the ringing sheet to close', { state: 'hidden' });
  await waitVisible(bp.locator('#live-call-view'), 'the buyer\'s call screen');

  const hs = await waitMedia(host);
  const bs = await waitMedia(buyer);
  console.log(`  host: ${hs.connection} (${hs.path}), ${hs.frames} frames decoded; buyer: ${bs.connection} (${bs.path}), ${bs.frames} frames decoded`);
  for (const e of [host, buyer]) {
    await waitUntil(`通话中 on the ${e.label}'s call screen`, async () => /通话中/.test(await text(e.page, '#live-call-status')),
      { describe: () => text(e.page, '#live-call-status') });
    const refused = signallingRefusals(e, e === host ? hmark : bmark);
    if (refused.length) fail(`signalling refused on the ${e.label}'s page: ${refused.join('; ')}`);
  }
  const sent = (e, mark, type) => e.ws.requests.slice(mark).filter((q) => q.type === type).length;
  if (!sent(host, hmark, 'rtc.offer') || sent(buyer, bmark, 'rtc.offer')) fail('the offer did not come from the host alone');
  if (!sent(buyer, bmark, 'rtc.answer') || sent(host, hmark, 'rtc.answer')) fail('the answer did not come from the buyer alone');
  return callId;
}

async function expectEnded(entry, reasonPattern, what) {
  const { page } = entry;
  await waitUntil(`已结束 and ${what} on the ${entry.label}'s call screen`, async () =>
    /已结束/.test(await text(page, '#live-call-status')) && reasonPattern.test(await text(page, '#live-call-reason')),
  { describe: async () => `${await text(page, '#live-call-status')} / ${await text(page, '#live-call-reason')}` });
  const s = await rtcState(page);
  if (s.state !== 'ended') fail(`window.__duoxieCall.state is ${s.state} on the ${entry.label}'s page, not ended`);
  if (s.connection && s.connection !== 'closed') fail(`the ${entry.label}'s peer connection is ${s.connection}, not closed`);
  const live = await page.evaluate(() => [...document.querySelectorAll('#live-call-view video')]
    .some((v) => v.srcObject && v.srcObject.getTracks().some((t) => t.readyState === 'live')));
  if (live) fail(`the ${entry.label}'s call screen still shows a live track`);
}

async function closeEnded(entry) {
  await entry.page.locator('#live-call-close').click();
  await waitVisible(entry.page.locator('#live-call-view'), `the ${entry.label}'s call screen to close`, { state: 'hidden' });
  const gone = await entry.page.evaluate(() => window.__duoxieCall === undefined);
  if (!gone) fail(`window.__duoxieCall is still set on the ${entry.label}'s page after 关闭`);
}

await run.main('live_call', async () => {
  const host = await run.newPhonePage('host');
  const buyer = await run.newPhonePage('buyer');
  const hp = host.page;
  const bp = buyer.page;
  const me = {};
  let roomId = null;

  await run.step('1. the host (an appraiser) and the buyer log in; neither holds the camera and microphone grants', async () => {
    await loginApp(host, BASE, HOST_PHONE);
    me.host = await readMe(hp);
    if (!(me.host.roles || []).includes('appraiser')) fail(`the host account lacks the appraiser role (${JSON.stringify(me.host.roles)})`);
    await loginApp(buyer, BASE, BUYER_PHONE);
    me.buyer = await readMe(bp);
    await withdrawCallConsents(host);
    await withdrawCallConsents(buyer);
    await endLeftoverRooms(host);
    if (ICE_POLICY === 'relay') {
      for (const e of [host, buyer]) await e.page.evaluate(() => localStorage.setItem('duoxie.iceTransportPolicy', 'relay'));
      console.log('  both pages: localStorage duoxie.iceTransportPolicy = relay (TURN relays only)');
    }
    console.log(`  host #${me.host.id} ${me.host.nickname}, buyer #${me.buyer.id} ${me.buyer.nickname}`);
  });

  await run.step('2. the host creates a room in the UI (创建直播间) and goes live (开播); the console shows the 连线队列, empty', async () => {
    await openLive(host);
    await waitVisible(hp.locator('#live-create-btn'), '创建直播间 (an appraiser sees it)');
    await hp.locator('#live-create-btn').click();
    await waitVisible(hp.locator('#live-create-dialog'), 'the 创建直播间 dialog');
    await hp.locator('#live-create-title').fill(TITLE);
    await hp.locator('#live-create-cat-jade').check();
    const mark = host.ws.mark();
    await hp.locator('#live-create-ok').click();
    await replyTo(host, 'room.create', mark);
    await waitUntil('the host console', () => hp.locator('#live-host').isVisible(), { describe: () => hp.url() });
    const m = /#\/live\/host(?::|%3A)(\d+)/.exec(hp.url());
    if (!m) fail(`the console's address names no room: ${hp.url()}`);
    roomId = Number(m[1]);
    await waitUntil('开播 enabled', () => hp.locator('#live-start').isEnabled());
    await hp.locator('#live-start').click();
    await waitUntil('the status 直播中', async () => /直播中/.test(await text(hp, '#live-host-status')),
      { describe: () => visibleText(hp, '#live-host-status, #live-host-error') });
    await waitVisible(hp.locator('#live-queue-panel'), 'the 连线队列 panel');
    await waitUntil('the empty queue', async () => /还没有观众申请连线/.test(await text(hp, '#live-queue-empty')) &&
      await hp.locator('#live-call-next').isDisabled(), { describe: () => visibleText(hp, '#live-queue-panel') });
    await noScroll(host, 'the host console with the 连线队列');
    console.log(`  room #${roomId}`);
  });

  let entry = null;
  await run.step('3. the buyer opens the room and applies (申请连线鉴定: the item, a photo from the album); the camera and microphone are asked in the page and granted; the buyer is 第1位', async () => {
    await openLive(buyer);
    await openRoom(buyer, roomId);
    await noScroll(buyer, 'the room page with 申请连线鉴定');
    const { mark, mediaId } = await apply(buyer, ITEM, { photo: true });
    await grantCallConsent(buyer, mark);
    entry = await waitJoined(buyer, mark, ITEM, mediaId);
    await noScroll(buyer, 'the room page while queued');
    await run.screenshot(buyer, 'queued');
  });

  await run.step('4. the host\'s 连线队列 shows the entry: place 1, the buyer\'s nickname, the item and its photo', async () => {
    const row = hp.locator(`#live-queue-list li[data-entry-id="${entry.id}"]`);
    await waitVisible(row, 'the buyer\'s entry in the host\'s queue', { timeout: 10000 });
    const words = await row.innerText();
    if (!words.includes(me.buyer.nickname)) fail(`the entry does not name the buyer: "${words}"`);
    if (!words.includes(ITEM)) fail(`the entry does not show the item: "${words}"`);
    if ((await text(hp, `#live-queue-list li[data-entry-id="${entry.id}"] .live-queue-place`)) !== '1') fail('the entry is not at place 1');
    await waitUntil('the entry\'s photo shown', () => row.locator('.live-queue-photos img')
      .evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false), { describe: () => row.innerHTML() });
    if (!/1人排队/.test(await text(hp, '#live-queue-count'))) fail(`the count says "${await text(hp, '#live-queue-count')}"`);
    await noScroll(host, 'the host console with an entry');
    await run.screenshot(host, 'queue');
  });

  await run.step('5. 呼叫下一位 (the host\'s camera and microphone asked in the page); the buyer\'s sheet rings (鉴定师正在呼叫你) and 接听 answers; both peer connections connect and decode video', async () => {
    await callAndAnswer(host, buyer, entry.id, { hostAsked: true, buyerItem: ITEM });
    for (const e of [host, buyer]) {
      const peer = await text(e.page, '#live-call-peer');
      const want = e === host ? me.buyer.nickname : me.host.nickname;
      if (peer !== want) fail(`the ${e.label}'s call screen names "${peer}", not ${want}`);
      const sizes = await e.page.evaluate(() => ['#live-call-remote', '#live-call-local'].map((s) => {
        const v = document.querySelector(s);
        return v ? { w: v.videoWidth, muted: v.muted, shown: !!v.getClientRects().length } : null;
      }));
      if (!sizes[0] || !sizes[0].shown || !sizes[0].w) fail(`the ${e.label}'s remote video is not playing: ${JSON.stringify(sizes[0])}`);
      if (!sizes[1] || !sizes[1].muted) fail(`the ${e.label}'s own camera is not shown muted: ${JSON.stringify(sizes[1])}`);
      await noScroll(e, `the ${e.label}'s call screen`);
      await run.screenshot(e, 'in-call');
    }
  });

  await run.check('5a. the audience\'s banner: 正在为<buyer>连线鉴定 on the room page (the buyer is a member too)', async () => {
    await waitUntil('the banner on the stage', async () => (await text(bp, '#live-call-banner')).includes(me.buyer.nickname) ||
      (await bp.locator('#live-call-banner').textContent()).includes(me.buyer.nickname),
    { describe: () => bp.locator('#live-call-banner').textContent() });
    const words = await bp.locator('#live-call-banner').textContent();
    if (!/正在为.+连线鉴定/.test(words)) fail(`the banner says "${words}"`);
  });

  await run.check('5b. 缩小 makes the host\'s call a small window over the console, and a tap brings it back', async () => {
    await hp.locator('#live-call-minimize').click();
    await waitUntil('the small window', async () => (await hp.locator('#live-call-view.is-mini').count()) === 1);
    const box = await hp.locator('#live-call-view').boundingBox();
    if (!box || box.width > 200) fail(`the minimized call is ${JSON.stringify(box)}`);
    if (!(await hp.locator('#live-call-next').isVisible())) fail('the console is not in view under the small window');
    await noScroll(host, 'the console with the small call window');
    await hp.locator('#live-call-expand').click();
    await waitUntil('the full call screen again', async () => (await hp.locator('#live-call-view.is-mini').count()) === 0);
  });

  await run.step('5c. the buyer\'s connection drops in the call: the host sees 对方网络不稳定，正在重连…; after the reconnect room.call.resume binds it again and both sides decode video again', async () => {
    const bmark = buyer.ws.mark();
    const hmark = host.ws.mark();
    const before = await rtcState(bp);
    const t0 = Date.now();
    // The peer connections of now are marked: the resume (rtc.restart fresh) must replace both.
    for (const e of [host, buyer]) await e.page.evaluate(() => { window.__duoxieCall.pc.__beforeDrop = true; });
    await bp.evaluate(async () => { (await import('/static/js/client.js')).getClient().disconnect(); });
    await waitUntil('对方网络不稳定 on the host\'s call screen', async () => /对方网络不稳定/.test(await text(hp, '#live-call-status')),
      { describe: () => text(hp, '#live-call-status') });
    await bp.evaluate(async () => { (await import('/static/js/client.js')).getClient().connect(); });
    await waitConnected(bp);
    const resumed = await replyTo(buyer, 'room.call.resume', bmark);
    if (resumed.data.call_id !== before.callId) fail(`room.call.resume carried ${JSON.stringify(resumed.data)}, not call ${before.callId}`);
    await waitUntil('the host\'s rtc.restart (fresh) and its new offer', () =>
      host.ws.events.some((e) => e.type === 'rtc.restart' && e.at >= t0) && host.ws.requests.slice(hmark).some((q) => q.type === 'rtc.offer'),
    { describe: () => host.ws.lines.slice(-6).join(' / ') });
    for (const e of [host, buyer]) {
      let last = null;
      await waitUntil(`a new peer connection on the ${e.label}'s page, connected and decoding video`, async () => {
        last = await rtcState(e.page);
        return !last.old && last.connection === 'connected' && last.frames > 0;
      }, { describe: () => JSON.stringify(last) });
    }
    await waitUntil('通话中 on the host\'s call screen again', async () => /通话中/.test(await text(hp, '#live-call-status')),
      { describe: () => text(hp, '#live-call-status') });
    for (const [e, mark] of [[host, hmark], [buyer, bmark]]) {
      const refused = signallingRefusals(e, mark);
      if (refused.length) fail(`signalling refused on the ${e.label}'s page after the reconnect: ${refused.join('; ')}`);
    }
  });

  await run.step('5d. the host reloads the console mid-call: the page resumes the call (room.call.resume within the grace period) and both sides decode video again', async () => {
    const before = await rtcState(hp);
    await bp.evaluate(() => { window.__duoxieCall.pc.__beforeDrop = true; });
    const hmark = host.ws.mark();
    await hp.reload({ waitUntil: 'domcontentloaded' });
    await waitConnected(hp);
    const resumed = await replyTo(host, 'room.call.resume', hmark);
    if (resumed.data.call_id !== before.callId) fail(`room.call.resume carried ${JSON.stringify(resumed.data)}, not call ${before.callId}`);
    await waitVisible(hp.locator('#live-call-view'), 'the host\'s call screen after the reload');
    for (const e of [host, buyer]) {
      let last = null;
      await waitUntil(`the ${e.label}'s peer connection (new) connected and decoding video`, async () => {
        last = await rtcState(e.page);
        return !last.old && last.connection === 'connected' && last.frames > 0;
      }, { describe: () => JSON.stringify(last) });
    }
    await waitUntil('通话中 on both call screens', async () => /通话中/.test(await text(hp, '#live-call-status')) &&
      /通话中/.test(await text(bp, '#live-call-status')), { describe: async () => `${await text(hp, '#live-call-status')} / ${await text(bp, '#live-call-status')}` });
    await waitVisible(hp.locator('#live-host'), 'the console under the call after the reload');
  });

  const other = await run.newPhonePage('buyer-tab2', { sameContextAs: buyer });
  await run.step('6. the buyer withdraws the camera in 我的 → 权限与隐私 (a second tab): the host\'s screen says 已结束, camera or microphone turned off; so does the buyer\'s', async () => {
    const op = other.page;
    await op.goto(BASE + '/#/me/consents', { waitUntil: 'domcontentloaded' });
    await waitConnected(op);
    const sw = op.locator('#me-perm-camera');
    await waitVisible(sw, 'the 相机 switch in 权限与隐私');
    await waitUntil('相机 shown as granted', () => sw.isChecked(), { describe: () => visibleText(op, '#me-view-consents') });
    const withdrawn = op.waitForResponse((r) => r.request().method() === 'POST' && /\/api\/me\/consents$/.test(new URL(r.url()).pathname));
    await sw.uncheck();
    const res = await withdrawn;
    if (!res.ok()) fail(`the withdrawal answered ${res.status()}`);
    await expectEnded(host, /相机或麦克风权限已关闭/, 'the consent_withdrawn reason');
    await expectEnded(buyer, /相机或麦克风权限已关闭/, 'the consent_withdrawn reason');
    await noScroll(host, 'the host\'s ended call');
    await run.screenshot(host, 'ended-consent');
    await run.screenshot(buyer, 'ended-consent');
    await op.close();
  });

  await run.check('6a. English: the ended call screen says why in English', async () => {
    await hp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('en'); });
    try {
      await waitUntil('the reason in English', async () => /camera or microphone permission was turned off/i.test(await text(hp, '#live-call-reason')) &&
        /Ended/.test(await text(hp, '#live-call-status')), { describe: () => visibleText(hp, '#live-call-view') });
      // User data stays as it is: the nickname and the avatar's initial.
      const words = await hp.evaluate(() => {
        const copy = document.querySelector('#live-call-view').cloneNode(true);
        for (const n of copy.querySelectorAll('.avatar, .live-call-peer, .live-call-who-name')) n.remove();
        return copy.textContent;
      });
      if (/[\u3400-\u9fff]/.test(words)) fail(`Chinese left on the English call screen: "${words}"`);
      await noScroll(host, 'the English call screen');
    } finally {
      await hp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('zh-CN'); });
    }
  });

  await run.step('7. the buyer applies again (the camera asked again); the host skips the entry (跳过, with a reason): the buyer sees the reason and may apply again', async () => {
    await closeEnded(host);
    await closeEnded(buyer);
    await waitVisible(bp.locator('#live-call-apply'), '申请连线鉴定 offered again after the call');
    const { mark } = await apply(buyer, ITEM2);
    await grantCallConsent(buyer, mark, ['camera']);
    const skipped = await waitJoined(buyer, mark, ITEM2, null);
    const row = hp.locator(`#live-queue-list li[data-entry-id="${skipped.id}"]`);
    await waitVisible(row, 'the new entry in the host\'s queue');
    await row.locator('.live-queue-skip').click();
    await waitVisible(hp.locator('#live-queue-reason-dialog'), 'the 跳过 reason dialog');
    await hp.locator('#live-queue-reason-ok').click();
    await waitUntil('a reason required', async () => /请填写原因/.test(await text(hp, '#live-queue-reason-dialog .form-error')));
    const why = '照片看不清，请重新排队';
    await hp.locator('#live-queue-reason').fill(why);
    const hmark = host.ws.mark();
    await hp.locator('#live-queue-reason-ok').click();
    const r = await replyTo(host, 'room.queue.skip', hmark);
    if (r.data.entry_id !== skipped.id || r.data.reason !== why) fail(`room.queue.skip sent ${JSON.stringify(r.data)}`);
    await waitUntil('the entry gone from the host\'s queue', async () => (await row.count()) === 0);
    await waitUntil('the reason on the buyer\'s page', async () => (await text(bp, '#live-queue-notice-text')).includes(why),
      { describe: () => visibleText(bp, '#live-call-bar') });
    await waitVisible(bp.locator('#live-call-apply'), '申请连线鉴定 offered again after the skip');
    await noScroll(buyer, 'the room page with the skip notice');
    await run.screenshot(buyer, 'skipped');
    await bp.locator('#live-queue-notice-close').click();
    await waitVisible(bp.locator('#live-queue-notice'), 'the notice to close', { state: 'hidden' });
  });

  await run.step('7a. the buyer declines a call (拒绝): the host\'s screen says 对方拒绝了连线; the buyer may apply again', async () => {
    const { mark } = await apply(buyer, ITEM2);
    const entry3 = await waitJoined(buyer, mark, ITEM2, null);
    if (buyer.ws.requests.slice(mark).some((q) => q.type === 'consent.grant')) fail('the camera and microphone were asked again though granted');
    const row = hp.locator(`#live-queue-list li[data-entry-id="${entry3.id}"]`);
    await waitVisible(row, 'the entry in the host\'s queue');
    await waitUntil('呼叫下一位 enabled', () => hp.locator('#live-call-next').isEnabled());
    const hmark = host.ws.mark();
    await hp.locator('#live-call-next').click();
    await replyTo(host, 'room.call', hmark);
    await waitUntil('正在呼叫 on the host\'s call screen', async () => /正在呼叫/.test(await text(hp, '#live-call-status')) &&
      /取消呼叫/.test(await text(hp, '#live-call-hangup')), { describe: () => visibleText(hp, '#live-call-view') });
    await waitVisible(bp.locator('#live-call-ring'), 'the buyer\'s ringing sheet');
    const bmark = buyer.ws.mark();
    await bp.locator('#live-call-decline').click();
    await replyTo(buyer, 'room.call.decline', bmark);
    await waitVisible(bp.locator('#live-call-ring'), 'the ringing sheet to close', { state: 'hidden' });
    if (await bp.locator('#live-call-view').isVisible()) fail('the buyer\'s call screen opened for a declined call');
    await expectEnded(host, /对方拒绝了连线/, '对方拒绝了连线');
    await closeEnded(host);
    await waitVisible(bp.locator('#live-call-apply'), '申请连线鉴定 offered again after declining');
  });

  let verdictCallId = null;
  await run.step('7b. a second call: the buyer applies once more (nothing asked now) and answers', async () => {
    const { mark } = await apply(buyer, ITEM2);
    const again = await waitJoined(buyer, mark, ITEM2, null);
    if (buyer.ws.requests.slice(mark).some((q) => q.type === 'consent.grant')) fail('the camera and microphone were asked again though granted');
    verdictCallId = await callAndAnswer(host, buyer, again.id, { hostAsked: false, buyerItem: ITEM2 });
  });

  // The verdict (鉴定结果) of this call: issued in the call, corrected after it.
  let verdict = null; // the host's verdict.issue reply (version 1)
  let firstIssued = null; // version 1 as the buyer's verdict.issued frame carried it (its jws is kept)
  let snapshotId = null;
  await run.step('7c. in the call the host taps 出具鉴定结果: the form says what it is (视频连线鉴定意见，非实验室检测证书) and refuses an empty submit; 截图 takes the buyer\'s video frame (uploaded, approved); 手镯 翡翠 天然 冰种 8000–12000 is issued and its number (DX + 12) shows on the call screen', async () => {
    await waitVisible(hp.locator('#live-call-verdict'), '出具鉴定结果 on the host\'s call screen');
    if (!/出具鉴定结果/.test(await text(hp, '#live-call-verdict'))) fail(`the host's button says "${await text(hp, '#live-call-verdict')}"`);
    if (await bp.locator('#live-call-verdict').isVisible()) fail('the buyer\'s call screen offers 出具鉴定结果');
    await hp.locator('#live-call-verdict').click();
    const dialog = hp.locator('#verdict-form-dialog');
    await waitVisible(dialog, 'the 出具鉴定结果 form');
    const basis = await text(hp, '#verdict-form-basis');
    if (!/视频连线鉴定意见/.test(basis) || !/非实验室检测证书/.test(basis)) fail(`the form does not say what a verdict is: "${basis}"`);
    if (!(await dialog.innerText()).includes(me.buyer.nickname)) fail('the form does not name the buyer');
    const empty = host.ws.mark();
    await hp.locator('#verdict-form-ok').click();
    await waitUntil('请填写品类 on an empty form', async () => /请填写品类/.test(await text(hp, '#verdict-form-dialog .form-error')),
      { describe: () => text(hp, '#verdict-form-dialog .form-error') });
    if (host.ws.requests.slice(empty).some((q) => q.type === 'verdict.issue')) fail('an empty form was sent');
    await hp.locator('#verdict-item').fill(VERDICT.item);
    await hp.locator('#verdict-material').fill(VERDICT.material);
    await hp.locator('#verdict-conclusion-natural').check();
    await hp.locator('#verdict-grade').fill(VERDICT.grade);
    await hp.locator('#verdict-notes').fill(VERDICT.notes);
    await hp.locator('#verdict-price-low').fill(String(VERDICT.low));
    await hp.locator('#verdict-price-high').fill(String(VERDICT.high));
    const uploads = [];
    const onResponse = (r) => {
      if (r.request().method() === 'POST' && /\/api\/media\?purpose=post_photo&source=camera$/.test(r.url())) uploads.push(r);
    };
    hp.on('response', onResponse);
    await hp.locator('#verdict-snap').click();
    const upload = await waitUntil('the snapshot upload (POST /api/media?purpose=post_photo&source=camera)', () => uploads[0] || null,
      { describe: () => text(hp, '#verdict-snap-note') });
    hp.off('response', onResponse);
    if (!upload.ok()) fail(`the snapshot upload answered ${upload.status()}`);
    const media = await upload.json();
    if (media.status !== 'approved') fail(`the snapshot upload answered ${JSON.stringify(media)}, not approved`);
    if (media.content_type !== 'image/png') fail(`the snapshot is ${media.content_type}, not a PNG`);
    snapshotId = media.id;
    console.log(`  snapshot ${media.id}: ${media.width}×${media.height} ${media.content_type}, ${media.status}`);
    await waitUntil('the snapshot shown as uploaded in the form', () => hp.locator('#verdict-snapshots li[data-status="approved"] img')
      .evaluate((img) => img.complete && img.naturalWidth > 0).catch(() => false), { describe: () => text(hp, '#verdict-snap-note') });
    await noScroll(host, 'the 出具鉴定结果 form');
    await run.screenshot(host, 'verdict-form');
    const mark = host.ws.mark();
    await hp.locator('#verdict-form-ok').click();
    const r = await replyTo(host, 'verdict.issue', mark);
    const want = { call_id: verdictCallId, item_type: VERDICT.item, material: VERDICT.material, conclusion: 'natural', grade: VERDICT.grade,
      notes: VERDICT.notes, price_low: VERDICT.low, price_high: VERDICT.high, snapshots: [snapshotId] };
    for (const [k, v] of Object.entries(want)) {
      if (JSON.stringify(r.data[k]) !== JSON.stringify(v)) fail(`verdict.issue sent ${k} ${JSON.stringify(r.data[k])}, not ${JSON.stringify(v)}`);
    }
    verdict = r.reply.data.verdict;
    if (!NUMBER.test(verdict.number) || verdict.version !== 1) fail(`the verdict is ${verdict.number} version ${verdict.version}`);
    await waitVisible(dialog, 'the form to close', { state: 'hidden' });
    await waitUntil('the number on the host\'s call screen', async () => (await text(hp, '#live-call-verdict-number')) === verdict.number,
      { describe: () => text(hp, '#live-call-tools, .live-call-tools') });
    if (!/更正/.test(await text(hp, '#live-call-verdict'))) fail('the call screen does not offer 更正 once issued');
    await noScroll(host, 'the call screen with the verdict number');
    await run.screenshot(host, 'verdict-issued');
    console.log(`  verdict ${verdict.number}`);
  });

  await run.step('7d. the buyer\'s page hears of it during the call (verdict.issued): a notice over the call screen names the item and 天然', async () => {
    const ev = await waitUntil('verdict.issued on the buyer\'s socket', () =>
      buyer.ws.events.find((e) => e.type === 'verdict.issued' && e.data && e.data.verdict && e.data.verdict.number === verdict.number));
    firstIssued = ev.data.verdict;
    if (firstIssued.version !== 1 || typeof firstIssued.jws !== 'string' || firstIssued.jws.split('.').length !== 3) {
      fail(`verdict.issued carried version ${firstIssued.version}, jws ${String(firstIssued.jws).slice(0, 20)}`);
    }
    const notice = bp.locator('#verdict-notice');
    await waitVisible(notice, 'the verdict notice on the buyer\'s page');
    const words = await notice.innerText();
    if (!words.includes(VERDICT.item) || !words.includes('天然')) fail(`the notice says "${words}"`);
    if (!(await bp.locator('#live-call-view').isVisible())) fail('the buyer\'s call screen went away');
    // On top of the call screen, not under it.
    const onTop = await bp.evaluate(() => {
      const n = document.querySelector('#verdict-notice-open');
      const b = n.getBoundingClientRect();
      const hit = document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2);
      return !!hit && n.contains(hit);
    });
    if (!onTop) fail('the notice\'s 查看 is covered (by the call screen?)');
    await noScroll(buyer, 'the call screen with the verdict notice');
    await run.screenshot(buyer, 'verdict-notice');
  });

  await run.step('7e. 挂断 on the host\'s page ends the call on both; the host\'s ended screen keeps the number', async () => {
    const mark2 = host.ws.mark();
    await hp.locator('#live-call-hangup').click();
    await replyTo(host, 'rtc.hangup', mark2);
    await expectEnded(host, /你挂断了通话/, '你挂断了通话');
    await expectEnded(buyer, /对方挂断了通话/, '对方挂断了通话');
    if ((await text(hp, '#live-call-verdict-number')) !== verdict.number) fail('the ended call screen lost the verdict number');
    await closeEnded(host);
  });

  const field = (page, name) => text(page, `#verdict-facts dd[data-field="${name}"]`);
  await run.step('7f. the buyer taps 查看 on the notice: the ended call screen closes and 我的 shows the verdict: number, version 1, 手镯, 翡翠, 天然, 冰种, the notes, 8,000–12,000元, the snapshot, the appraiser, the date, the basis first; 验证 says 已验证', async () => {
    await bp.locator('#verdict-notice-open').click();
    await waitVisible(bp.locator('#verdict-detail'), 'the verdict page on the buyer\'s page');
    await waitVisible(bp.locator('#live-call-view'), 'the buyer\'s ended call screen to close', { state: 'hidden' });
    if (!(await bp.evaluate(() => window.__duoxieCall === undefined))) fail('window.__duoxieCall is still set after 查看');
    if (!/#\/me\/verdict(:|%3A)DX/.test(bp.url())) fail(`the verdict's address is ${bp.url()}`);
    if (await bp.locator('#verdict-notice').isVisible()) fail('the notice is still up after 查看');
    const d = bp.locator('#verdict-detail');
    if ((await d.getAttribute('data-number')) !== verdict.number || (await d.getAttribute('data-version')) !== '1') fail('the page shows another verdict');
    if ((await text(bp, '#verdict-number')) !== verdict.number) fail(`the number shown is "${await text(bp, '#verdict-number')}"`);
    if ((await text(bp, '#verdict-version')) !== '第1版') fail(`the version shown is "${await text(bp, '#verdict-version')}"`);
    const want = { item_type: VERDICT.item, material: VERDICT.material, conclusion: '天然', grade: VERDICT.grade, notes: VERDICT.notes,
      appraiser: me.host.nickname };
    for (const [k, v] of Object.entries(want)) if ((await field(bp, k)) !== v) fail(`${k} shows "${await field(bp, k)}", not ${v}`);
    if (!/^8,000–12,000元$/.test(await field(bp, 'price'))) fail(`the estimate shows "${await field(bp, 'price')}"`);
    if (!/^\d{4}\/\d{1,2}\/\d{1,2} \d{2}:\d{2}$/.test(await field(bp, 'issued_at'))) fail(`the date shows "${await field(bp, 'issued_at')}"`);
    const basis = bp.locator('#verdict-basis');
    const words = await basis.innerText();
    if (!words.includes('视频连线鉴定意见，非实验室检测证书')) fail(`the basis says "${words}"`);
    const [bBox, fBox] = [await basis.boundingBox(), await bp.locator('#verdict-facts').boundingBox()];
    if (!bBox || !fBox || bBox.y > fBox.y) fail('the basis is not shown before the verdict\'s facts');
    await waitUntil('the snapshot shown', async () => (await bp.locator('#verdict-snapshots img').count()) === 1 &&
      bp.locator('#verdict-snapshots img').evaluate((img) => img.complete && img.naturalWidth > 0), { describe: () => bp.locator('#verdict-snapshots').innerHTML() });
    const verified = bp.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/api/verdicts/verify');
    await bp.locator('#verdict-verify').click();
    const vr = await verified;
    if (!vr.ok()) fail(`POST /api/verdicts/verify answered ${vr.status()}`);
    const sent = JSON.parse(vr.request().postData() || '{}');
    if (sent.jws !== firstIssued.jws) fail('验证 did not send the verdict\'s signed record');
    if (vr.request().headers().authorization) fail('验证 sent the login token to the public check');
    await waitUntil('已验证', async () => (await bp.locator('#verdict-verify-result').getAttribute('data-result')) === 'current' &&
      /已验证/.test(await text(bp, '#verdict-verify-result')), { describe: () => text(bp, '#verdict-verify-result') });
    await noScroll(buyer, 'the buyer\'s verdict page');
    await run.screenshot(buyer, 'verdict');
  });

  let corrected = null;
  await run.step('7g. after the call the host corrects it from the console\'s 本场连线 (更正: a reason required; 结论 优化处理): the buyer\'s open page shows version 2, 优化处理 and the reason, and both versions', async () => {
    const row = hp.locator(`#live-call-records li[data-call-id="${verdictCallId}"]`);
    await waitVisible(row, 'the call in the console\'s 本场连线');
    await waitUntil('the number in 本场连线, the call no longer in progress', async () =>
      (await row.locator('.live-record-number').innerText().catch(() => '')) === verdict.number && !/通话中/.test(await row.innerText()),
    { describe: () => row.innerText() });
    await row.locator('.live-record-correct').click();
    const dialog = hp.locator('#verdict-form-dialog');
    await waitVisible(dialog, 'the 更正鉴定结果 form');
    if ((await hp.locator('#verdict-item').inputValue()) !== VERDICT.item || !(await hp.locator('#verdict-conclusion-natural').isChecked())) {
      fail('the correction does not start from the current version');
    }
    if (await hp.locator('#verdict-snap').count()) fail('截图 is offered after the call ended');
    if ((await hp.locator('#verdict-snapshots li[data-status="approved"]').count()) !== 1) fail('the snapshot of version 1 is not kept in the form');
    const mark0 = host.ws.mark();
    await hp.locator('#verdict-form-ok').click();
    await waitUntil('请填写更正原因', async () => /请填写更正原因/.test(await text(hp, '#verdict-form-dialog .form-error')));
    if (host.ws.requests.slice(mark0).some((q) => q.type === 'verdict.correct')) fail('a correction without a reason was sent');
    await hp.locator('#verdict-correction').fill(CORRECTION);
    await hp.locator('#verdict-conclusion-treated').check();
    await noScroll(host, 'the 更正鉴定结果 form');
    const bmark = buyer.ws.events.length;
    const mark = host.ws.mark();
    await hp.locator('#verdict-form-ok').click();
    const r = await replyTo(host, 'verdict.correct', mark);
    if (r.data.number !== verdict.number || r.data.correction !== CORRECTION || r.data.conclusion !== 'treated' ||
        r.data.item_type !== VERDICT.item || JSON.stringify(r.data.snapshots) !== JSON.stringify([snapshotId]) || 'call_id' in r.data) {
      fail(`verdict.correct sent ${JSON.stringify(r.data)}`);
    }
    corrected = r.reply.data.verdict;
    if (corrected.version !== 2 || corrected.number !== verdict.number) fail(`the correction is ${corrected.number} version ${corrected.version}`);
    await waitUntil('第2版 and 优化处理 in 本场连线', async () => /第2版/.test(await row.innerText()) && /优化处理/.test(await row.innerText()),
      { describe: () => row.innerText() });
    await noScroll(host, 'the console\'s 本场连线 with the corrected verdict');
    await row.scrollIntoViewIfNeeded();
    await run.screenshot(host, 'records');
    await waitUntil('verdict.issued (version 2) on the buyer\'s socket', () =>
      buyer.ws.events.slice(bmark).some((e) => e.type === 'verdict.issued' && e.data.verdict.version === 2));
    const d = bp.locator('#verdict-detail');
    await waitUntil('version 2 on the buyer\'s open page', async () => (await d.getAttribute('data-version')) === '2',
      { describe: () => visibleText(bp, '#verdict-detail') });
    if ((await text(bp, '#verdict-version')) !== '第2版（已更正）') fail(`the version shown is "${await text(bp, '#verdict-version')}"`);
    if ((await field(bp, 'conclusion')) !== '优化处理') fail(`the conclusion shows "${await field(bp, 'conclusion')}"`);
    if (!(await text(bp, '#verdict-correction')).includes(CORRECTION)) fail(`the correction note says "${await text(bp, '#verdict-correction')}"`);
    if ((await bp.locator('#verdict-versions li[data-version]').count()) !== 2) fail('the page does not list both versions');
    if (!/已被更正/.test(await text(bp, '#verdict-versions li[data-version="1"]'))) fail('version 1 is not marked 已被更正');
    // The page in view changed by itself: a toast says so, not the notice.
    if (await bp.locator('#verdict-notice').isVisible()) fail('the notice came up over the verdict\'s own page');
    await noScroll(buyer, 'the corrected verdict page');
    await run.screenshot(buyer, 'verdict-corrected');
  });

  await run.step('7h. 验证 on version 1 says 已被更正 (authentic, not current), on version 2 已验证; the first verdict.issued frame\'s signed record sent to POST /api/verdicts/verify without an account: authentic, not current; altered: invalid_receipt', async () => {
    const v1 = bp.locator('#verdict-versions li[data-version="1"]');
    await v1.locator('.verdict-verify-btn').click();
    await waitUntil('已被更正 for version 1', async () => (await v1.locator('.verdict-verify-result').getAttribute('data-result')) === 'superseded' &&
      /已被更正/.test(await v1.locator('.verdict-verify-result').innerText()), { describe: () => v1.innerText() });
    await bp.locator('#verdict-verify').click();
    await waitUntil('已验证 for version 2', async () => (await bp.locator('#verdict-verify-result').getAttribute('data-result')) === 'current' &&
      /已验证/.test(await text(bp, '#verdict-verify-result')), { describe: () => text(bp, '#verdict-verify-result') });
    const post = (jws) => fetch(BASE + '/api/verdicts/verify', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ jws }) });
    const res = await post(firstIssued.jws);
    const check = await res.json();
    if (res.status !== 200 || check.authentic !== true || check.current !== false || !check.claims || check.claims.version !== 1 ||
        check.claims.conclusion !== 'natural') fail(`the old version's check answered ${res.status} ${JSON.stringify(check).slice(0, 200)}`);
    const [h, payload, sig] = firstIssued.jws.split('.');
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    const altered = [h, Buffer.from(JSON.stringify({ ...claims, conclusion: 'treated' })).toString('base64url'), sig].join('.');
    const bad = await post(altered);
    const badBody = await bad.json();
    if (bad.status !== 400 || !badBody.error || badBody.error.code !== 'invalid_receipt') fail(`an altered verdict answered ${bad.status} ${JSON.stringify(badBody)}`);
    if ('buyer' in claims || (!me.host.nickname.includes(me.buyer.nickname) && JSON.stringify(claims).includes(me.buyer.nickname))) {
      fail(`the signed claims name the buyer: ${JSON.stringify(claims)}`);
    }
    await noScroll(buyer, 'the verdict page with both checks');
  });

  await run.check('7i. English: the verdict page in English (Treated, Verified), no Chinese but the user\'s data and the signed basis', async () => {
    await bp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('en'); });
    try {
      await waitUntil('the page in English', async () => (await field(bp, 'conclusion')) === 'Treated' &&
        /^Version 2/.test(await text(bp, '#verdict-version')) && /Verified/.test(await text(bp, '#verdict-verify-result')),
      { describe: () => visibleText(bp, '#verdict-detail') });
      const words = await bp.evaluate(() => {
        const copy = document.querySelector('#me-view-verdict').cloneNode(true);
        for (const n of copy.querySelectorAll('.me-user-data, [lang="zh-CN"]')) n.remove();
        return copy.textContent;
      });
      if (/[\u3400-\u9fff]/.test(words)) fail(`Chinese left on the English verdict page: "${words.replace(/\s+/g, ' ').slice(0, 300)}"`);
      await noScroll(buyer, 'the English verdict page');
    } finally {
      await bp.evaluate(async () => { (await import('/static/js/i18n.js')).setLocale('zh-CN'); });
    }
  });

  await run.step('7j. 我的 → 我的鉴定 lists the verdict for the buyer (the item, 优化处理, 已更正); a tap opens it, 返回 goes back to the list; the address #/verdict/<number> opens it after a reload', async () => {
    await bp.locator('#tab-btn-me').click();
    await waitVisible(bp.locator('#me-row-verdicts'), '我的鉴定 in 我的');
    await bp.locator('#me-row-verdicts').click();
    const item = bp.locator(`#verdict-list button.verdict-item[data-number="${verdict.number}"]`);
    await waitVisible(item, 'the verdict in 我的鉴定');
    const words = await item.innerText();
    for (const w of [VERDICT.item, '优化处理', '已更正', verdict.number, me.host.nickname]) if (!words.includes(w)) fail(`the list item does not say ${w}: "${words}"`);
    await noScroll(buyer, '我的鉴定');
    await run.screenshot(buyer, 'verdict-list');
    await item.click();
    await waitUntil('the verdict page from the list', async () => (await bp.locator('#verdict-detail').getAttribute('data-number').catch(() => null)) === verdict.number);
    await bp.locator('#me-back').click();
    await waitVisible(bp.locator('#verdict-list'), '我的鉴定 again after 返回');
    // The address one passes on (#/verdict/<number>) opens it too, after a reload.
    await bp.goto(BASE + '/#/verdict/' + verdict.number, { waitUntil: 'domcontentloaded' });
    await waitConnected(bp);
    await waitUntil('the verdict page from #/verdict/<number>', async () =>
      (await bp.locator('#verdict-detail').getAttribute('data-number').catch(() => null)) === verdict.number,
    { describe: async () => bp.url() + ' ' + (await visibleText(bp, '#tab-me')) });
  });

  await run.step('7k. the host\'s 我的 → 我的鉴定 lists it too, as 我出具的, its page names the buyer and offers 更正; back to the console', async () => {
    await hp.locator('#live-host-back').click();
    await hp.locator('#tab-btn-me').click();
    await waitVisible(hp.locator('#me-row-verdicts'), '我的鉴定 in the host\'s 我的');
    await hp.locator('#me-row-verdicts').click();
    const item = hp.locator(`#verdict-list button.verdict-item[data-number="${verdict.number}"]`);
    await waitVisible(item, 'the verdict in the host\'s 我的鉴定');
    if (!/我出具的/.test(await item.innerText())) fail(`the host's list item says "${await item.innerText()}"`);
    await item.click();
    await waitVisible(hp.locator('#verdict-correct'), '更正 on the appraiser\'s verdict page');
    if (!(await text(hp, '#verdict-facts dd[data-field="buyer"]')).includes(me.buyer.nickname)) fail('the appraiser\'s page does not name the buyer');
    await noScroll(host, 'the appraiser\'s verdict page');
    // The browser's back button, through 我的鉴定, 我的 and the list, to the console.
    for (let i = 0; i < 4; i++) await hp.goBack();
    await waitVisible(hp.locator('#live-host'), 'the console again after going back');
  });

  await run.step('7l. the public GET /api/verdicts/<number> (no account): the current version\'s item, conclusion, appraiser and date, and no buyer (nor notes, estimate, snapshots or signed record); an unknown number is 404 not_found', async () => {
    const res = await fetch(BASE + '/api/verdicts/' + verdict.number);
    const pub = await res.json();
    if (res.status !== 200) fail(`GET /api/verdicts/${verdict.number} answered ${res.status} ${JSON.stringify(pub)}`);
    if ('buyer' in pub) fail(`the public view has a buyer field: ${JSON.stringify(pub)}`);
    for (const k of ['notes', 'price_low', 'price_high', 'snapshots', 'jws', 'grade']) if (k in pub) fail(`the public view has ${k}`);
    if (pub.number !== verdict.number || pub.version !== 2 || pub.versions !== 2 || pub.item_type !== VERDICT.item || pub.conclusion !== 'treated' ||
        pub.appraiser !== me.host.nickname || !/非实验室检测证书/.test(pub.basis || '')) fail(`the public view is ${JSON.stringify(pub)}`);
    if (!me.host.nickname.includes(me.buyer.nickname) && JSON.stringify(pub).includes(me.buyer.nickname)) fail('the public view names the buyer');
    const unknown = await fetch(BASE + '/api/verdicts/DX0000000000ZZ');
    const body = await unknown.json();
    if (unknown.status !== 404 || !body.error || body.error.code !== 'not_found') fail(`an unknown number answered ${unknown.status} ${JSON.stringify(body)}`);
  });

  await run.step('7m. the buyer goes back to the room (for the end of the room)', async () => {
    await openLive(buyer);
    await openRoom(buyer, roomId);
  });

  await run.step('8. the host ends the room (下播): the queue closes on the console; the buyer\'s page offers no 申请连线鉴定', async () => {
    await hp.locator('#live-end').click();
    await waitVisible(hp.locator('#live-end-confirm'), 'the 下播 confirmation');
    await hp.locator('#live-end-confirm #confirm-ok').click();
    await waitUntil('the console says 已结束 and the queue is closed', async () => /已结束/.test(await text(hp, '#live-host-status')) &&
      /队列已关闭/.test(await text(hp, '#live-queue-note')) && !(await hp.locator('#live-call-next').isVisible()),
    { describe: () => visibleText(hp, '#live-host-status, #live-queue-panel') });
    await waitUntil('no 申请连线鉴定 on the buyer\'s page', async () => !(await bp.locator('#live-call-apply').isVisible()) &&
      /已结束/.test(await text(bp, '#live-status')), { describe: () => visibleText(bp, '#live-status, #live-call-bar') });
  });

  await run.check('9. no window dialog on any page', async () => {
    const all = run.pages.flatMap((e) => e.dialogs.map((d) => `${e.label}: ${d}`));
    if (all.length) fail(all.join('; '));
  });

  await run.check('10. no console errors, page errors or failed requests on any page', async () => {
    const all = run.pages.flatMap((e) => e.errors.map((x) => `${e.label}: ${x}`));
    if (all.length) fail(all.slice(0, 10).join(' | '));
  });
});
