/**
 * The composer's emoji picker: a grid of common emoji under a button; a pick is inserted at
 * the caret of the text box. Touch-sized (44 px cells); closes on a pick, a tap outside and
 * Escape.
 *
 *   attachEmojiPicker(button, textarea);
 *
 * @module ui/emoji
 */
import { t } from '../i18n.js';
import { el } from './dom.js';

export const EMOJI = [
  '😀', '😄', '😁', '😂', '🤣', '😊', '😍', '🥰', '😘', '😎', '🤔', '😅',
  '😉', '🙂', '🙃', '😐', '😮', '😢', '😭', '😡', '🥺', '😴', '🤗', '🤝',
  '👍', '👎', '👌', '👏', '🙏', '💪', '✌️', '👋', '❤️', '💔', '🔥', '✨',
  '🎉', '🎁', '💰', '💎', '💍', '📿', '🌹', '🍵', '☕', '✅', '❌', '❓',
];

/** Inserts `text` at the caret of `box` (replacing a selection) and tells its listeners. */
export function insertAtCaret(box, text) {
  const start = box.selectionStart ?? box.value.length;
  const end = box.selectionEnd ?? box.value.length;
  box.setRangeText(text, start, end, 'end');
  box.dispatchEvent(new Event('input', { bubbles: true }));
}

export function attachEmojiPicker(button, box, { container = button.parentElement } = {}) {
  let panel = null;
  let caret = null;
  const close = (refocus = false) => {
    if (!panel) return;
    panel.remove();
    panel = null;
    button.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', outside, true);
    document.removeEventListener('keydown', onKey, true);
    if (refocus) button.focus();
  };
  const outside = (e) => {
    if (panel && !panel.contains(e.target) && e.target !== button && !button.contains(e.target)) close();
  };
  const onKey = (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      e.stopPropagation();
      close(true);
    }
  };
  const pick = (emoji) => {
    if (caret) box.setSelectionRange(caret[0], caret[1]);
    insertAtCaret(box, emoji);
    close();
    box.focus();
  };
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-haspopup', 'true');
  button.addEventListener('click', () => {
    if (panel) return close();
    caret = [box.selectionStart ?? box.value.length, box.selectionEnd ?? box.value.length];
    panel = el('div', { id: 'emoji-picker', class: 'emoji-picker', role: 'group', 'aria-label': t('chat.emoji') },
      ...EMOJI.map((e) => el('button', { type: 'button', class: 'emoji', 'aria-label': e, text: e, onclick: () => pick(e) })));
    container.append(panel);
    button.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', outside, true);
    document.addEventListener('keydown', onKey, true);
    panel.querySelector('button').focus({ preventScroll: true });
  });
  return { close };
}
