"""The grid of `convert-minilm` (STL bases, frozen or trained basis while distilling, step counts, ranks, seeds,
the 2:4 and low-rank baselines), its parts and their merge, on a tiny stand-in encoder on the CPU: the real model
needs the optional MiniLM package and a GPU to run at its size."""
import json
import types

import pytest
import torch
from torch import nn

from strassentile import Fit
from strassentile.modules import STLLinear
from strassentile_lab import convert_minilm as cm
from strassentile_lab.baseline_layers import LowRankLinear, Sparse24Linear, SRSTESparse24Linear

HIDDEN, FFN, VOCAB, SEQ = 16, 32, 40, 8


class _Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.mix, self.up, self.down = nn.Linear(HIDDEN, HIDDEN), nn.Linear(HIDDEN, FFN), nn.Linear(FFN, HIDDEN)
        self.norm = nn.LayerNorm(HIDDEN)

    def forward(self, h):
        context = self.mix(h).mean(dim=1, keepdim=True)  # tokens see each other, as attention lets them
        return self.norm(h + context + self.down(nn.functional.gelu(self.up(h))))


class TinyEncoder(nn.Module):
    """What the experiment uses of a Hugging Face BertModel: encoder.* linear layers, config.hidden_size, and
    forward(input_ids, output_hidden_states) with .last_hidden_state and .hidden_states."""

    def __init__(self):
        super().__init__()
        self.config = types.SimpleNamespace(hidden_size=HIDDEN)
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(VOCAB, HIDDEN)
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([_Block()])

    def forward(self, input_ids, output_hidden_states=False):
        h = self.embeddings.word_embeddings(input_ids)
        states = [h]
        for block in self.encoder.layer:
            h = block(h)
            states.append(h)
        return types.SimpleNamespace(last_hidden_state=h, hidden_states=tuple(states))


ENCODER_LINEARS = 3


def _data(seed=0):
    g = torch.Generator().manual_seed(seed)
    pool = [torch.randint(3, VOCAB, (int(n),), generator=g).tolist() for n in torch.randint(4, 10, (24,), generator=g)]
    return {"pool": pool, "train": torch.randint(3, VOCAB, (20, SEQ), generator=g)}


def _model():
    torch.manual_seed(0)
    return TinyEncoder().eval()


def _args(*extra):
    return cm.parser().parse_args(["--calibration-rows", "6", "--calibration-steps", "5", "--batch", "4",
                                   "--distill-lr", "1e-2", *extra])


GRID = ["--variants", "exact48,stl,sparse24,sparse24-srste,lowrank", "--ranks", "12",
        "--bases", "truncate:dps-4x4x4-48,fit", "--distill-basis", "trained,frozen", "--distill-steps", "2,3",
        "--seeds", "0,1"]


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("grid")
    args = _args(*GRID, "--out", str(out))
    planned = cm.plan_jobs(args)
    rows = cm.run(_model(), _data(), {"pool_sentences": 24, "pool_tokens": 0}, planned, planned, args, "cpu", out,
                  "test")
    return planned, rows, json.loads((out / "convert_minilm.json").read_text()), out


def test_every_job_of_the_grid_runs_and_reports_its_fields(grid_run):
    planned, rows, record, _ = grid_run
    families = {j.family for j in planned}
    assert families == set(cm.FAMILIES)
    assert {(r["variant"], r["seed"], r["distill_steps"]) for r in record["results"]} == \
        {(j.name, j.seed, j.steps) for j in planned}
    assert len(rows) == len(planned) == 1 + 2 * 2 * (2 * 2 + 1 + 1 + 1)  # exact once; per seed and step count
    for r in record["results"]:
        assert r["config"]["family"] in cm.FAMILIES and r["config"]["seed"] == r["seed"]
        for key in ("cosine_mean", "cosine_min", "top1_agreement", "top10_overlap"):
            assert -1.0 <= r[key] <= 1.0 + 1e-9
        assert set(r["converted"]) >= {"cosine_mean", "top10_overlap"}
        if r["distill_steps"]:
            assert r["distill_seconds"] > 0 and r["distilled"]["cosine_mean"] == r["cosine_mean"]
            assert len(r["distill_losses"]) >= 1
        else:
            assert r["distilled"] is None and r["distill_seconds"] == 0
    assert record["complete"] and record["save_reload"]["identical"]


