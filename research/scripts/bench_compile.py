"""Step time of a small STL ViT block stack, eager against torch.compile (aot_eager and inductor), and how far the
compiled loss and gradients are from eager's. CPU by default (what docs/TRAINING_GUIDE.md reports); --device cuda
on a GPU machine.

    python3 research/scripts/bench_compile.py --out research/results/perf/compile_cpu.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import strassentile as st  # noqa: E402


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, linear) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = linear(dim, 3 * dim), linear(dim, dim)
        self.fc1, self.fc2 = linear(dim, 4 * dim), linear(4 * dim, dim)

    def forward(self, x):
        b, s, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, s, 3, self.heads, d // self.heads).unbind(2)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + self.proj(att.transpose(1, 2).reshape(b, s, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


def make_model(dim, depth, heads, stl: bool, device):
    torch.manual_seed(0)
    linear = (lambda i, o: st.STLLinear(i, o, tile=4, rank=24)) if stl else nn.Linear
    return nn.Sequential(*[Block(dim, heads, linear) for _ in range(depth)]).to(device)


def time_steps(model, x, steps, device):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times, first = [], None
    for i in range(steps + 1):
        t0 = time.perf_counter()
        loss = model(x).square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if i == 0:
            first = dt  # includes compilation
        else:
            times.append(dt)
    return first, statistics.median(times)


def agreement(model, compiled, x):
    """Max relative difference of loss and of every gradient, compiled vs eager, from the same parameters."""
    out = {}
    for name, m in (("eager", model), ("compiled", compiled)):
        model.zero_grad(set_to_none=True)
        loss = m(x).square().mean()
        loss.backward()
        out[name] = (loss.item(), {n: p.grad.clone() for n, p in model.named_parameters()})
    (le, ge), (lc, gc) = out["eager"], out["compiled"]
    grad_rel = max(((gc[n] - g).abs().max() / g.abs().max().clamp_min(1e-30)).item() for n, g in ge.items())
    return abs(lc - le) / abs(le), grad_rel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1: less sensitive to other load)")
    p.add_argument("--layers", choices=("both", "stl", "dense"), default="both",
                   help="both: dense first, which warms inductor's caches for STL's run")
    p.add_argument("--out")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    x = torch.randn(args.batch, args.tokens, args.dim, device=device)
    rows = []
    for stl in {"both": (False, True), "stl": (True,), "dense": (False,)}[args.layers]:
        for backend in ("eager", "aot_eager", "inductor"):
            model = make_model(args.dim, args.depth, args.heads, stl, device)
            torch._dynamo.reset()
            run = model if backend == "eager" else torch.compile(model, backend=backend, fullgraph=True)
            first, median = time_steps(run, x, args.steps, device)  # first step: compilation included
            loss_rel, grad_rel = (0.0, 0.0) if backend == "eager" else agreement(model, run, x)
            row = {"layers": "STL <4,4,4> r=24" if stl else "nn.Linear", "backend": backend, "first_step_s": first,
                   "median_step_ms": 1e3 * median, "loss_rel_diff_vs_eager": loss_rel, "max_grad_rel_diff_vs_eager": grad_rel}
            rows.append(row)
            print(json.dumps(row))
    meta = {"torch": torch.__version__, "device": str(device), "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "config": vars(args), "rows": rows,
            "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(meta, f, indent=1)


if __name__ == "__main__":
    main()
