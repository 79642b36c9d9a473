#!/usr/bin/env python3
"""torch.distributed all_to_all_single (NCCL) on the exchanges `switchyard bench a2a` times.

Run by bench a2a's rank 0 as
    python3 -m torch.distributed.run --standalone --nproc-per-node N torch_a2a_reference.py CASES
where CASES is a JSON file: {"warmup", "iters", "cases": [{"dtype", "tokens",
"dispatch_row_bytes", "combine_row_bytes", "counts": [[rows rank r sends rank p]]}]} — the same
seeded, deduplicated counts switchyard's ranks exchanged. Per case: dispatch (u8 rows of the
dispatch payload) and combine (the reverse, bf16 rows), each timed with CUDA events after a
barrier and a small all_reduce that lines the GPUs up; medians over iterations, max over ranks.
Rank 0 prints one JSON line: {"torch_a2a": [{"dtype", "tokens", "dispatch_us", "combine_us"}]}.
"""
import json
import os
import statistics
import sys

import torch
import torch.distributed as dist


def timed_us(fn, line_up):
    dist.barrier(device_ids=[line_up.device.index])
    dist.all_reduce(line_up)
    start = torch.cuda.Event(enable_timing=True)
    end = torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) * 1e3


def run_case(case, rank, world, warmup, iters, device, line_up):
    counts = case["counts"]
    send_counts = counts[rank]
    recv_counts = [counts[p][rank] for p in range(world)]
    drow, crow = case["dispatch_row_bytes"], case["combine_row_bytes"]
    d_send = torch.zeros(sum(send_counts), drow, dtype=torch.uint8, device=device)
    d_recv = torch.empty(sum(recv_counts), drow, dtype=torch.uint8, device=device)
    c_send = torch.zeros(sum(recv_counts), crow // 2, dtype=torch.bfloat16, device=device)
    c_recv = torch.empty(sum(send_counts), crow // 2, dtype=torch.bfloat16, device=device)
    dispatch, combine = [], []
    for i in range(warmup + iters):
        d = timed_us(lambda: dist.all_to_all_single(d_recv, d_send, recv_counts, send_counts),
                     line_up)
        c = timed_us(lambda: dist.all_to_all_single(c_recv, c_send, send_counts, recv_counts),
                     line_up)
        if i >= warmup:
            dispatch.append(d)
            combine.append(c)
    worst = torch.tensor([statistics.median(dispatch), statistics.median(combine)],
                         dtype=torch.float64, device=device)
    dist.all_reduce(worst, op=dist.ReduceOp.MAX)
    return worst.tolist()


def main():
    spec = json.load(open(sys.argv[1]))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    torch.cuda.set_device(device)
    dist.init_process_group("nccl")
    line_up = torch.zeros(1, device=device)
    rows = []
    for case in spec["cases"]:
        dispatch_us, combine_us = run_case(case, rank, world, spec["warmup"], spec["iters"],
                                           device, line_up)
        rows.append({"dtype": case["dtype"], "tokens": case["tokens"],
                     "dispatch_us": dispatch_us, "combine_us": combine_us})
    if rank == 0:
        print(json.dumps({"torch_a2a": rows}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
