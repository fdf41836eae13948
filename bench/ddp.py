#!/usr/bin/env python3
"""examples/pytorch/ddp_train.py (2 ranks, Gloo on CPU) under Quarry's process trainer and under torchrun, measured
together on this machine, runs interleaved (BENCHMARKS.md: "PyTorch DDP runs").

  /usr/bin/python3 bench/ddp.py [--reps 3] [--epochs 4] [--ranks 2] [--baseline-jar OTHER.jar]
  (from the repository root, after mvn install; --baseline-jar adds a third launcher, Quarry from another build)

Throughput: the script's own train_steps_per_s (steps after the first over their time, so neither the JVM's nor
Python's start-up nor the rendezvous counts), the mean of the ranks, per run; the median over --reps runs of
each launcher, alternating which goes first. Restart: SIGKILL to rank 1 once rank 0 wrote its step-50 checkpoint;
the time from the kill to the restarted group's first step (the later rank's first_step_unix with restart count 1);
torchrun with --max_restarts 1 and its default --monitor_interval.

Quarry's JVM is warm by default: `quarry local --multirun epochs=2,E` runs a 2-epoch warm-up and then the measured
run in one JVM, as a cluster's long-lived JVMs are (--cold: the JVM starts with the measured run; its start-up and
JIT compete with the ranks for this machine's cores). The wall times include the warm-up run.

Quarry: java -jar deploy/target/quarry.jar local --workers 2 examples/pytorch/ddp.conf (its keys: 8000 samples,
batch 64 per rank, checkpoints every 50 steps). torchrun: python3 -m torch.distributed.run --redirects 2 --tee 2
--log_dir DIR --nproc_per_node 2 examples/pytorch/ddp_train.py with the same arguments (Debian's torchrun script
fails at start on Python 3.11; the module runs).
"""
import argparse
import glob
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
JAR = os.path.join(REPO, "deploy", "target", "quarry.jar")
SCRIPT = os.path.join(REPO, "examples", "pytorch", "ddp_train.py")
PYTHON = sys.executable
ARGS = ["--samples", "8000", "--batch-size", "64", "--lr", "0.05", "--seed", "42", "--checkpoint-every", "50"]


def env():
    e = dict(os.environ)
    e["PATH"] = os.path.dirname(PYTHON) + ":" + e.get("PATH", "")
    return e


def rank_process(rank, parent_pid):
    """The pid of ddp_train.py's rank `rank` among this driver's descendants."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read()
            with open("/proc/%s/environ" % pid, "rb") as f:
                environ = b"\0" + f.read()
        except OSError:
            continue
        if b"ddp_train.py" in cmdline and (b"\0RANK=%d\0" % rank) in environ and descends(int(pid), parent_pid):
            return int(pid)
    return None


def descends(pid, ancestor):
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


RANKS = 2
BASELINE_JAR = None
BASELINE_ENV = {}


def launch(launcher, work, epochs, restarts, warm=False):
    if launcher in ("quarry", "baseline"):
        os.symlink(os.path.join(REPO, "examples"), os.path.join(work, "examples"))
        # warm: a sweep of two runs in one JVM, a 2-epoch warm-up and then the measured one (a cluster's JVMs are
        # long-lived: what a run meets there is a warm JVM).
        epochs_key = ["--multirun", "epochs=2,%d" % epochs] if warm else ["epochs=%d" % epochs]
        command = ["java", "-jar", JAR if launcher == "quarry" else BASELINE_JAR, "local", "--workers", str(RANKS), "examples/pytorch/ddp.conf",
                   "process.ranks=%d" % RANKS, "max-attempts=%d" % (restarts + 1)] + epochs_key
    else:
        command = [PYTHON, "-m", "torch.distributed.run", "--redirects", "2", "--tee", "2", "--log_dir",
                   os.path.join(work, "torchrun-logs"), "--nproc_per_node", str(RANKS), "--max_restarts", str(restarts),
                   SCRIPT, "--epochs", str(epochs), "--checkpoint-dir", os.path.join(work, "checkpoints")] + ARGS
    out = open(os.path.join(work, "out.txt"), "w")
    return subprocess.Popen(command, cwd=work, env=dict(env(), **(BASELINE_ENV if launcher == "baseline" else {})),
                            stdout=out, stderr=subprocess.STDOUT)


def rank_logs(launcher, work, warm=False):
    """All the ranks' stderr, as one text (of the measured run of a warm sweep)."""
    if launcher in ("quarry", "baseline"):
        files = glob.glob(os.path.join(work, "runs", "*-1" if warm else "*", "logs", "*.log"))
    else:
        files = [os.path.join(work, "out.txt")]
    return "".join(open(f, errors="replace").read() for f in files)


def checkpoint_written(launcher, work, step):
    pattern = os.path.join(work, "runs", "*", "checkpoints", "0", "attempt-*", "step-%d" % step, "state.pt") \
        if launcher == "quarry" else os.path.join(work, "checkpoints", "step-%d" % step, "state.pt")
    return bool(glob.glob(pattern))


