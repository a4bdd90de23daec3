"""Why Adam on w_hat stalled after a data-aware basis (docs/RESULTS.md, issue 5): on the layer of
tests/python/test_modules.py::test_from_linear_calibration_lowers_output_error, trace Adam's error per step, the
least-squares optimum (unpreconditioned CGLS, long) and strassentile's calibrate (Jacobi-preconditioned CGLS).

    STRASSENTILE_TORCH_LIB=build/lib/libstrassentile_torch.so PYTHONPATH=python .venv/bin/python3 research/scripts/calibration_conditioning_probe.py
"""
import torch
from torch import nn

import strassentile as st
from strassentile import STLLinear

torch.manual_seed(7)
dense = nn.Linear(64, 48)
basis = torch.randn(8, 64)
calib = torch.randn(64, 16, 8) @ basis + 0.1 * torch.randn(64, 16, 64)
held_out = torch.randn(8, 16, 8) @ basis + 0.1 * torch.randn(8, 16, 64)
start = STLLinear.from_linear(dense, None, tile=4, rank=24, init="fit", calibration=calib, steps=0)  # data-aware basis
wh0, ex, d, b = (t.detach().clone() for t in (start.w_hat, start.enc_x, start.dec, start.bias))
y = dense(calib).detach()
forward = lambda wh: st.stl_matmul(calib, wh, ex, d, 4, b, "tile", 48)  # noqa: E731
err = lambda wh: float((forward(wh) - y).norm() / y.norm())  # noqa: E731
print(f"projection E_W(W): {err(wh0):.4f} on the calibration inputs")
for lr in (1e-3, 1e-4, 1e-5):
    wh = wh0.clone().requires_grad_(True)
    opt, trace = torch.optim.Adam([wh], lr=lr), []
    for step in range(1, 301):
        opt.zero_grad()
        (forward(wh) - y).pow(2).mean().backward()
        opt.step()
        if step in (1, 2, 5, 10, 50, 300):
            trace.append(f"{step}: {err(wh.detach()):.4f}")
    print(f"Adam lr {lr:g}, error after step " + ", ".join(trace))
# The optimum of the convex w_hat problem, by plain CGLS (slow: the problem is badly conditioned).
op = lambda v: st.stl_matmul(calib, v, ex, d, 4, None, "tile", 48)  # noqa: E731


def adjoint(r):
    v = torch.zeros_like(wh0, requires_grad=True)
    return torch.autograd.grad(op(v), v, r)[0]


x = wh0.clone()
r = (y - b) - op(x)
s = adjoint(r)
p, g = s.clone(), s.pow(2).sum()
for k in range(1, 2001):
    q = op(p)
    alpha = g / q.pow(2).sum()
    x, r = x + alpha * p, r - alpha * q
    s = adjoint(r)
    g_next = s.pow(2).sum()
    p, g = s + (g_next / g) * p, g_next
    if k in (20, 100, 500, 2000):
        print(f"plain CGLS {k} iterations: {err(x):.4f}")
for steps in (5, 20, 50, 300):
    layer = STLLinear.from_linear(dense, None, tile=4, rank=24, init="fit", calibration=calib, steps=steps)
    with torch.no_grad():
        h = float((layer(held_out) - dense(held_out)).norm() / dense(held_out).norm())
    print(f"calibrate (preconditioned CGLS) {steps} iterations: {layer.calibration_error[1]:.4f}, held out {h:.4f}")
