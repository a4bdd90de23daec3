"""How closely converted sentence embeddings agree with the original ones: cosine and nearest-neighbour retrieval."""
from __future__ import annotations

import torch


def neighbours(embeddings: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Indices (n, k) of each row's k nearest other rows by cosine (rows are unit vectors), best first."""
    n = embeddings.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"neighbours: k must be in [1, {n - 1}] for {n} embeddings, got {k}")
    e = embeddings.double()
    out = torch.empty(n, k, dtype=torch.long)
    for s in range(0, n, chunk):
        sim = e[s:s + chunk] @ e.T
        sim[torch.arange(sim.shape[0]), torch.arange(s, s + sim.shape[0])] = -float("inf")  # never yourself
        out[s:s + chunk] = sim.topk(k, dim=1).indices
    return out


def agreement(reference: torch.Tensor, converted: torch.Tensor, k: int = 10) -> dict[str, float]:
    """Mean/min cosine of matching rows; top-1 agreement and mean top-k overlap of their nearest neighbours."""
    if reference.shape != converted.shape:
        raise ValueError(f"agreement: shapes differ, {tuple(reference.shape)} vs {tuple(converted.shape)}")
    cos = torch.nn.functional.cosine_similarity(reference.double(), converted.double(), dim=1)
    ref_nn, conv_nn = neighbours(reference, k), neighbours(converted, k)
    top1 = (ref_nn[:, 0] == conv_nn[:, 0]).double().mean().item()
    overlap = torch.tensor([len(set(a.tolist()) & set(b.tolist())) for a, b in zip(ref_nn, conv_nn)], dtype=torch.double)
    return {"cosine_mean": cos.mean().item(), "cosine_min": cos.min().item(), "top1_agreement": top1,
            f"top{k}_overlap": (overlap / k).mean().item()}
