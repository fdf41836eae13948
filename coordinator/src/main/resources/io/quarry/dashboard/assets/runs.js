// Runs: every run in a table (status, progress, ETA, last loss, validation accuracy, the keys a sweep varied,
// submitted, duration), filtered by status and text, sorted by any column, several selected for Compare. Live:
// the table follows the runs stream and keeps the filter, the sort and the selection.
import { h, api, clear, fill, badge, alertBadge, progressBar, num, pct, duration, when, stored, store, follow } from './util.js';

const COLUMNS = [
  ['run_id', 'Run'], ['state', 'Status'], ['progress', 'Progress'], ['eta_s', 'ETA'], ['last_loss', 'Last loss'],
  ['val_accuracy', 'Val acc'], ['swept', 'Swept keys'], ['trainer', 'Trainer'], ['submitted_unix_ms', 'Submitted'],
  ['duration_s', 'Duration'],
];

export default async function runsPage(root) {
  const selected = new Set();
  let runs = [];
  let sort = stored('runs.sort', { key: 'submitted_unix_ms', desc: true });
  const status = h('select', { id: 'status-filter', onchange: draw },
    ['all', 'running', 'pending', 'stopping', 'completed', 'failed', 'stopped'].map(s => h('option', { value: s }, s)));
  status.value = stored('runs.status', 'all');
  const text = h('input', { type: 'text', id: 'text-filter', placeholder: 'filter by id, name, trainer…', oninput: draw });
  const compare = h('button', { id: 'compare-selected', disabled: true, onclick: () => {
    location.href = '/compare?runs=' + encodeURIComponent([...selected].join(','));
  } }, 'Compare selected');
  const count = h('span', { class: 'muted' });
  const head = h('tr', {}, h('th', {}), COLUMNS.map(([key, label]) =>
    h('th', { class: 'sortable', dataset: { key }, onclick: () => {
      sort = { key, desc: sort.key === key ? !sort.desc : key !== 'run_id' };
      store('runs.sort', sort);
      draw();
    } }, label)));
  const body = h('tbody', { id: 'runs-body' });
  root.append(
    h('h1', {}, 'Runs'),
    h('div', { class: 'toolbar' }, h('label', {}, 'Status ', status), text, compare, count),
    h('table', { id: 'runs-table' }, h('thead', {}, head), body));

  function draw() {
    store('runs.status', status.value);
    const words = text.value.trim().toLowerCase();
    const shown = runs.filter(run => (status.value === 'all' || run.state === status.value)
      && (!words || [run.run_id, run.name, run.trainer, run.sweep].some(v => v && String(v).toLowerCase().includes(words))));
    shown.sort((a, b) => compareBy(a, b, sort.key) * (sort.desc ? -1 : 1));
    head.querySelectorAll('th[data-key]').forEach(th => {
      th.classList.toggle('sorted-asc', th.dataset.key === sort.key && !sort.desc);
      th.classList.toggle('sorted-desc', th.dataset.key === sort.key && sort.desc);
    });
    clear(body);
    for (const run of shown) body.append(row(run));
    if (runs.length === 0) {
      body.append(h('tr', {}, h('td', { colspan: COLUMNS.length + 1, class: 'muted' }, 'No runs yet.')));
    }
    count.textContent = shown.length + ' of ' + runs.length + ' run(s)';
    compare.disabled = selected.size < 1;
  }

  function row(run) {
    const box = h('input', { type: 'checkbox', dataset: { run: run.run_id }, onchange: e => {
      if (e.target.checked) selected.add(run.run_id); else selected.delete(run.run_id);
      compare.disabled = selected.size < 1;
    } });
    box.checked = selected.has(run.run_id);
    const swept = run.swept ? Object.entries(run.swept).map(([k, v]) => h('span', { class: 'chip' }, k + '=' + v)) : '';
    return h('tr', { dataset: { run: run.run_id } },
      h('td', {}, box),
      h('td', {}, h('a', { href: '/runs/' + encodeURIComponent(run.run_id), class: 'run-link' }, run.run_id),
        run.name ? h('div', { class: 'muted' }, run.name) : null),
      h('td', {}, badge(run.state), alertBadge(run.alerts)),
      h('td', {}, progressBar(run.progress), ' ', h('span', { class: 'muted' }, pct(run.progress))),
      h('td', { class: 'num' }, run.state === 'running' ? duration(run.eta_s) : '—'),
      h('td', { class: 'num' }, num(run.last_loss)),
      h('td', { class: 'num' }, pct(run.val_accuracy)),
      h('td', {}, swept),
      h('td', {}, run.trainer || '—'),
      h('td', {}, when(run.submitted)),
      h('td', { class: 'num' }, duration(run.duration_s)));
  }

  const first = await api('/api/dash/runs');
  runs = first.runs;
  draw();
  return follow('/api/live/runs', { runs: update => { runs = update.runs; draw(); } });
}

function compareBy(a, b, key) {
  const x = key === 'swept' ? JSON.stringify(a.swept || {}) : a[key];
  const y = key === 'swept' ? JSON.stringify(b.swept || {}) : b[key];
  if (x === y) return 0;
  if (x === null || x === undefined) return -1;
  if (y === null || y === undefined) return 1;
  return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
}
