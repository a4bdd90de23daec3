"""Where an STLLinear's time goes: forward and training-step times against nn.Linear, and the CUDA kernels of five
training steps (torch.profiler, per step), for <4,4,4> r=24 and <4,2,4> r=12 (or the formats given) at three
widths, plus mode causal <4,4,4> at 16384x4096x4096. bf16, every parameter learnable, median of 10 after 3 warm-ups
with the L2 flushed before each.

    PYTHONPATH=python STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so python research/scripts/layer_profile.py \
        [--formats 2x2x2:3,4x2x4:12] [--keep] [MxKxN ...]   (other formats and shapes than the defaults; --keep:
        the STL layers keep X̂ and Z from the forward for the backward, strassentile.set_keep_for_backward(True))
"""
import sys

import torch
from causal_speed import median_ms  # same folder: the timing both scripts use
from torch.profiler import ProfilerActivity, profile

import strassentile as st

SHAPES = [(16384, 4096, 4096), (16384, 768, 3072), (65536, 384, 1536)]


FORMATS = [((4, 4, 4), 24), ((4, 2, 4), 12)]


def main(shapes, formats):
    flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    for m, k, n in shapes:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        layers = [("dense", torch.nn.Linear(k, n, device="cuda", dtype=torch.bfloat16))]
        for tile, rank in formats:
            layers.append((f"<{tile[0]},{tile[1]},{tile[2]}> r={rank}",
                           st.STLLinear(k, n, tile=tile, rank=rank).cuda().to(torch.bfloat16)))
        if (m, k, n) == SHAPES[0]:
            layers.append(("causal <4,4,4> r=24",
                           st.STLLinear(k, n, tile=4, rank=24, mode="causal").cuda().to(torch.bfloat16)))
        for name, layer in layers:
            def step(layer=layer):
                layer.zero_grad(set_to_none=True)
                x.grad = None
                y = layer(x)
                y.backward(torch.ones_like(y))

            with torch.no_grad():
                fwd = median_ms(lambda: layer(x), flush)
            print(f"== {name} {m}x{k}x{n} bf16: forward {fwd:.3f} ms, training step {median_ms(step, flush):.3f} ms")
            if name == "dense":
                continue
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(5):
                    step()
                torch.cuda.synchronize()
            events = [e for e in prof.key_averages() if e.device_time_total > 0]
            for e in sorted(events, key=lambda e: -e.device_time_total)[:16]:
                print(f"   {e.device_time_total / 5 / 1000:8.4f} ms x{e.count // 5:<3d} {e.key[:140]}")
            # What the kernels add up to per step, against the timed step: the rest is gaps between kernels (launch
            # latency, the host, allocations) and the L2 flush's effect on the timed steps.
            print(f"   kernels in all: {sum(e.device_time_total for e in events) / 5 / 1000:.4f} ms per step")


def parse_formats(text):
    """'2x2x2:3,4x2x4:12' -> [((2, 2, 2), 3), ((4, 2, 4), 12)]"""
    return [(tuple(int(v) for v in tile.split("x")), int(rank))
            for tile, rank in (item.split(":") for item in text.split(","))]


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--keep" in args:  # before --formats, so that either may come first
        st.set_keep_for_backward(True)
        args.remove("--keep")
    formats = FORMATS
    if args[:1] == ["--formats"]:
        formats, args = parse_formats(args[1]), args[2:]
    main([tuple(int(v) for v in arg.split("x")) for arg in args] or SHAPES, formats)
