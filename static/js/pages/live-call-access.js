/**
 * Access to the camera and microphone for an appraisal call (连线鉴定), in the two steps the law
 * and the browser each ask for: the consent recorded in the ledger (`consent.check` with
 * feature `live_connect`; what is missing is explained in the page, with its purpose, and
 * granted with `consent.grant`), then the device itself (`getUserMedia`). Used before joining
 * the queue, before the host calls and before the buyer answers.
 *
 *   if (!(await ensureCallConsent())) return;          // false: the user said no
 *   const stream = await openCamera();                  // rejects with a CameraError
 *
 * @module pages/live-call-access
 */
import { getClient } from '/static/js/client.js';
import { t, errorText } from '/static/js/i18n.js';
import { askConsent } from '/static/js/ui/ask-consent.js';
import { mergeConsentRecord } from '/static/js/pages/me-common.js';

/** What `live_connect` needs (docs/protocol.md, "Permissions"). */
export const CALL_PERMISSIONS = Object.freeze(['camera', 'microphone']);

/**
 * Makes sure the ledger holds the camera and microphone grants: resolves true when they are
 * (asked in the page first when missing), false when the user cancels. Rejects with the
 * ClientError when the server cannot be asked.
 */
export async function ensureCallConsent({ id = 'live-call-consent-dialog' } = {}) {
  const check = await getClient().request('consent.check', { feature: 'live_connect' });
  if (check && check.allowed !== false) return true;
  const missing = ((check && check.missing) || CALL_PERMISSIONS).filter((p) => CALL_PERMISSIONS.includes(p));
  return askCallConsent(missing.length ? missing : CALL_PERMISSIONS, id);
}

function askCallConsent(missing, id) {
  const names = missing.map((p) => t('permission.' + p)).join(t('list.separator'));
  return askConsent({
    id,
    permissions: missing,
    title: t('live.call.consent_title'),
    text: t('live.call.consent_text', { permissions: names }),
    textId: 'live-call-consent-text',
    purpose: t('live.call.consent_purpose'),
    onGranted: mergeConsentRecord,
  });
}

/** Why the device could not be opened: `kind` is `denied`, `missing`, `busy` or `failed`. */
export class CameraError extends Error {
  constructor(kind, cause = null) {
    super('camera: ' + kind);
    this.kind = kind;
    this.cause = cause;
  }
}

/** The user-facing text of a CameraError (or of a ClientError that came instead). */
export function cameraErrorText(err) {
  if (err instanceof CameraError) return t('live.call.camera_' + err.kind);
  return errorText(err);
}

/** The camera and microphone as one MediaStream (the browser may ask the user once). */
export async function openCamera() {
  const media = typeof navigator !== 'undefined' ? navigator.mediaDevices : null;
  if (!media || typeof media.getUserMedia !== 'function') throw new CameraError('failed');
  try {
    return await media.getUserMedia({ video: true, audio: true });
  } catch (err) {
    const name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') throw new CameraError('denied', err);
    if (name === 'NotFoundError' || name === 'OverconstrainedError') throw new CameraError('missing', err);
    if (name === 'NotReadableError' || name === 'AbortError') throw new CameraError('busy', err);
    throw new CameraError('failed', err);
  }
}

/** Stops every track of `stream` (the camera light goes off). */
export function stopStream(stream) {
  if (!stream) return;
  for (const track of stream.getTracks()) {
    try { track.stop(); } catch (_) { /* already stopped */ }
  }
}
