/**
 * In-page dialogs (never window.alert/confirm/prompt, which a mini-program does not have and a
 * phone shows badly): a modal card with a title, a body, an error line and buttons. The focus
 * moves into it and stays there (Tab and Shift+Tab go round its controls, a radio group is one
 * stop), Escape and the overlay close it, and the focus goes back where it was. Dialogs stack:
 * a confirmation over a form closes first.
 *
 *   const ok = await confirmDialog({ title: t('chat.block_title'), text: t('chat.block_text'),
 *                                    confirm: t('action.block'), danger: true });
 *
 *   const d = openDialog({ id: 'report-dialog', title: t('report.title'), body: form,
 *     actions: [{ label: t('action.cancel'), onClick: (d) => d.close() },
 *               { label: t('action.submit'), primary: true, onClick: submit }] });
 *   d.setError(errorText(err)); d.setBusy(true); d.close();
 *
 * Markup: `.overlay.form-overlay > .form-card[role=dialog][aria-modal=true]` with
 * `.form-head h2`, `.form-body`, `.form-error` and `.form-actions`; the styles are the page's
 * (app.css, console.css).
 *
 * @module ui/dialog
 */
import { el } from './dom.js';
import { t } from '../i18n.js';

const stack = [];
let counter = 0;

function focusables(card) {
  return [...card.querySelectorAll('button, input, textarea, select, a[href], [tabindex="0"]')]
    .filter((n) => !n.disabled && n.getClientRects().length && !(n.type === 'radio' && !radioStop(n, card)));
}

// The radio a Tab lands on: the checked one of its group, else the first.
function radioStop(n, card) {
  const group = [...card.querySelectorAll(`input[type=radio][name="${CSS.escape(n.name)}"]`)];
  const checked = group.find((x) => x.checked);
  return n === (checked || group[0]);
}

function trapTab(card, e) {
  const stops = focusables(card);
  if (!stops.length) {
    e.preventDefault();
    card.focus();
    return;
  }
  const first = stops[0];
  const last = stops[stops.length - 1];
  const active = document.activeElement;
  const at = (n) => active === n || (n.type === 'radio' && active && active.type === 'radio' && active.name === n.name);
  if (e.shiftKey && (at(first) || !card.contains(active) || active === card)) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (at(last) || !card.contains(active))) {
    e.preventDefault();
    first.focus();
  }
}

function onKeydown(e) {
  const top = stack[stack.length - 1];
  if (!top) return;
  if (e.key === 'Escape' && top.dismissible) {
    e.preventDefault();
    e.stopPropagation();
    top.close();
  } else if (e.key === 'Tab') {
    trapTab(top.card, e);
  }
}

/**
 * Opens a dialog. `body`: a node (or array of nodes). `actions`: buttons, each
 * `{label, primary, danger, disabled, id, onClick(dialog)}`; a button without `onClick` closes.
 * `dismissible` (default true): Escape and a tap outside close it. `onClose` runs once, however
 * it closes. Returns the handle: `{root, card, body, actions, close(), setError(text),
 * setBusy(on), closed}` (`closed` a promise that settles when it closes).
 */
export function openDialog({ id = null, title = '', body = null, actions = [], dismissible = true,
  onClose = null, className = '' } = {}) {
  counter += 1;
  const titleId = `dialog-title-${counter}`;
  const error = el('p', { class: 'form-error', role: 'alert', hidden: true });
  const buttons = actions.map((a) => el('button', {
    type: 'button',
    id: a.id || null,
    class: a.primary ? 'primary' : a.danger ? 'danger' : 'secondary',
    disabled: a.disabled || false,
    text: a.label,
  }));
  const bodyBox = el('div', { class: 'form-body' }, body);
  const card = el('div', {
    class: `form-card ${className}`.trim(),
    role: 'dialog',
    'aria-modal': 'true',
    'aria-labelledby': titleId,
    tabindex: '-1',
  },
  el('header', { class: 'form-head' }, el('h2', { id: titleId, text: title })),
  bodyBox,
  error,
  buttons.length ? el('footer', { class: 'form-actions' }, buttons) : null);
  const root = el('div', { id, class: 'overlay form-overlay' }, card);

  let resolveClosed;
  const handle = {
    root,
    card,
    body: bodyBox,
    actions: buttons,
    dismissible,
    closed: new Promise((r) => { resolveClosed = r; }),
    isOpen: true,
    close() {
      if (!handle.isOpen) return;
      handle.isOpen = false;
      const at = stack.indexOf(handle);
      if (at >= 0) stack.splice(at, 1);
      root.remove();
      if (!stack.length) {
        document.body.classList.remove('dialog-open');
        document.removeEventListener('keydown', onKeydown, true);
      }
      if (onClose) onClose(handle);
      if (returnFocus && document.contains(returnFocus) && returnFocus.getClientRects().length) returnFocus.focus();
      resolveClosed();
    },
    setError(text) {
      error.textContent = text || '';
      error.hidden = !text;
    },
    setBusy(on) {
      for (const b of buttons) {
        if (on) {
          b.dataset.wasDisabled = b.disabled ? '1' : '';
          b.disabled = true;
        } else {
          b.disabled = b.dataset.wasDisabled === '1';
        }
      }
      card.setAttribute('aria-busy', on ? 'true' : 'false');
    },
  };
  actions.forEach((a, i) => {
    buttons[i].addEventListener('click', () => (a.onClick ? a.onClick(handle) : handle.close()));
  });
  root.addEventListener('click', (e) => {
    if (e.target === root && handle.dismissible) handle.close();
  });

  const returnFocus = document.activeElement;
  if (!stack.length) document.addEventListener('keydown', onKeydown, true);
  stack.push(handle);
  document.body.append(root);
  document.body.classList.add('dialog-open');
  // The card itself takes the focus: on a phone a text box would pop the keyboard up at once.
  card.focus();
  return handle;
}

/**
 * Asks for a yes or no (屏蔽, 退出登录, 删除). Resolves true only on the confirm button.
 * `typed`: a phrase the user must type before the confirm button works (account deletion).
 */
export function confirmDialog({ title, text = '', confirm = t('action.confirm'), cancel = t('action.cancel'),
  danger = false, typed = null, id = 'confirm-dialog' } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    const input = typed
      ? el('input', { class: 'confirm-typed', autocomplete: 'off', 'aria-label': t('common.type_to_confirm', { phrase: typed }) })
      : null;
    const d = openDialog({
      id,
      title,
      body: [
        text ? el('p', { class: 'confirm-text', text }) : null,
        typed ? el('label', { class: 'stack' }, el('span', { class: 'small muted', text: t('common.type_to_confirm', { phrase: typed }) }), input) : null,
      ],
      actions: [
        { label: cancel },
        {
          label: confirm,
          primary: !danger,
          danger,
          disabled: !!typed,
          id: 'confirm-ok',
          onClick: (h) => {
            answer = true;
            h.close();
          },
        },
      ],
      onClose: () => resolve(answer),
    });
    if (input) {
      const ok = d.actions[1];
      input.addEventListener('input', () => { ok.disabled = input.value.trim() !== typed; });
    }
  });
}

/** The dialogs open now, the topmost last (for a page that must close them on log-out). */
export function closeAllDialogs() {
  while (stack.length) stack[stack.length - 1].close();
}
