"""A GPU user's path, checked on the CPU where it can be emulated: a run resumes whatever device its
checkpoint is loaded onto and whatever number of processes saved it; `evaluate` runs where it is
told; the real images' statistics are cached outside the data, keyed by the store's checksum; the
imagenet128 preset asks for its data and follows the profile's speed switches; files a run writes
follow the umask; a file system without locks is one warning, not a crash."""

import csv
import errno
import json
import os
import stat

import pytest
import torch

from minisagan.checkpoint import load_checkpoint, rng_tensor, save_checkpoint
from minisagan.errors import ConfigError
from minisagan.run import loop as loop_module
from minisagan.run import run_folder as folder_module
from minisagan.run.cli import main
from minisagan.run.config import TrainConfig
from minisagan.run.evaluation import real_cache, writable_folder
from minisagan.run.loop import resume, train

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(run_dir, **overrides) -> TrainConfig:
    values = dict(width=8, z_dim=16, batch_size=4, data_size=12, steps=4, log_every=1, sample_every=2,
                  checkpoint_every=2, eval_every=0, device="cpu", run_dir=str(run_dir))
    return TrainConfig.for_profile("smoke", **{**values, **overrides})


def rewrite(path, **changes):
    saved = load_checkpoint(path)
    saved.update(changes)
    save_checkpoint({k: v for k, v in saved.items() if k != "format_version"}, path)


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory):
    return train(tiny(tmp_path_factory.mktemp("gpu") / "run", steps=2), progress=False)


# --- 1. resume: random states that come back on another device, another world size ----------------

def test_random_states_survive_a_checkpoint_loaded_onto_another_device(two_steps):
    """map_location="cuda" moves every tensor of a checkpoint onto the GPU, and set_state takes CPU
    bytes only; "meta" is another device a CPU has, so it stands in for the GPU here."""
    on_cpu = load_checkpoint(two_steps / "checkpoint.pt")
    elsewhere = load_checkpoint(two_steps / "checkpoint.pt", map_location="meta")
    assert elsewhere["G"]["blocks.0.conv1.weight"].device.type == "meta"  # the emulation moved the tensors
    for key in ("noise_rng", "torch_rng"):
        generator = torch.Generator()
        generator.set_state(rng_tensor(elsewhere[key]))
        expected = torch.Generator()
        expected.set_state(rng_tensor(on_cpu[key]))
        assert torch.equal(torch.randn(5, generator=generator), torch.randn(5, generator=expected))


def test_an_older_checkpoints_tensor_states_still_restore(two_steps):
    state = load_checkpoint(two_steps / "checkpoint.pt")
    as_tensor = torch.frombuffer(bytearray(state["noise_rng"]), dtype=torch.uint8)  # how older versions saved it
    assert torch.equal(rng_tensor(as_tensor), rng_tensor(state["noise_rng"]))


def test_resume_reads_the_checkpoint_once_onto_the_cpu_whatever_the_runs_device(tmp_path, monkeypatch):
    run = train(tiny(tmp_path / "run", steps=2), progress=False)
    seen = []

    def recording(path, map_location="cpu"):
        seen.append(map_location)
        return load_checkpoint(path, map_location=map_location)

    monkeypatch.setattr(loop_module, "load_checkpoint", recording)
    resume(run, steps=3, progress=False)
    assert seen == ["cpu"]  # once, for the configuration and the state; a string: the weights go where the networks are through load_state_dict


def test_a_run_saved_by_eight_processes_resumes_in_one_and_says_so(tmp_path):
    run = train(tiny(tmp_path / "run", steps=2), progress=False)
    assert load_checkpoint(run / "checkpoint.pt")["world_size"] == 1
    assert json.loads((run / "config.json").read_text())["world_size"] == 1
    # as torchrun --nproc_per_node 8 on GPUs left it: eight GPUs' random states (older format)
    rewrite(run / "checkpoint.pt", world_size=8, cuda_rng=[torch.zeros(16, dtype=torch.uint8)] * 8)
    resume(run, steps=4, progress=False)
    rows = list(csv.DictReader(open(run / "changes.csv")))
    assert [(r["key"], r["old"], r["new"]) for r in rows] == [("steps", "2", "4"), ("world_size", "8", "1")]
    assert load_checkpoint(run / "checkpoint.pt")["world_size"] == 1
    assert json.loads((run / "config.json").read_text())["world_size"] == 1


def test_a_runs_config_json_is_a_config_file_again(two_steps, tmp_path):
    config = TrainConfig.from_file(two_steps / "config.json", run_dir=str(tmp_path / "again"))
    assert (config.width, config.steps) == (8, 2)  # its recorded world_size is not a setting


# --- 2. evaluate where it is told ------------------------------------------------------------------

