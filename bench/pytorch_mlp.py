#!/usr/bin/python3
"""The PyTorch side of bench/djl-vs-pytorch.sh, and the data both sides train on.

  pytorch_mlp.py make-data DIR SAMPLES SEED
      Gaussian blobs (10 classes, 784 features; each class a centre drawn in [-2, 2] per feature, a sample its
      centre plus unit noise), quantised to tenths and written twice with the same values: DIR/blobs.csv (integers,
      features then the label; what DjlTrainer reads with dataset.format=csv) and DIR/blobs.x.f32 + DIR/blobs.y.i64
      (raw little-endian, what this script and the djl-forward variant read).

  pytorch_mlp.py serve DIR THREADS STEPS WARMUP_STEPS
      Loads the data, sets the thread counts, prints one line "READY {json}" with the versions and the thread counts,
      then for every line "VARIANT" on stdin trains a fresh MLP 784-256-128-10 (ReLU) with plain SGD for STEPS steps
      of batch 256 (epochs of seeded shuffles of the whole set, as DjlTrainer visits a shard) and prints one line
      "RESULT {json}": samples/s over the steps after the first WARMUP_STEPS, the median step time, and per-phase
      mean times.

Variants (both PyTorch eager, the default torch.optim.SGD, zero_grad(set_to_none=True)):
  torch-per-sample  what DjlTrainer(config, true) does: cross_entropy(reduction='none'), the per-sample losses and the
                    predicted classes (argmax) copied out to numpy arrays, their mean back-propagated, mean.item()
  torch-reduced     what DjlTrainer(config, false) does: cross_entropy (mean), loss.item()
  torch-forward     the forward pass alone under no_grad on one fixed batch, and the first layer's GEMM alone

Run it with Debian's /usr/bin/python3 (python3-torch); a pyenv or venv python does not see that package.
"""
import json
import os
import sys
import time

BATCH = 256
FEATURES = 784
CLASSES = 10
HIDDEN = (256, 128)
LR = 0.01


def make_data(out_dir, samples, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.uniform(-2, 2, size=(CLASSES, FEATURES))
    y = rng.integers(0, CLASSES, size=samples).astype(np.int64)
    x = np.rint((centres[y] + rng.standard_normal((samples, FEATURES))) * 10).astype(np.int32)
    os.makedirs(out_dir, exist_ok=True)
    x.astype("<f4").tofile(os.path.join(out_dir, "blobs.x.f32"))
    y.astype("<i8").tofile(os.path.join(out_dir, "blobs.y.i64"))
    rows = np.concatenate([x, y[:, None].astype(np.int32)], axis=1)
    np.savetxt(os.path.join(out_dir, "blobs.csv"), rows, fmt="%d", delimiter=",")


def load(data_dir):
    import numpy as np
    import torch

    x = np.fromfile(os.path.join(data_dir, "blobs.x.f32"), dtype="<f4").reshape(-1, FEATURES)
    y = np.fromfile(os.path.join(data_dir, "blobs.y.i64"), dtype="<i8")
    # standardised per feature as DjlTrainer's PreparedData does (population std, constant features left at 0)
    mean = x.astype(np.float64).mean(axis=0)
    std = x.astype(np.float64).std(axis=0)
    scale = np.where(std > 1e-8, 1 / np.where(std > 1e-8, std, 1), 1.0)
    x = ((x - mean) * scale).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)


def blas_library():
    """The BLAS shared object this process has mapped (Debian's libblas.so.3 is an alternatives link)."""
    with open("/proc/self/maps") as maps:
        libs = {line.split()[-1] for line in maps if "blas" in line.lower() and "/" in line}
    return sorted(os.path.realpath(lib) for lib in libs)


def mlp(torch):
    layers, width = [], FEATURES
    for units in HIDDEN:
        layers += [torch.nn.Linear(width, units), torch.nn.ReLU()]
        width = units
    layers.append(torch.nn.Linear(width, CLASSES))
    return torch.nn.Sequential(*layers)


