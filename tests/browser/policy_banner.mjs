// A new privacy-policy version asks again, in a real browser at 390×844: the buyer is logged in
// under version 1 with no banner; the test publishes version 2 while the page is open (the
// script prints `READY publish-policy` and waits for `published` on its stdin, so nothing is
// timed); the open page is told live (consent.policy_changed: a notice and the banner), the
// banner survives a reload, 同意 accepts both documents under version 2 (the ledger says so),
// and after another reload it is gone. No console errors, no window dialogs. See README.md.
import { createInterface } from 'node:readline';
import {
  Run, env, fail, waitUntil, waitVisible, loginApp, waitConnected, checkNoHorizontalScroll,
} from './lib.mjs';

const BASE = env('DUOXIE_BASE_URL').replace(/\/+$/, '');
const BUYER_PHONE = env('DUOXIE_BUYER_PHONE');
const NEW_VERSION = env('DUOXIE_NEW_POLICY_VERSION');
const ARTIFACTS = env('DUOXIE_ARTIFACTS', { required: false });

const run = new Run({ artifacts: ARTIFACTS, overallMs: 180000 });
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

// The documents' state in the ledger, read with the page's own token.
async function documents(page) {
  return page.evaluate(async () => {
    const token = localStorage.getItem('duoxie.token');
    const res = await fetch('/api/me/consents', { headers: { authorization: 'Bearer ' + token } });
    const body = await res.json();
    const docs = (body.current || []).filter((c) => c.permission === 'user_agreement' || c.permission === 'privacy_policy');
    return { version: body.policy_version, docs: docs.map((c) => ({ permission: c.permission, granted: c.granted, version: c.policy_version })) };
  });
}

const bannerShown = (page) => page.locator('#policy-banner').isVisible();

await run.main('policy_banner', async () => {
  const buyer = await run.newPhonePage('buyer');
  const { page } = buyer;

  await run.step('1. the buyer logs in (accepting version 1): no policy banner', async () => {
    await loginApp(buyer, BASE, BUYER_PHONE);
    await waitConnected(page);
    const state = await documents(page);
    if (state.version === NEW_VERSION) fail(`version ${NEW_VERSION} is already in force`);
    await waitVisible(page.locator(`#policy-banner[data-version="${state.version}"]`), 'the policy check after login', { state: 'attached' });
    if (await bannerShown(page)) fail('the banner shows right after accepting at login');
  });

  await run.step(`2. version ${NEW_VERSION} is published while the page is open: the notice and the banner show live`, async () => {
    console.log('READY publish-policy');
    const answer = await lines.next();
    if (answer.done || answer.value.trim() !== 'published') fail(`the test answered ${JSON.stringify(answer.value)}, not "published"`);
    await waitVisible(page.locator('#policy-banner'), 'the policy banner');
    const text = await page.locator('#policy-banner').innerText();
    if (!/《用户协议》/.test(text) || !/《隐私政策》/.test(text)) fail(`the banner does not link both documents: ${text}`);
    if (!(await page.locator('#policy-accept-btn').isVisible())) fail('the banner has no 同意 button');
    await checkNoHorizontalScroll(page, 'the page with the policy banner');
    await run.screenshot(buyer, 'banner');
  });

  await run.step('3. after a reload the banner still asks (the server says the documents are not accepted)', async () => {
    await page.reload();
    await waitConnected(page);
    await waitVisible(page.locator('#policy-banner'), 'the policy banner after a reload');
    const state = await documents(page);
    if (state.version !== NEW_VERSION) fail(`the version in force is ${state.version}`);
    if (state.docs.some((d) => d.granted)) fail(`documents count as accepted: ${JSON.stringify(state.docs)}`);
  });

  await run.step(`4. 同意 accepts both documents under version ${NEW_VERSION}; the banner goes`, async () => {
    await page.locator('#policy-accept-btn').click();
    await waitVisible(page.locator('#policy-banner'), 'the banner to hide', { state: 'hidden' });
    const state = await waitUntil('both documents accepted in the ledger', async () => {
      const s = await documents(page);
      return s.docs.length === 2 && s.docs.every((d) => d.granted && d.version === NEW_VERSION) ? s : null;
    });
    console.log(`  ledger: ${JSON.stringify(state.docs)}`);
  });

  await run.step('5. after another reload there is no banner', async () => {
    await page.reload();
    await waitConnected(page);
    // The banner records the version it last checked against the ledger: wait for that check.
    await waitVisible(page.locator(`#policy-banner[data-version="${NEW_VERSION}"]`), 'the policy check after the reload', { state: 'attached' });
    if (await bannerShown(page)) fail('the banner shows again after accepting');
  });

  await run.step('6. no console errors, no window dialogs', async () => {
    const errors = buyer.errors.filter((x) => !/\[console\.warning\]/.test(x));
    if (errors.length) fail(errors.join(' | '));
    if (buyer.dialogs.length) fail(`window dialogs: ${buyer.dialogs.join(' | ')}`);
  });

});