def test_exact_conversion_is_lossless_and_stl_jobs_carry_their_config(grid_run):
    _, _, record, _ = grid_run
    exact = [r for r in record["results"] if r["variant"] == "exact48"]
    assert len(exact) == 1 and exact[0]["cosine_min"] > 1 - 1e-9
    stl = [r for r in record["results"] if r["config"]["family"] == "stl"]
    assert {(r["config"]["basis"], r["config"]["distill_basis"], r["config"]["rank"]) for r in stl} == \
        {(b, d, 12) for b in ("truncate:dps-4x4x4-48", "fit") for d in ("trained", "frozen")}
    assert all(r["calibrated"] == r["layers_converted"] == ENCODER_LINEARS for r in stl)


def test_a_seed_changes_the_data_aware_init(grid_run):
    _, _, record, _ = grid_run
    fit = {r["seed"]: r["converted"]["cosine_mean"] for r in record["results"]
           if r["config"].get("basis") == "fit" and r["distill_steps"] == 2 and r["config"]["distill_basis"] == "frozen"}
    assert set(fit) == {0, 1} and fit[0] != fit[1]


def test_low_rank_is_matched_to_the_stl_rank_and_summary_compares_with_sparse24(grid_run):
    _, _, record, _ = grid_run
    flops = {r["variant"]: r["linear_flops_per_token"] for r in record["results"]}
    assert flops["lowrank at stl12 FLOPs"] <= flops["stl12 fit basis trained"]
    assert flops["sparse24"] == flops["sparse24-srste"]
    assert {e["distill_steps"] for e in record["stl_against_sparse24"]} == {2, 3}
    for c in record["stl_against_sparse24"]:
        assert c["best_sparse24"]["family"].startswith("sparse24") and c["best_stl"]["family"] == "stl"
        cheap = c["best_stl_at_most_sparse24_flops"]
        assert cheap is None or cheap["linear_flops_per_token"] <= c["best_sparse24"]["linear_flops_per_token"]
    by_seed = [e for e in record["summary"] if e["variant"] == "sparse24" and e["distill_steps"] == 3]
    assert len(by_seed) == 1 and by_seed[0]["seeds"] == [0, 1]


def test_fit_gets_the_seeds_calibration_rows(monkeypatch):
    seen = []
    convert = cm.strassentile.convert
    monkeypatch.setattr(cm.strassentile, "convert", lambda model, config, **kw: seen.append(config) or convert(model, config, **kw))
    train = _data()["train"]
    rows = {seed: cm.calibration_rows(train, 6, seed) for seed in (0, 1)}
    assert not torch.equal(rows[0], rows[1])
    assert all(any(torch.equal(row, t) for t in train) for row in rows[1])  # drawn from the training rows
    model, info = cm.build_variant(cm.Job("stl", 1, 2, 12, "fit", "trained"), _model(), rows[1], _args())
    init = seen[0].init
    assert isinstance(init, Fit) and init.basis == "fit" and init.train_basis
    assert torch.equal(init.calibration, rows[1])
    assert info["calibrated"] == info["layers_converted"] == ENCODER_LINEARS
    assert sum(isinstance(m, STLLinear) for m in model.modules()) == ENCODER_LINEARS
    with pytest.raises(ValueError, match="--calibration-rows"):
        cm.calibration_rows(train, 21, 0)


@pytest.mark.parametrize("distill_basis", ["frozen", "trained"])
def test_distillation_freezes_or_trains_the_basis(distill_basis):
    job = cm.Job("stl", 0, 4, 12, "truncate:dps-4x4x4-48", distill_basis)
    teacher = _model()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student, _ = cm.build_variant(job, teacher, cm.calibration_rows(_data()["train"], 6, 0), _args())
    cm.set_trainable(student, job)
    layers = [m for m in student.modules() if isinstance(m, STLLinear)]
    before = [(m.enc_x.detach().clone(), m.dec.detach().clone(), m.w_hat.detach().clone()) for m in layers]
    losses, seconds = cm.distill(student, teacher, _data()["train"], job.steps, job.seed, _args(), "cpu")
    assert seconds > 0 and len(losses) == 2  # step 0 and the last
    for m, (enc_x, dec, w_hat) in zip(layers, before):
        assert not torch.equal(m.w_hat, w_hat)  # w_hat always trains
        if distill_basis == "frozen":
            assert torch.equal(m.enc_x, enc_x) and torch.equal(m.dec, dec)
        else:
            assert not torch.equal(m.enc_x, enc_x) and not torch.equal(m.dec, dec)


def test_baselines_are_built_on_every_encoder_linear():
    args, calibration = _args(), _data()["train"][:6]
    for family, kind in (("sparse24", Sparse24Linear), ("sparse24-srste", SRSTESparse24Linear), ("lowrank", LowRankLinear)):
        model, info = cm.build_variant(cm.Job(family, 0, 2, 12 if family == "lowrank" else None), _model(), calibration, args)
        assert info["layers_converted"] == ENCODER_LINEARS
        assert sum(isinstance(m, kind) for m in model.modules()) == ENCODER_LINEARS