def test_evaluate_help_documents_device(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--device DEVICE" in text and "'cuda:N'" in text and "batches of 256" in text and "--reference {sample,train}" in text


def test_evaluate_on_the_device_asked_for(two_steps, tmp_path, capsys, monkeypatch):
    seen = []
    from minisagan.run import evaluation

    real_evaluate = evaluation.evaluate

    def recording(*args, **kwargs):
        seen.append(kwargs["device"])
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(evaluation, "evaluate", recording)
    assert main(["evaluate", str(two_steps), "--n", "128", "--device", "cpu", "--out", str(tmp_path / "e.json")]) == 0
    assert seen == [torch.device("cpu")]


@pytest.mark.parametrize("device, message", [
    ("tpu", "config key 'device': must be 'auto', 'cpu', 'cuda' or 'cuda:N' (got 'tpu')"),
    ("cuda:x", "must be 'auto', 'cpu', 'cuda' or 'cuda:N' (got 'cuda:x')"),
])
def test_evaluate_on_a_device_that_is_not_one_is_one_line(two_steps, capsys, device, message):
    assert main(["evaluate", str(two_steps), "--n", "128", "--device", device]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here")
def test_evaluate_on_cuda_without_a_gpu_is_one_line(two_steps, capsys):
    assert main(["evaluate", str(two_steps), "--n", "128", "--device", "cuda"]) == 2
    assert "'cuda' but this machine has no CUDA GPU" in capsys.readouterr().err


# --- 3. the real images' statistics: outside the data, keyed by its checksum ----------------------

def fake_store(path, sha256):
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"sha256": sha256}))
    return path


def test_the_real_statistics_live_in_the_cache_folder_keyed_by_the_stores_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv("MINISAGAN_CACHE", str(tmp_path / "cache"))
    store = fake_store(tmp_path / "imagenet128", "ab" * 32)
    config = TrainConfig.for_profile("smoke", data=str(store), eval_samples=5000, seed=3)
    folder, name = real_cache(config)
    assert folder == tmp_path / "cache" / "fidelity" and store not in folder.parents  # a read-only store is fine
    assert name == f"minisagan-real-{'ab' * 8}-n5000-seed3"
    (store / "manifest.json").write_text(json.dumps({"sha256": "cd" * 32}))  # rebuilt at the same path
    assert real_cache(config)[1] != name


def test_the_cache_folder_follows_xdg_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv("MINISAGAN_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = TrainConfig.for_profile("smoke", data=str(fake_store(tmp_path / "s", "0" * 64)))
    assert real_cache(config)[0] == tmp_path / "xdg" / "minisagan" / "fidelity"


def test_a_store_without_a_checksum_and_an_unwritable_cache_are_one_line(tmp_path):
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text("{}")
    with pytest.raises(ConfigError, match="has no checksum in its manifest.json; prepare it again"):
        real_cache(TrainConfig.for_profile("smoke", data=str(tmp_path / "old")))
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ConfigError, match=r"the cache folder .*a_file/fidelity' is not writable .*set MINISAGAN_CACHE"):
        writable_folder(tmp_path / "a_file" / "fidelity", "MINISAGAN_CACHE")


# --- 7. the preset, the files' mode, file systems without locks, one line per command --------------

def test_imagenet128_without_data_is_refused_in_one_line(capsys):
    with pytest.raises(ConfigError, match=r"'data': the imagenet128 preset trains on data you prepare .*--data shapes"):
        TrainConfig.for_profile("gpu", preset="imagenet128")
    assert main(["train", "--preset", "imagenet128", "--run-dir", "unused"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--data STORE" in err
    assert TrainConfig.for_profile("gpu", preset="imagenet128", data="shapes").data == "shapes"


@pytest.mark.parametrize("profile, amp, compiled", [("gpu", "bf16", True), ("cpu", "none", False)])
def test_imagenet128_takes_its_speed_switches_from_the_profile(profile, amp, compiled):
    config = TrainConfig.for_profile(profile, preset="imagenet128", data="shapes")
    assert (config.amp, config.compile, config.resolution, config.attention) == (amp, compiled, 128, 64)


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_a_run_writes_follow_the_umask(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        save_checkpoint({"step": 1}, tmp_path / "checkpoint.pt")
    finally:
        os.umask(before)
    assert stat.S_IMODE((tmp_path / "checkpoint.pt").stat().st_mode) == mode


def test_a_file_system_without_locks_is_one_warning_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    def no_locks(handle, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(folder_module.fcntl, "flock", no_locks)
    run = train(tiny(tmp_path / "nfs" / "run", steps=2), progress=False)
    err = capsys.readouterr().err
    warning = [line for line in err.splitlines() if "does not support locks" in line]
    assert len(warning) == 1 and str(tmp_path / "nfs" / "run") in warning[0] and "No locks available" in warning[0]
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 2


def test_only_process_0_says_what_it_wrote(two_steps, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    assert main(["sample", str(two_steps), "--n", "4", "--out", str(tmp_path / "a.png")]) == 0
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("RANK", "0")
    assert main(["sample", str(two_steps), "--n", "4", "--out", str(tmp_path / "b.png")]) == 0
    assert capsys.readouterr().out.strip() == f"minisagan: wrote {tmp_path / 'b.png'}"


def test_a_run_may_go_on_without_bf16_after_a_nan_and_says_so(tmp_path):
    run = train(tiny(tmp_path / "run", steps=2, amp="bf16"), progress=False)
    resume(run, steps=3, amp="none", compile=False, progress=False)
    rows = list(csv.DictReader(open(run / "changes.csv")))
    assert [(r["key"], r["old"], r["new"]) for r in rows] == [("steps", "2", "3"), ("amp", "bf16", "none")]
    assert load_checkpoint(run / "checkpoint.pt")["config"]["amp"] == "none"
