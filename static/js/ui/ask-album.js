/**
 * Asks for the photo album permission (相册) in an in-page dialog, before a picture is picked
 * for an avatar, a room cover or a post: the grant is recorded in the consent ledger
 * (`POST /api/me/consents`) and `onGranted(record)` is told (the 权限与隐私 view's state).
 * Resolves true once granted, false when the user cancels.
 *
 *   if (!(await askAlbum({ id: 'me-album-dialog', title: t('me.album_title'),
 *         text: t('me.album_text'), purpose: t('me.album_purpose'),
 *         onGranted: mergeConsentRecord }))) return;
 *
 * @module ui/ask-album
 */
import { getClient, deviceLabel } from '../client.js';
import { t, errorText } from '../i18n.js';
import { el } from './dom.js';
import { openDialog } from './dialog.js';

export function askAlbum({ id, title, text, purpose, onGranted = null }) {
  return new Promise((resolve) => {
    let granted = false;
    openDialog({
      id,
      title,
      body: [el('p', { text }), el('p', { class: 'small muted', text: purpose })],
      actions: [
        { label: t('action.cancel') },
        {
          label: t('action.allow'),
          primary: true,
          id: id.replace(/-dialog$/, '-allow'),
          onClick: async (d) => {
            d.setBusy(true);
            d.setError('');
            try {
              const res = await getClient().api('POST', '/api/me/consents', { permission: 'photo_album', granted: true, device: deviceLabel() });
              if (res && res.record && onGranted) onGranted(res.record);
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
