/**
 * Texts that follow the language switch. `say(node, key, params)` puts `t(key, params)` into a
 * node and remembers how, so `relabel()` (after setLocale) writes it again in the new language;
 * a param that is a function is called each time (a time formatted in China time, a label that
 * is itself a key), and `err` adds `{error}`: errorText(err). Static markup uses data-i18n
 * (applyI18n); relabel() does both.
 *
 * @module console/text
 */
import { t, errorText, applyI18n } from '/static/js/i18n.js';
import { el } from '/static/js/ui/dom.js';

const specs = new WeakMap(); // node → Map(attr|'' → {key, params, err})

function resolve(params, err) {
  const out = {};
  for (const [k, v] of Object.entries(params || {})) out[k] = typeof v === 'function' ? v() : v;
  if (err) out.error = errorText(err);
  return out;
}

/** The text of a spec now. */
export function textOf(key, params = null, err = null) {
  return t(key, resolve(params, err));
}

function write(node, attr, spec) {
  const text = textOf(spec.key, spec.params, spec.err);
  if (attr) node.setAttribute(attr, text);
  else node.textContent = text;
}

/**
 * Writes `t(key, params)` into `node` (its text, or the attribute `opts.attr`) and keeps it in
 * the language in force. `key` null clears it. `opts.err`: an error shown as `{error}`.
 */
export function say(node, key, params = null, opts = {}) {
  if (!node) return node;
  const attr = opts.attr || '';
  let map = specs.get(node);
  if (!key) {
    if (map) map.delete(attr);
    if (attr) node.removeAttribute(attr);
    else node.textContent = '';
    if (!map || !map.size) node.removeAttribute('data-dyn');
    return node;
  }
  if (!map) {
    map = new Map();
    specs.set(node, map);
  }
  const spec = { key, params, err: opts.err || null };
  map.set(attr, spec);
  node.setAttribute('data-dyn', '');
  write(node, attr, spec);
  return node;
}

/** An element whose text is `t(key, params)`, kept in the language in force. */
export function tx(tag, props, key, params = null) {
  return say(el(tag, props), key, params);
}

/** Writes every remembered text and data-i18n attribute under `root` again. */
export function relabel(root = document) {
  applyI18n(root);
  for (const node of root.querySelectorAll('[data-dyn]')) {
    const map = specs.get(node);
    if (!map) continue;
    for (const [attr, spec] of map) write(node, attr, spec);
  }
}

/** A message line (`p`) shown with a spec, or hidden with null. */
export function setLine(node, key, params = null, { err = null, cls = null } = {}) {
  if (!node) return;
  node.hidden = !key;
  say(node, key, params, { err });
  if (cls != null) {
    node.classList.remove(...TONES);
    if (key && cls) node.classList.add(cls);
  }
}

const TONES = ['error', 'ok', 'info', 'muted', 'unavailable'];
