#!/usr/bin/env python3
"""Plots and table of `strassentile-lab train lm` results.

    python3 research/scripts/plot_lm.py RESULTS.json [MORE.json ...] OUT_DIR [--markdown TABLE.md] [--throughput PROBE.json]

Several results files (seeds of one config run in separate calls) are read as one: the first gives the config, a
variant and seed present twice is taken from the later file.

Writes OUT_DIR/lm_loss_curves.png (validation loss against training tokens, and the training loss per step
smoothed, mean over seeds, one line per variant), OUT_DIR/lm_loss_vs_time.png (validation loss against training
seconds, timed as below) and OUT_DIR/lm_ppl_vs_flops.png (test perplexity against linear-layer FLOPs per token,
mean ± std over seeds). Prints the per-variant table (mean ± std over seeds) as markdown, also to --markdown, with
the time to dense's loss: the training seconds until a run's validation loss on the curve's bytes first reaches
dense's mean at its last curve point, seconds being tokens ÷ the run's steady tokens/s or, with --throughput (a
probe's JSON: each variant alone on the GPU, run_lm_device.sh's probe.json or probe_alone.json), tokens ÷ that
variant's tokens/s alone. Variants whose runs leak future tokens (STL mode tile) are marked LEAKING.
Needs matplotlib; reads only the JSON.
"""
import argparse
import json
import math
import statistics

from run_groups import MARKERS, by_variant, finish, load_runs, mean_progress, mean_std, time_table


def label(variant, runs):
    return variant + (" (LEAKING)" if runs[0]["leaks_future"] else "")


def summary(groups):
    rows = []
    for variant, runs in groups.items():
        r0 = runs[0]
        rows.append({
            "variant": variant, "runs": runs, "seeds": sorted(r["seed"] for r in runs),
            "leaks": r0["leaks_future"],
            "val": mean_std([r["val_ppl"] for r in runs]), "test": mean_std([r["test_ppl"] for r in runs]),
            "bpb": mean_std([r["test_bits_per_byte"] for r in runs]),
            "flops": r0["linear_flops_per_token"], "product_flops": r0["linear_product_flops_per_token"],
            "dense_flops": r0["dense_linear_flops_per_token"], "linear_params": r0["linear_params"],
            "params": r0["params"], "tokens": min(r["tokens"] for r in runs),
            "early": any(r["stopped_early"] for r in runs),
            "tps": mean_std([r["steady_tokens_per_second"] or r["tokens_per_second"] for r in runs]),
        })
    return rows


