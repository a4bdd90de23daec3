# Where the host time of one STLLinear forward goes (bf16, <2,2,2> r = 3, no_grad, small batch so that the host is
# the bound): torch.profiler with CPU activities only (no CUPTI), the ATen calls under strassentile::stl_matmul and
# their self time, against nn.Linear. On a GPU machine with the library built with CUDA:
#   STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so PYTHONPATH=python python research/scripts/host_profile.py
import torch, strassentile as st
from torch.profiler import profile, ProfilerActivity
for k, n in [(768, 3072)]:
    x = torch.randn(64, k, device="cuda", dtype=torch.bfloat16)
    layer = st.STLLinear(k, n, tile=(2, 2, 2), rank=3).cuda().to(torch.bfloat16)
    lin = torch.nn.Linear(k, n).cuda().to(torch.bfloat16)
    for name, f in (("stl", lambda: layer(x)), ("linear", lambda: lin(x))):
        with torch.no_grad():
            for _ in range(50): f()
            torch.cuda.synchronize()
            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(100): f()
                torch.cuda.synchronize()
        print(f"== {name} {k}x{n}: per call, CPU time (us)")
        for ev in sorted(prof.key_averages(), key=lambda ev: -ev.cpu_time_total)[:25]:
            print(f"   total {ev.cpu_time_total / 100:8.1f}  self {ev.self_cpu_time_total / 100:8.1f}  x{ev.count / 100:4.1f}  {ev.key[:90]}")
