"""Op-level timings on one GPU: dense F.linear against torch.ops.strassentile.stl_matmul (the src/cuda kernels),
forward and forward+backward, bf16, tile <4,4,4>, r = 24. Also the plain-PyTorch STL of STL.md §3 (einsum
encode, bmm, einsum decode) for context.

    PYTHONPATH=python:research/python python3 -m strassentile_lab.bench_torch_op OUT.json

Each repetition is timed on its own with CUDA events after writing 256 MB (more than L2) so that no stage finds
its inputs in cache; 5 warm-ups, median of 30. Dense is timed first and again last in each shape; ratios use
the faster of the two. fwd+bwd re-creates the gradients each time (.grad set to None), as a training step does.
Peak memory: max_memory_allocated during one step, above what the inputs already hold.

Then a transformer MLP at inference (torch.no_grad): x (M×d) → d_ff → d with tanh GELU between, dense (two F.linear)
against STL as two stl_matmul calls with the GELU between them and as one stl_mlp call (layer 1's decode, bias and
GELU fused with layer 2's encode), at the MLP_SHAPES below.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

import strassentile  # loads the op library; set_keep_for_backward
from strassentile.benchmark import Timer, peak_mib

SHAPES = [(16384, 4096, 4096), (8192, 8192, 8192)]
MLP_SHAPES = [(8192, 4096, 16384), (16384, 1024, 4096)]  # (M, d, d_ff)
TILE, RANK = 4, 24
WARMUP, REPS = 5, 30

_timer = None


def time_ms(fn):
    """Median and minimum over REPS, each after an L2 flush (strassentile.benchmark.Timer)."""
    global _timer
    if _timer is None:
        _timer = Timer(WARMUP, REPS)
    times = _timer.samples_ms(fn)
    return {"median": statistics.median(times), "min": min(times)}


def peak_mb(fn, leaves):
    for t in leaves:  # gradients of earlier steps would otherwise count as inputs
        t.grad = None
    return peak_mib(fn)


def naive_stl(x, w_hat, enc, dec):
    """STL.md §3's plain PyTorch pipeline, for <4,4,4> with M, K, N multiples of 4."""
    M, _ = x.shape
    r, k, n = w_hat.shape
    x_hat = torch.einsum("puv,mukv->pmk", enc.view(r, 4, 4), x.view(M // 4, 4, k, 4))
    z = torch.bmm(x_hat, w_hat)
    return torch.einsum("uwp,pmn->munw", dec.view(4, 4, r), z).reshape(M, n * 4)


def bench_shape(M, K, N):
    dev, bf16 = "cuda", torch.bfloat16
    torch.manual_seed(0)
    k, n = K // TILE, N // TILE
    x = torch.randn(M, K, device=dev, dtype=bf16)
    g = torch.randn(M, N, device=dev, dtype=bf16)
    w = (torch.randn(N, K, device=dev, dtype=bf16) / K**0.5).requires_grad_()  # nn.Linear layout
    w_hat = (torch.randn(RANK, k, n, device=dev, dtype=bf16) / k**0.5).requires_grad_()
    enc = (torch.randn(RANK, TILE * TILE, device=dev) / TILE).requires_grad_()  # fp32, as a trained layer keeps them
    dec = (torch.randn(TILE * TILE, RANK, device=dev) / RANK**0.5).requires_grad_()
    enc16, dec16 = enc.detach().to(bf16), dec.detach().to(bf16)
    xg = x.clone().requires_grad_()
    op = torch.ops.strassentile.stl_matmul

    def dense_fwd():
        with torch.no_grad():
            F.linear(x, w)

    def dense_step():
        xg.grad = None
        w.grad = None
        F.linear(xg, w).backward(g)

    def stl_fwd():
        with torch.no_grad():
            op(x, w_hat, enc, dec, [TILE], None, "tile", N)

    def stl_step(params):
        def step():
            for t in (xg, w_hat, enc, dec):
                t.grad = None
            leaves = {"x": xg, "w_hat": w_hat, "enc_x": enc, "dec": dec}
            args = [t if name in params else t.detach() for name, t in leaves.items()]
            op(*args, [TILE], None, "tile", N).backward(g)
        return step

    def naive_fwd():
        with torch.no_grad():
            naive_stl(x, w_hat, enc16, dec16)

    def naive_step():
        xg.grad = None
        w_hat.grad = None
        naive_stl(xg, w_hat, enc16, dec16).backward(g)

    res = {"M": M, "K": K, "N": N}
    res["dense_fwd_first"] = time_ms(dense_fwd)
    res["dense_step_first"] = time_ms(dense_step)
    res["stl_fwd"] = time_ms(stl_fwd)
    res["stl_step_x_w"] = time_ms(stl_step(("x", "w_hat")))
    res["stl_step_all"] = time_ms(stl_step(("x", "w_hat", "enc_x", "dec")))
    # The same steps with the forward's X̂ and Z kept for the backward (strassentile.set_keep_for_backward).
    previous = strassentile.set_keep_for_backward(True)
    try:
        res["stl_step_x_w_kept"] = time_ms(stl_step(("x", "w_hat")))
        res["stl_step_all_kept"] = time_ms(stl_step(("x", "w_hat", "enc_x", "dec")))
        kept_peak = {"stl_step_x_w_kept": peak_mb(stl_step(("x", "w_hat")), (xg, w, w_hat, enc, dec)),
                     "stl_step_all_kept": peak_mb(stl_step(("x", "w_hat", "enc_x", "dec")), (xg, w, w_hat, enc, dec))}
    finally:
        strassentile.set_keep_for_backward(previous)
    res["naive_fwd"] = time_ms(naive_fwd)
    res["naive_step_x_w"] = time_ms(naive_step)
    res["dense_fwd_last"] = time_ms(dense_fwd)
    res["dense_step_last"] = time_ms(dense_step)
    leaves = (xg, w, w_hat, enc, dec)
    res["peak_mb"] = {"dense_step": peak_mb(dense_step, leaves),
                      "stl_step_x_w": peak_mb(stl_step(("x", "w_hat")), leaves),
                      "stl_step_all": peak_mb(stl_step(("x", "w_hat", "enc_x", "dec")), leaves),
                      "naive_step_x_w": peak_mb(naive_step, leaves), **kept_peak}
    dense_fwd_ms = min(res["dense_fwd_first"]["median"], res["dense_fwd_last"]["median"])
    dense_step_ms = min(res["dense_step_first"]["median"], res["dense_step_last"]["median"])
    res["dense_fwd_tflops"] = 2 * M * K * N / dense_fwd_ms / 1e9
    res["speedup"] = {
        "stl_fwd": dense_fwd_ms / res["stl_fwd"]["median"],
        "stl_step_x_w": dense_step_ms / res["stl_step_x_w"]["median"],
        "stl_step_all": dense_step_ms / res["stl_step_all"]["median"],
        "stl_step_x_w_kept": dense_step_ms / res["stl_step_x_w_kept"]["median"],
        "stl_step_all_kept": dense_step_ms / res["stl_step_all_kept"]["median"],
        "naive_fwd": dense_fwd_ms / res["naive_fwd"]["median"],
        "naive_step_x_w": dense_step_ms / res["naive_step_x_w"]["median"],
    }
    return res


def bench_mlp(M, d, d_ff):
    dev, bf16 = "cuda", torch.bfloat16
    torch.manual_seed(0)
    x = torch.randn(M, d, device=dev, dtype=bf16)
    w1, b1 = torch.randn(d_ff, d, device=dev, dtype=bf16) / d**0.5, torch.randn(d_ff, device=dev, dtype=bf16)
    w2, b2 = torch.randn(d, d_ff, device=dev, dtype=bf16) / d_ff**0.5, torch.randn(d, device=dev, dtype=bf16)

    def layer(fin, fout):
        return (torch.randn(RANK, fin // TILE, fout // TILE, device=dev, dtype=bf16) / (fin // TILE)**0.5,
                torch.randn(RANK, TILE * TILE, device=dev) / TILE, torch.randn(TILE * TILE, RANK, device=dev) / RANK**0.5,
                torch.randn(fout, device=dev, dtype=bf16))

    l1, l2 = layer(d, d_ff), layer(d_ff, d)
    op = torch.ops.strassentile.stl_matmul

    def dense():
        with torch.no_grad():
            F.linear(F.gelu(F.linear(x, w1, b1), approximate="tanh"), w2, b2)

    def stl_two_calls():
        with torch.no_grad():
            h = F.gelu(op(x, *l1[:3], [TILE], l1[3], "tile", d_ff), approximate="tanh")
            op(h, *l2[:3], [TILE], l2[3], "tile", d)

    def stl_fused():
        with torch.no_grad():
            strassentile.stl_mlp(x, l1, l2, TILE, "gelu_tanh")

    with torch.no_grad():
        h = F.gelu(op(x, *l1[:3], [TILE], l1[3], "tile", d_ff), approximate="tanh")
        y_two = op(h, *l2[:3], [TILE], l2[3], "tile", d).float()
        y_fused = strassentile.stl_mlp(x, l1, l2, TILE, "gelu_tanh").float()
    res = {"M": M, "d": d, "d_ff": d_ff, "dense_first": time_ms(dense), "stl_two_calls": time_ms(stl_two_calls),
           "stl_fused": time_ms(stl_fused), "dense_last": time_ms(dense),
           "fused_vs_two_calls_max_rel": ((y_fused - y_two).abs().max() / y_two.abs().max()).item()}
    dense_ms = min(res["dense_first"]["median"], res["dense_last"]["median"])
    res["speedup"] = {"stl_two_calls": dense_ms / res["stl_two_calls"]["median"],
                      "stl_fused": dense_ms / res["stl_fused"]["median"],
                      "fused_over_two_calls": res["stl_two_calls"]["median"] / res["stl_fused"]["median"]}
    return res


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "torch_op_timings.json"
    props = torch.cuda.get_device_properties(0)
    report = {"device": props.name, "sms": props.multi_processor_count, "torch": torch.__version__,
              "cuda": torch.version.cuda, "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              "dtype": "bfloat16", "tile": [TILE] * 3, "rank": RANK, "warmup": WARMUP, "reps": REPS, "results": []}
    for M, K, N in SHAPES:
        r = bench_shape(M, K, N)
        report["results"].append(r)
        s = r["speedup"]
        print(f"{M}x{K}x{N}: dense fwd {min(r['dense_fwd_first']['median'], r['dense_fwd_last']['median']):.3f} ms "
              f"({r['dense_fwd_tflops']:.0f} TFLOP/s), dense fwd+bwd "
              f"{min(r['dense_step_first']['median'], r['dense_step_last']['median']):.3f} ms | "
              f"stl fwd {r['stl_fwd']['median']:.3f} ms ({s['stl_fwd']:.2f}x), "
              f"fwd+bwd x,w {r['stl_step_x_w']['median']:.3f} ms ({s['stl_step_x_w']:.2f}x), "
              f"all {r['stl_step_all']['median']:.3f} ms ({s['stl_step_all']:.2f}x) | X^,Z kept: "
              f"x,w {r['stl_step_x_w_kept']['median']:.3f} ms ({s['stl_step_x_w_kept']:.2f}x), "
              f"all {r['stl_step_all_kept']['median']:.3f} ms ({s['stl_step_all_kept']:.2f}x) | "
              f"naive fwd {s['naive_fwd']:.2f}x, fwd+bwd {s['naive_step_x_w']:.2f}x | peak MB {r['peak_mb']}",
              flush=True)
        with open(out, "w") as f:
            json.dump(report, f, indent=1)
    report["mlp_inference"] = []
    for M, d, d_ff in MLP_SHAPES:
        r = bench_mlp(M, d, d_ff)
        report["mlp_inference"].append(r)
        s = r["speedup"]
        print(f"MLP {M}x{d}->{d_ff}->{d} inference: dense {min(r['dense_first']['median'], r['dense_last']['median']):.3f} "
              f"ms | STL two stl_matmul calls {r['stl_two_calls']['median']:.3f} ms ({s['stl_two_calls']:.2f}x) | "
              f"stl_mlp fused {r['stl_fused']['median']:.3f} ms ({s['stl_fused']:.2f}x; "
              f"{s['fused_over_two_calls']:.3f}x the two calls) | fused vs two calls max rel "
              f"{r['fused_vs_two_calls_max_rel']:.2e}", flush=True)
        with open(out, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
