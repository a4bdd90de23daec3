"""A training step with the host taken out: each model's step eager and replayed as CUDA graphs
(torch.cuda.make_graphed_callables, forward and backward each one graph), nn.Linear / a dense block against STLLinear
and strassentile.convert, bf16, every parameter learnable, median of 20 after 3 warm-ups with the L2 flushed before
each (outside the graph). The graphed gradients are checked against the eager ones (the same kernels: equal).

    STRASSENTILE_TORCH_LIB=build-cuda/lib/libstrassentile_torch.so PYTHONPATH=python python research/scripts/graph_step.py \
        [--json OUT.json] [--only linear|block]
"""
import copy
import json
import sys

import torch

import strassentile as st
from strassentile.benchmark import PreNormBlock, Timer

TIMER = Timer(warmup=3, reps=20)  # the benchmark's: CUDA events, L2 flushed before each rep, median


def grads(model, x):
    return [p.grad.detach().clone() for p in model.parameters() if p.grad is not None] + [x.grad.detach().clone()]


def step_times(model, x, dy):
    """(eager ms, graphed ms, largest difference between the graphed and eager gradients)."""
    def step(run):
        model.zero_grad(set_to_none=True)
        x.grad = None
        run(x).backward(dy)

    eager = TIMER.median_ms(lambda: step(model))
    step(model)
    reference = grads(model, x)
    model.zero_grad(set_to_none=True)
    graphed = torch.cuda.make_graphed_callables(model, (x,), num_warmup_iters=3)
    replayed = TIMER.median_ms(lambda: step(graphed))
    step(graphed)
    diff = max((a.float() - b.float()).abs().max().item() for a, b in zip(grads(model, x), reference))
    return eager, replayed, diff


CASES = [("linear", (16384, 768, 3072)), ("linear", (65536, 384, 1536)), ("linear", (16384, 4096, 4096)),
         ("block", (8, 2048, 768)), ("block", (8, 2048, 2048))]


def main(json_path, only=None):
    torch.manual_seed(0)
    rows = []
    cases = [case for case in CASES if only is None or case[0] == only]
    formats = [((2, 2, 2), 3), ((4, 4, 4), 24)]
    for case, shape in cases:
        if case == "linear":
            m, k, n = shape
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            dy = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
            dense = torch.nn.Linear(k, n, device="cuda", dtype=torch.bfloat16)
            make = lambda tile, rank, k=k, n=n: st.STLLinear(k, n, tile=tile, rank=rank).cuda().to(torch.bfloat16)
        else:
            batch, seq, dim = shape
            x = torch.randn(batch, seq, dim, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            dy = torch.randn_like(x)
            dense = PreNormBlock(dim, dim // 64).cuda().to(torch.bfloat16)

            def make(tile, rank, dense=dense):
                block = copy.deepcopy(dense)
                st.convert(block, st.STLConfig(tile=tile, rank=rank, init=st.Random()))
                return block
        label = "x".join(str(v) for v in shape)
        # Before dense is graphed: make_graphed_callables replaces a module's forward, and a copy would keep it.
        models = [make(tile, rank) for tile, rank in formats]
        d_eager, d_graph, d_diff = step_times(dense, x, dy)
        for (tile, rank), model in zip(formats, models):
            s_eager, s_graph, s_diff = step_times(model, x, dy)
            row = {"case": case, "shape": label, "tile": list(tile), "rank": rank,
                   "dense_eager_ms": d_eager, "dense_graphed_ms": d_graph, "stl_eager_ms": s_eager,
                   "stl_graphed_ms": s_graph, "eager_ratio": d_eager / s_eager, "graphed_ratio": d_graph / s_graph,
                   "grad_diff_dense": d_diff, "grad_diff_stl": s_diff}
            rows.append(row)
            print(f"{case} {label} <{tile[0]},{tile[1]},{tile[2]}> r={rank}: dense {d_eager:.3f} eager / {d_graph:.3f} "
                  f"graphed ms, STL {s_eager:.3f} / {s_graph:.3f} ms; ratio eager {d_eager / s_eager:.2f}, graphed "
                  f"{d_graph / s_graph:.2f}; graphed-eager gradient difference {s_diff:.3g} (dense {d_diff:.3g})",
                  flush=True)
    if json_path:
        with open(json_path, "w") as f:
            json.dump({"device": torch.cuda.get_device_name(), "torch": torch.__version__, "dtype": "bfloat16",
                       "results": rows}, f, indent=1)


if __name__ == "__main__":
    argv = sys.argv[1:]
    main(argv[argv.index("--json") + 1] if "--json" in argv else None,
         argv[argv.index("--only") + 1] if "--only" in argv else None)
