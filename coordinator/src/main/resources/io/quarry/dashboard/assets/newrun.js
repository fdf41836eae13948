// New run: a form over the run schema (trainer, the common keys, the trainer's section, the rest), or a run file
// edited in place, checked as you type by the server with the same schema and the same one-line errors as the CLI;
// a fast-mode switch that says what it turns off; a sweep (comma lists, --multirun's rules); a summary to confirm;
// then submit (an operate token).
import { h, api, fill, debounce } from './util.js';

const COMMON = ['name', 'epochs', 'batch-size', 'optimizer.lr', 'seed', 'shards', 'priority', 'max-attempts'];

export default async function newRunPage(root, dashboard) {
  root.append(h('h1', {}, 'New run'));
  if (dashboard.read_only || dashboard.role !== 'operate') {
    root.append(h('p', { class: 'muted', id: 'new-run-refused' }, dashboard.read_only
      ? 'This dashboard reads run directories only: start runs from a coordinator\u2019s dashboard.'
      : 'Starting a run needs an operate token; this session has a read token.'));
    return;
  }
  const schema = await api('/api/dash/schema');
  const keys = new Map(schema.keys.map(k => [k.path, k]));
  const inputs = new Map();
  const trainer = h('select', { id: 'key-trainer', name: 'trainer', onchange: () => { drawTrainerKeys(); check(); } },
    schema.trainers.map(t => h('option', { value: t }, t)));
  trainer.value = schema.trainers.includes('stub') ? 'stub' : schema.trainers[0];
  inputs.set('trainer', trainer);
  const runFile = h('textarea', { id: 'run-file', placeholder: '# optional: a run file (HOCON), e.g.\n# epochs = 3\n# optimizer { lr = 0.01 }\n# The fields below override it.', oninput: () => check() });
  const runId = h('input', { type: 'text', id: 'run-id', placeholder: 'optional: the run id (or the sweep id)', oninput: () => check() });
  const fast = h('input', { type: 'checkbox', id: 'fast-mode', onchange: () => check() });
  const sweep = h('input', { type: 'checkbox', id: 'sweep', onchange: () => check() });
  const validation = h('div', { class: 'validation', id: 'validation' }, 'Checking…');
  const trainerBox = h('div', { class: 'form-grid', id: 'trainer-keys' });
  const summary = h('div', { id: 'summary', class: 'panel', hidden: true });
  const review = h('button', { id: 'review', disabled: true, onclick: showSummary }, 'Review…');

  root.append(
    h('div', { class: 'panel' },
      h('div', { class: 'form-grid' },
        h('label', { for: 'key-trainer' }, 'trainer'), h('div', {}, trainer, h('div', { class: 'help' }, keys.get('trainer').doc)),
        COMMON.filter(k => keys.has(k)).map(k => field(keys.get(k)))),
      h('h2', {}, 'Trainer section'), trainerBox,
      h('details', {}, h('summary', {}, 'Every other key'),
        h('div', { class: 'form-grid' }, schema.keys.filter(k => k.section === 'core' && k.path !== 'trainer'
          && !COMMON.includes(k.path)).map(field))),
      h('details', {}, h('summary', {}, 'Run file (HOCON, edited in place)'), runFile),
      h('div', { class: 'form-grid', style: 'margin-top:12px' },
        h('label', { for: 'run-id' }, 'run id'), runId,
        h('label', { for: 'fast-mode' }, 'fast mode'), h('div', {}, fast, ' ', h('span', { class: 'help' },
          'telemetry off (telemetry.enabled = false): no per-step events or scalars, so this run\u2019s charts of loss, '
          + 'learning rate and samples/s stay empty; progress, ETA, events, stragglers and hard examples still work.')),
        h('label', { for: 'sweep' }, 'sweep'), h('div', {}, sweep, ' ', h('span', { class: 'help' },
          'values with commas are swept (e.g. optimizer.lr = 0.1,0.01): one run per combination, as quarry submit --multirun.')))),
    h('div', { class: 'sticky-bar' }, validation, h('div', { class: 'toolbar' }, review)), summary);

  function field(key) {
    let input;
    if (key.kind === 'choice' || key.kind === 'boolean') {
      const values = key.kind === 'boolean' ? ['true', 'false'] : key.choices;
      input = h('select', { id: 'key-' + key.path, name: key.path, onchange: () => check() },
        h('option', { value: '' }, 'default (' + key.default + ')'), values.map(v => h('option', { value: v }, v)));
    } else {
      input = h('input', { type: 'text', id: 'key-' + key.path, name: key.path, placeholder: String(key.default ?? ''),
        oninput: () => check() });
    }
    inputs.set(key.path, input);
    return [h('label', { for: 'key-' + key.path, title: key.type }, key.path),
      h('div', {}, input, h('div', { class: 'help' }, key.doc + ' \u2014 ' + key.allowed))];
  }

  function drawTrainerKeys() {
    for (const key of schema.keys) if (key.section !== 'core') inputs.delete(key.path);
    fill(trainerBox, schema.keys.filter(k => k.section === trainer.value).map(field));
    if (!trainerBox.childElementCount) trainerBox.append(h('span', { class: 'muted' }, 'This trainer adds no keys.'));
  }

  function overrides() {
    const list = [];
    for (const [path, input] of inputs) {
      const value = input.value.trim();
      if (!value) continue;
      const key = keys.get(path);
      const quoted = key && (key.kind === 'string') && !value.startsWith('"') && !(sweep.checked && value.includes(','))
        ? JSON.stringify(value) : value;
      list.push(path + '=' + quoted);
    }
    if (fast.checked) list.push('telemetry.enabled=false');
    return list;
  }

  let last = null;
  const check = debounce(async () => {
    const body = { config: runFile.value, overrides: overrides(), sweep: sweep.checked };
    summary.hidden = true;
    let answer;
    try {
      answer = await api('/api/dash/validate', { json: body });
    } catch (e) {
      answer = { ok: false, error: e.message };
    }
    last = { body, answer };
    for (const input of [...inputs.values(), runFile]) input.classList.remove('invalid');
    if (answer.ok) {
      validation.className = 'validation good';
      validation.textContent = 'OK: ' + answer.runs.length + ' run(s).';
    } else {
      validation.className = 'validation bad';
      validation.textContent = answer.error;
      const named = /config key '([^']+)'/.exec(answer.error) || /override '([^'=]+)=/.exec(answer.error);
      const input = named && inputs.get(named[1]);
      (input || runFile).classList.add('invalid');
    }
    review.disabled = !answer.ok;
  }, 250);

  function showSummary() {
    if (!last || !last.answer.ok) return;
    const runs = last.answer.runs;
    const id = runId.value.trim();
    const sweepId = id || 'sweep-' + new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    fill(summary,
      h('h2', {}, runs.length === 1 ? 'Start this run?' : 'Start this sweep of ' + runs.length + ' runs?'),
      h('p', {}, 'Trainer ', h('b', {}, trainer.value), fast.checked ? ' · fast mode (no per-step charts)' : '',
        runs.length > 1 ? ' · runs ' + sweepId + '-0 \u2026 ' + sweepId + '-' + (runs.length - 1) : id ? ' · run id ' + id : ''),
      h('table', {}, h('tbody', {}, runs.slice(0, 50).map((run, i) => h('tr', {},
        h('td', {}, runs.length > 1 ? sweepId + '-' + i : id || '(id chosen by the coordinator)'),
        h('td', { class: 'mono' }, run.overrides.join(' ') || '(defaults)'))))),
      h('details', {}, h('summary', {}, 'Resolved config of the first run'), h('pre', {}, last.answer.resolved)),
      h('div', { class: 'toolbar', style: 'margin-top:10px' },
        h('button', { id: 'submit-run', onclick: () => submit(runs, runs.length > 1 ? sweepId : id) }, 'Start'),
        h('button', { class: 'secondary', onclick: () => { summary.hidden = true; } }, 'Back'),
        h('span', { id: 'submit-result' })));
    summary.hidden = false;
  }

  async function submit(runs, id) {
    const result = document.getElementById('submit-result');
    document.getElementById('submit-run').disabled = true;
    const started = [];
    try {
      for (let i = 0; i < runs.length; i++) {
        const body = { config: last.body.config, overrides: runs[i].overrides };
        if (runs.length > 1) body.run_id = id + '-' + i; else if (id) body.run_id = id;
        const answer = await api('/api/runs', { json: body });
        started.push(answer.run_id);
        result.textContent = 'started ' + started.length + ' of ' + runs.length;
      }
    } catch (e) {
      result.className = 'error';
      result.textContent = (started.length ? 'started ' + started.join(', ') + '; then: ' : '') + e.message;
      document.getElementById('submit-run').disabled = false;
      return;
    }
    location.href = started.length === 1 ? '/runs/' + encodeURIComponent(started[0]) : '/';
  }

  drawTrainerKeys();
  check();
}