def markdown(rows, throughput=None):
    """The per-variant table; tokens/s is the variant's alone on the GPU given `throughput`, else as the runs ran
    (a rate under a shared GPU, not a throughput figure)."""
    rate = "training tokens/s, alone" if throughput else "tokens/s (as run)"
    out = ["| variant | seeds | val ppl | test ppl | test bits/byte | linear MFLOPs/token: all (products only) | "
           f"dense/variant: all (products only) | linear params | all params | tokens/run | {rate} |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = f"`{r['variant']}`" + (" **LEAKING**" if r["leaks"] else "")
        out.append(
            f"| {name} | {','.join(map(str, r['seeds']))} | {r['val'][0]:.4f} ± {r['val'][1]:.4f} | "
            f"{r['test'][0]:.4f} ± {r['test'][1]:.4f} | {r['bpb'][0]:.4f} | {r['flops'] / 1e6:.3f} "
            f"({r['product_flops'] / 1e6:.3f}) | {r['dense_flops'] / r['flops']:.2f}× "
            f"({r['dense_flops'] / r['product_flops']:.2f}×) | {r['linear_params']:,.0f} | {r['params']:,.0f} | "
            f"{r['tokens'] / 1e6:.2f} M{' (stopped early)' if r['early'] else ''} | "
            f"{throughput.get(r['variant'], float('nan')) if throughput else r['tps'][0]:,.0f} |")
    return "\n".join(out) + "\n"


def load_throughput(path):
    """{variant: steady tokens/s} of a probe's JSON (each variant alone on the GPU)."""
    with open(path) as f:
        runs = json.load(f)["runs"]
    return {r["variant"]: r["steady_tokens_per_second"] or r["tokens_per_second"] for r in runs}


def progress_of(throughput=None):
    """run -> [(training seconds, validation loss)] at its curve points: tokens ÷ the run's steady tokens/s, or ÷
    the variant's tokens/s alone given `throughput` (no points for a variant it lacks)."""
    def progress(run):
        tps = throughput.get(run["variant"]) if throughput is not None else (
            run["steady_tokens_per_second"] or run["tokens_per_second"])
        if not tps:
            return []
        return [(c["tokens"] / tps, c["val_loss"]) for c in run["curve"]]
    return progress


def loss_time_table(groups, progress, timed_by):
    """Markdown: each variant's training seconds to dense's mean validation loss at its last curve point ("" without
    dense). The target is on the curve's own bytes (the first curve_tokens of validation): the final val_loss may be
    on more bytes, and a target from another sample could be out of every curve's reach, dense's included."""
    dense = [r for r in groups.get("dense", []) if r["curve"]]
    if not dense:
        return ""
    target = mean_std([r["curve"][-1]["val_loss"] for r in dense])[0]
    return time_table(groups, progress, target, False,
                      f"Training seconds until the validation loss on the curve's bytes first reaches dense's mean "
                      f"at the end of training, {target:.4f} nats/byte ({timed_by}); mean ± std over the runs that "
                      f"reach it:",
                      "best validation loss", lambda v: f"{v:.4f}", "no curve or throughput for it",
                      name=lambda v, runs: f"`{v}`" + (" **LEAKING**" if runs[0]["leaks_future"] else ""))


def style(i, variant):
    import matplotlib.pyplot as plt
    kind = variant.split(":")[0]
    colors = plt.get_cmap("tab10").colors
    return dict(color=colors[i % 10], marker=MARKERS.get(kind, "x"),
                linestyle={"sparse24": "--", "lowrank": ":"}.get(kind, "-"))


def plot_curves(groups, path, corpus):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_val, ax_train) = plt.subplots(1, 2, figsize=(14, 5.5))
    for i, (variant, runs) in enumerate(groups.items()):
        s = style(i, variant)
        xs, ys = mean_progress(runs, lambda r: [(c["tokens"] / 1e6, c["val_loss"] / math.log(2)) for c in r["curve"]])
        if xs:
            ax_val.plot(xs, ys, label=label(variant, runs), markersize=4, **s)
        steps = min(len(r["step_losses"]) for r in runs)
        window = max(1, steps // 50)
        tokens_per_step = runs[0]["tokens"] / max(1, runs[0]["steps"])
        mean_loss = [statistics.fmean(r["step_losses"][t] for r in runs) for t in range(steps)]
        smooth = [statistics.fmean(mean_loss[max(0, t - window + 1):t + 1]) / math.log(2) for t in range(steps)]
        ax_train.plot([(t + 1) * tokens_per_step / 1e6 for t in range(steps)], smooth, color=s["color"],
                      linestyle=s["linestyle"], label=label(variant, runs))
    ax_val.set_ylabel("validation loss, bits per byte")
    ax_train.set_ylabel("training loss, bits per byte (moving mean over steps)")
    for ax in (ax_val, ax_train):
        ax.set_xlabel("training tokens (M bytes)")
        ax.grid(alpha=0.3)
    ax_train.set_ylim(top=min(4.0, ax_train.get_ylim()[1]))
    ax_val.legend(fontsize=7)
    fig.suptitle(f"Byte-level Llama-style LM on Debian's {corpus} documentation: loss curves (mean over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_time(groups, progress, path, timed_by):
    """Validation loss (bits per byte, mean over seeds) against training seconds, one line per variant."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    for i, (variant, runs) in enumerate(groups.items()):
        xs, ys = mean_progress(runs, progress)
        if xs:
            ax.plot(xs, [y / math.log(2) for y in ys], label=label(variant, runs), markersize=4, **style(i, variant))
    finish(fig, ax, path, f"training seconds ({timed_by})", "validation loss, bits per byte",
           "Validation loss against training time (mean over seeds)")


def plot_ppl(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    for i, r in enumerate(rows):
        s = style(i, r["variant"])
        ax.errorbar(r["flops"] / 1e6, r["test"][0], yerr=r["test"][1], marker=s["marker"], color=s["color"],
                    capsize=3, linestyle="none", label=label(r["variant"], r["runs"]))
    ax.set_xlabel("linear-layer MFLOPs per token (q, k, v, o, gate, up, down; STL encode/decode included)")
    ax.set_ylabel("test perplexity per byte")
    ax.set_title("Test perplexity vs linear FLOPs (mean ± std over seeds); LEAKING = sees future tokens")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+")
    p.add_argument("out_dir")
    p.add_argument("--markdown")
    p.add_argument("--throughput", help="a probe's JSON: each variant's tokens/s alone on the GPU")
    a = p.parse_args()
    doc, runs = load_runs(a.results)
    groups = by_variant(runs)
    rows = summary(groups)
    corpus = ", ".join(doc.get("config", {}).get("corpus", ["python", "linux"]))
    plot_curves(groups, f"{a.out_dir}/lm_loss_curves.png", corpus)
    plot_ppl(rows, f"{a.out_dir}/lm_ppl_vs_flops.png")
    throughput = load_throughput(a.throughput) if a.throughput else None
    timed_by = "tokens ÷ tokens/s alone" if throughput else "tokens ÷ the run's steady tokens/s"
    progress = progress_of(throughput)
    plot_time(groups, progress, f"{a.out_dir}/lm_loss_vs_time.png", timed_by)
    table = markdown(rows, throughput) + "\n" + loss_time_table(groups, progress, timed_by)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    print(table)


if __name__ == "__main__":
    main()
