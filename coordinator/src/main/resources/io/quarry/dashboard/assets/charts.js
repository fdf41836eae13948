// Line charts over uPlot (served from the jar): several series with x arrays of their own, joined; EMA smoothing as
// TensorBoard does it (debiased); a log y scale; x by step or by wall time. A chart keeps its series' labels and
// rebuilds only when they or its options change, else it only takes new data, so a live page stays where it was.
import { h, clear, num, PALETTE } from './util.js';

/** TensorBoard's smoothing: an exponential moving average, debiased at the start; gaps stay gaps. */
export function smooth(values, weight) {
  if (!weight) return values;
  let last = 0, count = 0;
  return values.map(value => {
    if (value === null || value === undefined || !Number.isFinite(value)) return value;
    last = last * weight + (1 - weight) * value;
    count++;
    return last / (1 - Math.pow(weight, count));
  });
}

export class LineChart {
  constructor(container, title, options = {}) {
    this.box = h('div', { class: 'chart', dataset: { chart: options.id || title, points: '0' } }, h('h3', {}, title));
    this.body = h('div', {});
    this.box.append(this.body);
    container.append(this.box);
    this.options = options;
    this.plot = null;
    this.shape = '';
  }

  /**
   * Draws {@code series} ([{label, x: [], y: [], color?}]) with {@code view}: {logY, time, smoothing}. Points are
   * counted in the chart's data-points attribute (tests and benchmarks read it).
   */
  update(series, view) {
    const usable = series.filter(s => s.x.length > 0);
    const points = usable.reduce((sum, s) => sum + s.y.filter(v => v !== null && Number.isFinite(v)).length, 0);
    this.box.dataset.points = String(points);
    if (usable.length === 0) {
      this.destroyPlot();
      clear(this.body).append(h('div', { class: 'empty' }, this.options.empty || 'No data yet'));
      this.shape = '';
      return;
    }
    const tables = usable.map(s => {
      let ys = smooth(s.y, view.smoothing);
      if (view.logY) ys = ys.map(v => (v !== null && v > 0 ? v : null));
      const xs = view.time && s.t ? s.t.map(t => t / 1000) : s.x;
      return sortedTable(xs, ys);
    });
    const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
    const shape = JSON.stringify([usable.map(s => s.label), !!view.logY, !!view.time]);
    if (this.plot && shape === this.shape) {
      this.plot.setData(data);
      return;
    }
    this.destroyPlot();
    clear(this.body);
    this.shape = shape;
    const width = Math.max(300, this.box.clientWidth - 16);
    const opts = {
      width, height: 210,
      scales: { x: { time: !!view.time }, y: view.logY ? { distr: 3 } : {} },
      axes: [{ stroke: '#6b7385', grid: { stroke: '#eef0f4' } },
        { stroke: '#6b7385', grid: { stroke: '#eef0f4' }, size: 60, values: (u, values) => values.map(v => num(v, 3)) }],
      legend: { live: true },
      cursor: { drag: { x: true, y: false } },
      series: [{ label: view.time ? 'time' : 'step' }].concat(usable.map((s, i) => ({
        label: s.label, stroke: s.color || PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
        value: (u, v) => (v === null || v === undefined ? '—' : num(v, 4)),
        points: { show: false },
      }))),
    };
    this.plot = new uPlot(opts, data, this.body);
  }

  resize() {
    if (this.plot) this.plot.setSize({ width: Math.max(300, this.box.clientWidth - 16), height: 210 });
  }

  destroyPlot() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
  }

  destroy() {
    this.destroyPlot();
    this.box.remove();
  }
}

/** [xs, ys] sorted by x (uPlot wants ascending x); equal x keep their order. */
function sortedTable(xs, ys) {
  let sorted = true;
  for (let i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1]) { sorted = false; break; }
  if (sorted) return [xs, ys];
  const order = xs.map((x, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
  return [order.map(i => xs[i]), order.map(i => ys[i])];
}
