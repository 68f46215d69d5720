/**
 * One verdict (鉴定结果), a view of the 我的 tab (`#/me/verdict:<number>`): for its buyer and its
 * appraiser (`verdict.get`) the current version in full — number, version, item, material, the
 * conclusion, grade, notes, estimate, snapshots, appraiser, date — under what it is and is not
 * (视频连线鉴定意见，非实验室检测证书), the correction and its reason when there is one, every
 * earlier version, and 验证 for each (the signed record sent to `POST /api/verdicts/verify`:
 * 已验证 for the current version, 已被更正 for one a correction replaced, or why it failed).
 * The appraiser also has 更正 (verdict-form.js). Anyone else who has the number sees the public
 * view (`GET /api/verdicts/{number}`), and only what it gives. A new version (the buyer's
 * `verdict.issued`, the appraiser's own correction) is shown as it comes.
 *
 * @module pages/verdict-detail
 */
import { el } from '/static/js/ui/dom.js';
import { t, errorText, formatDateTime } from '/static/js/i18n.js';
import { store } from '/static/js/app/store.js';
import { photoView } from '/static/js/ui/photo.js';
import { nickOf } from '/static/js/pages/live-common.js';
import { isTransient } from '/static/js/pages/me-common.js';
import {
  NUMBER_PATTERN, verdictVersions, publicVerdict, verifyVerdict, onVerdicts,
} from '/static/js/pages/verdict-data.js';
import { openVerdictForm } from '/static/js/pages/verdict-form.js';
import { ensureVerdictCss, conclusionText, priceText, appraiserName } from '/static/js/pages/verdict-common.js';

export const TITLE = 'live.verdict.title';
/** 返回 goes to the list of verdicts. */
export const BACK = 'verdicts';

let number = null;
let versions = null; // every version, oldest first (a party)
let pub = null; // the public view (anyone else)
let error = null;
let loading = false;
let gen = 0;
let ctxRef = null;
let inView = false;
const checks = new Map(); // version → {busy} | {result: VerdictCheck} | {error}

export function init(ctx) {
  ctxRef = ctx;
  return [onVerdicts((v) => { if (v.number === number && inView && !loading) load(); })];
}

/** Enters the view for `arg` (the number). */
export function enter(ctx, arg) {
  ensureVerdictCss();
  inView = true;
  if (arg !== number) {
    reset();
    inView = true;
    number = arg;
  }
  load();
}

export function leave() {
  inView = false;
}

export function reset() {
  gen += 1;
  number = null;
  versions = null;
  pub = null;
  error = null;
  loading = false;
  inView = false;
  checks.clear();
}

async function load() {
  const my = ++gen;
  const which = number;
  loading = true;
  if (ctxRef) ctxRef.rerender();
  try {
    if (!NUMBER_PATTERN.test(which || '')) throw Object.assign(new Error('number'), { code: 'not_found' });
    try {
      const list = await verdictVersions(which);
      if (my !== gen) return;
      // A new version makes the earlier checks out of date (the one that was current is not now).
      if (versions && versions.length !== list.length) checks.clear();
      versions = list;
      pub = null;
    } catch (err) {
      // Not a party: what anyone may see of the number.
      if (err.code !== 'not_found') throw err;
      const view = await publicVerdict(which);
      if (my !== gen) return;
      pub = view;
      versions = null;
    }
    error = null;
  } catch (err) {
    if (my !== gen) return;
    error = err;
  }
  loading = false;
  if (ctxRef) ctxRef.rerender();
}

async function verify(v) {
  checks.set(v.version, { busy: true });
  ctxRef.rerender();
  let said;
  try {
    said = { result: await verifyVerdict(v.jws) };
  } catch (err) {
    said = { error: err };
  }
  // Another verdict in view meanwhile: this answer is not about it.
  if (v.number !== number) return;
  checks.set(v.version, said);
  ctxRef.rerender();
}

// ---------------------------------------------------------------- rendering

function checkText(c, latest) {
  if (c.result) {
    const r = c.result;
    if (r.authentic && r.current) return { kind: 'current', text: t('live.verdict.verified') };
    if (r.authentic) return { kind: 'superseded', text: t('live.verdict.verified_superseded', { version: latest }) };
    return { kind: 'invalid', text: t('live.verdict.verify_invalid') };
  }
  if (c.error) {
    return c.error.code === 'invalid_receipt'
      ? { kind: 'invalid', text: t('live.verdict.verify_invalid') }
      : { kind: 'error', text: errorText(c.error) };
  }
  return null;
}

