"""Profiles and the run configuration: one switch sizes every experiment, and every unknown key or
impossible value is an error that names the key."""

import dataclasses
import json
import re
from itertools import count

import pytest
import torch

from minisagan.errors import ConfigError
from minisagan import profiles
from minisagan.run.config import PRESETS, PROFILE_KEYS, TrainConfig
from minisagan.profiles import PROFILES, active_profile, chapter_clock, device_for, format_seconds, sizes
from minisagan.run import distributed


# --- profiles ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [("smoke", "smoke"), ("gpu", "gpu"), ("  CPU \n", "cpu")])
def test_environment_variable_picks_the_profile(monkeypatch, value, expected):
    monkeypatch.setenv("MINISAGAN_PROFILE", value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the variable wins over hardware
    assert active_profile() == expected


@pytest.mark.parametrize("has_cuda, expected", [(True, "gpu"), (False, "cpu")])
def test_default_profile_follows_the_hardware(monkeypatch, has_cuda, expected):
    monkeypatch.delenv("MINISAGAN_PROFILE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: has_cuda)
    assert active_profile() == expected
    monkeypatch.setenv("MINISAGAN_PROFILE", "")  # set but empty counts as unset
    assert active_profile() == expected


def test_unknown_profile_in_environment_is_an_error_naming_it(monkeypatch):
    monkeypatch.setenv("MINISAGAN_PROFILE", "turbo")
    with pytest.raises(ValueError, match=r"MINISAGAN_PROFILE='turbo'.*smoke, cpu, gpu"):
        active_profile()


def test_sizes_reads_the_record_of_the_named_or_active_profile(monkeypatch):
    for profile in ("smoke", "cpu", "gpu"):
        assert sizes(profile) is PROFILES[profile] and sizes(profile).name == profile
        monkeypatch.setenv("MINISAGAN_PROFILE", profile)
        assert sizes() is PROFILES[profile]
    with pytest.raises(ValueError, match="'turbo'"):
        sizes("turbo")


def test_profiles_grow_from_smoke_to_cpu_to_gpu():
    smoke, cpu, gpu = (PROFILES[name] for name in ("smoke", "cpu", "gpu"))
    for part, key in [("run", "steps"), ("run", "batch_size"), ("run", "width"), ("run", "data_size"),
                      ("run", "eval_samples"), ("chapter", "toy_steps"), ("chapter", "sn_study_steps"),
                      ("chapter", "metric_samples"), ("chapter", "study_steps"), ("chapter", "study_eval_samples")]:
        small, middle, big = (getattr(getattr(record, part), key) for record in (smoke, cpu, gpu))
        assert small < middle <= big, (part, key)


def test_the_run_preset_is_trainconfigs_and_the_chapter_sizes_are_not():
    # every key of the run preset is a TrainConfig key whose default it is; no chapter size is one
    train_keys = {f.name for f in dataclasses.fields(TrainConfig)}
    assert {f.name for f in dataclasses.fields(profiles.RunPreset)} == set(PROFILE_KEYS) <= train_keys
    assert not {f.name for f in dataclasses.fields(profiles.ChapterSizes)} & train_keys - {"width"}
    cpu = TrainConfig.for_profile("cpu")
    assert (cpu.steps, cpu.width, cpu.checkpoint_every) == (8_000, PROFILES["cpu"].run.width, 1_000)
    assert PROFILES["cpu"].chapter.width != cpu.width  # the chapters' models are sized apart


def test_device_rule_is_cuda_only_for_gpu_profile_with_a_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_for("gpu") == torch.device("cuda")
    assert device_for("cpu") == device_for("smoke") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert device_for("gpu") == torch.device("cpu")


def test_training_auto_device_follows_the_same_rule_as_the_chapters(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a GPU is there ...
    assert distributed.resolve_device("auto", "cpu") == torch.device("cpu")  # ... the cpu profile ignores it
    assert distributed.resolve_device("auto", "smoke") == torch.device("cpu")
    assert distributed.resolve_device("auto", "gpu") == torch.device("cuda")
    assert distributed.resolve_device("cpu", "gpu") == torch.device("cpu")  # an explicit device wins


@pytest.mark.parametrize("seconds, text", [(4.26, "4.3 s"), (0.04, "0.0 s"), (75.3, "1 min 15 s"),
                                           (161, "2 min 41 s"), (3600, "60 min 0 s")])
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_chapter_clock_says_profile_what_and_how_long(monkeypatch, capsys):
    clock = count(start=100.0, step=75.3)  # 100.0 at the start, 175.3 at the end
    monkeypatch.setattr(profiles.time, "perf_counter", lambda: next(clock))
    monkeypatch.setenv("MINISAGAN_PROFILE", "smoke")
    with chapter_clock("training"):
        print("inside")
    assert capsys.readouterr().out == "inside\n[profile smoke] training took 1 min 15 s\n"

    with chapter_clock("evaluation", profile="gpu"):
        pass
    assert capsys.readouterr().out == "[profile gpu] evaluation took 1 min 15 s\n"


# --- presets and keys ----------------------------------------------------------------------------

def test_every_preset_key_is_a_config_field_and_every_preset_is_valid():
    assert set(PRESETS) == set(PROFILES)
    for profile, preset in PRESETS.items():
        assert set(preset) <= set(TrainConfig.keys()), profile
        config = TrainConfig.for_profile(profile)
        assert config.profile == profile
        for key, value in preset.items():
            assert getattr(config, key) == value


def test_overrides_go_on_top_of_the_preset():
    config = TrainConfig.for_profile("smoke", steps=3, lr_d=4e-4)
    assert (config.steps, config.lr_d) == (3, 4e-4)
    assert config.batch_size == PRESETS["smoke"]["batch_size"]
    assert config.lr_g == PRESETS["smoke"]["lr_g"]
    assert config.z_dim == TrainConfig().z_dim  # a key no profile sizes keeps the dataclass default


def test_a_key_the_profile_sizes_has_no_default_but_the_profiles(monkeypatch):
    monkeypatch.setenv("MINISAGAN_PROFILE", "smoke")
    assert TrainConfig() == TrainConfig.for_profile() == TrainConfig.from_dict(PRESETS["smoke"])
    for profile, preset in PRESETS.items():
        for key in PROFILE_KEYS:
            assert TrainConfig.__dataclass_fields__[key].default is None, key
            assert getattr(TrainConfig(profile=profile), key) == preset[key], (profile, key)


def test_for_profile_without_a_name_uses_the_active_profile(monkeypatch):
    monkeypatch.setenv("MINISAGAN_PROFILE", "smoke")
    assert TrainConfig.for_profile().steps == PRESETS["smoke"]["steps"]
    with pytest.raises(ConfigError, match="'profile'"):
        TrainConfig.for_profile("turbo")


def test_unknown_key_suggests_the_nearest_known_key():
    with pytest.raises(ConfigError, match=r"unknown config key 'lr_dd'; did you mean 'lr_d'\?"):
        TrainConfig.for_profile("smoke", lr_dd=1e-3)
    with pytest.raises(ConfigError, match=r"unknown config key 'xyzzy'; known keys: profile, model"):
        TrainConfig.from_dict({"xyzzy": 1})


@pytest.mark.parametrize("key, value", [
    ("resolution", 48),
    ("resolution", 32.0),  # JSON's 32.0 is not the integer the models need
    ("steps", -5),
    ("steps", 0),
    ("lr_g", 0),
    ("lr_d", 1.5),
    ("lr_d", "fast"),
    ("betas", (0.0, 0.9, 0.99)),
    ("betas", (0.0, 1.0)),
    ("betas", 0.5),
    ("betas", ("a", "b")),
    ("loss", "wasserstein"),
    ("device", "tpu"),
    ("device", 0),
    ("batch_size", True),
    ("num_workers", True),
    ("num_workers", -1),
    ("seed", "0"),
    ("seed", False),
    ("model", "biggan"),
    ("data", 5),
    ("run_dir", None),
    ("n_dis", 0),
    ("ema_decay", 1.0),
    ("ema_decay", -0.1),
    ("amp", "fp16"),
    ("compile", "yes"),
    ("conditional", 1),
    ("sn_g", None),
    ("attention", 32),  # the 32x32 model's feature maps are 8 and 16
    ("attention", -16),
    ("attention_kind", "transformer"),
    ("eval_every", -1),
    ("eval_samples", 0),
    ("width", 4),  # attention at 16 would get 4 channels; f and g need C/8
])
def test_impossible_value_is_an_error_naming_the_key(key, value):
    with pytest.raises(ConfigError) as error:
        TrainConfig.for_profile("smoke", **{key: value})
    assert f"'{key}'" in str(error.value)


def test_architecture_errors_name_the_config_key_and_what_fits():
    with pytest.raises(ConfigError, match=r"'attention': this model's feature maps are \(8, 16\); use one of them, "
                                          r"or 0 for none \(got 32\)"):
        TrainConfig.for_profile("smoke", attention=32)
    with pytest.raises(ConfigError, match=r"'width': attention at 16 in D would have 4 channels"):
        TrainConfig.for_profile("smoke", width=4)
    assert TrainConfig.for_profile("smoke", width=4, attention=0).attention == 0  # no block, no constraint
    assert TrainConfig.for_profile("smoke", model="toygan", width=4).width == 4  # the toy GAN has no attention


def test_every_preset_trains_sagan_and_the_paper_preset_its_optimization():
    for profile in PRESETS:
        config = TrainConfig.for_profile(profile)
        assert (config.model, config.conditional, config.sn_g, config.sn_d, config.n_dis) == ("sagan", True, True, True, 1)
        assert (config.betas, config.loss) == ((0.0, 0.9), "hinge") and config.attention > 0
        expected = (4e-4, 4e-4) if profile == "cpu" else (1e-4, 4e-4)  # the cpu default's departure (Chapter 6)
        assert (config.lr_g, config.lr_d) == expected
        paper = TrainConfig.for_profile(profile, preset="paper")
        assert (paper.lr_g, paper.lr_d, paper.ema_decay, paper.betas, paper.n_dis) == (1e-4, 4e-4, 0.0, (0.0, 0.9), 1)
        assert (paper.width, paper.steps, paper.batch_size) == (config.width, config.steps, config.batch_size)
    gpu = TrainConfig.for_profile("gpu")
    assert (gpu.amp, gpu.compile) == ("bf16", True)  # the switches are on where they pay
    assert TrainConfig.for_profile("cpu").amp == "none" and not TrainConfig.for_profile("cpu").compile


def test_config_is_frozen_and_replace_validates():
    config = TrainConfig.for_profile("smoke")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.steps = 5
    changed = config.replace(steps=5)
    assert changed.steps == 5 and config.steps == PRESETS["smoke"]["steps"]
    assert changed.to_dict() == {**config.to_dict(), "steps": 5}
    with pytest.raises(ConfigError, match="'resolution'"):
        config.replace(resolution=48)


def test_to_dict_from_dict_round_trip_survives_json():
    config = TrainConfig.for_profile("gpu", betas=(0.5, 0.999), lr_g=1e-4, run_dir="runs/x", device="cuda:1")
    values = config.to_dict()
    assert values["betas"] == [0.5, 0.999]
    assert TrainConfig.from_dict(values) == config
    assert TrainConfig.from_dict(json.loads(json.dumps(values))) == config


def test_lists_from_files_become_betas_tuples():
    config = TrainConfig.from_dict({"betas": [0, 0.5]})
    assert config.betas == (0.0, 0.5) and isinstance(config.betas, tuple)


# --- files ---------------------------------------------------------------------------------------

TOML_RUN = """\
profile = "smoke"
steps = 7
lr_d = 4e-4
betas = [0.5, 0.99]
run_dir = "runs/from-file"
"""

JSON_RUN = {"profile": "smoke", "steps": 7, "lr_d": 4e-4, "betas": [0.5, 0.99], "run_dir": "runs/from-file"}


@pytest.fixture(params=["toml", "json"])
def run_file(request, tmp_path):
    path = tmp_path / f"run.{request.param}"
    path.write_text(TOML_RUN if request.param == "toml" else json.dumps(JSON_RUN))
    return path


def test_file_values_override_the_preset_its_profile_picks(run_file):
    config = TrainConfig.from_file(run_file)
    expected = TrainConfig(**{**PRESETS["smoke"], **JSON_RUN, "betas": (0.5, 0.99)})
    assert config == expected
    assert config.batch_size == PRESETS["smoke"]["batch_size"]  # from the preset, not the file


def test_overrides_take_precedence_over_the_file(run_file):
    config = TrainConfig.from_file(str(run_file), steps=9, lr_g=1e-3)
    assert (config.steps, config.lr_g, config.lr_d) == (9, 1e-3, 4e-4)
    other = TrainConfig.from_file(run_file, profile="gpu")  # the override's profile picks the preset
    assert other.profile == "gpu" and other.batch_size == PRESETS["gpu"]["batch_size"] and other.steps == 7


def test_file_without_profile_uses_the_active_profile(tmp_path, monkeypatch):
    monkeypatch.setenv("MINISAGAN_PROFILE", "smoke")
    path = tmp_path / "run.toml"
    path.write_text("steps = 3\n")
    config = TrainConfig.from_file(path)
    assert config.profile == "smoke" and config.steps == 3
    assert config.width == PRESETS["smoke"]["width"]


def test_unknown_key_in_a_file_is_named(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('profile = "smoke"\nbatchsize = 8\n')
    with pytest.raises(ConfigError, match=r"'batchsize'; did you mean 'batch_size'"):
        TrainConfig.from_file(path)


@pytest.mark.parametrize("name, text, kind", [("bad.toml", "steps = = 3\n", "TOML"),
                                              ("bad.json", '{"steps": 3,}', "JSON")])
def test_invalid_file_is_an_error_naming_the_file(tmp_path, name, text, kind):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"{str(path)!r} is not valid {kind}")):
        TrainConfig.from_file(path)


def test_file_that_is_not_a_table_is_an_error(tmp_path):
    path = tmp_path / "run.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="key = value"):
        TrainConfig.from_file(path)


def test_missing_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{str(path)!r} does not exist")):
        TrainConfig.from_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        TrainConfig.from_file(tmp_path)  # a folder is not a config file


def test_the_shipped_reference_of_the_default_run_is_still_the_cpu_preset():
    """data/reference/cpu_default_recipe/ is what Chapter 6 and the README quote for `make train`; a
    change to the cpu preset must come with new reference runs."""
    import json
    from pathlib import Path

    shipped = json.loads((Path(__file__).parents[1] / "data" / "reference" / "cpu_default_recipe" /
                          "config.json").read_text())
    preset = TrainConfig.for_profile("cpu").to_dict()
    differ = {key for key in preset if key not in ("run_dir", "seed") and shipped.get(key) != preset[key]}
    assert not differ, f"the cpu preset changed ({sorted(differ)}): run the default again, three seeds"
