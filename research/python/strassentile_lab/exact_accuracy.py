"""Exact STL modes in bf16 against an fp64 reference, their forward time, and peak memory of r = 24 vs dense.

    STRASSENTILE_FMM_DIR=.devdata PYTHONPATH=python:research/python python3 -m strassentile_lab.exact_accuracy OUT.json

1. Accuracy. X (M×K) and W (N×K, nn.Linear layout) are drawn in fp32 and rounded to bf16; the reference is
   Y_ref = X·Wᵀ of those bf16 values in float64 on the GPU. Dense = torch.matmul(x, w.t()) on the bf16 tensors.
   STL = the CUDA op (torch.ops.strassentile.stl_matmul, mode "tile") with the exact <4,4,4> algorithms
   strassen2 (r = 49) and dps-4x4x4-48 (rational, r = 48), built two ways:
     - "from_linear": STLLinear.from_linear of a bf16 nn.Linear holding W (Ŵ, E_X, D in bf16);
     - "encode_fp32": Ŵ = encode_weight(Wᵀ in fp32, E_W in fp32), then cast to bf16; E_X and D kept in fp32;
     - "w_hat_fp32": as encode_fp32 but Ŵ left in fp32 (the op accepts it beside a bf16 x), where supported:
       this isolates the error of rounding Ŵ to bf16.
   Errors: rel_fro = ‖Y − Y_ref‖_F / ‖Y_ref‖_F; max_rel = max|Y − Y_ref| / max|Y_ref|; ratio = STL's error /
   dense bf16's error on the same X, W (acceptance bar: ratio ≤ 2).
   X distributions: "normal"; "student_t3" (Student-t, 3 degrees of freedom, /√3 for unit variance);
   "outlier_cols" (normal, 16 random columns ×10, as activation outliers).
2. Forward time (bf16), exact modes and r = 24 vs dense, CUDA events, each repetition after writing 256 MB
   (more than L2), 5 warm-ups, median of 30; dense timed first and last, the faster used in ratios.
3. Peak memory at 16384×4096×4096, bf16: torch.cuda.max_memory_allocated during one forward (no_grad) and one
   forward+backward (grads for x and Ŵ; and all four: x, Ŵ, E_X, D) of STL r = 24, against dense (grads x, W).
   Reported above what the inputs (and the output gradient) already hold, and absolute.
"""
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

import strassentile
from strassentile import STLLinear, algorithms, encode_weight
from strassentile.benchmark import Timer

SMALL = os.environ.get("EXACT_SMALL") == "1"  # small shapes: smoke test of the script itself
DEV = os.environ.get("EXACT_DEV", "cpu" if SMALL else "cuda")
BF16 = torch.bfloat16
TILE = 4
WARMUP, REPS = 5, 30
# Stages run as separate processes by run_exact_accuracy_device.sh: EXACT_STAGE=acc (accuracy + forward time of
# EXACT_ALGS) or memory. EXACT_DPS_SOURCE=sms reads dps-4x4x4-48 from its .sms files here (no libzip/.npz).
STAGE = os.environ.get("EXACT_STAGE", "all")
ALGS = os.environ.get("EXACT_ALGS", "strassen2,dps-4x4x4-48").split(",")
DPS_SOURCE = os.environ.get("EXACT_DPS_SOURCE", "registry")


def load_sms(path):
    """Sparse rational matrix: header 'rows cols R', then 1-based 'i j value' lines, value an integer or p/q."""
    with open(path) as f:
        lines = [ln.split() for ln in f if ln.strip() and not ln.startswith("#")]
    rows, cols = int(lines[0][0]), int(lines[0][1])
    m = torch.zeros(rows, cols, dtype=torch.float64)
    for i, j, v in lines[1:]:
        if int(i) == 0:
            break
        num, _, den = v.partition("/")
        m[int(i) - 1, int(j) - 1] = float(num) / float(den or 1)
    return m


def get_alg(name):
    if name.startswith("dps-") and DPS_SOURCE == "sms":
        stem = os.path.join(os.environ["STRASSENTILE_FMM_DIR"], "dumas-pernet-sedoglavic", "4x4x4_48_rational")
        return algorithms.Algorithm(name=name, tile=(4, 4, 4), enc_x=load_sms(stem + "_L.sms"),
                                    enc_w=load_sms(stem + "_R.sms"), dec=load_sms(stem + "_P.sms"),
                                    source="parsed in Python from " + stem + "_{L,R,P}.sms")
    return algorithms.get(name)


