/**
 * A short confirmation at the bottom of the screen that goes by itself (已提交, 已复制): a
 * `role=status` live region, so a screen reader says it too. One at a time; a new one replaces
 * the old. The element is `#toast` (tests wait on it).
 *
 * @module ui/toast
 */
import { el } from './dom.js';

const SHOW_MS = 4000;
let timer = null;

function node() {
  let n = document.getElementById('toast');
  if (!n) {
    n = el('div', { id: 'toast', class: 'toast', role: 'status', 'aria-live': 'polite', hidden: true });
    document.body.append(n);
  }
  return n;
}

/** Shows `text` for a few seconds. */
export function showToast(text) {
  const n = node();
  n.textContent = text;
  n.hidden = false;
  clearTimeout(timer);
  timer = setTimeout(hideToast, SHOW_MS);
}

export function hideToast() {
  clearTimeout(timer);
  const n = document.getElementById('toast');
  if (n) n.hidden = true;
}
