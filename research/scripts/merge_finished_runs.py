"""Merges the finished runs of several `strassentile-lab train vit|lm --json` files (this GPU call's processes and the
previous calls' merged file) into one, one record per variant and seed, and prints one line per run.

    python3 research/scripts/merge_finished_runs.py DEST GPU_NAME LINE_FORMAT PART.json...

LINE_FORMAT is a str.format template over a run's fields, e.g. '{test_bits_per_byte:.4f} bits/byte'.
Parts that are missing or empty (a process stopped before its first run) are skipped.
"""
import json
import os
import sys

from run_groups import latest_runs


def main(argv):
    dest, gpu, line = argv[1], argv[2], argv[3]
    parts = [p for p in argv[4:] if os.path.exists(p) and os.path.getsize(p)]
    docs = [json.load(open(p)) for p in parts]
    if not docs:
        sys.exit("no process finished a run")
    merged = dict(docs[0], gpu=gpu)
    runs = latest_runs(docs, keep=lambda r: r["finished"])
    # The plan is every part's: calls may name other variants or seeds (VIT_VARIANTS, VIT_SEEDS) than the first.
    variants = list(dict.fromkeys(v for doc in docs for v in doc["config"]["variants"]))
    seeds = sorted({s for doc in docs for s in doc["config"]["seeds"]})
    merged["config"] = dict(docs[0]["config"], shard="merged", variants=variants, seeds=seeds)
    order = {v: i for i, v in enumerate(variants)}
    merged["runs"] = sorted(runs.values(), key=lambda r: (r["seed"], order.get(r["variant"], len(order))))
    with open(dest, "w") as f:
        json.dump(merged, f, indent=1)
    wanted = len(merged["config"]["variants"]) * len(merged["config"]["seeds"])
    print(f"finished runs: {len(runs)} of {wanted}")
    for r in merged["runs"]:
        print(f"  {r['variant']} seed {r['seed']}: " + line.format(**r))


if __name__ == "__main__":
    main(sys.argv)
