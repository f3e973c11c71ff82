"""The shipped reference results: the helpers the chapters read them with, and the files themselves."""

import json

import pytest

from minisagan import reference

ROWS = [{"arm": a, "seed": s, "step": t, "fid": v} for a, s, t, v in [
    ("x", 0, 100, 10.0), ("x", 1, 100, 14.0), ("x", 2, 100, 12.0), ("x", 0, 200, 8.0), ("x", 1, 200, 6.0),
    ("y", 0, 100, 30.0), ("y", 0, 200, float("nan"))]]


def test_spread_is_mean_range_and_count_over_seeds_per_step():
    table = reference.spread(ROWS, "fid")
    assert table["x"] == {"x": [100, 200], "mean": [12.0, 7.0], "min": [10.0, 6.0], "max": [14.0, 8.0],
                          "sd": [2.0, pytest.approx(2 ** 0.5)], "n": [3, 2]}
    assert table["y"]["x"] == [100]  # a missing value (NaN) is left out, not averaged in


def test_final_is_each_seeds_last_value():
    last = reference.final(ROWS, "fid")
    assert last["x"] == {0: 8.0, 1: 6.0, 2: 12.0}
    assert list(last["y"]) == [0] and last["y"][0] != last["y"][0]  # seed 0's last logged value, NaN


def test_rows_round_trip_through_csv(tmp_path):
    rows = [{"arm": "a", "step": 1, "v": 0.1234567891}, {"arm": "b", "step": 2, "v": float("nan"), "w": 3}]
    reference.write_rows(tmp_path / "r.csv", rows)
    back = reference.read_rows(tmp_path / "r.csv")
    assert back[0] == {"arm": "a", "step": 1.0, "v": pytest.approx(0.123457), "w": pytest.approx(float("nan"), nan_ok=True)}
    assert back[1]["w"] == 3.0


def test_a_missing_result_names_itself():
    with pytest.raises(FileNotFoundError, match="no reference results 'nothing-here'"):
        reference.folder("nothing-here")


@pytest.mark.parametrize("name", ["ch01_toy_gan", "ch02_sn_study"])
def test_each_shipped_chapter_result_says_how_it_was_made(name):
    info = reference.about(name)
    assert info["command"].startswith("python benchmarks/reference_chapters.py")
    assert info["seconds"] > 0 and info["machine"] and info["date"].startswith("20")
    assert "cpu profile" in reference.caption(name)


def test_a_caption_without_the_command_keeps_the_date_and_machine():
    info = reference.about("ch02_sn_study")
    short, full = reference.caption("ch02_sn_study", command=False), reference.caption("ch02_sn_study")
    assert info["command"] in full and info["command"] not in short and "benchmarks/" not in short
    assert info["date"] in short and info["machine"] in short


def test_the_shipped_sweeps_record_every_run():
    for study in ("stabilization", "table1", "attention_8k"):
        runs = reference.load(study, "runs.csv")
        evals = reference.load(study, "eval.csv")
        ran = {(r["arm"], r["seed"]) for r in runs}
        assert {(r["arm"], r["seed"]) for r in evals} <= ran  # every result has its command and time
        assert all(isinstance(r["command"], str) and r["command"] for r in runs)


