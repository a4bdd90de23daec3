"""The pieces of `python -m strassentile_lab.cli convert-minilm` that need neither the MiniLM package nor the corpus:
prose extraction, retrieval agreement, the 2:4 and low-rank baselines, the compact extract, length-bucketed
embedding, and a safetensors round trip of a converted model."""
import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import strassentile
from strassentile_lab import baseline_layers as bl
from strassentile_lab import minilm_embeddings as me
from strassentile_lab import retrieval, sentences

RST = """\
Logging HOWTO
=============

.. note::

   This directive body is not prose and must not be kept at all.

The logging module provides a flexible framework for emitting log messages from programs.
It is used by many third-party modules, so most applications can integrate their messages easily.
Use :func:`getLogger` to obtain a logger, as shown in the example below::

    import logging
    logging.warning("Watch out, this is code and not a sentence.")

+-----------+---------+
| Level     | Meaning |
+-----------+---------+

* A bullet item is prose as well when it forms a full sentence of words.
Short one.
"""


def test_prose_kept_and_markup_dropped():
    got = sentences.sentences(RST)
    # The sentence before "::" ends in ":" (not a full sentence), "Short one." is too short.
    assert got == [
        "The logging module provides a flexible framework for emitting log messages from programs.",
        "It is used by many third-party modules, so most applications can integrate their messages easily.",
        "A bullet item is prose as well when it forms a full sentence of words.",
    ]
    assert not any("directive" in s or "logging.warning" in s or "Level" in s for s in got)


def _unit(n, d, seed):
    return nn.functional.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_agreement_of_identical_and_of_rotated_embeddings():
    e = _unit(200, 16, 0)
    same = retrieval.agreement(e, e.clone())
    assert same["cosine_mean"] == pytest.approx(1.0) and same["top1_agreement"] == 1.0 and same["top10_overlap"] == 1.0
    # A rotation keeps every cosine between sentences, so retrieval agrees fully while the embeddings moved.
    q, _ = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(1)))
    rotated = retrieval.agreement(e, e @ q)
    assert rotated["top1_agreement"] == 1.0 and rotated["top10_overlap"] == pytest.approx(1.0)
    assert rotated["cosine_mean"] < 0.9
    unrelated = retrieval.agreement(e, _unit(200, 16, 2))
    assert unrelated["top10_overlap"] < 0.2


def test_neighbours_never_return_the_query_itself():
    e = _unit(50, 8, 3)
    nn_idx = retrieval.neighbours(e, 5)
    assert not (nn_idx == torch.arange(50)[:, None]).any()
    with pytest.raises(ValueError, match="k must be"):
        retrieval.neighbours(e, 50)


@settings(max_examples=15, deadline=None)
@given(out_features=st.integers(1, 9), groups=st.integers(1, 6), seed=st.integers(0, 10**6))
def test_sparse24_keeps_exactly_the_two_largest_of_four(out_features, groups, seed):
    lin = nn.Linear(4 * groups, out_features)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=torch.Generator().manual_seed(seed)))
    layer = bl.Sparse24Linear(lin)
    mask = layer.mask.reshape(out_features, groups, 4)
    assert (mask.sum(-1) == 2).all()
    w = lin.weight.detach().abs().reshape(out_features, groups, 4)
    assert (w[mask].reshape(out_features, groups, 2).min(-1).values >= w[~mask].reshape(out_features, groups, 2).max(-1).values).all()
    x = torch.randn(3, 4 * groups)
    torch.testing.assert_close(layer(x), nn.functional.linear(x, lin.weight * mask.reshape(lin.weight.shape), lin.bias))


def test_sparse24_mask_is_topks_choice_and_ties_go_to_the_earlier_entries():
    w = torch.randn(12, 40, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    top = w.abs().reshape(12, 10, 4).topk(2, dim=-1).indices
    expected = torch.zeros(12, 10, 4, dtype=torch.bool).scatter_(-1, top, True).reshape(12, 40)
    assert torch.equal(bl.sparse24_mask(w), expected)
    tied = torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0, -2.0, 2.0, 1.0, 3.0, 3.0, -3.0, 1.0]])
    assert bl.sparse24_mask(tied).tolist() == [[True, True, False, False, False, True, True, False, True, True, False, False]]


def test_sparse24_rejects_widths_that_are_not_multiples_of_4():
    with pytest.raises(ValueError, match="multiple of 4"):
        bl.Sparse24Linear(nn.Linear(6, 4))


