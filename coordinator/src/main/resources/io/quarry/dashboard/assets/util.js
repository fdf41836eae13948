// Small helpers shared by the pages: building elements (never from HTML strings, so nothing a run writes can
// become markup), calling the API, formatting numbers and times.

let dashboardInfo = {};
export function setInfo(info) { dashboardInfo = info; }
export function info() { return dashboardInfo; }

/** h('td', {class: 'num'}, 'text', child): an element with attributes and children (strings become text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

/** Replaces el's children with {@code children} (null and false are skipped). */
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

/** Calls the API with the page's session; JSON in and out. A lost session goes back to the login form. */
export async function api(path, options = {}) {
  const init = { credentials: 'same-origin', ...options, headers: { ...(options.headers || {}) } };
  if (options.json !== undefined) {
    init.method = init.method || 'POST';
    init.body = JSON.stringify(options.json);
    init.headers['Content-Type'] = 'application/json';
    delete init.json;
  }
  const res = await fetch(path, init);
  if (res.status === 401) {
    location.href = '/login?next=' + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, 'not logged in');
  }
  const type = res.headers.get('content-type') || '';
  const body = type.includes('json') ? await res.json() : await res.text();
  if (!res.ok) throw new ApiError(res.status, body && body.error ? body.error : String(body));
  return body;
}

export function badge(state, extra) {
  return h('span', { class: 'badge ' + (state || '') + (extra ? ' ' + extra : '') }, state || '—');
}

export function alertBadge(count) {
  return count > 0 ? h('span', { class: 'badge alert', title: count + ' alert(s)' }, '⚠ ' + count) : null;
}

export function progressBar(fraction, big) {
  const pct = Math.max(0, Math.min(1, fraction || 0)) * 100;
  return h('span', { class: 'progress' + (big ? ' big' : ''), title: pct.toFixed(1) + '%' },
    h('span', { style: 'width:' + pct.toFixed(1) + '%' }));
}

export function num(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  if (typeof value !== 'number') return String(value);
  if (value !== 0 && (Math.abs(value) < 1e-3 || Math.abs(value) >= 1e6)) return value.toExponential(2);
  return Number(value.toPrecision(digits)).toString();
}

export function pct(value) {
  return value === null || value === undefined ? '—' : (value * 100).toFixed(1) + '%';
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  seconds = Math.round(seconds);
  if (seconds < 60) return seconds + 's';
  const m = Math.floor(seconds / 60), s = seconds % 60;
  if (m < 60) return m + 'm ' + String(s).padStart(2, '0') + 's';
  const hrs = Math.floor(m / 60);
  return hrs + 'h ' + String(m % 60).padStart(2, '0') + 'm';
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function time(unixMs) {
  return unixMs ? new Date(unixMs).toLocaleTimeString() : '—';
}

/** A setting kept across reloads (smoothing, log scale, sort order). */
export function stored(key, fallback) {
  try {
    const value = localStorage.getItem('quarry.' + key);
    return value === null ? fallback : JSON.parse(value);
  } catch (e) { return fallback; }
}

export function store(key, value) {
  try { localStorage.setItem('quarry.' + key, JSON.stringify(value)); } catch (e) { /* private mode */ }
}

/** A server-sent event stream that reconnects by itself (resuming with Last-Event-ID); close() ends it. */
export function follow(url, handlers) {
  const source = new EventSource(url);
  for (const [type, handler] of Object.entries(handlers)) {
    source.addEventListener(type, event => handler(JSON.parse(event.data), event));
  }
  return () => source.close();
}

export function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

export const PALETTE = ['#2f6fde', '#e0672c', '#1f8a4c', '#9b4dca', '#c53030', '#0f9aa8', '#b7791f', '#5b6478',
  '#d6336c', '#2b8a3e', '#364fc7', '#e8590c'];
