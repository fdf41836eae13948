#!/usr/bin/env python3
"""A complete PyTorch DistributedDataParallel trainer that runs unchanged under torchrun and under Quarry.

Under torchrun:

    python3 -m torch.distributed.run --nproc-per-node 2 examples/pytorch/ddp_train.py --epochs 2

Under Quarry (process.distributed = torch, examples/pytorch/ddp.conf):

    ./quarry local --workers 2 examples/pytorch/ddp.conf

It reads only torchrun's environment to form the group (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT:
init_process_group(init_method="env://")), Gloo on CPU and NCCL on a GPU. Each rank trains its contiguous slice of
the sample ids 0 .. --samples-1 (rank r of W: ids r*N/W .. (r+1)*N/W-1, the split Quarry's shards use, so
QUARRY_FIRST_SAMPLE/QUARRY_SAMPLE_COUNT, when set, say the same). The data is MNIST-like and made in the script
(examples/pytorch/train.py's generator: no download; about 5% wrong labels, the hard examples).

On stdout, every rank speaks Quarry's JSON-lines protocol (examples/README.md): step lines with per-sample losses
(reduction='none'), so Quarry's hard-example mining covers every rank; rank 0 also checkpoints (step-<N>/state.pt in
$QUARRY_CHECKPOINT_DIR, else --checkpoint-dir) and says so. It resumes from $QUARRY_RESUME_FROM, or under torchrun
(no QUARRY_* variables) from the newest step-<N> in --checkpoint-dir, so a torchrun --max-restarts restart resumes too.
An elastic restart (Quarry's process.min-ranks, torchrun's --nnodes MIN:MAX) may resume with another WORLD_SIZE: a
rank's step is one batch of its slice, so the checkpoint's step becomes step * old_world_size // WORLD_SIZE (the same
samples trained by the whole group, rounded down; the step Quarry counts the restart from) and each rank takes its
slice of the new split.
At the end every rank prints its parameter checksum on stderr: "param_checksum rank=R sum=... abs=...".
"""
import argparse
import datetime
import glob
import json
import os
import re
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

IMAGE = 28 * 28
CLASSES = 10


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=8000, help="the dataset's size (Quarry: process.samples)")
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=64, help="per rank")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.0, help="0 = plain SGD")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between rank 0's checkpoints")
    p.add_argument("--checkpoint-dir", default="checkpoints", help="where rank 0 checkpoints without Quarry")
    p.add_argument("--step-delay", type=float, default=0.0, help="seconds to sleep after each step (for fault tests)")
    p.add_argument("--pg-timeout", type=float, default=1800, help="seconds a collective may wait (torch's default)")
    return p.parse_args(argv)


def emit(event):
    print(json.dumps(event, separators=(",", ":")), flush=True)


def log(message):
    print(message, file=sys.stderr, flush=True)


def shard_of(rank, world_size, samples):
    """Rank r's contiguous slice of 0 .. samples-1: Quarry's shard plan (first = r*N/W)."""
    first = rank * samples // world_size
    return first, (rank + 1) * samples // world_size - first


def steps_per_epoch(world_size, samples, batch_size):
    """Every rank takes as many steps as the smallest slice allows (DDP ranks must step together)."""
    smallest = samples // world_size
    return (smallest + batch_size - 1) // batch_size


