"""Checkpoints survive crashes and name the file when damaged; the trainer writes a full run folder,
refuses to overwrite a run, stops on a non-finite loss, resumes to exactly the same numbers, and
trains what its configuration says (TTUR, n_dis, the average of G, bf16, a failed compile)."""

import json
import math
import random
import re

import pytest
import torch
from PIL import Image

from minisagan.errors import CheckpointError, ConfigError, DataError, MissingWeightsError, TrainingDiverged
from minisagan.checkpoint import load_checkpoint, save_checkpoint
from minisagan import training
from minisagan.run.config import TrainConfig
from minisagan.run.evaluation import EVAL_COLUMNS
from minisagan.run.logs import read_log, step_columns
from minisagan.run.loop import resume, train
from minisagan.run.models import load_generator
from minisagan.run.stream import epoch_batches


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(run_dir, **overrides) -> TrainConfig:
    """A run of a few 32x32 steps on 10 built-in images: 2 full batches of 4 per epoch, so 6 steps
    cross two epoch boundaries."""
    values = dict(width=8, z_dim=16, batch_size=4, data_size=10, steps=6, log_every=1, sample_every=3,
                  checkpoint_every=3, eval_every=0, ema_decay=0.9, ema_start=2, device="cpu", run_dir=str(run_dir))
    return TrainConfig.for_profile("smoke", **{**values, **overrides})


def model_weights(checkpoint_path):
    state = load_checkpoint(checkpoint_path)
    return {f"{net}.{name}": tensor for net in ("G", "D", "ema") for name, tensor in state[net].items()}


# --- checkpoint files ----------------------------------------------------------------------------

def test_save_leaves_only_the_checkpoint_and_loads_back(tmp_path):
    path = tmp_path / "ckpt" / "checkpoint.pt"
    weights = torch.randn(3, 4)
    save_checkpoint({"step": 1, "w": weights}, path)
    save_checkpoint({"step": 2, "w": weights + 1}, path)
    assert [p.name for p in path.parent.iterdir()] == ["checkpoint.pt"]  # no *.tmp left behind
    state = load_checkpoint(path)
    assert state["step"] == 2 and torch.equal(state["w"], weights + 1)


def test_crash_mid_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    weights = torch.randn(8)
    save_checkpoint({"step": 1, "w": weights}, path)
    before = path.read_bytes()

    def crash(obj, handle):
        handle.write(b"PK\x03\x04half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint({"step": 2, "w": weights + 1}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    state = load_checkpoint(path)
    assert state["step"] == 1 and torch.equal(state["w"], weights)


@pytest.mark.parametrize("keep", [0, 10, 0.5, -10], ids=["empty", "header", "half", "tail-cut"])
def test_truncated_checkpoint_is_an_error_naming_the_path(tmp_path, keep):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1, "w": torch.randn(100)}, path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep) if isinstance(keep, float) else keep])
    with pytest.raises(CheckpointError, match=re.escape(repr(str(path))) + ".*corrupt or truncated"):
        load_checkpoint(path)


# Seed 43 makes the unpickler ask for an impossible frame length (OverflowError), not a clean
# UnpicklingError: any damage must still come back as a CheckpointError.
@pytest.mark.parametrize("seed", [0, 1, 43])
def test_random_bytes_are_an_error_naming_the_path(tmp_path, seed):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(random.Random(seed).randbytes(64))
    with pytest.raises(CheckpointError, match=re.escape(repr(str(path)))):
        load_checkpoint(path)


def test_foreign_and_missing_files_are_errors_naming_the_path(tmp_path):
    foreign = tmp_path / "weights.pt"
    torch.save({"weight": torch.zeros(2)}, foreign)
    with pytest.raises(CheckpointError, match=re.escape(repr(str(foreign))) + " is not a minisagan checkpoint"):
        load_checkpoint(foreign)
    missing = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(CheckpointError, match="no checkpoint at " + re.escape(repr(str(missing)))):
        load_checkpoint(missing)


# --- data order ----------------------------------------------------------------------------------