def train(torch, x, y, variant, steps, warmup_steps, round_seed):
    import torch.nn.functional as F

    if variant == "torch-forward":
        return forward_only(torch, x, steps, warmup_steps, round_seed)
    per_sample = variant == "torch-per-sample"
    if not per_sample and variant != "torch-reduced":
        raise ValueError(f"unknown variant {variant!r}: torch-per-sample, torch-reduced or torch-forward")
    torch.manual_seed(round_seed)
    model = mlp(torch)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    n = x.shape[0]
    steps_per_epoch = (n + BATCH - 1) // BATCH
    generator = torch.Generator().manual_seed(round_seed)
    phases = dict(batch=0.0, forward=0.0, loss=0.0, backward=0.0, optimizer=0.0)
    order = offered = None
    clock = time.perf_counter
    start = last_loss = None
    step_ms = []
    for step in range(steps):
        if step == warmup_steps:
            start = clock()
            phases = dict.fromkeys(phases, 0.0)
        t0 = clock()
        if step % steps_per_epoch == 0:
            order = torch.randperm(n, generator=generator)
        lo = (step % steps_per_epoch) * BATCH
        idx = order[lo:lo + BATCH]
        xb = x.index_select(0, idx)
        yb = y.index_select(0, idx)
        t1 = clock()
        logits = model(xb)
        t2 = clock()
        if per_sample:
            losses = F.cross_entropy(logits, yb, reduction="none")
            loss = losses.mean()
            offered = losses.detach().numpy().copy()  # DjlTrainer copies them to a float[] for the tracker
            predicted = logits.argmax(1).numpy().copy()  # and the predicted classes, offered with them
            last_loss = loss.item()
        else:
            loss = F.cross_entropy(logits, yb)
            last_loss = loss.item()
        t3 = clock()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        t4 = clock()
        optimizer.step()
        t5 = clock()
        for name, dt in (("batch", t1 - t0), ("forward", t2 - t1), ("loss", t3 - t2), ("backward", t4 - t3),
                         ("optimizer", t5 - t4)):
            phases[name] += dt
        if step >= warmup_steps:
            step_ms.append((t5 - t0) * 1e3)
    seconds = clock() - start
    return result(variant, steps - warmup_steps, seconds, step_ms, phases, last_loss=last_loss,
                  offered_per_step=0 if offered is None else len(offered))


def forward_only(torch, x, steps, warmup_steps, round_seed):
    """The model's forward pass alone, without autograd, on one fixed batch: the engine's compute (BLAS, ReLU)
    without the training loop. Also times the first layer's GEMM alone (256x784 by 784x256)."""
    torch.manual_seed(round_seed)
    model = mlp(torch)
    xb = x[:BATCH].clone()
    w1t = model[0].weight.detach().t().contiguous()
    clock = time.perf_counter
    phases = dict(forward=0.0, gemm_784x256=0.0)
    step_ms = []
    with torch.no_grad():
        for step in range(steps):
            if step == warmup_steps:
                start = clock()
                phases = dict.fromkeys(phases, 0.0)
            t0 = clock()
            model(xb)
            t1 = clock()
            torch.mm(xb, w1t)
            t2 = clock()
            phases["forward"] += t1 - t0
            phases["gemm_784x256"] += t2 - t1
            if step >= warmup_steps:
                step_ms.append((t1 - t0) * 1e3)
    seconds = clock() - start
    return result("torch-forward", steps - warmup_steps, seconds, step_ms, phases)


def result(variant, measured, seconds, step_ms, phases, **extra):
    import statistics

    return {
        "side": "pytorch", "variant": variant, "steps": measured, "samples": measured * BATCH,
        "seconds": seconds, "samples_per_s": measured * BATCH / seconds, "step_ms": seconds * 1e3 / measured,
        "median_step_ms": statistics.median(step_ms), "phase_ms": {k: v * 1e3 / measured for k, v in phases.items()},
        **extra,
    }


def serve(data_dir, threads, steps, warmup_steps):
    import torch

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    x, y = load(data_dir)
    torch.mm(x[:BATCH], x[:BATCH].t())  # maps the BLAS library before it is reported
    info = {
        "side": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(), "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "blas": blas_library(), "samples": int(x.shape[0]), "python": sys.version.split()[0],
    }
    print("READY " + json.dumps(info), flush=True)
    rounds = 0
    for line in sys.stdin:
        variant = line.strip()
        if not variant:
            continue
        if variant == "quit":
            break
        rounds += 1
        result = train(torch, x, y, variant, steps, warmup_steps, 1000 + rounds)
        print("RESULT " + json.dumps(result), flush=True)


def main(argv):
    if len(argv) == 4 and argv[0] == "make-data":
        make_data(argv[1], int(argv[2]), int(argv[3]))
    elif len(argv) == 5 and argv[0] == "serve":
        serve(argv[1], int(argv[2]), int(argv[3]), int(argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
