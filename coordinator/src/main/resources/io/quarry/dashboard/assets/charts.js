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
        { stroke: '#6b7385', grid: { stroke: '#eef0f4' }, size: axisWidth,
          values: (u, values) => (view.logY ? values.map(v => num(v, 3)) : axisLabels(values)) }],
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

/**
 * Labels for a linear axis's ticks with as many decimals as their spacing needs, and no more (0.009995 next to 0.00999
 * stays apart; 0.5M, 1.0M, 1.5M stay short): values of a million or more in k/M/G, below a thousandth as n.ne-k.
 */
export function axisLabels(values) {
  const finite = values.filter(v => v !== null && v !== undefined && Number.isFinite(v));
  if (finite.length === 0) return values.map(() => '');
  const top = Math.max(...finite.map(Math.abs));
  let step = 0;
  for (let i = 1; i < finite.length; i++) step = Math.max(step, Math.abs(finite[i] - finite[i - 1]));
  let scale = 1, suffix = '';
  if (top >= 1e9) [scale, suffix] = [1e9, 'G'];
  else if (top >= 1e6) [scale, suffix] = [1e6, 'M'];
  else if (top >= 1e5) [scale, suffix] = [1e3, 'k'];
  else if (top > 0 && top < 1e-3) {
    const exponent = Math.floor(Math.log10(top));
    [scale, suffix] = [Math.pow(10, exponent), 'e' + exponent];
  }
  const decimals = decimalsOf((step || top || 1) / scale);
  return values.map(v => (v === null || v === undefined || !Number.isFinite(v) ? ''
    : v === 0 ? '0' : (v / scale).toFixed(decimals) + suffix));
}

/** Room for the y axis's longest label (uPlot passes the labels), so that 0.009995 or 1.5e-4 is not cut. */
function axisWidth(u, labels) {
  const longest = (labels || []).reduce((most, label) => Math.max(most, String(label).length), 0);
  // The ticks (10 px) and their gap (5 px) come first; a digit of the axis font is about 7 px, and a little room is kept.
  return Math.max(50, 24 + 8 * longest);
}

/** The decimals that write {@code x} (a tick spacing: 1, 2, 2.5 or 5 times a power of ten) exactly, at most 10. */
function decimalsOf(x) {
  for (let d = 0; d < 10; d++) {
    const scaled = x * Math.pow(10, d);
    if (Math.abs(scaled - Math.round(scaled)) < 1e-6 * Math.max(1, Math.abs(scaled))) return d;
  }
  return 10;
}

/** [xs, ys] sorted by x (uPlot wants ascending x); equal x keep their order. */
function sortedTable(xs, ys) {
  let sorted = true;
  for (let i = 1; i < xs.length; i++) if (xs[i] < xs[i - 1]) { sorted = false; break; }
  if (sorted) return [xs, ys];
  const order = xs.map((x, i) => i).sort((a, b) => xs[a] - xs[b] || a - b);
  return [order.map(i => xs[i]), order.map(i => ys[i])];
}