def stl_from_linear(lin, name):
    """STLLinear.from_linear(lin, name); for a Python-parsed algorithm, the same steps by hand."""
    if not (name.startswith("dps-") and DPS_SOURCE == "sms"):
        return STLLinear.from_linear(lin, algorithm=name)
    alg = get_alg(name)
    w = lin.weight.detach()
    layer = STLLinear(lin.in_features, lin.out_features, bias=False, tile=alg.tile, rank=alg.rank, init="random",
                      device=w.device, dtype=w.dtype)
    layer.enc_x.copy_(alg.enc_x)
    layer.enc_w.copy_(alg.enc_w)
    layer.dec.copy_(alg.dec)
    layer.w_hat.copy_(encode_weight(w.t(), layer.enc_w, list(alg.tile)))
    return layer
if SMALL:
    CASES = [((64, 32, 48), "normal"), ((64, 32, 48), "student_t3"), ((64, 32, 48), "outlier_cols")]
    MEM_SHAPE = (64, 32, 32)
else:
    CASES = [((16384, 4096, 4096), "normal"), ((16384, 4096, 4096), "student_t3"),
             ((16384, 4096, 4096), "outlier_cols"), ((8192, 8192, 8192), "normal")]
    MEM_SHAPE = (16384, 4096, 4096)
TIMED = {(16384, 4096, 4096), (8192, 8192, 8192)}

_timer = None


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def time_ms(fn):
    """Median, minimum and maximum over REPS, each after an L2 flush (strassentile.benchmark.Timer; CUDA only)."""
    global _timer
    if _timer is None:
        _timer = Timer(WARMUP, REPS)
    times = _timer.samples_ms(fn)
    return {"median": statistics.median(times), "min": min(times), "max": max(times)}


def make_x(M, K, kind, gen):
    if kind == "normal":
        x = torch.randn(M, K, device=DEV, generator=gen)
    elif kind == "student_t3":
        # t_3 = Z / sqrt(chi2_3 / 3); chi2_3 = sum of 3 squared normals. Variance 3, so / sqrt(3).
        z = torch.randn(M, K, device=DEV, generator=gen)
        chi2 = sum(torch.randn(M, K, device=DEV, generator=gen) ** 2 for _ in range(3))
        x = z / torch.sqrt(chi2 / 3) / 3**0.5
    elif kind == "outlier_cols":
        x = torch.randn(M, K, device=DEV, generator=gen)
        cols = torch.randperm(K, device=DEV, generator=gen)[:16]
        x[:, cols] *= 10.0
    else:
        raise ValueError(kind)
    return x.to(BF16)


def errors(y, ref, ref_norm, ref_max):
    d = y.double() - ref
    out = {"rel_fro": (d.norm() / ref_norm).item(), "max_rel": (d.abs().max() / ref_max).item()}
    del d
    return out


def accuracy_case(M, K, N, kind, seed):
    gen = torch.Generator(device=DEV)
    gen.manual_seed(seed)
    x = make_x(M, K, kind, gen)
    w = (torch.randn(N, K, device=DEV, generator=gen) / K**0.5).to(BF16)  # nn.Linear layout
    ref = x.double() @ w.double().t()
    ref_norm, ref_max = ref.norm(), ref.abs().max()
    res = {"M": M, "K": K, "N": N, "x": kind, "seed": seed,
           "x_absmax": x.abs().max().item(), "x_rms": x.float().pow(2).mean().sqrt().item(), "stl": {}}
    with torch.no_grad():
        y = torch.matmul(x, w.t())
        res["dense_bf16"] = errors(y, ref, ref_norm, ref_max)
        del y
        yf = torch.matmul(x.float(), w.float().t())
        res["dense_fp32"] = errors(yf, ref, ref_norm, ref_max)  # context: fp32 output, TF32 as torch's default
        del yf
        dense = res["dense_bf16"]
        for name in ALGS:
            print(f"  {M}x{K}x{N} {kind} {name}", flush=True)
            alg = get_alg(name)
            entry = {"rank": alg.rank, "tile": list(alg.tile), "source": alg.source}
            lin = nn.Linear(K, N, bias=False, device=DEV, dtype=BF16)
            lin.weight.copy_(w)
            layer = stl_from_linear(lin, name)
            y = layer(x)
            entry["from_linear"] = errors(y, ref, ref_norm, ref_max)
            del y, layer, lin
            enc_w = alg.enc_w.to(DEV, torch.float32)
            enc_x, dec = alg.enc_x.to(DEV, torch.float32), alg.dec.to(DEV, torch.float32)
            w_hat32 = encode_weight(w.float().t().contiguous(), enc_w, TILE)
            y = strassentile.stl_matmul(x, w_hat32.to(BF16), enc_x, dec, TILE, None, "tile", N)
            entry["encode_fp32"] = errors(y, ref, ref_norm, ref_max)
            del y
            try:
                y = strassentile.stl_matmul(x, w_hat32, enc_x, dec, TILE, None, "tile", N)
                entry["w_hat_fp32"] = errors(y, ref, ref_norm, ref_max)
                entry["w_hat_fp32"]["out_dtype"] = str(y.dtype)
                del y
            except Exception as e:  # noqa: BLE001
                entry["w_hat_fp32"] = {"error": str(e).splitlines()[0][:300]}
            del w_hat32
            for variant in ("from_linear", "encode_fp32", "w_hat_fp32"):
                v = entry[variant]
                if "rel_fro" in v:
                    v["ratio_rel_fro"] = v["rel_fro"] / dense["rel_fro"]
                    v["ratio_max_rel"] = v["max_rel"] / dense["max_rel"]
            res["stl"][name] = entry
    del ref
    timing = None
    if DEV == "cuda" and (M, K, N) in TIMED and kind == "normal":
        timing = time_forward(x, w, N)
    return res, timing