def test_srste_masks_by_the_current_weights_and_pulls_pruned_ones_to_zero():
    torch.manual_seed(0)
    lin = nn.Linear(8, 3)
    layer = bl.SRSTESparse24Linear(lin, decay=0.5)
    x = torch.randn(5, 8)
    y = layer(x)
    mask = bl.sparse24_mask(lin.weight)
    torch.testing.assert_close(y, nn.functional.linear(x, lin.weight * mask, lin.bias))
    g = torch.randn_like(y)
    y.backward(g)
    # Straight through: every weight gets the dense gradient g·xᵀ, the pruned ones also 0.5·w.
    torch.testing.assert_close(layer.weight.grad, g.t() @ x + 0.5 * lin.weight.detach() * ~mask)
    assert (layer.weight.grad != (g.t() @ x))[~mask].all() and (layer.weight.grad == (g.t() @ x))[mask].all()
    # The mask follows the weights: raise a pruned weight above its group and it is kept.
    row, col = (~mask).nonzero()[0].tolist()
    with torch.no_grad():
        layer.weight[row, col] = 100.0
    assert bl.sparse24_mask(layer.weight)[row, col]
    assert layer.sparse_weight().reshape(3, 2, 4).ne(0).sum(-1).le(2).all()
    with pytest.raises(ValueError, match="decay"):
        bl.SRSTESparse24Linear(lin, decay=-1.0)


def test_low_rank_is_exact_at_full_rank_and_optimal_below():
    torch.manual_seed(0)
    lin = nn.Linear(12, 8).double()
    x = torch.randn(5, 12, dtype=torch.float64)
    torch.testing.assert_close(bl.LowRankLinear(lin, 8)(x), lin(x), rtol=1e-12, atol=1e-12)
    # Eckart–Young: the rank-3 weight error is the norm of the dropped singular values.
    low = bl.LowRankLinear(lin, 3)
    s = torch.linalg.svdvals(lin.weight.detach())
    assert torch.linalg.norm(low.u @ low.v - lin.weight).item() == pytest.approx(s[3:].norm().item(), rel=1e-10)
    with pytest.raises(ValueError, match="rank must be"):
        bl.LowRankLinear(lin, 9)


def test_rank_matching_flops_never_exceeds_the_budget():
    for k, n, budget in [(384, 384, 138_000.0), (384, 1536, 553_000.0), (10, 10, 100.0), (64, 64, 2000.0)]:
        r = bl.rank_matching_flops(k, n, budget)
        assert 2 * r * (k + n) <= budget or r == 1
        assert r < 8 or r % 8 == 0


class _TinyEncoder(nn.Module):
    """The slice of a Hugging Face encoder that the embedding helpers use: embeddings.word_embeddings, config,
    forward(input_ids=...) with .last_hidden_state. Rows are mixed within a sequence, as attention does."""

    def __init__(self, vocab=50, hidden=8):
        super().__init__()
        self.config = types.SimpleNamespace(vocab_size=vocab, pad_token_id=0, hidden_size=hidden)
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(vocab, hidden)
        self.mix = nn.Linear(hidden, hidden)

    def forward(self, input_ids):
        h = self.embeddings.word_embeddings(input_ids)
        return types.SimpleNamespace(last_hidden_state=self.mix(h) + h.mean(dim=1, keepdim=True))


def test_compact_extract_computes_the_same_embeddings():
    torch.manual_seed(0)
    model = _TinyEncoder()
    pool = [[1, 7, 9, 2], [1, 33, 2], [1, 7, 41, 40, 2], [1, 33, 9, 2]]
    rows = torch.tensor([[1, 12, 13, 2], [1, 45, 7, 2]])
    before = me.embed(model, pool, "cpu")
    model, sets, kept = me.compact(model, {"pool": pool, "rows": rows})
    assert kept == sorted({0, 1, 2, 7, 9, 12, 13, 33, 40, 41, 45})
    assert model.config.vocab_size == len(kept) == model.embeddings.word_embeddings.num_embeddings
    torch.testing.assert_close(me.embed(model, sets["pool"], "cpu"), before, rtol=0, atol=0)
    assert torch.equal(torch.tensor(kept)[sets["rows"]], rows)


def test_embedding_batches_by_length_and_matches_one_at_a_time():
    torch.manual_seed(1)
    model = _TinyEncoder()
    pool = [[1, 5, 2], [1, 6, 7, 8, 2], [1, 9, 2], [1, 3, 4, 2]]
    together = me.embed(model, pool, "cpu", batch_tokens=64)
    alone = torch.cat([me.embed(model, [ids], "cpu") for ids in pool])
    torch.testing.assert_close(together, alone)
    assert torch.allclose(together.norm(dim=1), torch.ones(4))


def test_packed_chunks_are_cls_body_sep():
    rows = me.packed_chunks([[101, 5, 6, 102], [101, 7, 8, 9, 102]], length=4, cls_id=101, sep_id=102)
    assert rows.tolist() == [[101, 5, 6, 102], [101, 7, 8, 102]]


def test_converted_model_round_trips_through_safetensors(tmp_path):
    safetensors_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 12), nn.GELU(), nn.Linear(12, 8))
    strassentile.convert(model, strassentile.STLConfig(tile=4, rank=24, init=strassentile.Random()))
    path = tmp_path / "m.safetensors"
    safetensors_torch.save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    fresh = nn.Sequential(nn.Linear(8, 12), nn.GELU(), nn.Linear(12, 8))
    strassentile.convert(fresh, strassentile.STLConfig(tile=4, rank=24, init=strassentile.Random()))
    fresh.load_state_dict(safetensors_torch.load_file(str(path)), strict=True)
    x = torch.randn(2, 8, 8)
    assert torch.equal(model(x), fresh(x))
