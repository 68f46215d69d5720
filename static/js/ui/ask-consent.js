/**
 * Asks for permissions in an in-page dialog before the feature that needs them runs (the
 * album before a picture is picked, the clipboard before a share code is read from it, the
 * camera and microphone before an appraisal call): what it is for, then 允许 records each grant
 * in the consent ledger (`consent.grant`) and tells `onGranted(record)` (the 权限与隐私
 * view's state). Resolves true once every permission is granted, false when the user cancels.
 *
 *   if (!(await askConsent({ id: 'me-album-dialog', permissions: ['photo_album'],
 *         title: t('me.album_title'), text: t('me.album_text'), purpose: t('me.album_purpose'),
 *         onGranted: mergeConsentRecord }))) return;
 *
 * @module ui/ask-consent
 */
import { getClient, deviceLabel } from '../client.js';
import { t, errorText } from '../i18n.js';
import { el } from './dom.js';
import { openDialog } from './dialog.js';

export function askConsent({ id, permissions, title, text, purpose, textId = null, onGranted = null }) {
  return new Promise((resolve) => {
    let granted = false;
    openDialog({
      id,
      title,
      body: [el('p', { id: textId, text }), el('p', { class: 'small muted', text: purpose })],
      actions: [
        { label: t('action.cancel'), id: id.replace(/-dialog$/, '-cancel') },
        {
          label: t('action.allow'),
          primary: true,
          id: id.replace(/-dialog$/, '-allow'),
          onClick: async (d) => {
            d.setBusy(true);
            d.setError('');
            try {
              for (const permission of permissions) {
                const res = await getClient().request('consent.grant', { permission, device: deviceLabel() });
                if (res && res.record && onGranted) onGranted(res.record);
              }
              granted = true;
              d.close();
            } catch (err) {
              d.setBusy(false);
              d.setError(errorText(err));
            }
          },
        },
      ],
      onClose: () => resolve(granted),
    });
  });
}

/** The photo album permission (相册), for an avatar, a room cover or a post's pictures. */
export function askAlbum(options) {
  return askConsent({ ...options, permissions: ['photo_album'] });
}
