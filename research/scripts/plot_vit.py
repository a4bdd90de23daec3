#!/usr/bin/env python3
"""Plots of `strassentile-lab train vit` results.

    python3 research/scripts/plot_vit.py RESULTS.json OUT_DIR [--markdown TABLE.md]

Writes OUT_DIR/vit_accuracy_vs_flops.png (test accuracy at the best-validation epoch against linear-layer FLOPs
per image, mean ± std over seeds, one point per variant) and OUT_DIR/vit_training_curves.png (train loss and
validation accuracy per epoch, mean over seeds). With --markdown, also the per-variant table (mean ± std).
Needs matplotlib; reads only the JSON.
"""
import argparse
import json
import statistics


from run_groups import MARKERS, by_variant, mean_std


def load_runs(path):
    with open(path) as f:
        doc = json.load(f)
    return doc, doc["runs"]


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
    ax.set_xlabel("linear-layer MFLOPs per image (qkv, proj, fc1, fc2; STL encode/decode included)\n"
                  "(variants at equal FLOPs are drawn side by side)")
    ax.set_ylabel("test accuracy % (epoch of best validation accuracy)")
    ax.set_title("ViT on Fashion-MNIST: accuracy vs linear FLOPs (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


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


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results")
    p.add_argument("out_dir")
    p.add_argument("--markdown")
    a = p.parse_args()
    _, runs = load_runs(a.results)
    groups = by_variant(runs)
    rows = summary(groups)
    plot_accuracy(rows, f"{a.out_dir}/vit_accuracy_vs_flops.png")
    plot_curves(groups, f"{a.out_dir}/vit_training_curves.png")
    table = markdown(rows)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(table)
    print(table)


if __name__ == "__main__":
    main()