def time_forward(x, w, N):
    op = torch.ops.strassentile.stl_matmul
    K = x.shape[1]
    out = {"M": x.shape[0], "K": K, "N": N}

    def dense():
        with torch.no_grad():
            torch.matmul(x, w.t())

    out["dense_first"] = time_ms(dense)
    for name in ALGS:
        alg = get_alg(name)
        enc_x, dec = alg.enc_x.to(DEV, torch.float32), alg.dec.to(DEV, torch.float32)
        w_hat = encode_weight(w.float().t().contiguous(), alg.enc_w.to(DEV, torch.float32), TILE).to(BF16)

        def stl():
            with torch.no_grad():
                op(x, w_hat, enc_x, dec, [TILE], None, "tile", N)

        out[name] = time_ms(stl)
        del w_hat
    # r = 24 (random E_X, D, Ŵ: speed only), for context.
    r = 24
    w_hat = torch.randn(r, K // TILE, N // TILE, device=DEV, dtype=BF16)
    enc_x = torch.randn(r, TILE * TILE, device=DEV) / TILE
    dec = torch.randn(TILE * TILE, r, device=DEV) / r**0.5

    def stl24():
        with torch.no_grad():
            op(x, w_hat, enc_x, dec, [TILE], None, "tile", N)

    out["stl_r24"] = time_ms(stl24)
    out["dense_last"] = time_ms(dense)
    d = min(out["dense_first"]["median"], out["dense_last"]["median"])
    out["dense_ms"] = d
    out["speedup"] = {k: d / out[k]["median"] for k in ALGS + ["stl_r24"]}
    return out


def peak(fn, leaves, reset_leaves=True):
    """Peak above what is allocated at the start, and the absolute peak, in MiB (fn run once before as warm-up)."""
    fn()
    for t in leaves:
        t.grad = None
    sync()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    sync()
    p = torch.cuda.max_memory_allocated()
    for t in leaves:
        t.grad = None
    return {"above_inputs_mib": (p - base) / 2**20, "absolute_mib": p / 2**20, "inputs_mib": base / 2**20}


def memory():
    M, K, N = MEM_SHAPE
    k, n, r = K // TILE, N // TILE, 24
    torch.manual_seed(1)
    x = torch.randn(M, K, device=DEV, dtype=BF16)
    g = torch.randn(M, N, device=DEV, dtype=BF16)
    w = (torch.randn(N, K, device=DEV, dtype=BF16) / K**0.5).requires_grad_()
    w_hat = (torch.randn(r, k, n, device=DEV, dtype=BF16) / k**0.5).requires_grad_()
    enc = (torch.randn(r, TILE * TILE, device=DEV) / TILE).requires_grad_()  # fp32, as a trained layer keeps them
    dec = (torch.randn(TILE * TILE, r, device=DEV) / r**0.5).requires_grad_()
    xg = x.clone().requires_grad_()
    op = torch.ops.strassentile.stl_matmul
    leaves = (xg, w, w_hat, enc, dec)
    sizes = {"x_mib": x.numel() * 2 / 2**20, "y_mib": M * N * 2 / 2**20, "w_mib": w.numel() * 2 / 2**20,
             "w_hat_mib": w_hat.numel() * 2 / 2**20}

    def dense_fwd():
        with torch.no_grad():
            F.linear(x, w)

    def dense_step():
        F.linear(xg, w).backward(g)

    def stl_fwd():
        with torch.no_grad():
            op(x, w_hat, enc, dec, [TILE], None, "tile", N)

    def stl_step(params):
        def step():
            named = {"x": xg, "w_hat": w_hat, "enc_x": enc, "dec": dec}
            args = [t if nm in params else t.detach() for nm, t in named.items()]
            op(*args, [TILE], None, "tile", N).backward(g)
        return step

    res = {"M": M, "K": K, "N": N, "rank": r, "dtype": "bfloat16", "sizes": sizes}
    res["dense_fwd"] = peak(dense_fwd, leaves)
    res["dense_step_x_w"] = peak(dense_step, leaves)
    res["stl_fwd"] = peak(stl_fwd, leaves)
    res["stl_step_x_w"] = peak(stl_step(("x", "w_hat")), leaves)
    res["stl_step_all"] = peak(stl_step(("x", "w_hat", "enc_x", "dec")), leaves)
    print("r=24 vs dense:", json.dumps(res), flush=True)
    # Exact modes' forward, for context (Ŵ of r = 49 / 48).
    for name in ALGS:
        alg = get_alg(name)
        wh = torch.randn(alg.rank, k, n, device=DEV, dtype=BF16)
        e, d = alg.enc_x.to(DEV, torch.float32), alg.dec.to(DEV, torch.float32)

        def fwd():
            with torch.no_grad():
                op(x, wh, e, d, [TILE], None, "tile", N)

        res[f"stl_fwd_{name}"] = peak(fwd, leaves)
        del wh
    return res


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "exact_accuracy.json"
    if os.environ.get("STRASSENTILE_FMM_DIR") is None:
        raise SystemExit("set STRASSENTILE_FMM_DIR to a folder laid out like data/fmm")
    if any(n.startswith("dps-") for n in ALGS) and DPS_SOURCE == "registry":
        algorithms.set_data_dir(os.environ["STRASSENTILE_FMM_DIR"])
    report = {"date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "torch": torch.__version__,
              "cuda": torch.version.cuda, "dtype": "bfloat16", "warmup": WARMUP, "reps": REPS,
              "stage": STAGE, "algs": ALGS, "dps_source": DPS_SOURCE}
    if DEV == "cuda":
        props = torch.cuda.get_device_properties(0)
        report.update({"device": props.name, "sms": props.multi_processor_count,
                       "allow_bf16_reduced_precision_reduction":
                           torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction,
                       "allow_tf32": torch.backends.cuda.matmul.allow_tf32})
    report["accuracy"], report["timing"] = [], []

    def save():
        with open(out, "w") as f:
            json.dump(report, f, indent=1)

    for i, ((M, K, N), kind) in enumerate(CASES if STAGE in ("all", "acc") else []):
        t0 = time.time()
        res, timing = accuracy_case(M, K, N, kind, seed=i)
        report["accuracy"].append(res)
        d = res["dense_bf16"]
        line = f"{M}x{K}x{N} {kind}: dense bf16 rel_fro {d['rel_fro']:.3e} max_rel {d['max_rel']:.3e}"
        for name, e in res["stl"].items():
            for v in ("from_linear", "encode_fp32", "w_hat_fp32"):
                if "rel_fro" in e[v]:
                    line += (f" | {name}/{v} {e[v]['rel_fro']:.3e} ({e[v]['ratio_rel_fro']:.2f}x) "
                             f"max {e[v]['max_rel']:.3e} ({e[v]['ratio_max_rel']:.2f}x)")
                else:
                    line += f" | {name}/{v} {e[v]}"
        print(line + f" [{time.time() - t0:.1f} s]", flush=True)
        if timing is not None:
            report["timing"].append(timing)
            print(f"  fwd ms: dense {timing['dense_ms']:.3f}, "
                  + ", ".join(f"{k} {timing[k]['median']:.3f} ({timing['speedup'][k]:.2f}x)"
                              for k in ALGS + ["stl_r24"]), flush=True)
        save()
        if DEV == "cuda":
            torch.cuda.empty_cache()
    if DEV == "cuda" and STAGE in ("all", "memory"):
        report["memory"] = memory()
        m = report["memory"]
        print("peak MiB above inputs / absolute: " + ", ".join(
            f"{k} {v['above_inputs_mib']:.0f}/{v['absolute_mib']:.0f}" for k, v in m.items()
            if isinstance(v, dict) and "absolute_mib" in v), flush=True)
    save()


if __name__ == "__main__":
    main()
