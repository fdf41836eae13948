// The dashboard's entry: finds the page the address names and draws it. Every page is a module with a default
// function (root, info) that draws into root and returns a function that stops what it started (streams, timers).
import { h, api, clear, fill, setInfo } from './util.js';

const pages = [
  [/^\/$/, 'runs', () => import('./runs.js')],
  [/^\/runs\/([^/]+)$/, 'runs', () => import('./run.js')],
  [/^\/runs\/([^/]+)\/hard-examples$/, 'runs', () => import('./hard.js')],
  [/^\/compare$/, 'compare', () => import('./compare.js')],
  [/^\/cluster$/, 'cluster', () => import('./cluster.js')],
  [/^\/new$/, 'new', () => import('./newrun.js')],
];

async function start() {
  const root = document.getElementById('page');
  let info;
  try {
    info = await api('/api/dash/info');
  } catch (e) {
    fill(root, h('p', { class: 'error' }, 'The dashboard cannot reach its server: ' + e.message));
    return;
  }
  setInfo(info);
  if (info.read_only) document.getElementById('mode').textContent = 'read-only: run directories, no coordinator';
  else if (info.role !== 'operate') document.getElementById('mode').textContent = 'read token: you can look, not start or stop';
  if (!info.auth) document.getElementById('logout').hidden = true;
  if (info.read_only || info.role !== 'operate') {
    const newLink = document.querySelector('a[data-nav=new]');
    if (newLink) newLink.hidden = true;
  }
  const path = location.pathname.replace(/\/+$/, '') || '/';
  for (const [pattern, nav, load] of pages) {
    const match = path.match(pattern);
    if (!match) continue;
    document.querySelectorAll('header nav a').forEach(a => a.classList.toggle('active', a.dataset.nav === nav));
    const module = await load();
    clear(root);
    const args = match.slice(1).map(decodeURIComponent);
    const stop = await module.default(root, info, ...args);
    window.addEventListener('pagehide', () => { if (typeof stop === 'function') stop(); });
    return;
  }
  fill(root, h('div', { class: 'notfound' }, h('h1', {}, 'No such page'), h('a', { href: '/' }, 'All runs')));
}

start();