def test_epoch_batches_are_a_permutation_split_into_full_batches():
    batches = epoch_batches(10, 3, seed=0, epoch=0)
    assert [len(b) for b in batches] == [3, 3, 3]  # the incomplete tail of 1 is dropped
    flat = [i for b in batches for i in b]
    assert len(set(flat)) == 9 and set(flat) <= set(range(10))
    assert sorted(i for b in epoch_batches(12, 4, seed=5, epoch=2) for i in b) == list(range(12))
    assert epoch_batches(3, 4, seed=0, epoch=0) == []


def test_epoch_batches_are_fixed_by_seed_and_epoch_and_differ_across_epochs():
    assert epoch_batches(50, 5, seed=3, epoch=1) == epoch_batches(50, 5, seed=3, epoch=1)
    orders = {tuple(i for b in epoch_batches(50, 5, seed=s, epoch=e) for i in b) for s in (0, 1) for e in (0, 1, 2)}
    assert len(orders) == 6


# --- training runs -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """6 steps of a tiny conditional SAGAN in one go, checkpoints at 3 and 6, an average of G from step 2."""
    return train(tiny(tmp_path_factory.mktemp("reference") / "run"), progress=False)


def test_run_folder_holds_every_artefact(reference_run):
    config = tiny(reference_run)
    assert json.loads((reference_run / "config.json").read_text()) == {**config.to_dict(), "world_size": 1}
    log = read_log(reference_run / "metrics.csv")
    # one gamma column per attention block: G's block after its 16x16 stage, D's after its first block
    assert list(log) == step_columns(["gamma_G.blocks.2", "gamma_D.blocks.1"])
    assert list(log)[:8] == ["step", "seconds", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g"]
    assert log["step"] == [1, 2, 3, 4, 5, 6]
    assert all(v > 0 for v in log["images_per_s"]) and all(b > a for a, b in zip(log["seconds"], log["seconds"][1:]))
    assert all(v > 0 for v in log["grad_norm_d"] + log["grad_norm_g"])
    assert log["gamma_G.blocks.2"][-1] != 0  # gamma starts at 0 and learns
    for folder in ("samples", "attention"):
        names = sorted(p.name for p in (reference_run / folder).iterdir())
        assert names == ["latest.png", "step_000003.png", "step_000006.png"], folder
    with Image.open(reference_run / "samples" / "latest.png") as grid:
        assert grid.size == (8 * (32 + 2) + 2,) * 2  # 64 fixed samples, 8 per row, 2 px padding
    assert (reference_run / "curves.png").stat().st_size > 0
    assert read_log(reference_run / "eval.csv") == {key: [] for key in EVAL_COLUMNS}  # eval_every = 0
    state = load_checkpoint(reference_run / "checkpoint.pt")
    assert state["step"] == 6 and state["config"] == config.to_dict() and state["num_classes"] == 10
    assert {"G", "D", "ema", "opt_G", "opt_D", "noise_rng", "torch_rng", "epoch", "position"} <= state.keys()
    assert not list(reference_run.glob("*.tmp"))


def test_optimizers_follow_ttur_and_adam_betas(reference_run):
    state = load_checkpoint(reference_run / "checkpoint.pt")
    (group_g,), (group_d,) = state["opt_G"]["param_groups"], state["opt_D"]["param_groups"]
    assert (group_g["lr"], group_d["lr"]) == (1e-4, 4e-4)  # TTUR: D 4x faster
    assert tuple(group_g["betas"]) == tuple(group_d["betas"]) == (0.0, 0.9)
    assert all(s["step"] == 6 for s in state["opt_G"]["state"].values())  # 1:1 updates
    assert all(s["step"] == 6 for s in state["opt_D"]["state"].values())


def test_n_dis_takes_that_many_real_batches_and_d_steps_per_g_step(tmp_path):
    run = train(tiny(tmp_path / "run", n_dis=3, steps=2, data_size=40, checkpoint_every=2), progress=False)
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["position"] == 6 and state["epoch"] == 0  # 2 steps x 3 batches of the 10 per epoch
    assert all(s["step"] == 6 for s in state["opt_D"]["state"].values())
    assert all(s["step"] == 2 for s in state["opt_G"]["state"].values())


def test_log_every_picks_the_logged_steps_and_always_the_last(tmp_path):
    run = train(tiny(tmp_path / "run", steps=5, log_every=2, checkpoint_every=10, sample_every=10), progress=False)
    assert read_log(run / "metrics.csv")["step"] == [2, 4, 5]
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 5


def test_load_generator_returns_the_average_of_g_in_eval_mode(reference_run):
    G, config, num_classes = load_generator(reference_run / "checkpoint.pt")
    assert config == tiny(reference_run) and not G.training and num_classes == 10
    state = load_checkpoint(reference_run / "checkpoint.pt")
    assert all(torch.equal(G.state_dict()[k], v) for k, v in state["ema"].items())
    assert not all(torch.equal(state["ema"][k], v) for k, v in state["G"].items())  # the average differs from G
    raw, _, _ = load_generator(reference_run / "checkpoint.pt", average=False)
    assert all(torch.equal(raw.state_dict()[k], v) for k, v in state["G"].items())
    assert G(torch.randn(2, config.z_dim), torch.tensor([0, 9])).shape == (2, 3, 32, 32)


def test_train_refuses_a_folder_that_holds_a_run(reference_run):
    before = (reference_run / "checkpoint.pt").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run: resume it"):
        train(tiny(reference_run), progress=False)
    assert (reference_run / "checkpoint.pt").read_bytes() == before


@pytest.mark.parametrize("stop", [3, 4], ids=["mid-epoch", "epoch-boundary"])
def test_stopped_and_resumed_run_matches_run_in_one_go(reference_run, tmp_path, stop):
    run = train(tiny(tmp_path / "run", steps=stop), progress=False)
    assert load_checkpoint(run / "checkpoint.pt")["step"] == stop
    resume(run, steps=6, progress=False)

    resumed, whole = read_log(run / "metrics.csv"), read_log(reference_run / "metrics.csv")
    for key in ("step", "loss_d", "loss_g", "d_real", "d_fake", "grad_norm_d", "grad_norm_g", "gamma_G.blocks.2"):
        assert resumed[key] == whole[key], key
    resumed_weights, whole_weights = model_weights(run / "checkpoint.pt"), model_weights(reference_run / "checkpoint.pt")
    assert resumed_weights.keys() == whole_weights.keys()
    for name, tensor in whole_weights.items():  # G, D and the average, SN vectors and BN statistics too
        assert torch.equal(resumed_weights[name], tensor), name
    assert load_checkpoint(run / "checkpoint.pt")["config"]["steps"] == 6


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(reference_run, tmp_path, monkeypatch):
    real_step, calls = training.g_step, []

    def nan_at_step_4(*args, **kwargs):
        stats = real_step(*args, **kwargs)
        calls.append(1)
        return {**stats, "loss_g": torch.tensor(float("nan"))} if len(calls) == 4 else stats

    monkeypatch.setattr(training, "g_step", nan_at_step_4)
    config = tiny(tmp_path / "run", checkpoint_every=2)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    with pytest.raises(TrainingDiverged, match=r"diverged by step 4: loss_g nan.*" + re.escape(repr(str(ckpt)))):
        train(config, progress=False)
    assert load_checkpoint(ckpt)["step"] == 2
    assert read_log(tmp_path / "run" / "metrics.csv")["step"] == [1, 2, 3]

    # Resuming drops nothing that was good and continues as if nothing had happened.
    monkeypatch.setattr(training, "g_step", real_step)
    resume(tmp_path / "run", progress=False)
    resumed, whole = read_log(tmp_path / "run" / "metrics.csv"), read_log(reference_run / "metrics.csv")
    assert resumed["step"] == [1, 2, 3, 4, 5, 6]
    assert resumed["loss_g"] == whole["loss_g"]


def test_evaluation_writes_domain_metrics_and_consistency(tmp_path):
    run = train(tiny(tmp_path / "run", steps=4, eval_every=2, eval_samples=130, ema_decay=0.0), progress=False)
    evals = read_log(run / "eval.csv")
    assert evals["step"] == [2, 4]
    assert all(f > 0 and math.isfinite(f) for f in evals["fid_shapes"])  # an untrained G is far from real
    assert all(0 <= c <= 1 for c in evals["consistency"]) and all(1 <= s <= 10 for s in evals["is_shapes"])
    assert all(math.isnan(v) for v in evals["fid_inception"])  # no Inception weights given


def test_missing_inception_weights_fail_before_training(tmp_path):
    with pytest.raises(MissingWeightsError, match="nope.pth"):
        train(tiny(tmp_path / "run", inception_weights=str(tmp_path / "nope.pth")), progress=False)
    assert not (tmp_path / "run").exists()


def test_a_failed_compile_falls_back_to_eager_with_the_same_numbers(reference_run, tmp_path, monkeypatch):
    class Broken(torch.nn.Module):
        def __init__(self, module, **options):
            super().__init__()
            self.module = module

        def forward(self, *args):
            raise RuntimeError("inductor: no C++ compiler")

    monkeypatch.setattr(torch, "compile", Broken)
    with pytest.warns(UserWarning, match="torch.compile failed .*no C\\+\\+ compiler.*eager mode"):
        run = train(tiny(tmp_path / "run", compile=True), progress=False)
    assert read_log(run / "metrics.csv")["loss_d"] == read_log(reference_run / "metrics.csv")["loss_d"]


def test_bf16_autocast_trains_close_to_fp32(reference_run, tmp_path):
    run = train(tiny(tmp_path / "run", amp="bf16", steps=3, checkpoint_every=3), progress=False)
    bf16, fp32 = read_log(run / "metrics.csv"), read_log(reference_run / "metrics.csv")
    for key in ("loss_d", "loss_g"):
        assert bf16[key] != fp32[key][:3]  # bfloat16 rounds: not bit-identical
        assert bf16[key] == pytest.approx(fp32[key][:3], abs=0.1), key


def test_unconditional_sagan_and_chapter_1_gan_train(tmp_path):
    for name, extra in (("uncond", dict(conditional=False, attention=0)), ("toy", dict(model="toygan", ema_decay=0.0))):
        run = train(tiny(tmp_path / name, steps=2, **extra), progress=False)
        assert read_log(run / "metrics.csv")["step"] == [1, 2]
        G, config, num_classes = load_generator(run / "checkpoint.pt")
        assert num_classes == 0 and G(torch.randn(3, config.z_dim)).shape == (3, 3, 32, 32)
    assert not (tmp_path / "uncond" / "attention").exists()  # no attention block, no maps


def test_trains_on_a_folder_of_images(tmp_path):
    root = tmp_path / "images"
    for i in range(8):
        path = root / ("red" if i % 2 else "blue") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 36), (255 * (i % 2), 30 * i, 255 * (1 - i % 2))).save(path)
    run = train(tiny(tmp_path / "run", data=str(root), steps=2), progress=False)
    assert read_log(run / "metrics.csv")["step"] == [1, 2]
    state = load_checkpoint(run / "checkpoint.pt")
    assert state["step"] == 2 and state["num_classes"] == 2  # one class per folder
    assert state["D"]["embed.weight"].shape[0] == 2


def test_missing_data_folder_is_a_data_error_and_writes_nothing(tmp_path):
    with pytest.raises(DataError, match=re.escape(str(tmp_path / "nope"))):
        train(tiny(tmp_path / "run", data=str(tmp_path / "nope")), progress=False)
    assert not (tmp_path / "run").exists()


def test_batch_larger_than_the_data_is_an_error_naming_batch_size(tmp_path):
    with pytest.raises(ConfigError, match="'batch_size' \\(4\\) exceeds the data's 3 images"):
        train(tiny(tmp_path / "run", data_size=3), progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_cuda_device_without_a_gpu_is_an_error_naming_device(tmp_path):
    with pytest.raises(ValueError, match="'device' is 'cuda' but this machine has no CUDA GPU"):
        train(tiny(tmp_path / "run", device="cuda"), progress=False)
