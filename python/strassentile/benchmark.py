"""``python -m strassentile.benchmark``: STL against dense through the public modules, on one CUDA GPU, in bf16.

Two cases, each forward (no_grad) and forward+backward (every parameter learnable, gradients reset each step as a
training step does):
  linear  nn.Linear(K, N) against STLLinear(K, N) on x of M×K rows, for each --shapes MxKxN;
  block   a pre-norm transformer block (attention with a fused qkv projection, GELU MLP of 4× width) against a
          copy converted with strassentile.convert, on BATCH×SEQ×DIM inputs, for each --blocks BATCHxSEQxDIM.
Each repetition is timed on its own with CUDA events after writing more than the L2 cache, after warm-ups; the
median is kept, and the ratios (dense time / STL time) come from the same run. Writes JSON and a markdown table.

``--calibrate OUT.json`` instead measures this GPU for convert(min_speedup=...)'s speed model (a few seconds): a
kernel launch, a copy's bandwidth, the bf16 GEMM rate of a large and of a narrow GEMM, and the float32 rate.
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import pathlib
import platform
import statistics
import sys
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import strassentile

L2_FLUSH_BYTES = 256 * 2**20  # more than any current GPU's L2


def parse_dims(text: str, count: int, what: str) -> list[tuple[int, ...]]:
    """"16384x4096x4096,8x8x8" → [(16384, 4096, 4096), (8, 8, 8)]: ``count`` positive sizes each; "" → []."""
    out = []
    if not text.strip():
        return out
    for item in text.split(","):
        parts = item.strip().lower().split("x")
        if len(parts) != count or not all(p.isdigit() and int(p) > 0 for p in parts):
            raise argparse.ArgumentTypeError(f"{what}: expected {count} positive sizes joined by 'x', got {item!r}")
        out.append(tuple(int(p) for p in parts))
    return out


def parse_tile(text: str) -> tuple[int, int, int]:
    """"4" → (4, 4, 4); "2,3,4" → (2, 3, 4)."""
    parts = text.split(",")
    if len(parts) not in (1, 3) or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"--tile: expected A or A,B,C (positive), got {text!r}")
    sizes = [int(p) for p in parts]
    return (sizes[0],) * 3 if len(sizes) == 1 else tuple(sizes)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m strassentile.benchmark", description=__doc__.split("\n\n")[0])
    p.add_argument("--shapes", type=lambda s: parse_dims(s, 3, "--shapes"), default="16384x4096x4096,8192x8192x8192",
                   help="linear layers: MxKxN,... (M rows, K in_features, N out_features)")
    p.add_argument("--blocks", type=lambda s: parse_dims(s, 3, "--blocks"), default="8x2048x2048",
                   help="transformer blocks: BATCHxSEQxDIM,... ('' for none)")
    p.add_argument("--heads", type=int, default=16, help="attention heads of the block")
    p.add_argument("--tile", type=parse_tile, default="4", help="A or A,B,C (default 4: <4,4,4>)")
    p.add_argument("--rank", type=int, default=24, help="products per tile (default 24)")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--reps", type=int, default=30)
    p.add_argument("--json", type=pathlib.Path, default=pathlib.Path("strassentile-benchmark.json"))
    p.add_argument("--markdown", type=pathlib.Path, default=pathlib.Path("strassentile-benchmark.md"))
    p.add_argument("--calibrate", type=pathlib.Path, metavar="OUT.json",
                   help="measure this GPU for convert(min_speedup=...) and write its speed model to OUT.json "
                        "(use it with speed_model=OUT.json or STRASSENTILE_SPEED_MODEL=OUT.json); nothing else runs")
    return p.parse_args(argv)


class PreNormBlock(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)): the linear layers are plain nn.Linear calls, as convert expects."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"block: DIM ({dim}) must be a multiple of --heads ({heads})")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, seq, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(batch, seq, dim)
        x = x + self.out(attn)
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x)), approximate="tanh"))


class Timer:
    """Median of ``reps`` CUDA-event timings (ms), each after an L2 flush, following ``warmup`` calls."""

    def __init__(self, warmup: int, reps: int) -> None:
        self.warmup, self.reps = warmup, reps
        self.flush = torch.empty(L2_FLUSH_BYTES // 4, dtype=torch.float32, device="cuda")

    def median_ms(self, fn: Callable[[], None]) -> float:
        return statistics.median(self.samples_ms(fn))

    def samples_ms(self, fn: Callable[[], None]) -> list[float]:
        """Every repetition's time (ms), each after an L2 flush, following the warm-up calls."""
        for _ in range(self.warmup):
            fn()
        torch.cuda.synchronize()
        times = []
        for _ in range(self.reps):
            self.flush.zero_()
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        return times


