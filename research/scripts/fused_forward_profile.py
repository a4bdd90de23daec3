# Where the forward's time goes through STLLinear (no_grad, bf16, <2,2,2> r=3), with the fused products + decode
# kernel and without: per-kernel device time (torch.profiler), back-to-back and L2-flushed event time (as the
# benchmark), host time per call. On a GPU machine with the library built with CUDA:
#   STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so PYTHONPATH=python python research/scripts/fused_forward_profile.py [MxKxN,...]
import statistics, sys, time, torch, strassentile as st
from torch.profiler import profile, ProfilerActivity
flush = torch.empty(256 * 2**20 // 4, device="cuda")
def flushed_ms(fn, reps=10):
    ts = []
    for _ in range(reps):
        flush.zero_(); s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        s.record(); fn(); e.record(); e.synchronize(); ts.append(s.elapsed_time(e))
    return statistics.median(ts)
shapes = sys.argv[1] if len(sys.argv) > 1 else "16384x4096x4096,65536x384x1536,16384x768x3072"
for (m, k, n) in [tuple(int(v) for v in s.split("x")) for s in shapes.split(",")]:
    layer = st.STLLinear(k, n, tile=(2, 2, 2), rank=3).cuda().to(torch.bfloat16)
    x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
    lin = torch.nn.Linear(k, n).cuda().to(torch.bfloat16)
    for fused in (False, True):
        st.set_fused_forward("always" if fused else "never")
        with torch.no_grad():
            f = lambda: layer(x)
            for _ in range(5): f()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(20): f()
            host = (time.perf_counter() - t0) / 20 * 1e3
            torch.cuda.synchronize()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(20): f()
            e.record(); e.synchronize()
            b2b = s.elapsed_time(e) / 20
            fl = flushed_ms(f); dense = flushed_ms(lambda: lin(x))
            print(f"{m}x{k}x{n} fused={fused}: back-to-back {b2b:.3f} ms, flushed {fl:.3f} ms (dense {dense:.3f}), host {host:.3f} ms/call", flush=True)
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                for _ in range(5): flush.zero_(); f()
                torch.cuda.synchronize()
        for ev in sorted(prof.key_averages(), key=lambda ev: -ev.device_time_total):
            if ev.device_time_total > 0 and "zero" not in ev.key and "fill" not in ev.key:
                print(f"   {ev.device_time_total / ev.count:9.1f} us x{ev.count:3d}  {ev.key[:110]}")
st.set_fused_forward("auto")
