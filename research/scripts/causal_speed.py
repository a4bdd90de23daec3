"""Mode causal against mode tile and nn.Linear through STLLinear on one CUDA GPU: forward and forward+backward of a
16384x4096x4096 bf16 layer (every parameter learnable), median of 10 after 3 warm-ups, L2 flushed before each.

    PYTHONPATH=python STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so python research/scripts/causal_speed.py
"""
import statistics

import torch

import strassentile as st

M, K, N = 16384, 4096, 4096


def median_ms(fn, flush, reps=10, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        flush.zero_()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    torch.manual_seed(0)
    x = torch.randn(M, K, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    layers = [("dense", torch.nn.Linear(K, N, device="cuda", dtype=torch.bfloat16))]
    layers += [(mode, st.STLLinear(K, N, tile=4, rank=24, mode=mode).cuda().to(torch.bfloat16))
               for mode in ("tile", "causal")]
    for name, layer in layers:
        with torch.no_grad():
            fwd = median_ms(lambda: layer(x), flush)

        def step():
            layer(x).sum().backward()

        fwd_bwd = median_ms(step, flush)
        print(f"{name:7s} M={M} K={K} N={N} bf16: fwd {fwd:.3f} ms, fwd+bwd {fwd_bwd:.3f} ms")


if __name__ == "__main__":
    main()
