// Compare: the selected runs' curves overlaid (train loss, validation loss and accuracy; x by step or by time since
// each run's start), the keys their configs differ in, and for the runs of a sweep its table (swept keys and results)
// with a parallel-coordinates view.
import { h, api, fill, badge, num, pct, duration, stored, store, PALETTE } from './util.js';
import { LineChart } from './charts.js';

const CHARTS = [['cmp_loss', 'Loss (train)', 'train', 'loss'], ['cmp_val_loss', 'Validation loss', 'val', 'loss'],
  ['cmp_val_acc', 'Validation accuracy', 'val', 'acc']];

export default async function comparePage(root, dashboard) {
  const params = new URLSearchParams(location.search);
  let ids = (params.get('runs') || '').split(',').map(s => s.trim()).filter(Boolean);
  const view = { smoothing: stored('cmp.smoothing', 0), logY: stored('cmp.logY', false), time: false };
  const all = (await api('/api/dash/runs')).runs;
  const picker = h('select', { id: 'add-run' }, h('option', { value: '' }, 'add a run…'),
    all.map(r => h('option', { value: r.run_id }, r.run_id)));
  picker.onchange = () => { if (picker.value && !ids.includes(picker.value)) go(ids.concat(picker.value)); };
  const chips = h('span', { id: 'compared' });
  const smoothing = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, value: view.smoothing, style: 'width:140px',
    oninput: e => { view.smoothing = Number(e.target.value); store('cmp.smoothing', view.smoothing); draw(); } });
  const logY = h('input', { type: 'checkbox', onchange: e => { view.logY = e.target.checked; store('cmp.logY', view.logY); draw(); } });
  logY.checked = view.logY;
  const xAxis = h('select', { onchange: e => { view.time = e.target.value === 'time'; draw(); } },
    h('option', { value: 'step' }, 'step'), h('option', { value: 'time' }, 'time since start (s)'));
  const chartBox = h('div', { class: 'charts', id: 'compare-charts' });
  const charts = CHARTS.map(([id, label]) => new LineChart(chartBox, label, { id }));
  const differ = h('div', { id: 'differ' });
  const sweeps = h('div', { id: 'sweeps' });
  root.append(h('h1', {}, 'Compare'),
    h('div', { class: 'toolbar' }, chips, picker),
    h('div', { class: 'toolbar' }, h('label', {}, 'Smoothing ', smoothing), h('label', {}, logY, 'log y'), h('label', {}, 'x ', xAxis)),
    chartBox, h('h2', {}, 'Config keys that differ'), differ, sweeps);

  function go(next) {
    location.href = '/compare?runs=' + encodeURIComponent(next.join(','));
  }

  let scalars = {};
  let data = null;
  async function load() {
    if (ids.length === 0) {
      fill(chips, h('span', { class: 'muted' }, 'Select runs on the Runs page, or add them here.'));
      return;
    }
    data = await api('/api/dash/compare?runs=' + encodeURIComponent(ids.join(',')));
    const loaded = await Promise.all(data.runs.map(r =>
      api('/api/runs/' + encodeURIComponent(r.run_id) + '/scalars?by=run&points=' + (dashboard.chart_points || 2000))));
    scalars = {};
    data.runs.forEach((r, i) => { scalars[r.run_id] = loaded[i]; });
    fill(chips, data.runs.map((r, i) => h('span', { class: 'chip', style: 'border-left:4px solid ' + PALETTE[i % PALETTE.length] },
      h('a', { href: '/runs/' + encodeURIComponent(r.run_id) }, r.run_id), ' ', badge(r.state), ' ',
      h('button', { class: 'link', title: 'remove', onclick: () => go(ids.filter(id => id !== r.run_id)) }, '×'))),
      data.unknown.length ? h('span', { class: 'error' }, 'unknown: ' + data.unknown.join(', ')) : null);
    draw();
    drawDiffer();
    drawSweeps();
  }

  function draw() {
    if (!data) return;
    CHARTS.forEach(([, , split, metric], c) => {
      const series = [];
      data.runs.forEach((r, i) => {
        const s = (scalars[r.run_id] || { series: [] }).series.find(x => x.split === split);
        if (!s) return;
        const start = s.t.length ? s.t[0] : 0;
        series.push({ label: r.run_id, x: view.time ? s.t.map(t => (t - start) / 1000) : s.x, y: s[metric],
          color: PALETTE[i % PALETTE.length] });
      });
      charts[c].update(series, { smoothing: view.smoothing, logY: view.logY, time: false });
    });
  }

  function drawDiffer() {
    const keys = Object.keys(data.differ);
    if (data.runs.length < 2) { fill(differ, h('p', { class: 'muted' }, 'Select two runs or more.')); return; }
    if (!keys.length) { fill(differ, h('p', { class: 'muted' }, 'Their configs are the same.')); return; }
    fill(differ, h('table', { id: 'differ-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'key'), data.runs.map(r => h('th', {}, r.run_id)))),
      h('tbody', {}, keys.map(key => h('tr', {}, h('td', { class: 'mono' }, key),
        data.runs.map(r => h('td', { class: 'mono' }, data.differ[key][r.run_id] ?? '—')))))));
  }

  function drawSweeps() {
    fill(sweeps, data.sweeps.map(sweep => h('div', { class: 'panel sweep' },
      h('h2', {}, 'Sweep ' + sweep.sweep + ' (' + sweep.runs.length + ' runs)'),
      h('table', { class: 'sweep-table' },
        h('thead', {}, h('tr', {}, h('th', {}, 'run'), sweep.keys.map(k => h('th', { class: 'mono' }, k)),
          ['status', 'last loss', 'val acc', 'duration'].map(c => h('th', {}, c)))),
        h('tbody', {}, sweep.runs.map(r => h('tr', {},
          h('td', {}, h('a', { href: '/runs/' + encodeURIComponent(r.run_id) }, r.run_id)),
          sweep.keys.map(k => h('td', { class: 'mono' }, r.values[k] ?? '—')),
          h('td', {}, badge(r.state)), h('td', { class: 'num' }, num(r.last_loss)),
          h('td', { class: 'num' }, pct(r.val_accuracy)), h('td', { class: 'num' }, duration(r.duration_s)))))),
      parallelCoordinates(sweep))));
  }

  await load();
  const timer = setInterval(() => {
    if (data && data.runs.some(r => ['running', 'pending', 'stopping'].includes(r.state))) load();
  }, 5000);
  return () => clearInterval(timer);
}

