#!/usr/bin/env python3
"""A small PyTorch trainer for Quarry's process trainer (trainer = process).

It trains an MLP on MNIST-like synthetic data made in this script (28x28 "digits": one noisy prototype per
class; about 5% of the samples carry a wrong label, so they stay hard and show up in hard_examples.jsonl).
It speaks Quarry's JSON-lines protocol on stdout (see examples/README.md):

  {"type":"step", "step", "epoch", "loss", "lr", "sample_ids", "losses"}   per-sample losses, reduction='none'
  {"type":"epoch", ...}, {"type":"eval", ...}, {"type":"checkpoint", "step", "path"}, {"type":"run_completed"}

and reads its shard from the environment Quarry sets: QUARRY_SHARD, QUARRY_FIRST_SAMPLE, QUARRY_SAMPLE_COUNT,
QUARRY_DEVICE, QUARRY_CHECKPOINT_DIR, QUARRY_RESUME_FROM, QUARRY_DISABLE_TELEMETRY. Run it by hand with those
set, or with no environment at all for a one-shard smoke run.
"""
import argparse
import json
import os
import signal
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

IMAGE = 28 * 28
CLASSES = 10


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints (and every epoch end)")
    p.add_argument("--noisy-fraction", type=float, default=0.05, help="fraction of samples with a wrong label")
    p.add_argument("--fail-at-step", type=int, default=int(os.environ.get("TRAIN_FAIL_AT_STEP", "-1")),
                   help="exit with code 3 at this step on a shard's first attempt, to watch Quarry retry it from its "
                        "last checkpoint (default: $TRAIN_FAIL_AT_STEP, else never)")
    return p.parse_args()


def env(name, default=""):
    return os.environ.get(name, default)


def emit(event):
    # One JSON object per line, flushed: Quarry reads stdout line by line and watches for silence.
    print(json.dumps(event, separators=(",", ":")), flush=True)


def log(message):
    # stderr is the human log: Quarry appends it to <run dir>/logs/<shard>.log.
    print(message, file=sys.stderr, flush=True)


def torch_device(quarry_device):
    if quarry_device.startswith("gpu") and torch.cuda.is_available():
        index = quarry_device.split(":", 1)[1] if ":" in quarry_device else "0"
        return torch.device("cuda:" + index)
    return torch.device("cpu")


def make_data(first_sample, sample_count, seed, noisy_fraction):
    """Deterministic per global sample id, so any shard split sees the same dataset."""
    ids = torch.arange(first_sample, first_sample + sample_count, dtype=torch.int64)
    prototypes = torch.rand(CLASSES, IMAGE, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    # A cheap integer hash of (id, seed) for labels and label noise, independent of the shard layout. The tensor
    # product wraps around in int64 (as C does); the seed's term is reduced to 63 bits in Python first, because a
    # Python int past int64 cannot enter a tensor operation ("Overflow when unpacking long").
    increment = (seed * 1442695040888963407) & 0x7FFFFFFFFFFFFFFF
    h = (ids * 6364136223846793005 + increment) & 0x7FFFFFFFFFFFFFFF
    labels = (h >> 16) % CLASSES
    noise_gen = torch.Generator().manual_seed(seed * 7919 + first_sample)
    images = prototypes[labels] + 0.8 * torch.randn(sample_count, IMAGE, generator=noise_gen)
    noisy = ((h >> 40) % 10_000).float() < noisy_fraction * 10_000
    targets = torch.where(noisy, (labels + 1 + (h >> 8) % (CLASSES - 1)) % CLASSES, labels)
    return ids, images, targets


def save_checkpoint(checkpoint_dir, step, epoch, model, optimizer):
    """Writes <checkpoint_dir>/step-<N>/state.pt atomically; Quarry resumes the next attempt from that directory."""
    directory = os.path.join(checkpoint_dir, "step-%d" % step)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, "state.pt.tmp")
    torch.save({"step": step, "epoch": epoch, "model": model.state_dict(), "optimizer": optimizer.state_dict()}, tmp)
    os.replace(tmp, os.path.join(directory, "state.pt"))
    emit({"type": "checkpoint", "step": step, "path": "step-%d" % step})


