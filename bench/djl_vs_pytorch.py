#!/usr/bin/python3
"""The alternation and the report of bench/djl-vs-pytorch.sh (run that; it installs, builds and makes the data).

Starts the DJL side (io.quarry.bench.DjlThroughput in benchmarks.jar) and the PyTorch side (pytorch_mlp.py serve) once,
both with the same intra-op thread count (and 1 inter-op thread, OMP_NUM_THREADS set to match), runs one warm-up
round of every variant, then ROUNDS rounds in which every variant trains once, one at a time (the other side waits on
its standard input), the order reversed every other round. Prints each round, then the medians, the ratios and the
per-sample-loss overhead as markdown; RAW_OUT=FILE keeps every result line.

  djl_vs_pytorch.py JAR DATA_DIR THREADS ROUNDS STEPS WARMUP_STEPS VARIANTS
"""
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BATCH_SIZE = 256


class Side:
    def __init__(self, name, argv, env, log_path):
        self.name = name
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     text=True, bufsize=1)
        self.ready = self._await("READY ")

    def _await(self, prefix):
        for line in self.proc.stdout:
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
            self.log.write(line)  # anything else on stdout (a library's chatter) goes to the log
        self.log.flush()
        raise RuntimeError(f"{self.name} side exited (status {self.proc.wait()}) before '{prefix.strip()}'; "
                           f"its log: {self.log.name}")

    def run(self, variant):
        self.proc.stdin.write(variant + "\n")
        self.proc.stdin.flush()
        return self._await("RESULT ")

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.log.close()


TICK = os.sysconf("SC_CLK_TCK")


