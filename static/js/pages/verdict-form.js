/**
 * The appraiser's 出具鉴定结果 and 更正鉴定结果 form (`#verdict-form-dialog`): 品类, 材质, the
 * conclusion (天然 / 优化处理 / 仿制品 / 视频无法判断), 等级 and 备注 (optional), an estimate in
 * 元 (both prices or neither), snapshots of the buyer's item (截图: the other party's video frame
 * drawn on a canvas, uploaded as the appraiser's own post photo from the camera), and what the
 * verdict is and is not (视频连线鉴定意见，非实验室检测证书). A correction starts from the current
 * version and needs its reason (更正原因). Checks what it can before sending; the server's
 * refusal is shown in the user's language.
 *
 *   openVerdictForm({ callId: 9, buyer, capture: () => captureFrame(video), onDone: (verdict) => … });
 *   openVerdictForm({ verdict, capture: null, onDone });     // 更正: the next version of `verdict`
 *
 * `capture` (optional) resolves a PNG Blob of the buyer's video now; without it (the call has
 * ended) no new snapshot can be taken and the form says so.
 *
 * @module pages/verdict-form
 */
import { t, errorText } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';
import { openDialog } from '/static/js/ui/dialog.js';
import { showToast } from '/static/js/ui/toast.js';
import { coverUrl, nickOf } from '/static/js/pages/live-common.js';
import {
  CONCLUSIONS, FIELD_MAX_CHARS, NOTES_MAX_CHARS, SNAPSHOTS_MAX, CORRECTION_MAX_CHARS,
  issueVerdict, correctVerdict, uploadSnapshot,
} from '/static/js/pages/verdict-data.js';
import { ensureVerdictCss, conclusionText } from '/static/js/pages/verdict-common.js';

/** The longest side of a snapshot, px: enough to see the item, small enough to upload on a phone. */
const SNAPSHOT_MAX_SIDE = 1280;
/** The highest price the server takes, yuan. */
const PRICE_MAX = 10_000_000_000;

const chars = (s) => [...s].length;

/**
 * The frame `video` shows now, as a PNG Blob (at most SNAPSHOT_MAX_SIDE px on its longer side).
 * Rejects `{code: 'no_frame'}` while the video has no picture.
 */
export function captureFrame(video) {
  return new Promise((resolve, reject) => {
    const w = video ? video.videoWidth : 0;
    const h = video ? video.videoHeight : 0;
    const noFrame = () => reject(Object.assign(new Error('no frame'), { code: 'no_frame' }));
    if (!w || !h) return noFrame();
    const scale = Math.min(1, SNAPSHOT_MAX_SIDE / Math.max(w, h));
    const canvas = el('canvas', { width: String(Math.round(w * scale)), height: String(Math.round(h * scale)) });
    canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
    canvas.toBlob((blob) => (blob ? resolve(blob) : noFrame()), 'image/png');
    return undefined;
  });
}

function textField(id, labelKey, { value = '', max, placeholderKey = null, optional = false, multiline = false, inputmode = null }) {
  const input = multiline
    ? el('textarea', { id, rows: '3', maxlength: String(max * 2), autocomplete: 'off' })
    : el('input', { id, type: 'text', maxlength: String(max * 2), autocomplete: 'off', inputmode });
  input.value = value == null ? '' : String(value);
  if (placeholderKey) input.placeholder = t(placeholderKey);
  const label = el('label', { class: 'field', for: id },
    el('span', { class: 'verdict-label' }, t(labelKey), optional ? el('span', { class: 'small muted', text: t('live.verdict.optional') }) : null),
    input);
  return { input, label };
}