/** The sweep as parallel coordinates: an axis per swept key, then last loss and val accuracy; a line per run. */
function parallelCoordinates(sweep) {
  const axes = sweep.keys.map(k => ({ name: k, value: r => r.values[k] }))
    .concat([{ name: 'last loss', value: r => r.last_loss }, { name: 'val acc', value: r => r.val_accuracy }]);
  const width = Math.max(420, axes.length * 150), height = 230, top = 26, bottom = 20, left = 50;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'parcoords');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  const step = (width - 2 * left) / Math.max(1, axes.length - 1);
  const scales = axes.map(axis => {
    const values = sweep.runs.map(axis.value).filter(v => v !== null && v !== undefined);
    const numeric = values.every(v => !Number.isNaN(Number(v)));
    if (numeric && values.length) {
      const nums = values.map(Number), min = Math.min(...nums), max = Math.max(...nums);
      return { at: v => (v === null || v === undefined ? null : max === min ? 0.5 : (Number(v) - min) / (max - min)),
        min: String(num(min)), max: String(num(max)) };
    }
    const cats = [...new Set(values.map(String))];
    return { at: v => (v === null || v === undefined ? null : cats.length < 2 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)),
      min: cats[0] || '', max: cats[cats.length - 1] || '' };
  });
  const y = f => top + (1 - f) * (height - top - bottom);
  axes.forEach((axis, i) => {
    const x = left + i * step;
    const line = document.createElementNS(ns, 'line');
    Object.entries({ x1: x, x2: x, y1: top, y2: height - bottom, stroke: '#9aa3b5' }).forEach(([k, v]) => line.setAttribute(k, v));
    svg.append(line);
    for (const [text, tx, ty, anchor] of [[axis.name, x, 12, 'middle'], [scales[i].max, x + 4, top + 8, 'start'],
      [scales[i].min, x + 4, height - bottom, 'start']]) {
      const label = document.createElementNS(ns, 'text');
      label.setAttribute('x', tx);
      label.setAttribute('y', ty);
      label.setAttribute('text-anchor', anchor);
      label.textContent = text;
      svg.append(label);
    }
  });
  const losses = sweep.runs.map(r => r.last_loss).filter(v => v !== null && v !== undefined);
  const lo = Math.min(...losses), hi = Math.max(...losses);
  sweep.runs.forEach(r => {
    const points = axes.map((axis, i) => {
      const f = scales[i].at(axis.value(r));
      return f === null ? null : (left + i * step) + ',' + y(f);
    }).filter(Boolean);
    if (points.length < 2) return;
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', 'M' + points.join(' L'));
    const f = hi > lo && r.last_loss !== null ? (r.last_loss - lo) / (hi - lo) : 0.5;
    path.setAttribute('stroke', 'hsl(' + Math.round(220 - 200 * f) + ',70%,45%)');
    const title = document.createElementNS(ns, 'title');
    title.textContent = r.run_id;
    path.append(title);
    svg.append(path);
  });
  return h('div', {}, h('p', { class: 'muted' }, 'Parallel coordinates (colour: last loss, blue lowest):'), svg);
}