def busy_ticks():
    """CPU time (clock ticks) the whole machine has spent busy: /proc/stat's first line less idle and iowait."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:9]]
    return sum(ticks) - ticks[3] - ticks[4]


def process_ticks(pid):
    """User + system CPU time (clock ticks) of a process, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_for_quiet(max_cores, max_wait_s):
    """Waits (at most max_wait_s) until the machine's other work uses under max_cores over 2 s; both sides are idle
    then, so what is busy is someone else's. Returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait_s:
        b0, t0 = busy_ticks(), time.monotonic()
        time.sleep(2)
        if (busy_ticks() - b0) / TICK / (time.monotonic() - t0) < max_cores:
            break
    return time.monotonic() - start


def describe(result):
    if result["variant"] == "trainer-pairs":
        return ("per-sample vs reduced median step ms, by pair: " + ", ".join(
            f"{a:.2f}/{b:.2f}" for a, b in zip(result["per_sample_median_step_ms"], result["reduced_median_step_ms"]))
            + f"; tracker offer {result['offer_us_per_step']:.1f} us/step")
    s = (f"{result['samples_per_s']:9.0f} samples/s  {result['step_ms']:7.2f} ms/step"
         f"  median step {result['median_step_ms']:.2f} ms")
    if "epoch_end_share" in result:
        s += (f"  (epoch ends {100 * result['epoch_end_share']:.1f}%,"
              f" {result['gc_count']} GCs, direct buffers peak {result['direct_buffer_peak_mb']:.0f} MB)")
    elif "phase_ms" in result:
        s += "  " + " ".join(f"{k} {v:.2f}" for k, v in result["phase_ms"].items())
    return s


def main(argv):
    if len(argv) != 7:
        sys.exit(__doc__)
    jar, data_dir, threads, rounds, steps, warmup, variants = argv
    threads, rounds, steps, warmup = int(threads), int(rounds), int(steps), int(warmup)
    variants = variants.split(",")
    log_dir = os.environ.get("LOG_DIR", "/tmp")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    java_opts = os.environ.get("BENCH_JAVA_OPTS", "").split()
    quiet_cores = float(os.environ.get("QUIET_CORES", "0.3"))
    quiet_wait_s = float(os.environ.get("QUIET_WAIT_S", "120"))
    djl_env = dict(env, LD_PRELOAD=os.environ["DJL_PRELOAD"]) if os.environ.get("DJL_PRELOAD") else env
    djl = Side("djl", ["java", *java_opts, "-Dai.djl.offline=true", f"-Dai.djl.pytorch.num_threads={threads}",
                       "-Dai.djl.pytorch.num_interop_threads=1", "-cp", jar, "io.quarry.bench.DjlThroughput",
                       data_dir, str(steps), str(warmup)], djl_env, os.path.join(log_dir, "djl-side.log"))
    torch = Side("pytorch", ["/usr/bin/python3", os.path.join(HERE, "pytorch_mlp.py"), "serve", data_dir,
                             str(threads), str(steps), str(warmup)], env, os.path.join(log_dir, "pytorch-side.log"))
    raw = open(os.environ["RAW_OUT"], "w") if os.environ.get("RAW_OUT") else None
    try:
        for side in (djl, torch):
            print(f"# {side.name}: {json.dumps(side.ready)}")
            if raw:
                raw.write(json.dumps({"ready": side.ready}) + "\n")

        def side_of(v):
            return torch if v.startswith("torch") else djl
        print(f"# {steps} steps of batch 256 per round, the first {warmup} not timed; variants {variants}")
        for v in variants:
            result = side_of(v).run(v)
            print(f"warm-up  {v:17s} {describe(result)}")
        results = {v: [] for v in variants}
        for r in range(1, rounds + 1):
            order = variants if r % 2 == 1 else variants[::-1]
            for v in order:
                waited = wait_for_quiet(quiet_cores, quiet_wait_s) if quiet_wait_s > 0 else 0.0
                side = side_of(v)
                b0, p0, w0 = busy_ticks(), process_ticks(side.proc.pid), time.monotonic()
                result = side.run(v)
                others = (busy_ticks() - b0 - (process_ticks(side.proc.pid) - p0)) / TICK / (time.monotonic() - w0)
                result.update(round=r, others_cores=others, waited_s=waited, ts=time.strftime("%H:%M:%S"))
                results[v].append(result)
                if raw:
                    raw.write(json.dumps(result) + "\n")
                    raw.flush()
                print(f"round {r}  {v:17s} {describe(result)}  others {others:.2f} cores (waited {waited:.0f} s)",
                      flush=True)
        report(results, threads)
    finally:
        djl.close()
        torch.close()
        if raw:
            raw.close()


def report(results, threads):
    """Medians over the rounds of two throughputs per variant: from the wall clock over the timed steps (what a run
    gets) and from the median step time (256 / median step: robust to another process taking the cores for a moment,
    and without the trainer's epoch ends)."""
    def median_of(v, key):
        return statistics.median(r[key] for r in results[v])

    pairs = results.pop("trainer-pairs", None)
    wall = {v: median_of(v, "samples_per_s") for v in results}
    at_median = {v: BATCH_SIZE * 1e3 / median_of(v, "median_step_ms") for v in results}
    print("\n| variant | samples/s per round (wall) | median samples/s (wall) | median ms/step (wall) "
          "| median step ms (median over rounds) | samples/s at the median step | other work (cores, median) |")
    print("|---|---|---|---|---|---|---|")
    for v, rs in results.items():
        per_round = ", ".join(f"{r['samples_per_s']:,.0f}" for r in rs)
        print(f"| {v} | {per_round} | **{wall[v]:,.0f}** | {median_of(v, 'step_ms'):.2f} "
              f"| {median_of(v, 'median_step_ms'):.2f} | **{at_median[v]:,.0f}** "
              f"| {median_of(v, 'others_cores'):.2f} |")

    def paired(a, b, key, f):
        return [f(x[key], y[key]) for x, y in zip(results[a], results[b])]

    def rounds_text(values, fmt):
        return ", ".join(fmt(x) for x in values) + f" (median {fmt(statistics.median(values))})"

    print()
    for djl_v, torch_v in (("trainer", "torch-per-sample"), ("trainer-reduced", "torch-reduced"),
                           ("djl-forward", "torch-forward")):
        if djl_v in results and torch_v in results:
            per_round = paired(djl_v, torch_v, "median_step_ms", lambda x, y: y / x)
            print(f"- {djl_v} / {torch_v} ({threads} threads each): wall **{wall[djl_v] / wall[torch_v]:.3f}**, "
                  f"at the median step **{at_median[djl_v] / at_median[torch_v]:.3f}**; per round at the median step "
                  + rounds_text(per_round, lambda x: f"{x:.3f}"))
    for slow, fast in (("trainer", "trainer-reduced"), ("torch-per-sample", "torch-reduced")):
        if slow in results and fast in results:
            w = median_of(slow, "step_ms") / median_of(fast, "step_ms") - 1
            m = median_of(slow, "median_step_ms") / median_of(fast, "median_step_ms") - 1
            per_round = paired(slow, fast, "median_step_ms", lambda x, y: (x - y) / y)
            print(f"- per-sample losses{' + tracking' if slow == 'trainer' else ''}: {slow} vs {fast} step time: wall "
                  f"**{100 * w:+.1f}%**, median step **{100 * m:+.1f}%**; per round at the median step "
                  + rounds_text(per_round, lambda x: f"{100 * x:+.1f}%"))
    if pairs:
        overhead = [x for r in pairs for x in r["overhead"]]
        per_sample = [x for r in pairs for x in r["per_sample_median_step_ms"]]
        reduced = [x for r in pairs for x in r["reduced_median_step_ms"]]
        q = statistics.quantiles(overhead, n=4)
        print(f"- per-sample losses + tracking, paired short calls (trainer-pairs: {len(overhead)} pairs of "
              f"{pairs[0]['steps_per_call']}-step DjlTrainer.train calls, true/false back to back): median overhead "
              f"**{100 * statistics.median(overhead):+.1f}%** of step time (quartiles {100 * q[0]:+.1f}% .. "
              f"{100 * q[2]:+.1f}%); median step {statistics.median(per_sample):.2f} vs "
              f"{statistics.median(reduced):.2f} ms; of which the tracker offer "
              f"{statistics.median(r['offer_us_per_step'] for r in pairs):.1f} us/step")
    phased = [v for v, rs in results.items() if "phase_ms" in rs[0]]
    if phased:
        names = []
        for v in phased:
            names += [n for n in results[v][0]["phase_ms"] if n not in names]
        print("\n| mean ms/step by phase (median over rounds) | " + " | ".join(names) + " | NDArrays/step |")
        print("|---|" + "---|" * (len(names) + 1))
        for v in phased:
            cells = []
            for n in names:
                values = [r["phase_ms"][n] for r in results[v] if n in r["phase_ms"]]
                cells.append(f"{statistics.median(values):.3f}" if values else "")
            arrays = results[v][0].get("arrays_per_step", "")
            print(f"| {v} | " + " | ".join(cells) + f" | {arrays} |")
    trainers = [v for v in ("trainer", "trainer-reduced") if v in results]
    for v in trainers:
        rs = results[v]
        print(f"- {v}: epoch ends (checkpoint + fsync, empty evaluation) {median_of(v, 'epoch_end_extra_ms'):.1f} ms "
              f"each beyond a median step, {100 * median_of(v, 'epoch_end_share'):.1f}% of the wall time; "
              f"GCs per round {[r['gc_count'] for r in rs]}; direct buffers peak "
              f"{max(r['direct_buffer_peak_mb'] for r in rs):,.0f} MB")
    print(f"\n# done {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, load average "
          f"{open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main(sys.argv[1:])