def make_data(first_sample, sample_count, seed, noisy_fraction=0.05):
    """Deterministic per global sample id (train.py's generator), so any split sees the same dataset."""
    ids = torch.arange(first_sample, first_sample + sample_count, dtype=torch.int64)
    prototypes = torch.rand(CLASSES, IMAGE, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    increment = (seed * 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
    h = (ids * 6364136223846793005 + increment) & 0x7FFFFFFFFFFFFFFF
    labels = (h >> 16) % CLASSES
    # Noise per sample id (not per slice), so the images do not depend on the split either.
    noise = torch.stack([torch.randn(IMAGE, generator=torch.Generator().manual_seed(seed * 7919 + int(i)))
                         for i in ids]) if sample_count else torch.zeros(0, IMAGE)
    images = prototypes[labels] + 0.8 * noise
    noisy = ((h >> 40) % 10_000).float() < noisy_fraction * 10_000
    targets = torch.where(noisy, (labels + 1 + (h >> 8) % (CLASSES - 1)) % CLASSES, labels)
    return ids, images, targets


def make_model(seed, hidden):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(IMAGE, hidden), nn.ReLU(), nn.Linear(hidden, CLASSES))


def batch_positions(rank, epoch, step_in_epoch, sample_count, batch_size, seed):
    """Positions in the rank's slice of one step's batch: a permutation seeded by (seed, rank, epoch)."""
    order = torch.randperm(sample_count, generator=torch.Generator().manual_seed(seed * 1000 + rank * 31 + epoch))
    return order[step_in_epoch * batch_size:(step_in_epoch + 1) * batch_size]


def checksum(model):
    with torch.no_grad():
        params = [p.detach().double().cpu() for p in model.parameters()]
        return sum(float(p.sum()) for p in params), sum(float(p.abs().sum()) for p in params)


def newest_checkpoint(directory):
    found = []
    for path in glob.glob(os.path.join(directory, "step-*", "state.pt")):
        match = re.search(r"step-(\d+)", path)
        if match:
            found.append((int(match.group(1)), os.path.dirname(path)))
    return max(found)[1] if found else ""


def resume_step(step, saved_world_size, world_size):
    """The step to resume at with another world size: the same samples trained by the whole group, rounded down."""
    return step * saved_world_size // world_size


def save_checkpoint(directory, step, world_size, model, optimizer):
    target = os.path.join(directory, "step-%d" % step)
    os.makedirs(target, exist_ok=True)
    tmp = os.path.join(target, "state.pt.tmp")
    torch.save({"step": step, "world_size": world_size, "model": model.state_dict(),
                "optimizer": optimizer.state_dict()}, tmp)
    os.replace(tmp, os.path.join(target, "state.pt"))
    emit({"type": "checkpoint", "step": step, "path": target})


def main(argv=None):
    args = parse_args(argv)
    # torchrun's contract: the group from RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT (env://).
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ["LOCAL_RANK"])
    use_cuda = torch.cuda.is_available() and os.environ.get("QUARRY_DEVICE", "gpu").startswith("gpu")
    device = torch.device("cuda:%d" % local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if use_cuda else "gloo", init_method="env://",
                            timeout=datetime.timedelta(seconds=args.pg_timeout))

    first, count = shard_of(rank, world_size, args.samples)
    if "QUARRY_FIRST_SAMPLE" in os.environ:
        quarry = (int(os.environ["QUARRY_FIRST_SAMPLE"]), int(os.environ["QUARRY_SAMPLE_COUNT"]))
        if quarry != (first, count):
            log("rank %d: Quarry's shard %s differs from RANK/WORLD_SIZE's %s (is --samples process.samples?)"
                % (rank, quarry, (first, count)))
            return 2
    log("rank %d/%d local_rank %d on %s: samples %d..%d, master %s:%s, restart %s"
        % (rank, world_size, local_rank, device, first, first + count - 1, os.environ.get("MASTER_ADDR"),
           os.environ.get("MASTER_PORT"), os.environ.get("TORCHELASTIC_RESTART_COUNT")))

    ids, images, targets = make_data(first, count, args.seed)
    images, targets = images.to(device), targets.to(device)
    model = make_model(args.seed, args.hidden).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    checkpoint_dir = os.environ.get("QUARRY_CHECKPOINT_DIR", args.checkpoint_dir)
    if "QUARRY_CHECKPOINT_DIR" in os.environ:
        resume_from = os.environ.get("QUARRY_RESUME_FROM", "")
    else:
        resume_from = newest_checkpoint(args.checkpoint_dir)
    step = 0
    if resume_from:
        state = torch.load(os.path.join(resume_from, "state.pt"), map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        saved_world_size = state.get("world_size", world_size)
        step = resume_step(state["step"], saved_world_size, world_size)
        log("rank %d: resumed from %s at step %d (checkpoint step %d of world size %d, now %d)"
            % (rank, resume_from, step, state["step"], saved_world_size, world_size))
    ddp = DistributedDataParallel(model, device_ids=[local_rank] if use_cuda else None)

    per_epoch = steps_per_epoch(world_size, args.samples, args.batch_size)
    total_steps = per_epoch * args.epochs
    last_time = time.monotonic()
    started_step, started_time = step, None
    while step < total_steps:
        epoch, cursor = divmod(step, per_epoch)
        batch = batch_positions(rank, epoch, cursor, count, args.batch_size, args.seed).to(device)
        per_sample = F.cross_entropy(ddp(images[batch]), targets[batch], reduction="none")
        loss = per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()  # DDP all-reduces (averages) the gradients here
        optimizer.step()
        now = time.monotonic()
        emit({"type": "step", "step": step, "epoch": epoch, "loss": loss.item(), "lr": args.lr,
              "samples_per_sec": len(batch) / max(now - last_time, 1e-9),
              "sample_ids": ids[batch.cpu()].tolist(), "losses": per_sample.detach().cpu().tolist()})
        last_time = now
        if started_time is None:
            started_time = now
            # For the restart benchmark (bench/ddp.py): when this start of the group trained its first step.
            log("first_step_unix=%.3f rank=%d restart=%s" % (time.time(), rank, os.environ.get("TORCHELASTIC_RESTART_COUNT")))
        step += 1
        if rank == 0 and (step % args.checkpoint_every == 0 or step == total_steps):
            save_checkpoint(checkpoint_dir, step, world_size, model, optimizer)
        if args.step_delay > 0:
            time.sleep(args.step_delay)

    if started_time is not None and step - started_step > 1:
        # Steps after the first, over the time they took: training throughput without start-up and rendezvous.
        log("train_steps_per_s=%.3f rank=%d steps=%d" % ((step - started_step - 1) / (time.monotonic() - started_time),
                                                          rank, step - started_step - 1))
    total, absolute = checksum(model)
    log("param_checksum rank=%d sum=%.12e abs=%.12e steps=%d" % (rank, total, absolute, step))
    dist.barrier()
    dist.destroy_process_group()
    emit({"type": "run_completed"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
