"""Named presets (`--preset paper`, `--preset imagenet128`), kept checkpoints and the evaluation
protocol a run writes."""

import json
import tomllib
from pathlib import Path

import pytest

import minisagan.run as run_package
from minisagan.errors import ConfigError
from minisagan.run.cli import main
from minisagan.run.config import PRESETS, TrainConfig, preset_names
from minisagan.run.evaluation import protocol, real_cache

PRESET_DIR = Path(run_package.__file__).parent / "presets"


def test_imagenet128_is_the_papers_experiment():
    config = TrainConfig.for_profile("gpu", preset="imagenet128", data="shapes")
    paper = dict(profile="gpu", resolution=128, width=64, z_dim=128, batch_size=256, steps=1_000_000, lr_g=1e-4,
                 lr_d=4e-4, betas=(0.0, 0.9), n_dis=1, conditional=True, attention=64, sn_g=True, sn_d=True,
                 ema_decay=0.0, amp="bf16", compile=True)
    assert {key: getattr(config, key) for key in paper} == paper
    assert config.keep_every and config.keep_every % config.checkpoint_every == 0


def test_a_preset_lies_between_the_profile_and_the_flags():
    config = TrainConfig.for_profile("smoke", preset="paper", lr_d=2e-4)
    assert (config.profile, config.lr_g, config.lr_d, config.ema_decay) == ("smoke", 1e-4, 2e-4, 0.0)
    assert config.steps == PRESETS["smoke"]["steps"]  # sizes stay the profile's
    assert TrainConfig.for_profile("smoke", preset="imagenet128", data="shapes").profile == "smoke"


def test_every_shipped_preset_names_only_config_keys():
    assert preset_names() == sorted(p.stem for p in PRESET_DIR.glob("*.toml"))
    for name in preset_names():
        keys = set(tomllib.loads((PRESET_DIR / f"{name}.toml").read_text()))
        assert keys <= set(TrainConfig.__dataclass_fields__), name


def test_an_unknown_preset_names_the_known_ones(capsys):
    with pytest.raises(ConfigError, match="preset 'imagenet' does not exist; choose one of imagenet128, paper"):
        TrainConfig.for_profile(preset="imagenet")
    assert main(["train", "--preset", "imagenet", "--run-dir", "unused"]) == 2
    assert "choose one of imagenet128, paper" in capsys.readouterr().err


def test_kept_checkpoints_every_k_steps(tmp_path):
    run = tmp_path / "run"
    flags = ["--profile", "smoke", "--width", "8", "--z-dim", "16", "--batch-size", "4", "--data-size", "40",
             "--eval-every", "0", "--sample-every", "100", "--device", "cpu", "--quiet", "--run-dir", str(run)]
    assert main(["train", *flags, "--steps", "6", "--checkpoint-every", "2", "--keep-every", "4"]) == 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_0000004.pt"]
    assert (run / "checkpoints" / "step_0000004.pt").stat().st_size > 0
    assert (run / "checkpoint.pt").read_bytes() != (run / "checkpoints" / "step_0000004.pt").read_bytes()
    with pytest.raises(ConfigError, match="keep_every.*must be a multiple of checkpoint_every \\(2\\)"):
        TrainConfig.for_profile("smoke", checkpoint_every=2, keep_every=3)


def test_the_protocol_of_a_store(tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "manifest.json").write_text(json.dumps({"sha256": "0" * 64}))
    config = TrainConfig.for_profile("smoke", data=str(tmp_path / "store"), eval_samples=5000, seed=3,
                                     inception_weights="w.pth")
    assert real_cache(TrainConfig.for_profile("smoke")) is None  # the built-in data: nothing to cache
    text = json.dumps(protocol(config, 1_281_167))
    assert "5000 real images drawn (seed 3)" in text and "1281167 images" in text and "w.pth" in text


def test_the_real_images_features_are_computed_once_and_read_back(tmp_path):
    import torch

    from minisagan.data import sample_shapes
    from minisagan.metrics import fidelity_metrics, to_uint8

    real = to_uint8(sample_shapes(200, seed=1)[0])
    fake = to_uint8(sample_shapes(200, seed=2)[0])
    first = fidelity_metrics(fake, real, features="shapes", isc=False, real_cache=(tmp_path, "real-200"))
    cached = sorted(p.name for p in tmp_path.rglob("*") if p.is_file())
    assert cached and all("real-200" in name for name in cached)
    again = fidelity_metrics(fake, torch.zeros_like(real), features="shapes", isc=False,
                             real_cache=(tmp_path, "real-200"))  # other pixels, same name: the cache answers
    assert again["FID"] == pytest.approx(first["FID"], rel=1e-6)