def test_parts_cover_the_grid_once_and_keep_conversions_together():
    planned = cm.plan_jobs(_args())
    assert len(planned) == 1 + 2 * (2 * 2 * 2 * 2 + 2 * 2 + 2 * 2)  # the default grid
    parts = [cm.shard(planned, k, 5) for k in range(1, 6)]
    assert sum(map(len, parts)) == len(planned) and set().union(*map(set, parts)) == set(planned)
    for part in parts:
        for other in parts:
            if other is not part:
                assert not {j.conversion for j in part} & {j.conversion for j in other}
    # A conversion group runs in one call: with 6000-step distillations the default grid's groups outgrow a call.
    assert cm.parts_needed(planned, 430) is None
    screen = cm.plan_jobs(_args("--seeds", "0", "--distill-steps", "1500"))
    n = cm.parts_needed(screen, 430)
    assert n is not None and all(sum(cm.estimated_seconds(g) for g in cm.conversion_groups(p)) <= 430
                                 for p in cm.partition(screen, n))
    assert cm.parts_needed(screen, 10) is None


def test_list_jobs_needs_no_model(capsys):
    assert cm.main(["--list-jobs", "--seeds", "0", "--variants", "stl", "--ranks", "24", "--distill-steps", "1500"]) == 0
    out = capsys.readouterr().out
    assert "4 jobs" in out and "stl24 fit basis frozen seed 0 1500 steps" in out


def test_bad_grid_options_name_the_option():
    with pytest.raises(SystemExit):
        cm.parser().parse_args(["--distill-basis", "melted"])
    with pytest.raises(SystemExit):
        cm.parser().parse_args(["--shard", "3/2"])


def test_merge_joins_parts_and_refuses_a_part_twice(grid_run, tmp_path):
    _, _, record, _ = grid_run
    half = len(record["results"]) // 2
    parts = []
    for i, rows in enumerate((record["results"][:half], record["results"][half:])):
        path = tmp_path / f"part{i}.json"
        path.write_text(json.dumps({**record, "results": rows}))
        parts.append(str(path))
    assert cm.main(["--merge", *parts, "--out", str(tmp_path / "merged")]) == 0
    merged = json.loads((tmp_path / "merged" / "convert_minilm.json").read_text())
    assert merged["complete"] and merged["jobs_missing"] == []
    assert sorted(json.dumps(r, sort_keys=True) for r in merged["results"]) == \
        sorted(json.dumps(r, sort_keys=True) for r in record["results"])
    assert cm.main(["--merge", parts[0], "--out", str(tmp_path / "partial")]) == 0
    assert not json.loads((tmp_path / "partial" / "convert_minilm.json").read_text())["complete"]
    # A part of another grid (a longer run) adds its plan: its jobs that no part ran are reported missing.
    longer = {"variant": "sparse24", "seed": 0, "distill_steps": 99}
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**record, "results": [], "jobs_planned": [longer]}))
    assert cm.main(["--merge", *parts, str(other), "--out", str(tmp_path / "grids")]) == 0
    assert json.loads((tmp_path / "grids" / "convert_minilm.json").read_text())["jobs_missing"] == [longer]
    with pytest.raises(ValueError, match="merge each part once"):
        cm.main(["--merge", parts[0], parts[0], "--out", str(tmp_path / "twice")])


def test_another_tile_format_converts_every_encoder_linear_and_names_its_jobs():
    args = _args("--tile", "4x2x4", "--ranks", "12", "--variants", "stl,lowrank", "--bases",
                 "truncate:alphatensor-4x2x4", "--distill-basis", "trained", "--distill-steps", "2", "--seeds", "0")
    jobs = cm.plan_jobs(args)
    assert [j.name for j in jobs] == ["stl12 <4,2,4> truncate:alphatensor-4x2x4 basis trained",
                                      "lowrank at stl12 <4,2,4> FLOPs"]
    model, info = cm.build_variant(jobs[0], _model(), cm.calibration_rows(_data()["train"], 6, 0), args)
    layers = [m for m in model.modules() if isinstance(m, STLLinear)]
    assert info["calibrated"] == len(layers) == ENCODER_LINEARS
    assert all(tuple(m.tile) == (4, 2, 4) and m.rank == 12 for m in layers)
    assert cm.plan_jobs(_args("--tile", "4x4x4"))[1].tile is None  # the default format keeps its names
    with pytest.raises(SystemExit):
        cm.parser().parse_args(["--tile", "4x2"])