def main():
    args = parse_args()
    shard = int(env("QUARRY_SHARD", "0"))
    first_sample = int(env("QUARRY_FIRST_SAMPLE", "0"))
    sample_count = int(env("QUARRY_SAMPLE_COUNT", "2000"))
    checkpoint_dir = env("QUARRY_CHECKPOINT_DIR", "checkpoints")
    resume_from = env("QUARRY_RESUME_FROM")
    fast_mode = env("QUARRY_DISABLE_TELEMETRY").lower() == "true"
    device = torch_device(env("QUARRY_DEVICE", "cpu"))

    stopping = []
    # Quarry stops a shard with SIGTERM (SIGKILL after process.grace): finish the current step and leave.
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))

    torch.manual_seed(args.seed)
    ids, images, targets = make_data(first_sample, sample_count, args.seed, args.noisy_fraction)
    images, targets = images.to(device), targets.to(device)
    model = nn.Sequential(nn.Linear(IMAGE, 128), nn.ReLU(), nn.Linear(128, CLASSES)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    steps_per_epoch = (sample_count + args.batch_size - 1) // args.batch_size
    total_steps = steps_per_epoch * args.epochs

    step = 0
    if resume_from:
        state = torch.load(os.path.join(resume_from, "state.pt"), map_location=device)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        log("shard %d: resumed from %s at step %d" % (shard, resume_from, step))

    # A held-out slice of the shard (the last 10%, by position) for the per-epoch evaluation.
    eval_size = max(1, sample_count // 10)
    order = None
    order_epoch = -1
    epoch_loss_sum = 0.0
    last_time = time.monotonic()
    first_attempt = env("QUARRY_ATTEMPT", "1") == "1"
    while step < total_steps and not stopping:
        if step == args.fail_at_step and first_attempt:
            log("shard %d: failing at step %d on purpose (--fail-at-step)" % (shard, step))
            return 3
        epoch, cursor = divmod(step, steps_per_epoch)
        if epoch != order_epoch:
            # Seeded per (seed, shard, epoch): a resumed shard visits the same batches as an uninterrupted one.
            order = torch.randperm(sample_count, generator=torch.Generator().manual_seed(args.seed * 1000 + shard * 31 + epoch))
            order_epoch = epoch
        batch = order[cursor * args.batch_size:(cursor + 1) * args.batch_size]
        model.train()
        logits = model(images[batch])
        per_sample = F.cross_entropy(logits, targets[batch], reduction="none")
        loss = per_sample.mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        now = time.monotonic()
        loss_value = loss.item()
        epoch_loss_sum += loss_value
        emit({"type": "step", "step": step, "epoch": epoch, "loss": loss_value, "lr": optimizer.param_groups[0]["lr"],
              "samples_per_sec": len(batch) / max(now - last_time, 1e-9),
              "sample_ids": ids[batch].tolist(), "losses": per_sample.detach().cpu().tolist()})
        last_time = now

        step += 1
        epoch_end = step % steps_per_epoch == 0
        if epoch_end:
            emit({"type": "epoch", "step": step - 1, "epoch": epoch, "mean_loss": epoch_loss_sum / steps_per_epoch})
            epoch_loss_sum = 0.0
            if not fast_mode:
                # Fast mode skips the evaluation pass: Quarry would drop its event anyway.
                model.eval()
                with torch.no_grad():
                    held_out = slice(sample_count - eval_size, sample_count)
                    eval_logits = model(images[held_out])
                    val_loss = F.cross_entropy(eval_logits, targets[held_out]).item()
                    val_accuracy = (eval_logits.argmax(1) == targets[held_out]).float().mean().item()
                emit({"type": "eval", "step": step - 1, "epoch": epoch, "val_loss": val_loss, "val_accuracy": val_accuracy})
                log("shard %d epoch %d: val_loss %.4f val_accuracy %.3f" % (shard, epoch, val_loss, val_accuracy))
        if epoch_end or step % args.checkpoint_every == 0:
            save_checkpoint(checkpoint_dir, step, step // steps_per_epoch, model, optimizer)

    if stopping:
        log("shard %d: stopped at step %d" % (shard, step))
        return 0
    emit({"type": "run_completed"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
