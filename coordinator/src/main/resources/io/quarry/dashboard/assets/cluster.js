// Cluster: every worker (host, device, state, current run and shard, steps/s), each host's CPU, memory and GPUs as
// the workers report them, and the run queue with the reason each waiting run waits. Live.
import { h, api, fill, badge, num, when, follow } from './util.js';

export default async function clusterPage(root, dashboard) {
  const workers = h('tbody', { id: 'workers-body' });
  const hosts = h('tbody', { id: 'hosts-body' });
  const queue = h('tbody', { id: 'queue-body' });
  const note = h('p', { class: 'muted', id: 'cluster-note' });
  root.append(h('h1', {}, 'Cluster'), note,
    h('h2', {}, 'Workers'),
    h('table', { id: 'workers-table' }, h('thead', {}, h('tr', {},
      ['Worker', 'Host', 'Device', 'State', 'Run', 'Shard', 'Step', 'Steps/s'].map(c => h('th', {}, c)))), workers),
    h('h2', {}, 'Hosts'),
    h('table', { id: 'hosts-table' }, h('thead', {}, h('tr', {},
      ['Host', 'Workers', 'CPU', 'Memory', 'GPUs', 'Reported'].map(c => h('th', {}, c)))), hosts),
    h('h2', {}, 'Queue'),
    h('table', { id: 'queue-table' }, h('thead', {}, h('tr', {},
      ['#', 'Run', 'Priority', 'Submitted', 'Why it waits'].map(c => h('th', {}, c)))), queue));

  function draw(data) {
    fill(note, dashboard.read_only ? 'This dashboard reads run directories only: there is no cluster to show.'
      : data.running + ' run(s) training' + (data.max_concurrent_runs > 0 ? ' (at most ' + data.max_concurrent_runs + ' at once)' : '') + '.');
    fill(workers, data.workers.length ? data.workers.map(w => h('tr', { dataset: { worker: w.worker_id || '' } },
      h('td', {}, w.worker_id || '(not introduced yet)'), h('td', {}, w.host || '—'), h('td', {}, w.device || '—'),
      h('td', {}, badge(w.state)),
      h('td', {}, w.run_id ? h('a', { href: '/runs/' + encodeURIComponent(w.run_id) }, w.run_id) : '—'),
      h('td', {}, w.shard ?? '—'), h('td', { class: 'num' }, w.step ?? '—'), h('td', { class: 'num' }, num(w.steps_per_s, 3))))
      : h('tr', {}, h('td', { colspan: 8, class: 'muted' }, 'No workers.')));
    const hostList = data.hosts || [];
    fill(hosts, hostList.length ? hostList.map(host => h('tr', {},
      h('td', {}, host.host), h('td', {}, (host.workers || []).join(', ')),
      h('td', { class: 'num' }, host.cpu_load === null || host.cpu_load === undefined ? '—' : (host.cpu_load * 100).toFixed(0) + '%'),
      h('td', { class: 'num' }, memory(host)),
      h('td', {}, (host.gpus || []).length ? host.gpus.map(g => h('div', { class: 'mono' },
        g.index + ' ' + g.name + ': ' + g.utilization_pct + '% · ' + g.memory_used_mib + ' / ' + g.memory_total_mib + ' MiB'))
        : h('span', { class: 'muted' }, 'none (no nvidia-smi)')),
      h('td', {}, when(host.reported))))
      : h('tr', {}, h('td', { colspan: 6, class: 'muted' }, 'No host has reported its load yet.')));
    fill(queue, data.queue.length ? data.queue.map(q => h('tr', { dataset: { run: q.run_id } },
      h('td', {}, q.position), h('td', {}, h('a', { href: '/runs/' + encodeURIComponent(q.run_id) }, q.run_id)),
      h('td', {}, q.priority), h('td', {}, when(new Date(q.submitted_unix_ms).toISOString())), h('td', {}, q.reason)))
      : h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No run is waiting.')));
  }

  draw(await api('/api/dash/cluster'));
  return follow('/api/live/cluster', { cluster: draw });
}

function memory(host) {
  if (!host.memory_total_bytes) return '—';
  const gib = b => (b / 1073741824).toFixed(1);
  return gib(host.memory_used_bytes) + ' / ' + gib(host.memory_total_bytes) + ' GiB';
}