def throughput(launcher, epochs, warm):
    work = tempfile.mkdtemp(prefix="ddp-bench-")
    try:
        started = time.monotonic()
        process = launch(launcher, work, epochs, 0, warm)
        if process.wait(timeout=900) != 0:
            raise SystemExit("%s failed; see %s" % (launcher, work))
        wall = time.monotonic() - started
        rates = [float(m) for m in re.findall(r"train_steps_per_s=([0-9.]+)", rank_logs(launcher, work, warm))]
        if len(rates) != RANKS:
            raise SystemExit("%s: expected %d ranks' train_steps_per_s, got %s (%s)" % (launcher, RANKS, rates, work))
        return statistics.mean(rates), wall
    finally:
        shutil.rmtree(work, ignore_errors=True)


def restart(launcher, epochs):
    work = tempfile.mkdtemp(prefix="ddp-bench-")
    try:
        process = launch(launcher, work, epochs, 1)
        deadline = time.monotonic() + 600
        while not checkpoint_written(launcher, work, 50):
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("%s ended or stalled before the step-50 checkpoint (%s)" % (launcher, work))
            time.sleep(0.05)
        pid = rank_process(1, process.pid)
        if pid is None:
            raise SystemExit("%s: no process of rank 1 found" % launcher)
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        if process.wait(timeout=900) != 0:
            raise SystemExit("%s did not complete after the kill; see %s" % (launcher, work))
        firsts = [float(t) for t, r in re.findall(r"first_step_unix=([0-9.]+) rank=\d+ restart=(\d+)",
                                                  rank_logs(launcher, work)) if r == "1"]
        if len(firsts) != 2:
            raise SystemExit("%s: expected both ranks' first step after the restart, got %s (%s)" % (launcher, firsts, work))
        return max(firsts) - killed
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--restart-reps", type=int, default=2)
    p.add_argument("--cold", action="store_true", help="Quarry's JVM starts with the measured run (default: warm)")
    p.add_argument("--ranks", type=int, default=2,
                   help="ranks of the group (default 2; 1 leaves this 2-core machine a core to spare for the launcher)")
    p.add_argument("--baseline-jar", help="also run Quarry from this jar (another build) in every rep, in rotation")
    p.add_argument("--baseline-env", action="append", default=[], metavar="KEY=VALUE",
                   help="an environment variable for the baseline's JVM only (e.g. QUARRY_PROGRAMS_FIRST=false)")
    args = p.parse_args()
    global RANKS, BASELINE_JAR
    RANKS = args.ranks
    BASELINE_JAR = args.baseline_jar
    BASELINE_ENV.update(kv.split("=", 1) for kv in args.baseline_env)
    if RANKS < 2 and args.restart_reps > 0:
        raise SystemExit("--restart-reps needs a rank 1 to kill: use --ranks 2 or more, or --restart-reps 0")
    launchers = ["quarry", "torchrun"] + (["baseline"] if BASELINE_JAR else [])
    rates = {launcher: [] for launcher in launchers}
    walls = {launcher: [] for launcher in launchers}
    for rep in range(args.reps):
        # Each launcher goes first in turn (with two: Quarry first in even reps, torchrun in odd ones).
        for launcher in launchers[rep % len(launchers):] + launchers[:rep % len(launchers)]:
            rate, wall = throughput(launcher, args.epochs, not args.cold)
            rates[launcher].append(rate)
            walls[launcher].append(wall)
            print("throughput rep %d %-8s %.2f steps/s (wall %.1f s)" % (rep, launcher, rate, wall), flush=True)
    restarts = {"quarry": [], "torchrun": []}
    for rep in range(args.restart_reps):
        for launcher in (["quarry", "torchrun"] if rep % 2 == 0 else ["torchrun", "quarry"]):
            seconds = restart(launcher, 2)
            restarts[launcher].append(seconds)
            print("restart rep %d %-8s %.2f s from SIGKILL to the group's next step" % (rep, launcher, seconds), flush=True)
    q, t = statistics.median(rates["quarry"]), statistics.median(rates["torchrun"])
    print("median steps/s: quarry %.2f, torchrun %.2f, ratio quarry/torchrun %.3f" % (q, t, q / t))
    if BASELINE_JAR:
        b = statistics.median(rates["baseline"])
        print("median steps/s: baseline %.2f (%s %s), ratio baseline/torchrun %.3f, quarry/baseline %.3f"
              % (b, BASELINE_JAR, " ".join("%s=%s" % kv for kv in BASELINE_ENV.items()), b / t, q / b))
        for launcher in ("quarry", "baseline"):
            paired = [x / y for x, y in zip(rates[launcher], rates["torchrun"])]
            print("paired %s/torchrun per rep: median %.3f (%s)" % (launcher, statistics.median(paired),
                                                                    " ".join("%.2f" % r for r in paired)))
    print("median wall s:  quarry %.1f, torchrun %.1f" % (statistics.median(walls["quarry"]), statistics.median(walls["torchrun"])))
    if args.restart_reps > 0:
        print("median restart s: quarry %.2f, torchrun %.2f" % (statistics.median(restarts["quarry"]),
                                                                statistics.median(restarts["torchrun"])))


if __name__ == "__main__":
    main()
