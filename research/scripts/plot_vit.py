#!/usr/bin/env python3
"""Plots of `strassentile-lab train vit` results.

    python3 research/scripts/plot_vit.py RESULTS.json [MORE.json ...] OUT_DIR [--markdown TABLE.md] [--throughput PROBE.json]
        [--variants 'SPEC;SPEC;...']

Several results files (runs of one config split over machines) are read as one: the first gives the config, a
variant and seed present twice is taken from the later file.

Writes OUT_DIR/vit_accuracy_vs_flops.png (test accuracy at the best-validation epoch against linear-layer FLOPs
per image, mean ± std over seeds, one point per variant), OUT_DIR/vit_training_curves.png (train loss and
validation accuracy per epoch, mean over seeds) and OUT_DIR/vit_accuracy_vs_time.png (validation accuracy against
training seconds). With --markdown, also the per-variant table (mean ± std) and the time to dense's accuracy: the
training seconds until a run's validation accuracy first reaches dense's mean best validation accuracy. Seconds are
each epoch's measured training time, or, with --throughput (a probe's JSON: each variant alone on the GPU), epochs
× training images ÷ that variant's images/s alone, which does not depend on what else shared the GPU. --variants
keeps only the named variants (specs separated by ';', since a spec holds commas), in that order.
Needs matplotlib; reads only the JSON.
"""
import argparse
import json
import statistics


from run_groups import MARKERS, by_variant, finish, load_runs, mean_progress, mean_std, time_table


def select(groups, variants):
    """The groups of the ';'-separated ``variants``, in that order; all of them where ``variants`` is empty."""
    if not variants:
        return groups
    names = [v.strip() for v in variants.split(";") if v.strip()]
    missing = [v for v in names if v not in groups]
    if missing:
        raise SystemExit(f"plot_vit: no runs of {missing} in the results; variants there: {sorted(groups)}")
    return {v: groups[v] for v in names}


def summary(groups):
    rows = []
    for variant, runs in groups.items():
        acc = mean_std([r["test_accuracy"] for r in runs])
        final = mean_std([r["final_test_accuracy"] for r in runs])
        rows.append({
            "variant": variant,
            "seeds": len(runs),
            "acc": acc,
            "final": final,
            "flops": runs[0]["linear_flops_per_image"],
            "product_flops": runs[0]["linear_product_flops_per_image"],
            "dense_flops": runs[0]["dense_linear_flops_per_image"],
            "linear_params": runs[0]["linear_params"],
            "params": runs[0]["params"],
            "ips": mean_std([r["steady_images_per_second"] or r["images_per_second"] for r in runs]),
        })
    return rows


def markdown(rows):
    out = ["| variant | seeds | test acc. % (best-val epoch) | final-epoch test acc. % | linear MFLOPs/image | "
           "dense/variant FLOPs (products only) | linear params | all params | train images/s (as run) |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| `{r['variant']}` | {r['seeds']} | {100 * r['acc'][0]:.2f} ± {100 * r['acc'][1]:.2f} | "
            f"{100 * r['final'][0]:.2f} ± {100 * r['final'][1]:.2f} | {r['flops'] / 1e6:.2f} | "
            f"{r['dense_flops'] / r['flops']:.2f}× ({r['dense_flops'] / r['product_flops']:.2f}×) | "
            f"{r['linear_params']:,.0f} | {r['params']:,.0f} | {r['ips'][0]:,.0f} |")
    return "\n".join(out) + "\n"


def progress_of(doc, throughput=None):
    """run -> [(training seconds at the end of each epoch, validation accuracy)]: measured seconds, or, given
    `throughput` ({variant: images/s alone}), epochs × training images ÷ the variant's images/s (no points for a
    variant it lacks: the two kinds of seconds are not mixed)."""
    images = doc["config"]["train_images"]

    def progress(run):
        ips = throughput.get(run["variant"]) if throughput is not None else None
        if throughput is not None and not ips:
            return []
        # An epoch record's train_seconds is the run's total up to that epoch, not the epoch's own.
        return [(e["epoch"] * images / ips if ips else e["train_seconds"], e["val_accuracy"]) for e in run["epochs"]]
    return progress


def load_throughput(path):
    """{variant: steady images/s} of a probe's JSON (each variant alone on the GPU): its runs, or those of its
    "alone" part (run_vit_device.sh's probe.json)."""
    with open(path) as f:
        doc = json.load(f)
    runs = doc["runs"] if "runs" in doc else doc["alone"]["runs"]
    return {r["variant"]: r["steady_images_per_second"] or r["images_per_second"] for r in runs}


