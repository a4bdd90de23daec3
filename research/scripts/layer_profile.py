"""Where an STLLinear's time goes: forward and training-step times against nn.Linear, and the CUDA kernels of five
training steps (torch.profiler, per step), for <4,4,4> r=24 and <4,2,4> r=12 at three widths, plus mode causal at
16384x4096x4096. bf16, every parameter learnable, median of 10 after 3 warm-ups with the L2 flushed before each.

    PYTHONPATH=python STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so python research/scripts/layer_profile.py \
        [MxKxN ...]   (other shapes than the three above)
"""
import sys

import torch
from causal_speed import median_ms  # same folder: the timing both scripts use
from torch.profiler import ProfilerActivity, profile

import strassentile as st

SHAPES = [(16384, 4096, 4096), (16384, 768, 3072), (65536, 384, 1536)]


def main(shapes):
    flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    for m, k, n in shapes:
        x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        layers = [("dense", torch.nn.Linear(k, n, device="cuda", dtype=torch.bfloat16))]
        for tile, rank in (((4, 4, 4), 24), ((4, 2, 4), 12)):
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
            for e in sorted(prof.key_averages(), key=lambda e: -e.device_time_total)[:16]:
                if e.device_time_total > 0:
                    print(f"   {e.device_time_total / 5 / 1000:8.4f} ms x{e.count // 5:<3d} {e.key[:140]}")


if __name__ == "__main__":
    main([tuple(int(v) for v in arg.split("x")) for arg in sys.argv[1:]] or SHAPES)
