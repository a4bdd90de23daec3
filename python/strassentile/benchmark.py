"""``python -m strassentile.benchmark``: STL against dense through the public modules, on one CUDA GPU, in bf16.

Two cases, each forward (no_grad) and forward+backward (gradients reset each step as a training step does), with the
peak memory a training step allocates above its inputs:
  linear  nn.Linear(K, N) against STLLinear(K, N) on x of M×K rows, for each --shapes MxKxN;
  block   a pre-norm transformer block (attention with a fused qkv projection, GELU MLP of 4× width) against a
          copy converted with strassentile.convert, on BATCH×SEQ×DIM inputs, for each --blocks BATCHxSEQxDIM.
Each case runs every --variants entry against the same dense model:
  stl            mode tile, every parameter learnable (Ŵ, E_X, D, bias);
  stl-frozen     the same with E_X and D frozen (only Ŵ and the bias learn);
  stl-keep       stl with set_keep_for_backward(True): the forward keeps X̂ and Z for the backward (more memory);
  stl-keepz      stl with set_keep_z_for_backward(True): the forward keeps only Z (the backward encodes X again);
  stl-lean       stl with set_lean_backward(True): the backward runs its rows in blocks (less memory);
  stl-pipeline   stl with set_dense_equivalent("never"): one-row tiles (--tile 1,B,C) on the STL pipeline even where
                 the op would run their dense equivalent (stl is what a user gets: "auto");
  stl-unfused    stl with set_fused_forward("never"): the forward on the pipeline where the speed model would run the
                 fused products + decode kernel (every other variant runs with "auto", the default);
  stl-fused      stl with set_fused_forward("always"): the fused products + decode wherever the kernel applies;
  stl-mlp        stl with the block's MLP as one STLMLP (blocks only): without gradients fc1's decode applies the bias
                 and GELU (and for <4,4,4> hands the activations straight to fc2's encode); with them the same as stl;
  causal         mode causal (no output row reads a later row of its tile), every parameter learnable;
  sparse24       the dense layers' weights pruned 2:4 by magnitude and stored semi-structured
                 (torch.sparse.to_sparse_semi_structured, cuSPARSELt): forward only, torch has no sparse backward.
Each repetition is timed on its own with CUDA events after writing more than the L2 cache, after warm-ups; the
median is kept, and the ratios (dense time / variant time) come from the same run. Writes JSON and a markdown table.

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


VARIANTS = ("stl", "stl-frozen", "stl-keep", "stl-keepz", "stl-lean", "stl-pipeline", "stl-unfused", "stl-fused",
            "stl-mlp", "causal", "sparse24")


def parse_variants(text: str) -> list[str]:
    names = [v.strip() for v in text.split(",") if v.strip()]
    bad = [v for v in names if v not in VARIANTS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"--variants: expected some of {', '.join(VARIANTS)}, got {text!r}")
    return names


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
    p.add_argument("--variants", type=parse_variants, default="stl",
                   help=f"what runs against dense, comma-separated: {', '.join(VARIANTS)} (default stl)")
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


class Mlp(nn.Module):
    """fc2(GELU(fc1(x))), GELU in its tanh form, 4× wide: the block's MLP, which variant stl-mlp runs as one STLMLP."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, 4 * dim), nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class PreNormBlock(nn.Module):
    """x + attn(LN(x)), then x + MLP(LN(x)): the linear layers are plain nn.Linear calls, as convert expects."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"block: DIM ({dim}) must be a multiple of --heads ({heads})")
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = Mlp(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, seq, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, seq, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(batch, seq, dim)
        x = x + self.out(attn)
        return x + self.mlp(self.norm2(x))


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


def measure(timer: Timer, model: nn.Module, x: torch.Tensor, grad: torch.Tensor | None) -> dict[str, float | None]:
    """Forward time; with ``grad``, a training step's time and its peak memory above what was allocated before."""
    def forward():
        with torch.no_grad():
            model(x)

    res: dict[str, float | None] = {"fwd_ms": timer.median_ms(forward), "step_ms": None, "peak_mib": None}
    if grad is None:
        return res
    xg = x.detach().clone().requires_grad_()

    def step():
        model.zero_grad(set_to_none=True)
        xg.grad = None
        model(xg).backward(grad)

    res["step_ms"] = timer.median_ms(step)
    model.zero_grad(set_to_none=True)
    xg.grad = None
    res["peak_mib"] = peak_mib(step)
    model.zero_grad(set_to_none=True)
    return res


