"""Timeline of timed training steps, as the benchmark times them (L2 flushed before each): for nn.Linear and
STLLinear (bf16, <2,2,2> r = 3, every parameter learnable) at 16384x768x3072 and 65536x384x1536, the kernels of the
last of three profiled steps with the GPU idle between them, the longest runtime calls and the strassentile ops' host
spans (torch.profiler, CPU + CUDA: it adds a few µs of host time to every op). Chrome traces into OUT_DIR.

    STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so PYTHONPATH=python python research/scripts/step_timeline.py OUT_DIR
"""
import json
import sys

import torch

import strassentile as st
from torch.profiler import ProfilerActivity, profile
out = sys.argv[1]
flush = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
for m, k, n in [(16384, 768, 3072), (65536, 384, 1536)]:
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
    for name, layer in [("dense", torch.nn.Linear(k, n, device="cuda", dtype=torch.bfloat16)),
                        ("stl", st.STLLinear(k, n, tile=2, rank=3).cuda().to(torch.bfloat16))]:
        def step():
            layer.zero_grad(set_to_none=True); x.grad = None
            y = layer(x); y.backward(torch.ones_like(y))
        for _ in range(5): step()
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(3):
                flush.zero_()
                torch.cuda.synchronize()
                with torch.profiler.record_function("STEP"):
                    step()
                torch.cuda.synchronize()
        path = f"{out}/trace_{name}_{k}.json"
        prof.export_chrome_trace(path)
        ev = json.load(open(path))["traceEvents"]
        steps = sorted([e for e in ev if e.get("name") == "STEP" and e.get("ph") == "X" and e.get("cat") == "user_annotation"], key=lambda e: e["ts"])
        kern = sorted([e for e in ev if e.get("cat") == "kernel"], key=lambda e: e["ts"])
        api = [e for e in ev if e.get("cat") == "cuda_runtime" or e.get("cat") == "cuda_driver"]
        s = steps[-1]; t0, t1 = s["ts"], s["ts"] + s["dur"]
        ks = [e for e in kern if e["ts"] >= t0 and e["ts"] <= t1 + 2000]
        print(f"== {name} {m}x{k}x{n}: host step {s['dur']:.0f} us; kernels {len(ks)}, busy {sum(e['dur'] for e in ks):.0f} us, "
              f"first kernel at +{ks[0]['ts']-t0:.0f}, last ends at +{ks[-1]['ts']+ks[-1]['dur']-t0:.0f} us")
        prev = None
        for e in ks:
            gap = e["ts"] - prev if prev is not None else 0
            print(f"   +{e['ts']-t0:7.0f} gap {gap:6.0f} dur {e['dur']:6.0f}  {e['name'][:90]}")
            prev = e["ts"] + e["dur"]
        aa = sorted([e for e in api if t0 <= e["ts"] <= t1], key=lambda e: -e["dur"])
        print("   API calls in the step:", len(aa), " longest:", ", ".join(f"{e['name']} {e['dur']:.0f}" for e in aa[:8]))
        cpu = sorted([e for e in ev if e.get("cat") == "cpu_op" and t0 <= e["ts"] <= t1 and e["name"].startswith("strassentile")], key=lambda e: e["ts"])
        print("   strassentile ops:", ", ".join(f"{e['name']} at +{e['ts']-t0:.0f} for {e['dur']:.0f}" for e in cpu))
