// One run: its state and progress, live charts (loss, validation loss and accuracy, learning rate, samples/s;
// smoothing, log y, x by step or wall time, a series per shard, per worker or for the run), the shard table, its
// workers, the event log, the tail of a process trainer's stderr, the resolved config, and Stop.
import { h, api, clear, fill, badge, alertBadge, progressBar, num, pct, duration, when, time, stored, store, follow, info,
  ApiError } from './util.js';
import { LineChart } from './charts.js';

const CHARTS = [
  ['loss', 'Loss (train)', 'train', 'loss'],
  ['val_loss', 'Validation loss', 'val', 'loss'],
  ['val_acc', 'Validation accuracy', 'val', 'acc'],
  ['lr', 'Learning rate', 'train', 'lr'],
  ['sps', 'Samples/s', 'train', 'sps'],
];

export default async function runPage(root, dashboard, runId) {
  let status;
  try {
    status = await api('/api/runs/' + encodeURIComponent(runId));
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return notFound(root, runId);
    throw e;
  }
  const points = dashboard.chart_points || 2000;
  const view = {
    smoothing: stored('run.smoothing', 0), logY: stored('run.logY', false), time: stored('run.time', false),
    by: stored('run.by', 'shard'),
  };
  let series = new Map();
  let cursor = '0.0.0';
  let alerts = 0;
  let merges = status.merges;
  const latencies = [];
  window.quarryLatencyMs = latencies;

  // --- header ---
  const title = h('h1', {}, h('span', { id: 'run-id' }, runId), ' ', h('span', { id: 'run-state' }), h('span', { id: 'run-alerts' }));
  const summary = h('div', { class: 'summary', id: 'run-summary' });
  const alertBox = h('div', { class: 'alert-box', id: 'alert-box', hidden: true });
  const stopButton = h('button', { class: 'danger', id: 'stop-run', onclick: () => dialog.showModal() }, 'Stop run');
  const stopMessage = h('span', { id: 'stop-message', class: 'muted' });
  const dialog = h('dialog', { id: 'stop-dialog' },
    h('h2', {}, 'Stop run ' + runId + '?'),
    h('p', {}, 'Every running shard stops at its next step and keeps its last checkpoint; the run ends STOPPED. '
      + 'It can be resumed later from those checkpoints (Resume).'),
    h('div', { class: 'actions' },
      h('button', { class: 'secondary', id: 'stop-cancel', onclick: () => dialog.close() }, 'Cancel'),
      h('button', { class: 'danger', id: 'stop-confirm', onclick: stop }, 'Stop run')));
  const resumeButton = h('button', { id: 'resume-run', hidden: true, onclick: () => resumeDialog.showModal() }, 'Resume…');
  const resumeOverrides = h('input', { type: 'text', id: 'resume-overrides', placeholder: 'optional: key=value … (e.g. epochs=5 max-attempts=5)' });
  const resumeDialog = h('dialog', { id: 'resume-dialog' },
    h('h2', {}, 'Resume run ' + runId + '?'),
    h('p', {}, 'Its unfinished shards start again from their last checkpoints, as the same run. Overrides change the '
      + 'keys a resumed run may change (epochs, max-attempts, …); the coordinator says which when one may not.'),
    resumeOverrides,
    h('div', { class: 'actions' },
      h('button', { class: 'secondary', id: 'resume-cancel', onclick: () => resumeDialog.close() }, 'Cancel'),
      h('button', { id: 'resume-confirm', onclick: resume }, 'Resume')));
  const hardLink = h('a', { href: '/runs/' + encodeURIComponent(runId) + '/hard-examples', id: 'hard-link' });

  // --- charts ---
  const smoothing = h('input', { type: 'range', min: 0, max: 0.99, step: 0.01, id: 'smoothing', value: view.smoothing,
    style: 'width:140px', oninput: e => { view.smoothing = Number(e.target.value); store('run.smoothing', view.smoothing);
      smoothingValue.textContent = view.smoothing.toFixed(2); redraw(); } });
  const smoothingValue = h('span', { class: 'mono' }, Number(view.smoothing).toFixed(2));
  const logY = h('input', { type: 'checkbox', id: 'log-y', onchange: e => { view.logY = e.target.checked; store('run.logY', view.logY); redraw(); } });
  logY.checked = view.logY;
  const xAxis = h('select', { id: 'x-axis', onchange: e => { view.time = e.target.value === 'time'; store('run.time', view.time); redraw(); } },
    h('option', { value: 'step' }, 'step'), h('option', { value: 'time' }, 'wall time'));
  xAxis.value = view.time ? 'time' : 'step';
  const by = h('select', { id: 'series-by', onchange: e => { view.by = e.target.value; store('run.by', view.by); reload(); } },
    h('option', { value: 'shard' }, 'per shard'), h('option', { value: 'worker' }, 'per worker'), h('option', { value: 'run' }, 'whole run'));
  by.value = view.by;
  const chartBox = h('div', { class: 'charts', id: 'charts' });
  const charts = CHARTS.map(([id, label]) => new LineChart(chartBox, label, { id,
    empty: id.startsWith('val') ? 'No evaluation yet (trainers that evaluate do so at the end of each epoch)'
      : 'No points yet (a run in fast mode, telemetry.enabled = false, writes none)' }));

  // --- tables ---
  const shardBody = h('tbody', { id: 'shards-body' });
  const workerBody = h('tbody', { id: 'workers-body' });
  const eventFilter = h('input', { type: 'text', placeholder: 'filter events by type…', id: 'event-filter', oninput: drawEvents });
  const eventBody = h('tbody', { id: 'events-body' });
  const logSelect = h('select', { id: 'log-select', onchange: loadLog });
  const logText = h('pre', { id: 'log-text' }, '');
  const logPanel = h('div', { class: 'panel', id: 'logs-panel', hidden: true },
    h('div', { class: 'toolbar' }, h('b', {}, 'Process stderr'), logSelect, h('button', { class: 'secondary', onclick: loadLog }, 'Refresh')), logText);
  const configText = h('pre', { id: 'config-text' }, '…');
  let events = [];

  root.append(title,
    h('div', { class: 'panel' }, summary, h('div', { class: 'toolbar', style: 'margin-top:10px' }, stopButton, resumeButton,
      stopMessage, h('span', { class: 'spacer' }), hardLink)),
    alertBox, dialog, resumeDialog,
    h('div', { class: 'toolbar' }, h('label', {}, 'Smoothing ', smoothing, smoothingValue), h('label', {}, logY, 'log y'),
      h('label', {}, 'x ', xAxis), h('label', {}, 'series ', by)),
    chartBox,
    h('div', { class: 'grid2' },
      h('div', {}, h('h2', {}, 'Shards'), h('table', { id: 'shards-table' }, h('thead', {}, h('tr', {},
        ['Shard', 'State', 'Attempt', 'Worker', 'Step', 'Checkpoint', 'Failures', ''].map(c => h('th', {}, c)))), shardBody)),
      h('div', {}, h('h2', {}, 'Workers'), h('table', { id: 'workers-table' }, h('thead', {}, h('tr', {},
        ['Worker', 'Device', 'State', 'Shard'].map(c => h('th', {}, c)))), workerBody))),
    h('h2', {}, 'Events'), h('div', { class: 'toolbar' }, eventFilter),
    h('div', { class: 'events panel' }, h('table', { id: 'events-table' }, h('thead', {}, h('tr', {},
      ['Time', 'Type', 'Shard', 'Worker', 'Details'].map(c => h('th', {}, c)))), eventBody)),
    logPanel,
    h('h2', {}, 'Config (run.conf)'), configText);

  // --- drawing ---
  function drawStatus() {
    fill(document.getElementById('run-state'), badge(status.state));
    fill(document.getElementById('run-alerts'), alertBadge(alerts));
    const elapsed = status.started_unix_ms ? ((status.finished_unix_ms || Date.now()) - status.started_unix_ms) / 1000 : null;
    const eta = status.state === 'running' && status.steps > 0 && elapsed
      ? elapsed * (status.total_steps - status.steps) / status.steps : null;
    fill(summary, 
      stat(h('span', {}, progressBar(status.progress, true), ' ', pct(status.progress)), 'progress'),
      stat(status.steps + ' / ' + status.total_steps, 'steps'),
      stat(status.state === 'running' ? duration(eta) : '—', 'ETA'),
      stat(duration(elapsed), 'elapsed'),
      stat(num(status.last_loss), 'last loss'),
      stat(num(status.samples_per_s, 3), 'samples/s'),
      stat(status.merges, 'merges'),
      stat(when(status.submitted), 'submitted'),
      status.name ? stat(status.name, 'name') : null,
      status.reason ? stat(h('span', { class: 'error' }, status.reason), 'reason') : null);
    const canStop = !dashboard.read_only && dashboard.role === 'operate'
      && ['pending', 'running'].includes(status.state);
    stopButton.hidden = !canStop;
    // A stopped or failed run continues as the same run (POST /api/runs/{id}/resume); a completed one has nothing left.
    resumeButton.hidden = dashboard.read_only || dashboard.role !== 'operate' || !['stopped', 'failed'].includes(status.state);
    hardLink.textContent = 'Hard examples (' + merges + ' merge' + (merges === 1 ? '' : 's') + ') →';
    clear(shardBody);
    for (const shard of status.shards) {
      shardBody.append(h('tr', {}, h('td', {}, shard.shard), h('td', {}, badge(shard.state)), h('td', {}, shard.attempt),
        h('td', {}, shard.worker_id || '—'), h('td', { class: 'num' }, shard.step + ' / ' + shard.total_steps),
        h('td', { class: 'num' }, shard.checkpoint_step), h('td', { class: 'num' }, shard.failures),
        h('td', {}, shard.straggler ? h('span', { class: 'badge stopping' }, 'straggler') : null,
          shard.speculative_worker_id ? h('span', { class: 'chip' }, 'copy on ' + shard.speculative_worker_id) : null,
          shard.last_failure ? h('span', { class: 'error', title: shard.last_failure }, ' ' + shard.last_failure.slice(0, 80)) : null)));
    }
    drawWorkers();
  }

  let workerInfo = [];
  function drawWorkers() {
    clear(workerBody);
    const ids = new Set(status.workers);
    status.shards.forEach(s => { if (s.worker_id) ids.add(s.worker_id); });
    for (const id of ids) {
      const known = workerInfo.find(w => w.worker_id === id) || {};
      const shard = status.shards.find(s => s.worker_id === id && ['running', 'assigned'].includes(s.state));
      workerBody.append(h('tr', {}, h('td', {}, id), h('td', {}, known.device || '—'),
        h('td', {}, known.state ? badge(known.state) : '—'), h('td', {}, shard ? shard.shard : '—')));
    }
    if (ids.size === 0) workerBody.append(h('tr', {}, h('td', { colspan: 4, class: 'muted' }, 'No worker has trained a shard yet.')));
  }

  function stat(value, label) {
    return h('div', { class: 'stat' }, h('b', {}, value), h('span', {}, label));
  }

  function drawEvents() {
    const filter = eventFilter.value.trim().toLowerCase();
    clear(eventBody);
    const shown = events.filter(e => !filter || e.type.includes(filter)).slice(-400).reverse();
    for (const event of shown) {
      const details = Object.entries(event).filter(([k]) => !['type', 'ts', 'ts_unix_ns', 'run_id', 'worker_id', 'shard'].includes(k))
        .map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join('  ');
      eventBody.append(h('tr', { class: event.type === 'alert' ? 'alert-row' : null },
        h('td', { class: 'mono' }, time(event.ts_unix_ns / 1e6)), h('td', {}, event.type),
        h('td', {}, event.shard ?? ''), h('td', {}, event.worker_id || ''), h('td', { class: 'mono' }, details.slice(0, 400))));
    }
    const last = [...events].reverse().find(e => e.type === 'alert');
    alertBox.hidden = !last;
    if (last) alertBox.textContent = '⚠ ' + (last.message || last.kind) + (alerts > 1 ? ' (' + alerts + ' alerts)' : '');
  }

  let frame = 0;
  function redraw() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      CHARTS.forEach(([id, , split, metric], i) => {
        const list = [...series.values()].filter(s => s.split === split && s[metric].some(v => v !== null))
          .map(s => ({ label: s.key, x: s.x, t: s.t, y: s[metric] }));
        charts[i].update(list, view);
      });
      // For benchmarks: when the page first showed its charts (ms since navigation started).
      if (window.quarryFirstRenderMs === undefined) window.quarryFirstRenderMs = performance.now();
      if (pendingLatency.length) {
        const now = Date.now();
        for (const t of pendingLatency) latencies.push(now - t);
        pendingLatency.length = 0;
      }
    });
  }
  const pendingLatency = [];

  function take(scalars) {
    series = new Map();
    for (const s of scalars.series) series.set(s.split + '|' + s.key, s);
    cursor = scalars.cursor;
    redraw();
  }

  let reloading = null;
  async function reload() {
    if (reloading) return reloading;
    reloading = (async () => {
      try {
        take(await api('/api/runs/' + encodeURIComponent(runId) + '/scalars?by=' + view.by + '&points=' + points));
      } finally { reloading = null; }
    })();
    return reloading;
  }
  let reloadTimer = 0;
  function reloadSoon() {
    if (!reloadTimer) reloadTimer = setTimeout(() => { reloadTimer = 0; reload(); }, 1500);
  }

  function appendRows(rows) {
    if (view.by === 'run') { reloadSoon(); return; }
    for (let i = 0; i < rows.step.length; i++) {
      const key = view.by === 'worker' ? rows.worker[i] : 'shard ' + rows.shard[i];
      const split = rows.split[i];
      let s = series.get(split + '|' + key);
      if (!s) {
        s = split === 'train' ? { key, split, x: [], t: [], loss: [], lr: [], sps: [] } : { key, split, x: [], t: [], loss: [], acc: [] };
        series.set(split + '|' + key, s);
      }
      s.x.push(rows.step[i]);
      s.t.push(rows.t[i]);
      s.loss.push(rows.loss[i]);
      if (split === 'train') { s.lr.push(rows.lr[i]); s.sps.push(rows.sps[i]); } else { s.acc.push(rows.acc[i]); }
      if (s.x.length > 2 * points) reloadSoon();
      if (pendingLatency.length < 10000) pendingLatency.push(rows.t[i]);
    }
    redraw();
  }

  async function resume() {
    const overrides = resumeOverrides.value.trim().split(/\s+/).filter(Boolean);
    resumeButton.disabled = true;
    try {
      const answer = await api('/api/runs/' + encodeURIComponent(runId) + '/resume', { json: { overrides } });
      resumeDialog.close();
      stopMessage.textContent = answer.message || 'resumed';
    } catch (e) {
      // The coordinator's one-line reason (an override a resumed run may not change, ...) is shown by the buttons.
      stopMessage.textContent = e.message;
      resumeDialog.close();
    } finally {
      resumeButton.disabled = false;
    }
  }

  async function stop() {
    dialog.close();
    stopButton.disabled = true;
    try {
      const answer = await api('/api/runs/' + encodeURIComponent(runId) + '/stop', { json: { reason: 'stopped from the dashboard' } });
      stopMessage.textContent = answer.message || 'stopping';
    } catch (e) {
      stopMessage.textContent = e.message;
      stopButton.disabled = false;
    }
  }

  async function loadLogs() {
    const list = await api('/api/runs/' + encodeURIComponent(runId) + '/logs');
    if (!list.logs.length) return;
    logPanel.hidden = false;
    const current = logSelect.value;
    fill(logSelect, ...list.logs.map(l => h('option', { value: l.name }, l.name + ' (' + l.bytes + ' B)')));
    if (current) logSelect.value = current;
    loadLog();
  }

  async function loadLog() {
    if (!logSelect.value) return;
    logText.textContent = await api('/api/runs/' + encodeURIComponent(runId) + '/logs/' + encodeURIComponent(logSelect.value));
    logText.scrollTop = logText.scrollHeight;
  }

  // --- first load, then live ---
  const [firstEvents, scalars] = await Promise.all([
    api('/api/runs/' + encodeURIComponent(runId) + '/events?limit=400'),
    api('/api/runs/' + encodeURIComponent(runId) + '/scalars?by=' + view.by + '&points=' + points),
  ]);
  events = firstEvents.events;
  alerts = events.filter(e => e.type === 'alert').length;
  take(scalars);
  const [rows, , runMerges] = scalars.cursor.split('.');
  cursor = rows + '.' + firstEvents.count + '.' + runMerges;
  drawStatus();
  drawEvents();
  if (!dashboard.read_only) api('/api/workers').then(w => { workerInfo = w.workers; drawWorkers(); }).catch(() => {});
  api('/api/runs/' + encodeURIComponent(runId) + '/config').then(text => { configText.textContent = text; })
    .catch(e => { configText.textContent = e.message; });
  loadLogs().catch(() => {});
  const logTimer = setInterval(() => { if (['running', 'stopping'].includes(status.state)) loadLogs().catch(() => {}); }, 3000);
  const onResize = () => charts.forEach(c => c.resize());
  window.addEventListener('resize', onResize);

  const close = follow('/api/runs/' + encodeURIComponent(runId) + '/live?from=' + cursor, {
    update: update => {
      if (update.reset) reload();
      if (update.rows) update.rows.forEach(appendRows);
      if (update.events) {
        events = events.concat(update.events);
        if (events.length > 2000) events = events.slice(-2000);
        alerts = update.alerts ?? alerts;
        drawEvents();
      }
      if (update.merges !== undefined) merges = update.merges;
      if (update.status) status = update.status;
      if (update.status || update.merges !== undefined || update.events) drawStatus();
    },
  });
  return () => { close(); clearInterval(logTimer); window.removeEventListener('resize', onResize); };
}

function notFound(root, runId) {
  root.append(h('div', { class: 'notfound', id: 'not-found' },
    h('h1', {}, 'No run with id \u201c' + runId + '\u201d'),
    h('p', { class: 'muted' }, 'It may have been submitted to another coordinator, or its directory removed.'),
    h('a', { href: '/' }, 'All runs')));
}
