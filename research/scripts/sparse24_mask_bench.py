# Times the per-step 2:4 mask of one width-4096 MLP weight (16384x4096, fp32) on the GPU: torch.topk over each group
# of four against the lab's elementwise rank count (strassentile_lab.baseline_layers.sparse24_mask, the same
# comparisons and tie rule as the C++ sparse24_mask that SR-STE recomputes every step), both returning the weight's
# dtype. CUDA events, 3 warm-ups, mean of 10.
#   PYTHONPATH=research/python python research/scripts/sparse24_mask_bench.py
import torch
from strassentile_lab.baseline_layers import sparse24_mask

w = torch.randn(16384, 4096, device="cuda")
def topk_mask(w):
    m = w.abs().reshape(w.shape[0], -1, 4)
    keep = m.topk(2, -1, largest=True, sorted=False)[1]
    return torch.zeros_like(m).scatter_(-1, keep, 1.0).reshape(w.shape)
def rank_mask(w):  # the lab's sparse24_mask
    return sparse24_mask(w).to(w.dtype)
print('entries that differ (ties):', (topk_mask(w) != rank_mask(w)).sum().item())
for f in (topk_mask, rank_mask):
    for _ in range(3): f(w)
    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    s.record()
    for _ in range(10): f(w)
    e.record(); torch.cuda.synchronize()
    print(f.__name__, s.elapsed_time(e) / 10, "ms per 67M-weight layer")
