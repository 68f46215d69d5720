/**
 * A few line icons as inline SVG (no icon font, no emoji: they look the same on every phone).
 *
 *   button.append(icon('search'));
 *
 * @module ui/icons
 */
const NS = 'http://www.w3.org/2000/svg';
const PATHS = {
  messages: 'M4 5h16v11H9l-5 4z',
  live: 'M3 6h18v12H3z M10 9.5v5l4.5-2.5z',
  community: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z M15.5 8.5l-2 5l-5 2l2-5z',
  me: 'M12 4a4 4 0 1 0 0 8a4 4 0 1 0 0-8z M4 20c1-4 4.5-6 8-6s7 2 8 6',
  search: 'M10.5 4a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z M15.5 15.5L20 20',
  photo: 'M4 6h16v12H4z M4 15l4.5-4.5l4 4l2.5-2.5l5 5 M15.5 9.5h.01',
  smile: 'M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z M8.5 14c1 1.5 2.2 2 3.5 2s2.5-.5 3.5-2 M9 9.5h.01 M15 9.5h.01',
  back: 'M15 5l-7 7l7 7',
  more: 'M5 12h.01 M12 12h.01 M19 12h.01',
  tag: 'M4 4h7l9 9l-7 7l-9-9z M8 8h.01',
  comment: 'M4 5h16v11H10l-4 3.5V16H4z',
  share: 'M12 15V4 M8 8l4-4l4 4 M5 12v7h14v-7',
};

export function icon(name, { size = 24 } = {}) {
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', String(size));
  svg.setAttribute('height', String(size));
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon icon-' + name);
  const path = document.createElementNS(NS, 'path');
  path.setAttribute('d', PATHS[name] || '');
  svg.append(path);
  return svg;
}
