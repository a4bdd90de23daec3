# Host time per STLLinear forward and per training step (forward + backward, every parameter learnable; bf16,
# <2,2,2> r = 3) against nn.Linear, before anything attaches a profiler: the mean wall time of 200 calls issued
# without synchronising, where the GPU runs ahead of nothing (tiny batches, so the host is the bound). On a GPU
# machine with the library built with CUDA:
#   STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so PYTHONPATH=python python research/scripts/host_time.py
import time, torch, strassentile as st

def host_us(fn, calls=200):
    for _ in range(20): fn()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(calls): fn()
    host = (time.perf_counter() - t0) / calls * 1e6
    torch.cuda.synchronize()
    return host

def step(module, x, dy):
    module(x).backward(dy)

for k, n in [(768, 3072), (384, 1536), (4096, 4096)]:
    x = torch.randn(64, k, device="cuda", dtype=torch.bfloat16)
    xg = x.clone().requires_grad_(True)
    dy = torch.randn(64, n, device="cuda", dtype=torch.bfloat16)
    layer = st.STLLinear(k, n, tile=(2, 2, 2), rank=3).cuda().to(torch.bfloat16)
    lin = torch.nn.Linear(k, n).cuda().to(torch.bfloat16)
    row = [f"{k}x{n}:"]
    for grad in (False, True):
        with torch.set_grad_enabled(grad):
            for fused in (True, False):
                st.set_fused_forward(fused)
                row.append(f"stl{'' if fused else '-unfused'}{' grad' if grad else ''} {host_us(lambda: layer(x)):.1f} us")
            row.append(f"linear{' grad' if grad else ''} {host_us(lambda: lin(x)):.1f} us")
    st.set_fused_forward(True)
    row.append(f"stl step {host_us(lambda: step(layer, xg, dy)):.1f} us")
    row.append(f"linear step {host_us(lambda: step(lin, xg, dy)):.1f} us")
    print(", ".join(row), flush=True)
