# The size of each STL factor after all-MiniLM-L6-v2's conversion, per basis: RMS and largest |entry| of w_hat,
# enc_x and dec of every converted linear of one encoder layer (Fit as convert-minilm calibrates with its defaults:
# seed 0's calibration rows, its steps and rate, basis trained), with the layer error before and after calibration. Shows
# whether a basis reproduces the layer with small factors or with large ones that cancel.
#   PYTHONPATH=python:research/python python research/scripts/minilm_basis_scale.py \
#     [--layer encoder.layer.0.] [--bases truncate:dps-4x4x4-48,fit] [--extract .cache/minilm_extract.pt]
import argparse
import copy
import time

import torch

import strassentile
from strassentile import Fit, STLConfig
from strassentile.modules import STLLinear
from strassentile_lab import minilm_embeddings as me
from strassentile_lab.convert_minilm import calibration_rows, parser as grid_parser

p = argparse.ArgumentParser()
p.add_argument("--layer", default="encoder.layer.0.")
p.add_argument("--bases", default="truncate:dps-4x4x4-48,fit")
p.add_argument("--extract", default=".cache/minilm_extract.pt")
args = p.parse_args()

grid = grid_parser()
model, sets, _ = me.load_extract(args.extract)
calibration = calibration_rows(torch.cat([sets["calibration"], sets["distill"]]), grid.get_default("calibration_rows"), 0)


def rms(t: torch.Tensor) -> float:
    return t.detach().float().pow(2).mean().sqrt().item()


def largest(t: torch.Tensor) -> float:
    return t.detach().float().abs().max().item()


for basis in args.bases.split(","):
    converted = copy.deepcopy(model)
    start = time.time()
    summary = strassentile.convert(
        converted, STLConfig(tile=(4, 4, 4), rank=24,
                             init=Fit(calibration, basis=basis, steps=grid.get_default("calibration_steps"),
                                      lr=grid.get_default("calibration_lr"), train_basis=True)),
        filter_fn=lambda m, fqn: isinstance(m, torch.nn.Linear) and fqn.startswith(args.layer))
    print(f"== {basis}: {len(summary.converted)} layers in {time.time() - start:.0f} s", flush=True)
    for fqn, m in converted.named_modules():
        if isinstance(m, STLLinear):
            factors = " | ".join(f"{name} rms {rms(t):.3e} max {largest(t):.3e}"
                                 for name, t in (("w_hat", m.w_hat), ("enc_x", m.enc_x), ("dec", m.dec)))
            before, after = summary.calibration_error[fqn]
            print(f"{fqn:40s} {factors} | layer error {before:.3f} -> {after:.3f}", flush=True)
