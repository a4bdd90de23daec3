# Times the per-step 2:4 mask of one width-4096 MLP weight (16384x4096, fp32) on the GPU: torch.topk over each group
# of four against the elementwise rank count that the lab's sparse24_mask runs (research/baselines/baseline_linear.cpp
# and strassentile_lab.baseline_layers: the same comparisons and tie rule, here returning the weight's dtype).
# CUDA events, 3 warm-ups, mean of 10.   Run: python research/scripts/sparse24_mask_bench.py
import torch
w = torch.randn(16384, 4096, device="cuda")
def topk_mask(w):
    m = w.abs().reshape(w.shape[0], -1, 4)
    keep = m.topk(2, -1, largest=True, sorted=False)[1]
    return torch.zeros_like(m).scatter_(-1, keep, 1.0).reshape(w.shape)
def rank_mask(w):  # the lab's sparse24_mask
    v = w.abs().reshape(w.shape[0], -1, 4).unbind(-1)
    keep = []
    for i in range(4):
        beaten_by = torch.zeros_like(v[i], dtype=torch.uint8)
        for j in range(4):
            if j != i:
                beaten_by += (v[j] >= v[i]) if j < i else (v[j] > v[i])
        keep.append(beaten_by < 2)
    return torch.stack(keep, -1).to(w.dtype).reshape(w.shape)
print('entries that differ (ties):', (topk_mask(w) != rank_mask(w)).sum().item())
for f in (topk_mask, rank_mask):
    for _ in range(3): f(w)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10): f(w)
    e.record(); torch.cuda.synchronize()
    print(f.__name__, s.elapsed_time(e) / 10, "ms per 67M-weight layer")
