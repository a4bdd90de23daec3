#!/usr/bin/env python3
"""Merges the JSON files of several `strassentile-lab train vit` processes (e.g. --shard i/N on one GPU) into one.

    python3 research/scripts/merge_vit_json.py PART.json... -o OUT.json [--set key=value ...]

The parts must agree on the config except which runs they made (shard, variants, seeds: those are united); runs
are concatenated
in (seed, the config's variant order) order. --set adds top-level string fields (GPU name, date, command).
Files that are missing or empty (a process that finished no run) are skipped with a note on stderr.
"""
import argparse
import json
import os
import sys

# May differ between parts: which runs each process made.
PER_PART = {"shard", "variants", "seeds"}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("parts", nargs="+")
    p.add_argument("-o", "--output", required=True)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = p.parse_args()
    merged, runs = None, []
    for path in a.parts:
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            print(f"merge_vit_json: skipping {path} (no finished run)", file=sys.stderr)
            continue
        with open(path) as f:
            doc = json.load(f)
        if merged is None:
            merged = doc
        else:
            mine = {k: v for k, v in doc["config"].items() if k not in PER_PART}
            first = {k: v for k, v in merged["config"].items() if k not in PER_PART}
            if mine != first:
                sys.exit(f"merge_vit_json: {path} has another config: {mine} vs {first}")
            for key in ("variants", "seeds"):
                merged["config"][key] += [x for x in doc["config"][key] if x not in merged["config"][key]]
        runs.extend(doc["runs"])
    if merged is None:
        sys.exit("merge_vit_json: no part had results")
    order = {v: i for i, v in enumerate(merged["config"]["variants"])}
    merged["runs"] = sorted(runs, key=lambda r: (r["seed"], order[r["variant"]]))
    merged["config"]["shard"] = "merged"
    for item in a.set:
        key, _, value = item.partition("=")
        merged[key] = value
    with open(a.output, "w") as f:
        json.dump(merged, f, indent=1)
        f.write("\n")
    print(f"merge_vit_json: {len(runs)} runs from {len(a.parts)} file(s) -> {a.output}")


if __name__ == "__main__":
    main()