def test_the_shipped_model_is_a_run_folder_that_minisagan_sample_reads(tmp_path):
    from minisagan.run.cli import main

    out = tmp_path / "samples.png"
    assert main(["sample", str(reference.folder("model")), "--n", "10", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    config = json.loads((reference.folder("model") / "config.json").read_text())
    assert config["steps"] == 13_500 and config["attention"] == 16 and config["seed"] == 0
    last = reference.load("model", "eval.csv")[-1]
    # the targets it was trained on to: the class asked for, the twins, the shapes' statistics
    assert last["step"] == 13_500 and last["class_accuracy"] >= 0.9 and last["consistency"] >= 0.95
    assert last["fid_shapes"] <= 10 and last["hues"] == 10


def test_the_shipped_model_is_attention_8ks_seed_0_and_the_longer_runs_start():
    """Its first 8,000 steps are the attention arm's seed 0; the run to 16,000 agrees up to 13,500."""
    model = reference.load("model", "eval.csv")
    longer = reference.load("model", "eval_16000.csv")
    seed0 = [r for r in reference.load("attention_8k") if r["arm"] == "attn16" and r["seed"] == 0]
    strip = lambda row, drop: {k: v for k, v in row.items() if k not in drop and v == v}  # noqa: E731
    assert [strip(r, ("arm", "seed")) for r in seed0] == [strip(r, ()) for r in model if r["step"] <= 8000]
    assert [strip(r, ("seconds",)) for r in longer[:len(model)]] == [strip(r, ("seconds",)) for r in model]
    assert longer[-1]["step"] == 16_000


def test_the_chapter_8_claims_hold_in_the_shipped_table1():
    """Chapter 8 claims only differences that hold in every seed: check each one against the data."""
    evals = reference.load("table1", "eval.csv")
    final = {key: reference.final(evals, key) for key in ("consistency", "class_accuracy", "fid_shapes")}
    arms = ("none", "attn8", "attn16", "res8", "res16")
    assert all(sorted(final["consistency"][arm]) == [0, 1, 2] for arm in arms)
    assert {r["step"] for r in evals if r["step"] == max(r["step"] for r in evals)} == {3000}

    def beats(key, a, b):  # a's worst seed above b's best
        return min(final[key][a].values()) > max(final[key][b].values())

    from minisagan.metrics import gap_in_noise

    # consistency: no arm ahead in every seed; the residual block at 8 misses by less than the noise
    assert not any(beats("consistency", arm, "none") for arm in ("attn8", "attn16", "res8", "res16"))
    assert gap_in_noise(min(final["consistency"]["res8"].values()), max(final["consistency"]["none"].values()),
                        1000, 1000)
    # attention at 16 holds both the best and the worst seed (Chapters 6 and 8)
    every = [v for arm in arms for v in final["consistency"][arm].values()]
    assert max(final["consistency"]["attn16"].values()) == max(every)
    assert min(final["consistency"]["attn16"].values()) == min(every)
    # class accuracy: the blocks at 8 ahead in every seed, beyond the noise; those at 16 not
    for arm in ("attn8", "res8"):
        assert beats("class_accuracy", arm, "none")
        assert not gap_in_noise(min(final["class_accuracy"][arm].values()),
                                max(final["class_accuracy"]["none"].values()), 1000, 1000)
    assert not beats("class_accuracy", "attn16", "none") and not beats("class_accuracy", "res16", "none")
    fids = [sorted(final["fid_shapes"][arm].values()) for arm in arms]
    assert all(a[0] <= b[-1] and b[0] <= a[-1] for a in fids for b in fids)  # FID separates no two arms


def _sweep_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "sweep_reference.py"
    spec = importlib.util.spec_from_file_location("sweep_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_gathering_keeps_shipped_runs_whose_folders_are_gone(tmp_path, monkeypatch):
    """Run folders do not outlive a machine: gathering today's runs must not drop yesterday's rows."""
    sweep = _sweep_module()
    monkeypatch.setattr(sweep, "REFERENCE", tmp_path / "reference")
    out = tmp_path / "reference" / "stabilization"
    reference.write_rows(out / "eval.csv", [{"arm": "sn_d", "seed": 0, "step": 2000, "fid_shapes": 50.0}])
    reference.write_rows(out / "metrics.csv", [{"arm": "sn_d", "seed": 0, "step": 2000, "loss_d": 1.5}])
    reference.write_rows(out / "runs.csv", [{"study": "stabilization", "arm": "sn_d", "seed": 0, "command": "old"}])
    run = tmp_path / "runs" / "stabilization" / "sn_gd_s1"  # today's finished run
    (run / "samples").mkdir(parents=True)
    (run / "checkpoint.pt").write_bytes(b"x")
    (run / "samples" / "latest.png").write_bytes(b"png")
    reference.write_rows(run / "eval.csv", [{"step": 2000, "fid_shapes": 40.0, "config": "{}"}])
    reference.write_rows(run / "metrics.csv", [{"step": 2000, "loss_d": 1.2, "gamma_G.blocks.2": 0.1}])
    (run / "sweep_run.json").write_text(json.dumps({"study": "stabilization", "arm": "sn_gd", "seed": 1,
                                                    "command": "new"}) + "\n")
    sweep.collect("stabilization", tmp_path / "runs")
    evals = reference.read_rows(out / "eval.csv")
    assert [(r["arm"], r["seed"], r["fid_shapes"]) for r in evals] == [("sn_d", 0, 50.0), ("sn_gd", 1, 40.0)]
    assert [r["command"] for r in reference.read_rows(out / "runs.csv")] == ["old", "new"]
    assert [r["arm"] for r in reference.read_rows(out / "metrics.csv")] == ["sn_d", "sn_gd"]
    assert (out / "sn_gd_s1.png").read_bytes() == b"png"


def test_a_stopped_start_keeps_its_line_and_a_finished_one_gets_its_end(tmp_path, monkeypatch):
    """A sweep's start is written before the run: a run killed midway still shows when it began."""
    sweep = _sweep_module()
    run = tmp_path / "runs" / "attention_8k" / "none_s1"

    def killed(argv, **kwargs):
        assert not run.exists() or not any(run.iterdir())  # the fresh run's folder stays empty
        raise KeyboardInterrupt

    monkeypatch.setattr(sweep.subprocess, "run", killed)
    with pytest.raises(KeyboardInterrupt):
        sweep.run_one("attention_8k", "none", 1, tmp_path / "runs", threads=1)
    (stopped,) = sweep.starts(run)
    assert stopped["finished"] == "" and stopped["started"] and "--seed 1" in stopped["command"]
    monkeypatch.setattr(sweep.subprocess, "run", lambda argv, **kwargs: None)
    sweep.run_one("attention_8k", "none", 1, tmp_path / "runs", threads=1)
    first, second = sweep.starts(run)
    assert first == stopped and second["finished"] >= second["started"] != ""


def test_the_chapter_6_screening_claims_hold_in_the_shipped_sweep():
    """Chapter 6's reading of `cpu_recipe_sweep/` against `cpu_default_recipe/`'s three seeds."""
    sweep = reference.load("cpu_recipe_sweep", "sweep_eval.csv")
    seeds = reference.load("cpu_default_recipe", "seeds_eval.csv")

    def at(rows, config, step, key):
        return [r[key] for r in rows if r["config"] == config and r["step"] == step]

    assert at(sweep, "ema_lrg4e-4", 1800, "consistency") == [pytest.approx(0.97, abs=0.0051)]
    assert at(sweep, "ema", 1800, "consistency") == [pytest.approx(0.60, abs=0.0051)]
    assert at(sweep, "w16_lrg4e-4_lrd2e-4", 2000, "consistency") == [pytest.approx(0.49, abs=0.0051)]
    assert at(sweep, "w16_lr4e-4", 2000, "consistency") == [pytest.approx(0.72, abs=0.0051)]
    # D's rate raised to 8e-4: no faster on the classes than any seed of the default, less consistent
    for step, key in ((4000, "class_accuracy"), (4500, "class_accuracy"), (4000, "consistency")):
        (raised,), default = at(sweep, "w16_lrd8e-4", step, key), at(seeds, "default", step, key)
        assert len(default) == 3 and raised <= min(default) + 0.01, (step, key, raised, default)
    assert at(sweep, "w16_lrd8e-4", 4000, "class_accuracy") == [pytest.approx(0.364, abs=0.0006)]
    assert sorted(at(seeds, "default", 4000, "class_accuracy")) == pytest.approx([0.365, 0.395, 0.427], abs=0.0006)
    assert at(sweep, "w16_lrd8e-4", 4000, "consistency") == [pytest.approx(0.92, abs=0.0051)]
    assert sorted(at(seeds, "default", 4000, "consistency")) == pytest.approx([0.99, 0.99, 1.0], abs=0.0051)
    # batch 64 for the images of 4,500 steps of batch 32: behind every seed of the default
    (b64,) = at(sweep, "w16_lr4e-4_b64", 2250, "class_accuracy")
    assert b64 == pytest.approx(0.27, abs=0.0051)
    assert sorted(at(seeds, "default", 4500, "class_accuracy")) == pytest.approx([0.395, 0.402, 0.419], abs=0.0006)
    assert at(sweep, "w16_lr4e-4_b64", 2250, "consistency") == [pytest.approx(0.57, abs=0.0051)]
    assert b64 < min(at(seeds, "default", 4000, "class_accuracy") + at(seeds, "default", 3500, "class_accuracy"))
