#!/usr/bin/env python3
"""Helpers of bench/allgather.sh and bench/failover.sh: the HTTP API, run-directory parsing, statistics.

Percentiles are nearest-rank (the smallest value with at least p% of the samples at or below it).
"""
import json
import math
import os
import socket
import statistics
import sys
import time
import urllib.error
import urllib.request


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def http(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if os.environ.get("QUARRY_TOKEN"):
        headers["Authorization"] = "Bearer " + os.environ["QUARRY_TOKEN"]
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def events(run_dir, kind=None):
    path = os.path.join(run_dir, "events.jsonl")
    out = []
    if not os.path.exists(path):
        return out
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written (or cut by a SIGKILL)
            if kind is None or e.get("type") in kind:
                out.append(e)
    return out


def ms(e):
    return e["ts_unix_ns"] / 1e6


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def wait_workers(url, n, timeout):
    deadline = time.time() + float(timeout)
    last = None
    while time.time() < deadline:
        try:
            _, body = http("GET", url + "/api/workers")
            last = body
            ready = [w for w in body.get("workers", []) if w.get("worker_id") and w.get("state") != "lost"]
            if len(ready) >= int(n):
                print(" ".join(w["worker_id"] for w in ready))
                return 0
        except Exception as e:  # noqa: BLE001 - not up yet
            last = repr(e)
        time.sleep(0.2)
    print(f"timed out waiting for {n} workers; last answer: {last}", file=sys.stderr)
    return 1


def submit(url, run_id, config, *overrides):
    status, body = http("POST", url + "/api/runs", {"config": config, "overrides": list(overrides), "run_id": run_id})
    if status != 201:
        print(f"submit answered {status}: {body}", file=sys.stderr)
        return 1
    return 0


def wait_run(url, run_id, cond, timeout):
    """cond: 'final' (completed/failed/stopped) or 'ckpt>=N' (every shard's checkpoint_step >= N)."""
    deadline = time.time() + float(timeout)
    last = None
    while time.time() < deadline:
        try:
            status, run = http("GET", url + "/api/runs/" + run_id, timeout=5)
            if status == 200:
                last = run
                if cond == "final" and run["state"] in ("completed", "failed", "stopped"):
                    print(json.dumps(run_summary(run)))
                    return 0
                if cond.startswith("ckpt>="):
                    need = int(cond[6:])
                    shards = run.get("shards", [])
                    if shards and all(s.get("checkpoint_step", 0) >= need and s.get("state") == "running"
                                      for s in shards):
                        print(json.dumps(run_summary(run)))
                        return 0
        except Exception as e:  # noqa: BLE001 - the coordinator may be failing over
            last = repr(e)
        time.sleep(0.2)
    print(f"timed out waiting for {cond} of {run_id}; last seen: {json.dumps(last)[:2000]}", file=sys.stderr)
    return 1


def run_summary(run):
    return {k: run.get(k) for k in ("state", "steps", "total_steps", "merges", "reason")} | {
        "shards": [{k: s.get(k) for k in ("shard", "state", "attempt", "worker_id", "step", "checkpoint_step")}
                   for s in run.get("shards", [])]}


def shard_worker(url, run_id, shard):
    _, run = http("GET", url + "/api/runs/" + run_id)
    for s in run["shards"]:
        if s["shard"] == int(shard):
            print(s["worker_id"])
            return 0
    return 1


def merge_stats(run_dir):
    """One JSON line: the run's merge statistics and its completion."""
    recs = []
    with open(os.path.join(run_dir, "hard_examples.jsonl")) as f:
        for line in f:
            if line.strip():
                recs.append(json.loads(line))
    done = events(run_dir, {"run_completed"})
    g = [r["gather_ms"] for r in recs]
    m = [r["merge_ms"] for r in recs]
    full = [r for r in recs if len(r.get("entries", [])) == r.get("k")]
    out = {
        "merges": len(recs),
        "full_k_merges": len(full),
        "workers": max((len(r["workers"]) for r in recs), default=0),
        "missing_total": sum(len(r["missing"]) for r in recs),
        "k": recs[0]["k"] if recs else None,
        "gather_p50": pct(g, 50), "gather_p90": pct(g, 90), "gather_p99": pct(g, 99), "gather_max": max(g, default=0),
        "merge_p50": statistics.median(m) if m else float("nan"),
        "gather_all": g, "merge_all": m,
        "status": done[0]["status"] if done else None,
        "steps": done[0]["steps"] if done else None,
        "wall_ms": done[0]["wall_ms"] if done else None,
    }
    print(json.dumps(out))
    return 0


def allgather_report(results_file):
    """results_file: one JSON line per run, merge_stats output plus mode, workers_n, round."""
    rows = [json.loads(l) for l in open(results_file) if l.strip()]
    print("\nper run (gather_ms p50/p90/p99/max, merge_ms median; merges = records in hard_examples.jsonl):")
    print(f"{'N':>2} {'mode':<8} {'round':>5} {'status':<10} {'merges':>6} {'fullK':>5} {'missing':>7} "
          f"{'g p50':>8} {'g p90':>8} {'g p99':>8} {'g max':>8} {'merge p50':>9} {'wall s':>7}  first 3 gathers")
    for r in rows:
        print(f"{r['workers_n']:>2} {r['mode']:<8} {r['round']:>5} {str(r['status']):<10} {r['merges']:>6} "
              f"{r['full_k_merges']:>5} {r['missing_total']:>7} {r['gather_p50']:>8.3f} {r['gather_p90']:>8.3f} "
              f"{r['gather_p99']:>8.3f} {r['gather_max']:>8.3f} {r['merge_p50']:>9.3f} "
              f"{(r['wall_ms'] or 0) / 1000:>7.1f}  {r['gather_all'][:3]}")
    print("\npooled over every merge of every round (ms):")
    print(f"{'N':>2} {'mode':<8} {'merges':>6} {'g p50':>8} {'g p90':>8} {'g p99':>8} {'merge p50':>9} "
          f"{'median of round p50s':>21}")
    pooled = {}
    for n in sorted({r["workers_n"] for r in rows}):
        for mode in ("cluster", "local"):
            rs = [r for r in rows if r["workers_n"] == n and r["mode"] == mode]
            if not rs:
                continue
            g = [x for r in rs for x in r["gather_all"]]
            m = [x for r in rs for x in r["merge_all"]]
            p = {"p50": pct(g, 50), "p90": pct(g, 90), "p99": pct(g, 99), "merge": statistics.median(m),
                 "round_p50": statistics.median(r["gather_p50"] for r in rs)}
            pooled[(n, mode)] = p
            print(f"{n:>2} {mode:<8} {len(g):>6} {p['p50']:>8.3f} {p['p90']:>8.3f} {p['p99']:>8.3f} "
                  f"{p['merge']:>9.3f} {p['round_p50']:>21.3f}")
    print("\npooled, leaving out each run's first 3 merges (the cold start: JIT, first Kryo use, first connections) (ms):")
    print(f"{'N':>2} {'mode':<8} {'merges':>6} {'g p50':>8} {'g p90':>8} {'g p99':>8} {'g max':>8} {'merge p50':>9}")
    warm = {}
    for n in sorted({r["workers_n"] for r in rows}):
        for mode in ("cluster", "local"):
            rs = [r for r in rows if r["workers_n"] == n and r["mode"] == mode]
            if not rs:
                continue
            g = [x for r in rs for x in r["gather_all"][3:]]
            m = [x for r in rs for x in r["merge_all"][3:]]
            warm[(n, mode)] = w = {"p50": pct(g, 50), "p90": pct(g, 90), "p99": pct(g, 99), "merge": statistics.median(m)}
            print(f"{n:>2} {mode:<8} {len(g):>6} {w['p50']:>8.3f} {w['p90']:>8.3f} {w['p99']:>8.3f} {max(g):>8.3f} "
                  f"{w['merge']:>9.3f}")
    print("\ncluster / local (pooled):")
    for n in sorted({k[0] for k in pooled}):
        c, l = pooled.get((n, "cluster")), pooled.get((n, "local"))
        if c and l:
            print(f"  N={n}: gather p50 {c['p50'] / l['p50']:.1f}x, p90 {c['p90'] / l['p90']:.1f}x, "
                  f"p99 {c['p99'] / l['p99']:.1f}x; merge p50 {c['merge'] / l['merge']:.2f}x")
        c, l = warm.get((n, "cluster")), warm.get((n, "local"))
        if c and l:
            print(f"  N={n} without the first 3 merges: gather p50 {c['p50'] / l['p50']:.1f}x, "
                  f"p90 {c['p90'] / l['p90']:.1f}x, p99 {c['p99'] / l['p99']:.1f}x; merge p50 {c['merge'] / l['merge']:.2f}x")
    return 0


def wait_event(run_dir, kind, after_ms, timeout, shard=None, min_attempt=None):
    """Waits until events.jsonl has an event of type `kind` (comma-separated) later than after_ms; prints its ms."""
    kinds = set(kind.split(","))
    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        for e in events(run_dir, kinds):
            if ms(e) <= float(after_ms):
                continue
            if shard not in (None, "-") and e.get("shard") != int(shard):
                continue
            if min_attempt not in (None, "-") and e.get("attempt", 0) < int(min_attempt):
                continue
            print(f"{ms(e):.0f}")
            return 0
        time.sleep(0.1)
    print(f"no {kind} event after {after_ms} within {timeout}s in {run_dir}", file=sys.stderr)
    return 1


def wait_after(run_dir, anchor, kind, timeout):
    """Waits until, in file (arrival) order, an event of type `kind` follows the first `anchor` event; prints the
    wall-clock ms at which this poller saw it (every 50 ms), i.e. when it had been written, not the event's own ts."""
    kinds = set(kind.split(","))
    deadline = time.time() + float(timeout)
    while time.time() < deadline:
        seen = False
        for e in events(run_dir):
            if e["type"] == anchor:
                seen = True
            elif seen and e["type"] in kinds:
                print(f"{time.time() * 1000:.0f}")
                return 0
        time.sleep(0.05)
    print(f"no {kind} event after {anchor} within {timeout}s in {run_dir}", file=sys.stderr)
    return 1


def log_timeline(log, kill_ms):
    """Lines of a node log (logback pattern HH:mm:ss.SSS, UTC) after the kill that tell the failover's stages."""
    import datetime
    import re
    kill_ms = float(kill_ms)
    day = datetime.datetime.fromtimestamp(kill_ms / 1000, datetime.timezone.utc).date()
    keys = ("UNREACHABLE", "SBR", "Down", "down", "emov", "ingleton", "ldest", "incarnation", "recover", "Leader")
    print(f"  standby coordinator log after the kill ({log.rsplit('/', 1)[-1]}):")
    for line in open(log, errors="replace"):
        m = re.match(r"(\d\d):(\d\d):(\d\d)\.(\d\d\d) ", line)
        if not m or not any(k in line for k in keys):
            continue
        h, mi, sec, milli = map(int, m.groups())
        t = datetime.datetime(day.year, day.month, day.day, h, mi, sec, milli * 1000, datetime.timezone.utc)
        dt = t.timestamp() * 1000 - kill_ms
        if dt >= -500:
            print(f"    +{dt:7.0f} ms  {line.strip()[:260]}")
    return 0


def first(evts, pred=lambda e: True):
    for e in evts:
        if pred(e):
            return e
    return None


def failover_worker(run_dir, kill_ms, shard, prev_attempt):
    """One JSON line: ms from the kill to worker_lost, shard_reassigned and shard_started (next attempt)."""
    kill_ms, shard, prev_attempt = float(kill_ms), int(shard), int(prev_attempt)
    evts = [e for e in events(run_dir) if ms(e) > kill_ms]
    lost = first(evts, lambda e: e["type"] == "worker_lost")
    re = first(evts, lambda e: e["type"] == "shard_reassigned" and e.get("shard") == shard)
    st = first(evts, lambda e: e["type"] == "shard_started" and e.get("shard") == shard
               and e.get("attempt", 0) > prev_attempt)
    out = {
        "worker_lost_ms": round(ms(lost) - kill_ms) if lost else None,
        "shard_reassigned_ms": round(ms(re) - kill_ms) if re else None,
        "shard_started_ms": round(ms(st) - kill_ms) if st else None,
        "attempt": st.get("attempt") if st else None,
        "new_worker": st.get("worker_id") if st else None,
        "resume_step": re.get("resume_step") if re else None,
        "lost_reason": lost.get("reason") if lost else None,
    }
    print(json.dumps(out))
    return 0


def failover_coordinator(run_dir, kill_ms, step_seen_ms="-"):
    """One JSON line: ms from the kill to run_recovered, the first shard_adopted, and the first step/checkpoint
    event after run_recovered; plus what happened to each shard."""
    kill_ms = float(kill_ms)
    evts = [e for e in events(run_dir) if ms(e) > kill_ms]
    rec = first(evts, lambda e: e["type"] == "run_recovered")
    adopted = [e for e in evts if e["type"] == "shard_adopted"]
    after = [e for e in evts if rec and ms(e) >= ms(rec)]
    prog = first(after, lambda e: e["type"] in ("step", "checkpoint"))
    ck = first(after, lambda e: e["type"] == "checkpoint")
    reassigned = [e for e in evts if e["type"] == "shard_reassigned"]
    # Step events carry the worker's own timestamp, so the ones buffered through the failover are dated before
    # run_recovered; count what the recovered run wrote (file order after run_recovered).
    all_evts = events(run_dir)
    idx = next((i for i, e in enumerate(all_evts) if e["type"] == "run_recovered"), None)
    later_steps = [e for e in all_evts[idx + 1:] if e["type"] == "step"] if idx is not None else []
    gap_steps = [e for e in later_steps if ms(e) < kill_ms + (ms(rec) - kill_ms if rec else 0)]
    out = {
        "run_recovered_ms": round(ms(rec) - kill_ms) if rec else None,
        "first_shard_adopted_ms": round(ms(adopted[0]) - kill_ms) if adopted else None,
        "last_shard_adopted_ms": round(ms(adopted[-1]) - kill_ms) if adopted else None,
        "first_progress_ms": round(ms(prog) - kill_ms) if prog else None,
        "first_progress_type": prog["type"] if prog else None,
        "first_checkpoint_ms": round(ms(ck) - kill_ms) if ck else None,
        "adopted_shards": sorted(e.get("shard") for e in adopted),
        "reassigned_shards": sorted(e.get("shard") for e in reassigned),
        "unclaimed_at_recovery": rec.get("unclaimed_shards") if rec else None,
        "incarnation": rec.get("incarnation") if rec else None,
        "step_events_resumed_seen_ms": None if step_seen_ms in ("-", "") else round(float(step_seen_ms) - kill_ms),
        "step_events_after_recovery": len(later_steps),
        "of_which_dated_before_recovery": len(gap_steps),
    }
    print(json.dumps(out))
    return 0


def failover_report(results_file):
    rows = [json.loads(l) for l in open(results_file) if l.strip()]

    def med(key, kind):
        v = [r[key] for r in rows if r["kind"] == kind and r.get(key) is not None]
        return (statistics.median(v), len(v)) if v else (None, 0)

    for kind, keys, goal_key, goal in (
            ("worker", ("worker_lost_ms", "shard_reassigned_ms", "shard_started_ms"), "shard_started_ms", 10000),
            ("coordinator", ("run_recovered_ms", "first_shard_adopted_ms", "last_shard_adopted_ms",
                             "first_progress_ms", "first_checkpoint_ms", "step_events_resumed_seen_ms"), "first_progress_ms", 20000)):
        rs = [r for r in rows if r["kind"] == kind]
        if not rs:
            continue
        print(f"\n{kind} SIGKILL, ms after the kill:")
        print(f"{'rep':>3} " + " ".join(f"{k:>28}" for k in keys))
        for r in rs:
            print(f"{r['rep']:>3} " + " ".join(f"{str(r.get(k)):>28}" for k in keys))
        print("med " + " ".join(f"{str(med(k, kind)[0]):>28}" for k in keys))
        m, n = med(goal_key, kind)
        worst = max((r[goal_key] for r in rs if r.get(goal_key) is not None), default=None)
        missing = sum(1 for r in rs if r.get(goal_key) is None)
        print(f"goal {goal_key} <= {goal} ms: median {m}, worst {worst}, samples {n}/{len(rs)}"
              f"{' (' + str(missing) + ' never recovered)' if missing else ''} -> "
              f"{'met' if m is not None and not missing and worst <= goal else 'NOT met'}")
    return 0


def sync_report(results_dir, warmup="2"):
    """bench/sync.sh: one line per (params, workers) from every shard's sync-bench.json under results_dir/<case>/."""
    warmup = int(warmup)
    print("| parameters | workers | rounds (all workers) | round p50 | round p90 | Kryo write+read of one vector | "
          "coordinator sum+mean | p50 / Kryo | p50 / sum | rounds without an average |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case in sorted(os.listdir(results_dir), key=lambda c: [int(x) for x in c.split("-")[1:]]):
        shards = []
        for root, _, files in os.walk(os.path.join(results_dir, case)):
            if "sync-bench.json" in files:
                with open(os.path.join(root, "sync-bench.json")) as f:
                    shards.append(json.load(f))
        if not shards:
            print(f"| {case}: no results |")
            continue
        rounds = [t for s in shards for t in s["round_ms"][warmup:]]
        kryo = statistics.median(t for s in shards for t in s.get("kryo_ms", []))
        total = statistics.median(t for s in shards for t in s.get("sum_ms", []))
        p50 = pct(rounds, 50)
        print(f"| {shards[0]['params']:,} | {shards[0]['shards']} | {len(rounds)} | {p50:.1f} ms | {pct(rounds, 90):.1f} ms "
              f"| {kryo:.1f} ms | {total:.1f} ms | {p50 / kryo:.1f}x | {p50 / total:.1f}x "
              f"| {sum(s['unaveraged'] for s in shards)} |")
    return 0


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    sys.exit({
        "free-port": free_port, "wait-workers": wait_workers, "submit": submit, "wait-run": wait_run,
        "shard-worker": shard_worker, "merge-stats": merge_stats, "allgather-report": allgather_report,
        "wait-event": wait_event, "wait-after": wait_after, "log-timeline": log_timeline, "failover-worker": failover_worker,
        "failover-coordinator": failover_coordinator, "failover-report": failover_report, "sync-report": sync_report,
    }[cmd](*args) or 0)
