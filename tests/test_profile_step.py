"""`benchmarks/profile_cpu_step.py`: its split of a step's time, on the smoke profile's run."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def profile_step():
    spec = importlib.util.spec_from_file_location("profile_cpu_step", ROOT / "benchmarks" / "profile_cpu_step.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, kind", [
    ("aten::mkldnn_convolution", "convolutions"), ("aten::convolution_backward", "convolutions"),
    ("aten::native_batch_norm", "batch norm"),  # not spectral norm, whose pattern "norm" it holds
    ("aten::mv", "spectral norm"), ("aten::linalg_vector_norm", "spectral norm"),
    ("aten::_scaled_dot_product_flash_attention_for_cpu", "attention"), ("aten::bmm", "attention"),
    ("aten::_foreach_addcmul_", "Adam"), ("aten::upsample_nearest2d", "pooling and resizing"),
    ("aten::leaky_relu", "the rest"),
])
def test_each_operator_lands_in_its_kind(profile_step, name, kind):
    assert profile_step.kind_of(name) == kind


def test_the_dry_run_splits_the_whole_time(profile_step, capsys):
    result = profile_step.main(["--dry-run", "--threads", "1"])
    assert sum(result["shares"].values()) == pytest.approx(1.0)
    assert result["shares"]["convolutions"] > 0 and result["seconds_per_step"] > 0
    assert 0 < result["phases"]["Optimizer.step"] < 1 and result["evaluation_s"] > 0
    out = capsys.readouterr().out
    assert "smoke profile, 1 thread(s), load average" in out and "one evaluation (200 samples)" in out
