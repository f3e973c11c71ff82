"""Adding a training option or a per-step metric is a change in one place, the way the module
docstrings say: an option is a field of `TrainConfig` (it reaches --help and config.json); a metric
is a value a step returns, named in `STEP_METRICS` (it reaches metrics.csv and a panel of
curves.png). A value nobody named stops the run rather than being dropped."""

import dataclasses
import json

import pytest
import torch

from minisagan import training
from minisagan.run import cli, logs
from minisagan.run.config import TrainConfig
from minisagan.run.loop import train
from minisagan.run.pictures import curve_panels


def tiny(run_dir, **changes) -> TrainConfig:
    return TrainConfig.for_profile("smoke", run_dir=str(run_dir), steps=2, log_every=1, eval_every=0,
                                   sample_every=2, checkpoint_every=2, data_size=64, device="cpu", **changes)


def with_fake_option():
    return dataclasses.make_dataclass("TrainConfig", [("fake_knob", int, dataclasses.field(default=7))],
                                      bases=(TrainConfig,), frozen=True)


def test_a_new_option_reaches_help_and_config_json(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(cli, "TrainConfig", with_fake_option())
    monkeypatch.setenv("MINISAGAN_PROFILE", "smoke")
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    assert "--fake-knob FAKE_KNOB" in capsys.readouterr().out.replace("\n", " ")
    run_dir = tmp_path / "run"
    assert cli.main(["train", "--profile", "smoke", "--steps", "1", "--eval-every", "0", "--data-size", "64",
                     "--fake-knob", "3", "--quiet", "--device", "cpu", "--run-dir", str(run_dir)]) == 0
    assert json.loads((run_dir / "config.json").read_text())["fake_knob"] == 3


def with_fake_metric(monkeypatch):
    real_step = training.d_step

    def d_step(*args, **kwargs):
        stats = real_step(*args, **kwargs)
        return {**stats, "fake_metric": stats["loss_d"] * 2}

    monkeypatch.setattr(training, "d_step", d_step)


def test_a_new_metric_named_in_the_list_reaches_metrics_csv_and_curves(monkeypatch, tmp_path):
    with_fake_metric(monkeypatch)
    metric = logs.Metric("fake_metric", "a fake panel")
    logs.STEP_METRICS.append(metric)
    try:
        run = train(tiny(tmp_path / "run"), progress=False)
        log = logs.read_log(run / "metrics.csv")
        panels = {title: keys for title, _, keys in curve_panels(log, {})}
    finally:
        logs.STEP_METRICS.remove(metric)
    assert log["fake_metric"] == pytest.approx([2 * v for v in log["loss_d"]], rel=1e-5)
    assert panels["a fake panel"] == ["fake_metric"]
    assert panels["losses"] == ["loss_d", "loss_g"]
    assert (run / "curves.png").stat().st_size > 0


def test_a_metric_nobody_named_stops_the_run_with_one_line(monkeypatch, tmp_path):
    with_fake_metric(monkeypatch)
    with pytest.raises(ValueError, match=r"^metrics.csv has no column 'fake_metric': name it in the list of its "
                                         r"metrics \(minisagan.run.logs.STEP_METRICS, or EVAL_METRICS\)$"):
        train(tiny(tmp_path / "run"), progress=False)


def test_the_chapters_loop_logs_every_k_steps_and_calls_after_step(monkeypatch):
    """`train_loop` against a count by hand: rows at log_every and at the last step, after_step at
    every step with G's step count, n_dis D steps per iteration."""
    calls, after = [], []
    monkeypatch.setattr(training, "d_step", lambda *a, **k: calls.append("D") or {"loss_d": torch.tensor(1.0)})
    monkeypatch.setattr(training, "g_step", lambda *a, **k: calls.append("G") or {"loss_g": torch.tensor(-1.0)})
    batches = iter([(None, None)] * 100)
    log = training.train_loop(None, None, None, None, batches, lambda: (None, None), steps=7, start=2,
                              log_every=2, after_step=lambda step, values: after.append(step), n_dis=3)
    assert calls == (["D"] * 3 + ["G"]) * 5
    assert after == [3, 4, 5, 6, 7]
    assert log == [{"step": 4, "loss_d": 1.0, "loss_g": -1.0}, {"step": 6, "loss_d": 1.0, "loss_g": -1.0},
                   {"step": 7, "loss_d": 1.0, "loss_g": -1.0}]
