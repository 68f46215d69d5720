/**
 * The element helper every page uses. Server and user data go in as text nodes or attribute
 * values, never as markup: there is no innerHTML anywhere in the pages.
 *
 *   el('button', { class: 'primary', type: 'button', onclick: send, 'data-i18n': 'action.send' }, t('action.send'))
 *
 * @module ui/dom
 */

/** document.getElementById. */
export const $ = (id) => document.getElementById(id);

/**
 * A new element. `props`: `class`, `text` (textContent), `on<event>` (a listener), `dataset`
 * (an object), anything else an attribute (`true` → present and empty; null/false → absent).
 * Children: nodes, strings (as text), null/false (skipped), arrays (flattened).
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child == null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child);
  }
}

/** Removes every child; with `children`, puts those in instead. */
export function clear(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * Makes `parent`'s children look like `next` while keeping every node that already looks
 * right. A list re-rendered on every event (a read receipt, presence, typing) then never
 * swaps the button under a finger: a tap whose press and release land on two different nodes
 * is lost. Children are matched in order while their `data-key` agrees; the rest is replaced.
 * Kept nodes keep their listeners: they render the same, so they act the same.
 */
export function patchChildren(parent, next) {
  const old = [...parent.childNodes];
  const key = (n) => (n.nodeType === 1 ? n.getAttribute('data-key') : null);
  let i = 0;
  for (; i < old.length && i < next.length; i++) {
    const k = key(next[i]);
    if (k == null || k !== key(old[i])) break;
    morph(old[i], next[i]);
  }
  for (const n of old.slice(i)) n.remove();
  parent.append(...next.slice(i));
}

function sameAttributes(a, b) {
  if (a.attributes.length !== b.attributes.length) return false;
  for (const { name, value } of a.attributes) if (b.getAttribute(name) !== value) return false;
  return true;
}

function morph(old, next) {
  if (old.isEqualNode(next)) return;
  if (old.nodeType !== 1 || next.nodeType !== 1 || old.nodeName !== next.nodeName ||
      !sameAttributes(old, next) || old.childNodes.length !== next.childNodes.length) {
    old.replaceWith(next);
    return;
  }
  const children = [...next.childNodes];
  children.forEach((n, i) => morph(old.childNodes[i], n));
}

/** Shows or hides (the `hidden` attribute). */
export function show(node, visible = true) {
  if (node) node.hidden = !visible;
  return node;
}

/**
 * Runs `fn` with `button` disabled until it settles (a double tap sends one request).
 * Returns what `fn` returned, or undefined when the button was already busy.
 */
export async function busy(button, fn) {
  if (button.disabled && button.dataset.busy === '1') return undefined;
  button.disabled = true;
  button.dataset.busy = '1';
  try {
    return await fn();
  } finally {
    button.disabled = false;
    delete button.dataset.busy;
  }
}

/** Offers `text` as a file download (receipts, the data export). */
export function downloadFile(name, text, type = 'application/json') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