/** Opens the form; resolves the new version, or null when cancelled. */
export function openVerdictForm({ callId = null, verdict = null, buyer = null, capture = null, onDone = null } = {}) {
  ensureVerdictCss();
  const correcting = !!verdict;
  const from = verdict || {};
  const item = textField('verdict-item', 'live.verdict.item', { value: from.item_type, max: FIELD_MAX_CHARS, placeholderKey: 'live.verdict.item_placeholder' });
  const material = textField('verdict-material', 'live.verdict.material', { value: from.material, max: FIELD_MAX_CHARS, placeholderKey: 'live.verdict.material_placeholder' });
  const grade = textField('verdict-grade', 'live.verdict.grade', { value: from.grade, max: FIELD_MAX_CHARS, placeholderKey: 'live.verdict.grade_placeholder', optional: true });
  const notes = textField('verdict-notes', 'live.verdict.notes', { value: from.notes, max: NOTES_MAX_CHARS, placeholderKey: 'live.verdict.notes_placeholder', optional: true, multiline: true });
  const notesCount = el('span', { class: 'small muted form-count' });
  const countNotes = () => { notesCount.textContent = t('live.chars', { n: chars(notes.input.value.trim()), max: NOTES_MAX_CHARS }); };
  notes.input.addEventListener('input', countNotes);
  countNotes();

  const conclusion = el('fieldset', { class: 'chips verdict-conclusions', id: 'verdict-conclusion' },
    el('legend', { text: t('live.verdict.conclusion') }),
    CONCLUSIONS.map((c) => el('label', { class: 'chip', for: 'verdict-conclusion-' + c },
      el('input', { type: 'radio', name: 'verdict-conclusion', id: 'verdict-conclusion-' + c, value: c, checked: from.conclusion === c }),
      el('span', { text: conclusionText(c) }))));

  const priceInput = (id, value, labelKey) => {
    const input = el('input', { id, type: 'text', inputmode: 'numeric', autocomplete: 'off', maxlength: '14', 'aria-label': t(labelKey) });
    input.value = value == null ? '' : String(value);
    return input;
  };
  const low = priceInput('verdict-price-low', from.price_low, 'live.verdict.price_low');
  const high = priceInput('verdict-price-high', from.price_high, 'live.verdict.price_high');
  const price = el('div', { class: 'field' },
    el('span', { class: 'verdict-label' }, t('live.verdict.price'), el('span', { class: 'small muted', text: t('live.verdict.optional') })),
    el('div', { class: 'verdict-price-row' }, low, el('span', { class: 'verdict-price-dash', 'aria-hidden': 'true', text: '–' }), high,
      el('span', { class: 'verdict-price-unit', text: t('live.verdict.yuan') })),
    el('span', { class: 'small muted', text: t('live.verdict.price_hint') }));

  // Snapshots: {id, url, own (an object URL of ours), status: uploading|approved|in_review|failed, error}.
  const shots = (from.snapshots || []).map((id) => ({ id, url: null, own: false, status: 'approved', error: null }));
  let uploads = Promise.resolve();
  let closed = false;
  const grid = el('ul', { class: 'verdict-shots', id: 'verdict-snapshots' });
  const snap = capture ? el('button', { type: 'button', class: 'secondary small-btn verdict-snap', id: 'verdict-snap', text: t('live.verdict.snap') }) : null;
  const shotNote = el('p', { class: 'small muted', id: 'verdict-snap-note', role: 'status' });

  function renderShots() {
    grid.replaceChildren(...shots.map((s) => {
      const img = el('img', { alt: t('live.verdict.snapshot_alt'), decoding: 'async' });
      if (s.url) img.src = s.url;
      else coverUrl(s.id).then((url) => { if (url) img.src = url; });
      return el('li', { class: 'verdict-shot is-' + s.status, dataset: { status: s.status, id: s.id || '' } },
        img,
        s.status !== 'approved' ? el('span', { class: 'verdict-shot-state', text: t('live.verdict.shot_' + s.status) }) : null,
        el('button', { type: 'button', class: 'verdict-shot-remove', 'aria-label': t('live.verdict.shot_remove'), text: '×',
          onclick: () => {
            const at = shots.indexOf(s);
            if (at >= 0) shots.splice(at, 1);
            if (s.own) URL.revokeObjectURL(s.url);
            renderShots();
          } }));
    }));
    grid.hidden = !shots.length;
    if (snap) snap.disabled = shots.length >= SNAPSHOTS_MAX;
    const failed = shots.find((s) => s.status === 'failed' && s.error);
    shotNote.textContent = failed ? errorText(failed.error)
      : shots.some((s) => s.status === 'in_review') ? t('live.verdict.shot_review_note')
        : capture ? t('live.verdict.snap_hint', { max: SNAPSHOTS_MAX }) : t('live.verdict.snap_ended');
    shotNote.classList.toggle('form-error', !!failed);
  }

  async function upload(s, blob) {
    try {
      const media = await uploadSnapshot(blob);
      s.id = media.id;
      s.status = media.status === 'approved' ? 'approved' : media.status === 'in_review' ? 'in_review' : 'failed';
      if (s.status === 'failed') s.error = { code: 'content_rejected' };
    } catch (err) {
      s.status = 'failed';
      s.error = err;
    }
  }

  if (snap) {
    snap.addEventListener('click', async () => {
      if (shots.length >= SNAPSHOTS_MAX) return;
      let blob;
      try {
        blob = await capture();
      } catch (err) {
        shotNote.textContent = t(err && err.code === 'no_frame' ? 'live.verdict.snap_no_frame' : 'live.verdict.snap_failed');
        shotNote.classList.add('form-error');
        return;
      }
      const s = { id: null, url: URL.createObjectURL(blob), own: true, status: 'uploading', error: null };
      shots.push(s);
      renderShots();
      uploads = uploads.then(async () => {
        await upload(s, blob);
        if (!closed) renderShots();
      });
    });
  }

  const correction = correcting
    ? textField('verdict-correction', 'live.verdict.correction', { max: CORRECTION_MAX_CHARS, placeholderKey: 'live.verdict.correction_placeholder', multiline: true })
    : null;
  const basis = el('p', { class: 'verdict-basis-note small', id: 'verdict-form-basis', text: t('live.verdict.basis_form') });
  const whom = buyer ? el('p', { class: 'small muted verdict-form-whom', text: t('live.verdict.for_buyer', { name: nickOf(buyer) }) }) : null;
  const number = correcting ? el('p', { class: 'small muted', text: t('live.verdict.correcting', { number: from.number, version: from.version }) }) : null;

  renderShots();
  let result = null;
  let resolveDone;
  const done = new Promise((r) => { resolveDone = r; });
  const dialog = openDialog({
    id: 'verdict-form-dialog',
    className: 'verdict-form-card',
    title: t(correcting ? 'live.verdict.correct_title' : 'live.verdict.issue_title'),
    body: [
      basis, whom, number,
      correction ? correction.label : null,
      item.label, material.label, conclusion, grade.label, notes.label, notesCount, price,
      el('div', { class: 'verdict-shots-field' },
        el('div', { class: 'verdict-shots-head' }, el('span', { class: 'live-cover-label', text: t('live.verdict.snapshots') }), snap),
        grid, shotNote),
    ],
    actions: [
      { label: t('action.cancel') },
      { label: t(correcting ? 'live.verdict.correct_go' : 'live.verdict.issue_go'), primary: true, id: 'verdict-form-ok', onClick: (h) => submit(h) },
    ],
    onClose: () => {
      closed = true;
      for (const s of shots) if (s.own) URL.revokeObjectURL(s.url);
      resolveDone(result);
    },
  });

  // What was said about a field goes once the user changes something.
  dialog.card.addEventListener('input', () => dialog.setError(''));
  dialog.card.addEventListener('change', () => dialog.setError(''));

  // The first field at fault, with the text that says what to do.
  function problem() {
    const need = (f, key) => (f.input.value.trim() ? null : { input: f.input, text: t(key) });
    const long = (f, max) => (chars(f.input.value.trim()) > max ? { input: f.input, text: t('live.verdict.too_long', { max }) } : null);
    if (correction) {
      const p = need(correction, 'live.verdict.correction_required') || long(correction, CORRECTION_MAX_CHARS);
      if (p) return p;
    }
    for (const [f, key] of [[item, 'live.verdict.item_required'], [material, 'live.verdict.material_required']]) {
      const p = need(f, key) || long(f, FIELD_MAX_CHARS);
      if (p) return p;
    }
    if (!conclusion.querySelector('input:checked')) return { input: conclusion.querySelector('input'), text: t('live.verdict.conclusion_required') };
    const p = long(grade, FIELD_MAX_CHARS) || long(notes, NOTES_MAX_CHARS);
    if (p) return p;
    const l = low.value.trim();
    const h = high.value.trim();
    if (!l && !h) return null;
    const whole = (s) => /^\d{1,11}$/.test(s) && Number(s) <= PRICE_MAX;
    if (!l || !h) return { input: l ? high : low, text: t('live.verdict.price_both') };
    if (!whole(l)) return { input: low, text: t('live.verdict.price_number') };
    if (!whole(h)) return { input: high, text: t('live.verdict.price_number') };
    if (Number(l) > Number(h)) return { input: high, text: t('live.verdict.price_order') };
    return null;
  }

  function fields() {
    const l = low.value.trim();
    const h = high.value.trim();
    return {
      item_type: item.input.value.trim(),
      material: material.input.value.trim(),
      conclusion: conclusion.querySelector('input:checked').value,
      grade: grade.input.value.trim() || null,
      notes: notes.input.value.trim() || null,
      price_low: l && h ? Number(l) : null,
      price_high: l && h ? Number(h) : null,
      snapshots: shots.filter((s) => s.status === 'approved' && s.id).map((s) => s.id),
    };
  }

  // What a refusal means here, in words the appraiser can act on.
  function refusalText(err) {
    if (err && err.code === 'conflict') return t(correcting ? 'live.verdict.error_correct_conflict' : 'live.verdict.error_issue_conflict');
    if (err && err.code === 'consent_required' && !(err.missingPermissions || []).length) return t('live.verdict.error_buyer_camera');
    return errorText(err);
  }

  async function submit(h) {
    for (const n of h.card.querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
    const p = problem();
    if (p) {
      p.input.setAttribute('aria-invalid', 'true');
      p.input.focus();
      return h.setError(p.text);
    }
    h.setBusy(true);
    h.setError('');
    try {
      // Snapshots still uploading go with it (a 截图 tapped meanwhile extends the chain).
      while (shots.some((s) => s.status === 'uploading')) await uploads;
      const f = fields();
      const v = correcting
        ? await correctVerdict(from.number, correction.input.value.trim(), f)
        : await issueVerdict(callId, f);
      result = v;
      h.close();
      showToast(t(correcting ? 'live.verdict.corrected_toast' : 'live.verdict.issued_toast', { number: v.number, version: v.version }));
      if (onDone) onDone(v);
    } catch (err) {
      h.setBusy(false);
      h.setError(refusalText(err));
    }
  }
  return done;
}
