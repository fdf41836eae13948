#!/usr/bin/env python3
"""bench/allreduce.sh's reference: torch.distributed.all_reduce (Gloo, TCP on 127.0.0.1) between WORKERS processes.

    gloo_allreduce.py FLOATS WORKERS ROUNDS WARMUP PORT

Every rank times each round (a float32 tensor of FLOATS elements, SUM, from the call to its return) and prints
"round_ms RANK I T" lines; allreduce.sh takes the slowest rank per round and the median over rounds, as for the ring.
Debian's python3-torch (/usr/bin/python3), one intra-op thread per process (the ring's JVMs reduce on one thread too).
"""
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def rank_main(rank, floats, workers, rounds, warmup, port):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=workers)
    base = torch.arange(floats, dtype=torch.float32).remainder_(1000).mul_((rank + 1) * 1e-3)
    tensor = base.clone()
    lines = []
    for r in range(warmup + rounds):
        tensor.copy_(base)
        start = time.perf_counter()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        ms = (time.perf_counter() - start) * 1e3
        if r >= warmup:
            lines.append(f"round_ms {rank} {r - warmup} {ms:.3f}")
    dist.barrier()
    # One write per rank (under PIPE_BUF), so the ranks' lines never interleave on the shared pipe.
    os.write(1, ("\n".join(lines) + "\n").encode())
    dist.destroy_process_group()


if __name__ == "__main__":
    floats, workers, rounds, warmup, port = (int(a) for a in sys.argv[1:6])
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.spawn(rank_main, args=(floats, workers, rounds, warmup, port), nprocs=workers, join=True)
