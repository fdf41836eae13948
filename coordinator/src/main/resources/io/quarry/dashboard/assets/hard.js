// The hard-example explorer: the loss-ranked samples of one merge — thumbnails (or leading features) with loss,
// label -> predicted, worker and step — a slider over the merges, counts per class and per worker, sort and filter,
// a sample's history (its loss at every merge it was in), and downloads as JSON lines. Follows new merges live.
import { h, api, fill, badge, num, when, follow, ApiError } from './util.js';
import { LineChart } from './charts.js';

const MAX_CARDS = 240;

export default async function hardPage(root, dashboard, runId) {
  const run = encodeURIComponent(runId);
  let status;
  try {
    status = await api('/api/runs/' + run);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) {
      root.append(h('div', { class: 'notfound', id: 'not-found' }, h('h1', {}, 'No run with id \u201c' + runId + '\u201d'),
        h('a', { href: '/' }, 'All runs')));
      return;
    }
    throw e;
  }
  let data = await api('/api/runs/' + run + '/hard-examples');
  let following = true;
  const slider = h('input', { type: 'range', id: 'merge-slider', min: 0, max: Math.max(0, data.merges - 1), step: 1,
    value: data.merge ? data.merge.index : 0, oninput: () => { following = Number(slider.value) === data.merges - 1; load(); } });
  const mergeLabel = h('span', { id: 'merge-label', class: 'mono' });
  const sort = h('select', { id: 'sort', onchange: draw },
    h('option', { value: 'loss-desc' }, 'loss, highest first'), h('option', { value: 'loss-asc' }, 'loss, lowest first'),
    h('option', { value: 'step-desc' }, 'step, latest first'), h('option', { value: 'sample' }, 'sample id'));
  const workerFilter = h('select', { id: 'worker-filter', onchange: draw });
  const labelFilter = h('select', { id: 'label-filter', onchange: draw });
  const wrongOnly = h('input', { type: 'checkbox', id: 'wrong-only', onchange: draw });
  const search = h('input', { type: 'text', id: 'sample-search', placeholder: 'sample id…', oninput: draw, style: 'width:110px' });
  const download = h('a', { id: 'download-merge', class: 'chip' }, 'this merge (.jsonl)');
  const cards = h('div', { class: 'cards', id: 'cards' });
  const classes = h('div', { class: 'bars', id: 'class-counts' });
  const workers = h('div', { class: 'bars', id: 'worker-counts' });
  const stats = h('div', { class: 'summary', id: 'merge-stats' });
  const history = h('dialog', { id: 'history' });

  root.append(
    h('h1', {}, h('a', { href: '/runs/' + run }, runId), ' · hard examples ', badge(status.state)),
    h('div', { class: 'panel' },
      h('div', { class: 'toolbar' }, h('b', {}, 'Merge'), slider, mergeLabel),
      stats,
      h('div', { class: 'toolbar', style: 'margin-top:8px' },
        h('label', {}, 'Sort ', sort), h('label', {}, 'Worker ', workerFilter), h('label', {}, 'Label ', labelFilter),
        h('label', {}, wrongOnly, 'misclassified only'), search, h('span', { class: 'spacer' }),
        h('span', {}, 'Download: ', download, ' ',
          h('a', { href: '/api/runs/' + run + '/hard-examples/download', class: 'chip', id: 'download-all' }, 'every merge (.jsonl)')))),
    h('div', { class: 'grid2', style: 'grid-template-columns: 3fr 1fr' },
      cards,
      h('div', {}, h('div', { class: 'panel' }, h('b', {}, 'Per class (label)'), classes),
        h('div', { class: 'panel' }, h('b', {}, 'Per worker'), workers))),
    history);

  let loading = 0;
  async function load() {
    const ticket = ++loading;
    const next = await api('/api/runs/' + run + '/hard-examples?merge=' + slider.value);
    if (ticket !== loading) return;
    data = next;
    draw();
  }

  function options(select, values, allLabel) {
    const current = select.value;
    fill(select, h('option', { value: '' }, allLabel), values.map(v => h('option', { value: v }, v)));
    if (values.includes(current)) select.value = current;
  }

  function draw() {
    slider.max = Math.max(0, data.merges - 1);
    const merge = data.merge;
    if (!merge) {
      mergeLabel.textContent = 'no merge yet';
      fill(cards, h('p', { class: 'muted' }, 'No merge has been recorded yet: hard examples are gathered every '
        + 'hard-examples.merge-interval.'));
      return;
    }
    slider.value = merge.index;
    mergeLabel.textContent = 'merge ' + merge.merge + ' (' + (merge.index + 1) + ' of ' + data.merges + ') · ' + when(merge.ts);
    download.setAttribute('href', '/api/runs/' + run + '/hard-examples/download?merge=' + merge.index);
    fill(stats,
      stat(merge.entries.length + ' / ' + merge.k, 'entries / k'), stat(merge.mode, 'mode'),
      stat(num(merge.threshold), 'threshold'), stat(num(merge.max_loss), 'max loss'),
      stat(merge.samples_seen, 'samples seen'), stat(merge.above_threshold, 'above threshold'),
      stat(merge.missing && merge.missing.length ? merge.missing.join(', ') : 'none', 'workers missing'),
      stat(data.payloads, 'payloads'));
    options(workerFilter, Object.keys(data.workers), 'all');
    options(labelFilter, Object.keys(data.classes), 'all');
    bars(classes, data.classes);
    bars(workers, data.workers);
    let entries = merge.entries.slice();
    if (workerFilter.value) entries = entries.filter(e => e.worker_id === workerFilter.value);
    if (labelFilter.value) entries = entries.filter(e => String(e.label ?? 'unknown') === labelFilter.value);
    if (wrongOnly.checked) entries = entries.filter(e => e.label !== null && e.predicted !== null && e.label !== e.predicted);
    if (search.value.trim()) entries = entries.filter(e => String(e.sample_id).includes(search.value.trim()));
    const order = {
      'loss-desc': (a, b) => b.loss - a.loss, 'loss-asc': (a, b) => a.loss - b.loss,
      'step-desc': (a, b) => b.step - a.step, sample: (a, b) => a.sample_id - b.sample_id,
    }[sort.value];
    entries.sort(order);
    const shown = entries.slice(0, MAX_CARDS);
    const none = merge.entries.length === 0 ? 'This merge has no entries (nothing had been trained before it).'
      : 'No entry matches.';
    fill(cards, entries.length ? shown.map(card) : h('p', { class: 'muted' }, none),
      entries.length > MAX_CARDS ? h('p', { class: 'muted' }, 'The first ' + MAX_CARDS + ' of ' + entries.length
        + ' entries; filter, or download the merge for all.') : null);
  }

  function card(entry) {
    const wrong = entry.label !== null && entry.predicted !== null && entry.label !== entry.predicted;
    return h('div', { class: 'card', dataset: { sample: entry.sample_id }, onclick: () => openHistory(entry.sample_id) },
      payload(entry),
      h('div', { class: 'loss' }, num(entry.loss)),
      h('div', { class: wrong ? 'wrong' : '' }, 'label ', entry.label ?? '?', ' → ', entry.predicted ?? '?'),
      h('div', { class: 'muted' }, '#' + entry.sample_id + ' · step ' + entry.step),
      h('div', { class: 'muted' }, entry.worker_id));
  }

  function payload(entry) {
    if (entry.file) {
      return h('img', { src: '/api/runs/' + run + '/payloads/' + encodeURIComponent(entry.file),
        alt: 'sample ' + entry.sample_id, class: 'thumb' });
    }
    if (entry.features) return features(entry.features);
    return h('div', { class: 'nopayload' }, 'no payload');
  }

  async function openHistory(sampleId) {
    const sample = await api('/api/runs/' + run + '/hard-examples/samples/' + sampleId);
    const chartBox = h('div', {});
    fill(history,
      h('h2', {}, 'Sample ' + sampleId),
      sample.file ? h('img', { src: '/api/runs/' + run + '/payloads/' + encodeURIComponent(sample.file), alt: 'sample ' + sampleId,
        style: 'width:128px;image-rendering:pixelated;background:#111' }) : sample.features ? features(sample.features) : null,
      h('p', { class: 'muted' }, 'In ' + sample.history.length + ' merge(s).'),
      chartBox,
      h('table', { id: 'history-table' }, h('thead', {}, h('tr', {}, ['Merge', 'Loss', 'Rank', 'Step', 'Worker', 'Predicted'].map(c => h('th', {}, c)))),
        h('tbody', {}, sample.history.map(p => h('tr', {}, h('td', {}, p.merge), h('td', {}, num(p.loss)), h('td', {}, p.rank),
          h('td', {}, p.step), h('td', {}, p.worker_id), h('td', {}, p.predicted ?? '—'))))),
      h('div', { class: 'actions' }, h('button', { class: 'secondary', onclick: () => history.close() }, 'Close')));
    history.showModal();
    new LineChart(chartBox, 'Loss at each merge', { id: 'history' })
      .update([{ label: 'loss', x: sample.history.map(p => p.merge), y: sample.history.map(p => p.loss) }], {});
  }

  function stat(value, label) {
    return h('div', { class: 'stat' }, h('b', {}, value), h('span', {}, label));
  }

  draw();
  const merges = data.merges;
  return follow('/api/runs/' + run + '/live?from=2147483647.9223372036854775807.' + merges, {
    update: update => {
      if (update.merges === undefined || update.merges === data.merges) return;
      data.merges = update.merges;
      slider.max = Math.max(0, update.merges - 1);
      if (following) { slider.value = update.merges - 1; load(); } else { draw(); }
    },
  });
}

function bars(box, counts) {
  const max = Math.max(1, ...Object.values(counts));
  fill(box, Object.entries(counts).map(([key, count]) => h('div', { class: 'bar' },
    h('span', { class: 'mono', style: 'width:90px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap' }, key),
    h('span', { class: 'fill', style: 'width:' + Math.round(120 * count / max) + 'px' }), String(count))));
}

/** The leading features as a small bar chart (SVG). */
function features(values) {
  const finite = values.filter(v => v !== null && Number.isFinite(v));
  const max = Math.max(1e-9, ...finite.map(Math.abs));
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 ' + values.length + ' 2');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('class', 'features');
  values.forEach((v, i) => {
    if (v === null || !Number.isFinite(v)) return;
    const rect = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
    const height = Math.abs(v) / max;
    rect.setAttribute('x', i + 0.1);
    rect.setAttribute('width', 0.8);
    rect.setAttribute('y', v >= 0 ? 1 - height : 1);
    rect.setAttribute('height', height);
    rect.setAttribute('fill', v >= 0 ? '#2f6fde' : '#e0672c');
    svg.append(rect);
  });
  return svg;
}