def compare(timer: Timer, dense: nn.Module, stl: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Forward and forward+backward of both models on ``x``; ratios = dense time / STL time."""
    grad = torch.randn_like(dense(x))
    xg = x.detach().clone().requires_grad_()

    def forward(model):
        def run():
            with torch.no_grad():
                model(x)
        return run

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            xg.grad = None
            model(xg).backward(grad)
        return run

    res = {"dense_fwd_ms": timer.median_ms(forward(dense)), "stl_fwd_ms": timer.median_ms(forward(stl)),
           "dense_step_ms": timer.median_ms(step(dense)), "stl_step_ms": timer.median_ms(step(stl))}
    res["fwd_ratio"] = res["dense_fwd_ms"] / res["stl_fwd_ms"]
    res["step_ratio"] = res["dense_step_ms"] / res["stl_step_ms"]
    return res


def run(args: argparse.Namespace) -> dict:
    dev, bf16 = torch.device("cuda"), torch.bfloat16
    timer = Timer(args.warmup, args.reps)
    results = []
    for m, k, n in args.shapes:
        torch.manual_seed(0)
        dense = nn.Linear(k, n, device=dev, dtype=bf16)
        stl = strassentile.STLLinear(k, n, tile=args.tile, rank=args.rank, device=dev, dtype=bf16)
        x = torch.randn(m, k, device=dev, dtype=bf16)
        results.append({"case": "linear", "shape": f"M={m} K={k} N={n}", **compare(timer, dense, stl, x)})
    for batch, seq, dim in args.blocks:
        torch.manual_seed(0)
        dense = PreNormBlock(dim, args.heads).to(dev, bf16)
        stl = copy.deepcopy(dense)
        strassentile.convert(stl, strassentile.STLConfig(tile=args.tile, rank=args.rank, init=strassentile.Random()))
        x = torch.randn(batch, seq, dim, device=dev, dtype=bf16)
        results.append({"case": "block", "shape": f"batch={batch} seq={seq} dim={dim}", **compare(timer, dense, stl, x)})
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "device": torch.cuda.get_device_name(), "torch": torch.__version__, "python": platform.python_version(),
            "strassentile": strassentile.__version__, "build": strassentile.build_info(),
            "dtype": "bfloat16", "tile": list(args.tile), "rank": args.rank, "warmup": args.warmup, "reps": args.reps,
            "results": results}


def calibrate(timer: Timer) -> strassentile.GpuSpec:
    """This GPU's speed model: each constant from one short measurement (see the C++ model in cost_model.hpp)."""
    dev = torch.device("cuda")
    tiny = torch.zeros(1, device=dev)
    launches = 100
    launch_s = timer.median_ms(lambda: [tiny.add_(1) for _ in range(launches)]) * 1e-3 / launches
    src = torch.empty(2**28, dtype=torch.uint8, device=dev)
    dst = torch.empty_like(src)
    bandwidth = 2 * src.numel() / (timer.median_ms(lambda: dst.copy_(src)) * 1e-3)

    def gemm_seconds(m: int, k: int, n: int, dtype: torch.dtype) -> float:
        a, b = torch.randn(m, k, device=dev, dtype=dtype), torch.randn(k, n, device=dev, dtype=dtype)
        return timer.median_ms(lambda: torch.mm(a, b)) * 1e-3 - launch_s

    matmul_flops = 2 * 8192**3 / gemm_seconds(8192, 8192, 8192, torch.bfloat16)
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        matmul_flops_f32 = 2 * 4096**3 / gemm_seconds(4096, 4096, 4096, torch.float32)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32
    # A narrow GEMM fixes the efficiency curve: its time is hypot(compute, memory), compute = flops / (rate · k/(k+h)).
    m, k, n = 32768, 128, 4096
    seconds = gemm_seconds(m, k, n, torch.bfloat16)
    memory = 2 * (m * k + k * n + m * n) / bandwidth
    compute = max(seconds**2 - memory**2, (0.1 * seconds) ** 2) ** 0.5
    efficiency = min(2 * m * k * n / (matmul_flops * compute), 1.0)
    return strassentile.GpuSpec(f"{torch.cuda.get_device_name()} (calibrated)", matmul_flops, matmul_flops_f32,
                                bandwidth, launch_s, k * (1 / efficiency - 1))


def markdown(report: dict) -> str:
    a, b, c = report["tile"]
    lines = [f"STL <{a},{b},{c}>, r = {report['rank']} against dense, {report['dtype']}, {report['device']}; median "
             f"of {report['reps']} (ms); ratio = dense / STL (above 1: STL faster).", "",
             "| case | shape | dense fwd | STL fwd | fwd ratio | dense fwd+bwd | STL fwd+bwd | fwd+bwd ratio |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        lines.append(f"| {r['case']} | {r['shape']} | {r['dense_fwd_ms']:.3f} | {r['stl_fwd_ms']:.3f} | "
                     f"{r['fwd_ratio']:.2f} | {r['dense_step_ms']:.3f} | {r['stl_step_ms']:.3f} | {r['step_ratio']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("strassentile.benchmark: needs a CUDA GPU (torch.cuda.is_available() is False): the timings are of the "
              "CUDA kernels. Run it on a GPU machine with a CUDA build of torch and of strassentile.", file=sys.stderr)
        return 2
    if args.calibrate:
        spec = calibrate(Timer(warmup=3, reps=10))
        spec.save(args.calibrate)
        print(f"{spec.name}: matmul {spec.matmul_flops / 1e12:.0f} TFLOP/s bf16, {spec.matmul_flops_f32 / 1e12:.0f} "
              f"float32; copy {spec.bandwidth / 1e12:.2f} TB/s; launch {spec.launch_seconds * 1e6:.1f} us; GEMMs at "
              f"half rate at inner dimension {spec.gemm_half_inner:.0f}; written to {args.calibrate}")
        return 0
    report = run(args)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    args.markdown.write_text(markdown(report))
    print(markdown(report), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