def accuracy_time_table(groups, progress, timed_by):
    """Markdown: each variant's training seconds to dense's mean best validation accuracy ("" without dense)."""
    if "dense" not in groups:
        return ""
    target = mean_std([r["best_val_accuracy"] for r in groups["dense"]])[0]
    return time_table(groups, progress, target, True,
                      f"Training seconds until validation accuracy first reaches dense's mean best, {100 * target:.2f}% "
                      f"({timed_by}); mean ± std over the runs that reach it:",
                      "best validation acc. %", lambda v: f"{100 * v:.2f}", "no throughput alone for it")


def plot_accuracy(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    colors = plt.get_cmap("tab20").colors
    # Variants at (nearly) the same FLOPs are spread sideways so that none hides another.
    same = {}
    for r in rows:
        same.setdefault(round(r["flops"] / 1e6), []).append(r["variant"])
    for i, r in enumerate(rows):
        kind = r["variant"].split(":")[0]
        group = same[round(r["flops"] / 1e6)]
        shift = (group.index(r["variant"]) - (len(group) - 1) / 2) * 1.2
        ax.errorbar(r["flops"] / 1e6 + shift, 100 * r["acc"][0], yerr=100 * r["acc"][1], marker=MARKERS.get(kind, "x"),
                    color=colors[(2 * i) % 20 + (2 * i) // 20], capsize=3, linestyle="none", label=r["variant"])
    finish(fig, ax, path, "linear-layer MFLOPs per image (qkv, proj, fc1, fc2; STL encode/decode included)\n"
           "(variants at equal FLOPs are drawn side by side)", "test accuracy % (epoch of best validation accuracy)",
           "ViT on Fashion-MNIST: accuracy vs linear FLOPs (mean ± std over seeds)", legend_loc="lower right")


def plot_curves(groups, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(13, 5.5))
    colors = plt.get_cmap("tab20").colors
    styles = {"dense": "-", "stl": "-", "sparse24": "--", "lowrank": ":"}
    for i, (variant, runs) in enumerate(groups.items()):
        kind = variant.split(":")[0]
        style = dict(color=colors[(2 * i) % 20 + (2 * i) // 20], linestyle=styles.get(kind, "-"),
                     marker=MARKERS.get(kind, "x"), markersize=4)
        epochs = min(len(r["epochs"]) for r in runs)
        xs = list(range(1, epochs + 1))
        loss = [statistics.fmean(r["epochs"][e]["train_loss"] for r in runs) for e in range(epochs)]
        val = [statistics.fmean((r["epochs"][e]["val_accuracy"] or float("nan")) for r in runs) for e in range(epochs)]
        ax_loss.plot(xs, loss, label=variant, **style)
        ax_val.plot(xs, [100 * v for v in val], label=variant, **style)
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("training loss (mean over the epoch's steps)")
    ax_loss.set_yscale("log")
    ax_val.set_xlabel("epoch")
    ax_val.set_ylabel("validation accuracy % (last 5k training images)")
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
    ax_val.legend(fontsize=7, loc="lower right")
    fig.suptitle("ViT on Fashion-MNIST: training curves (mean over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_time(groups, progress, path, timed_by):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    colors = plt.get_cmap("tab20").colors
    for i, (variant, runs) in enumerate(groups.items()):
        kind = variant.split(":")[0]
        xs, ys = mean_progress(runs, progress)
        if not xs:
            continue
        ax.plot(xs, [100 * y for y in ys], label=variant, color=colors[(2 * i) % 20 + (2 * i) // 20],
                marker=MARKERS.get(kind, "x"), markersize=3)
    finish(fig, ax, path, f"training seconds ({timed_by})", "validation accuracy % (last 5k training images)",
           "ViT on Fashion-MNIST: accuracy against training time (mean over seeds)", legend_loc="lower right")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", nargs="+")
    p.add_argument("out_dir")
    p.add_argument("--markdown")
    p.add_argument("--throughput", help="a probe's JSON: each variant's images/s alone on the GPU")
    p.add_argument("--variants", default="", help="only these variants, ';'-separated, in this order")
    a = p.parse_args()
    doc, runs = load_runs(a.results)
    groups = select(by_variant(runs), a.variants)
    rows = summary(groups)
    throughput = load_throughput(a.throughput) if a.throughput else None
    progress = progress_of(doc, throughput)
    timed_by = "epochs × images ÷ images/s alone" if throughput else "as measured in the run"
    plot_accuracy(rows, f"{a.out_dir}/vit_accuracy_vs_flops.png")
    plot_curves(groups, f"{a.out_dir}/vit_training_curves.png")
    plot_time(groups, progress, f"{a.out_dir}/vit_accuracy_vs_time.png", timed_by)
    table = markdown(rows) + "\n" + accuracy_time_table(groups, progress, timed_by)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    print(table)


if __name__ == "__main__":
    main()