function verifyBlock(v, latest, { id = null, label }) {
  const c = checks.get(v.version) || {};
  const said = checkText(c, latest);
  return el('div', { class: 'verdict-verify' },
    el('button', {
      type: 'button', class: 'secondary small-btn verdict-verify-btn', id: id ? id : null, text: c.busy ? t('live.verdict.verifying') : label,
      disabled: !!c.busy, dataset: { version: String(v.version) }, onclick: () => verify(v),
    }),
    el('p', {
      class: 'verdict-verify-result small' + (said ? ' is-' + said.kind : ''), id: id ? id + '-result' : null,
      role: 'status', dataset: { result: said ? said.kind : '' }, text: said ? said.text : '',
    }));
}

function basisBox(v) {
  return el('div', { class: 'verdict-basis', id: 'verdict-basis' },
    el('strong', { class: 'verdict-basis-title', text: t('live.verdict.basis_title') }),
    el('p', { text: t('live.verdict.basis_text') }),
    // The words the signed record carries (both languages), for whoever wants them verbatim.
    v.basis ? el('details', { class: 'small verdict-basis-signed' },
      el('summary', { text: t('live.verdict.basis_signed') }),
      el('p', { lang: 'zh-CN', text: v.basis })) : null);
}

function fact(field, label, value, { id = null, data = null, cls = '' } = {}) {
  const empty = value == null || value === '';
  return [
    el('dt', { text: label }),
    el('dd', { id, class: (cls + (empty ? ' muted' : '')).trim() || null, dataset: Object.assign({ field }, data || {}),
      text: empty ? t('live.verdict.none') : value }),
  ];
}

function detail() {
  const cur = versions[versions.length - 1];
  const first = versions[0];
  const mine = !!store.me && !!cur.appraiser && cur.appraiser.id === store.me.id;
  const snapshots = cur.snapshots || [];
  const head = el('div', { class: 'verdict-head' },
    el('p', { class: 'verdict-number-line' },
      el('span', { class: 'muted', text: t('live.verdict.number') }),
      el('strong', { class: 'verdict-number', id: 'verdict-number', text: cur.number })),
    el('p', { class: 'verdict-version small', id: 'verdict-version', dataset: { version: String(cur.version) },
      text: cur.version > 1 ? t('live.verdict.version_corrected', { version: cur.version }) : t('live.verdict.version', { version: cur.version }) }));
  const correction = cur.correction ? el('div', { class: 'verdict-correction', id: 'verdict-correction', role: 'note' },
    el('strong', { text: t('live.verdict.corrected_title', { version: cur.version }) }),
    el('p', { class: 'me-user-data', text: t('live.verdict.correction_reason', { reason: cur.correction }) })) : null;
  const facts = el('dl', { class: 'facts verdict-facts', id: 'verdict-facts' },
    fact('item_type', t('live.verdict.item'), cur.item_type, { cls: 'me-user-data' }),
    fact('material', t('live.verdict.material'), cur.material, { cls: 'me-user-data' }),
    fact('conclusion', t('live.verdict.conclusion'), conclusionText(cur.conclusion),
      { id: 'verdict-conclusion', data: { conclusion: cur.conclusion }, cls: 'verdict-conclusion is-' + cur.conclusion }),
    fact('grade', t('live.verdict.grade'), cur.grade, { cls: 'me-user-data' }),
    fact('price', t('live.verdict.price'), priceText(cur)),
    fact('notes', t('live.verdict.notes'), cur.notes, { cls: 'me-user-data verdict-notes' }),
    fact('appraiser', t('live.verdict.appraiser'), appraiserName(cur), { cls: 'me-user-data' }),
    mine && cur.buyer !== undefined ? fact('buyer', t('live.verdict.buyer'), cur.buyer ? nickOf(cur.buyer) : t('live.verdict.buyer_gone'), { cls: 'me-user-data' }) : null,
    fact('issued_at', t(cur.version > 1 ? 'live.verdict.corrected_at' : 'live.verdict.issued_at'), formatDateTime(cur.issued_at)),
    cur.version > 1 ? fact('first_issued_at', t('live.verdict.first_issued_at'), formatDateTime(first.issued_at)) : null);
  const shots = snapshots.length ? el('div', { class: 'verdict-shots-field' },
    el('span', { class: 'verdict-label', text: t('live.verdict.snapshots') }),
    el('ul', { class: 'verdict-shots verdict-shots-read', id: 'verdict-snapshots' },
      snapshots.map((id) => el('li', { class: 'verdict-shot', dataset: { id } }, photoView(id))))) : null;
  const main = el('section', {
    class: 'me-card verdict-card', id: 'verdict-detail',
    dataset: { number: cur.number, version: String(cur.version), conclusion: cur.conclusion },
  },
  head, basisBox(cur), correction, facts, shots,
  verifyBlock(cur, cur.version, { id: 'verdict-verify', label: t('live.verdict.verify') }),
  el('p', { class: 'small muted', text: t('live.verdict.verify_hint') }),
  mine ? el('div', { class: 'me-actions' },
    el('button', { type: 'button', class: 'secondary', id: 'verdict-correct', text: t('live.verdict.correct_btn'),
      onclick: () => openVerdictForm({ verdict: cur, buyer: cur.buyer }) })) : null);
  const older = versions.length > 1 ? el('section', { class: 'me-card', id: 'verdict-versions', 'aria-labelledby': 'verdict-versions-title' },
    el('h2', { class: 'me-section-title', id: 'verdict-versions-title', text: t('live.verdict.versions', { n: versions.length }) }),
    el('ol', { class: 'verdict-version-list' }, versions.slice().reverse().map((v) => el('li', {
      class: 'verdict-version-item' + (v.superseded_at ? ' is-superseded' : ''), dataset: { version: String(v.version) },
    },
    el('p', { class: 'verdict-version-head' },
      el('strong', { text: t('live.verdict.version', { version: v.version }) }),
      el('span', { class: 'small muted', text: formatDateTime(v.issued_at) }),
      el('span', { class: 'verdict-conclusion-chip is-' + v.conclusion, text: conclusionText(v.conclusion) }),
      el('span', { class: 'small ' + (v.superseded_at ? 'verdict-superseded' : 'verdict-current'),
        text: v.superseded_at ? t('live.verdict.superseded_tag') : t('live.verdict.current_tag') })),
    v.correction ? el('p', { class: 'small me-user-data', text: t('live.verdict.correction_reason', { reason: v.correction }) }) : null,
    verifyBlock(v, cur.version, { label: t('live.verdict.verify_version', { version: v.version }) }))))) : null;
  return [main, older];
}

