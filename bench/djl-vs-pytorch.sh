#!/usr/bin/env bash
# DJL training throughput against PyTorch eager on the same model, batch, data, optimizer and thread count, alternated
# in one session; and what per-sample losses plus hard-example tracking cost DjlTrainer.
#   bench/djl-vs-pytorch.sh [ROUNDS] [STEPS] [VARIANTS]
#   defaults: 9 rounds; 1280 steps per round (10 epochs of the 32768 samples at batch 256), the first 128 (one epoch)
#   not timed; every variant:
#   trainer / trainer-reduced    new DjlTrainer(config, true / false).train(...): the real path (per-sample losses
#                                and predicted classes read back and offered to a HardExampleTracker / the same loss,
#                                only its mean read back, nothing offered)
#   trainer-pairs                8 pairs of 256-step train calls, true and false back to back: the tracking overhead
#   torch-per-sample / -reduced  the same steps in PyTorch eager (bench/pytorch_mlp.py)
#   djl-forward / torch-forward  the model's forward pass alone, no autograd, on one fixed batch, and the first layer's
#                                GEMM alone: the two engines' compute without a training loop
# Model: MLP 784-256-128-10 (ReLU), batch 256, plain SGD lr 0.01, on Gaussian blobs (10 classes, 784 features) written
# by bench/pytorch_mlp.py make-data, read by DjlTrainer as csv and by the other variants as raw floats.
# Samples/s are from the wall clock over each round's timed steps; start-up, data loading and the warm-up are not
# counted. Both sides run as long-lived processes: one warm-up round per variant, then the rounds.
# Environment: THREADS (intra-op threads on both sides, default 2), SAMPLES (32768), BENCH_BUILD=1 (rebuild the jar),
# QUIET_CORES / QUIET_WAIT_S (before each round, wait up to QUIET_WAIT_S, default 120, until other processes use
# under QUIET_CORES, default 0.3, cores; QUIET_WAIT_S=0 never waits),
# RAW_OUT=FILE (every result as JSON lines), BENCH_JAVA_OPTS (JVM options of the DJL side),
# MKL_AS_INTEL=1 (a diagnostic: preload bench/mkl_intel_cpu.c, built with gcc, into the DJL side so that libtorch's MKL
# takes the kernels of the CPU's instruction sets on an AMD processor; see that file).
# Needs Debian's python3-torch and libopenblas0-openmp (without OpenBLAS, torch runs on the reference BLAS, ~20x
# slower); installs them with apt-get when run as root or with password-less sudo, else says what to install.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${1:-9}"
steps="${2:-1280}"
all="trainer,torch-per-sample,trainer-reduced,torch-reduced,trainer-pairs,djl-forward,torch-forward"
variants="${3:-$all}"
threads="${THREADS:-2}"
samples="${SAMPLES:-32768}"
warmup=$(( (samples + 255) / 256 ))
python=/usr/bin/python3   # Debian's: python3-torch lives in its dist-packages, not in a pyenv or venv python
packages=(python3-torch libopenblas0-openmp)

missing=()
"$python" -c 'import torch' 2>/dev/null || missing+=(python3-torch)
dpkg-query -W -f='${Status}' libopenblas0-openmp 2>/dev/null | grep -q 'ok installed' || missing+=(libopenblas0-openmp)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then apt=(apt-get)
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then apt=(sudo apt-get)
  else
    echo "djl-vs-pytorch: missing ${missing[*]}; install them with: sudo apt-get install -y ${packages[*]}" >&2
    exit 1
  fi
  echo "# installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  "${apt[@]}" install -y "${missing[@]}" >&2 ||
    { "${apt[@]}" update >&2 && "${apt[@]}" install -y "${missing[@]}" >&2; }
fi
blas=$("$python" -c 'import torch; torch.mm(torch.ones(64, 64), torch.ones(64, 64))
print(" ".join(sorted({l.split()[-1] for l in open("/proc/self/maps") if "blas" in l.lower() and "/" in l})))')
case "$blas" in
  *openblas*) ;;
  *) echo "djl-vs-pytorch: torch is not on OpenBLAS (mapped: ${blas:-none}); select it with" \
       "'update-alternatives --config libblas.so.3-x86_64-linux-gnu'" >&2; exit 1 ;;
esac

source "$here/bench/build-lib.sh"
need_bench_jar
jar="$bench_jar"
data="$here/bench/target/djl-vs-pytorch-data/$samples"
if [ ! -f "$data/blobs.csv" ]; then
  echo "# writing $samples samples to $data" >&2
  "$python" "$here/bench/pytorch_mlp.py" make-data "$data" "$samples" 7
fi
if [ -n "${MKL_AS_INTEL:-}" ]; then
  export DJL_PRELOAD="$here/bench/target/libmkl_intel_cpu.so"
  gcc -shared -fPIC -O2 -o "$DJL_PRELOAD" "$here/bench/mkl_intel_cpu.c"
fi
logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg), $(java -version 2>&1 | head -1), torch BLAS: $blas"
LOG_DIR="$logs" "$python" "$here/bench/djl_vs_pytorch.py" "$jar" "$data" "$threads" "$rounds" "$steps" "$warmup" \
  "$variants" || { echo "djl-vs-pytorch: failed; the sides' logs:" >&2; tail -n 30 "$logs"/*.log >&2; exit 1; }
