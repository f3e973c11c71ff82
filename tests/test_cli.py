"""The command line: every config key is a flag, runs train/resume/sample/evaluate end to end, and bad
input is a one-line error with exit status 2 instead of a traceback."""

import json
import math
import shutil
import subprocess
import sys

import pytest
from PIL import Image

from minisagan.checkpoint import load_checkpoint
from minisagan.run import loop
from minisagan.run.cli import main
from minisagan.run.config import PRESETS, TrainConfig
from minisagan.run.logs import read_log

TINY_FLAGS = ["--profile", "smoke", "--width", "8", "--z-dim", "16", "--batch-size", "4", "--data-size", "10",
              "--device", "cpu", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 3-step run made by `minisagan train`."""
    run = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", *TINY_FLAGS, "--steps", "3", "--run-dir", str(run)]) == 0
    return run


def test_train_writes_a_run_with_the_flags_values(trained):
    state = load_checkpoint(trained / "checkpoint.pt")
    assert state["step"] == 3
    expected = TrainConfig.for_profile("smoke", width=8, z_dim=16, batch_size=4, data_size=10, device="cpu",
                                       steps=3, run_dir=str(trained))
    assert state["config"] == expected.to_dict()


def test_resume_continues_to_the_new_step_count(trained, tmp_path, capsys):
    run = shutil.copytree(trained, tmp_path / "run")
    assert main(["resume", str(run), "--steps", "5", "--quiet"]) == 0
    assert f"minisagan: wrote {run}" in capsys.readouterr().out
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 5
    assert read_log(run / "metrics.csv")["step"] == [3, 5]  # smoke logs every 5 steps, and the last


@pytest.mark.parametrize("point_at", ["folder", "file"])
def test_sample_writes_a_grid_png(trained, tmp_path, point_at):
    out = tmp_path / "grid.png"
    source = trained if point_at == "folder" else trained / "checkpoint.pt"
    assert main(["sample", str(source), "--n", "8", "--out", str(out)]) == 0
    with Image.open(out) as grid:
        assert grid.format == "PNG"
        assert grid.size == (8 * (32 + 2) + 2, 32 + 2 * 2)  # one row of 8 images with 2 px padding


def test_sample_is_fixed_by_its_seed(trained, tmp_path):
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, seed in zip(paths, ("1", "1", "2")):
        assert main(["sample", str(trained), "--n", "4", "--seed", seed, "--out", str(path)]) == 0
    a, b, c = (path.read_bytes() for path in paths)
    assert a == b and a != c


def test_flags_and_config_file_build_the_config(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(loop, "train", lambda config, progress, overwrite: seen.append((config, progress)) or tmp_path)
    path = tmp_path / "run.toml"
    path.write_text('profile = "cpu"\nsteps = 7\nlr_d = 4e-4\n')
    argv = ["train", "--config", str(path), "--profile", "smoke", "--steps", "9", "--lr-g", "1e-4",
            "--betas", "0.5", "0.99"]
    assert main(argv) == 0
    config, progress = seen[0]
    assert progress is True
    assert config == TrainConfig(**{**PRESETS["smoke"], "profile": "smoke", "steps": 9, "lr_g": 1e-4,
                                    "lr_d": 4e-4, "betas": (0.5, 0.99)})


@pytest.mark.parametrize("command, flags", [
    ("train", ["--batch-size", "--run-dir", "--lr-d", "--betas", "--config", "--quiet", "--profile"]),
    ("resume", ["--steps", "--quiet", "run_dir"]),
    ("sample", ["--n", "--seed", "--out", "--raw", "checkpoint"]),
    ("evaluate", ["--n", "--inception-weights", "--raw", "--out", "checkpoint"]),
])
def test_help_of_each_subcommand_lists_its_flags(capsys, command, flags):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for flag in flags:
        assert flag in out


def test_every_config_key_is_a_train_flag(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for key in TrainConfig.keys():
        assert "--" + key.replace("_", "-") in out, key


@pytest.mark.parametrize("profile, steps, width, lr_g", [("cpu", "8000", "16", "0.0004"),
                                                          ("smoke", "20", "8", "0.0001")])
def test_train_help_shows_the_values_this_machines_profile_runs(capsys, monkeypatch, profile, steps, width, lr_g):
    monkeypatch.setenv("MINISAGAN_PROFILE", profile)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"defaults: the {profile} profile (set by $MINISAGAN_PROFILE)" in out
    for flag, value in (("--steps STEPS", steps), ("--width WIDTH", width), ("--lr-g LR_G", lr_g)):
        assert f"{flag} default {value} " in out, flag
    run = TrainConfig.for_profile()  # what the run without flags uses: the help's one source
    assert (str(run.steps), str(run.width), str(run.lr_g)) == (steps, width, lr_g)


def test_unknown_flag_is_argparses_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--batch-sise", "8"])
    assert exit_.value.code == 2
    assert "unrecognized arguments: --batch-sise" in capsys.readouterr().err


def test_impossible_value_returns_2_and_names_the_key(tmp_path, capsys):
    assert main(["train", "--resolution", "48", "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minisagan: error: config key 'resolution'") and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_train_into_an_existing_run_returns_2(trained, capsys):
    before = (trained / "checkpoint.pt").read_bytes()
    assert main(["train", *TINY_FLAGS, "--run-dir", str(trained)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (trained / "checkpoint.pt").read_bytes() == before


def test_resume_without_a_checkpoint_returns_2_naming_the_path(tmp_path, capsys):
    assert main(["resume", str(tmp_path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minisagan: error: no checkpoint at") and str(tmp_path / "checkpoint.pt") in err


def test_python_dash_m_minisagan_answers_help():
    result = subprocess.run([sys.executable, "-m", "minisagan", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: minisagan")
    for command in ("train", "resume", "sample", "evaluate"):
        assert command in result.stdout


def test_evaluate_writes_the_metrics_as_json(trained, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", str(trained), "--n", "130", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    assert results["images"] == 130 and results["checkpoint"] == str(trained / "checkpoint.pt")
    assert results["fid_shapes"] > 0 and math.isfinite(results["fid_shapes"])
    assert 0 <= results["consistency"] <= 1 and results["kid_shapes"] > 0
    printed = capsys.readouterr().out
    assert "fid_shapes" in printed and "consistency" in printed


def test_evaluate_repeats_the_runs_last_evaluation_and_another_seed_draws_other_samples(trained, tmp_path):
    from minisagan.run.logs import read_log

    last = {key: values[-1] for key, values in read_log(trained / "eval.csv").items()}
    same, other = tmp_path / "same.json", tmp_path / "other.json"
    assert main(["evaluate", str(trained), "--out", str(same)]) == 0
    assert main(["evaluate", str(trained), "--seed", "7", "--out", str(other)]) == 0
    same, other = json.loads(same.read_text()), json.loads(other.read_text())
    assert same["seed"] == 0 and other["seed"] == 7 and same["images"] == other["images"] == 200
    assert same["fid_shapes"] == pytest.approx(last["fid_shapes"], rel=1e-4)
    assert same["consistency"] == pytest.approx(last["consistency"], abs=1e-6)
    assert other["fid_shapes"] != pytest.approx(same["fid_shapes"], rel=1e-4)


def test_evaluate_with_missing_inception_weights_returns_2_naming_the_file(trained, tmp_path, capsys):
    assert main(["evaluate", str(trained), "--n", "130", "--inception-weights", str(tmp_path / "w.pth")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minisagan: error:") and "w.pth" in err and "Traceback" not in err


@pytest.mark.parametrize("text, expected", [("true", True), ("False", False), ("1", True), ("off", False)])
def test_boolean_flags_read_true_and_false(tmp_path, text, expected):
    from minisagan.run.cli import _config_from_args, build_parser

    args = build_parser().parse_args(["train", "--compile", text, "--sn-g", text])
    config = _config_from_args(args)
    assert config.compile is expected and config.sn_g is expected


def test_boolean_flag_with_another_word_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["train", "--conditional", "maybe"])
    assert exit_.value.code == 2
    assert "expected true or false, got 'maybe'" in capsys.readouterr().err