def peak_mib(fn: Callable[[], object]) -> float:
    """MiB that ``fn`` allocates at its peak above what was allocated before it (its inputs)."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def freeze_basis(model: nn.Module) -> nn.Module:
    for layer in model.modules():
        if isinstance(layer, strassentile.STLLinear):
            layer.set_train_basis(False)
    return model


def sparse24(dense: nn.Module) -> nn.Module:
    """A copy whose nn.Linear weights are pruned to the 2 largest of every 4 inputs and stored semi-structured."""
    from torch.sparse import to_sparse_semi_structured

    model = copy.deepcopy(dense)
    for layer in model.modules():
        if isinstance(layer, nn.Linear):
            w = layer.weight.detach()
            groups = w.reshape(-1, 4)
            keep = torch.zeros_like(groups, dtype=torch.bool).scatter_(1, groups.abs().topk(2, dim=1).indices, True)
            layer.weight = nn.Parameter(to_sparse_semi_structured(w * keep.reshape(w.shape)), requires_grad=False)
    return model


def fuse_mlps(model: nn.Module) -> nn.Module:
    """Every converted Mlp of ``model`` replaced by one STLMLP over its two layers (GELU's tanh form, as Mlp's)."""
    mlps = [(name, m) for name, m in model.named_modules()
            if isinstance(m, Mlp) and all(isinstance(f, strassentile.STLLinear) for f in (m.fc1, m.fc2))]
    if not mlps:
        raise NotImplementedError("stl-mlp: a block variant (the block's MLP as one STLMLP); a single layer has no MLP")
    for name, mlp in mlps:
        parent, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent), attr, strassentile.STLMLP(mlp.fc1, mlp.fc2, activation="gelu_tanh"))
    return model


def variant_model(name: str, dense: nn.Module, make_stl: Callable[[str], nn.Module]) -> nn.Module:
    if name == "sparse24":
        return sparse24(dense)
    if name == "stl-frozen":
        return freeze_basis(make_stl("tile"))
    if name == "stl-mlp":
        return fuse_mlps(make_stl("tile"))
    return make_stl("causal" if name == "causal" else "tile")


def compare(timer: Timer, dense: nn.Module, make_stl: Callable[[str], nn.Module], x: torch.Tensor,
            variants: list[str]) -> list[dict]:
    """One row per variant against the same dense timings; ratios = dense time / variant time."""
    with torch.no_grad():
        grad = torch.randn_like(dense(x))
    base = measure(timer, dense, x, grad)
    rows = []
    for name in variants:
        row: dict = {"variant": name, "dense_fwd_ms": base["fwd_ms"], "dense_step_ms": base["step_ms"],
                     "dense_peak_mib": base["peak_mib"]}
        kept = strassentile.set_keep_for_backward(name == "stl-keep")
        lean = strassentile.set_lean_backward(name == "stl-lean")
        kept_z = strassentile.set_keep_z_for_backward(name == "stl-keepz")
        dense_equivalent = strassentile.set_dense_equivalent("never" if name == "stl-pipeline" else "auto")
        fused = strassentile.set_fused_forward({"stl-unfused": "never", "stl-fused": "always"}.get(name, "auto"))
        try:
            got = measure(timer, variant_model(name, dense, make_stl), x, None if name == "sparse24" else grad)
        except (RuntimeError, NotImplementedError) as error:  # e.g. 2:4 kernels missing for this GPU or shape
            rows.append({**row, "error": str(error).splitlines()[0]})
            continue
        finally:
            strassentile.set_keep_for_backward(kept)
            strassentile.set_lean_backward(lean)
            strassentile.set_keep_z_for_backward(kept_z)
            strassentile.set_dense_equivalent(dense_equivalent)
            strassentile.set_fused_forward(fused)
        row.update({"stl_fwd_ms": got["fwd_ms"], "stl_step_ms": got["step_ms"], "stl_peak_mib": got["peak_mib"],
                    "fwd_ratio": base["fwd_ms"] / got["fwd_ms"],
                    "step_ratio": None if got["step_ms"] is None else base["step_ms"] / got["step_ms"]})
        rows.append(row)
        torch.cuda.empty_cache()
    return rows


def run(args: argparse.Namespace) -> dict:
    dev, bf16 = torch.device("cuda"), torch.bfloat16
    timer = Timer(args.warmup, args.reps)
    results = []
    for m, k, n in args.shapes:
        torch.manual_seed(0)
        dense = nn.Linear(k, n, device=dev, dtype=bf16)
        x = torch.randn(m, k, device=dev, dtype=bf16)

        def make_layer(mode: str, k=k, n=n) -> nn.Module:
            return strassentile.STLLinear(k, n, tile=args.tile, rank=args.rank, mode=mode, device=dev, dtype=bf16)

        for row in compare(timer, dense, make_layer, x, args.variants):
            results.append({"case": "linear", "shape": f"M={m} K={k} N={n}", **row})
    for batch, seq, dim in args.blocks:
        torch.manual_seed(0)
        dense = PreNormBlock(dim, args.heads).to(dev, bf16)
        x = torch.randn(batch, seq, dim, device=dev, dtype=bf16)

        def make_block(mode: str, dense=dense) -> nn.Module:
            stl = copy.deepcopy(dense)
            strassentile.convert(stl, strassentile.STLConfig(tile=args.tile, rank=args.rank, mode=mode,
                                                             init=strassentile.Random()))
            return stl

        for row in compare(timer, dense, make_block, x, args.variants):
            results.append({"case": "block", "shape": f"batch={batch} seq={seq} dim={dim}", **row})
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

    def ms(v):
        return "n/a" if v is None else f"{v:.3f}"

    def ratio(v):
        return "n/a" if v is None else f"{v:.2f}"

    def mib(v):
        return "n/a" if v is None else f"{v:.0f}"

    lines = [f"Variants against dense (STL: <{a},{b},{c}>, r = {report['rank']}), {report['dtype']}, "
             f"{report['device']}; median of {report['reps']} (ms); ratio = dense / variant (above 1: the variant is "
             f"faster); peak = MiB a training step allocates above its inputs.", "",
             "| case | shape | variant | dense fwd | variant fwd | fwd ratio | dense fwd+bwd | variant fwd+bwd | "
             "fwd+bwd ratio | dense peak | variant peak |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["results"]:
        if "error" in r:
            lines.append(f"| {r['case']} | {r['shape']} | {r['variant']} | failed: {r['error']} |||||||| |")
            continue
        lines.append(f"| {r['case']} | {r['shape']} | {r['variant']} | {ms(r['dense_fwd_ms'])} | "
                     f"{ms(r['stl_fwd_ms'])} | "
                     f"{ratio(r['fwd_ratio'])} | {ms(r['dense_step_ms'])} | {ms(r['stl_step_ms'])} | "
                     f"{ratio(r['step_ratio'])} | {mib(r['dense_peak_mib'])} | {mib(r['stl_peak_mib'])} |")
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
