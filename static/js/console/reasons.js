/**
 * The findings on a queue item (ModItem.reasons: src/moderation/policy.rs, reports.rs, media)
 * as tags in the moderator's language and the detail that follows them. A form not known here
 * is shown as it came (it is the server's, not a text of ours).
 *
 * @module console/reasons
 */
import { el } from '/static/js/ui/dom.js';
import { t } from '/static/js/i18n.js';
import { tx } from './text.js';
import { labelOf } from './state.js';

// The finding "contact: <kind>" of the contact-details rule.
const CONTACT = { wechat: 'wechat', phone: 'phone', 'phone number': 'phone', mobile: 'phone', qq: 'qq', link: 'link', url: 'link' };
const CONTENT_KIND = /^[a-z_]+$/;

/**
 * One finding → `{kind, tag: [key, params] | null, note: [key, params] | null, detail,
 * detailKey: [key, params] | null}`; `detail` is the server's or a user's own words.
 */
export function parseReason(raw) {
  const text = String(raw == null ? '' : raw).trim();
  let m = /^keyword\s*[:：]\s*([\s\S]*)$/i.exec(text);
  if (m) return { kind: 'keyword', tag: ['console.finding.keyword'], detail: m[1] };
  m = /^contact\s*[:：]\s*([\s\S]*)$/i.exec(text);
  if (m) {
    const what = m[1].trim();
    const known = CONTACT[what.toLowerCase()];
    if (known) return { kind: 'contact', tag: ['console.finding.contact_kind', { what: () => t('console.contact.' + known) }], detail: '' };
    return { kind: 'contact', tag: ['console.finding.contact'], detail: what };
  }
  m = /^report\s*[:：]\s*([\s\S]*)$/i.exec(text);
  if (m) return { kind: 'report', tag: ['console.finding.report'], detail: m[1], user: true };
  m = /^appeal of an? (\S+) decision\s*[:：]\s*([\s\S]*)$/i.exec(text);
  if (m) {
    const of = m[1];
    return { kind: 'appeal', tag: ['console.finding.appeal'], user: true,
      note: ['console.finding.appeal_of', { kind: () => (CONTENT_KIND.test(of) ? labelOf('console.kind.', of) : of) }],
      detail: m[2] };
  }
  m = /^appeal\s*[:：]\s*([\s\S]*)$/i.exec(text);
  if (m) return { kind: 'appeal', tag: ['console.finding.appeal'], detail: m[1], user: true };
  // "resembles a blocklisted image (34 of 256 bits apart)", "matches … but is too plain …".
  m = /^(?:matches|resembles) a blocklisted (?:image|picture) \((\d+) of (\d+) bits apart\)([\s\S]*)$/i.exec(text);
  if (m) {
    return { kind: 'blocklist', tag: ['console.finding.blocklist_near'],
      detailKey: [/too plain/i.test(m[3]) ? 'console.finding.bits_plain' : 'console.finding.bits', { n: m[1], of: m[2] }] };
  }
  m = /^blocklist\s*[:：]\s*([\s\S]*)$/i.exec(text);
  if (m) {
    const near = /^near\s+(\d+)\s*bits?\b\s*([\s\S]*)$/i.exec(m[1]);
    if (near) return { kind: 'blocklist', tag: ['console.finding.blocklist_near'], detailKey: ['console.finding.bits_near', { n: near[1] }], detail: near[2] || '' };
    return { kind: 'blocklist', tag: ['console.finding.blocklist_near'], detail: m[1] };
  }
  if (/^blocklisted (?:image|picture)$/i.test(text)) return { kind: 'blocklist', tag: ['console.finding.blocklisted'], detail: '' };
  if (/^videos? (?:are|is) always reviewed$/i.test(text)) {
    return { kind: 'video', tag: ['console.finding.video'], detailKey: ['console.finding.video_always'] };
  }
  return { kind: 'unknown', tag: null, detail: text };
}

/**
 * The upload screening joins its findings with "; " into one reason; a reporter's or an
 * appellant's own words are never split.
 */
export function splitReasons(reasons) {
  const out = [];
  for (const raw of reasons || []) {
    const text = String(raw == null ? '' : raw);
    if (/^(report|appeal)\b/i.test(text.trim())) out.push(text);
    else out.push(...text.split(/;\s+/).filter((part) => part.trim()));
  }
  return out;
}

export function reasonChip(raw) {
  const r = parseReason(raw);
  return el('span', { class: 'reason-chip', 'data-reason': r.kind, 'data-raw': raw },
    r.tag ? tx('span', { class: 'reason-tag' }, r.tag[0], r.tag[1] || null) : null,
    r.note ? tx('span', { class: 'reason-note' }, r.note[0], r.note[1] || null) : null,
    r.detailKey ? tx('span', { class: 'reason-detail' }, r.detailKey[0], r.detailKey[1] || null) : null,
    // The words of a reporter, an appellant, or the server's finding (a keyword): not ours.
    r.detail ? el('span', { class: 'reason-detail user-content', text: r.detail }) : null);
}

/** The chips of an item's findings. */
export function reasonsBox(item) {
  return el('div', { class: 'reasons' }, splitReasons(item.reasons).map(reasonChip));
}