function publicCard() {
  const v = pub;
  return el('section', { class: 'me-card verdict-card', id: 'verdict-public', dataset: { number: v.number, version: String(v.version) } },
    el('div', { class: 'verdict-head' },
      el('p', { class: 'verdict-number-line' },
        el('span', { class: 'muted', text: t('live.verdict.number') }),
        el('strong', { class: 'verdict-number', id: 'verdict-number', text: v.number })),
      el('p', { class: 'verdict-version small', id: 'verdict-version', text: t('live.verdict.version_of', { version: v.version, n: v.versions }) })),
    basisBox(v),
    el('dl', { class: 'facts verdict-facts', id: 'verdict-facts' },
      fact('item_type', t('live.verdict.item'), v.item_type, { cls: 'me-user-data' }),
      fact('material', t('live.verdict.material'), v.material, { cls: 'me-user-data' }),
      fact('conclusion', t('live.verdict.conclusion'), conclusionText(v.conclusion),
        { id: 'verdict-conclusion', data: { conclusion: v.conclusion }, cls: 'verdict-conclusion is-' + v.conclusion }),
      fact('appraiser', t('live.verdict.appraiser'), appraiserName(v), { cls: 'me-user-data' }),
      fact('issued_at', t('live.verdict.issued_at'), formatDateTime(v.issued_at))),
    el('p', { class: 'small muted', text: t('live.verdict.public_note') }));
}

export function render() {
  if (error) {
    return el('section', { class: 'me-card', id: 'verdict-error' },
      el('p', { class: 'form-error', role: 'alert', text: error.code === 'not_found' ? t('live.verdict.not_found') : errorText(error) }),
      isTransient(error) ? el('button', { type: 'button', class: 'secondary', text: t('action.retry'), onclick: load }) : null);
  }
  if (versions && versions.length) return detail();
  if (pub) return publicCard();
  return el('p', { class: 'muted me-loading', text: t('status.loading') });
}
