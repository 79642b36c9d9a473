#!/usr/bin/env python3
"""torch's MoE layer on the GPU, the reference `switchyard bench moe --device cuda` prints
beside its own figures (run as a subprocess, in the same call).

    python3 scripts/reference/torch_moe_reference.py --shape mixtral-8x7b --tokens 1,16,64

The layer is the one DESIGN.md measured: softmax -> top-k -> renormalise on router logits,
sort the (token, expert) slots by expert, torch._grouped_mm for gate_up, SiLU-and-mul,
torch._grouped_mm for down, router weights, index_add back to the tokens. bf16 weights
synthesized on the device, 16 layers with different logits per timing round (as the bench
does), median of 5 rounds. Prints one line per token count:

    result TOKENS EAGER_US GRAPH_US

GRAPH_US is the same layer replayed from a CUDA graph, or 0 when torch could not capture it.
"""
import argparse
import sys

SHAPES = {
    "mixtral-8x7b": (8, 2, 4096, 14336),
    "qwen3-30b-a3b": (128, 8, 2048, 768),
    "deepseek-v3": (256, 8, 7168, 2048),
}
VARIANTS = 16
ALIGN = 16  # group sizes some torch versions' _grouped_mm require


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", required=True, choices=sorted(SHAPES))
    parser.add_argument("--tokens", default="1,16,64,256,4096")
    args = parser.parse_args()
    try:
        import torch
    except ImportError as e:
        print(f"torch is not installed ({e})")
        return 0
    if not torch.cuda.is_available() or not hasattr(torch, "_grouped_mm"):
        print("torch has no CUDA device or no torch._grouped_mm")
        return 0
    experts, k, hidden, inter = SHAPES[args.shape]
    dev = torch.device("cuda")
    gen = torch.Generator(device=dev).manual_seed(0)
    w1 = (torch.rand(experts, 2 * inter, hidden, device=dev, generator=gen, dtype=torch.bfloat16) * 2 - 1) * (3 / hidden) ** 0.5
    w2 = (torch.rand(experts, hidden, inter, device=dev, generator=gen, dtype=torch.bfloat16) * 2 - 1) * (3 / inter) ** 0.5
    w1t, w2t = w1.transpose(-2, -1), w2.transpose(-2, -1)  # [E, K, N] views, K-major

    def layer(x, logits, padded):
        t = x.shape[0]
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
        top_w, top_i = torch.topk(probs, k, dim=-1)
        top_w = top_w / top_w.sum(dim=-1, keepdim=True)
        flat = top_i.reshape(-1)
        order = torch.argsort(flat, stable=True)
        token = order // k
        counts = torch.zeros(experts, device=dev, dtype=torch.int32).scatter_add_(
            0, flat, torch.ones_like(flat, dtype=torch.int32))
        if not padded:
            offs = torch.cumsum(counts, 0, dtype=torch.int32)
            h = torch._grouped_mm(x[token], w1t, offs=offs)
            a = torch.nn.functional.silu(h[:, :inter]) * h[:, inter:]
            y = torch._grouped_mm(a, w2t, offs=offs)
        else:  # each group padded to ALIGN rows, padding rows zero
            padded_counts = (counts + ALIGN - 1) // ALIGN * ALIGN
            end = torch.cumsum(padded_counts, 0, dtype=torch.int32)
            start = (end - padded_counts).long()
            first = (torch.cumsum(counts, 0) - counts).long()
            e_sorted = flat[order]
            dest = start[e_sorted] + torch.arange(t * k, device=dev) - first[e_sorted]
            xs = torch.zeros(t * k + ALIGN * experts, hidden, device=dev, dtype=x.dtype)
            xs[dest] = x[token]
            h = torch._grouped_mm(xs, w1t, offs=end)
            a = torch.nn.functional.silu(h[:, :inter]) * h[:, inter:]
            y = torch._grouped_mm(a, w2t, offs=end)[dest]
        y = y * top_w.reshape(-1)[order].unsqueeze(1).to(y.dtype)
        out = torch.zeros_like(x)
        out.index_add_(0, token, y)
        return out

    padded = False
    try:
        x = torch.randn(3, hidden, device=dev, dtype=torch.bfloat16)
        layer(x, torch.randn(3, experts, device=dev), False)
        torch.cuda.synchronize()
    except RuntimeError as e:
        print(f"unpadded groups refused ({str(e).splitlines()[0]}); padding groups to {ALIGN}")
        padded = True

    def time_it(fn, rounds=5):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        fn()
        torch.cuda.synchronize()
        start.record(); fn(); stop.record(); torch.cuda.synchronize()
        reps = max(1, min(50, int(40 / max(start.elapsed_time(stop), 1e-3))))
        times = []
        for _ in range(rounds):
            start.record()
            for _ in range(reps):
                fn()
            stop.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(stop) * 1e3 / (reps * VARIANTS))
        return sorted(times)[len(times) // 2]

    def measure(t):
        x = torch.randn(t, hidden, device=dev, dtype=torch.bfloat16)
        logits = [torch.rand(t, experts, device=dev) * 4 - 2 for _ in range(VARIANTS)]

        def run_all():
            for lg in logits:
                layer(x, lg, padded)

        with torch.no_grad():
            eager = time_it(run_all)
            graph_us = 0.0
            try:
                side = torch.cuda.Stream()
                side.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(side):
                    run_all()
                torch.cuda.current_stream().wait_stream(side)
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    run_all()
                graph_us = time_it(g.replay)
            except Exception as e:  # noqa: BLE001 - any capture failure just means "no graph"
                print(f"tokens {t}: no CUDA graph ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
        print(f"result {t} {eager:.2f} {graph_us:.2f}", flush=True)

    for t in [int(v) for v in args.tokens.split(",")]:
        try:
            measure(t)
        except Exception as e:  # noqa: BLE001 - report and go on with the next size
            print(f"tokens {t}: failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
        torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
