/**
 * The moderator's commands on an item: claim (a lease), release, and decide (approve, reject,
 * reject_and_block) with the reason the author or the reported user sees.
 *
 * @module console/decide
 */
import { t } from '/static/js/i18n.js';
import { client, state, isReport, noteServerTime } from './state.js';
import { render, flash, forgetItem, resyncSoon } from './queue.js';
import { decisionKey } from './card.js';
import { auditSoon } from './audit.js';

export function setMsg(id, key, params = null, { err = null, cls = 'info' } = {}) {
  if (key) state.msgs.set(id, { key, params, err, cls });
  else state.msgs.delete(id);
  render();
}

export async function claim(id) {
  state.pending.add(id);
  state.msgs.delete(id);
  render();
  try {
    const r = await client.request('mod.claim', { item_id: id });
    const it = r.item;
    if (it && state.leaseMs && typeof it.claim_expires_at === 'number') noteServerTime(it.claim_expires_at - state.leaseMs);
    if (it && !state.decided.has(id) && state.items.has(id)) state.items.set(id, it);
    state.msgs.set(id, { key: 'console.msg.claimed', cls: 'ok' });
  } catch (err) {
    if (err.code === 'conflict') {
      state.msgs.set(id, { key: 'console.msg.claim_conflict', cls: 'error' });
      // The mod.claimed / mod.decided event normally follows; resync if it does not.
      setTimeout(() => {
        const it = state.items.get(id);
        if (it && it.state === 'queued') resyncSoon();
      }, 2000);
    } else if (err.code === 'not_found') {
      state.items.delete(id);
      forgetItem(id);
      flash('console.flash.gone', { id }, true);
    } else {
      state.msgs.set(id, { key: 'console.msg.claim_failed', err, cls: 'error' });
    }
  } finally {
    state.pending.delete(id);
    render();
  }
}

export async function release(id) {
  state.pending.add(id);
  render();
  try {
    const r = await client.request('mod.release', { item_id: id });
    if (r.item && state.items.has(id)) state.items.set(id, r.item);
    state.msgs.set(id, { key: 'console.msg.released', cls: 'info' });
  } catch (err) {
    state.msgs.set(id, { key: 'console.msg.release_failed', err, cls: 'error' });
  } finally {
    state.pending.delete(id);
    render();
  }
}

export async function decide(id, decision) {
  const card = state.cards.get(id);
  const item = state.items.get(id);
  if (!card || !item) return;
  const reason = (state.drafts.get(id) || '').trim();
  if (decision !== 'approve' && !reason) {
    setMsg(id, isReport(item) ? 'console.msg.reason_required_report' : 'console.msg.reason_required', null, { cls: 'error' });
    card.reason.focus();
    return;
  }
  const data = { item_id: id, decision };
  if (reason) data.reason = reason;
  const label = decisionKey(item, decision);
  state.pending.add(id);
  render();
  try {
    await client.request('mod.decide', data);
    state.decided.add(id);
    state.items.delete(id);
    forgetItem(id);
    flash('console.flash.decided', { id, label: () => t(label) });
    auditSoon();
  } catch (err) {
    state.msgs.set(id, { key: err.code === 'conflict' ? 'console.msg.lease_lost' : 'console.msg.decide_failed', err, cls: 'error' });
  } finally {
    state.pending.delete(id);
    render();
  }
}
